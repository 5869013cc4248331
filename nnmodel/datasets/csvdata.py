"""MNIST as CSV (e.g. Kaggle's mnist_train.csv): one row per image, label then 784 pixels 0..255."""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np

from nnmodel.datasets.idx import read_maybe_gzip
from nnmodel.errors import NNModelError

SIDE = 28
COLUMNS = 1 + SIDE * SIDE


def _has_header(data: bytes) -> bool:
    """A first line whose first field is not an integer (e.g. 'label,1x1,...') is a header."""
    with io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="replace") as f:
        first = f.readline().split(",", 1)[0].strip()
    return not first.lstrip("-").isdigit()


def _first_bad_line(data: bytes, skip: int) -> str:
    """Slow line-by-line scan, run only after a failure, so the message names the real file line."""
    with io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="replace") as f:
        width = None
        for n, line in enumerate(f, start=1):
            fields = line.strip().split(",")
            if n <= skip or fields == [""]:
                continue
            if width is not None and len(fields) != width:
                return f"line {n} has {len(fields)} values, earlier lines {width}"
            width = len(fields)
            for c, v in enumerate(fields, start=1):
                try:
                    value = int(v)
                except ValueError:
                    return f"line {n}, column {c}: {v.strip()[:20]!r} is not an integer"
                if not 0 <= value <= 255:
                    return f"line {n}, column {c}: value {value} is outside 0..255"
    return "not valid UTF-8 text"


def read_mnist_csv(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Return (images uint8 (N,28,28), labels uint8 (N,)) from a CSV file (raw or gzip)."""
    p = Path(path)
    text = read_maybe_gzip(p)  # read once, size and type checked first (fsutil.read_input)
    skip = int(_has_header(text))
    try:
        with io.TextIOWrapper(io.BytesIO(text), encoding="utf-8") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # loadtxt warns on empty input; we report that ourselves
            rows = np.loadtxt(f, delimiter=",", dtype=np.int64, skiprows=skip, ndmin=2)
    except (ValueError, UnicodeDecodeError) as e:
        # numpy's row numbers skip the header and blank lines; rescan (slowly, only on error) to name the line
        raise NNModelError(f"{p}: {_first_bad_line(text, skip)}; expected label then {SIDE * SIDE} integers "
                           f"0..255") from e
    if rows.shape[0] == 0:
        raise NNModelError(f"{p}: no data rows; expected rows of label then {SIDE * SIDE} pixel values")
    if rows.shape[1] != COLUMNS:
        raise NNModelError(f"{p}: rows have {rows.shape[1]} values but MNIST CSV needs {COLUMNS} "
                           f"(label then {SIDE}x{SIDE} pixels)")
    if rows.min() < 0 or rows.max() > 255:
        raise NNModelError(f"{p}: {_first_bad_line(text, skip)}; fix or drop that row")
    data = rows.astype(np.uint8)
    return data[:, 1:].reshape(-1, SIDE, SIDE).copy(), data[:, 0].copy()
