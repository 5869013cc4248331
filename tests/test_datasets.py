"""nnmodel.datasets: IDX/CSV readers, directory loader, bundled sample, downloads (local server only)."""
from __future__ import annotations

import functools
import gzip
import hashlib
import shutil
import socket
import struct
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from nnmodel.datasets import (
    Dataset,
    download_mnist,
    load_idx_pair,
    load_mnist,
    load_sample,
    read_idx,
    read_mnist_csv,
    write_idx,
)
from nnmodel.datasets import mnist as mnist_mod
from nnmodel.datasets.download import MNIST_MD5
from nnmodel.errors import NNModelError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "mnist"
RNG = np.random.default_rng(0)


def digits(n: int) -> tuple[np.ndarray, np.ndarray]:
    return RNG.integers(0, 256, (n, 28, 28), dtype=np.uint8), RNG.integers(0, 10, n, dtype=np.uint8)


def raises(match: str):
    return pytest.raises(NNModelError, match=match)


def one_line(err: pytest.ExceptionInfo[NNModelError], path: Path | None = None) -> str:
    """Every user-facing message is one line and names the file it is about."""
    msg = str(err.value)
    assert "\n" not in msg
    if path is not None:
        assert str(path) in msg
    return msg


def header(magic: int, *dims: int) -> bytes:
    return struct.pack(f">I{len(dims)}I", magic, *dims)


# ---------------------------------------------------------------- IDX


@pytest.mark.parametrize("name", ["x-idx3-ubyte", "x-idx3-ubyte.gz"])
def test_idx_round_trip(tmp_path: Path, name: str) -> None:
    images, labels = digits(7)
    write_idx(tmp_path / name, images)
    write_idx(tmp_path / f"l-{name}", labels)
    assert np.array_equal(read_idx(tmp_path / name, ndim=3), images)
    back = read_idx(tmp_path / f"l-{name}", ndim=1)
    assert back.dtype == np.uint8 and np.array_equal(back, labels)
    back[0] = 1  # callers may modify what they get


def test_idx_bytes_are_deterministic(tmp_path: Path) -> None:
    images, _ = digits(3)
    raw = write_idx(tmp_path / "a", images).read_bytes()
    assert raw[:16] == header(0x803, 3, 28, 28) and raw[16:] == images.tobytes()
    gz1 = write_idx(tmp_path / "a.gz", images).read_bytes()
    gz2 = write_idx(tmp_path / "b.gz", images).read_bytes()
    assert gz1 == gz2 and gz1[4:8] == b"\0\0\0\0"  # mtime 0, no file name in the header
    assert gzip.decompress(gz1) == raw


def test_gzip_detected_by_content_not_name(tmp_path: Path) -> None:
    images, _ = digits(2)
    (tmp_path / "gz-without-suffix").write_bytes(write_idx(tmp_path / "a.gz", images).read_bytes())
    (tmp_path / "raw-with-suffix.gz").write_bytes(write_idx(tmp_path / "a", images).read_bytes())
    assert np.array_equal(read_idx(tmp_path / "gz-without-suffix"), images)
    assert np.array_equal(read_idx(tmp_path / "raw-with-suffix.gz"), images)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("content, match", [
    (header(0x803, 2, 28, 28) + bytes(28 * 28), "truncated"),
    (header(0x803, 1, 28, 28) + bytes(28 * 28 + 5), "longer than declared"),
    (header(0x803, 2, 28), "truncated"),  # header itself cut short
    (b"\x1f", "truncated"),
    (b"PK\x03\x04" + bytes(20), "not an unsigned-byte IDX file"),
    (header(0x0D03, 1, 1, 1) + bytes(4), "not an unsigned-byte IDX file"),  # float IDX
    (header(0x801, 3) + bytes(3), "not swapped"),  # a labels file where images are expected
    (header(0x803, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF) + bytes(100), "declares"),  # refuse before allocating
    (header(0x803, 60000, 28, 28) + bytes(100), "declares"),
])
def test_idx_validation(tmp_path: Path, gz: bool, content: bytes, match: str) -> None:
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(gzip.compress(content, mtime=0) if gz else content)
    with raises(match) as err:
        read_idx(path, ndim=3)
    one_line(err, path)


def test_idx_truncated_gzip_stream(tmp_path: Path) -> None:
    images, _ = digits(50)
    data = write_idx(tmp_path / "ok.gz", images).read_bytes()
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    with raises("truncated") as err:
        read_idx(path)
    one_line(err, path)


def test_idx_missing_file(tmp_path: Path) -> None:
    with raises("cannot open") as err:
        read_idx(tmp_path / "nope")
    one_line(err, tmp_path / "nope")


def test_idx_pair_count_mismatch(tmp_path: Path) -> None:
    images, labels = digits(5)
    write_idx(tmp_path / "i", images)
    write_idx(tmp_path / "l", labels[:4])
    with raises("5 images but .* 4 labels") as err:
        load_idx_pair(tmp_path / "i", tmp_path / "l")
    one_line(err, tmp_path / "i")


def test_write_idx_rejects_non_uint8(tmp_path: Path) -> None:
    with raises("uint8"):
        write_idx(tmp_path / "x", np.zeros((2, 2), np.int32))


# ---------------------------------------------------------------- CSV


def write_csv(path: Path, images: np.ndarray, labels: np.ndarray, header_line: bool) -> Path:
    rows = [",".join(map(str, [int(lab), *img.ravel()])) for img, lab in zip(images, labels)]
    head = ["label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29))] if header_line else []
    path.write_text("\n".join(head + rows) + "\n")
    return path


@pytest.mark.parametrize("header_line", [False, True])
def test_csv(tmp_path: Path, header_line: bool) -> None:
    images, labels = digits(4)
    got_images, got_labels = read_mnist_csv(write_csv(tmp_path / "m.csv", images, labels, header_line))
    assert got_images.dtype == got_labels.dtype == np.uint8
    assert np.array_equal(got_images, images) and np.array_equal(got_labels, labels)


@pytest.mark.parametrize("edit, match", [
    (lambda r: r.replace(",", ",256,", 1).rsplit(",", 1)[0], "line 3, column 2: value 256 is outside 0..255"),
    (lambda r: "-1" + r[1:], "line 3, column 1: value -1 is outside"),
    (lambda r: r.rsplit(",", 1)[0] + ",x", "line 3.*expected label then 784"),
    (lambda r: r.rsplit(",", 1)[0], "line 3.*expected label then 784"),  # one row short of a column
])
def test_csv_bad_value(tmp_path: Path, edit, match: str) -> None:
    images, labels = digits(3)
    path = write_csv(tmp_path / "m.csv", images, labels, header_line=True)
    lines = path.read_text().splitlines()
    lines[2] = edit(lines[2])
    path.write_text("\n".join(lines) + "\n")
    with raises(match) as err:
        read_mnist_csv(path)
    one_line(err, path)


def test_csv_wrong_width_and_empty(tmp_path: Path) -> None:
    (tmp_path / "narrow.csv").write_text("1,2,3\n4,5,6\n")
    with raises("rows have 3 values"):
        read_mnist_csv(tmp_path / "narrow.csv")
    (tmp_path / "empty.csv").write_text("label,1x1\n")
    with raises("no data rows"):
        read_mnist_csv(tmp_path / "empty.csv")


# ---------------------------------------------------------------- directory loader


def test_load_mnist_shared_layout(tmp_path: Path) -> None:
    tr_i, tr_l = digits(6)
    te_i, te_l = digits(3)
    write_idx(tmp_path / "train-10k-images-idx3-ubyte.gz", tr_i)
    write_idx(tmp_path / "train-10k-labels-idx1-ubyte.gz", tr_l)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", te_i)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", te_l)
    train, test = load_mnist(tmp_path, "train"), load_mnist(tmp_path)
    assert np.array_equal(train.images, tr_i) and np.array_equal(train.labels, tr_l)
    assert np.array_equal(test.images, te_i) and np.array_equal(test.labels, te_l)
    assert test.source.endswith("t10k-images-idx3-ubyte.gz") and len(test) == 3


def test_load_mnist_prefers_full_official_raw_files(tmp_path: Path) -> None:
    full_i, full_l = digits(4)
    write_idx(tmp_path / "train-images-idx3-ubyte", full_i)  # raw, as after `gunzip`
    write_idx(tmp_path / "train-labels-idx1-ubyte", full_l)
    write_idx(tmp_path / "train-10k-images-idx3-ubyte.gz", full_i[:2])
    write_idx(tmp_path / "train-10k-labels-idx1-ubyte.gz", full_l[:2])
    assert len(load_mnist(tmp_path, "train")) == 4


def test_load_mnist_csv(tmp_path: Path) -> None:
    images, labels = digits(2)
    write_csv(tmp_path / "mnist_test.csv", images, labels, header_line=True)
    ds = load_mnist(tmp_path, "test")
    assert np.array_equal(ds.images, images) and ds.source.endswith("mnist_test.csv")


def test_load_mnist_missing(tmp_path: Path) -> None:
    with raises("no MNIST train set") as err:
        load_mnist(tmp_path, "train")
    msg = one_line(err, tmp_path)
    for name in ("train-images-idx3-ubyte", "train-10k-images-idx3-ubyte", "mnist_train.csv",
                 f"nnmodel data mnist --dir {tmp_path}"):
        assert name in msg


def test_load_mnist_images_without_labels(tmp_path: Path) -> None:
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", digits(2)[0])
    with raises("not .*t10k-labels-idx1-ubyte") as err:
        load_mnist(tmp_path)
    one_line(err)


def test_load_mnist_bad_split(tmp_path: Path) -> None:
    with raises("unknown split"):
        load_mnist(tmp_path, "val")  # type: ignore[arg-type]


def test_dataset_checks_shapes() -> None:
    with raises("28x28"):
        Dataset(np.zeros((2, 8, 8), np.uint8), np.zeros(2, np.uint8), "x")
    with raises("pair up"):
        Dataset(np.zeros((2, 28, 28), np.uint8), np.zeros(3, np.uint8), "x")


def shared_or_skip() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent")
    return SHARED


def test_load_real_shared_mnist() -> None:
    shared = shared_or_skip()
    test, train = load_mnist(shared, "test"), load_mnist(shared, "train")
    assert test.images.shape == (10000, 28, 28) and train.images.shape == (10000, 28, 28)
    assert list(test.labels[:4]) == [7, 2, 1, 0] and list(train.labels[:4]) == [5, 0, 4, 1]
    assert np.bincount(test.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert test.images.max() == 255 and test.images.min() == 0


# ---------------------------------------------------------------- bundled sample


def test_load_sample() -> None:
    sample = load_sample()
    assert sample.images.shape == (500, 28, 28) and sample.labels.shape == (500,)
    assert list(sample.labels[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    if SHARED.is_dir():
        test = load_mnist(SHARED, "test")
        assert np.array_equal(sample.images, test.images[:500]) and np.array_equal(sample.labels, test.labels[:500])


def test_load_sample_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mnist_mod, "SAMPLE_DIR", tmp_path)
    with raises("bundled sample .* is missing") as err:
        load_sample()
    one_line(err, tmp_path)


# ---------------------------------------------------------------- downloads (127.0.0.1 only)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, served directory) of a local HTTP server."""
    root = tmp_path / "served"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", root
    finally:
        httpd.shutdown()
        httpd.server_close()


def fake_set(root: Path) -> dict[str, str]:
    """Serve four small IDX .gz files; return their name -> md5."""
    images, labels = digits(3)
    out = {}
    for name, arr in [("train-images-idx3-ubyte.gz", images), ("train-labels-idx1-ubyte.gz", labels),
                      ("t10k-images-idx3-ubyte.gz", images[:2]), ("t10k-labels-idx1-ubyte.gz", labels[:2])]:
        out[name] = hashlib.md5(write_idx(root / name, arr).read_bytes()).hexdigest()
    return out


def no_partial_files(d: Path) -> bool:
    return not [p for p in d.iterdir() if p.name.endswith(".part")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_success_then_skip(tmp_path: Path, server: tuple[str, Path]) -> None:
    base, root = server
    files = fake_set(root)
    dest = tmp_path / "data"
    dead = f"http://127.0.0.1:{free_port()}/"  # first mirror down: falls through to the next
    paths = download_mnist(dest, mirrors=[dead, base], files=files, timeout=5)
    assert [p.name for p in paths] == list(files)
    assert all((dest / n).read_bytes() == (root / n).read_bytes() for n in files)
    assert len(load_mnist(dest, "train")) == 3 and len(load_mnist(dest, "test")) == 2
    for n in files:  # a second run must not need the network
        (root / n).unlink()
    log: list[str] = []
    download_mnist(dest, mirrors=[base], files=files, timeout=5, progress=log.append)
    assert all("present, md5 ok" in line for line in log) and no_partial_files(dest)


def test_download_real_md5s(tmp_path: Path, server: tuple[str, Path]) -> None:
    base, root = server
    names = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    for n in names:
        shutil.copy(shared_or_skip() / n, root / n)
    download_mnist(tmp_path / "d", mirrors=[base], files={n: MNIST_MD5[n] for n in names}, timeout=5)
    assert len(load_mnist(tmp_path / "d")) == 10000


def test_download_wrong_checksum(tmp_path: Path, server: tuple[str, Path]) -> None:
    base, root = server
    files = fake_set(root)
    files["t10k-labels-idx1-ubyte.gz"] = "0" * 32
    dest = tmp_path / "data"
    with raises("wrong md5 from every mirror") as err:
        download_mnist(dest, mirrors=[base], files=files, timeout=5)
    msg = one_line(err)
    assert "t10k-labels-idx1-ubyte.gz" in msg and "by hand" in msg
    assert not (dest / "t10k-labels-idx1-ubyte.gz").exists() and no_partial_files(dest)


def test_download_never_overwrites_bad_present_file(tmp_path: Path, server: tuple[str, Path]) -> None:
    base, root = server
    files = fake_set(root)
    dest = tmp_path / "data"
    dest.mkdir()
    (dest / "t10k-images-idx3-ubyte.gz").write_bytes(b"not it")
    with raises("present but md5 is") as err:
        download_mnist(dest, mirrors=[base], files=files, timeout=5)
    one_line(err, dest / "t10k-images-idx3-ubyte.gz")
    assert (dest / "t10k-images-idx3-ubyte.gz").read_bytes() == b"not it"
    assert sorted(p.name for p in dest.iterdir()) == ["t10k-images-idx3-ubyte.gz"]  # nothing downloaded


def test_download_404_everywhere(tmp_path: Path, server: tuple[str, Path]) -> None:
    base, _ = server  # serves nothing
    with raises("cannot reach .*HTTP 404.*by hand: train-images-idx3-ubyte.gz") as err:
        download_mnist(tmp_path / "d", mirrors=[base], timeout=5)
    one_line(err)
    assert no_partial_files(tmp_path / "d")


def test_download_unreachable(tmp_path: Path) -> None:
    dest = tmp_path / "d"
    with raises("cannot reach http://127.0.0.1") as err:
        download_mnist(dest, fashion=True, mirrors=[f"http://127.0.0.1:{free_port()}/"], timeout=5)
    msg = one_line(err)
    assert f"copy the files into {dest} by hand" in msg and "t10k-labels-idx1-ubyte.gz" in msg
    assert list(dest.iterdir()) == []


def test_download_timeout(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        with raises("cannot reach .*timed out") as err:
            download_mnist(tmp_path / "d", mirrors=[f"http://127.0.0.1:{silent.getsockname()[1]}/"], timeout=0.3)
    one_line(err)
    assert list((tmp_path / "d").iterdir()) == []
