"""The numpy integer reference: the specification every C build must reproduce bit for bit.

Vectorised over the batch. Matrix products run in float64 BLAS: every operand is an integer and
the overflow proof bounds every partial sum below 2^31, far inside float64's exact range (2^53),
so the result is the exact integer sum in any summation order.
"""
from __future__ import annotations

import numpy as np

from .model import RNN, Conv2D, Dense, MaxPool2D, Model, WeightLayer
from .quant import activate, requantize

CHUNK = 1000  # images per batch of a conv model: bounds the im2col patches to ~0.5 GB


def _matmul(x: np.ndarray, w_q: np.ndarray) -> np.ndarray:
    return np.rint(x.astype(np.float64) @ w_q.astype(np.float64).T).astype(np.int64)


def _requant_activate(acc: np.ndarray, layer: WeightLayer) -> np.ndarray:
    return activate(requantize(acc, layer.mult, layer.shift), layer.activation)


def dense_forward(layer: Dense, x: np.ndarray) -> np.ndarray:
    """int64 [N, out]: the int32 logits for the last layer, the int8 activations otherwise."""
    acc = layer.b_q.astype(np.int64) + _matmul(x, layer.w_q)
    return acc if layer.activation.kind == "none" else _requant_activate(acc, layer)


def im2col(x: np.ndarray, k: int) -> np.ndarray:
    """[N, h, w, c] -> [N, h-k+1, w-k+1, k*k*c]: each output position's patch, ordered (dy, dx, c)."""
    n, h, w, c = x.shape
    oh, ow = h - k + 1, w - k + 1
    return np.concatenate([x[:, dy:dy + oh, dx:dx + ow, :] for dy in range(k) for dx in range(k)], axis=3)


def conv2d_forward(layer: Conv2D, x: np.ndarray) -> np.ndarray:
    """int64 [N, oh, ow, out] activations for int64 [N, h, w, c] inputs."""
    acc = layer.b_q.astype(np.int64) + _matmul(im2col(x, layer.kernel), layer.w_q.reshape(layer.out_channels, -1))
    return _requant_activate(acc, layer)


def maxpool_forward(layer: MaxPool2D, x: np.ndarray) -> np.ndarray:
    n, _, _, c = x.shape
    oh, ow, _ = layer.out_shape
    p = layer.size
    return x[:, :oh * p, :ow * p, :].reshape(n, oh, p, ow, p, c).max(axis=(2, 4))


def rnn_step(layer: RNN, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    acc = layer.b_q.astype(np.int64) + _matmul(x, layer.w_ih_q) + _matmul(h, layer.w_hh_q)
    return _requant_activate(acc, layer)


def run(model: Model, images: np.ndarray, *, trace: list | None = None) -> np.ndarray:
    """Integer logits, int64 [N, n_classes], for uint8 images [N, rows, cols].

    If `trace` is a list, the RNN hidden states per step ([N, steps, units] per layer) and every
    layer's output (conv and pool outputs as [N, h, w, c]) are appended to it, for reports and tests.
    """
    spec = model.input
    x = np.asarray(images)
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (spec.rows, spec.cols):
        raise ValueError(f"images must be uint8 [N, {spec.rows}, {spec.cols}], got {x.dtype} {x.shape}")
    n = x.shape[0]
    if model.conv_front:
        if n > CHUNK:
            parts: list[list] = []
            out = []
            for s in range(0, n, CHUNK):
                part: list | None = [] if trace is not None else None
                out.append(run(model, x[s:s + CHUNK], trace=part))
                if part is not None:
                    parts.append(part)
            if trace is not None:
                trace.extend(np.concatenate(list(layer_parts)) for layer_parts in zip(*parts))
            return np.concatenate(out)
        vec = x[..., None].astype(np.int64)
        for layer in model.conv_front:
            vec = conv2d_forward(layer, vec) if isinstance(layer, Conv2D) else maxpool_forward(layer, vec)
            if trace is not None:
                trace.append(vec)
        vec = vec.reshape(n, -1)  # HWC order
        for layer in model.layers[len(model.conv_front):]:
            vec = dense_forward(layer, vec)
            if trace is not None:
                trace.append(vec)
        return vec
    front = model.rnn_front
    if front:
        hs = [np.zeros((n, layer.units), np.int64) for layer in front]
        history = [np.zeros((n, spec.rows, layer.units), np.int64) for layer in front]
        for t in range(spec.rows):
            inp = x[:, t, :].astype(np.int64)
            for k, layer in enumerate(front):
                hs[k] = rnn_step(layer, inp, hs[k])
                history[k][:, t] = hs[k]
                inp = hs[k]
        if trace is not None:
            trace.extend(history)
        vec = hs[-1]
    else:
        vec = x.reshape(n, spec.size).astype(np.int64)
    for layer in model.layers[len(front):]:
        vec = dense_forward(layer, vec)
        if trace is not None:
            trace.append(vec)
    return vec


def predict(model: Model, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(logits, classes); ties go to the lowest class index, as in the generated <model>_finish()."""
    logits = run(model, images)
    return logits, np.argmax(logits, axis=1)
