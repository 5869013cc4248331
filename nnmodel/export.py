"""Float weights → integer Model: scale choice, symmetric int8 quantization, multipliers, LUTs.

The QAT trainer runs these same functions in its forward pass, so the exported integers are the
ones it trained with.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import NNModelError
from .model import RNN, Activation, Conv2D, Dense, InputSpec, Layer, MaxPool2D, Model, WeightLayer
from .quant import (INPUT_MAX, WEIGHT_BITS, accumulator_bounds, choose_multiplier, coarse_bias,
                    quantize_symmetric, weight_qmax)

HARDTANH_SCALE = 1.0 / 127.0
LUT_FUNCTIONS = {
    "tanh": np.tanh,
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0))),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
}


def make_lut(function: str, in_scale: float, out_scale: float) -> np.ndarray:
    """int8[256]: entry i holds round(f((i - 128) * in_scale) / out_scale)."""
    x = (np.arange(256) - 128) * in_scale
    return np.clip(np.round(LUT_FUNCTIONS[function](x) / out_scale), -128, 127).astype(np.int8)


def lut_out_scale(function: str, in_scale: float) -> float:
    """Output scale that maps the table's largest |value| to 127."""
    x = (np.arange(256) - 128) * in_scale
    return float(np.abs(LUT_FUNCTIONS[function](x)).max()) / 127.0


@dataclass
class FloatLayer:
    """One layer as a trainer hands it over: float weights plus the activation's output scale."""

    kind: str  # "dense" | "rnn" | "conv2d" | "maxpool2d"
    weights: dict[str, np.ndarray]  # dense, conv2d ([out, k, k, in]): w, b; rnn: w_ih, w_hh, b; pool: none
    activation: str  # none | linear | relu | hardtanh | lut
    out_scale: float = 0.0  # calibrated/learned for relu and linear; fixed for hardtanh and lut
    lut_function: str = ""
    lut_in_scale: float = 0.0
    name: str = ""
    # conv2d: in_shape (h, w, c); maxpool2d: in_shape, size; dense/conv2d: weight_bits (8 or 4)
    extra: dict = field(default_factory=dict)


def _scale(max_abs: np.ndarray, bits: int = 8) -> np.ndarray:
    return np.maximum(max_abs, 1e-12) / weight_qmax(bits)


def _weight_bits(fl: FloatLayer) -> int:
    bits = int(fl.extra.get("weight_bits", 8))
    if bits not in WEIGHT_BITS:
        raise NNModelError(f"layer {fl.name or fl.kind}: weight_bits {bits}; supported: 8, 4")
    return bits


def _activation(fl: FloatLayer) -> tuple[Activation, float, float]:
    """(activation, output scale, scale the requantization targets)."""
    if fl.activation == "lut":
        out = lut_out_scale(fl.lut_function, fl.lut_in_scale)
        lut = make_lut(fl.lut_function, fl.lut_in_scale, out)
        return Activation("lut", lut, fl.lut_in_scale, fl.lut_function), out, fl.lut_in_scale
    if fl.activation == "hardtanh":
        return Activation("hardtanh"), HARDTANH_SCALE, HARDTANH_SCALE
    if fl.activation == "none":
        return Activation("none"), 0.0, 0.0
    if not fl.out_scale > 0:
        raise NNModelError(f"layer {fl.name or fl.kind}: activation {fl.activation} needs a positive out_scale")
    return Activation(fl.activation), fl.out_scale, fl.out_scale


def _requant_params(layer: WeightLayer, in_max: int, target_scale: float) -> None:
    """Fill mult/shift from the real ratio acc_scale/target_scale and the proven accumulator bound."""
    if layer.activation.kind == "none":
        layer.mult = layer.shift = np.zeros(0, np.int32)
        return
    bounds = accumulator_bounds(layer, in_max)
    per_channel = layer.acc_scale.size > 1
    pairs = [choose_multiplier(float(layer.acc_scale[j] / target_scale), int(bounds[j] if per_channel else bounds.max()))
             for j in range(layer.acc_scale.size)]
    layer.mult = np.array([m for m, _ in pairs], np.int32)
    layer.shift = np.array([s for _, s in pairs], np.int32)


def _quantize_weights(w: np.ndarray, b: np.ndarray, in_scale: float, per_channel: bool,
                      bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(w_q, b_q, acc_scale) of a weight tensor [out, ...]: symmetric scale per tensor or per output."""
    flat = np.abs(w.reshape(len(w), -1))
    max_abs = flat.max(axis=1) if per_channel else np.array([flat.max()])
    w_scale = _scale(max_abs, bits)
    acc_scale = (w_scale * in_scale).astype(np.float64)
    w_q = quantize_symmetric(w, w_scale.reshape((-1,) + (1,) * (w.ndim - 1)) if per_channel else w_scale[0], bits)
    b_q = _quantize_bias(b, acc_scale)
    if bits == 4:  # int4 layers store their biases as int8 << k (quant.coarse_bias)
        b_q = coarse_bias(b_q)
    return w_q, b_q, acc_scale


def quantize_dense(fl: FloatLayer, in_scale: float, in_max: int, per_channel: bool) -> Dense:
    w = np.asarray(fl.weights["w"], np.float32)
    b = np.asarray(fl.weights["b"], np.float32)
    bits = _weight_bits(fl)
    w_q, b_q, acc_scale = _quantize_weights(w, b, in_scale, per_channel, bits)
    act, out_scale, target = _activation(fl)
    layer = Dense(w.shape[1], w.shape[0], act, w, b, w_q, b_q, in_scale, acc_scale, out_scale,
                  np.zeros(0, np.int32), np.zeros(0, np.int32), fl.name, bits)
    _requant_params(layer, in_max, target)
    return layer


def quantize_conv(fl: FloatLayer, in_scale: float, in_max: int, per_channel: bool) -> Conv2D:
    w = np.asarray(fl.weights["w"], np.float32)  # [out, k, k, in]
    b = np.asarray(fl.weights["b"], np.float32)
    bits = _weight_bits(fl)
    act, out_scale, target = _activation(fl)
    if act.kind not in ("relu", "linear", "hardtanh"):
        # The runtime pools accumulators before requantizing, exact only for monotone activations.
        raise NNModelError(f"layer {fl.name or 'conv2d'}: activation {act.kind}; a conv layer takes relu, "
                           "linear or hardtanh")
    w_q, b_q, acc_scale = _quantize_weights(w, b, in_scale, per_channel, bits)
    layer = Conv2D(tuple(int(v) for v in fl.extra["in_shape"]), w.shape[0], w.shape[1], act, w, b, w_q, b_q,
                   in_scale, acc_scale, out_scale, np.zeros(0, np.int32), np.zeros(0, np.int32), fl.name, bits)
    _requant_params(layer, in_max, target)
    return layer


def quantize_rnn(fl: FloatLayer, in_scale: float, in_max: int, per_channel: bool) -> RNN:
    w_ih = np.asarray(fl.weights["w_ih"], np.float32)
    w_hh = np.asarray(fl.weights["w_hh"], np.float32)
    b = np.asarray(fl.weights["b"], np.float32)
    act, out_scale, target = _activation(fl)
    if act.kind not in ("hardtanh", "lut", "relu", "linear"):
        raise NNModelError(f"layer {fl.name or 'rnn'}: activation {act.kind} cannot feed an RNN state")
    # One accumulator scale for both products: each weight matrix gets acc_scale / (its input's scale).
    axis = 1 if per_channel else None
    need = np.maximum(np.abs(w_ih).max(axis=axis) * in_scale, np.abs(w_hh).max(axis=axis) * out_scale)
    acc_scale = _scale(np.atleast_1d(need)).astype(np.float64)
    col = acc_scale[:, None] if per_channel else acc_scale[0]
    w_ih_q = quantize_symmetric(w_ih, col / in_scale)
    w_hh_q = quantize_symmetric(w_hh, col / out_scale)
    layer = RNN(w_ih.shape[1], w_ih.shape[0], act, w_ih, w_hh, b, w_ih_q, w_hh_q,
                _quantize_bias(b, acc_scale), in_scale, acc_scale, out_scale,
                np.zeros(0, np.int32), np.zeros(0, np.int32), fl.name)
    _requant_params(layer, in_max, target)
    return layer


def _quantize_bias(b: np.ndarray, acc_scale: np.ndarray) -> np.ndarray:
    return np.clip(np.round(b / acc_scale), -(2**31) + 1, 2**31 - 1).astype(np.int32)


def quantize_model(name: str, layers: list[FloatLayer], *, labels: list[str] | None = None,
                   input_spec: InputSpec | None = None, per_channel: bool = False,
                   provenance: dict | None = None) -> Model:
    """Quantize a float network layer by layer, feeding each layer's output range to the next."""
    spec = input_spec or InputSpec()
    in_scale, in_max = spec.scale, INPUT_MAX
    out: list[Layer] = []
    quantizers = {"rnn": quantize_rnn, "dense": quantize_dense, "conv2d": quantize_conv}
    for fl in layers:
        if fl.kind == "maxpool2d":
            out.append(MaxPool2D(tuple(int(v) for v in fl.extra["in_shape"]), int(fl.extra["size"]), fl.name))
            continue
        try:
            layer = quantizers[fl.kind](fl, in_scale, in_max, per_channel)
        except ValueError as exc:
            raise NNModelError(f"layer {fl.name or len(out)}: {exc}") from None
        out.append(layer)
        if layer.activation.kind != "none":
            in_scale, in_max = layer.out_scale, layer.activation.out_max_abs
    n = out[-1].outputs
    return Model(name, spec, out, labels or [str(i) for i in range(n)], provenance or {})
