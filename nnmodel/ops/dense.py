"""dense: y = act(requant(b_q + W_q · x)), int8 or packed int4 weights [out, in].

As the network's first layer it consumes the whole image, a row's columns at a time as rows
arrive (the planner streams it); after a conv front it reads the flattened HWC map, after an RNN
the last hidden state.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .activation import Activation, activate, deriv, float_act, float_activation, int_mask, target_scale
from .base import VECTOR, Shape, TrainOut, TrainStep
from .weighted import MAX_DIM, Lowering, WeightedOp, fold_input_zero, quantize_weights, resolve_activation, weight_bits


@dataclass
class Dense:
    """y = act(requant(b_q + W_q · x)). As the first layer it consumes the whole image, row by row."""

    in_features: int
    out_features: int
    activation: Activation
    w: np.ndarray  # float32 [out, in], kept for retraining
    b: np.ndarray  # float32 [out]
    w_q: np.ndarray  # int8 [out, in]
    b_q: np.ndarray  # int32 [out], in accumulator scale
    in_scale: float
    acc_scale: np.ndarray  # float64 [1] or [out]: real value of one accumulator step
    out_scale: float  # real value of one output step (0.0 for the logits layer)
    mult: np.ndarray  # int32 [1] or [out], 1..MULT_MAX (empty for the logits layer)
    shift: np.ndarray  # int32 [1] or [out], 0..SHIFT_MAX (empty for the logits layer)
    name: str = ""
    weight_bits: int = 8  # 4: w_q holds -8..7 and is stored two per byte

    kind: ClassVar[str] = "dense"

    @property
    def outputs(self) -> int:
        return self.out_features


def imatmul(x: np.ndarray, w_q: np.ndarray) -> np.ndarray:
    """Exact integer x · w_qᵀ as int64: every operand is an integer and the overflow proof bounds
    every partial sum below 2^31, far inside float64's exact range (2^53), so BLAS gives the exact
    sum in any order."""
    return np.rint(x.astype(np.float64) @ w_q.astype(np.float64).T).astype(np.int64)


def requant_activate(acc: np.ndarray, layer: Any) -> np.ndarray:
    from ..quant import requantize

    return activate(requantize(acc, layer.mult, layer.shift), layer.activation)


def fake_quant_weight(w_q: np.ndarray, layer: Any) -> np.ndarray:
    """W_q · its real step (acc_scale / in_scale): what the straight-through backward multiplies by."""
    w_scale = layer.acc_scale / layer.in_scale
    return w_q * (w_scale[:, None] if w_scale.size > 1 else w_scale[0])


class DenseOp(WeightedOp):
    kind = "dense"
    layer_type = Dense
    in_form = VECTOR
    out_form = VECTOR
    clips_weight = True
    takes_dropout = True
    c_headers = ("nnrt/ops/dense.h", "nnrt/ops/activation.h")
    FIELDS: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {
        "w": ("float32", ("out", "in")),
        "b": ("float32", ("out",)),
        "w_q": ("int8", ("out", "in")),
        "b_q": ("int32", ("out",)),
        "acc_scale": ("float64", ("n",)),
    }

    # ------------------------------------------------------------------------------ file format
    def format_version(self, layer: Dense) -> int:
        return 2 if layer.weight_bits != 8 else 1

    def to_json(self, layer: Dense) -> dict[str, Any]:
        doc = self.json_common(layer)
        doc.update(in_features=layer.in_features, out_features=layer.out_features)
        if layer.weight_bits != 8:  # absent means 8: v1 files stay as they were
            doc["weight_bits"] = layer.weight_bits
        return doc

    def read(self, r: Any, doc: dict, i: int, in_shape: Shape, last: bool) -> Dense:
        field = f"layers[{i}]"
        in_features = in_shape[0]
        got_in = r.int_in(doc, "in_features", 1, MAX_DIM, f"{field}.in_features")
        if got_in != in_features:
            raise r.fail(f"{field}.in_features", f"{got_in}, but the previous layer gives {in_features}")
        out = r.int_in(doc, "out_features", 1, MAX_DIM, field)
        bits = self.read_weight_bits(r, doc, i, False)
        c = self.read_common(r, doc, i, last, {"in": in_features, "out": out}, bits)
        t = c["t"]
        return Dense(in_features, out, c["act"], t["w"], t["b"], t["w_q"], t["b_q"], c["in_scale"],
                     t["acc_scale"], c["out_scale"], t["mult"], t["shift"], c["name"], bits)

    def out_shape(self, layer: Dense, in_shape: Shape) -> Shape:
        return (layer.out_features,)

    # ------------------------------------------------------------------------------ quantization
    def quantize(self, fl: Any, in_scale: float, in_max: int, per_channel: bool) -> Dense:
        w = np.asarray(fl.weights["w"], np.float32)
        b = np.asarray(fl.weights["b"], np.float32)
        bits = weight_bits(fl)
        w_q, b_q, acc_scale = quantize_weights(w, b, in_scale, per_channel, bits)
        b_q = fold_input_zero(fl, w_q, b_q, acc_scale, in_scale)
        act, out_scale, target = resolve_activation(fl)
        layer = Dense(w.shape[1], w.shape[0], act, w, b, w_q, b_q, in_scale, acc_scale, out_scale,
                      np.zeros(0, np.int32), np.zeros(0, np.int32), fl.name, bits)
        self.requant_params(layer, in_max, target)
        return layer

    def float_forward(self, fl: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = x @ np.asarray(fl.weights["w"], np.float64).T + fl.weights["b"]
        return z, float_activation(fl, z)

    # ------------------------------------------------------------------------------ reference
    def forward(self, layer: Dense, x: np.ndarray) -> np.ndarray:
        """int64 [N, out]: the int32 logits for the last layer, the int8 activations otherwise."""
        acc = layer.b_q.astype(np.int64) + imatmul(x, layer.w_q)
        return requant_activate(acc, layer) if layer.activation.requantizes else acc

    def macs(self, layer: Dense, steps: int) -> int:
        return layer.in_features * layer.out_features

    # ------------------------------------------------------------------------------ training
    def init_params(self, spec: Any, rng: np.random.Generator, init_ih: float) -> dict[str, np.ndarray]:
        gain = 2.0 if spec.activation == "relu" else 1.0  # He for relu, Glorot-ish otherwise
        w = rng.normal(0.0, np.sqrt(gain / spec.n_in), (spec.n_out, spec.n_in))
        return {"w": w, "b": np.zeros(spec.n_out)}

    def float_extra(self, spec: Any, weight_bits: int) -> dict[str, Any]:
        return {"weight_bits": weight_bits}

    def train_forward(self, spec: Any, params: dict[str, np.ndarray], x: np.ndarray, in_scale: float,
                      in_max: int, q: Dense | None, step: TrainStep) -> TrainOut:
        if q is None:
            assert step.weight is not None
            w = step.weight
            x_real = step.standardize(x * in_scale)
            z = x_real @ w.T + params["b"]
            if spec.activation == "none":
                return TrainOut(z, 1.0, in_max, {"x_real": x_real, "w": w, "deriv": None})
            y, mask = float_act(spec.activation, z)
            # y: for relu scale calibration
            return TrainOut(y, 1.0, in_max, {"x_real": x_real, "w": w, "deriv": deriv(spec.activation, z, mask),
                                              "y": y})
        acc = q.b_q.astype(np.float64) + np.rint(x @ q.w_q.astype(np.float64).T)
        # Gradients for layer 0 are taken in the standardized parametrization (see Network.float_layers).
        entry: dict[str, Any] = {"x_real": step.standardize(x * q.in_scale), "w": fake_quant_weight(q.w_q, q)}
        if spec.activation == "none":
            # The prediction is argmax of the int logits, so the loss sees them with one common scale.
            c = float(q.acc_scale.mean())
            entry.update(deriv=c / q.acc_scale, acc=acc.astype(np.int64), logit_scale=c)
            return TrainOut(acc * c, 1.0, in_max, entry)
        from ..quant import requantize

        pre = requantize(acc.astype(np.int64), q.mult, q.shift)
        y = activate(pre, q.activation)
        entry["deriv"] = deriv(spec.activation, pre * target_scale(q.activation, q.out_scale),
                               int_mask(spec.activation, pre))
        return TrainOut(y.astype(np.float64), q.out_scale, q.activation.out_max_abs, entry)

    def train_backward(self, spec: Any, entry: dict, d: np.ndarray,
                       input_grad: bool) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        dz = d * entry["deriv"] if entry["deriv"] is not None else d
        grads = {"w": dz.T @ entry["x_real"], "b": dz.sum(axis=0)}
        return grads, (dz @ entry["w"] if input_grad else None)

    # ------------------------------------------------------------------------------ C lowering
    def lower_stream_mac(self, ll: Any, lw: Lowering, x: str, signed: bool, col: str, n: str,
                         nonneg: bool = False) -> str:
        """acc += W[:, col:col+n] · x: the columns of one streamed row (the image's, or a conv front's)."""
        return self.lower_mac(ll, lw, x, signed, col, n, nonneg)

    # ------------------------------------------------------------------------------ description
    def summary(self, layer: Dense) -> str:
        return f"dense {layer.in_features}->{layer.out_features}"

    def card_row(self, layer: Dense) -> tuple[str, str, str, str, int]:
        return ("dense", f"{layer.in_features} → {layer.out_features}", layer.activation.kind,
                self.weights_text(layer), self.parameter_count(layer))

    def weight_tensors(self, layer: Dense) -> list[tuple[str, np.ndarray, int]]:
        return [(f"{layer.in_features}->{layer.out_features}", layer.w_q, layer.weight_bits)]
