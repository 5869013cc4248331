"""Malformed and hostile model files: every one is refused with one NNModelError, never a crash.

A seeded numpy mutator (deterministic in CI) derives NNMODEL_FUZZ_CASES files (default 10,000) from
valid models of every kind (dense int8 per-channel, RNN with a LUT, int4 CNN, random dense/RNN/conv
models) through the mutation families below, and feeds each to nnmodel.load. A hypothesis test adds
random JSON values at random header paths. Each refused file must raise exactly NNModelError whose
message starts with the file's path and is one line; anything else (another exception, a multi-line
message, a case taking seconds, a large allocation) is a crash. A mutant that is still a valid model
(a flipped float weight, say) is counted as "still valid" and must survive a re-save and `info`.

A sample of ~30 refused files then goes through the CLI (`info`, `compile --out DIR`) and a handful
through the pre-build (generate() and the SCons glue's "[nnmodel] error:" line): one line on stderr,
no traceback, nothing written.
"""
from __future__ import annotations

import atexit
import collections
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from conftest import REPO, small_mlp, small_rnn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from randmodels import random_conv_model, random_model, small_cnn

from nnmodel import NNModelError, fileformat, load
from nnmodel.commands.info import describe

# Hypothesis caches (constants, unicode tables) go to a temp folder, not .hypothesis/ in the checkout
_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="nnmodel-hypothesis-")
set_hypothesis_home_dir(_HYPOTHESIS_HOME)
atexit.register(shutil.rmtree, _HYPOTHESIS_HOME, ignore_errors=True)

CASES = int(os.environ.get("NNMODEL_FUZZ_CASES", "10000"))
SEED = 20240808
SLOW_CASE_SECONDS = 2.0  # a case this slow is a hang (the slowest normal case takes milliseconds)
BOMB_PEAK_BYTES = 64 << 20  # a memory-bomb file may not make the loader allocate more than this


# ----------------------------------------------------------------------------------- base files
def _base_models() -> list[bytes]:
    rng = np.random.default_rng(SEED)
    models = [small_mlp(hidden=8), small_rnn(), small_cnn(), small_cnn(bits=8, per_channel=True),
              random_model(rng, "rand_a"), random_model(rng, "rand_b", int4=True),
              random_conv_model(rng, "rconv_a"), random_conv_model(rng, "rconv_b")]
    raws = [fileformat.to_bytes(m) for m in models]
    raws.append((REPO / "models" / "mnist_rnn_attiny85.nnm").read_bytes())
    return raws


class Parts:
    """A file split into version, JSON header and tensor data (the CRC is recomputed on join)."""

    def __init__(self, raw: bytes):
        self.version, hlen = struct.unpack_from("<II", raw, 8)
        self.header: dict = json.loads(raw[16:16 + hlen])
        self.data = bytearray(raw[16 + hlen:-4])

    def text(self) -> bytes:
        return json.dumps(self.header, allow_nan=True).encode()


def join(version: int, text: bytes, data: bytes, hlen: int | None = None) -> bytes:
    body = fileformat.MAGIC + struct.pack("<II", version, len(text) if hlen is None else hlen) + text + data
    return body + struct.pack("<I", zlib.crc32(body))


def recrc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys and list indices) into a JSON tree."""
    out = []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        out.append(prefix + (key,))
        out += _paths(value, prefix + (key,))
    return out


def _parent(obj: Any, path: tuple) -> Any:
    for key in path[:-1]:
        obj = obj[key]
    return obj


def _pick(rng: np.random.Generator, seq: list | tuple) -> Any:
    return seq[int(rng.integers(len(seq)))]


# Values that are wrong somewhere: types, signs, sizes, non-finite numbers (spliced as raw JSON text)
RAW_NONFINITE = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e400"]
HOSTILE = [None, True, False, 0, -1, 1, 2, 7, 255, 65535, 65536, 2**31, -2**31, 2**32, 2**63, 2**64, 10**12, 10**30,
           10**400, -10**12, 0.0, -0.0, 0.5, 1.5, -1.5, 1e-320, 1e308, -1e308, "", "x", "28", "1e3", "a\nb",
           "relu\n", "\x00", "é" * 40, [], {}, [1], [0], [-1], [10**12], [28, 28], [28, 28, 1, 1], [[1]],
           {"a": 1}, ["x"], [None], [True, True, True], "x" * 5000]
DIM_KEYS = ("rows", "cols", "in_features", "out_features", "units", "kernel", "size", "out_channels",
            "weight_bits")
FLOAT_KEYS = ("scale", "in_scale", "out_scale", "lut_in_scale")
ABSURD = [0, -1, -7, -2**31, 2**15, 65535, 65536, 2**31 - 1, 2**31, 2**32, 2**63, 2**64, 10**12, 10**100, 10**400,
          1.0, 28.0, 1e300, "28", True, False, None]


def _splice(p: Parts, path: tuple, raw_value: str) -> bytes:
    """The header with the value at path replaced by raw JSON text (json.dumps cannot write 1e999)."""
    marker = "@@FUZZ@@"
    _parent(p.header, path)[path[-1]] = marker
    text = p.text().replace(f'"{marker}"'.encode(), raw_value.encode())
    return join(p.version, text, bytes(p.data))


def _set(p: Parts, path: tuple, value: Any) -> bytes:
    _parent(p.header, path)[path[-1]] = value
    return join(p.version, p.text(), bytes(p.data))


def _tensor_names(p: Parts, dtype: str | None = None) -> list[str]:
    return [n for n, spec in sorted(p.header["tensors"].items()) if dtype is None or spec["dtype"] == dtype]


# ------------------------------------------------------------------------------ mutation families
# Each takes (rng, a valid file) and returns the mutant's bytes.
def _cut_classes(raw: bytes) -> list[tuple[int, int]]:
    hlen = struct.unpack_from("<I", raw, 12)[0]
    return [(0, 8), (8, 12), (12, 16), (16, 16 + hlen), (16 + hlen, len(raw) - 4), (len(raw) - 4, len(raw))]


def m_truncate(rng, raw):
    """Every length class: inside the magic, version, header length, JSON, data, CRC."""
    lo, hi = _pick(rng, _cut_classes(raw))
    return raw[:int(rng.integers(lo, hi))]


def m_truncate_recrc(rng, raw):
    """Truncated, then given a CRC that matches: reaches the header-length and tensor-extent checks."""
    lo, hi = _pick(rng, _cut_classes(raw)[3:])
    return recrc(raw[:max(int(rng.integers(lo, hi)) - 4, 0)])


def m_append(rng, raw):
    """Bytes appended (or the CRC moved): the CRC no longer sits at the end."""
    extra = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
    return raw + extra if rng.random() < 0.5 else recrc(raw[:-4] + extra)


def m_flip_raw(rng, raw):
    """1..8 random byte overwrites or bit flips anywhere; the CRC is left stale."""
    b = bytearray(raw)
    for _ in range(int(rng.integers(1, 9))):
        i = int(rng.integers(len(b)))
        b[i] = b[i] ^ (1 << int(rng.integers(8))) if rng.random() < 0.5 else int(rng.integers(256))
    return bytes(b) if bytes(b) != raw else b"\xff" + raw[1:]


def m_binhdr(rng, raw):
    """Magic, version and header length overwritten (extreme or random values), CRC recomputed."""
    body = bytearray(raw[:-4])
    where = int(rng.integers(3))
    if where == 0:
        i = int(rng.integers(8))
        body[i] = (body[i] + int(rng.integers(1, 256))) % 256
    else:
        value = int(_pick(rng, [0, 1, 3, 4, 255, 256, 2**16, 2**31 - 1, 2**31, 2**32 - 1,
                                int(rng.integers(3, 2**32))]))
        if where == 1 and value == 1 and struct.unpack_from("<I", raw, 8)[0] == 1:
            value = 0  # (v1 and v2 both read a v1 model: only 0 and newer versions are defects)
        struct.pack_into("<I", body, 4 + 4 * where, value)
    return recrc(bytes(body))


def m_flip_json(rng, raw):
    """Random byte overwrites inside the JSON header, CRC recomputed."""
    hlen = struct.unpack_from("<I", raw, 12)[0]
    body = bytearray(raw[:-4])
    for _ in range(int(rng.integers(1, 4))):
        i = 16 + int(rng.integers(hlen))
        body[i] = int(_pick(rng, [int(rng.integers(256)), body[i] ^ 1, ord("9"), ord('"'), ord("-"), 0xC3, 0xFF]))
    return recrc(bytes(body))


def m_flip_data(rng, raw):
    """Random byte overwrites in the tensor data, CRC recomputed (a flipped float weight stays valid)."""
    hlen = struct.unpack_from("<I", raw, 12)[0]
    body = bytearray(raw[:-4])
    for _ in range(int(rng.integers(1, 9))):
        body[16 + hlen + int(rng.integers(len(body) - 16 - hlen))] = int(rng.integers(256))
    return recrc(bytes(body))


def m_nonfinite_array(rng, raw):
    """NaN or ±inf written into a float tensor (weights, biases, accumulator scales)."""
    p = Parts(raw)
    name = _pick(rng, _tensor_names(p, "float32") + _tensor_names(p, "float64"))
    spec = p.header["tensors"][name]
    size = 4 if spec["dtype"] == "float32" else 8
    k = int(rng.integers(spec["nbytes"] // size))
    value = _pick(rng, [np.nan, np.inf, -np.inf, -np.nan])
    p.data[spec["offset"] + k * size:spec["offset"] + (k + 1) * size] = np.array([value], f"<f{size}").tobytes()
    return join(p.version, p.text(), bytes(p.data))


def m_nonfinite_json(rng, raw):
    """NaN, ±Infinity, 1e999 (parses as inf) in every float field of the header, provenance included."""
    p = Parts(raw)
    paths = [q for q in _paths(p.header) if q[-1] in FLOAT_KEYS or "accuracy" in q or q[-1] == "train_seconds"]
    return _splice(p, _pick(rng, paths), _pick(rng, RAW_NONFINITE))


def m_dtype(rng, raw):
    """A tensor's dtype replaced: other numpy names, nonsense, other JSON types."""
    p = Parts(raw)
    name = _pick(rng, _tensor_names(p))
    value = _pick(rng, ["float16", "int64", "uint8", "int16", "object", "<f4", ">i4", "bool", "complex128", "U8",
                        "V4", "", "int4", "float32", "int8", "int32", "float64", 5, None, ["int8"], True])
    if value == p.header["tensors"][name]["dtype"]:
        value = "float128"
    return _set(p, ("tensors", name, "dtype"), value)


def m_shape(rng, raw):
    """A tensor's shape replaced: zeros, negatives, 10^12, floats, nested lists, other JSON types."""
    p = Parts(raw)
    name = _pick(rng, _tensor_names(p))
    shape = p.header["tensors"][name]["shape"]
    value = _pick(rng, [[0], [-1], [10**12], [2**63], [2**64], [], [[3]], "3", None, 3, [float(s) for s in shape],
                        shape + [1], shape[::-1] + [2], [s + 1 for s in shape], [s * 65536 for s in shape],
                        [True] * len(shape), [str(s) for s in shape], [-s for s in shape]])
    if value == shape:
        value = shape + [1]
    return _set(p, ("tensors", name, "shape"), value)


def m_extent(rng, raw):
    """A tensor's offset or nbytes replaced: negative, huge, off by one, fractional, other types."""
    p = Parts(raw)
    name = _pick(rng, _tensor_names(p))
    key = _pick(rng, ["offset", "nbytes"])
    old = p.header["tensors"][name][key]
    value = _pick(rng, [-1, -8, old + 1, old - 1, old + 8, old + 4096, 2**31, 2**32, 2**40, 2**64, 10**400,
                        len(p.data), float(old) + 0.5, str(old), None, True, [old]])
    return _set(p, ("tensors", name, key), value)


def m_dims(rng, raw):
    """A dimension (rows, cols, in/out features, units, kernel, pool size, channels, in_shape, weight
    bits) set to 0, negative, huge, fractional or another JSON type."""
    p = Parts(raw)
    paths = [q for q in _paths(p.header) if q[-1] in DIM_KEYS or (len(q) > 1 and q[-2] == "in_shape")
             or q[-1] == "in_shape"]
    path = _pick(rng, paths)
    value = _pick(rng, ABSURD + [[0, 0, 0], [-1, 28, 1], [65536, 1, 1], [10**12, 1, 1]])
    if value == _parent(p.header, path)[path[-1]]:
        value = -1
    return _set(p, path, value)


def m_version(rng, raw):
    """Unknown format versions (0, newer) and v1 declared for a file with v2 features, CRC valid."""
    version = struct.unpack_from("<I", raw, 8)[0]
    new = int(_pick(rng, [0, 3, 4, 7, 100, 2**16, 2**31, 2**32 - 1] + ([1] if version == 2 else [])))
    return recrc(raw[:8] + struct.pack("<I", new) + raw[12:-4])


def m_memory_bomb(rng, raw):
    """Declared tensors that would need gigabytes to terabytes: consistent shape and nbytes, layer
    dimensions raised to 65535 to match, or a shape of 10^12 elements. Refused before allocating."""
    p = Parts(raw)
    names = _tensor_names(p)
    kind = int(rng.integers(3))
    if kind == 0:  # one tensor claims 10^12 elements, nbytes consistent
        name = _pick(rng, names)
        spec = p.header["tensors"][name]
        n = _pick(rng, [10**12, 2**40, 2**62, 65535 * 65535])
        spec["shape"], spec["nbytes"] = [n], n * np.dtype(spec["dtype"]).itemsize
    else:  # a layer grows to 65535 outputs (and the next one's inputs), every shape and nbytes to match
        layers = p.header["layers"]
        i = int(rng.integers(len(layers)))
        doc = layers[i]
        key = next((k for k in ("out_features", "units", "out_channels") if k in doc), None)
        if key is None:
            doc["size"] = 1
        else:
            doc[key] = 65535
        for name, spec in p.header["tensors"].items():
            if name.startswith(f"layers.{i}.") and not name.endswith(".lut"):
                spec["shape"] = [65535 if (j == 0 or (name.endswith("w_hh") or name.endswith("w_hh_q"))) and s > 1
                                 else s for j, s in enumerate(spec["shape"])]
                if kind == 2:
                    spec["shape"] = [65535] * len(spec["shape"])
                spec["nbytes"] = int(np.prod(spec["shape"], dtype=np.int64)) * np.dtype(spec["dtype"]).itemsize
        if i + 1 < len(layers) and "in_features" in layers[i + 1]:
            layers[i + 1]["in_features"] = 65535
    return join(p.version, p.text(), bytes(p.data))


def m_json_type(rng, raw):
    """A JSON node of the wrong type: the whole header a list/string/number, a dict node a list, a list
    node a dict, strings for ints, bools and null for anything."""
    p = Parts(raw)
    if rng.random() < 0.15:
        text = _pick(rng, [b"[]", b"[{}]", b'"header"', b"42", b"null", b"true", b"1e999", b'[{"name": "x"}]'])
        return join(p.version, text, bytes(p.data))
    path = _pick(rng, [q for q in _paths(p.header) if "provenance" not in q])
    old = _parent(p.header, path)[path[-1]]
    if isinstance(old, dict):
        value = _pick(rng, [list(old.values()), list(old), [old], None, "dict", 0])
    elif isinstance(old, list):
        value = _pick(rng, [dict(enumerate(map(str, old))), {"0": old}, None, "list", len(old), old[:0]])
    elif isinstance(old, bool) or old is None:
        value = _pick(rng, [0, "true", []])
    elif isinstance(old, (int, float)):
        value = _pick(rng, [str(old), None, True, False, [old], {"v": old}])
    else:
        value = _pick(rng, [None, 0, True, [old], {"s": old}, old.encode().hex() + "\n"])
    return _set(p, path, value)


def m_json_syntax(rng, raw):
    """Not JSON at all: random bytes, invalid UTF-8, a BOM, deep nesting, NaN literals, trailing
    garbage, a header cut short (its length adjusted so only the JSON is wrong)."""
    p = Parts(raw)
    good = p.text()
    kind = int(rng.integers(9))
    if kind == 0:
        text = rng.integers(0, 256, int(rng.integers(1, 200)), dtype=np.uint8).tobytes()
    elif kind == 1:
        text = good[:-1] + b"\xff\xfe}"
    elif kind == 2:
        text = b"\xef\xbb\xbf" + good
    elif kind == 3:
        depth = int(_pick(rng, [1000, 5000, 100000, 500000]))
        text = b"[" * depth + b"]" * depth if rng.random() < 0.5 else b'{"a":' * depth + b"1" + b"}" * depth
    elif kind == 4:
        text = good[:int(rng.integers(1, len(good)))]
    elif kind == 5:
        text = good + b" garbage"
    elif kind == 6:
        text = good.decode().encode("utf-16")
    elif kind == 7:
        text = b'{"name": NaN}' if rng.random() < 0.5 else good.replace(b"{", b"{\x00", 1)
    else:
        text = b"1" * 5000  # an int beyond Python's 4300-digit parsing limit
    return join(p.version, text, bytes(p.data))


def m_missing_key(rng, raw):
    """A key removed at any depth (the header, input, a layer, its activation, a tensor entry)."""
    p = Parts(raw)
    optional = ("weight_bits",)  # a dense layer without weight_bits has 8 (v1 files)
    paths = [q for q in _paths(p.header) if isinstance(_parent(p.header, q), dict) and "provenance" not in q
             and not (q[-1] in optional and _parent(p.header, q).get("type") != "conv2d")]
    path = _pick(rng, paths)
    del _parent(p.header, path)[path[-1]]
    return join(p.version, p.text(), bytes(p.data))


def m_duplicate_key(rng, raw):
    """A key written twice in one JSON object (the second with a different value): ambiguous to
    parsers, never written by nnmodel."""
    p = Parts(raw)
    objects = [()] + [q for q in _paths(p.header) if isinstance(_parent(p.header, q)[q[-1]], dict)]
    path = _pick(rng, objects)
    node = _parent(p.header, path)[path[-1]] if path else p.header
    if not node:
        node["x"] = 1
    key = _pick(rng, sorted(node))
    marker = "@@DUP@@"
    node[marker] = 0
    dup = json.dumps(_pick(rng, [node[key], None, 0, "x", [1]]))
    text = p.text().replace(f'"{marker}": 0'.encode(), f"{json.dumps(key)}: {dup}".encode())
    return join(p.version, text, bytes(p.data))


def m_layers(rng, raw):
    """The layer list reshaped: empty, 33 layers, a layer dropped, duplicated, swapped, reversed, or
    replaced by a non-object; tensors renamed to match or not."""
    p = Parts(raw)
    layers = p.header["layers"]
    kind = int(rng.integers(7))
    if kind == 0:
        layers.clear()
    elif kind == 1:
        layers.extend([layers[-1]] * (fileformat.MAX_LAYERS + 1 - len(layers)))
    elif kind == 2 and len(layers) > 1:
        del layers[int(rng.integers(len(layers) - 1))]
    elif kind == 3:
        i = int(rng.integers(len(layers)))
        layers.insert(i, dict(layers[i]))
    elif kind == 4 and len(layers) > 1:
        i, j = rng.choice(len(layers), 2, replace=False)
        layers[i], layers[j] = layers[j], layers[i]
    elif kind == 5:
        layers.reverse()
        layers.append(layers[0])
    else:
        layers[int(rng.integers(len(layers)))] = _pick(rng, [None, 1, "dense", [], [{"type": "dense"}]])
    return join(p.version, p.text(), bytes(p.data))


def m_strings(rng, raw):
    """Hostile strings in names, labels, types, activation kinds: control characters, newlines,
    C-breaking quotes, very long, non-ASCII, empty, case changes."""
    p = Parts(raw)
    paths = [("name",), ("labels", int(rng.integers(len(p.header["labels"]))))]
    for i, doc in enumerate(p.header["layers"]):
        paths.append(("layers", i, "type"))
        if "activation" in doc:
            paths.append(("layers", i, "activation", "kind"))
    path = _pick(rng, paths)
    old = str(_parent(p.header, path)[path[-1]])
    value = _pick(rng, ["", old + "\n", "a\nb", "\t", old.upper(), old + " ", "\u2028", "x\x00y", "é" * 33,
                        "a" * 49, "1abc", "a-b", '"', "*/", "??/", "\\", "\U0001F600", old[::-1] + "_"])
    if value == old:
        value = old + "\n"
    return _set(p, path, value)


def m_provenance(rng, raw):
    """Free-form provenance with hostile values where `info`, `bench` and `train --teacher` look
    (accuracy, command, holdout): any JSON value loads, and `info` must still describe the model."""
    p = Parts(raw)
    prov = p.header["provenance"]
    key = _pick(rng, ["accuracy", "command", "holdout", "best_epoch", "x"])
    if rng.random() < 0.3 and isinstance(prov.get("accuracy"), dict) and prov["accuracy"]:
        key = ("accuracy", _pick(rng, sorted(prov["accuracy"])))
        prov["accuracy"][key[1]] = _pick(rng, HOSTILE)
    else:
        prov[key] = _pick(rng, HOSTILE)
    if rng.random() < 0.1:
        p.header["provenance"] = _pick(rng, [[], None, "x", 1])
    return join(p.version, p.text(), bytes(p.data))


FAMILIES: dict[str, Callable[[np.random.Generator, bytes], bytes]] = {
    "truncate": m_truncate, "truncate+crc": m_truncate_recrc, "append": m_append, "flip-raw": m_flip_raw,
    "binary-header": m_binhdr, "flip-json": m_flip_json, "flip-data": m_flip_data,
    "nonfinite-array": m_nonfinite_array, "nonfinite-json": m_nonfinite_json, "dtype": m_dtype,
    "shape": m_shape, "extent": m_extent, "dims": m_dims, "version": m_version, "memory-bomb": m_memory_bomb,
    "json-type": m_json_type, "json-syntax": m_json_syntax, "missing-key": m_missing_key,
    "duplicate-key": m_duplicate_key, "layers": m_layers, "strings": m_strings,
    "provenance": m_provenance,
}
# Families whose mutants are all invalid: one that loads is a bug (the loader missed the defect).
# (extra bytes after the tensors, given a matching CRC, are unused padding: "append" may load; a
# label may hold a quote or a backslash, a name may change case: "strings" may load)
MUST_REFUSE = set(FAMILIES) - {"flip-data", "flip-json", "json-type", "dims", "layers", "extent", "append", "strings",
                                "provenance"}


# ------------------------------------------------------------------------------------ checking
class Outcome:
    REFUSED, VALID, CRASH = "refused", "still valid", "crash"


def check_one(path: Path, data: bytes, family: str) -> tuple[str, str]:
    """Load one mutant; (outcome, detail). Nothing may be written beside it."""
    path.write_bytes(data)
    t0 = time.perf_counter()
    bomb = family == "memory-bomb"
    if bomb:
        tracemalloc.start()
    try:
        model = load(path)
    except NNModelError as exc:
        msg = str(exc)
        if type(exc) is not NNModelError or not msg.startswith(str(path)) or "\n" in msg or "\r" in msg:
            return Outcome.CRASH, f"bad message {msg!r}"
        outcome, detail = Outcome.REFUSED, msg
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        return Outcome.CRASH, f"{type(exc).__name__}: {str(exc)[:200]}"
    else:
        outcome, detail = Outcome.VALID, ""
        try:  # a valid mutant must be a usable model: re-saved, re-read, described by `info`
            fileformat.from_bytes(fileformat.to_bytes(model), str(path))
            describe(model)
        except NNModelError as exc:
            if "\n" in str(exc):
                return Outcome.CRASH, f"multi-line message after load: {str(exc)!r}"
        except Exception as exc:
            return Outcome.CRASH, f"loaded, then {type(exc).__name__}: {str(exc)[:200]}"
        if family in MUST_REFUSE:
            return Outcome.CRASH, "loaded a file that must be refused"
    finally:
        if bomb:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    elapsed = time.perf_counter() - t0
    if elapsed > SLOW_CASE_SECONDS:
        return Outcome.CRASH, f"took {elapsed:.1f} s"
    if bomb and peak > BOMB_PEAK_BYTES:
        return Outcome.CRASH, f"allocated {peak >> 20} MiB before refusing"
    if [p.name for p in path.parent.iterdir()] != [path.name]:
        return Outcome.CRASH, "left files beside the model"
    return outcome, detail


def generate_cases(n: int, seed: int = SEED) -> list[tuple[str, int, bytes]]:
    """n mutants, round-robin over the families and base files: (family, base index, bytes)."""
    rng = np.random.default_rng(seed)
    bases = _base_models()
    names = list(FAMILIES)
    return [(names[k % len(names)], (k // len(names)) % len(bases),
             FAMILIES[names[k % len(names)]](rng, bases[(k // len(names)) % len(bases)])) for k in range(n)]


def summary(counts: dict[str, collections.Counter]) -> str:
    total = collections.Counter()
    for c in counts.values():
        total.update(c)
    n = sum(total.values())
    per = "; ".join(f"{f} {c[Outcome.REFUSED]}/{sum(c.values())}" + (f" (+{c[Outcome.VALID]} valid)" if c[Outcome.VALID]
                                                                     else "") for f, c in counts.items())
    return (f"fuzz: {n} files, {total[Outcome.REFUSED]} refused with one-line errors (loader and pre-build), "
            f"{total[Outcome.VALID]} still valid (re-saved and described), {total[Outcome.CRASH]} crashes "
            f"[refused per family: {per}]")


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def test_fuzz_loader(fuzz_dir: Path) -> None:
    """Every mutant through the loader and, when refused, through the pre-build's generate() (what
    the PlatformIO hook runs; its SCons glue turns the error into the "[nnmodel] error:" line, see
    the pre-build test below): the same one-line error, nothing generated."""
    from nnmodel.prebuild import Settings, generate

    path = fuzz_dir / "fuzz dir" / "model.nnm"
    path.parent.mkdir()
    options = {"model": path.name, "samples": "2", "golden": "yes"}
    settings, out = Settings.parse(options, path.parent, "native"), fuzz_dir / "prebuild out"
    counts: dict[str, collections.Counter] = {f: collections.Counter() for f in FAMILIES}
    crashes: list[str] = []
    t0 = time.perf_counter()
    for k, (family, base, data) in enumerate(generate_cases(CASES)):
        outcome, detail = check_one(path, data, family)
        if outcome == Outcome.REFUSED:
            try:
                generate(settings, options, out, lambda _: None)
                outcome, detail = Outcome.CRASH, "the pre-build generated from a file the loader refuses"
            except NNModelError as exc:
                if str(exc) != detail:
                    outcome, detail = Outcome.CRASH, f"pre-build said {str(exc)!r}, the loader {detail!r}"
            if out.exists() and any(out.iterdir()):
                outcome, detail = Outcome.CRASH, f"the pre-build left {sorted(p.name for p in out.iterdir())}"
        counts[family][outcome] += 1
        if outcome == Outcome.CRASH:
            crashes.append(f"case {k} ({family}, base {base}): {detail}")
    line = summary(counts) + f" in {time.perf_counter() - t0:.1f} s"
    print("\n" + line)
    assert not crashes, line + "\n" + "\n".join(crashes[:30])
    assert CASES < 1000 or all(c[Outcome.REFUSED] for c in counts.values()), line


# -------------------------------------------------------------------------- hypothesis: JSON values
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@pytest.fixture(scope="module")
def base_parts() -> list[bytes]:
    return _base_models()


@settings(database=None, derandomize=True, deadline=None, max_examples=max(CASES // 20, 50),
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_hypothesis_json_values(base_parts: list[bytes], fuzz_dir: Path, data) -> None:
    """Any JSON value (floats non-finite included) at any path of the header: refused or a usable model."""
    raw = base_parts[data.draw(st.integers(0, len(base_parts) - 1), "base")]
    p = Parts(raw)
    paths = [q for q in _paths(p.header) if "provenance" not in q or len(q) < 3]
    path = data.draw(st.sampled_from(paths), "path")
    value = data.draw(json_values, "value")
    _parent(p.header, path)[path[-1]] = value
    target = fuzz_dir / "hyp" / "model.nnm"
    target.parent.mkdir(exist_ok=True)
    try:
        text = p.text()
    except ValueError:  # unencodable (e.g. a lone surrogate): write it as the escaped form
        text = json.dumps(p.header, ensure_ascii=True).encode()
    outcome, detail = check_one(target, join(p.version, text, bytes(p.data)), "hypothesis")
    assert outcome != Outcome.CRASH, detail


# ------------------------------------------------------------------------------ CLI and pre-build
def _sample(per_family: int = 1, seed: int = SEED + 1) -> list[tuple[str, bytes]]:
    """A few refused files of every family (~30 in all), reproducible."""
    rng = np.random.default_rng(seed)
    bases = _base_models()[:4]
    out: list[tuple[str, bytes]] = []
    for family, mutate in FAMILIES.items():
        got, tries = 0, 0
        while got < per_family + (1 if family in ("truncate", "nonfinite-json", "memory-bomb", "json-syntax",
                                                  "flip-raw", "dims", "strings", "duplicate-key", "version")
                                  else 0) and tries < 50:
            tries += 1
            data = mutate(rng, bases[tries % len(bases)])
            try:
                fileformat.from_bytes(data, "x")
            except NNModelError:
                out.append((family, data))
                got += 1
    return out


def test_cli_refuses_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    cases = _sample()
    assert len(cases) >= 28 and {f for f, _ in cases} == set(FAMILIES)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    failures = []
    for k, (family, data) in enumerate(cases):
        model = tmp_path / f"case{k}.nnm"
        model.write_bytes(data)
        out = tmp_path / f"out{k}"
        for args in (["info", str(model)], ["compile", str(model), "--target", "native", "--storage", "ram",
                                            "--out", str(out)]):
            proc = subprocess.run([sys.executable, "-m", "nnmodel", *args], capture_output=True, text=True,
                                  env=env, cwd=tmp_path)
            err = proc.stderr
            if (proc.returncode == 0 or "Traceback" in err or err.count("\n") != 1
                    or not err.startswith(f"nnmodel: error: {model}: ") or proc.stdout):
                failures.append(f"{family} {args[0]}: rc {proc.returncode}, stderr {err!r}")
        if out.exists() and any(out.iterdir()):
            failures.append(f"{family}: compile wrote {sorted(p.name for p in out.iterdir())}")
    print(f"\nfuzz cli: {len(cases)} files x 2 commands, {len(failures)} failures")
    assert not failures, "\n".join(failures)


class _FakeEnv:
    """The slice of PlatformIO's SCons environment scons_prebuild touches before it fails."""

    def __init__(self, project: Path, options: dict[str, str]):
        self.project, self.options, self.exit_code = project, options, None

    def __getitem__(self, key: str) -> str:
        return {"PIOENV": "fuzz"}[key]

    def GetProjectConfig(self):
        options = self.options

        class Config:
            def options(self, section: str) -> list[str]:
                return ["platform"] + [f"custom_nnmodel_{k}" for k in options]
        return Config()

    def GetProjectOption(self, name: str) -> str:
        return self.options[name[len("custom_nnmodel_"):]]

    def subst(self, text: str) -> str:
        return {"$PROJECT_DIR": str(self.project), "$BUILD_DIR": str(self.project / ".pio" / "build"),
                "$BOARD": ""}[text]

    def IsIntegrationDump(self) -> bool:
        return False

    def PioPlatform(self):
        return type("Platform", (), {"name": "native"})()

    def Exit(self, code: int) -> None:
        self.exit_code = code


def test_prebuild_refuses_with_tagged_line_and_generates_nothing(tmp_path: Path, capfd) -> None:
    from nnmodel.prebuild import Settings, generate, scons_prebuild

    cases = _sample(seed=SEED + 2)[::4]
    assert len(cases) >= 6
    for k, (family, data) in enumerate(cases):
        project = tmp_path / f"p{k}"
        (project / "models").mkdir(parents=True)
        (project / "models" / "m.nnm").write_bytes(data)
        options = {"model": "models/m.nnm", "samples": "2", "golden": "yes"}
        out = project / ".pio" / "build" / "nnmodel"
        with pytest.raises(NNModelError) as info:
            generate(Settings.parse(options, project, "native"), options, out, lambda _: None)
        assert str(info.value).startswith(str(project / "models" / "m.nnm")) and "\n" not in str(info.value)
        capfd.readouterr()
        env = _FakeEnv(project, options)
        scons_prebuild(env)
        captured = capfd.readouterr()
        assert env.exit_code == 1, family
        assert captured.err.startswith("[nnmodel] error: ") and captured.err.count("\n") == 1, captured.err
        assert str(info.value) in captured.err and "Traceback" not in captured.err
        assert not out.exists() or not any(out.iterdir()), f"{family}: {sorted(p.name for p in out.iterdir())}"


def test_oversized_file_is_refused_before_reading(tmp_path: Path) -> None:
    """A sparse file past MAX_FILE_BYTES: refused from its size alone (reading it would take 256 MiB)."""
    path = tmp_path / "huge.nnm"
    with path.open("wb") as f:
        f.write(fileformat.MAGIC)
        f.truncate(fileformat.MAX_FILE_BYTES + 1)
    tracemalloc.start()
    try:
        with pytest.raises(NNModelError, match="larger than any model") as info:
            load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)
    assert peak < BOMB_PEAK_BYTES
