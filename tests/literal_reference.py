"""A slow, literal transcription of docs/quantization.md in plain Python integers.

Independent of nnmodel.reference (no numpy arithmetic), so the two can check each other.
"""
from __future__ import annotations

from nnmodel.model import RNN, Conv2D, MaxPool2D, Model


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


def _leading(model: Model, types: tuple) -> list:
    """The model's first layers that are of `types`."""
    out = []
    for layer in model.layers:
        if not isinstance(layer, types):
            break
        out.append(layer)
    return out


def run_one(model: Model, image) -> list[int]:
    rows = [[int(p) for p in row] for row in image]
    conv_front = _leading(model, (Conv2D, MaxPool2D))
    if conv_front:
        fmap = [[[p] for p in row] for row in rows]  # h × w × 1
        for layer in conv_front:
            fmap = _conv(layer, fmap) if isinstance(layer, Conv2D) else _pool(layer, fmap)
        vec = [v for row in fmap for px in row for v in px]  # flattened HWC
        for layer in model.layers[len(conv_front):]:
            vec = [_unit(layer, j, [(list(layer.w_q[j]), vec)]) for j in range(layer.out_features)]
        return vec
    front = _leading(model, (RNN,))
    if front:
        hs = [[0] * layer.units for layer in front]
        for row in rows:
            inp = row
            for k, layer in enumerate(front):
                hs[k] = [_unit(layer, j, [(list(layer.w_ih_q[j]), inp), (list(layer.w_hh_q[j]), hs[k])])
                         for j in range(layer.units)]
                inp = hs[k]
        vec = hs[-1]
    else:
        vec = [p for row in rows for p in row]
    for layer in model.layers[len(front):]:
        assert not isinstance(layer, RNN)
        vec = [_unit(layer, j, [(list(layer.w_q[j]), vec)]) for j in range(layer.out_features)]
    return vec
