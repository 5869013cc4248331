"""What the QAT trainer of the gated recurrences (gru, lstm) shares: their initialisation, and each
gate's integer forward with its straight-through derivative.

The QAT forward runs the integer arithmetic of nnmodel/ops/gates.py exactly; the backward treats
every rounding as the identity and differentiates the float σ or tanh at the dequantized
pre-activation (code/16 or code/32), with no gradient where the ±127 clamp cut the pre-activation.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..quant import requantize
from .gates import PRE_MAX, SIGMOID_PRE_SCALE, TANH_PRE_SCALE, clamp_pre, sigm_q7, tanh_q7


def sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def int_gate(acc: np.ndarray, mult: np.ndarray, shift: np.ndarray, is_sigmoid: bool) -> tuple[np.ndarray, np.ndarray]:
    """(Q7 gate code, straight-through d gate/d real pre-activation) of int64 accumulators."""
    raw = requantize(acc, mult, shift)
    pre = clamp_pre(raw)
    inside = np.abs(raw) <= PRE_MAX
    if is_sigmoid:
        s = sigmoid(pre * SIGMOID_PRE_SCALE)
        return sigm_q7(pre), s * (1.0 - s) * inside
    t = np.tanh(pre * TANH_PRE_SCALE)
    return tanh_q7(pre), (1.0 - t * t) * inside


def init_gated(spec: Any, rng: np.random.Generator, init_ih: float, gates: int) -> tuple[np.ndarray, np.ndarray]:
    """(w_x [G·U, F], w_h [G·U, U]): Glorot-uniform input weights per gate (or N(0, (init_ih/√F)²)),
    an orthogonal recurrent block per gate (no growth or decay of the state's gradient at the start)."""
    u, f = spec.n_out, spec.n_in
    if init_ih:
        w_x = rng.normal(0.0, init_ih / np.sqrt(f), (gates * u, f))
    else:
        limit = np.sqrt(6.0 / (f + u))
        w_x = rng.uniform(-limit, limit, (gates * u, f))
    blocks = []
    for _ in range(gates):
        q, r = np.linalg.qr(rng.normal(size=(u, u)))
        blocks.append(q * np.sign(np.diag(r)))
    return w_x, np.vstack(blocks)
