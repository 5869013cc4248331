"""nnmodel.datasets.samples: a user's own --data FILE (CSV with a header, .npz with x and y, IDX with a labels file)."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nnmodel.datasets import Samples, check_shape, load_samples, read_idx, write_idx
from nnmodel.datasets.idx import IDX_TYPES
from nnmodel.errors import NNModelError

RNG = np.random.default_rng(0)


def fails(path: Path | str, fragment: str, *args: Any, at: Path | str | None = None, **kwargs: Any) -> str:
    """load_samples refuses the file with one line that starts with the file at fault (`at`, default `path`)
    and contains `fragment`."""
    with pytest.raises(NNModelError) as err:
        load_samples(path, *args, **kwargs)
    msg = str(err.value)
    assert "\n" not in msg, msg
    assert msg.startswith(f"{path if at is None else at}: "), msg
    assert fragment in msg, msg
    return msg


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode())  # write_text would turn \n into os.linesep on Windows
    return path


def idx_file(path: Path, array: Any, code: int) -> Path:
    """An IDX file of any element type (write_idx writes ubyte only)."""
    a = np.asarray(array, dtype=np.dtype(IDX_TYPES[code]))
    path.write_bytes(bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes())
    return path


# ---------------------------------------------------------------- CSV: reading


def test_csv_text_labels(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", ' a , "b c" ,label, d\n1, 2.5 ,cat,4\n\n  \n3,-4,dog,5\n5,6e1,cat,0\n')
    s = load_samples(path)
    assert isinstance(s, Samples) and s.source == str(path) and len(s) == 3 and s.shape == (3,)
    assert s.x.dtype == np.float64 and s.x.tolist() == [[1, 2.5, 4], [3, -4, 5], [5, 60, 0]]
    assert s.feature_names == ["a", "b c", "d"]
    assert s.task == "classify" and s.y.dtype == np.int64 and s.y.tolist() == [0, 1, 0]
    assert s.label_names == ["cat", "dog"]
    assert s.integral == [True, False, True]


def test_csv_whole_number_labels_map_to_sorted_classes(tmp_path: Path) -> None:
    s = load_samples(write(tmp_path / "d.csv", "x,label\n0.5,7\n1,3\n2,7.0\n3,10\n"))
    assert s.task == "classify" and s.label_names == ["3", "7", "10"]  # numerically sorted, named by their text
    assert s.y.tolist() == [1, 0, 1, 2]
    s = load_samples(write(tmp_path / "e.csv", "x,label\n1,0\n2,2\n3,1\n"))
    assert s.label_names == ["0", "1", "2"] and s.y.tolist() == [0, 2, 1]
    assert s.integral == [True]


def test_csv_mixed_text_and_number_labels_are_classes(tmp_path: Path) -> None:
    s = load_samples(write(tmp_path / "d.csv", "x,label\n1,b\n2,10\n3,a\n"))
    assert s.task == "classify" and s.label_names == ["10", "a", "b"] and s.y.tolist() == [2, 0, 1]


def test_csv_real_labels_are_regression(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "adc,board_c,true_c\n100,21.5,23.41\n200,22,24\n")
    s = load_samples(path, label="true_c")
    assert s.task == "regress" and s.y.dtype == np.float64 and s.y.shape == (2, 1)
    assert s.y[:, 0].tolist() == [23.41, 24.0] and s.label_names == ["true_c"]
    assert s.feature_names == ["adc", "board_c"] and s.integral == [True, False]
    # whole numbers are classes unless asked otherwise
    s = load_samples(path, label="adc")
    assert s.task == "classify" and s.label_names == ["100", "200"]
    s = load_samples(path, label="adc", task="regress")
    assert s.task == "regress" and s.y.tolist() == [[100.0], [200.0]] and s.feature_names == ["board_c", "true_c"]


def test_csv_many_distinct_whole_numbers_are_regression(tmp_path: Path) -> None:
    rows = "".join(f"{i},{1000 + 3 * i}\n" for i in range(300))
    s = load_samples(write(tmp_path / "d.csv", "x,price\n" + rows), label="price")
    assert s.task == "regress" and s.y.shape == (300, 1)


def test_csv_multi_output_regression(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "y1,a,y2,b\n1,2,3,4\n5,6,7.5,8\n")
    s = load_samples(path, label="y1, y2")
    assert s.task == "regress" and s.y.tolist() == [[1, 3], [5, 7.5]] and s.label_names == ["y1", "y2"]
    assert s.feature_names == ["a", "b"] and s.x.tolist() == [[2, 4], [6, 8]]


def test_csv_label_column_anywhere_and_named_by_option(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "a,kind,b,c\n1,x,2,3\n4,y,5,6\n")
    for label, features in (("kind", ["a", "b", "c"]), ("a", None)):
        if features is None:
            fails(path, "line 2, column 2 (kind): 'x' is not a number", label=label)
            continue
        s = load_samples(path, label=label)
        assert s.feature_names == features and s.x.tolist() == [[1, 2, 3], [4, 5, 6]]
    s = load_samples(write(tmp_path / "first.csv", "label,a,b\ncat,1,2\ndog,3,4\n"))
    assert s.y.tolist() == [0, 1] and s.x.tolist() == [[1, 2], [3, 4]]


def test_csv_quoted_cells_bom_crlf_gzip_and_txt(tmp_path: Path) -> None:
    text = 'a,b,label\r\n"1",2,"cat"\r\n3,"4.5",dog\r\n'
    (tmp_path / "q.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    (tmp_path / "q.csv.gz").write_bytes(gzip.compress(text.encode(), mtime=0))
    write(tmp_path / "q.txt", text)
    for name in ("q.csv", "q.csv.gz", "q.txt"):
        s = load_samples(tmp_path / name)
        assert s.feature_names == ["a", "b"] and s.x.tolist() == [[1, 2], [3, 4.5]], name
        assert s.label_names == ["cat", "dog"] and s.y.tolist() == [0, 1], name


@pytest.mark.parametrize("style", ["plain", "quoted", "comma in quotes"])
def test_csv_numpy_and_field_by_field_paths_agree(tmp_path: Path, style: str) -> None:
    """Plain and whole-cell quotes go through numpy; a comma inside quotes needs the csv module's rules."""
    x = RNG.normal(size=(500, 6)).round(5)
    y = RNG.integers(0, 4, 500)
    q = "" if style == "plain" else '"'
    name = "cls {}, x" if style == "comma in quotes" else "cls {}"
    rows = "".join(f"{q}{r[0]}{q}," + ",".join([*map(str, r[1:3]), q + name.format(c) + q, *map(str, r[3:])]) + "\n"
                   for r, c in zip(x, y))
    s = load_samples(write(tmp_path / "d.csv", '"f0",f1,f2,"label",f3,f4,f5\n' + rows))
    assert np.array_equal(s.x, x) and np.array_equal(s.y, y)
    assert s.label_names == [name.format(c) for c in range(4)]
    assert s.feature_names == ["f0", "f1", "f2", "f3", "f4", "f5"]


def test_csv_error_found_after_many_good_rows(tmp_path: Path) -> None:
    rows = ["1,2,0"] * 3000 + [""] * 3 + ["1,2,0"] * 10 + ["1,x2,0"] + ["1,y,0"]
    fails(write(tmp_path / "d.csv", "a,b,label\n" + "\n".join(rows) + "\n"),
          "line 3015, column 2 (b): 'x2' is not a number")
    rows[-2] = '"1",",",0'
    fails(write(tmp_path / "q.csv", "a,b,label\n" + "\n".join(rows) + "\n"),
          "line 3015, column 2 (b): ',' is not a number")


def test_csv_large_file_reads(tmp_path: Path) -> None:
    """20,000 x 50 through the numpy path (100,000 x 50 takes about 2 s; not timed here)."""
    x = RNG.integers(-1000, 1000, (20_000, 49)) / 8
    y = RNG.integers(0, 10, 20_000)
    head = ",".join([f"c{i}" for i in range(49)] + ["label"]) + "\n"
    body = "\n".join(",".join(map(str, row)) + f",{c}" for row, c in zip(x.tolist(), y.tolist()))
    s = load_samples(write(tmp_path / "big.csv", head + body + "\n"))
    assert s.x.shape == (20_000, 49) and np.array_equal(s.x, x) and np.array_equal(s.y, y)


# ---------------------------------------------------------------- CSV: refusals


@pytest.mark.parametrize("text, label, task, fragment", [
    ("1,2,3\n4,5,6\n", None, None,
     "line 1 is not a header row; the first line must name the columns, e.g. a,b,label"),
    ("5.1,3.5,setosa\n4.9,3.0,setosa\n", None, None, "line 1 is not a header row"),  # headerless iris
    ("\n\n1,2\n", None, None, "line 3 is not a header row"),
    ("a,b,c\n1,2,3\n", None, None, "no column 'label'; the columns are a, b, c (pass --label COLUMN)"),
    ("a,b,c\n1,2,3\n", "tempx", None, "no column 'tempx'; the columns are a, b, c (pass --label COLUMN)"),
    ("a,b,c\n1,2,3\n", "a,q", "regress", "no column 'q'"),
    ("a,b,c\n1,2,3\n", "a,a", "regress", "names a column twice"),
    ("a,b\n1,2\n", "a,b", "regress", "every column is a label column"),
    ("a,a,label\n1,2,3\n", None, None, "line 1: column name 'a' appears twice (columns 1 and 2)"),
    (",a,label\n0,2,3\n", None, None, "line 1, column 1: empty column name"),
    ("a;b;label\n1;2;3\n", None, None, "line 1 names only one column ('a;b;label')"),
    ("a\tb\tlabel\n1\t2\t3\n", None, None, "tabs"),
    ("a,b,label\n", None, None, "no data rows after the header (line 1)"),
    ("", None, None, "empty file"),
    ("a,b,board_c,label\n" + "1,2,3,0\n" * 5 + "1,2,abc,0\n", None, None,
     "line 7, column 3 (board_c): 'abc' is not a number"),
    ("a,b,c,d,e,label\n" + "1,2,3,4,5,0\n" * 7 + "1,2,3,4,0\n", None, None,
     "line 9 has 5 values, the header has 6"),
    ("a,b,label\n1,2,0\n1,2,3,0\n", None, None, "line 3 has 4 values, the header has 3"),
    ("x,adc,label\n1,2,0\n1,2,0\n1,nan,0\n", None, None, "line 4, column 2 (adc): 'nan' is not a finite number"),
    ("x,adc,label\n1,2,0\n1,2,0\n1,-inf,0\n", None, None, "line 4, column 2 (adc): '-inf' is not a finite number"),
    ("x,adc,label\n1,2,0\n1,2,0\n1,1e999,0\n", None, None, "line 4, column 2 (adc): '1e999' is not a finite"),
    ("x,adc,label\n1,2,0\n1,2,0\n1,,0\n", None, None, "line 4, column 2 (adc): empty cell"),
    ("x,adc,label\n1,2,0\n\n1, ,0\n", None, None, "line 4, column 2 (adc): empty cell"),
    ('x,adc,label\n1,2,0\n"1","2",0\n1,"",0\n', None, None, "line 4, column 2 (adc): empty cell"),
    ('x,adc,label\n1,2,0\n"1","oops",0\n', None, None, "line 3, column 2 (adc): 'oops' is not a number"),
    ("x,label\n1,0\n2,\n", None, None, "line 3, column 2 (label): empty cell"),
    ("x,label\n1,0\n2,nan\n", None, None, "line 3, column 2 (label): 'nan' is not a finite number"),
    ("a,b,true_c\n1,2,23.41\n1,2,3\n", "true_c", "classify",
     "column 'true_c' holds real values (e.g. 23.41 on line 2): a regression target; use --task regress"),
    ("a,b,species\n1,2,3.5\n\n1,2,setosa\n", "species", "regress",
     "line 4, column 3 (species): 'setosa' is not a number; --task regress needs numeric targets"),
    ("a,y1,y2\n1,2,3\n1,x,3\n", "y1,y2", None, "line 3, column 2 (y1): 'x' is not a number"),
    ("a,y1,y2\n1,2,3\n", "y1,y2", "classify", "classification takes one label column"),
    ("x,label\n" + "".join(f"1,c{i}\n" for i in range(300)), None, None,
     "column 'label' has 300 classes but nnmodel classifies into at most 256"),
    ("x,label\n" + "".join(f"1,{i}\n" for i in range(300)), None, "classify", "has 300 classes"),
])
def test_csv_refusals(tmp_path: Path, text: str, label: str | None, task: Any, fragment: str) -> None:
    fails(write(tmp_path / "d.csv", text), fragment, label, task)


def test_csv_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(b"a,b,label\n1,2,0\n1,\xe9,0\n")
    fails(path, "line 3 is not UTF-8 text (byte 0xe9)")


def test_csv_corrupt_gzip(tmp_path: Path) -> None:
    data = gzip.compress(b"a,label\n" + b"1,0\n" * 1000, mtime=0)
    path = tmp_path / "d.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    fails(path, "corrupt or truncated gzip data")


def test_csv_bad_cell_text_is_escaped_and_cut(tmp_path: Path) -> None:
    msg = fails(write(tmp_path / "d.csv", "a,label\n1,0\n\x1b[31m" + "z" * 50 + ",0\n"), "line 3, column 1 (a)")
    assert "\x1b" not in msg and "z" * 21 not in msg


# ---------------------------------------------------------------- .npz


def savez(path: Path, **arrays: Any) -> Path:
    with open(path, "wb") as f:  # np.savez appends .npz to names without it
        np.savez(f, **arrays)
    return path


def test_npz_images_with_class_names(tmp_path: Path) -> None:
    x = RNG.integers(0, 256, (5, 4, 3), dtype=np.uint8)
    path = savez(tmp_path / "d.npz", x=x, y=np.array([0, 1, 2, 1, 0], np.uint8),
                 labels=np.array(["red", "green", "blue"]), features=np.array(["R", "G", "B"]))
    s = load_samples(path)
    assert s.x.dtype == np.uint8 and np.array_equal(s.x, x) and s.shape == (4, 3) and len(s) == 5
    assert s.task == "classify" and s.y.dtype == np.int64 and s.y.tolist() == [0, 1, 2, 1, 0]
    assert s.label_names == ["red", "green", "blue"] and s.feature_names == ["R", "G", "B"]
    assert s.integral == [True, True, True] and s.source == str(path)


def test_npz_class_indices_kept_and_named(tmp_path: Path) -> None:
    s = load_samples(savez(tmp_path / "d.npz", x=np.zeros((4, 2), np.int16), y=np.array([0., 3, 1, 3])))
    assert s.task == "classify" and s.y.tolist() == [0, 3, 1, 3] and s.label_names == ["0", "1", "2", "3"]
    assert s.x.dtype == np.int16 and s.feature_names == ["x0", "x1"]


def test_npz_regression(tmp_path: Path) -> None:
    x = RNG.normal(size=(6, 3)).astype(np.float32)
    x[:, 1] = np.arange(6)
    y = RNG.normal(size=(6, 2))
    s = load_samples(savez(tmp_path / "d.npz", x=x, y=y, names=np.array(["temp", "hum"]), labels=np.array(["a"])))
    assert s.x.dtype == np.float64 and np.array_equal(s.x, x.astype(np.float64))
    assert s.task == "regress" and s.y.dtype == np.float64 and np.array_equal(s.y, y)
    assert s.label_names == ["temp", "hum"] and s.integral == [False, True, False]
    s = load_samples(savez(tmp_path / "e.npz", x=x, y=y))
    assert s.label_names == ["y0", "y1"]
    s = load_samples(savez(tmp_path / "f.npz", x=x, y=y[:, 0]))
    assert s.task == "regress" and s.y.shape == (6, 1) and s.label_names == ["y"]
    s = load_samples(savez(tmp_path / "g.npz", x=x, y=np.arange(6.0)), task="regress")
    assert s.task == "regress" and s.y[:, 0].tolist() == list(range(6))


def test_npz_label_selects_the_target_array(tmp_path: Path) -> None:
    path = savez(tmp_path / "d.npz", x=np.ones((3, 2)), y=np.array([0, 1, 0]), temp=np.array([20.5, 21, 22]))
    s = load_samples(path, label="temp")
    assert s.task == "regress" and s.y[:, 0].tolist() == [20.5, 21, 22] and s.label_names == ["temp"]
    assert load_samples(path).task == "classify"


def test_npz_task_inference_limits(tmp_path: Path) -> None:
    s = load_samples(savez(tmp_path / "d.npz", x=np.zeros((300, 1)), y=np.arange(300)))
    assert s.task == "regress"  # more distinct whole numbers than classes can be
    s = load_samples(savez(tmp_path / "e.npz", x=np.zeros(3), y=np.array([True, False, True])))
    assert s.task == "classify" and s.y.tolist() == [1, 0, 1] and s.x.shape == (3, 1) and s.shape == (1,)
    s = load_samples(savez(tmp_path / "f.npz", x=np.zeros((2, 1)), y=np.array([[0], [1]])))
    assert s.task == "classify" and s.y.shape == (2,)


@pytest.mark.parametrize("arrays, label, task, fragment", [
    ({"a": np.zeros(3), "b": np.zeros(3)}, None, None,
     "no array 'x'; an .npz needs x (N, ...) and y (N,) or (N, K); it has a, b"),
    ({"x": np.zeros((3, 2)), "t": np.zeros(3)}, None, None,
     "no array 'y'; an .npz needs x (N, ...) and y (N,) or (N, K); it has x, t"),
    ({"x": np.zeros((3, 2)), "y": np.zeros(3)}, "q", None, "no array 'q'"),
    ({"x": np.zeros((3, 2)), "y": np.zeros(4)}, None, None, "x has 3 samples but y has 4"),
    ({"x": np.zeros((0, 2)), "y": np.zeros(0)}, None, None, "no samples: x has shape 0x2"),
    ({"x": np.zeros((3, 0)), "y": np.zeros(3)}, None, None, "x has shape 3x0"),
    ({"x": np.float64(1), "y": np.zeros(3)}, None, None, "x is a single number"),
    ({"x": np.zeros((3, 2)), "y": np.zeros((3, 2, 2))}, None, None, "y has shape 3x2x2"),
    ({"x": np.where(np.arange(160).reshape(20, 4, 2) == 12 * 8 + 6, np.nan, 0), "y": np.zeros(20)}, None, None,
     "x[12, 3, 0] is nan; x must hold finite numbers"),
    ({"x": np.zeros((3, 2)), "y": np.array([0, np.inf, 1])}, None, None, "y[1] is inf"),
    ({"x": np.zeros((3, 2)), "t": np.array([0, -np.inf, 1])}, "t", None, "t[1] is -inf"),
    ({"x": np.array([{"a": 1}] * 3, dtype=object), "y": np.zeros(3)}, None, None,
     "array 'x' holds pickled Python objects"),
    ({"x": np.zeros((3, 1)), "y": np.zeros(3), "labels": np.array([1, "a"], dtype=object)}, None, None,
     "array 'labels' holds pickled Python objects"),
    ({"x": np.array([["a", "b"]] * 3), "y": np.zeros(3)}, None, None, "array 'x' holds <U1 values"),
    ({"x": np.zeros((3, 1)), "y": np.array(["a", "b", "a"])}, None, None, "array 'y' holds <U1 values"),
    ({"x": np.zeros((3, 1)) + 1j, "y": np.zeros(3)}, None, None, "array 'x' holds complex128 values"),
    ({"x": np.zeros((3, 2)), "y": np.array([0, 1, 3]), "labels": np.array(["a", "b", "c"])}, None, None,
     "y[2] is 3 but labels names 3 classes; class indices must be 0..2"),
    ({"x": np.zeros((3, 2)), "y": np.array([0, 1, -1])}, None, None, "y[2] is -1; class indices must be 0..K-1"),
    ({"x": np.zeros((300, 2)), "y": np.arange(300)}, None, "classify", "y has 300 classes"),
    ({"x": np.zeros((3, 2)), "y": np.array([0, 1, 1]), "labels": np.array(["a"] * 300)}, None, None,
     "labels has 300 classes"),
    ({"x": np.zeros((3, 2)), "y": np.array([1.0, 23.41, 2])}, None, "classify",
     "y holds real values (e.g. 23.41 at y[1]): a regression target; use --task regress"),
    ({"x": np.zeros((3, 2)), "y": np.zeros((3, 2))}, None, "classify", "y has shape 3x2; classification takes one"),
    ({"x": np.zeros((3, 2)), "y": np.zeros((3, 2)), "names": np.array(["a"])}, None, None,
     "names has 1 entries but y has 2 outputs"),
    ({"x": np.zeros((3, 2)), "y": np.zeros(3), "features": np.array(["a"])}, None, None,
     "features has 1 names but x has 2 features"),
    ({"x": np.zeros((3, 2)), "y": np.zeros(3), "features": np.array([1, 2])}, None, None,
     "features must be a 1-D array of strings"),
])
def test_npz_refusals(tmp_path: Path, arrays: dict[str, Any], label: str | None, task: Any, fragment: str) -> None:
    fails(savez(tmp_path / "d.npz", **arrays), fragment, label, task)


def test_npz_not_a_zip(tmp_path: Path) -> None:
    (tmp_path / "junk.npz").write_bytes(b"garbage")
    fails(tmp_path / "junk.npz", "not an .npz file (no zip signature)")
    (tmp_path / "cut.npz").write_bytes(b"PK\x03\x04garbage")
    fails(tmp_path / "cut.npz", "not a readable .npz")
    with open(tmp_path / "one.npz", "wb") as f:
        np.save(f, np.zeros(3))
    fails(tmp_path / "one.npz", "a single .npy array, not an .npz")


def test_npz_damaged_member(tmp_path: Path) -> None:
    path = savez(tmp_path / "d.npz", x=np.arange(4000.0).reshape(1000, 4), y=np.zeros(1000))
    data = bytearray(path.read_bytes())
    data[200] ^= 0xFF  # inside x's data: the zip CRC no longer matches
    path.write_bytes(bytes(data))
    fails(path, "array 'x'")


# ---------------------------------------------------------------- IDX


def test_idx_images_and_labels(tmp_path: Path) -> None:
    x = RNG.integers(0, 256, (6, 5, 4), dtype=np.uint8)
    data = write_idx(tmp_path / "x-idx3-ubyte.gz", x)
    labels = write_idx(tmp_path / "y-idx1-ubyte", np.array([0, 1, 2, 0, 1, 2], np.uint8))
    s = load_samples(data, label=str(labels))
    assert s.x.dtype == np.uint8 and np.array_equal(s.x, x) and s.shape == (5, 4)
    assert s.task == "classify" and s.y.dtype == np.int64 and s.y.tolist() == [0, 1, 2, 0, 1, 2]
    assert s.label_names == ["0", "1", "2"] and s.feature_names == ["x0", "x1", "x2", "x3"]
    assert s.integral == [True] * 4 and s.source == str(data)


@pytest.mark.parametrize("code", sorted(IDX_TYPES))
def test_idx_every_element_type(tmp_path: Path, code: int) -> None:
    values = np.array([[[1, 2], [3, 4]], [[5, 6], [7, 8]], [[9, 10], [11, 12]]])
    if code != 0x08:
        values = values - 6  # negative values for the signed types
    if code in (0x0D, 0x0E):
        values = values / 2  # the first feature holds halves, the second whole numbers
    path = idx_file(tmp_path / "d.idx", values, code)
    a = read_idx(path, any_type=True)
    assert a.dtype == np.dtype(IDX_TYPES[code]).newbyteorder("=") and a.dtype.isnative
    assert np.array_equal(a, values)
    idx_file(tmp_path / "l.idx", [2, 0, 1], code)
    s = load_samples(path, label=str(tmp_path / "l.idx"))
    assert s.shape == (2, 2) and np.array_equal(s.x, values) and s.y.tolist() == [2, 0, 1]
    assert s.x.dtype == (np.float64 if code in (0x0D, 0x0E) else a.dtype)
    assert s.integral == ([False, True] if code in (0x0D, 0x0E) else [True, True])


def test_idx_regression_and_flat_samples(tmp_path: Path) -> None:
    idx_file(tmp_path / "x.idx", [1, 2, 3], 0x0B)
    idx_file(tmp_path / "t.idx", [[0.5, 1], [1.5, 2], [2.5, 3]], 0x0E)
    s = load_samples(tmp_path / "x.idx", label=str(tmp_path / "t.idx"))
    assert s.x.shape == (3, 1) and s.task == "regress" and s.y.shape == (3, 2) and s.label_names == ["y0", "y1"]


def test_idx_gzip_without_suffix_detected_by_content(tmp_path: Path) -> None:
    raw = idx_file(tmp_path / "raw", np.zeros((2, 3)), 0x0D).read_bytes()
    (tmp_path / "data").write_bytes(gzip.compress(raw, mtime=0))
    idx_file(tmp_path / "l", [0, 1], 0x08)
    assert load_samples(tmp_path / "data", label=str(tmp_path / "l")).x.shape == (2, 3)


def test_idx_refusals(tmp_path: Path) -> None:
    data = write_idx(tmp_path / "x-idx3-ubyte", np.zeros((3, 2, 2), np.uint8))
    labels = write_idx(tmp_path / "l-idx1-ubyte", np.zeros(4, np.uint8))
    fails(data, "an IDX file holds no labels; pass --label LABELS.idx")
    fails(data, f"3 samples but {labels} has 4 labels", label=str(labels))
    # problems of the labels file name the labels file
    fails(data, "is a folder", label=str(tmp_path), at=tmp_path)
    fails(data, "cannot open (", label=str(tmp_path / "nope"), at=tmp_path / "nope")
    idx_file(tmp_path / "t.idx", [0.5, 1, 2], 0x0D)
    fails(data, "y holds real values (e.g. 0.5 at y[0])", label=str(tmp_path / "t.idx"), task="classify",
          at=tmp_path / "t.idx")
    idx_file(tmp_path / "n.idx", [1, np.inf, 2], 0x0E)
    fails(data, "y[1] is inf", label=str(tmp_path / "n.idx"), at=tmp_path / "n.idx")
    idx_file(tmp_path / "nx.idx", [[1, 2], [3, np.nan], [5, 6]], 0x0D)
    fails(tmp_path / "nx.idx", "x[1, 1] is nan; x must hold finite numbers", label=str(labels))
    junk = tmp_path / "junk-ubyte"
    junk.write_bytes(b"\0\0\x07\x01\0\0\0\x01x")
    fails(junk, "not an IDX file (magic 0x00000701;", label=str(labels))
    cut = tmp_path / "cut.idx"
    cut.write_bytes(b"\0\0\x0d\x02\0\0\0\x02\0\0\0\x03abc")
    fails(cut, "truncated: header declares 2x3 (36 bytes) but the file has 15 bytes; write or copy the file again",
          label=str(labels))


def test_read_idx_default_stays_ubyte_only(tmp_path: Path) -> None:
    path = idx_file(tmp_path / "f.idx", np.zeros((2, 2)), 0x0D)
    with pytest.raises(NNModelError, match="not an unsigned-byte IDX file"):
        read_idx(path)


# ---------------------------------------------------------------- dispatch and shape check


def test_unknown_format_folder_missing_and_bad_task(tmp_path: Path) -> None:
    (tmp_path / "d.bin").write_bytes(b"\x01\x02\x03hello")
    fails(tmp_path / "d.bin", "unknown data format; expected a .csv with a header row, an .npz with x and y, "
                              "or an IDX file (with --label LABELS.idx)")
    (tmp_path / "notes").write_text("just words\n")
    fails(tmp_path / "notes", "unknown data format")
    fails(tmp_path, "is a folder")
    fails(tmp_path / "nope.csv", "no such data file")
    fails(write(tmp_path / "d.csv", "a,label\n1,0\n"), "unknown task 'train'", task="train")


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Permission denied, as a user who may not read the file gets it (root reads everything, so
    the denial is simulated at open())."""
    import builtins

    path = write(tmp_path / "d.csv", "a,label\n1,0\n")
    real_open = builtins.open

    def denied(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        if Path(str(file)) == path:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", denied)
    fails(path, "cannot open (")


def test_check_shape(tmp_path: Path) -> None:
    s = load_samples(write(tmp_path / "d.csv", "a,b,c,d,e,f,label\n1,2,3,4,5,6,0\n"))
    check_shape(s, (6,), "--arch mlp:6-16-3")
    with pytest.raises(NNModelError) as err:
        check_shape(s, (8,), "--arch mlp:8-16-3")
    assert str(err.value) == f"{tmp_path / 'd.csv'}: samples have shape 6, but --arch mlp:8-16-3 takes 8"
    images = savez(tmp_path / "i.npz", x=np.zeros((2, 28, 28), np.uint8), y=np.zeros(2, np.uint8))
    with pytest.raises(NNModelError, match=r"i.npz: samples have shape 28x28, but the model takes 784$"):
        check_shape(load_samples(images), (784,), "the model")
