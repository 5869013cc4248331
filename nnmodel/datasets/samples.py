"""A user's own dataset file (`--data FILE`): CSV with a header row, .npz with x and y, or IDX with a labels file.

load_samples() reads any of them into Samples: features x (N, *shape), targets y (class indices or real
values) and the names that go with them. Every problem is one NNModelError line that starts with the file
and names the line and column (CSV, counted as an editor does: the header is line 1) or the array and index.
"""
from __future__ import annotations

import csv
import io
import math
import os
import re
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from nnmodel.datasets.idx import byte_stream, is_idx_header, read_idx, read_maybe_gzip
from nnmodel.errors import NNModelError
from nnmodel.fsutil import InputFiles

__all__ = ["MAX_CLASSES", "Samples", "Task", "check_shape", "load_samples"]

Task = Literal["classify", "regress"]
TASKS: tuple[Task, ...] = ("classify", "regress")
MAX_CLASSES = 256  # class indices must fit a uint8 (the C runtime's argmax and the device protocol)
_NAMES_SHOWN = 20  # column / array lists in messages stop after this many
_CELL_SHOWN = 20  # a bad cell is quoted up to this many characters
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # .npz is a zip file (PK\5\6: an empty one)
_IDX_NAME = re.compile(r"(\.idx\d*|-ubyte)$")
_NUMPY_ROW = re.compile(r"\bat row (\d+)\b")  # np.loadtxt's error names the row it failed on
_NPZ_HOWTO = "numpy.savez(path, x=..., y=...)"


@dataclass(frozen=True, eq=False)  # eq on arrays is ambiguous
class Samples:
    x: np.ndarray  # (N, *shape): float64 for CSV/npz float data; the file's integer dtype kept for integer arrays
    y: np.ndarray  # classify: int64 (N,) class indices 0..K-1; regress: float64 (N, K), K >= 1
    task: Task
    feature_names: list[str]  # one per feature of the LAST axis of x
    label_names: list[str]  # classify: class i's name at index i; regress: one name per output
    integral: list[bool]  # per feature of the last axis: every value is a whole number
    source: str  # the path, for messages and reports

    def __len__(self) -> int:
        return len(self.x)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])


def load_samples(path: str | os.PathLike[str], label: str | None = None, task: Task | None = None, *,
                 inputs: InputFiles | None = None) -> Samples:
    """Read a dataset file; the format is chosen by content (zip, IDX magic) and then by suffix.

    label: CSV: the label column (default: a column named `label`), or for regression several as "y1,y2";
    .npz: the name of the y array (default `y`); IDX: the path of the labels IDX file (required).
    task: "classify" or "regress"; None infers it from the labels (text or whole numbers with at most 256
    distinct values: classify; otherwise regress).
    inputs: where the files are read, once each (the pre-build hashes the same bytes); size and file type
    are checked before reading (fsutil.read_input).
    """
    p = Path(path)
    inputs = inputs or InputFiles()
    if task is not None and task not in TASKS:
        raise NNModelError(f"{p}: unknown task {task!r}; use classify or regress")
    if p.is_dir():
        raise NNModelError(f"{p}: is a folder, expected a data file (.csv with a header row, .npz or IDX)")
    if not os.path.lexists(p):  # (a symbolic link that loops or dangles: read_input says which)
        raise NNModelError(f"{p}: no such data file; check the path given to --data")
    raw = inputs.data(p)
    kind = _sniff(p, raw)
    if kind == "npz":
        return _load_npz(p, raw, label, task)
    if kind == "idx":
        return _load_idx(p, label, task, inputs)
    if kind == "csv":
        return _load_csv(p, read_maybe_gzip(p, inputs), label, task)
    raise NNModelError(f"{p}: unknown data format; expected a .csv with a header row, an .npz with x and y, "
                       f"or an IDX file (with --label LABELS.idx)")


def check_shape(samples: Samples, expected: tuple[int, ...], what: str) -> None:
    """Refuse samples whose per-sample shape is not what the model (described by `what`) takes."""
    if tuple(samples.shape) != tuple(expected):
        raise NNModelError(f"{samples.source}: samples have shape {'x'.join(map(str, samples.shape))}, "
                           f"but {what} takes {'x'.join(map(str, expected))}")


# ---------------------------------------------------------------- format detection


def _sniff(p: Path, raw: bytes) -> str:
    """'npz', 'idx', 'csv' or 'unknown': content first (zip, IDX magic), then the suffix, then text with commas."""
    if raw[:4] in _ZIP_MAGIC:
        return "npz"
    try:
        with byte_stream(raw) as f:
            head = f.read(4096)
    except (EOFError, OSError, zlib.error):
        head = b""  # a damaged gzip: the reader chosen by suffix reports it
    if is_idx_header(head):
        return "idx"
    name = p.name.lower()
    base = name[:-3] if name.endswith(".gz") else name
    if base.endswith(".csv"):
        return "csv"
    if base.endswith(".npz"):
        return "npz"
    if _IDX_NAME.search(base):
        return "idx"
    if head and b"\0" not in head and b"," in head.lstrip().split(b"\n", 1)[0]:
        return "csv"  # text whose first line has commas (data.txt); the CSV reader checks the rest
    return "unknown"


# ---------------------------------------------------------------- shared helpers


def _show(text: str) -> str:
    """A cell or name quoted for a message: repr (control characters escaped), cut to a readable length."""
    return repr(text if len(text) <= _CELL_SHOWN else text[:_CELL_SHOWN] + "…")


def _plain(name: str) -> str:
    """A name printed in a message without quotes, escaped if it holds control characters."""
    return name if name.isprintable() else repr(name)[1:-1]


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(_plain(n) for n in names[:_NAMES_SHOWN])
    return shown if len(names) <= _NAMES_SHOWN else f"{shown}, … ({len(names)} in all)"


def _dims(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _integral(x: np.ndarray) -> list[bool]:
    """Per feature of the last axis: are all its values whole numbers?"""
    if x.dtype.kind in "iu":
        return [True] * x.shape[-1]
    flat = x.reshape(-1, x.shape[-1])
    return [bool(v) for v in np.equal(flat, np.rint(flat)).all(axis=0)]


def _too_many_classes(p: Path, what: str, k: int) -> NNModelError:
    return NNModelError(f"{p}: {what} has {k} classes but nnmodel classifies into at most {MAX_CLASSES}; "
                        f"use --task regress if it is a quantity")


# ---------------------------------------------------------------- CSV


def _read_text(p: Path, data: bytes) -> str:
    """The file's content (gzip decompressed) as text; a UTF-8 byte-order mark (Excel) is dropped."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise NNModelError(f"{p}: line {line} is not UTF-8 text (byte 0x{data[e.start]:02x}); save the file as "
                           f"UTF-8 CSV") from e


def _split_line(line: str) -> list[str]:
    """One CSV line's fields: quotes and the white space around fields removed."""
    return [field.strip() for field in next(csv.reader([line], skipinitialspace=True), [""])]


def _header(p: Path, line: str, lno: int) -> list[str]:
    names = _split_line(line)
    if all(_is_number(n) for n in names):
        raise NNModelError(f"{p}: line {lno} is not a header row; the first line must name the columns, "
                           f"e.g. a,b,label")
    if len(names) == 1:
        sep = next((f"{name} ({s!r})" for name, s in (("semicolons", ";"), ("tabs", "\t")) if s in line), None)
        hint = f"; it has {sep}: save the file with commas between values" if sep else ""
        raise NNModelError(f"{p}: line {lno} names only one column ({_show(names[0])}); a CSV needs feature "
                           f"columns and a label column separated by commas{hint}")
    for col, name in enumerate(names, start=1):
        if not name:
            raise NNModelError(f"{p}: line {lno}, column {col}: empty column name; name every column in the header "
                               f"(an unnamed first column is often a pandas index: write with index=False)")
    seen: dict[str, int] = {}
    for col, name in enumerate(names, start=1):
        if name in seen:
            raise NNModelError(f"{p}: line {lno}: column name {_show(name)} appears twice (columns {seen[name]} "
                               f"and {col}); give every column its own name")
        seen[name] = col
    return names


def _label_columns(p: Path, names: list[str], label: str | None, lno: int) -> list[int]:
    """Indices of the label column(s): `label`, the column named label, or a comma-separated list."""
    wanted = ["label"] if label is None else [label] if label in names else [s.strip() for s in label.split(",")]
    for name in wanted:
        if name not in names:
            if any(_is_number(n) for n in names):  # '5.1,3.5,setosa': a data row where the header should be
                raise NNModelError(f"{p}: line {lno} is not a header row; the first line must name the columns, "
                                   f"e.g. a,b,label")
            raise NNModelError(f"{p}: no column {_show(name)}; the columns are {_listing(names)} "
                               f"(pass --label COLUMN)")
    if len(set(wanted)) != len(wanted):
        raise NNModelError(f"{p}: --label {label} names a column twice; list each label column once")
    if len(wanted) == len(names):
        raise NNModelError(f"{p}: every column is a label column; a CSV needs at least one feature column")
    return [names.index(n) for n in wanted]


def _number(where: str, text: str, expected: str) -> float:
    """A finite number, or the error at `where` (file, line, column) saying what is `expected`."""
    try:
        value = float(text)
    except ValueError:
        raise NNModelError(f"{where}: {_show(text)} is not a number; {expected}") from None
    if not math.isfinite(value):
        raise NNModelError(f"{where}: {_show(text)} is not a finite number; fill in a real value or drop the row")
    return value


def _cell(p: Path, lno: int, col: int, name: str, text: str) -> float:
    """One numeric cell, or the error naming its line and column."""
    where = f"{p}: line {lno}, column {col} ({_plain(name)})"
    if not text:
        raise NNModelError(f"{where}: empty cell; fill in a value or drop the row")
    return _number(where, text, "every column but the label must hold numbers (pass --label COLUMN to name the "
                                "label column)")


def _ragged(p: Path, lno: int, n: int, ncol: int, hline: int) -> NNModelError:
    return NNModelError(f"{p}: line {lno} has {n} values, the header has {ncol}; give every row one value per "
                        f"column named on line {hline}")


def _slow_parse(p: Path, names: list[str], lnos: list[int], rows: list[str], quoted: bool, feat: list[int],
                labs: list[int], hline: int) -> tuple[np.ndarray, list[list[str]]]:
    """Field by field (quoted: by the csv module's rules): names the exact cell after the fast path failed."""
    x = np.empty((len(rows), len(feat)))
    labels: list[list[str]] = [[] for _ in labs]
    fields_of: Iterator[list[str]] = (
        (_split_line(r) for r in rows) if quoted else ([f.strip() for f in r.split(",")] for r in rows))
    for k, (lno, fields) in enumerate(zip(lnos, fields_of)):
        if len(fields) != len(names):
            raise _ragged(p, lno, len(fields), len(names), hline)
        x[k] = [_cell(p, lno, j + 1, names[j], fields[j]) for j in feat]
        for cells, j in zip(labels, labs):
            cells.append(fields[j])
    return x, labels


def _fast_parse(p: Path, names: list[str], lnos: list[int], rows: list[str], feat: list[int], labs: list[int],
                hline: int, labels: list[list[str]] | None = None) -> tuple[np.ndarray, list[list[str]]]:
    """numpy parses the features; a failure is rescanned by _slow_parse to name the line and column.

    labels: the label cells if the caller took them out already (_quoted_parse), else they are cut from rows.
    """
    ncol = len(names)
    bad = next((k for k, r in enumerate(rows) if r.count(",") != ncol - 1), None)
    if bad is not None:
        raise _ragged(p, lnos[bad], rows[bad].count(",") + 1, ncol, hline)
    try:
        x = np.loadtxt(rows, delimiter=",", usecols=feat, dtype=np.float64, comments=None, ndmin=2)
    except ValueError as e:
        # numpy >= 1.23 says "at row K" (0-based in `rows`): check that row first, then, to be sure, all of them
        at = _NUMPY_ROW.search(str(e))
        if at and int(at.group(1)) < len(rows):
            k = int(at.group(1))
            _slow_parse(p, names, lnos[k:k + 1], rows[k:k + 1], False, feat, labs, hline)
        x, found = _slow_parse(p, names, lnos, rows, False, feat, labs, hline)  # raises, naming the cell
        return x, found if labels is None else labels
    finite = np.isfinite(x)
    if not finite.all():
        k, c = (int(i) for i in np.argwhere(~finite)[0])
        _cell(p, lnos[k], feat[c] + 1, names[feat[c]], rows[k].split(",")[feat[c]].strip())
    if labels is not None:
        return x, labels
    labels = []
    for j in labs:
        if j == ncol - 1:
            cells = [r[r.rfind(",") + 1:] for r in rows]
        elif j == 0:
            cells = [r[:r.find(",")] for r in rows]
        else:
            cells = [r.split(",", j + 1)[j] for r in rows]
        labels.append([c.strip() for c in cells])
    return x, labels


def _quoted_parse(p: Path, names: list[str], lnos: list[int], rows: list[str], feat: list[int], labs: list[int],
                  hline: int) -> tuple[np.ndarray, list[list[str]]]:
    """Rows with quotes: the csv module splits them, numpy parses the features (field by field only if a
    feature cell holds a comma or a quote, which cannot be a number: _slow_parse then names it)."""
    ncol = len(names)
    plain: list[str] = []
    labels: list[list[str]] = [[] for _ in labs]
    for lno, row in zip(lnos, rows):
        fields = _split_line(row)
        if len(fields) != ncol:
            raise _ragged(p, lno, len(fields), ncol, hline)
        for cells, j in zip(labels, labs):
            cells.append(fields[j])
            fields[j] = ""  # a label may hold commas ("Smith, J."); numpy reads the features only
        line = ",".join(fields)
        if line.count(",") != ncol - 1 or '"' in line:
            return _slow_parse(p, names, lnos, rows, True, feat, labs, hline)
        plain.append(line)
    return _fast_parse(p, names, lnos, plain, feat, labs, hline, labels)


def _csv_targets(p: Path, names: list[str], labs: list[int], lnos: list[int], cells: list[list[str]],
                 task: Task | None) -> tuple[np.ndarray, Task, list[str]]:
    """y, the task and the label names from the label column(s)' text."""
    for j, column in zip(labs, cells):
        empty = next((k for k, c in enumerate(column) if not c), None)
        if empty is not None:
            raise NNModelError(f"{p}: line {lnos[empty]}, column {j + 1} ({_plain(names[j])}): empty cell; "
                               f"every row needs a label")
    if len(labs) > 1:
        if task == "classify":
            raise NNModelError(f"{p}: --label names {len(labs)} columns; classification takes one label column, "
                               f"several label columns need --task regress")
        y = np.empty((len(lnos), len(labs)))
        for i, (j, column) in enumerate(zip(labs, cells)):
            y[:, i] = [_target(p, lnos[k], j + 1, names[j], c) for k, c in enumerate(column)]
        return y, "regress", [names[j] for j in labs]
    j, column, name = labs[0], cells[0], names[labs[0]]
    where = f"column {_show(name)}"
    try:
        values = np.array([float(c) for c in column])
    except ValueError:
        values = None
    if values is None:  # text labels: class names
        if task == "regress":
            k = next(k for k, c in enumerate(column) if not _is_number(c))
            _target(p, lnos[k], j + 1, name, column[k])
        classes = sorted(set(column))
        if len(classes) > MAX_CLASSES:
            raise _too_many_classes(p, where, len(classes))
        index = {c: i for i, c in enumerate(classes)}
        return np.array([index[c] for c in column], dtype=np.int64), "classify", classes
    finite = np.isfinite(values)
    if not finite.all():
        k = int(np.argmin(finite))
        _target(p, lnos[k], j + 1, name, column[k])
    whole = np.equal(values, np.rint(values))
    distinct = np.unique(values)
    if task is None:
        task = "classify" if whole.all() and len(distinct) <= MAX_CLASSES else "regress"
    if task == "regress":
        return values.reshape(-1, 1), "regress", [name]
    if not whole.all():
        k = int(np.argmin(whole))
        raise NNModelError(f"{p}: {where} holds real values (e.g. {column[k]} on line {lnos[k]}): a regression "
                           f"target; use --task regress")
    if len(distinct) > MAX_CLASSES:
        raise _too_many_classes(p, where, len(distinct))
    y = np.searchsorted(distinct, values).astype(np.int64)
    return y, "classify", [str(int(v)) for v in distinct]


def _target(p: Path, lno: int, col: int, name: str, text: str) -> float:
    """A regression target cell: a finite number."""
    where = f"{p}: line {lno}, column {col} ({_plain(name)})"
    return _number(where, text, "--task regress needs numeric targets (class names need --task classify)")


def _load_csv(p: Path, data: bytes, label: str | None, task: Task | None) -> Samples:
    lines = _read_text(p, data).split("\n")
    del data
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise NNModelError(f"{p}: empty file; a CSV needs a header row naming the columns, then one row per sample")
    hline = first + 1
    names = _header(p, lines[first].rstrip("\r"), hline)
    labs = _label_columns(p, names, label, hline)
    feat = [j for j in range(len(names)) if j not in labs]
    lnos = [i + 1 for i in range(first + 1, len(lines)) if lines[i].strip()]
    rows = [lines[n - 1].rstrip("\r") for n in lnos]
    del lines
    if not rows:
        raise NNModelError(f"{p}: no data rows after the header (line {hline}); add one row per sample")
    parse = _quoted_parse if any('"' in r for r in rows) else _fast_parse  # R's write.csv quotes text cells
    x, cells = parse(p, names, lnos, rows, feat, labs, hline)
    y, task, label_names = _csv_targets(p, names, labs, lnos, cells, task)
    return Samples(x=x, y=y, task=task, feature_names=[names[j] for j in feat], label_names=label_names,
                   integral=_integral(x), source=str(p))


# ---------------------------------------------------------------- arrays (.npz, IDX)


def _first_bad(a: np.ndarray, name: str) -> tuple[str, str] | None:
    """(the index as name[i, j], the value) of the first non-finite element of a float array, else None."""
    if a.dtype.kind != "f":
        return None
    finite = np.isfinite(a)
    if finite.all():
        return None
    index = tuple(int(i) for i in np.argwhere(~finite)[0])
    return f"{name}[{', '.join(map(str, index))}]", str(a[index])


def _numeric(p: Path, a: np.ndarray, name: str) -> np.ndarray:
    """An array of numbers: bool becomes uint8, floats become float64, integers keep their dtype; finite only."""
    if a.dtype.kind == "b":
        a = a.astype(np.uint8)
    if a.dtype.kind not in "iuf":
        raise NNModelError(f"{p}: array {name!r} holds {a.dtype} values; {name} must hold numbers (integers or "
                           f"floats)")
    if a.dtype.kind == "f":
        a = a.astype(np.float64)
    bad = _first_bad(a, name)
    if bad is not None:
        raise NNModelError(f"{p}: {bad[0]} is {bad[1]}; {name} must hold finite numbers")
    return a


def _array_targets(p: Path, y: np.ndarray, name: str, task: Task | None, classes: list[str] | None,
                   outputs: list[str] | None) -> tuple[np.ndarray, Task, list[str]]:
    """y, the task and the label names from a y array (npz or IDX labels): p is the file that holds y."""
    if y.ndim not in (1, 2) or y.shape[-1] == 0:
        raise NNModelError(f"{p}: {name} has shape {_dims(y.shape)}; {name} must be (N,) class indices or "
                           f"targets, or (N, K) targets")
    several = y.ndim == 2 and y.shape[1] > 1
    values = y.astype(np.float64).reshape(len(y), -1)
    whole = y.dtype.kind in "iu" or bool(np.equal(values, np.rint(values)).all())
    if task is None:
        if several:
            task = "regress"
        elif classes is not None:
            task = "classify"
        else:
            task = "classify" if whole and len(np.unique(values)) <= MAX_CLASSES else "regress"
    if task == "regress":
        k = values.shape[1]
        if outputs is None:
            outputs = [name] if k == 1 else [f"{name}{i}" for i in range(k)]
        elif len(outputs) != k:
            raise NNModelError(f"{p}: names has {len(outputs)} entries but {name} has {k} outputs; give one name "
                               f"per column of {name}")
        return values, "regress", outputs
    if several:
        raise NNModelError(f"{p}: {name} has shape {_dims(y.shape)}; classification takes one class index per "
                           f"sample, (N,): use --task regress for several targets")
    flat = values[:, 0]
    if not whole:
        k = int(np.argmin(np.equal(flat, np.rint(flat))))
        raise NNModelError(f"{p}: {name} holds real values (e.g. {flat[k]:g} at {name}[{k}]): a regression "
                           f"target; use --task regress")
    if classes is not None and len(classes) > MAX_CLASSES:
        raise _too_many_classes(p, "labels", len(classes))
    limit = len(classes) if classes is not None else MAX_CLASSES
    outside = np.flatnonzero((flat < 0) | (flat >= limit))
    if len(outside):
        k = int(outside[0])
        if classes is not None:
            raise NNModelError(f"{p}: {name}[{k}] is {flat[k]:g} but labels names {len(classes)} classes; class "
                               f"indices must be 0..{len(classes) - 1}")
        if flat[k] < 0:
            raise NNModelError(f"{p}: {name}[{k}] is {flat[k]:g}; class indices must be 0..K-1 (use --task regress "
                               f"if it is a quantity)")
        raise _too_many_classes(p, name, int(flat.max()) + 1)
    labels = flat.astype(np.int64)
    if classes is None:
        classes = [str(i) for i in range(int(labels.max()) + 1)]
    return labels, "classify", classes


def _features(p: Path, x: np.ndarray, names: list[str] | None, name: str = "x") -> tuple[np.ndarray, list[str]]:
    """x as (N, *shape) with at least one axis after N, and one name per feature of the last axis."""
    if x.ndim == 0:
        raise NNModelError(f"{p}: {name} is a single number; {name} must be (N, ...), one row per sample")
    if x.ndim == 1:
        x = x.reshape(-1, 1)  # one feature per sample
    if len(x) == 0:
        raise NNModelError(f"{p}: no samples: {name} has shape {_dims(x.shape)}; {name} needs one row per sample")
    if 0 in x.shape:
        raise NNModelError(f"{p}: {name} has shape {_dims(x.shape)}; every sample needs at least one value")
    if names is None:
        return x, [f"x{i}" for i in range(x.shape[-1])]
    if len(names) != x.shape[-1]:
        raise NNModelError(f"{p}: features has {len(names)} names but {name} has {x.shape[-1]} features on its "
                           f"last axis; give one name per feature")
    return x, names


def _npz_get(p: Path, npz: np.lib.npyio.NpzFile, name: str) -> np.ndarray:
    try:
        return np.asarray(npz[name])
    except ValueError as e:
        if "pickle" in str(e):
            raise NNModelError(f"{p}: array {name!r} holds pickled Python objects, which nnmodel does not load; "
                               f"save numbers or strings (e.g. np.asarray({name}, dtype=np.float32))") from e
        raise NNModelError(f"{p}: array {name!r} cannot be read ({e}); write it with {_NPZ_HOWTO}") from e
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise NNModelError(f"{p}: array {name!r} is damaged ({e}); write or copy the file again") from e


def _npz_names(p: Path, npz: np.lib.npyio.NpzFile, name: str) -> list[str] | None:
    """An optional array of names (labels, names, features): 1-D strings."""
    if name not in npz.files:
        return None
    a = _npz_get(p, npz, name)
    if a.ndim != 1 or a.dtype.kind not in "US":
        raise NNModelError(f"{p}: array {name!r} is {a.dtype} of shape {_dims(a.shape)}; {name} must be a 1-D array "
                           f"of strings")
    if a.dtype.kind == "S":
        return [b.decode("utf-8", "replace") for b in a.tolist()]
    return [str(s) for s in a.tolist()]


def _load_npz(p: Path, raw: bytes, label: str | None, task: Task | None) -> Samples:
    magic = raw[:6]
    if magic == b"\x93NUMPY":
        raise NNModelError(f"{p}: a single .npy array, not an .npz; write x and y with {_NPZ_HOWTO}")
    if magic[:4] not in _ZIP_MAGIC:  # np.load would try to unpickle it
        raise NNModelError(f"{p}: not an .npz file (no zip signature); write it with {_NPZ_HOWTO}")
    try:
        npz = np.load(io.BytesIO(raw), allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise NNModelError(f"{p}: not a readable .npz ({e}); write it with {_NPZ_HOWTO}") from e
    yname = "y" if label is None else label
    with npz:
        for need in ("x", yname):
            if need not in npz.files:
                raise NNModelError(f"{p}: no array {need!r}; an .npz needs x (N, ...) and {yname} (N,) or (N, K); "
                                   f"it has {_listing(npz.files) or 'no arrays'}")
        x = _numeric(p, _npz_get(p, npz, "x"), "x")
        y = _numeric(p, _npz_get(p, npz, yname), yname)
        classes, outputs, features = (_npz_names(p, npz, n) for n in ("labels", "names", "features"))
    x, feature_names = _features(p, x, features)
    if y.ndim >= 1 and len(y) != len(x):
        raise NNModelError(f"{p}: x has {len(x)} samples but {yname} has {len(y)}; x and {yname} need one entry "
                           f"per sample")
    y, task, label_names = _array_targets(p, y, yname, task, classes, outputs)
    return Samples(x=x, y=y, task=task, feature_names=feature_names, label_names=label_names,
                   integral=_integral(x), source=str(p))


def _load_idx(p: Path, label: str | None, task: Task | None, inputs: InputFiles) -> Samples:
    if label is None:
        raise NNModelError(f"{p}: an IDX file holds no labels; pass --label LABELS.idx (an IDX file with one "
                           f"label per sample)")
    lp = Path(label)
    if lp.is_dir():
        raise NNModelError(f"{lp}: is a folder; --label of an IDX data file is the labels IDX file")
    x = _numeric(p, read_idx(p, any_type=True, inputs=inputs), "x")
    y = _numeric(lp, read_idx(lp, any_type=True, inputs=inputs), "y")
    x, feature_names = _features(p, x, None)
    if len(y) != len(x):
        raise NNModelError(f"{p}: {len(x)} samples but {lp} has {len(y)} labels; use the labels file that belongs "
                           f"to these samples")
    y, task, label_names = _array_targets(lp, y, "y", task, None, None)
    return Samples(x=x, y=y, task=task, feature_names=feature_names, label_names=label_names,
                   integral=_integral(x), source=str(p))

