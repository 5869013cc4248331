"""Model file format v1/v2 (.nnm): save() and a load() that trusts nothing. See docs/model-format.md.

    magic "NNMODEL\\0" | u32 version | u32 header length H | H bytes JSON header | tensor data | u32 CRC-32

All integers little-endian. The JSON header holds the architecture, scales, labels, provenance and
a table of tensors (dtype, shape, offset, nbytes) whose bytes follow it; the CRC-32 covers every
byte before it. Version 2 adds conv2d/maxpool2d layers and int4 weights; a model without them is
written as version 1, byte for byte as before.
"""
from __future__ import annotations

import json
import math
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .errors import NNModelError
from .fsutil import write_atomic
from .model import ACTIVATION_RANGES, RNN, Activation, Conv2D, Dense, InputSpec, Layer, MaxPool2D, Model
from .quant import MULT_MAX, SHIFT_MAX, WEIGHT_BITS, prove_no_overflow, weight_range

MAGIC = b"NNMODEL\0"
FORMAT_VERSION = 2  # newest version read and written; models without v2 features are written as v1
SUFFIX = ".nnm"
MAX_FILE_BYTES = 256 << 20  # refuse before reading: no model for a microcontroller comes close
MAX_HEADER_BYTES = 1 << 20
MAX_DIM = 65535  # layer sizes travel as uint16 in the C runtime
MAX_LAYERS = 32
MAX_KERNEL = 7
CONV_ACTIVATIONS = ("relu", "linear", "hardtanh")  # monotone: the runtime pools before requantizing
DTYPES = {"float32": np.float32, "float64": np.float64, "int8": np.int8, "int32": np.int32}
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,47}\Z")

# field -> dtype, and shape as a function of the layer's (in, out, n_scale)
_SCALE_N = "n"  # placeholder for the per-tensor (1) or per-channel (out) length
_DENSE_FIELDS = {
    "w": ("float32", ("out", "in")),
    "b": ("float32", ("out",)),
    "w_q": ("int8", ("out", "in")),
    "b_q": ("int32", ("out",)),
    "acc_scale": ("float64", (_SCALE_N,)),
}
_RNN_FIELDS = {
    "w_ih": ("float32", ("out", "in")),
    "w_hh": ("float32", ("out", "out")),
    "b": ("float32", ("out",)),
    "w_ih_q": ("int8", ("out", "in")),
    "w_hh_q": ("int8", ("out", "out")),
    "b_q": ("int32", ("out",)),
    "acc_scale": ("float64", (_SCALE_N,)),
}
_CONV_FIELDS = {
    "w": ("float32", ("out", "k", "k", "cin")),
    "b": ("float32", ("out",)),
    "w_q": ("int8", ("out", "k", "k", "cin")),
    "b_q": ("int32", ("out",)),
    "acc_scale": ("float64", (_SCALE_N,)),
}
_REQUANT_FIELDS = {"mult": ("int32", (_SCALE_N,)), "shift": ("int32", (_SCALE_N,))}


# ----------------------------------------------------------------------------------------- save
def format_version(model: Model) -> int:
    """2 when the model uses a version-2 feature (conv2d, maxpool2d, int4 weights), else 1."""
    v2 = any(isinstance(layer, (Conv2D, MaxPool2D)) or getattr(layer, "weight_bits", 8) != 8
             for layer in model.layers)
    return 2 if v2 else 1


def _layer_tensors(layer: Layer) -> dict[str, np.ndarray]:
    if isinstance(layer, MaxPool2D):
        return {}
    fields = _RNN_FIELDS if isinstance(layer, RNN) else _CONV_FIELDS if isinstance(layer, Conv2D) else _DENSE_FIELDS
    out = {name: getattr(layer, name) for name in fields}
    if layer.activation.kind != "none":
        out["mult"], out["shift"] = layer.mult, layer.shift
    if layer.activation.kind == "lut":
        out["lut"] = layer.activation.lut
    return out


def _layer_json(layer: Layer) -> dict[str, Any]:
    if isinstance(layer, MaxPool2D):
        return {"type": layer.kind, "name": layer.name, "in_shape": list(layer.in_shape), "size": layer.size}
    act: dict[str, Any] = {"kind": layer.activation.kind}
    if layer.activation.kind == "lut":
        act["lut_in_scale"] = layer.activation.lut_in_scale
        act["function"] = layer.activation.function
    doc: dict[str, Any] = {"type": layer.kind, "name": layer.name, "activation": act,
                           "in_scale": layer.in_scale, "out_scale": layer.out_scale}
    if isinstance(layer, Conv2D):
        doc.update(in_shape=list(layer.in_shape), out_channels=layer.out_channels, kernel=layer.kernel,
                   weight_bits=layer.weight_bits)
        return doc
    doc["in_features"] = layer.in_features
    doc["units" if isinstance(layer, RNN) else "out_features"] = layer.outputs
    if isinstance(layer, Dense) and layer.weight_bits != 8:  # absent means 8: v1 files stay as they were
        doc["weight_bits"] = layer.weight_bits
    return doc


def to_bytes(model: Model) -> bytes:
    """The file's bytes; deterministic (sorted JSON keys, fixed tensor order, no timestamps)."""
    tensors: dict[str, dict[str, Any]] = {}
    blobs: list[bytes] = []
    offset = 0
    for i, layer in enumerate(model.layers):
        for field, arr in _layer_tensors(layer).items():
            dtype = np.dtype(_dtype_of(field))
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
        "layers": [_layer_json(layer) for layer in model.layers],
        "provenance": model.provenance,
        "tensors": tensors,
    }
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    body = MAGIC + struct.pack("<II", format_version(model), len(text)) + text + b"".join(blobs)
    return body + struct.pack("<I", zlib.crc32(body))


def _dtype_of(field: str) -> str:
    for table in (_DENSE_FIELDS, _RNN_FIELDS, _CONV_FIELDS, _REQUANT_FIELDS):
        if field in table:
            return table[field][0]
    assert field == "lut"
    return "int8"


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
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"duplicate key {dup[:40]!r}")
    return obj


def _activation(r: _Reader, doc: dict, i: int, last: bool) -> Activation:
    field = f"layers[{i}].activation"
    act = r.get(doc, "activation", dict, field)
    kind = r.get(act, "kind", str, f"{field}.kind")
    if kind not in ACTIVATION_RANGES:
        raise r.fail(f"{field}.kind", f"unknown activation {kind!r}; known: {', '.join(ACTIVATION_RANGES)}")
    if (kind == "none") != last:
        raise r.fail(f"{field}.kind", "only the last layer (the logits) has activation 'none'")
    if kind != "lut":
        return Activation(kind)
    lut = r.tensor(f"layers.{i}.lut", "int8", (256,))
    return Activation(kind, lut, r.positive(act, "lut_in_scale", f"{field}.lut_in_scale"),
                      r.get(act, "function", str, f"{field}.function"))


def _shape(r: _Reader, doc: dict, i: int, expected: tuple[int, int, int]) -> tuple[int, int, int]:
    """A conv/pool layer's in_shape [h, w, c]: must be what the previous layer (or the image) gives."""
    field = f"layers[{i}].in_shape"
    value = r.get(doc, "in_shape", list, field)
    if len(value) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_DIM
                                  for v in value):
        raise r.fail(field, f"{value} is not [h, w, channels] with each in 1..{MAX_DIM}")
    shape = (value[0], value[1], value[2])
    if shape != expected:
        raise r.fail(field, f"{list(shape)}, but the previous layer gives {list(expected)}")
    return shape


def _weight_bits(r: _Reader, doc: dict, i: int, required: bool) -> int:
    field = f"layers[{i}].weight_bits"
    if not required and "weight_bits" not in doc:
        return 8
    bits = r.get(doc, "weight_bits", int, field)
    if bits not in WEIGHT_BITS:
        raise r.fail(field, f"{bits}; supported: {', '.join(map(str, WEIGHT_BITS))}")
    return bits


def _pool(r: _Reader, doc: dict, i: int, in_shape: tuple[int, int, int]) -> MaxPool2D:
    field = f"layers[{i}]"
    shape = _shape(r, doc, i, in_shape)
    size = r.int_in(doc, "size", 1, MAX_DIM, f"{field}.size")
    if size > min(shape[0], shape[1]):
        raise r.fail(f"{field}.size", f"{size} is larger than the {shape[0]}x{shape[1]} input: the output would be empty")
    return MaxPool2D(shape, size, r.get(doc, "name", str, f"{field}.name"))


def _layer(r: _Reader, doc: Any, i: int, prev: Layer | None, spec: InputSpec, last: bool) -> Layer:
    field = f"layers[{i}]"
    kind = r.get(doc, "type", str, f"{field}.type")
    if kind not in ("dense", "rnn", "conv2d", "maxpool2d"):
        raise r.fail(f"{field}.type", f"unknown layer type {kind!r}; this nnmodel knows dense, rnn, conv2d, maxpool2d")
    if kind in ("conv2d", "maxpool2d"):
        if prev is not None and not isinstance(prev, (Conv2D, MaxPool2D)):
            raise r.fail(f"{field}.type", f"{kind} layers must come first (they consume the image)")
        if last:
            raise r.fail(f"{field}.type", f"a {kind} layer cannot be the last layer: the logits come from a dense layer")
        in_shape = prev.out_shape if prev is not None else (spec.rows, spec.cols, 1)
        if kind == "maxpool2d":
            return _pool(r, doc, i, in_shape)
        in_shape = _shape(r, doc, i, in_shape)
        k = r.int_in(doc, "kernel", 1, MAX_KERNEL, f"{field}.kernel")
        if k > min(in_shape[0], in_shape[1]):
            raise r.fail(f"{field}.kernel", f"{k} is larger than the {in_shape[0]}x{in_shape[1]} input")
        out = r.int_in(doc, "out_channels", 1, MAX_DIM, f"{field}.out_channels")
        dims = {"out": out, "k": k, "cin": in_shape[2]}
        bits = _weight_bits(r, doc, i, True)
    else:
        if kind == "rnn" and prev is not None and not isinstance(prev, RNN):
            raise r.fail(f"{field}.type", "RNN layers must come first (they consume the input rows)")
        in_features = prev.outputs if prev is not None else spec.cols if kind == "rnn" else spec.size
        got_in = r.int_in(doc, "in_features", 1, MAX_DIM, f"{field}.in_features")
        if got_in != in_features:
            raise r.fail(f"{field}.in_features", f"{got_in}, but the previous layer gives {in_features}")
        out = r.int_in(doc, "units" if kind == "rnn" else "out_features", 1, MAX_DIM, field)
        dims = {"in": in_features, "out": out}
        bits = _weight_bits(r, doc, i, False) if kind == "dense" else 8
    if kind == "conv2d":
        act_kind = r.get(r.get(doc, "activation", dict, f"{field}.activation"), "kind", str, f"{field}.activation.kind")
        if act_kind not in CONV_ACTIVATIONS:
            raise r.fail(f"{field}.activation.kind", f"{act_kind}; a conv2d layer takes {', '.join(CONV_ACTIVATIONS)} "
                         "(the runtime max-pools before requantizing, exact only for these)")
    act = _activation(r, doc, i, last)
    where_scale = f"tensors[layers.{i}.acc_scale]"
    scale_spec = r.get(r.get(r.header, "tensors", dict, "tensors"), f"layers.{i}.acc_scale", dict, where_scale)
    scale_shape = r.get(scale_spec, "shape", list, f"{where_scale}.shape")
    if scale_shape not in ([1], [out]) or type(scale_shape[0]) is not int:  # [True] and [1.0] equal [1]
        raise r.fail(where_scale, f"shape {scale_shape}, expected [1] or [{out}]")
    dims[_SCALE_N] = scale_shape[0]
    fields = dict(_RNN_FIELDS if kind == "rnn" else _CONV_FIELDS if kind == "conv2d" else _DENSE_FIELDS)
    if act.kind != "none":
        fields.update(_REQUANT_FIELDS)
    t = {name: r.tensor(f"layers.{i}.{name}", dtype, tuple(dims[d] for d in shape))
         for name, (dtype, shape) in fields.items()}
    if not np.all(t["acc_scale"] > 0):
        raise r.fail(f"tensors[layers.{i}.acc_scale]", "scales must be positive")
    if bits != 8:
        lo, hi = weight_range(bits)
        if t["w_q"].size and (t["w_q"].min() < lo or t["w_q"].max() > hi):
            raise r.fail(f"tensors[layers.{i}.w_q]", f"values must be in {lo}..{hi} for weight_bits {bits}")
    if act.kind != "none":
        if t["mult"].min() < 1 or t["mult"].max() > MULT_MAX:
            raise r.fail(f"tensors[layers.{i}.mult]", f"values must be in 1..{MULT_MAX}; re-export the model")
        if t["shift"].min() < 0 or t["shift"].max() > SHIFT_MAX:
            raise r.fail(f"tensors[layers.{i}.shift]", f"values must be in 0..{SHIFT_MAX}; re-export the model")
        out_scale = r.positive(doc, "out_scale", f"{field}.out_scale")
    else:
        out_scale = r.number(doc, "out_scale", f"{field}.out_scale")
        empty = np.zeros(0, np.int32)
        t["mult"], t["shift"] = empty, empty
    in_scale = r.positive(doc, "in_scale", f"{field}.in_scale")
    name = r.get(doc, "name", str, f"{field}.name")
    if kind == "rnn":
        return RNN(dims["in"], out, act, t["w_ih"], t["w_hh"], t["b"], t["w_ih_q"], t["w_hh_q"],
                   t["b_q"], in_scale, t["acc_scale"], out_scale, t["mult"], t["shift"], name)
    if kind == "conv2d":
        return Conv2D(in_shape, out, dims["k"], act, t["w"], t["b"], t["w_q"], t["b_q"], in_scale,
                      t["acc_scale"], out_scale, t["mult"], t["shift"], name, bits)
    return Dense(dims["in"], out, act, t["w"], t["b"], t["w_q"], t["b_q"], in_scale,
                 t["acc_scale"], out_scale, t["mult"], t["shift"], name, bits)


def from_bytes(raw: bytes, where: str = "<model>") -> Model:
    header, data, version = _parse_container(raw, where)
    r = _Reader(where, header, data)
    name = r.get(header, "name", str, "name")
    if not NAME_RE.match(name):
        raise r.fail("name", f"{name!r} is not a C identifier of at most 48 characters")
    inp = r.get(header, "input", dict, "input")
    if inp.get("dtype") != "uint8" or inp.get("feed") != "rows":
        raise r.fail("input", "this nnmodel reads uint8 images fed by rows only")
    spec = InputSpec(r.int_in(inp, "rows", 1, 1024, "input.rows"), r.int_in(inp, "cols", 1, 1024, "input.cols"),
                     r.positive(inp, "scale", "input.scale"))
    docs = r.get(header, "layers", list, "layers")
    if not 1 <= len(docs) <= MAX_LAYERS:
        raise r.fail("layers", f"{len(docs)} layers; expected 1..{MAX_LAYERS}")
    layers: list[Layer] = []
    for i, doc in enumerate(docs):
        layers.append(_layer(r, doc, i, layers[-1] if layers else None, spec, i == len(docs) - 1))
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
    """Refuse a model whose integer arithmetic could overflow (invariant 2 of DESIGN.md)."""
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
