"""Real values in and out: physical inputs and firmware integers to codes, outputs to physical units.

    code   = clamp(floor(value / scale + 0.5) + zero_point)      a feature's physical value (float path)
    code   = clamp(fixmul(raw, M, S) + zero_point)               a raw firmware integer (raw·step = value)
    output = acc_scale · logit                                   a regression output, in its unit
    fixed  = fixmul(logit, M, S)                                 the same in steps of the output's unit

fixmul(v, M, S) = (v·M + 2^(S-1)) >> S in 64-bit arithmetic, M/2^S ≈ the ratio of the two units
with M in 2^30..2^31-1: the integer conversions are exact to ~2^-30 of the ratio and the C runtime
(lib/nnrt/include/nnrt/io.h) computes them bit for bit. The network itself always reads uint8
codes (an int8 code c is the uint8 code c + 128). A v1/v2 model records no physical meaning: its
data are its codes (pixels 0..255), one feature for the whole tensor.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .model import Feature, InputSpec, Model

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


@dataclass(frozen=True)
class FixedRatio:
    """M / 2^S: a positive real ratio as a 31-bit multiplier and a shift."""

    mult: int
    shift: int

    @classmethod
    def of(cls, ratio: float) -> FixedRatio:
        # S stays in 6..62: a 64-bit product v·M (< 2^62) plus 2^(S-1) cannot overflow
        if not (math.isfinite(ratio) and 2.0**-32 <= ratio <= 2.0**24):
            raise ValueError(f"unit ratio {ratio:.3g} is outside 2^-32..2^24")
        shift = 30 - math.floor(math.log2(ratio))
        mult = round(ratio * 2.0**shift)
        if mult >= 2**31:  # log2 rounding at a power of two
            shift -= 1
            mult = round(ratio * 2.0**shift)
        return cls(mult, shift)

    def apply(self, v: np.ndarray) -> np.ndarray:
        """fixmul on int64 values (|v| < 2^31): exact, as the C runtime computes it."""
        v = np.asarray(v, np.int64)
        # v·M can reach 2^62: numpy's int64 holds it, and Python ints check it in the tests.
        return np.right_shift(v * np.int64(self.mult) + np.int64(1 << (self.shift - 1)), self.shift)


def features(spec: InputSpec) -> tuple[Feature, ...]:
    """The spec's features, one per F (or C), the per-tensor entry repeated. A v1/v2 model records
    none: its data are the codes themselves (MNIST's 0..255 pixels)."""
    found = spec.features or (Feature("pixel", "", 1.0, 0, 1.0),)
    return found * spec.n_features if len(found) == 1 else found


def code_range(spec: InputSpec) -> tuple[int, int]:
    return (0, 255) if spec.dtype == "uint8" else (-128, 127)


def codes_from_values(spec: InputSpec, x: np.ndarray) -> np.ndarray:
    """Physical values [N, *shape] to codes in the input dtype (the float path)."""
    fs = features(spec)  # per-feature constants broadcast along the last axis (features or channels)
    scale, zero = np.asarray([f.scale for f in fs]), np.asarray([f.zero_point for f in fs])
    lo, hi = code_range(spec)
    q = np.floor(np.asarray(x, np.float64) / scale + 0.5) + zero
    return np.clip(q, lo, hi).astype(np.uint8 if spec.dtype == "uint8" else np.int8)


def values_from_codes(spec: InputSpec, codes: np.ndarray) -> np.ndarray:
    fs = features(spec)
    scale, zero = np.asarray([f.scale for f in fs]), np.asarray([f.zero_point for f in fs])
    return scale * (np.asarray(codes, np.float64) - zero)


def raw_ratios(spec: InputSpec) -> list[FixedRatio]:
    """Per feature: codes per raw integer (step / scale) as M / 2^S."""
    return [FixedRatio.of(f.step / f.scale) for f in features(spec)]


def codes_from_raw(spec: InputSpec, raw: np.ndarray) -> np.ndarray:
    """Raw firmware integers [N, *shape] (value = raw·step) to codes: the integer path of the C API."""
    raw = np.asarray(raw, np.int64)
    if raw.size and (raw.min() < INT32_MIN or raw.max() > INT32_MAX):
        raise ValueError("raw inputs must fit int32")
    lo, hi = code_range(spec)
    out = np.empty(raw.shape, np.int64)
    for f, (ratio, feature) in enumerate(zip(raw_ratios(spec), features(spec))):
        out[..., f] = ratio.apply(raw[..., f]) + feature.zero_point
    return np.clip(out, lo, hi).astype(np.uint8 if spec.dtype == "uint8" else np.int8)


def network_rows(spec: InputSpec, codes: np.ndarray) -> np.ndarray:
    """Codes [N, *shape] (or [N, rows, cols]) as the network reads them: uint8 [N, rows, cols]."""
    c = np.asarray(codes)
    want = np.uint8 if spec.dtype == "uint8" else np.int8
    if c.dtype != want or c.shape[1:] not in (spec.shape, (spec.rows, spec.cols)):
        raise ValueError(f"codes must be {np.dtype(want).name} [N, {', '.join(map(str, spec.shape))}], "
                         f"got {c.dtype} {list(c.shape)}")
    if spec.dtype == "int8":
        c = (c.astype(np.int16) + 128).astype(np.uint8)
    return c.reshape(len(c), spec.rows, spec.cols)


def output_scales(model: Model) -> np.ndarray:
    """Real value of one step of each int32 output (acc_scale of the last layer, per output)."""
    scale = np.asarray(model.layers[-1].acc_scale, np.float64).reshape(-1)
    return np.broadcast_to(scale, (model.n_classes,)).copy()


def output_values(model: Model, logits: np.ndarray) -> np.ndarray:
    """Outputs in physical units (regression) or real-valued logits (classification)."""
    return np.asarray(logits, np.float64) * output_scales(model)


def output_steps(model: Model) -> tuple[float, ...]:
    """The integer form's unit per output: the model's for regression, 1/1000 of a logit else."""
    return model.output.steps or (0.001,) * model.n_classes


def output_ratios(model: Model) -> list[FixedRatio]:
    return [FixedRatio.of(float(s) / step) for s, step in zip(output_scales(model), output_steps(model))]


def outputs_fixed(model: Model, logits: np.ndarray) -> np.ndarray:
    """Outputs as integers in steps of their unit (saturated to int32): the C API's <model>_output()."""
    logits = np.asarray(logits, np.int64)
    out = np.empty(logits.shape, np.int64)
    for k, ratio in enumerate(output_ratios(model)):
        out[..., k] = ratio.apply(logits[..., k])
    return np.clip(out, INT32_MIN, INT32_MAX)
