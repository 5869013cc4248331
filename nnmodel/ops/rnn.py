"""rnn: the Elman step h_t = act(requant(b_q + W_ih_q · x_t + W_hh_q · h_{t-1})), h_0 = 0.

Fed one input row per step. Both products land in one int32 accumulator, so W_ih is quantized
with scale acc_scale/in_scale and W_hh with acc_scale/out_scale: one accumulator scale, one
requantization per unit. The C step is the dense kernels: bias, two products, requantization.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import NNModelError
from ..quant import quantize_symmetric, requantize
from .activation import Activation, activate, deriv, float_act, float_activation, int_mask, target_scale
from .base import SEQUENCE, Shape, TrainOut, TrainStep
from .dense import imatmul, requant_activate
from .weighted import MAX_DIM, Lowering, WeightedOp, fold_input_zero, quantize_bias, resolve_activation, weight_scale

STATE_ACTIVATIONS = ("hardtanh", "lut", "relu", "linear")


@dataclass
class RNN:
    """Elman step h_t = act(requant(b_q + W_ih_q · x_t + W_hh_q · h_{t-1})), h_0 = 0.

    Both products land in one int32 accumulator, so W_ih is quantized with scale acc_scale/in_scale
    and W_hh with acc_scale/out_scale: one accumulator scale, one requantization per unit.
    """

    in_features: int
    units: int
    activation: Activation
    w_ih: np.ndarray  # float32 [units, in]
    w_hh: np.ndarray  # float32 [units, units]
    b: np.ndarray  # float32 [units]
    w_ih_q: np.ndarray  # int8
    w_hh_q: np.ndarray  # int8
    b_q: np.ndarray  # int32
    in_scale: float
    acc_scale: np.ndarray  # float64 [1] or [units]
    out_scale: float
    mult: np.ndarray  # int32 [1] or [units]
    shift: np.ndarray  # int32 [1] or [units]
    name: str = ""

    kind: ClassVar[str] = "rnn"

    @property
    def outputs(self) -> int:
        return self.units


class RNNOp(WeightedOp):
    kind = "rnn"
    layer_type = RNN
    in_form = SEQUENCE
    out_form = SEQUENCE
    placement = "RNN layers must come first (they consume the input rows)"
    c_headers = ("nnrt/ops/dense.h", "nnrt/ops/activation.h")
    FIELDS: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {
        "w_ih": ("float32", ("out", "in")),
        "w_hh": ("float32", ("out", "out")),
        "b": ("float32", ("out",)),
        "w_ih_q": ("int8", ("out", "in")),
        "w_hh_q": ("int8", ("out", "out")),
        "b_q": ("int32", ("out",)),
        "acc_scale": ("float64", ("n",)),
    }

    def matrices(self, layer: RNN) -> list[tuple[str, np.ndarray]]:
        return [("w_ih", layer.w_ih_q), ("w_hh", layer.w_hh_q)]

    def matrix_inputs(self, layer: RNN, in_max: int) -> list[int]:
        return [in_max, layer.activation.out_max_abs]

    # ------------------------------------------------------------------------------ file format
    def to_json(self, layer: RNN) -> dict[str, Any]:
        doc = self.json_common(layer)
        doc.update(in_features=layer.in_features, units=layer.units)
        return doc

    def read(self, r: Any, doc: dict, i: int, in_shape: Shape, last: bool) -> RNN:
        field = f"layers[{i}]"
        in_features = in_shape[1]
        got_in = r.int_in(doc, "in_features", 1, MAX_DIM, f"{field}.in_features")
        if got_in != in_features:
            raise r.fail(f"{field}.in_features", f"{got_in}, but the previous layer gives {in_features}")
        out = r.int_in(doc, "units", 1, MAX_DIM, field)
        c = self.read_common(r, doc, i, last, {"in": in_features, "out": out}, 8)
        t = c["t"]
        return RNN(in_features, out, c["act"], t["w_ih"], t["w_hh"], t["b"], t["w_ih_q"], t["w_hh_q"], t["b_q"],
                   c["in_scale"], t["acc_scale"], c["out_scale"], t["mult"], t["shift"], c["name"])

    def out_shape(self, layer: RNN, in_shape: Shape) -> Shape:
        return (in_shape[0], layer.units)

    # ------------------------------------------------------------------------------ quantization
    def quantize(self, fl: Any, in_scale: float, in_max: int, per_channel: bool) -> RNN:
        w_ih = np.asarray(fl.weights["w_ih"], np.float32)
        w_hh = np.asarray(fl.weights["w_hh"], np.float32)
        b = np.asarray(fl.weights["b"], np.float32)
        act, out_scale, target = resolve_activation(fl)
        if act.kind not in STATE_ACTIVATIONS:
            raise NNModelError(f"layer {fl.name or 'rnn'}: activation {act.kind} cannot feed an RNN state")
        # One accumulator scale for both products: each weight matrix gets acc_scale / (its input's scale).
        axis = 1 if per_channel else None
        need = np.maximum(np.abs(w_ih).max(axis=axis) * in_scale, np.abs(w_hh).max(axis=axis) * out_scale)
        acc_scale = weight_scale(np.atleast_1d(need)).astype(np.float64)
        col = acc_scale[:, None] if per_channel else acc_scale[0]
        w_ih_q = quantize_symmetric(w_ih, col / in_scale)
        w_hh_q = quantize_symmetric(w_hh, col / out_scale)
        b_q = fold_input_zero(fl, w_ih_q, quantize_bias(b, acc_scale), acc_scale, in_scale, "w_ih")
        layer = RNN(w_ih.shape[1], w_ih.shape[0], act, w_ih, w_hh, b, w_ih_q, w_hh_q, b_q, in_scale, acc_scale,
                    out_scale, np.zeros(0, np.int32), np.zeros(0, np.int32), fl.name)
        self.requant_params(layer, in_max, target)
        return layer

    def float_forward(self, fl: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every step's pre-activation and state [N, T, units] (h_0 = 0)."""
        w_ih, w_hh = (np.asarray(fl.weights[k], np.float64) for k in ("w_ih", "w_hh"))
        h = np.zeros((len(x), len(w_hh)))
        zs, hs = [], []
        for t in range(x.shape[1]):
            z = x[:, t] @ w_ih.T + h @ w_hh.T + fl.weights["b"]
            h = float_activation(fl, z)
            zs.append(z)
            hs.append(h)
        return np.stack(zs, axis=1), np.stack(hs, axis=1)

    # ------------------------------------------------------------------------------ reference
    def forward(self, layer: RNN, x: np.ndarray) -> np.ndarray:
        """int64 [N, T, units]: the state after every step, for int64 inputs [N, T, in]."""
        n, steps, _ = x.shape
        h = np.zeros((n, layer.units), np.int64)
        out = np.zeros((n, steps, layer.units), np.int64)
        for t in range(steps):
            acc = layer.b_q.astype(np.int64) + imatmul(x[:, t, :], layer.w_ih_q) + imatmul(h, layer.w_hh_q)
            h = requant_activate(acc, layer)
            out[:, t] = h
        return out

    def macs(self, layer: RNN, steps: int) -> int:
        return steps * layer.units * (layer.in_features + layer.units)

    # ------------------------------------------------------------------------------ training
    def init_params(self, spec: Any, rng: np.random.Generator, init_ih: float) -> dict[str, np.ndarray]:
        limit = np.sqrt(6.0 / (spec.n_in + spec.n_out))
        w_ih = rng.uniform(-limit, limit, (spec.n_out, spec.n_in))
        if init_ih:  # smaller input weights: 0..1 pixels summed over a row saturate hard-tanh at Glorot scale
            w_ih = rng.normal(0.0, init_ih / np.sqrt(spec.n_in), (spec.n_out, spec.n_in))
        # Orthogonal recurrent matrix: keeps the 28-step gradient from exploding or vanishing at init.
        q, r = np.linalg.qr(rng.normal(size=(spec.n_out, spec.n_out)))
        w_hh = q * np.sign(np.diag(r))
        return {"w_ih": w_ih, "w_hh": w_hh, "b": np.zeros(spec.n_out)}

    def train_forward(self, spec: Any, params: dict[str, np.ndarray], x: np.ndarray, in_scale: float,
                      in_max: int, q: RNN | None, step: TrainStep) -> TrainOut:
        """Every step keeps [input, h_prev] (real) and act'(z) for backprop through time."""
        n, steps, n_in = x.shape
        h = np.zeros((n, spec.n_out))
        ins, derivs, states = [], [], []
        if q is None:
            w, s_in, s_out, b = np.hstack([params["w_ih"], params["w_hh"]]), in_scale, 1.0, params["b"]
        else:
            col = q.acc_scale[:, None] if q.acc_scale.size > 1 else q.acc_scale[0]
            w = np.hstack([q.w_ih_q * (col / q.in_scale), q.w_hh_q * (col / q.out_scale)])
            w_int = np.hstack([q.w_ih_q, q.w_hh_q]).astype(np.float64).T
            s_in, s_out, b = q.in_scale, q.out_scale, q.b_q.astype(np.float64)
        for t in range(steps):
            inp = x[:, t, :]
            inp_real = step.standardize(inp * s_in)
            if q is None:
                cat_real = np.hstack([inp_real, h])
                z = cat_real @ w.T + b
                h_new, mask = float_act(spec.activation, z)
                derivs.append(deriv(spec.activation, z, mask, step.leak))
            else:
                acc = b + np.rint(np.hstack([inp, h]) @ w_int)
                pre = requantize(acc.astype(np.int64), q.mult, q.shift)
                h_new = activate(pre, q.activation).astype(np.float64)
                cat_real = np.hstack([inp_real, h * s_out])
                derivs.append(deriv(spec.activation, pre * target_scale(q.activation, q.out_scale),
                                    int_mask(spec.activation, pre), step.leak))
            ins.append(cat_real)
            h = h_new
            states.append(h)
        entry: dict[str, Any] = {"ins": ins, "deriv": derivs, "w": w, "n_in": n_in}
        if q is None:  # every step's state, for relu scale calibration
            entry["y"] = np.concatenate([c[:, n_in:] for c in ins[1:]] + [h])
        out_max = in_max if q is None else q.activation.out_max_abs
        return TrainOut(np.stack(states, axis=1), 1.0 if q is None else q.out_scale, out_max, entry)

    def train_backward(self, spec: Any, entry: dict, d: np.ndarray,
                       input_grad: bool) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """Backprop through time; d: dLoss/dh_t for every step [N, T, units] (from the layer above,
        or only the last step for a head). Weight gradients are summed in one product."""
        steps, n_in = len(entry["ins"]), entry["n_in"]
        rec = np.zeros_like(entry["deriv"][0])
        dzs: list[np.ndarray] = [np.zeros(0)] * steps
        d_in = np.zeros(d.shape[:2] + (n_in,))
        for t in range(steps - 1, -1, -1):
            dz = (rec + d[:, t]) * entry["deriv"][t]
            dzs[t] = dz
            d_cat = dz @ entry["w"]
            d_in[:, t] = d_cat[:, :n_in]
            rec = d_cat[:, n_in:]
        dz_all = np.concatenate(dzs, axis=0)
        g_cat = dz_all.T @ np.concatenate(entry["ins"], axis=0)
        grads = {"w_ih": g_cat[:, :n_in], "w_hh": g_cat[:, n_in:], "b": dz_all.sum(axis=0)}
        return grads, (d_in if input_grad else None)

    # ------------------------------------------------------------------------------ C lowering
    def lower_step(self, ll: Any, lw: Lowering, x: str, signed_in: bool, state: str) -> list[str]:
        """One step: acc = b + W_ih · x + W_hh · h, then h = act(requant(acc))."""
        return [*self.lower_bias(ll, lw),
                self.lower_mac(ll, lw, x, signed_in, "", f"{ll.n_in}u", field="w_ih"),
                self.lower_mac(ll, lw, state, True, "", f"{ll.n_out}u", field="w_hh", n_in=ll.n_out),
                self.lower_requant(ll, lw, lw.acc, state)]

    # ------------------------------------------------------------------------------ description
    def summary(self, layer: RNN) -> str:
        return f"rnn {layer.in_features}->{layer.units}"

    def card_row(self, layer: RNN) -> tuple[str, str, str, str, int]:
        return ("RNN (Elman)", f"{layer.in_features} per row → {layer.units}", layer.activation.kind,
                self.weights_text(layer), self.parameter_count(layer))

    def weight_tensors(self, layer: RNN) -> list[tuple[str, np.ndarray, int]]:
        return [(f"W_ih {layer.in_features}->{layer.units}", layer.w_ih_q, 8),
                (f"W_hh {layer.units}->{layer.units}", layer.w_hh_q, 8)]
