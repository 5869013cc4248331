"""Atomic file writes: readers (compilers, PlatformIO, people) never see half a file."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def default_file_mode() -> int:
    """The mode open() would give a new file under the current umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def stage(path: Path, data: bytes) -> Path:
    """Write data to a temp file beside path (same filesystem, so a later os.replace is atomic).

    mkstemp creates files readable by the owner only; give the staged file the mode an ordinary
    open() would, so models and generated headers stay readable by the rest of the toolchain.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, default_file_mode())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_atomic(path: str | Path, data: bytes) -> None:
    path = Path(path)
    tmp = stage(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
