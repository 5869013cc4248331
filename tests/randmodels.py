"""Random integer models across the whole legal range, for equivalence tests.

Built directly in integers (not via float export) so weights reach -128/+127, biases and
multipliers reach the limits the overflow proof allows, and shifts span 0..31.
"""
from __future__ import annotations

import numpy as np

from nnmodel.export import make_lut
from nnmodel.model import RNN, Activation, Dense, InputSpec, Model
from nnmodel.quant import ACC_MAX, INPUT_MAX, MULT_MAX, accumulator_bounds

HIDDEN_ACTS = ("relu", "hardtanh", "linear", "lut")


def _weights(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    w = rng.integers(-128, 128, shape)
    if rng.random() < 0.5:  # pin some entries to the extremes
        mask = rng.random(shape) < 0.2
        w[mask] = rng.choice([-128, 127, -127], size=int(mask.sum()))
    if rng.random() < 0.2:  # sometimes small weights, as trained models have
        w = np.clip(w // 16, -128, 127)
    return w.astype(np.int8)


def _activation(rng: np.random.Generator, last: bool) -> Activation:
    if last:
        return Activation("none")
    kind = str(rng.choice(HIDDEN_ACTS))
    if kind == "lut":
        if rng.random() < 0.5:
            return Activation("lut", make_lut("tanh", 4 / 128, 1 / 127), 4 / 128, "tanh")
        return Activation("lut", rng.integers(-128, 128, 256).astype(np.int8), 1.0 / 32, "random")
    return Activation(kind)


def _requant(rng: np.random.Generator, layer, in_max: int, per_channel: bool) -> None:
    """Multipliers that keep outputs varied (not all saturated), at the largest legal precision."""
    bounds = accumulator_bounds(layer, in_max)
    n = layer.outputs if per_channel else 1
    mult, shift = np.zeros(n, np.int32), np.zeros(n, np.int32)
    for j in range(n):
        a = int(bounds[j] if per_channel else bounds.max())
        typical = max(a / 8.0, 1.0)
        real = 10 ** rng.uniform(np.log10(8 / typical), np.log10(512 / typical))
        s = int(rng.integers(0, 32)) if rng.random() < 0.3 else 31
        while s >= 0:
            m = int(min(max(round(real * 2**s), 1), MULT_MAX))
            if a * m + (1 << (s - 1) if s else 0) <= ACC_MAX:
                break
            s -= 1
        if s < 0:
            m, s = 1, 0
        mult[j], shift[j] = m, s
    layer.mult, layer.shift = mult, shift


def _bias(rng: np.random.Generator, n: int, room: int) -> np.ndarray:
    big = rng.random() < 0.3
    span = min(room, 2**24 if big else 2**14)
    return rng.integers(-span, span + 1, n).astype(np.int32)


def random_model(rng: np.random.Generator, name: str = "rand") -> Model:
    rows, cols = int(rng.integers(1, 29)), int(rng.integers(1, 29))
    n_rnn = int(rng.integers(0, 3))
    n_dense = int(rng.integers(1, 4))
    per_channel = bool(rng.random() < 0.5)
    layers = []
    width, in_max = (cols if n_rnn else rows * cols), INPUT_MAX
    total = n_rnn + n_dense
    for i in range(total):
        last = i == total - 1
        out = int(rng.integers(2, 12)) if last else int(rng.integers(1, 24))
        act = _activation(rng, last)
        scale = np.ones(out if per_channel else 1)
        if i < n_rnn:
            w_ih, w_hh = _weights(rng, (out, width)), _weights(rng, (out, out))
            layer = RNN(width, out, act, w_ih.astype(np.float32), w_hh.astype(np.float32), np.zeros(out, np.float32),
                        w_ih, w_hh, np.zeros(out, np.int32), 1.0, scale, 1 / 127, np.zeros(0, np.int32),
                        np.zeros(0, np.int32))
        else:
            w = _weights(rng, (out, width))
            layer = Dense(width, out, act, w.astype(np.float32), np.zeros(out, np.float32), w,
                          np.zeros(out, np.int32), 1.0, scale, 0.0 if last else 1 / 127,
                          np.zeros(0, np.int32), np.zeros(0, np.int32))
        room = int(ACC_MAX - accumulator_bounds(layer, in_max).max()) // 2
        layer.b_q = _bias(rng, out, max(room, 0))
        layer.b = layer.b_q.astype(np.float32)
        if not last:
            _requant(rng, layer, in_max, per_channel)
            in_max = act.out_max_abs
        layers.append(layer)
        width = out
    return Model(name, InputSpec(rows, cols, 1 / 255), layers, [f"c{k}" for k in range(width)], {"random": True})


def random_images(rng: np.random.Generator, model: Model, n: int) -> np.ndarray:
    """Random pixels plus the edge cases: all 0, all 255, and MNIST-like sparse images."""
    shape = (n, model.input.rows, model.input.cols)
    x = rng.integers(0, 256, shape).astype(np.uint8)
    x[0], x[1 % n] = 0, 255
    if n > 3:
        x[2] = np.where(rng.random(shape[1:]) < 0.8, 0, 255).astype(np.uint8)
    if n > 5:  # either side of the C kernel's switch from a nonzero list to dense loads (3/4 nonzero)
        x[3] = np.where(rng.random(shape[1:]) < 0.2, 0, x[3])
        x[4] = np.where(rng.random(shape[1:]) < 0.3, 0, x[4])
    return x
