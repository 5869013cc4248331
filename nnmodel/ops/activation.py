"""Activations, shared by every layer kind that requantizes: the clamp ranges, the integer
activation after requantization, the LUT tables, and their float forms for training.

    y = clamp(pre, lo, hi)              linear, relu, hardtanh
    y = lut[clamp(pre, -128, 127) + 128] lut (tanh, selu, sigmoid tables)

"none" marks a logits layer: its int32 accumulators are the output, with no requantization.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

# Output clamp range [lo, hi] of each activation, applied after requantization.
RANGES: dict[str, tuple[int, int] | None] = {
    "none": None,
    "linear": (-128, 127),
    "relu": (0, 127),
    "hardtanh": (-127, 127),  # output scale is 1/127, so the clamp *is* hard-tanh
    "lut": (-128, 127),  # clamp of the table index, then y = lut[index + 128]
}
HARDTANH_SCALE = 1.0 / 127.0
LUT_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0))),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "hard_swish": lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
}
# Functions with parameters, named as written in a model file: "leaky_relu(0.01)", "hard_sigmoid(0.2,0.5)".
LUT_FAMILIES: dict[str, Callable[..., Callable[[np.ndarray], np.ndarray]]] = {
    "leaky_relu": lambda alpha: (lambda x: np.where(x >= 0, x, alpha * x)),
    "hard_sigmoid": lambda alpha, beta: (lambda x: np.clip(alpha * x + beta, 0.0, 1.0)),
}


def lut_function(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """The real function a table approximates, by its name ("tanh", "leaky_relu(0.01)", ...)."""
    if name in LUT_FUNCTIONS:
        return LUT_FUNCTIONS[name]
    family, _, args = name.partition("(")
    if family in LUT_FAMILIES and args.endswith(")"):
        return LUT_FAMILIES[family](*(float(a) for a in args[:-1].split(",")))
    raise ValueError(f"unknown table function {name!r}")
# Monotone non-decreasing activations: max-pooling before or after them gives the same result
# (the conv runtime pools raw sums, then requantizes once).
MONOTONE = ("relu", "linear", "hardtanh")


@dataclass
class Activation:
    kind: str
    lut: np.ndarray | None = None  # int8[256] for kind == "lut"
    lut_in_scale: float = 0.0  # real value of one step of the table index
    function: str = ""  # what the table approximates ("tanh", "selu"), for people and the trainer

    @property
    def clamp(self) -> tuple[int, int]:
        rng = RANGES[self.kind]
        assert rng is not None, "the logits layer has no clamp"
        return rng

    @property
    def requantizes(self) -> bool:
        """False for the logits layer (activation "none"): no multiplier, no clamp."""
        return self.kind != "none"

    @property
    def out_min(self) -> int:
        """Smallest value this activation can output (0 for ReLU-like clamps: no negative inputs next)."""
        if self.kind == "lut":
            assert self.lut is not None
            return int(self.lut.min())
        return self.clamp[0]

    @property
    def out_max_abs(self) -> int:
        """Largest |value| this activation can output: the bound the overflow proof feeds forward."""
        if self.kind == "lut":
            assert self.lut is not None
            return int(np.abs(self.lut.astype(np.int64)).max())
        lo, hi = self.clamp
        return max(abs(lo), abs(hi))


def activate(pre: np.ndarray, act: Activation) -> np.ndarray:
    """Clamp the requantized value to the activation's range; a LUT activation then indexes its table."""
    lo, hi = act.clamp
    y = np.clip(pre, lo, hi)
    if act.kind == "lut":
        assert act.lut is not None
        y = act.lut.astype(np.int64)[y + 128]
    return y.astype(np.int64)


def make_lut(function: str, in_scale: float, out_scale: float) -> np.ndarray:
    """int8[256]: entry i holds round(f((i - 128) * in_scale) / out_scale)."""
    x = (np.arange(256) - 128) * in_scale
    return np.clip(np.round(lut_function(function)(x) / out_scale), -128, 127).astype(np.int8)


def lut_out_scale(function: str, in_scale: float) -> float:
    """Output scale that maps the table's largest |value| to 127."""
    x = (np.arange(256) - 128) * in_scale
    return float(np.abs(lut_function(function)(x)).max()) / 127.0


def target_scale(act: Activation, out_scale: float) -> float:
    """Real value of one step of the requantized pre-activation (the table's index for a LUT)."""
    return act.lut_in_scale if act.kind == "lut" else out_scale


def float_activation(fl: Any, z: np.ndarray) -> np.ndarray:
    """A quantize.FloatLayer's activation in float, as the framework it came from computes it (a
    relu with extra["clip"] is ReLU6-like: min(max(z, 0), clip))."""
    if fl.activation == "relu":
        y = np.maximum(z, 0.0)
        clip = fl.extra.get("clip")
        return np.minimum(y, clip) if clip else y
    if fl.activation == "hardtanh":
        return np.clip(z, -1.0, 1.0)
    if fl.activation == "lut":
        return lut_function(fl.lut_function)(z)
    return z


# ------------------------------------------------------------------------------------ training
def float_act(kind: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(y, mask) of the float activation; relu is unbounded in float training."""
    if kind == "relu":
        return np.maximum(z, 0.0), z > 0
    if kind == "hardtanh":
        return np.clip(z, -1.0, 1.0), np.abs(z) <= 1.0
    if kind == "lut":
        return np.tanh(z), np.ones(z.shape, bool)
    return z, np.ones(z.shape, bool)


def deriv(kind: str, z: np.ndarray, mask: np.ndarray, leak: float = 0.0) -> np.ndarray:
    """d act / d z (real-valued z), zeroed where the (integer) clamp saturates.

    leak > 0 (hard-tanh only): a surrogate slope `leak` where the clamp saturates instead of 0, so
    a saturated unit still gets a gradient back (the forward is unchanged).
    """
    if kind == "lut":
        return (1.0 - np.tanh(z) ** 2) * mask
    if leak and kind == "hardtanh":
        return np.where(mask, 1.0, leak)
    return mask.astype(np.float64)


def int_mask(kind: str, pre: np.ndarray) -> np.ndarray:
    """Where the integer clamp passes the requantized value through (the STE's gradient mask)."""
    if kind == "relu":
        return (pre > 0) & (pre <= 127)
    if kind == "hardtanh":
        return (pre >= -127) & (pre <= 127)
    return (pre >= -128) & (pre <= 127)
