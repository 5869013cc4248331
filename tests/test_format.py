"""Model file format v1: round trip, determinism, and every validation error."""
from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import small_mlp, small_rnn

from nnmodel import NNModelError, fileformat, load, save


def _resave(raw: bytes, edit) -> bytes:
    """Apply edit(header, data) to a file's parts and rebuild it with a valid CRC."""
    hlen = struct.unpack_from("<I", raw, 12)[0]
    header = json.loads(raw[16:16 + hlen])
    data = bytearray(raw[16 + hlen:-4])
    edit(header, data)
    text = json.dumps(header).encode()
    body = raw[:8] + struct.pack("<II", struct.unpack_from("<I", raw, 8)[0], len(text)) + text + bytes(data)
    return body + struct.pack("<I", zlib.crc32(body))


def _tensor_bytes(header: dict, data: bytearray, name: str, dtype: str) -> np.ndarray:
    spec = header["tensors"][name]
    return np.frombuffer(data, dtype, spec["nbytes"] // np.dtype(dtype).itemsize, spec["offset"])


@pytest.mark.parametrize("make", [small_rnn, small_mlp])
def test_round_trip_is_exact_and_deterministic(tmp_path: Path, make) -> None:
    model = make()
    path = save(model, tmp_path / "m.nnm")
    again = load(path)
    assert fileformat.to_bytes(again) == path.read_bytes() == fileformat.to_bytes(make())
    for a, b in zip(model.layers, again.layers):
        for field in ("b_q", "mult", "shift", "acc_scale"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    path = save(small_mlp(), tmp_path / "m.nnm")
    with pytest.raises(NNModelError, match="already exists"):
        save(small_mlp(), path)
    save(small_rnn(), path, overwrite=True)
    assert load(path).name == "small_rnn"


def _set_nan(h, d):
    off = h["tensors"]["layers.0.w"]["offset"]
    d[off:off + 4] = np.array([np.nan], "<f4").tobytes()


def _set_mult(value):
    def edit(h, d):
        off = h["tensors"]["layers.0.mult"]["offset"]
        d[off:off + 4] = struct.pack("<i", value)
    return edit


def _set(path: list, value):
    def edit(h, d):
        obj = h
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = value
    return edit


def _grow_weights(h, d):
    """Weights that let the first accumulator exceed int32: must be refused by the overflow proof."""
    spec = h["tensors"]["layers.0.b_q"]
    d[spec["offset"]:spec["offset"] + spec["nbytes"]] = np.full(spec["nbytes"] // 4, 2**31 - 100, "<i4").tobytes()


CASES = {
    "newer version": (lambda raw: raw[:8] + struct.pack("<I", 2) + raw[12:], "newer than this nnmodel"),
    "bad magic": (lambda raw: b"XXMODEL\0" + raw[8:], "bad magic"),
    "truncated": (lambda raw: raw[: len(raw) // 2], "truncated"),
    "one flipped bit": (lambda raw: raw[:100] + bytes([raw[100] ^ 4]) + raw[101:], "CRC-32"),
    "empty": (lambda raw: b"", "bad magic"),
    "NaN weight": (lambda raw: _resave(raw, _set_nan), r"layers.0.w\]: holds NaN"),
    "wrong dtype": (lambda raw: _resave(raw, _set(["tensors", "layers.0.w_q", "dtype"], "int32")),
                    r"layers.0.w_q\]: dtype int32, expected int8"),
    "wrong shape": (lambda raw: _resave(raw, _set(["tensors", "layers.0.w_q", "shape"], [32, 783])),
                    r"layers.0.w_q\]: shape"),
    "absurd dimension": (lambda raw: _resave(raw, _set(["layers", 0, "out_features"], 10**9)),
                         r"layers\[0\]: 1000000000 is outside"),
    "huge declared array": (lambda raw: _resave(raw, _set(["tensors", "layers.0.w", "nbytes"], 2**40)),
                            r"layers.0.w\].nbytes"),
    "multiplier out of range": (lambda raw: _resave(raw, _set_mult(40000)), r"layers.0.mult\]: values"),
    "unknown activation": (lambda raw: _resave(raw, _set(["layers", 0, "activation", "kind"], "gelu")),
                           "unknown activation 'gelu'"),
    "unknown layer": (lambda raw: _resave(raw, _set(["layers", 0, "type"], "conv2d")), "unknown layer type"),
    "labels count": (lambda raw: _resave(raw, _set(["labels"], ["a", "b"])), "labels"),
    "bad name": (lambda raw: _resave(raw, _set(["name"], "my model!")), "not a C identifier"),
    "negative scale": (lambda raw: _resave(raw, _set(["input", "scale"], -1.0)), "input.scale"),
    "missing field": (lambda raw: _resave(raw, lambda h, d: h.pop("labels")), "labels: missing"),
    "overflowing accumulator": (lambda raw: _resave(raw, _grow_weights), "accumulator can reach"),
    "not json": (lambda raw: raw[:16] + b"{" * (struct.unpack_from("<I", raw, 12)[0]) + raw[16 + struct.unpack_from("<I", raw, 12)[0]:], None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_defect_is_one_clear_error(tmp_path: Path, case: str) -> None:
    raw = fileformat.to_bytes(small_mlp())
    mutate, pattern = CASES[case]
    path = tmp_path / "bad.nnm"
    path.write_bytes(mutate(raw))
    with pytest.raises(NNModelError) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    if pattern:
        import re
        assert re.search(pattern, message), message


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(NNModelError, match="no such model file"):
        load(tmp_path / "nope.nnm")
    with pytest.raises(NNModelError, match="is a folder"):
        load(tmp_path)


def test_rnn_after_dense_is_refused(tmp_path: Path) -> None:
    raw = fileformat.to_bytes(small_rnn())

    def swap(h, d):
        h["layers"][0]["type"] = "dense"

    with pytest.raises(NNModelError):
        fileformat.from_bytes(_resave(raw, swap), "x.nnm")
