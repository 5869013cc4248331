"""IDX files (the MNIST container): strict reader and deterministic writer, raw or gzip."""
from __future__ import annotations

import gzip
import io
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from nnmodel.errors import NNModelError
from nnmodel.fsutil import MAX_DATA_BYTES, InputFiles

GZIP_MAGIC = b"\x1f\x8b"
UBYTE = 0x08  # the only IDX element type MNIST uses
# Every IDX element type (the byte after the 0x0000 magic) and its big-endian numpy dtype.
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
# Deflate cannot expand data by more than ~1032x; a gzip file whose header claims more is corrupt.
_MAX_DEFLATE_RATIO = 1032
_REDOWNLOAD = "download the file again or run `nnmodel data mnist --dir DIR`"
_REWRITE = "write or copy the file again"  # the same advice for a user's own data file (read_idx(any_type=True))


def byte_stream(raw: bytes) -> BinaryIO:
    """A file's bytes for binary reading, decompressed if the content is gzip (names like .gz can lie, both ways)."""
    buffer = io.BytesIO(raw)
    return gzip.GzipFile(fileobj=buffer, mode="rb") if raw[:2] == GZIP_MAGIC else buffer  # type: ignore[return-value]


def open_maybe_gzip(path: str | os.PathLike[str], inputs: InputFiles | None = None) -> BinaryIO:
    """The file (checked and read once: fsutil.InputFiles) for binary reading, decompressed if gzip."""
    return byte_stream((inputs or InputFiles()).data(path))


def read_maybe_gzip(path: str | os.PathLike[str], inputs: InputFiles | None = None) -> bytes:
    """The whole content (gzip decompressed, at most MAX_DATA_BYTES of it: a small file can inflate ~1000x)."""
    p = Path(path)
    raw = (inputs or InputFiles()).data(p)
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        with byte_stream(raw) as f:
            data = f.read(MAX_DATA_BYTES + 1)
    except (EOFError, OSError, zlib.error) as e:
        raise NNModelError(f"{p}: corrupt or truncated gzip data ({e}); write or copy the file again") from e
    if len(data) > MAX_DATA_BYTES:
        raise NNModelError(f"{p}: decompresses to more than {MAX_DATA_BYTES} bytes, more than nnmodel reads as a "
                           "data file; is this the right file?")
    return data


def is_idx_header(head: bytes) -> bool:
    """True if head starts like an IDX file of any element type: 0x0000, a known type byte, 1..255 dimensions."""
    return len(head) >= 4 and head[:2] == b"\0\0" and head[2] in IDX_TYPES and head[3] != 0


def _read_exact(f: BinaryIO, n: int, path: Path, what: str, fix: str = _REDOWNLOAD) -> bytearray:
    """Read exactly n bytes into a fresh writable buffer, or raise a 'truncated' error (fix: what to do)."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    try:
        while got < n:
            k = f.readinto(view[got:])  # type: ignore[attr-defined]
            if not k:
                break
            got += k
    except (EOFError, OSError, zlib.error) as e:  # gzip stream cut short or corrupt
        raise NNModelError(f"{path}: corrupt or truncated gzip data while reading {what} ({e}); {fix}") from e
    if got < n:
        raise NNModelError(f"{path}: truncated: {what} needs {n} bytes but only {got} are present; {fix}")
    return buf


def read_idx(path: str | os.PathLike[str], ndim: int | None = None, *, any_type: bool = False,
             inputs: InputFiles | None = None) -> np.ndarray:
    """Read an unsigned-byte IDX file (raw or gzip) into a uint8 array shaped as its header says.

    ndim, if given, is the expected number of dimensions (3 for images, 1 for labels).
    any_type also accepts the other IDX element types (signed byte, short, int, float, double: big-endian
    in the file, returned in native byte order) and words its advice for a user's own file, not MNIST's.
    The declared size is checked against the file size before anything is allocated.
    inputs: where the file's bytes are read once (the pre-build hashes the same bytes).
    """
    p = Path(path)
    fix = _REWRITE if any_type else _REDOWNLOAD
    raw = (inputs or InputFiles()).data(p)
    with byte_stream(raw) as f:
        gz = isinstance(f, gzip.GzipFile)
        magic = bytes(_read_exact(f, 4, p, "the IDX magic number", fix))
        if any_type:
            if not is_idx_header(magic):
                raise NNModelError(
                    f"{p}: not an IDX file (magic 0x{magic.hex()}; expected 0x0000, a type byte 08 ubyte, 09 byte, "
                    f"0B short, 0C int, 0D float or 0E double, then the number of dimensions); write it as IDX, "
                    f"raw or .gz")
        elif magic[:2] != b"\0\0" or magic[2] != UBYTE or magic[3] == 0:
            raise NNModelError(
                f"{p}: not an unsigned-byte IDX file (magic 0x{magic.hex()}, expected 0x00000803 for images "
                f"or 0x00000801 for labels); use the MNIST idx-ubyte files, raw or .gz")
        dtype = np.dtype(IDX_TYPES[magic[2]])
        nd = magic[3]
        if ndim is not None and nd != ndim:
            raise NNModelError(
                f"{p}: IDX magic 0x{magic.hex()} means {nd}-d data but 0x{0x800 + ndim:08x} ({ndim}-d) was "
                f"expected; check that the images and labels files are not swapped")
        dims = struct.unpack(f">{nd}I", _read_exact(f, 4 * nd, p, "the IDX dimensions", fix))
        header = 4 + 4 * nd
        payload = math.prod(dims) * dtype.itemsize
        shape = "x".join(map(str, dims))
        file_size = len(raw)
        if gz:
            if payload > _MAX_DEFLATE_RATIO * file_size:
                raise NNModelError(
                    f"{p}: header declares {shape} ({payload} bytes) but a {file_size}-byte gzip file cannot "
                    f"hold that; the header is corrupt, {fix}")
        elif header + payload != file_size:
            state = "truncated" if header + payload > file_size else "longer than declared"
            raise NNModelError(
                f"{p}: {state}: header declares {shape} ({header + payload} bytes) but the file has "
                f"{file_size} bytes; {fix}")
        data = _read_exact(f, payload, p, f"{shape} data", fix)
        if gz:
            try:
                extra = f.read(1)
            except (EOFError, OSError, zlib.error) as e:
                raise NNModelError(f"{p}: corrupt gzip data after the declared {shape} ({e}); {fix}") from e
            if extra:
                raise NNModelError(f"{p}: longer than declared: data continues after the declared {shape}; "
                                   f"{fix}")
    array = np.frombuffer(data, dtype=dtype).reshape(dims)
    return array if dtype.itemsize == 1 else array.astype(dtype.newbyteorder("="))


def idx_bytes(array: np.ndarray) -> bytes:
    """Serialise a uint8 array as raw IDX bytes."""
    a = np.asarray(array)
    if a.dtype != np.uint8:
        raise NNModelError(f"IDX data must be uint8, got {a.dtype}; convert with array.astype(np.uint8)")
    if not 1 <= a.ndim <= 255 or any(d >= 2**32 for d in a.shape):
        raise NNModelError(f"IDX cannot store shape {a.shape}; it needs 1..255 dimensions each < 2**32")
    header = bytes([0, 0, UBYTE, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    return header + np.ascontiguousarray(a).tobytes()


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write an IDX file with deterministic bytes: raw, or gzip (mtime 0, no name) if the name ends in .gz."""
    p = Path(path)
    data = idx_bytes(array)
    if p.name.endswith(".gz"):
        data = gzip.compress(data, compresslevel=9, mtime=0)
    p.write_bytes(data)
    return p
