"""Model file format v1/v2 (.nnm): save() and a load() that trusts nothing. See docs/model-format.md.

    magic "NNMODEL\\0" | u32 version | u32 header length H | H bytes JSON header | tensor data | u32 CRC-32

All integers little-endian. The JSON header holds the architecture, scales, labels, provenance and
a table of tensors (dtype, shape, offset, nbytes) whose bytes follow it; the CRC-32 covers every
byte before it. Version 2 adds conv2d/maxpool2d layers and int4 weights; a model without them is
written as version 1, byte for byte as before.

This module owns the container and the checks across layers; each layer's JSON and tensors are
its kind's (nnmodel/ops: Op.to_json, Op.tensors, Op.read).
"""
from __future__ import annotations

import json
import math
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from . import ops
from .errors import NNModelError
from .fsutil import write_atomic
from .model import InputSpec, Model
from .names import name_problem
from .proof import prove_no_overflow

MAGIC = b"NNMODEL\0"
FORMAT_VERSION = 2  # newest version read and written; models without v2 features are written as v1
SUFFIX = ".nnm"
MAX_FILE_BYTES = 256 << 20  # refuse before reading: no model for a microcontroller comes close
MAX_HEADER_BYTES = 1 << 20
MAX_LAYERS = 32


# ----------------------------------------------------------------------------------------- save
def format_version(model: Model) -> int:
    """2 when the model uses a version-2 feature (conv2d, maxpool2d, int4 weights), else 1."""
    return max(ops.op_of(layer).format_version(layer) for layer in model.layers)


def to_bytes(model: Model) -> bytes:
    """The file's bytes; deterministic (sorted JSON keys, fixed tensor order, no timestamps)."""
    tensors: dict[str, dict[str, Any]] = {}
    blobs: list[bytes] = []
    offset = 0
    for i, layer in enumerate(model.layers):
        for field, dtype_name, arr in ops.op_of(layer).tensors(layer):
            dtype = np.dtype(dtype_name)
            data = np.ascontiguousarray(arr, dtype=dtype.newbyteorder("<")).tobytes()
            tensors[f"layers.{i}.{field}"] = {"dtype": dtype.name, "shape": list(np.shape(arr)),
                                              "offset": offset, "nbytes": len(data)}
            pad = -len(data) % 8
            blobs.append(data + b"\0" * pad)
            offset += len(data) + pad
    header = {
        "name": model.name,
        "input": {"rows": model.input.rows, "cols": model.input.cols, "dtype": "uint8",
                  "scale": model.input.scale, "feed": "rows"},
        "labels": list(model.labels),
        "layers": [ops.op_of(layer).to_json(layer) for layer in model.layers],
        "provenance": model.provenance,
        "tensors": tensors,
    }
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    body = MAGIC + struct.pack("<II", format_version(model), len(text)) + text + b"".join(blobs)
    return body + struct.pack("<I", zlib.crc32(body))


def save(model: Model, path: str | Path, *, overwrite: bool = False) -> Path:
    path = Path(path)
    check_model(model, str(path))
    raw = to_bytes(model)
    from_bytes(raw, str(path))  # write nothing load() would refuse
    if path.exists() and not overwrite:
        raise NNModelError(f"{path}: already exists; choose another --out or pass --force to replace it")
    if not path.parent.is_dir():
        raise NNModelError(f"{path}: folder {path.parent} does not exist; create it first")
    write_atomic(path, raw)
    return path


# ----------------------------------------------------------------------------------------- load
class _Reader:
    """Validating accessors that turn any defect into one NNModelError naming file and field."""

    def __init__(self, where: str, header: dict, data: memoryview):
        self.where, self.header, self.data = where, header, data

    def fail(self, field: str, what: str) -> NNModelError:
        text = f"{field}: {what}"
        if not text.isprintable():  # a string from the file ("relu\n"): escaped, the message stays one line
            text = text.encode("unicode_escape").decode("ascii")
        return NNModelError(f"{self.where}: {text}")

    def get(self, obj: Any, key: str, kind: type | tuple, field: str) -> Any:
        if not isinstance(obj, dict) or key not in obj:
            raise self.fail(field, "missing; the file is damaged or not written by nnmodel")
        value = obj[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in kinds):  # JSON true is no number
            name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.fail(field, f"expected {name}, found {type(value).__name__}")
        return value

    def int_in(self, obj: Any, key: str, lo: int, hi: int, field: str) -> int:
        value = self.get(obj, key, int, field)
        if not lo <= value <= hi:
            raise self.fail(field, f"{value} is outside {lo}..{hi}")
        return value

    def number(self, obj: Any, key: str, field: str) -> float:
        value = self.get(obj, key, (int, float), field)
        try:
            return float(value)
        except OverflowError:  # a JSON integer beyond any double, e.g. 10**400
            raise self.fail(field, f"{str(value)[:12]}... ({len(str(value))} digits) is not a finite number") from None

    def positive(self, obj: Any, key: str, field: str) -> float:
        value = self.number(obj, key, field)
        if not (math.isfinite(value) and value > 0):
            raise self.fail(field, f"{value} must be a positive finite number")
        return value

    def tensor(self, name: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
        table = self.get(self.header, "tensors", dict, "tensors")
        spec = self.get(table, name, dict, f"tensors[{name}]")
        field = f"tensors[{name}]"
        found = self.get(spec, "dtype", str, f"{field}.dtype")
        if found != dtype:
            raise self.fail(field, f"dtype {found}, expected {dtype}")
        declared = self.get(spec, "shape", list, f"{field}.shape")
        if declared != list(shape):
            raise self.fail(field, f"shape {declared}, expected {list(shape)}")
        nbytes = self.int_in(spec, "nbytes", 0, len(self.data), f"{field}.nbytes")
        offset = self.int_in(spec, "offset", 0, len(self.data), f"{field}.offset")
        itemsize = np.dtype(dtype).itemsize
        if nbytes != math.prod(shape) * itemsize or offset + nbytes > len(self.data):
            raise self.fail(field, f"{nbytes} bytes at offset {offset} do not match its shape or the file")
        arr = np.frombuffer(self.data, np.dtype(dtype).newbyteorder("<"), math.prod(shape), offset)
        arr = arr.astype(np.dtype(dtype)).reshape(shape)  # native byte order, own memory
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise self.fail(field, "holds NaN or infinity; retrain or re-export the model")
        return arr


def _parse_container(raw: bytes, where: str) -> tuple[dict, memoryview, int]:
    if len(raw) < 20 and raw[:8] == MAGIC:
        raise NNModelError(f"{where}: only {len(raw)} bytes: the file is truncated; copy it again")
    if len(raw) < 20 or raw[:8] != MAGIC:
        raise NNModelError(f"{where}: not an nnmodel file (bad magic); expected a .nnm file written by nnmodel")
    version, hlen = struct.unpack_from("<II", raw, 8)
    if version > FORMAT_VERSION:
        raise NNModelError(f"{where}: format version {version} is newer than this nnmodel reads "
                           f"(v{FORMAT_VERSION}); upgrade nnmodel (pip install -U nnmodel)")
    if version < 1:
        raise NNModelError(f"{where}: format version {version} is invalid; the file is damaged")
    if hlen > MAX_HEADER_BYTES or 16 + hlen + 4 > len(raw):
        raise NNModelError(f"{where}: header length {hlen} does not fit the file ({len(raw)} bytes); "
                           "the file is truncated or damaged")
    (crc,) = struct.unpack_from("<I", raw, len(raw) - 4)
    if zlib.crc32(memoryview(raw)[:-4]) != crc:
        raise NNModelError(f"{where}: CRC-32 mismatch: the file is truncated or corrupted; copy it again")
    try:
        header = json.loads(raw[16:16 + hlen].decode("utf-8"), parse_constant=_reject_constant,
                            parse_float=_finite_float, object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise NNModelError(f"{where}: header: invalid JSON ({str(exc).splitlines()[0][:80]})") from None
    if not isinstance(header, dict):
        raise NNModelError(f"{where}: header: expected a JSON object")
    return header, memoryview(raw)[16 + hlen:-4], version


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed")


def _finite_float(text: str) -> float:
    """1e999 parses as infinity: refuse it as NaN/Infinity are (save() could not write it back)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is not a finite number")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    """A key given twice is ambiguous (parsers disagree on which wins); nnmodel never writes one."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dup = ""
        for k, _ in pairs:
            if k in seen:
                dup = k
                break
            seen.add(k)
        raise ValueError(f"duplicate key {dup[:40]!r}")
    return obj


def _layers(r: _Reader, docs: list, spec: InputSpec) -> list[Any]:
    """Each layer by its kind's Op, fed the shape the previous layer gives in the form it reads."""
    layers: list[Any] = []
    form, shape = "", ops.input_shape(spec.rows, spec.cols, ops.VECTOR)
    for i, doc in enumerate(docs):
        field = f"layers[{i}]"
        kind = r.get(doc, "type", str, f"{field}.type")
        op = ops.get(kind)
        if op is None:
            raise r.fail(f"{field}.type", f"unknown layer type {kind!r}; this nnmodel knows {', '.join(ops.kinds())}")
        last = i == len(docs) - 1
        if layers:
            in_shape = ops.adapt_shape(shape, form, op.in_form)
            if in_shape is None:
                raise r.fail(f"{field}.type", op.placement)
        else:
            in_shape = ops.input_shape(spec.rows, spec.cols, op.in_form)
        if last and op.out_form != ops.VECTOR:
            raise r.fail(f"{field}.type",
                         f"a {kind} layer cannot be the last layer: the logits come from a dense layer")
        layer = op.read(r, doc, i, in_shape, last)
        layers.append(layer)
        form, shape = op.out_form, op.out_shape(layer, in_shape)
    return layers


def from_bytes(raw: bytes, where: str = "<model>") -> Model:
    header, data, version = _parse_container(raw, where)
    r = _Reader(where, header, data)
    name = r.get(header, "name", str, "name")
    problem = name_problem(name)
    if problem:
        raise r.fail("name", problem)
    inp = r.get(header, "input", dict, "input")
    if inp.get("dtype") != "uint8" or inp.get("feed") != "rows":
        raise r.fail("input", "this nnmodel reads uint8 images fed by rows only")
    spec = InputSpec(r.int_in(inp, "rows", 1, 1024, "input.rows"), r.int_in(inp, "cols", 1, 1024, "input.cols"),
                     r.positive(inp, "scale", "input.scale"))
    docs = r.get(header, "layers", list, "layers")
    if not 1 <= len(docs) <= MAX_LAYERS:
        raise r.fail("layers", f"{len(docs)} layers; expected 1..{MAX_LAYERS}")
    layers = _layers(r, docs, spec)
    labels = r.get(header, "labels", list, "labels")
    # They become C string literals: printable ASCII only, and no "??" (a C trigraph under -std=c99)
    if len(labels) != layers[-1].outputs or not all(isinstance(x, str) and 0 < len(x) <= 32 and x.isascii()
                                                    and x.isprintable() and "??" not in x for x in labels):
        raise r.fail("labels", f"expected {layers[-1].outputs} names of 1..32 printable ASCII characters "
                     "(no '??')")
    provenance = r.get(header, "provenance", dict, "provenance")
    model = Model(name, spec, layers, labels, provenance)
    if format_version(model) > version:
        raise NNModelError(f"{where}: format version {version}, but conv2d, maxpool2d and int4 weights need "
                           "version 2; the file is damaged")
    check_model(model, where)
    return model


def check_model(model: Model, where: str) -> None:
    """Refuse a model whose name clashes (nnmodel.names) or whose integer arithmetic could overflow
    (invariant 2 of DESIGN.md)."""
    problem = name_problem(model.name)
    if problem:
        raise NNModelError(f"{where}: name: {problem}")
    try:
        prove_no_overflow(model)
    except ValueError as exc:
        raise NNModelError(f"{where}: {exc}") from None


def load(path: str | Path) -> Model:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise NNModelError(f"{path}: {size} bytes is larger than any model nnmodel writes "
                               f"({MAX_FILE_BYTES} max); is this the right file?")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NNModelError(f"{path}: no such model file") from None
    except IsADirectoryError:
        raise NNModelError(f"{path}: is a folder, expected a .nnm model file") from None
    except PermissionError:
        raise NNModelError(f"{path}: permission denied") from None
    return from_bytes(raw, str(path))
