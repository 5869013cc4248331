"""Model file format v1/v2/v3 (.nnm): save() and a load() that trusts nothing. See docs/model-format.md.

    magic "NNMODEL\\0" | u32 version | u32 header length H | H bytes JSON header | tensor data | u32 CRC-32

All integers little-endian. The JSON header holds the architecture, scales, labels, provenance and
a table of tensors (dtype, shape, offset, nbytes) whose bytes follow it; the CRC-32 covers every
byte before it. Version 2 adds conv2d/maxpool2d layers and int4 weights; version 3 any input shape
(vector, sequence, image with channels), int8 codes, the physical meaning of the input features and
regression outputs. Each file is written in the oldest version that holds it, byte for byte as
that version was written before.

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
from .fsutil import MAX_MODEL_BYTES, read_input, write_atomic
from .model import CLASSIFY, INPUT_KINDS, REGRESS, Feature, InputSpec, Model, OutputSpec
from .names import name_problem
from .proof import prove_no_overflow
from .realvalues import output_ratios

MAGIC = b"NNMODEL\0"
FORMAT_VERSION = 3  # newest version read and written; each model is written in the oldest that holds it
SUFFIX = ".nnm"
MAX_FILE_BYTES = MAX_MODEL_BYTES  # refused before reading: no model for a microcontroller comes close
MAX_HEADER_BYTES = 1 << 20
MAX_LAYERS = 32
MAX_NAME = 32  # label, feature and output names: C string literals
MAX_UNIT = 16


# ----------------------------------------------------------------------------------------- save
def format_version(model: Model) -> int:
    """3 with a version-3 input or output, else 2 with a version-2 layer feature (conv2d, maxpool2d,
    int4 weights), else 1."""
    if model.input.is_v3 or model.output.is_v3:
        return 3
    return max(ops.op_of(layer).format_version(layer) for layer in model.layers)


def _input_json(model: Model, version: int) -> dict[str, Any]:
    spec = model.input
    if version < 3:
        return {"rows": spec.rows, "cols": spec.cols, "dtype": "uint8", "scale": spec.scale, "feed": "rows"}
    return {"kind": spec.kind, "shape": list(spec.shape), "dtype": spec.dtype, "scale": spec.scale,
            "features": [{"name": f.name, "unit": f.unit, "scale": f.scale, "zero_point": f.zero_point,
                          "step": f.step} for f in spec.features]}


def _output_json(model: Model) -> dict[str, Any]:
    out = model.output
    if out.task == CLASSIFY:
        return {"task": CLASSIFY}
    return {"task": out.task, "units": list(out.units), "steps": list(out.steps)}


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
    version = format_version(model)
    header: dict[str, Any] = {
        "name": model.name,
        "input": _input_json(model, version),
        "labels": list(model.labels),
        "layers": [ops.op_of(layer).to_json(layer) for layer in model.layers],
        "provenance": model.provenance,
        "tensors": tensors,
    }
    if version >= 3:
        header["output"] = _output_json(model)
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    body = MAGIC + struct.pack("<II", version, len(text)) + text + b"".join(blobs)
    return body + struct.pack("<I", zlib.crc32(body))


def checked_bytes(model: Model, where: str) -> bytes:
    """to_bytes of a model load() accepts: write nothing load() would refuse."""
    check_model(model, where)
    raw = to_bytes(model)
    from_bytes(raw, where)
    return raw


def save(model: Model, path: str | Path, *, overwrite: bool = False) -> Path:
    path = Path(path)
    raw = checked_bytes(model, str(path))
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

    def get(self, obj: Any, key: str | int, kind: type | tuple, field: str) -> Any:
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

    def number(self, obj: Any, key: str | int, field: str) -> float:
        value = self.get(obj, key, (int, float), field)
        try:
            return float(value)
        except OverflowError:  # a JSON integer beyond any double, e.g. 10**400
            raise self.fail(field, f"{str(value)[:12]}... ({len(str(value))} digits) is not a finite number") from None

    def text(self, obj: Any, key: str | int, lo: int, hi: int, field: str) -> str:
        """A string that becomes a C string literal: printable ASCII, no "??" (a C trigraph)."""
        value = self.get(obj, key, str, field)
        if not (lo <= len(value) <= hi and value.isascii() and value.isprintable() and "??" not in value):
            raise self.fail(field, f"{value[:40]!r}: expected {lo}..{hi} printable ASCII characters (no '??')")
        return value

    def positive(self, obj: Any, key: str | int, field: str) -> float:
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


def _input(r: _Reader, inp: dict, version: int) -> InputSpec:
    if version < 3:
        if inp.get("dtype") != "uint8" or inp.get("feed") != "rows":
            raise r.fail("input", "a version 1/2 file holds uint8 images fed by rows only")
        return InputSpec(r.int_in(inp, "rows", 1, 1024, "input.rows"), r.int_in(inp, "cols", 1, 1024, "input.cols"),
                         r.positive(inp, "scale", "input.scale"))
    kind = r.get(inp, "kind", str, "input.kind")
    if kind not in INPUT_KINDS:
        raise r.fail("input.kind", f"{kind!r}: expected one of {', '.join(INPUT_KINDS)}")
    shape = r.get(inp, "shape", list, "input.shape")
    dims = {"vector": 1, "sequence": 2, "image": 3}[kind]
    if len(shape) != dims or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 1024
                                     for d in shape):
        raise r.fail("input.shape", f"{shape!r}: a {kind} has {dims} dimensions, each 1..1024")
    dtype = r.get(inp, "dtype", str, "input.dtype")
    if dtype not in ("uint8", "int8"):
        raise r.fail("input.dtype", f"{dtype!r}: expected uint8 or int8")
    spec = InputSpec.of_shape(tuple(shape), scale=r.positive(inp, "scale", "input.scale"), dtype=dtype)
    if spec.cols > 4096:
        raise r.fail("input.shape", f"{shape!r}: a row holds {spec.cols} codes; at most 4096")
    docs = r.get(inp, "features", list, "input.features")
    if len(docs) not in (0, 1, spec.n_features):
        raise r.fail("input.features", f"{len(docs)} entries; expected none, 1 (per tensor) or {spec.n_features} "
                     f"(one per {'channel' if kind == 'image' else 'feature'})")
    features = []  # a zero point need not be a code: the value 0 may lie outside the codes' range
    for i, doc in enumerate(docs):
        field = f"input.features[{i}]"
        feature = Feature(r.text(doc, "name", 1, MAX_NAME, f"{field}.name"), r.text(doc, "unit", 0, MAX_UNIT,
                                                                                    f"{field}.unit"),
                          r.positive(doc, "scale", f"{field}.scale"),
                          r.int_in(doc, "zero_point", -32768, 32767, f"{field}.zero_point"),
                          r.positive(doc, "step", f"{field}.step"))
        ratio = feature.step / feature.scale
        if not 2.0**-24 <= ratio <= 2.0**24:
            raise r.fail(f"{field}.step", f"one raw step is {ratio:.3g} codes; expected 2^-24..2^24 (a unit that "
                         "fits the feature's range)")
        features.append(feature)
    spec.features = tuple(features)
    return spec


def _output(r: _Reader, header: dict, version: int, n_out: int) -> OutputSpec:
    if version < 3:
        return OutputSpec()
    doc = r.get(header, "output", dict, "output")
    task = r.get(doc, "task", str, "output.task")
    if task == CLASSIFY:
        return OutputSpec()
    if task != REGRESS:
        raise r.fail("output.task", f"{task!r}: expected {CLASSIFY} or {REGRESS}")
    units = r.get(doc, "units", list, "output.units")
    steps = r.get(doc, "steps", list, "output.steps")
    if len(units) != n_out or len(steps) != n_out:
        raise r.fail("output", f"{len(units)} units and {len(steps)} steps; expected one of each per output "
                     f"({n_out})")
    return OutputSpec(REGRESS, tuple(r.text(dict(enumerate(units)), i, 0, MAX_UNIT, f"output.units[{i}]")
                                     for i in range(n_out)),
                      tuple(r.positive(dict(enumerate(steps)), i, f"output.steps[{i}]") for i in range(n_out)))


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
            in_shape = ops.input_shape(spec.rows, spec.cols, op.in_form, spec.channels)
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
    spec = _input(r, r.get(header, "input", dict, "input"), version)
    docs = r.get(header, "layers", list, "layers")
    if not 1 <= len(docs) <= MAX_LAYERS:
        raise r.fail("layers", f"{len(docs)} layers; expected 1..{MAX_LAYERS}")
    layers = _layers(r, docs, spec)
    labels = r.get(header, "labels", list, "labels")
    # They become C string literals: printable ASCII only, and no "??" (a C trigraph under -std=c99)
    if len(labels) != layers[-1].outputs or not all(isinstance(x, str) and 0 < len(x) <= MAX_NAME and x.isascii()
                                                    and x.isprintable() and "??" not in x for x in labels):
        raise r.fail("labels", f"expected {layers[-1].outputs} names of 1..{MAX_NAME} printable ASCII characters "
                     "(no '??')")
    provenance = r.get(header, "provenance", dict, "provenance")
    output = _output(r, header, version, layers[-1].outputs)
    model = Model(name, spec, layers, labels, provenance, output)
    if version >= 3:
        try:
            output_ratios(model)
        except ValueError as exc:
            raise r.fail("output.steps", f"{exc}: one step of the output's integer form must be 2^-24..2^32 "
                         "times the last layer's accumulator scale") from None
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
    """The model in a .nnm file: size and file type checked before reading (fsutil.read_input)."""
    return from_bytes(read_input(path, MAX_FILE_BYTES, "model file", "no such model file"), str(path))
