"""gru: the gated recurrent unit, gates r, z, n (PyTorch's order), one input row per step.

    r = σ(a_r + W_hr h)   z = σ(a_z + W_hz h)       a = b_x + W_x x
    n = tanh(a_n + r·(b_h + W_hn h))    reset_after (PyTorch, Keras default, ONNX linear_before_reset=1)
    n = tanh(a_n + W_hn (r·h))          otherwise   (ONNX default, Keras reset_after=False)
    h' = n + z·(h − n)

in the integer form of docs/recurrent.md (Q7 gates and state, the shared tanh table).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .activation import Activation
from .base import Shape, TrainOut, TrainStep
from .dense import imatmul
from .gated import STATE_ACTIVATION, GatedOp, fold_zero
from .gates import PRE_MAX, Q7, gru_update, qmul
from .weighted import Lowering, abs_row_sums, quantize_bias


@dataclass
class GRU:
    in_features: int
    units: int
    reset_after: bool
    w_x: np.ndarray  # float32 [3U, in], rows r, z, n
    w_h: np.ndarray  # float32 [3U, U]
    b_x: np.ndarray  # float32 [3U] (the framework's input bias)
    b_h: np.ndarray  # float32 [3U] (the framework's recurrent bias)
    w_x_q: np.ndarray  # int8 [3U, in]
    w_h_q: np.ndarray  # int8 [3U, U]
    b_x_q: np.ndarray  # int32 [3U]: r, z: b_ir + b_hr; n: b_in (+ b_hn unless reset_after)
    b_h_q: np.ndarray  # int32 [U] (reset_after) or [0]
    in_scale: float
    acc_scale: np.ndarray  # float64 [3] (per gate) or [3U] (per gate row)
    mult: np.ndarray  # int32, as acc_scale
    shift: np.ndarray  # int32, as acc_scale
    name: str = ""

    kind: ClassVar[str] = "gru"
    activation: ClassVar[Activation] = STATE_ACTIVATION
    out_scale: ClassVar[float] = Q7

    @property
    def outputs(self) -> int:
        return self.units


class GRUOp(GatedOp):
    kind = "gru"
    layer_type = GRU
    GATES = (("r", "sigmoid"), ("z", "sigmoid"), ("n", "tanh"))
    c_headers = ("nnrt/ops/dense.h", "nnrt/ops/activation.h", "nnrt/ops/gates.h", "nnrt/ops/gru.h")

    def bias_count(self, layer: GRU) -> int:
        return int(layer.b_x_q.size + layer.b_h_q.size)

    def row_bias(self, layer: GRU) -> np.ndarray:
        return layer.b_x_q

    # ------------------------------------------------------------------------------ file format
    def to_json(self, layer: GRU) -> dict[str, Any]:
        return {**self.gated_json(layer), "reset_after": layer.reset_after}

    def tensors(self, layer: GRU) -> list[tuple[str, str, np.ndarray]]:
        return [("w_x", "float32", layer.w_x), ("w_h", "float32", layer.w_h), ("b_x", "float32", layer.b_x),
                ("b_h", "float32", layer.b_h), ("w_x_q", "int8", layer.w_x_q), ("w_h_q", "int8", layer.w_h_q),
                ("b_x_q", "int32", layer.b_x_q), ("b_h_q", "int32", layer.b_h_q),
                ("acc_scale", "float64", layer.acc_scale), ("mult", "int32", layer.mult),
                ("shift", "int32", layer.shift)]

    def read(self, r: Any, doc: dict, i: int, in_shape: Shape, last: bool) -> GRU:
        c = self.read_gated(r, doc, i, in_shape, last)
        reset_after = r.get(doc, "reset_after", bool, f"layers[{i}].reset_after")
        rows, units, t = c["rows"], c["units"], c["t"]
        b_x = r.tensor(f"layers.{i}.b_x", "float32", (rows,))
        b_h = r.tensor(f"layers.{i}.b_h", "float32", (rows,))
        b_x_q = r.tensor(f"layers.{i}.b_x_q", "int32", (rows,))
        b_h_q = r.tensor(f"layers.{i}.b_h_q", "int32", (units if reset_after else 0,))
        return GRU(c["in_features"], units, reset_after, t["w_x"], t["w_h"], b_x, b_h, t["w_x_q"], t["w_h_q"],
                   b_x_q, b_h_q, c["in_scale"], c["acc_scale"], c["mult"], c["shift"], c["name"])

    # ------------------------------------------------------------------------------ quantization
    def quantize(self, fl: Any, in_scale: float, in_max: int, per_channel: bool) -> GRU:
        w_x, w_h, b_x, b_h = (np.asarray(fl.weights[k], np.float32) for k in ("w_x", "w_h", "b_x", "b_h"))
        units = w_h.shape[1]
        reset_after = bool(fl.extra.get("reset_after", True))
        acc_scale = self.gate_scales(w_x, w_h, in_scale, per_channel)
        w_x_q, w_h_q, acc_rows = self.quantize_matrices(w_x, w_h, acc_scale, in_scale)
        b0 = b_x.astype(np.float64) + b_h
        if reset_after:  # b_hn stays inside the reset product
            b0[2 * units:] = b_x[2 * units:]
        b_x_q = fold_zero(fl, w_x_q, quantize_bias(b0, acc_rows), b0, acc_rows, in_scale)
        b_h_q = quantize_bias(b_h[2 * units:], acc_rows[2 * units:]) if reset_after else np.zeros(0, np.int32)
        layer = GRU(w_x.shape[1], units, reset_after, w_x, w_h, b_x, b_h, w_x_q, w_h_q, b_x_q, b_h_q, in_scale,
                    acc_scale, np.zeros(0, np.int32), np.zeros(0, np.int32), fl.name)
        self.set_requant(layer, in_max)
        return layer

    def float_forward(self, fl: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(states, states) [N, T, U]: the framework's GRU in float64, h_0 = 0."""
        w_x, w_h, b_x, b_h = (np.asarray(fl.weights[k], np.float64) for k in ("w_x", "w_h", "b_x", "b_h"))
        u = w_h.shape[1]
        reset_after = bool(fl.extra.get("reset_after", True))
        h = np.zeros((len(x), u))
        hs = []
        for t in range(x.shape[1]):
            a = x[:, t] @ w_x.T + b_x
            hr = h @ w_h[:2 * u].T + b_h[:2 * u]
            r = 1.0 / (1.0 + np.exp(-(a[:, :u] + hr[:, :u])))
            z = 1.0 / (1.0 + np.exp(-(a[:, u:2 * u] + hr[:, u:])))
            if reset_after:
                n = np.tanh(a[:, 2 * u:] + r * (h @ w_h[2 * u:].T + b_h[2 * u:]))
            else:
                n = np.tanh(a[:, 2 * u:] + (r * h) @ w_h[2 * u:].T + b_h[2 * u:])
            h = (1.0 - z) * n + z * h
            hs.append(h)
        out = np.stack(hs, axis=1)
        return out, out

    # ------------------------------------------------------------------------------ reference
    def accumulator_bounds(self, layer: GRU, in_max: int) -> np.ndarray:
        bound = super().accumulator_bounds(layer, in_max)  # |b_x| + Σ|w_x|·in_max + Σ|w_h|·127
        if layer.reset_after:
            u = layer.units
            inner = np.abs(layer.b_h_q.astype(np.int64)) + abs_row_sums(layer.w_h_q[2 * u:]) * PRE_MAX
            if int(inner.max()) * 128 + 64 > 2**31 - 1:
                raise ValueError(f"layer {layer.name or 'gru'}: the reset product r·(b_h + W_hn·h) can overflow int32")
            bound[2 * u:] += np.abs(layer.b_h_q.astype(np.int64))
        return bound

    def forward(self, layer: GRU, x: np.ndarray) -> np.ndarray:
        """int64 [N, T, U]: the state after every step, for int64 inputs [N, T, in]."""
        return self.trace_gates(layer, x)["h"]

    def trace_gates(self, layer: GRU, x: np.ndarray) -> dict[str, np.ndarray]:
        """int64 [N, T, U] of the gates r, z, n and the state h after every step."""
        n, steps, _ = x.shape
        u = layer.units
        h = np.zeros((n, u), np.int64)
        rec = {k: np.zeros((n, steps, u), np.int64) for k in ("r", "z", "n", "h")}
        for t in range(steps):
            a = layer.b_x_q.astype(np.int64) + imatmul(x[:, t, :], layer.w_x_q)
            hr = imatmul(h, layer.w_h_q[:2 * u])
            r = self.gate(layer, a[:, :u] + hr[:, :u], 0)
            z = self.gate(layer, a[:, u:2 * u] + hr[:, u:], 1)
            if layer.reset_after:
                a_n = a[:, 2 * u:] + qmul(r, layer.b_h_q.astype(np.int64) + imatmul(h, layer.w_h_q[2 * u:]))
            else:
                a_n = a[:, 2 * u:] + imatmul(qmul(r, h), layer.w_h_q[2 * u:])
            n_gate = self.gate(layer, a_n, 2)
            h = gru_update(z, h, n_gate)
            for k, v in (("r", r), ("z", z), ("n", n_gate), ("h", h)):
                rec[k][:, t] = v
        return rec

    def macs(self, layer: GRU, steps: int) -> int:
        return steps * 3 * layer.units * (layer.in_features + layer.units)

    # ------------------------------------------------------------------------------ training
    def init_params(self, spec: Any, rng: np.random.Generator, init_ih: float) -> dict[str, np.ndarray]:
        raise self.train_unsupported()

    def float_extra(self, spec: Any, weight_bits: int) -> dict[str, Any]:
        raise self.train_unsupported()

    def train_forward(self, spec: Any, params: dict[str, np.ndarray], x: np.ndarray, in_scale: float,
                      in_max: int, q: GRU | None, step: TrainStep) -> TrainOut:
        raise self.train_unsupported()

    def train_backward(self, spec: Any, entry: dict, d: np.ndarray,
                       input_grad: bool) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        raise self.train_unsupported()

    # ------------------------------------------------------------------------------ payload layout
    def lay_out(self, layer: GRU) -> tuple[Any, list[tuple[str, bytes]]]:
        biases = [("b_x", layer.b_x_q)] + ([("b_h", layer.b_h_q)] if layer.reset_after else [])
        return self.gated_layout(layer, biases, {"reset_after": layer.reset_after})

    # ------------------------------------------------------------------------------ C lowering
    def state_decls(self, layer: GRU, state: str) -> list[tuple[str, str, int, int]]:
        decls = [(state, "int8_t", layer.units, 1)]
        if not layer.reset_after:  # r·h for the n rows' product
            decls.append((f"{state}_rh", "int8_t", layer.units, 1))
        return decls

    def lower_step(self, ll: Any, lw: Lowering, x: str, signed_in: bool, state: str) -> list[str]:
        """acc = b_x + W_x·x, the r and z rows' W_h·h, then nnrt_gru_step: the n rows, gates, h'."""
        u = ll.n_out
        reset_after = ll.options["reset_after"]
        b_h = lw.w(ll, "b_h") if reset_after else "NULL"
        tmp = "NULL" if reset_after else f"{state}_rh"
        return [*self.lower_input(ll, lw, x, signed_in, "b_x"),
                self.lower_recurrent(ll, lw, state, 2 * u),
                f"nnrt_gru_step({lw.acc}, {state}, {tmp}, &(const nnrt_gru_t){{.w_h = {lw.w(ll, 'w_h')}, "
                f".b_h = {b_h}, .mult = {lw.w(ll, 'mult')}, .shift = {lw.w(ll, 'shift')}, .units = {u}u, "
                f".bias_width = {ll.bias_width}u, .per_channel = {int(ll.per_channel)}u, "
                f".reset_after = {int(reset_after)}u}});"]

    # ------------------------------------------------------------------------------ description
    def summary(self, layer: GRU) -> str:
        return f"gru {layer.in_features}->{layer.units}"

    def card_row(self, layer: GRU) -> tuple[str, str, str, str, int]:
        form = "reset after" if layer.reset_after else "reset before"
        return ("GRU", f"{layer.in_features} per row → {layer.units}", f"σ/tanh gates, {form}",
                self.weights_text(layer), self.parameter_count(layer))
