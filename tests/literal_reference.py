"""A slow, literal transcription of docs/quantization.md in plain Python integers.

Independent of nnmodel.reference (no numpy arithmetic), so the two can check each other.
"""
from __future__ import annotations

import math

from nnmodel.model import RNN, Conv2D, MaxPool2D, Model
from nnmodel.ops import GRU, LSTM


def _requant(acc: int, m: int, s: int) -> int:
    prod = acc * m
    assert -(2**31) <= prod + ((1 << (s - 1)) if s else 0) < 2**31, "product overflows int32"
    return (prod + (1 << (s - 1))) >> s if s > 0 else prod  # Python >> floors


def _activate(v: int, layer) -> int:
    act = layer.activation
    lo, hi = act.clamp
    v = min(max(v, lo), hi)
    return int(act.lut[v + 128]) if act.kind == "lut" else v


def _unit(layer, j: int, parts: list[tuple[list[int], list[int]]]) -> int:
    acc = int(layer.b_q[j])
    for weights, xs in parts:
        for w, x in zip(weights, xs):
            acc += int(w) * int(x)
            assert -(2**31) <= acc < 2**31, "accumulator overflows int32"
    if layer.activation.kind == "none":
        return acc
    k = j if layer.mult.size > 1 else 0
    return _activate(_requant(acc, int(layer.mult[k]), int(layer.shift[k])), layer)


def _conv(layer: Conv2D, fmap: list) -> list:
    """Valid k×k conv, stride 1, over fmap[y][x][c]: out[i][j][o] from the (dy, dx, c) patch."""
    h, w, c_in = layer.in_shape
    k = layer.kernel
    weights = [[int(v) for v in layer.w_q[o].reshape(-1)] for o in range(layer.out_channels)]
    out = []
    for i in range(h - k + 1):
        row = []
        for j in range(w - k + 1):
            patch = [fmap[i + dy][j + dx][c] for dy in range(k) for dx in range(k) for c in range(c_in)]
            row.append([_unit(layer, o, [(weights[o], patch)]) for o in range(layer.out_channels)])
        out.append(row)
    return out


def _pool(layer: MaxPool2D, fmap: list) -> list:
    """Non-overlapping p×p max; the ragged bottom/right edge is dropped."""
    p = layer.size
    oh, ow, c = layer.out_shape
    return [[[max(fmap[i * p + dy][j * p + dx][ch] for dy in range(p) for dx in range(p)) for ch in range(c)]
             for j in range(ow)] for i in range(oh)]


# ------------------------------------------------------------------------------------ gated (docs/recurrent.md)
_T = [min(254, math.floor(256 * math.tanh(u / 32) + 0.5)) for u in range(128)]


def _sgn(p: int) -> int:
    return (p > 0) - (p < 0)


def _tanh_q7(p: int) -> int:
    return _sgn(p) * ((_T[abs(p)] + 1) >> 1)


def _sigm_q7(p: int) -> int:
    return 64 + _sgn(p) * ((_T[abs(p)] + 2) >> 2)


def _qmul(g: int, a: int) -> int:
    return (g * a + 64) >> 7


def _dot(w, xs) -> int:
    return sum(int(a) * int(b) for a, b in zip(w, xs))


def _gate_pre(layer, row: int, acc: int) -> int:
    """requant to the gate's table scale and clamp to ±127 (per gate, or per gate row)."""
    k = row if layer.mult.size == len(layer.w_x_q) else row // layer.units  # per gate row, or per gate
    assert -(2**31) <= acc < 2**31, "accumulator overflows int32"
    return min(max(_requant(acc, int(layer.mult[k]), int(layer.shift[k])), -127), 127)


def _gru_step(layer: GRU, x: list[int], h: list[int]) -> list[int]:
    u = layer.units
    a = [int(layer.b_x_q[j]) + _dot(layer.w_x_q[j], x) for j in range(3 * u)]
    r = [_sigm_q7(_gate_pre(layer, j, a[j] + _dot(layer.w_h_q[j], h))) for j in range(u)]
    z = [_sigm_q7(_gate_pre(layer, u + j, a[u + j] + _dot(layer.w_h_q[u + j], h))) for j in range(u)]
    if layer.reset_after:
        n = [_tanh_q7(_gate_pre(layer, 2 * u + j, a[2 * u + j] + _qmul(
            r[j], int(layer.b_h_q[j]) + _dot(layer.w_h_q[2 * u + j], h)))) for j in range(u)]
    else:
        rh = [_qmul(r[i], h[i]) for i in range(u)]
        n = [_tanh_q7(_gate_pre(layer, 2 * u + j, a[2 * u + j] + _dot(layer.w_h_q[2 * u + j], rh))) for j in range(u)]
    return [n[j] + _qmul(z[j], h[j] - n[j]) for j in range(u)]


def _lstm_step(layer: LSTM, x: list[int], h: list[int], c: list[int]) -> tuple[list[int], list[int]]:
    u = layer.units
    a = [int(layer.b_q[j]) + _dot(layer.w_x_q[j], x) + _dot(layer.w_h_q[j], h) for j in range(4 * u)]
    gates = [[(_tanh_q7 if g == 2 else _sigm_q7)(_gate_pre(layer, g * u + j, a[g * u + j])) for j in range(u)]
             for g in range(4)]
    i, f, g, o = gates
    c = [min(max(_qmul(f[j], c[j]) + ((i[j] * g[j] + 2) >> 2), -32767), 32767) for j in range(u)]
    h = [_qmul(o[j], _tanh_q7(min(max((c[j] + 64) >> 7, -127), 127))) for j in range(u)]
    return h, c


def _leading(layers: list, types: tuple) -> list:
    """The first layers that are of `types`."""
    out = []
    for layer in layers:
        if not isinstance(layer, types):
            break
        out.append(layer)
    return out


def run_one(model: Model, image) -> list[int]:
    rows = [[int(p) for p in row] for row in image]
    conv_front = _leading(model.layers, (Conv2D, MaxPool2D))
    recurrent = (RNN, GRU, LSTM)
    if conv_front and not isinstance(model.layers[len(conv_front)], recurrent):
        fmap = [[[p] for p in row] for row in rows]  # h × w × 1
        for layer in conv_front:
            fmap = _conv(layer, fmap) if isinstance(layer, Conv2D) else _pool(layer, fmap)
        vec = [v for row in fmap for px in row for v in px]  # flattened HWC
        for layer in model.layers[len(conv_front):]:
            vec = [_unit(layer, j, [(list(layer.w_q[j]), vec)]) for j in range(layer.out_features)]
        return vec
    if conv_front:  # pools of the image before a recurrence: the pooled rows are the steps
        fmap = [[[p] for p in row] for row in rows]
        for layer in conv_front:
            fmap = _conv(layer, fmap) if isinstance(layer, Conv2D) else _pool(layer, fmap)
        rows = [[v for px in row for v in px] for row in fmap]
    front = _leading(model.layers[len(conv_front):], recurrent)
    if front:
        hs = [[0] * layer.units for layer in front]
        cs = [[0] * layer.units for layer in front]
        for row in rows:
            inp = row
            for k, layer in enumerate(front):
                if isinstance(layer, GRU):
                    hs[k] = _gru_step(layer, inp, hs[k])
                elif isinstance(layer, LSTM):
                    hs[k], cs[k] = _lstm_step(layer, inp, hs[k], cs[k])
                else:
                    hs[k] = [_unit(layer, j, [(list(layer.w_ih_q[j]), inp), (list(layer.w_hh_q[j]), hs[k])])
                             for j in range(layer.units)]
                inp = hs[k]
        vec = hs[-1]
    else:
        vec = [p for row in rows for p in row]
    for layer in model.layers[len(conv_front) + len(front):]:
        assert not isinstance(layer, RNN)
        vec = [_unit(layer, j, [(list(layer.w_q[j]), vec)]) for j in range(layer.out_features)]
    return vec
