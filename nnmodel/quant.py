"""Integer arithmetic of the runtime, written once: requantization, multipliers, weight grids.

docs/quantization.md is the prose version of this module; lib/nnrt implements the same in C. The
activations are nnmodel.ops.activation, the overflow proof nnmodel.proof.
"""
from __future__ import annotations

import numpy as np

ACC_MAX = 2**31 - 1  # int32 accumulator
MULT_MAX = 32767  # multiplier M is stored in two bytes and kept positive
SHIFT_MAX = 31
INPUT_MAX = 255  # uint8 pixels


def requantize(acc: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """(acc * M + 2^(S-1)) >> S with an arithmetic shift: round half up. No rounding term when S = 0.

    acc is int64 [..., n]; mult and shift broadcast over the last axis ([1] or [n]). The overflow
    proof guarantees acc * M + 2^(S-1) fits int32, so int64 here computes exactly what C computes.
    """
    s = shift.astype(np.int64)
    return np.right_shift(acc.astype(np.int64) * mult.astype(np.int64) + rounding_term(s), s)


def rounding_term(shift: np.ndarray) -> np.ndarray:
    """2^(S-1) for S > 0, else 0."""
    s = shift.astype(np.int64)
    return np.where(s > 0, np.left_shift(np.int64(1), np.maximum(s - 1, 0)), 0)


def choose_multiplier(real: float, acc_bound: int) -> tuple[int, int]:
    """Integer (M, S) with M / 2^S ≈ real, the most precise choice whose product cannot overflow.

    Largest S such that M = round(real * 2^S) is in 1..MULT_MAX and acc_bound*M + 2^(S-1) <= ACC_MAX.
    """
    if not np.isfinite(real) or real <= 0:
        raise ValueError(f"requantization multiplier must be positive and finite, got {real!r}")
    for s in range(SHIFT_MAX, -1, -1):
        m = int(np.floor(real * 2.0**s + 0.5))
        if m < 1 or m > MULT_MAX:
            continue
        if acc_bound * m + ((1 << (s - 1)) if s else 0) <= ACC_MAX:
            return m, s
    raise ValueError(
        f"no integer multiplier for scale ratio {real:.3g} with accumulator bound {acc_bound}"
    )


WEIGHT_BITS = (8, 4)


def weight_range(bits: int) -> tuple[int, int]:
    """Two's-complement range of a `bits`-bit weight: int8 -128..127, int4 -8..7."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def weight_qmax(bits: int) -> int:
    """The integer max|W| maps to: symmetric, so -2^(b-1) is legal but never produced."""
    return weight_range(bits)[1]


def quantize_symmetric(w: np.ndarray, scale: np.ndarray | float, bits: int = 8) -> np.ndarray:
    """round(w / scale) clamped to the `bits`-bit range (offline; only the resulting integers matter)."""
    lo, hi = weight_range(bits)
    return np.clip(np.round(np.asarray(w, np.float64) / scale), lo, hi).astype(np.int8)


def coarse_bias(b_q: np.ndarray, bits: int = 8) -> np.ndarray:
    """b_q rounded to multiples of one power of two 2^k so every b_q / 2^k fits `bits` bits.

    An int4 layer's biases would otherwise cost more bytes than its weights; stored as int8 with a
    shift k (codegen.layout) they stay exact integers in accumulator scale, and QAT trains with them.
    """
    b = np.asarray(b_q, np.int64)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    for k in range(32):
        c = np.floor(b / 2.0**k + 0.5).astype(np.int64)  # round half up, as requantization does
        if c.size == 0 or (c.min() >= lo and c.max() <= hi):
            return (c << k).astype(np.int32)
    raise ValueError("bias too large to encode")
