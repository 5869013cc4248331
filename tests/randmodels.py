"""Random integer models across the whole legal range, for equivalence tests.

Built directly in integers (not via float export) so weights reach -128/+127 (int4: -8/+7),
biases and multipliers reach the limits the overflow proof allows, and shifts span 0..31.
"""
from __future__ import annotations

import numpy as np

from nnmodel.model import RNN, Activation, Conv2D, Dense, InputSpec, MaxPool2D, Model
from nnmodel.ops.activation import make_lut
from nnmodel.ops.gates import PRE_MAX
from nnmodel.ops.gru import GRU
from nnmodel.ops.lstm import LSTM
from nnmodel.proof import accumulator_bounds
from nnmodel.quant import ACC_MAX, INPUT_MAX, MULT_MAX

HIDDEN_ACTS = ("relu", "hardtanh", "linear", "lut")
CONV_ACTS = ("relu", "hardtanh", "linear")


def _weights(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    w = rng.integers(-128, 128, shape)
    if rng.random() < 0.5:  # pin some entries to the extremes
        mask = rng.random(shape) < 0.2
        w[mask] = rng.choice([-128, 127, -127], size=int(mask.sum()))
    if rng.random() < 0.2:  # sometimes small weights, as trained models have
        w = np.clip(w // 16, -128, 127)
    return w.astype(np.int8)


def _weights4(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    w = rng.integers(-8, 8, shape)
    if rng.random() < 0.5:  # pin some entries to the extremes
        mask = rng.random(shape) < 0.2
        w[mask] = rng.choice([-8, 7, -7], size=int(mask.sum()))
    if rng.random() < 0.2:  # mostly small weights, as trained models have
        w = np.where(rng.random(shape) < 0.7, np.clip(w // 4, -8, 7), w)
    return w.astype(np.int8)


def _activation(rng: np.random.Generator, last: bool, kinds: tuple[str, ...] = HIDDEN_ACTS) -> Activation:
    if last:
        return Activation("none")
    kind = str(rng.choice(kinds))
    if kind == "lut":
        if rng.random() < 0.5:
            return Activation("lut", make_lut("tanh", 4 / 128, 1 / 127), 4 / 128, "tanh")
        return Activation("lut", rng.integers(-128, 128, 256).astype(np.int8), 1.0 / 32, "random")
    return Activation(kind)


def _requant(rng: np.random.Generator, layer, in_max: int, per_channel: bool) -> None:
    """Multipliers that keep outputs varied (not all saturated), at the largest legal precision."""
    bounds = accumulator_bounds(layer, in_max)
    n = len(layer.b_q) if per_channel else 1
    mult, shift = np.zeros(n, np.int32), np.zeros(n, np.int32)
    for j in range(n):
        mult[j], shift[j] = _pair(rng, int(bounds[j] if per_channel else bounds.max()), 8, 512)
    layer.mult, layer.shift = mult, shift


def _pair(rng: np.random.Generator, a: int, low: float, high: float) -> tuple[int, int]:
    """(M, S) taking a typical accumulator (a/8, a the proven bound) to low..high output steps, at a
    random precision (S 0..31, mostly 31), with a·M + 2^(S-1) within int32."""
    typical = max(a / 8.0, 1.0)
    real = 10 ** rng.uniform(np.log10(low / typical), np.log10(high / typical))
    s = int(rng.integers(0, 32)) if rng.random() < 0.3 else 31
    while s > 0 and round(real * 2**s) > MULT_MAX:  # keep the ratio: M is at most MULT_MAX
        s -= 1
    while s >= 0:
        m = int(min(max(round(real * 2**s), 1), MULT_MAX))
        if a * m + (1 << (s - 1) if s else 0) <= ACC_MAX:
            return m, s
        s -= 1
    return 1, 0


def _bias(rng: np.random.Generator, n: int, room: int) -> np.ndarray:
    big = rng.random() < 0.3
    span = min(room, 2**24 if big else 2**14)
    return rng.integers(-span, span + 1, n).astype(np.int32)


def _coarse_bias(rng: np.random.Generator, n: int, room: int, typical: int) -> np.ndarray:
    """int8 values << k, as quant.coarse_bias makes an int4 layer's biases; usually |b| <= the
    accumulator bound `typical` (so outputs still depend on the input), sometimes up to 2^23."""
    top = 16 if rng.random() < 0.1 else max(int(np.log2(max(typical, 128) / 128)), 0)
    k = int(rng.integers(0, top + 1))
    while k > 0 and (128 << k) > room:
        k -= 1
    c = rng.integers(-128, 128, n)
    if rng.random() < 0.3:
        c[rng.random(n) < 0.3] = rng.choice([-128, 127])
    if rng.random() < 0.1:
        c[:] = 0
    return (c << k).astype(np.int32)


def _dense(rng: np.random.Generator, width: int, out: int, act: Activation, per_channel: bool, last: bool,
           bits: int) -> Dense:
    w = _weights4(rng, (out, width)) if bits == 4 else _weights(rng, (out, width))
    return Dense(width, out, act, w.astype(np.float32), np.zeros(out, np.float32), w, np.zeros(out, np.int32),
                 1.0, np.ones(out if per_channel else 1), 0.0 if last else 1 / 127, np.zeros(0, np.int32),
                 np.zeros(0, np.int32), "", bits)


def _finish(rng: np.random.Generator, layer, in_max: int, per_channel: bool, last: bool, bits: int) -> int:
    """Biases and multipliers of a weight layer; returns the next layer's input bound."""
    bound = int(accumulator_bounds(layer, in_max).max())
    room = max((ACC_MAX - bound) // 2, 0)
    n = len(layer.b_q)
    layer.b_q = _coarse_bias(rng, n, room, bound // 16) if bits == 4 else _bias(rng, n, room)
    layer.b = layer.b_q.astype(np.float32)
    if last:
        return in_max
    _requant(rng, layer, in_max, per_channel)
    return layer.activation.out_max_abs


def _pick(rng: np.random.Generator, weights: list[int]) -> int:
    """1..len(weights), with the given relative weights."""
    p = np.asarray(weights, float)
    return int(rng.choice(len(p), p=p / p.sum())) + 1


def random_conv_model(rng: np.random.Generator, name: str = "rconv", max_side: int = 14,
                      target: bool = False, channels: int = 1, max_out: int = 8) -> Model:
    """A conv/pool front (k 1..5, pools 1..3, 1..max_out channels, int4 or int8, sometimes pools of
    the raw image), then 1..2 dense layers. target: the shipped CNN's shape with random int4 weights.
    channels: of the input image (> 1: a version-3 input). max_out above 8 reaches the kernels'
    eight-channel passes and their remainders."""
    per_channel = bool(rng.random() < 0.5) and not target
    if target:
        rows = cols = 28
        plan = [("conv", 3, 6, 4), ("pool", 2), ("conv", 3, 6, 4), ("pool", 3)]
    else:
        side = max_side if rng.random() < 0.8 else 2 * max_side
        low = 1 if rng.random() < 0.15 else max(1, side // 2)
        rows, cols = int(rng.integers(low, side + 1)), int(rng.integers(low, side + 1))
        plan = []
        if rng.random() < 0.15:
            plan.append(("pool", 0))
        for _ in range(int(rng.integers(1, 4))):
            plan.append(("conv", 0, int(rng.integers(1, max_out + 1)), int(rng.choice([4, 8]))))
            plan += [("pool", 0)] * int(rng.choice([0, 1, 1, 2]))
    layers: list = []
    shape, in_max = (rows, cols, channels), INPUT_MAX
    for item in plan:
        h, w, c = shape
        if item[0] == "pool":
            size = item[1] or _pick(rng, [1, 3, 3][:min(3, h, w)])
            if size > min(h, w):
                continue
            layers.append(MaxPool2D(shape, size))
            shape = layers[-1].out_shape
            continue
        _, k, cout, bits = item
        k = k or _pick(rng, [1, 2, 3, 2, 2][:min(5, h, w)])
        if k > min(h, w):
            continue
        act = Activation("relu") if target else _activation(rng, False, CONV_ACTS)
        wq = _weights4(rng, (cout, k, k, c)) if bits == 4 else _weights(rng, (cout, k, k, c))
        layer = Conv2D(shape, cout, k, act, wq.astype(np.float32), np.zeros(cout, np.float32), wq,
                       np.zeros(cout, np.int32), 1.0, np.ones(cout if per_channel else 1), 1 / 127,
                       np.zeros(0, np.int32), np.zeros(0, np.int32), "", bits)
        in_max = _finish(rng, layer, in_max, per_channel, False, bits)
        layers.append(layer)
        shape = layer.out_shape
    width = shape[0] * shape[1] * shape[2]
    n_dense = 1 if target else int(rng.integers(1, 3))
    for i in range(n_dense):
        last = i == n_dense - 1
        out = (10 if target else int(rng.integers(2, 12))) if last else int(rng.integers(1, 16))
        bits = 4 if target else int(rng.choice([4, 8]))
        layer = _dense(rng, width, out, _activation(rng, last), per_channel, last, bits)
        in_max = _finish(rng, layer, in_max, per_channel, last, bits)
        layers.append(layer)
        width = out
    spec = InputSpec(rows, cols, 1 / 255) if channels == 1 else InputSpec.of_shape((rows, cols, channels),
                                                                                    scale=1 / 255)
    return Model(name, spec, layers, [f"c{k}" for k in range(width)], {"random": True})


def random_model(rng: np.random.Generator, name: str = "rand", int4: bool = False) -> Model:
    """Dense/RNN models; int4: the dense layers take int4 weights at random."""
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
        elif int4 and rng.random() < 0.6:
            layer = _dense(rng, width, out, act, per_channel, last, 4)
            in_max = _finish(rng, layer, in_max, per_channel, last, 4)
            layers.append(layer)
            width = out
            continue
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


def _gated_layer(rng: np.random.Generator, kind: str, width: int, units: int, in_max: int,
                 per_channel: bool) -> GRU | LSTM:
    """A gru (reset_after either way) or lstm layer with full-range int8 weights, random biases and
    gate requantizations taking typical accumulators to 1..512 pre-activation steps: many gates sit
    at the table's ends (pre-activations clamped at ±127, gates 0 or 128) and LSTM cells run into
    ±32767 over a few steps; others stay on the slopes."""
    gates = 3 if kind == "gru" else 4
    rows = gates * units
    w_x, w_h = _weights(rng, (rows, width)), _weights(rng, (rows, units))
    n_pairs = rows if per_channel else gates
    zeros = np.zeros(0, np.int32)
    if kind == "gru":
        reset_after = bool(rng.random() < 0.5)
        b_h = zeros
        if reset_after:  # b_hn + W_hn·h inside the reset product: 128 times it must fit int32
            inner = int((np.abs(w_h[2 * units:].astype(np.int64)).sum(axis=1) * PRE_MAX).max())
            b_h = _bias(rng, units, max(((2**31 - 65) // 128 - inner) // 2, 0))
        layer: GRU | LSTM = GRU(width, units, reset_after, w_x.astype(np.float32), w_h.astype(np.float32),
                                np.zeros(rows, np.float32), np.zeros(rows, np.float32), w_x, w_h,
                                np.zeros(rows, np.int32), b_h, 1.0, np.ones(n_pairs), zeros, zeros)
    else:
        layer = LSTM(width, units, w_x.astype(np.float32), w_h.astype(np.float32), np.zeros(rows, np.float32),
                     w_x, w_h, np.zeros(rows, np.int32), 1.0, np.ones(n_pairs), zeros, zeros)
    bound = int(accumulator_bounds(layer, in_max).max())
    room = (ACC_MAX - bound) // 2
    # biases about the size of a typical product sum (bound/16); sometimes far larger (gates stuck at an end)
    b = _bias(rng, rows, max(min(room, bound // 16 if rng.random() < 0.85 else room), 0))
    if kind == "gru":
        layer.b_x_q = b
    else:
        layer.b_q = b
    bounds = accumulator_bounds(layer, in_max)
    pairs = [_pair(rng, int(bounds[j] if per_channel else bounds[j * units:(j + 1) * units].max()), 1, 512)
             for j in range(n_pairs)]
    layer.mult = np.array([m for m, _ in pairs], np.int32)
    layer.shift = np.array([s for _, s in pairs], np.int32)
    return layer


def random_gated_model(rng: np.random.Generator, kind: str, name: str = "rgated", max_units: int = 12,
                       max_cols: int = 28, max_rows: int = 28) -> Model:
    """1..2 recurrent layers of `kind` ("gru" or "lstm"; a second layer is sometimes the other gated
    kind) over rows of 1..max_cols pixels, sometimes behind a 2x2 or 3x3 max-pool of the image (its
    pooled rows are the steps), then 1..2 dense layers; per gate or per gate row."""
    rows, cols = int(rng.integers(1, max_rows + 1)), int(rng.integers(1, max_cols + 1))
    per_channel = bool(rng.random() < 0.5)
    layers: list = []
    width, in_max = cols, INPUT_MAX
    pool = int(rng.choice([2, 3])) if rng.random() < 0.25 else 0
    if pool and min(rows, cols) >= pool:
        layers.append(MaxPool2D((rows, cols, 1), pool))
        width = layers[0].out_shape[1]
    for k in range(int(rng.integers(1, 3))):
        other = "lstm" if kind == "gru" else "gru"
        this = other if k and rng.random() < 0.3 else kind
        units = int(rng.integers(1, max_units + 1))
        layers.append(_gated_layer(rng, this, width, units, in_max, per_channel))
        width, in_max = units, PRE_MAX
    n_dense = int(rng.integers(1, 3))
    for i in range(n_dense):
        last = i == n_dense - 1
        out = int(rng.integers(2, 12)) if last else int(rng.integers(1, 16))
        layer = _dense(rng, width, out, _activation(rng, last), per_channel, last, 8)
        in_max = _finish(rng, layer, in_max, per_channel, last, 8)
        layers.append(layer)
        width = out
    return Model(name, InputSpec(rows, cols, 1 / 255), layers, [f"c{k}" for k in range(width)], {"random": True})


def random_gru_model(rng: np.random.Generator, name: str = "rgru", **sizes: int) -> Model:
    return random_gated_model(rng, "gru", name, **sizes)


def random_lstm_model(rng: np.random.Generator, name: str = "rlstm", **sizes: int) -> Model:
    return random_gated_model(rng, "lstm", name, **sizes)


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


def small_cnn(seed: int = 0, name: str = "small_cnn", bits: int = 4, per_channel: bool = False,
              pin_extremes: bool = True) -> Model:
    """The shipped CNN's architecture through the float exporter (quantize_model): conv3x3 1->6 relu,
    maxpool 2, conv3x3 6->6 relu, maxpool 3, dense 54->10; int4 (or int8) weights. pin_extremes
    sets a few weights to the int4 minimum -8, which symmetric quantization never produces."""
    from nnmodel.proof import prove_no_overflow
    from nnmodel.quantize import FloatLayer, quantize_model

    rng = np.random.default_rng(seed)
    layers = [
        FloatLayer("conv2d", {"w": rng.normal(0, .3, (6, 3, 3, 1)), "b": rng.normal(0, .1, 6)}, "relu",
                   out_scale=0.02, extra={"in_shape": (28, 28, 1), "weight_bits": bits}),
        FloatLayer("maxpool2d", {}, "none", extra={"in_shape": (26, 26, 6), "size": 2}),
        FloatLayer("conv2d", {"w": rng.normal(0, .3, (6, 3, 3, 6)), "b": rng.normal(0, .1, 6)}, "relu",
                   out_scale=0.05, extra={"in_shape": (13, 13, 6), "weight_bits": bits}),
        FloatLayer("maxpool2d", {}, "none", extra={"in_shape": (11, 11, 6), "size": 3}),
        FloatLayer("dense", {"w": rng.normal(0, .3, (10, 54)), "b": rng.normal(0, .1, 10)}, "none",
                   extra={"weight_bits": bits}),
    ]
    model = quantize_model(name, layers, per_channel=per_channel)
    if pin_extremes and bits == 4:
        for layer in (model.layers[0], model.layers[2], model.layers[4]):
            flat = layer.w_q.reshape(-1)
            flat[rng.choice(flat.size, 3, replace=False)] = -8
        prove_no_overflow(model)
    return model
