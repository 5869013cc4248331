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
from .gate_train import init_gated, int_gate, sigmoid
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
        w_x, w_h = init_gated(spec, rng, init_ih, 3)
        return {"w_x": w_x, "w_h": w_h, "b_x": np.zeros(3 * spec.n_out), "b_h": np.zeros(3 * spec.n_out)}

    def float_extra(self, spec: Any, weight_bits: int) -> dict[str, Any]:
        return {"reset_after": True}  # the trainer's GRU is PyTorch's form

    def train_forward(self, spec: Any, params: dict[str, np.ndarray], x: np.ndarray, in_scale: float,
                      in_max: int, q: GRU | None, step: TrainStep) -> TrainOut:
        """Float (q None) or the exact integer steps of `forward` (q); each step keeps its input, the
        old state, the gates (real: code/128 in QAT), b_hn + W_hn·h and the gates' derivatives."""
        n, steps, _ = x.shape
        u = spec.n_out
        if q is None:
            w_x, w_h, s_in = params["w_x"], params["w_h"], in_scale
        else:
            if not q.reset_after:
                raise ValueError("QAT trains the reset_after GRU its float layers export")
            acc = self.rows(q.acc_scale, u)
            w_x, w_h, s_in = q.w_x_q * (acc / q.in_scale)[:, None], q.w_h_q * (acc / Q7)[:, None], q.in_scale
            mult, shift = self.requant_rows(q)
            wx_int, wh_int = q.w_x_q.astype(np.float64).T, q.w_h_q.astype(np.float64).T
            b_x, b_h = q.b_x_q.astype(np.int64), q.b_h_q.astype(np.int64)
        h = np.zeros((n, u))  # real (float), or the int8 codes (QAT)
        keys = ("x", "h", "r", "z", "n", "hn", "dr", "dz", "dn")
        entry: dict[str, Any] = {k: [] for k in keys}
        states = []
        for t in range(steps):
            x_real = step.standardize(x[:, t, :] * s_in)
            if q is None:
                ax = x_real @ w_x.T + params["b_x"]
                ah = h @ w_h.T + params["b_h"]
                r = sigmoid(ax[:, :u] + ah[:, :u])
                z = sigmoid(ax[:, u:2 * u] + ah[:, u:2 * u])
                hn = ah[:, 2 * u:]
                n_gate = np.tanh(ax[:, 2 * u:] + r * hn)
                h_prev, h = h, (1.0 - z) * n_gate + z * h
                dr, dz, dn = r * (1.0 - r), z * (1.0 - z), 1.0 - n_gate * n_gate
            else:
                a = b_x + np.rint(x[:, t, :] @ wx_int).astype(np.int64)
                hh = np.rint(h @ wh_int).astype(np.int64)
                r_q, dr = int_gate(a[:, :u] + hh[:, :u], mult[:u], shift[:u], True)
                z_q, dz = int_gate(a[:, u:2 * u] + hh[:, u:2 * u], mult[u:2 * u], shift[u:2 * u], True)
                hn_acc = b_h + hh[:, 2 * u:]
                n_q, dn = int_gate(a[:, 2 * u:] + qmul(r_q, hn_acc), mult[2 * u:], shift[2 * u:], False)
                h_prev = h * Q7
                h = gru_update(z_q, h.astype(np.int64), n_q).astype(np.float64)
                r, z, n_gate, hn = r_q * Q7, z_q * Q7, n_q * Q7, hn_acc * acc[2 * u:]
            for k, v in zip(keys, (x_real, h_prev, r, z, n_gate, hn, dr, dz, dn)):
                entry[k].append(v)
            states.append(h)
        entry.update(w_x=w_x, w_h=w_h)
        if q is None:
            return TrainOut(np.stack(states, axis=1), 1.0, in_max, entry)
        return TrainOut(np.stack(states, axis=1), Q7, PRE_MAX, entry)

    def train_backward(self, spec: Any, entry: dict, d: np.ndarray,
                       input_grad: bool) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """Backprop through time of h' = (1 − z)·n + z·h, n = tanh(a_n + r·(W_hn·h + b_hn)); d: dLoss/dh
        of every step [N, T, U]. The weight gradients are one product over all steps."""
        steps = len(entry["x"])
        w_x, w_h = entry["w_x"], entry["w_h"]
        rec = np.zeros_like(entry["h"][0])
        d_ax: list[np.ndarray] = [np.zeros(0)] * steps  # dLoss/d(W_x·x + b_x), [N, 3U] per step
        d_ah: list[np.ndarray] = [np.zeros(0)] * steps  # dLoss/d(W_h·h + b_h)
        d_in = np.zeros(d.shape[:2] + (w_x.shape[1],)) if input_grad else None
        for t in range(steps - 1, -1, -1):
            h_prev, r, z, n_gate, hn = (entry[k][t] for k in ("h", "r", "z", "n", "hn"))
            dh = d[:, t] + rec
            d_an = dh * (1.0 - z) * entry["dn"][t]
            d_az = dh * (h_prev - n_gate) * entry["dz"][t]
            d_ar = d_an * hn * entry["dr"][t]
            d_ax[t] = np.hstack([d_ar, d_az, d_an])
            d_ah[t] = np.hstack([d_ar, d_az, d_an * r])
            rec = dh * z + d_ah[t] @ w_h
            if d_in is not None:
                d_in[:, t] = d_ax[t] @ w_x
        dax, dah = np.concatenate(d_ax), np.concatenate(d_ah)
        grads = {"w_x": dax.T @ np.concatenate(entry["x"]), "w_h": dah.T @ np.concatenate(entry["h"]),
                 "b_x": dax.sum(axis=0), "b_h": dah.sum(axis=0)}
        return grads, d_in

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
