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
    "newer version": (lambda raw: raw[:8] + struct.pack("<I", fileformat.FORMAT_VERSION + 1) + raw[12:],
                      "newer than this nnmodel"),
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
    "unknown layer": (lambda raw: _resave(raw, _set(["layers", 0, "type"], "transformer")), "unknown layer type"),
    "labels count": (lambda raw: _resave(raw, _set(["labels"], ["a", "b"])), "labels"),
    "bad name": (lambda raw: _resave(raw, _set(["name"], "my model!")), "not a C identifier"),
    "reserved name": (lambda raw: _resave(raw, _set(["name"], "nnrt")),
                      r"name: 'nnrt' clashes with the runtime's nnrt.h"),
    "a generated file's name": (lambda raw: _resave(raw, _set(["name"], "nnmodel_samples")),
                                r"'nnmodel_samples' clashes with the generated nnmodel.h and nnmodel_\* files"),
    "a C header's name": (lambda raw: _resave(raw, _set(["name"], "StdInt")),
                          r"clashes with the C library header stdint.h"),
    "negative scale": (lambda raw: _resave(raw, _set(["input", "scale"], -1.0)), "input.scale"),
    "missing field": (lambda raw: _resave(raw, lambda h, d: h.pop("labels")), "labels: missing"),
    "overflowing accumulator": (lambda raw: _resave(raw, _grow_weights), "accumulator can reach"),
    "not json": (lambda raw: raw[:16] + b"{" * (struct.unpack_from("<I", raw, 12)[0])
                             + raw[16 + struct.unpack_from("<I", raw, 12)[0]:], None),
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


# ------------------------------------------------------------------ version 2: conv, pool, int4
from randmodels import random_conv_model, random_model, small_cnn  # noqa: E402


def test_v1_models_are_written_as_before(tmp_path: Path) -> None:
    """Models without conv/pool/int4 stay version 1 (the CNN is version 2); the shipped files are
    reproduced byte for byte."""
    assert struct.unpack_from("<I", fileformat.to_bytes(small_mlp()), 8)[0] == 1
    for path in sorted((Path(__file__).resolve().parents[1] / "models").glob("*.nnm")):
        raw = path.read_bytes()
        model = fileformat.from_bytes(raw, str(path))
        assert struct.unpack_from("<I", raw, 8)[0] == fileformat.format_version(model), path.name
        assert fileformat.to_bytes(model) == raw


@pytest.mark.parametrize("make", [small_cnn, lambda: small_cnn(bits=8, per_channel=True),
                                  lambda: random_conv_model(np.random.default_rng(4)),
                                  lambda: random_model(np.random.default_rng(11), int4=True)])
def test_v2_round_trip_is_exact(tmp_path: Path, make) -> None:
    model = make()
    path = save(model, tmp_path / "m.nnm")
    raw = path.read_bytes()
    assert struct.unpack_from("<I", raw, 8)[0] == 2
    again = load(path)
    assert fileformat.to_bytes(again) == raw == fileformat.to_bytes(make())
    assert [type(a) for a in again.layers] == [type(b) for b in model.layers]
    for a, b in zip(model.layers, again.layers):
        for field in ("in_shape", "kernel", "size", "out_channels", "weight_bits"):
            assert getattr(a, field, None) == getattr(b, field, None)
        for field in ("w_q", "b_q", "mult", "shift", "acc_scale"):
            if hasattr(a, field):
                np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def _cnn_raw() -> bytes:
    return fileformat.to_bytes(small_cnn())


def _set_w_q(value, layer=0):
    def edit(h, d):
        off = h["tensors"][f"layers.{layer}.w_q"]["offset"]
        d[off] = value & 0xFF
    return edit


# mutation of small_cnn's file -> expected message (every refusal names its field)
CNN_CASES = {
    "conv in_shape mismatch": (_set(["layers", 0, "in_shape"], [27, 28, 1]),
                               r"layers\[0\].in_shape: \[27, 28, 1\], but"),
    "conv in_shape malformed": (_set(["layers", 0, "in_shape"], [28, 28]), r"layers\[0\].in_shape: .* is not \[h, w"),
    "conv in_shape not ints": (_set(["layers", 0, "in_shape"], [28, 28, True]), r"layers\[0\].in_shape"),
    "second conv in_shape": (_set(["layers", 2, "in_shape"], [13, 13, 5]),
                             r"layers\[2\].in_shape: .*gives \[13, 13, 6\]"),
    "kernel zero": (_set(["layers", 0, "kernel"], 0), r"layers\[0\].kernel: 0 is outside 1..7"),
    "kernel too big": (_set(["layers", 0, "kernel"], 8), r"layers\[0\].kernel: 8 is outside"),
    "kernel larger than map": (lambda h, d: (_set(["layers", 0, "kernel"], 5)(h, d), _set(["input", "rows"], 4)(h, d),
                                             _set(["layers", 0, "in_shape"], [4, 28, 1])(h, d)),
                               r"layers\[0\].kernel: 5 is larger than the 4x28 input"),
    "out_channels zero": (_set(["layers", 0, "out_channels"], 0), r"layers\[0\].out_channels: 0 is outside"),
    "pool size zero": (_set(["layers", 1, "size"], 0), r"layers\[1\].size: 0 is outside"),
    "pool larger than map": (_set(["layers", 3, "size"], 12), r"layers\[3\].size: 12 is larger than the 11x11 input"),
    "pool in_shape": (_set(["layers", 1, "in_shape"], [26, 26, 5]), r"layers\[1\].in_shape"),
    "dense after pool": (_set(["layers", 4, "in_features"], 55),
                         r"layers\[4\].in_features: 55, but the previous layer gives 54"),
    "int4 weight out of range": (_set_w_q(9), r"tensors\[layers.0.w_q\]: values must be in -8..7 for weight_bits 4"),
    "int4 weight below range": (_set_w_q(-9, 4), r"tensors\[layers.4.w_q\]: values must be in -8..7"),
    "weight_bits 5": (_set(["layers", 0, "weight_bits"], 5), r"layers\[0\].weight_bits: 5; supported: 8, 4"),
    "conv weight_bits missing": (lambda h, d: h["layers"][0].pop("weight_bits"), r"layers\[0\].weight_bits: missing"),
    "dense weight_bits 2": (_set(["layers", 4, "weight_bits"], 2), r"layers\[4\].weight_bits: 2"),
    "conv lut": (_set(["layers", 0, "activation", "kind"], "lut"),
                 r"layers\[0\].activation.kind: lut; a conv2d layer takes"),
    "conv none": (_set(["layers", 2, "activation", "kind"], "none"), r"layers\[2\].activation.kind: none; a conv2d"),
    "pool last": (lambda h, d: h["layers"].pop(), r"layers\[3\].type: a maxpool2d layer cannot be the last"),
    "conv tensor shape": (_set(["tensors", "layers.2.w_q", "shape"], [6, 3, 3, 5]), r"tensors\[layers.2.w_q\]: shape"),
    "version 1 with conv": (None, r"conv2d, maxpool2d and int4 weights need version 2"),
}


@pytest.mark.parametrize("case", sorted(CNN_CASES))
def test_every_conv_defect_is_one_clear_error(tmp_path: Path, case: str) -> None:
    edit, pattern = CNN_CASES[case]
    raw = _cnn_raw()
    bad = raw[:8] + struct.pack("<I", 1) + raw[12:] if edit is None else _resave(raw, edit)
    if edit is None:
        body = bad[:-4]
        bad = body + struct.pack("<I", zlib.crc32(body))
    path = tmp_path / "bad.nnm"
    path.write_bytes(bad)
    with pytest.raises(NNModelError) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    import re
    assert re.search(pattern, message), message


def test_conv_after_dense_is_refused() -> None:
    cnn = small_cnn()
    model = small_cnn()
    model.layers = [small_mlp().layers[0], cnn.layers[2], cnn.layers[4]]
    with pytest.raises(NNModelError, match=r"layers\[1\].type: conv2d layers must come first"):
        fileformat.from_bytes(fileformat.to_bytes(model), "y.nnm")


def test_save_refuses_what_load_refuses(tmp_path: Path) -> None:
    model = small_cnn()
    model.layers[0].w_q[0, 0, 0, 0] = 8  # not an int4 value
    with pytest.raises(NNModelError, match=r"-8..7"):
        save(model, tmp_path / "bad.nnm")
    assert not (tmp_path / "bad.nnm").exists()


@pytest.mark.parametrize("name", ["nnrt", "NNRT", "nnmodel", "NNModel_golden", "nnweb", "nnserial_x", "nnsim",
                                  "stdint", "string", "Arduino"])
def test_reserved_names_are_refused_by_save_and_compile(tmp_path: Path, name: str) -> None:
    """One rule (nnmodel.names) for the loader, save() and compile: a model built in Python with a
    clashing name is refused before anything is written."""
    from nnmodel.codegen import compile_model

    model = small_mlp(name=name)
    with pytest.raises(NNModelError, match=f"name: '{name}' clashes with"):
        save(model, tmp_path / "m.nnm")
    with pytest.raises(NNModelError, match=f"name: '{name}' clashes with"):
        compile_model(model, target="native", storage="ram", out_dir=tmp_path / "gen")
    assert not (tmp_path / "m.nnm").exists() and not (tmp_path / "gen").exists()


@pytest.mark.parametrize("name", ["nnrtx", "my_nnrt", "nnmodels", "stdint_cal", "model"])
def test_names_near_reserved_ones_are_fine(tmp_path: Path, name: str) -> None:
    assert load(save(small_mlp(name=name), tmp_path / "m.nnm")).name == name
