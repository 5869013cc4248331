"""Limit numpy's BLAS threads while training: the matrices are small (a 64-image batch), where
OpenBLAS threading costs far more than it gains (measured 50 ms vs 0.5 ms per product on a loaded
2-core machine). One thread per training run; run two trainings side by side to use two cores.
Single-threaded products also keep results independent of the machine's core count.
"""
from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager

_SET = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads")
_GET = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_", "openblas_get_num_threads")


def _openblas() -> tuple[ctypes.CDLL, str, str] | None:
    """The OpenBLAS library numpy has loaded, with its set/get symbol names (Linux only; else None)."""
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line})
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in zip(_SET, _GET):
            if hasattr(lib, set_name) and hasattr(lib, get_name):
                return lib, set_name, get_name
    return None


@contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Run the block with n BLAS threads (0: leave as is); a no-op where OpenBLAS is not found."""
    found = _openblas() if n > 0 else None
    if found is None:
        yield
        return
    lib, set_name, get_name = found
    before = int(getattr(lib, get_name)())
    getattr(lib, set_name)(int(n))
    try:
        yield
    finally:
        getattr(lib, set_name)(before)
