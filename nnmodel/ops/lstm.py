"""lstm: long short-term memory, gates i, f, g, o (PyTorch's order), one input row per step.

    a = b + W_x x + W_h h
    i = σ(a_i)  f = σ(a_f)  g = tanh(a_g)  o = σ(a_o)
    c' = f·c + i·g     h' = o·tanh(c')

in the integer form of docs/recurrent.md: Q7 gates and state h, the cell c int16 in Q12.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .activation import Activation
from .base import Shape, TrainOut, TrainStep
from .dense import imatmul
from .gated import STATE_ACTIVATION, GatedOp, fold_zero
from .gates import Q7, lstm_cell, lstm_output
from .weighted import Lowering, quantize_bias


@dataclass
class LSTM:
    in_features: int
    units: int
    w_x: np.ndarray  # float32 [4U, in], rows i, f, g, o
    w_h: np.ndarray  # float32 [4U, U]
    b: np.ndarray  # float32 [4U] (input and recurrent biases summed)
    w_x_q: np.ndarray  # int8 [4U, in]
    w_h_q: np.ndarray  # int8 [4U, U]
    b_q: np.ndarray  # int32 [4U]
    in_scale: float
    acc_scale: np.ndarray  # float64 [4] (per gate) or [4U] (per gate row)
    mult: np.ndarray  # int32, as acc_scale
    shift: np.ndarray  # int32, as acc_scale
    name: str = ""

    kind: ClassVar[str] = "lstm"
    activation: ClassVar[Activation] = STATE_ACTIVATION
    out_scale: ClassVar[float] = Q7

    @property
    def outputs(self) -> int:
        return self.units


class LSTMOp(GatedOp):
    kind = "lstm"
    layer_type = LSTM
    GATES = (("i", "sigmoid"), ("f", "sigmoid"), ("g", "tanh"), ("o", "sigmoid"))
    c_headers = ("nnrt/ops/dense.h", "nnrt/ops/activation.h", "nnrt/ops/gates.h", "nnrt/ops/lstm.h")

    def bias_count(self, layer: LSTM) -> int:
        return int(layer.b_q.size)

    def row_bias(self, layer: LSTM) -> np.ndarray:
        return layer.b_q

    # ------------------------------------------------------------------------------ file format
    def to_json(self, layer: LSTM) -> dict[str, Any]:
        return self.gated_json(layer)

    def tensors(self, layer: LSTM) -> list[tuple[str, str, np.ndarray]]:
        return [("w_x", "float32", layer.w_x), ("w_h", "float32", layer.w_h), ("b", "float32", layer.b),
                ("w_x_q", "int8", layer.w_x_q), ("w_h_q", "int8", layer.w_h_q), ("b_q", "int32", layer.b_q),
                ("acc_scale", "float64", layer.acc_scale), ("mult", "int32", layer.mult),
                ("shift", "int32", layer.shift)]

    def read(self, r: Any, doc: dict, i: int, in_shape: Shape, last: bool) -> LSTM:
        c = self.read_gated(r, doc, i, in_shape, last)
        rows, t = c["rows"], c["t"]
        b = r.tensor(f"layers.{i}.b", "float32", (rows,))
        b_q = r.tensor(f"layers.{i}.b_q", "int32", (rows,))
        return LSTM(c["in_features"], c["units"], t["w_x"], t["w_h"], b, t["w_x_q"], t["w_h_q"], b_q,
                    c["in_scale"], c["acc_scale"], c["mult"], c["shift"], c["name"])

    # ------------------------------------------------------------------------------ quantization
    def quantize(self, fl: Any, in_scale: float, in_max: int, per_channel: bool) -> LSTM:
        w_x, w_h, b = (np.asarray(fl.weights[k], np.float32) for k in ("w_x", "w_h", "b"))
        acc_scale = self.gate_scales(w_x, w_h, in_scale, per_channel)
        w_x_q, w_h_q, acc_rows = self.quantize_matrices(w_x, w_h, acc_scale, in_scale)
        b0 = b.astype(np.float64)
        b_q = fold_zero(fl, w_x_q, quantize_bias(b0, acc_rows), b0, acc_rows, in_scale)
        layer = LSTM(w_x.shape[1], w_h.shape[1], w_x, w_h, b, w_x_q, w_h_q, b_q, in_scale, acc_scale,
                     np.zeros(0, np.int32), np.zeros(0, np.int32), fl.name)
        self.set_requant(layer, in_max)
        return layer

    def float_forward(self, fl: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(states, states) [N, T, U]: the framework's LSTM in float64, h_0 = c_0 = 0."""
        w_x, w_h, b = (np.asarray(fl.weights[k], np.float64) for k in ("w_x", "w_h", "b"))
        u = w_h.shape[1]
        h = np.zeros((len(x), u))
        c = np.zeros((len(x), u))
        hs = []
        for t in range(x.shape[1]):
            a = x[:, t] @ w_x.T + h @ w_h.T + b
            i, f, o = (1.0 / (1.0 + np.exp(-a[:, k * u:(k + 1) * u])) for k in (0, 1, 3))
            c = f * c + i * np.tanh(a[:, 2 * u:3 * u])
            h = o * np.tanh(c)
            hs.append(h)
        out = np.stack(hs, axis=1)
        return out, out

    # ------------------------------------------------------------------------------ reference
    def forward(self, layer: LSTM, x: np.ndarray) -> np.ndarray:
        """int64 [N, T, U]: the state h after every step, for int64 inputs [N, T, in]."""
        return self.trace_gates(layer, x)["h"]

    def trace_gates(self, layer: LSTM, x: np.ndarray) -> dict[str, np.ndarray]:
        """int64 [N, T, U] of the gates i, f, g, o, the cell c (Q12) and the state h after every step."""
        n, steps, _ = x.shape
        u = layer.units
        h = np.zeros((n, u), np.int64)
        c = np.zeros((n, u), np.int64)
        rec = {k: np.zeros((n, steps, u), np.int64) for k in ("i", "f", "g", "o", "c", "h")}
        for t in range(steps):
            a = layer.b_q.astype(np.int64) + imatmul(x[:, t, :], layer.w_x_q) + imatmul(h, layer.w_h_q)
            i, f, g, o = (self.gate(layer, a[:, k * u:(k + 1) * u], k) for k in range(4))
            c = lstm_cell(f, i, g, c)
            h = lstm_output(o, c)
            for k, v in (("i", i), ("f", f), ("g", g), ("o", o), ("c", c), ("h", h)):
                rec[k][:, t] = v
        return rec

    def macs(self, layer: LSTM, steps: int) -> int:
        return steps * 4 * layer.units * (layer.in_features + layer.units)

    # ------------------------------------------------------------------------------ training
    def init_params(self, spec: Any, rng: np.random.Generator, init_ih: float) -> dict[str, np.ndarray]:
        raise self.train_unsupported()

    def float_extra(self, spec: Any, weight_bits: int) -> dict[str, Any]:
        raise self.train_unsupported()

    def train_forward(self, spec: Any, params: dict[str, np.ndarray], x: np.ndarray, in_scale: float,
                      in_max: int, q: LSTM | None, step: TrainStep) -> TrainOut:
        raise self.train_unsupported()

    def train_backward(self, spec: Any, entry: dict, d: np.ndarray,
                       input_grad: bool) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        raise self.train_unsupported()

    # ------------------------------------------------------------------------------ payload layout
    def lay_out(self, layer: LSTM) -> tuple[Any, list[tuple[str, bytes]]]:
        return self.gated_layout(layer, [("bias", layer.b_q)], {})

    # ------------------------------------------------------------------------------ C lowering
    def state_decls(self, layer: LSTM, state: str) -> list[tuple[str, str, int, int]]:
        return [(state, "int8_t", layer.units, 1), (f"{state}_c", "int16_t", layer.units, 2)]

    def lower_step(self, ll: Any, lw: Lowering, x: str, signed_in: bool, state: str) -> list[str]:
        """acc = b + W_x·x + W_h·h, then nnrt_lstm_step: the gates, c' and h'."""
        u = ll.n_out
        return [*self.lower_input(ll, lw, x, signed_in, "bias"),
                self.lower_recurrent(ll, lw, state, 4 * u),
                f"nnrt_lstm_step({lw.acc}, {state}, {state}_c, &(const nnrt_lstm_t){{.mult = {lw.w(ll, 'mult')}, "
                f".shift = {lw.w(ll, 'shift')}, .units = {u}u, .per_channel = {int(ll.per_channel)}u}});"]

    # ------------------------------------------------------------------------------ description
    def trace_keys(self) -> list[str]:
        return ["c", "h"]

    def summary(self, layer: LSTM) -> str:
        return f"lstm {layer.in_features}->{layer.units}"

    def card_row(self, layer: LSTM) -> tuple[str, str, str, str, int]:
        return ("LSTM", f"{layer.in_features} per row → {layer.units}", "σ/tanh gates, Q12 cell",
                self.weights_text(layer), self.parameter_count(layer))
