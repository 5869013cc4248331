"""The gated recurrent kinds (gru, lstm) in Python: gate tables, the vectorised reference against a
literal transcription of docs/recurrent.md, the file format, the proof and the planner's buffers."""
from __future__ import annotations

import json

import numpy as np
import pytest
from literal_reference import run_one

from nnmodel import NNModelError, fileformat, ops, reference
from nnmodel.model import InputSpec
from nnmodel.ops.gates import clamp_pre, qmul, sigm_q7, tanh_q7, tanh_table
from nnmodel.plan import plan_buffers
from nnmodel.proof import prove_no_overflow
from nnmodel.quantize import FloatLayer, quantize_model


def _gated(rng: np.random.Generator, kind: str, n_in: int, units: int, gain: float,
           reset_after: bool = True) -> FloatLayer:
    g = 3 if kind == "gru" else 4
    w = {"w_x": rng.normal(0, gain / np.sqrt(n_in), (g * units, n_in)),
         "w_h": rng.normal(0, gain / np.sqrt(units), (g * units, units))}
    if kind == "gru":
        w.update(b_x=rng.normal(0, 0.5, g * units), b_h=rng.normal(0, 0.5, g * units))
        return FloatLayer("gru", w, "gates", extra={"reset_after": reset_after})
    return FloatLayer("lstm", {**w, "b": rng.normal(0, 0.5, g * units)}, "gates")


def random_gated_model(rng: np.random.Generator, kind: str, *, pool: bool = False, stacked: bool = False,
                       reset_after: bool = True, per_channel: bool = False, gain: float = 2.0):
    """A random gru/lstm model (gain ≥ 4 saturates most gates), optionally behind a 2×2 pool of the
    image and with a second recurrent layer of the other kind on top."""
    rows, cols = int(rng.integers(3, 9)), int(rng.integers(2, 12))
    layers = []
    if pool:
        rows, cols = 2 * rows + int(rng.integers(0, 2)), 2 * cols
        layers.append(FloatLayer("maxpool2d", {}, "none", extra={"in_shape": (rows, cols, 1), "size": 2}))
    n_in = cols // 2 if pool else cols
    units = int(rng.integers(1, 9))
    layers.append(_gated(rng, kind, n_in, units, gain, reset_after))
    if stacked:
        other = "lstm" if kind == "gru" else "gru"
        top = int(rng.integers(1, 7))
        layers.append(_gated(rng, other, units, top, gain, not reset_after))
        units = top
    layers.append(FloatLayer("dense", {"w": rng.normal(0, 1, (4, units)), "b": rng.normal(0, 0.1, 4)}, "none"))
    return quantize_model("g", layers, input_spec=InputSpec(rows=rows, cols=cols, scale=1 / 255),
                          per_channel=per_channel)


CASES = [{"kind": k, "pool": p, "stacked": s, "reset_after": r, "per_channel": c, "gain": gain}
         for k in ("gru", "lstm") for p in (False, True) for s in (False, True) for r in (True, False)
         for c in (False, True) for gain in (1.0, 6.0) if not (k == "lstm" and not r and not s)]


def test_the_table_and_gates_follow_the_functions() -> None:
    t = tanh_table()
    assert t.dtype == np.uint8 and len(t) == 128 and t[0] == 0 and t.max() == 254
    assert np.all(np.diff(t.astype(int)) >= 0)
    p = np.arange(-127, 128)
    assert np.array_equal(sigm_q7(-p), 128 - sigm_q7(p)) and np.array_equal(tanh_q7(-p), -tanh_q7(p))
    assert sigm_q7(p).min() == 0 and sigm_q7(p).max() == 128 and np.abs(tanh_q7(p)).max() == 127
    assert np.abs(sigm_q7(p) / 128 - 1 / (1 + np.exp(-p / 16))).max() < 0.006
    assert np.abs(tanh_q7(p) / 128 - np.tanh(p / 32)).max() < 0.008
    assert np.array_equal(clamp_pre(np.array([-500, -128, 0, 128, 500])), [-127, -127, 0, 127, 127])
    assert qmul(128, -77) == -77 and qmul(0, 99) == 0 and qmul(64, 3) == 2 and qmul(64, -3) == -1


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_reference_equals_the_literal_transcription(case: dict) -> None:
    rng = np.random.default_rng(abs(hash(json.dumps(case, sort_keys=True))) % 2**32)
    for _ in range(3):
        model = random_gated_model(rng, **case)
        images = rng.integers(0, 256, (6, model.input.rows, model.input.cols)).astype(np.uint8)
        expected = np.array([run_one(model, im) for im in images])
        np.testing.assert_array_equal(reference.run(model, images), expected)


def test_saturating_models_reach_the_gate_and_cell_limits() -> None:
    """Large weights drive pre-activations to the ±127 clamp, and an LSTM whose i, f, g biases are
    large drives its cells to ±32767 in 16 steps: the equivalence tests cover saturated arithmetic."""
    rng = np.random.default_rng(5)
    seen_pre = False
    for kind in ("gru", "lstm"):
        for _ in range(8):
            model = random_gated_model(rng, kind, gain=12.0)
            layer = model.layers[0]
            x = rng.integers(0, 256, (32, model.input.rows, model.input.cols)).astype(np.int64)
            rec = ops.op_of(layer).trace_gates(layer, x)
            gates = [rec[k] for k in ("r", "z", "i", "f", "o") if k in rec]
            seen_pre |= any(bool(np.any(g == 0) and np.any(g == 128)) for g in gates)
            assert np.array_equal(rec["h"], ops.op_of(layer).forward(layer, x))
    assert seen_pre
    fl = _gated(rng, "lstm", 5, 3, 1.0)
    fl.weights["b"][:9] = 30.0
    model = quantize_model("g", [fl, FloatLayer("dense", {"w": np.ones((2, 3)), "b": np.zeros(2)}, "none")],
                           input_spec=InputSpec(rows=16, cols=5, scale=1 / 255))
    images = rng.integers(0, 256, (4, 16, 5)).astype(np.uint8)
    rec = ops.op_of(model.layers[0]).trace_gates(model.layers[0], images.astype(np.int64))
    assert np.all(rec["c"][:, -1] == 32767)
    np.testing.assert_array_equal(reference.run(model, images), np.array([run_one(model, im) for im in images]))


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_integer_states_follow_the_float_layer(kind: str) -> None:
    rng = np.random.default_rng(3)
    fl = _gated(rng, kind, 10, 8, 1.0)
    model = quantize_model("g", [fl, FloatLayer("dense", {"w": np.eye(4, 8), "b": np.zeros(4)}, "none")],
                           input_spec=InputSpec(rows=12, cols=10, scale=1 / 255))
    x = rng.integers(0, 256, (200, 12, 10))
    op = ops.op_of(model.layers[0])
    h_int = op.forward(model.layers[0], x.astype(np.int64)) / 128
    h_float, _ = op.float_forward(fl, x / 255.0)
    assert np.abs(h_int - h_float).mean() < 0.015 and np.abs(h_int - h_float).max() < 0.1


@pytest.mark.parametrize("case", CASES[::3], ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_files_round_trip_byte_for_byte(case: dict) -> None:
    model = random_gated_model(np.random.default_rng(11), **case)
    raw = fileformat.to_bytes(model)
    again = fileformat.from_bytes(raw)
    assert fileformat.to_bytes(again) == raw
    images = np.random.default_rng(1).integers(0, 256, (4, model.input.rows, model.input.cols)).astype(np.uint8)
    np.testing.assert_array_equal(reference.run(again, images), reference.run(model, images))


@pytest.mark.parametrize("field, value, message", [
    ("reset_after", "yes", "layers[0].reset_after"),
    ("units", 0, "layers[0].units"),
    ("in_features", 3, "layers[0].in_features"),
])
def test_a_bad_gru_field_is_one_line(tmp_path, field: str, value, message: str) -> None:
    from test_format import _resave, _set  # the format tests' header editor

    model = random_gated_model(np.random.default_rng(2), "gru")
    path = tmp_path / "m.nnm"
    raw = _resave(fileformat.to_bytes(model), _set(["layers", 0, field], value))
    path.write_bytes(raw)
    with pytest.raises(NNModelError) as info:
        fileformat.load(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_the_proof_bounds_the_reset_product() -> None:
    model = random_gated_model(np.random.default_rng(4), "gru")
    layer = model.layers[0]
    layer.b_h_q = np.full_like(layer.b_h_q, 2**24)
    with pytest.raises(ValueError, match="reset product"):
        prove_no_overflow(model)


def test_buffers_hold_each_kinds_state() -> None:
    rng = np.random.default_rng(6)
    lstm = random_gated_model(rng, "lstm")
    gru_before = random_gated_model(rng, "gru", reset_after=False, pool=True)
    u = lstm.layers[0].units
    buf = plan_buffers(lstm)
    assert buf.states == [3 * u] and buf.acc == max(4 * u, 4) and not buf.row_counter
    g = gru_before.layers[1]
    buf = plan_buffers(gru_before)
    assert buf.states == [2 * g.units] and buf.acc == max(3 * g.units, 4) and buf.row_counter
