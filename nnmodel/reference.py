"""The numpy integer reference: the specification every C build must reproduce bit for bit.

Each layer runs its kind's integer forward (nnmodel/ops), vectorised over the batch; between
layers the data changes form only as nnmodel.ops.base says (a map flattened in HWC order, a
sequence's last step). Products run in float64 BLAS on integers, exact because the overflow proof
bounds every partial sum below 2^31, far inside float64's exact range (2^53).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import ops
from .model import Model
from .realvalues import network_rows

CHUNK = 1000  # images per batch: bounds a conv model's im2col patches to ~0.5 GB


def run(model: Model, images: np.ndarray, *, trace: list | None = None) -> np.ndarray:
    """Integer outputs, int64 [N, n_classes], for input codes: uint8 images [N, rows, cols] (v1/v2), or
    codes in the input's dtype as [N, *shape] or [N, rows, cols] (realvalues makes them from data).

    If `trace` is a list, every layer's output is appended to it in the layer's form: a sequence
    layer's state after each step [N, steps, units], a map layer's [N, h, w, c], a vector layer's
    [N, F]; for reports and tests.
    """
    spec = model.input
    x = np.asarray(images)
    if spec.is_v3:
        x = network_rows(spec, x)
    elif x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (spec.rows, spec.cols):
        raise ValueError(f"images must be uint8 [N, {spec.rows}, {spec.cols}], got {x.dtype} {x.shape}")
    if len(x) <= CHUNK:
        return _run(model, x, trace)
    parts: list[list] = []
    out = []
    for s in range(0, len(x), CHUNK):
        part: list | None = [] if trace is not None else None
        out.append(_run(model, x[s:s + CHUNK], part))
        if part is not None:
            parts.append(part)
    if trace is not None:
        trace.extend(np.concatenate(list(layer_parts)) for layer_parts in zip(*parts))
    return np.concatenate(out)


def _run(model: Model, images: np.ndarray, trace: list | None) -> np.ndarray:
    form = ops.op_of(model.layers[0]).in_form
    spec = model.input
    vec: np.ndarray = images.reshape((len(images),) + ops.input_shape(spec.rows, spec.cols, form, spec.channels))
    vec = vec.astype(np.int64)
    vec = forward(model.layers, vec, form, trace)
    return vec


def forward(layers: list[Any], x: np.ndarray, form: str, trace: list | None = None) -> np.ndarray:
    """Run `layers` on x, given in `form` (the reports run a model's head on its RNN states this way)."""
    for layer in layers:
        op = ops.op_of(layer)
        x = op.forward(layer, ops.adapt(x, form, op.in_form))
        form = op.out_form
        if trace is not None:
            trace.append(x)
    return x


def predict(model: Model, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(logits, classes); ties go to the lowest class index, as in the generated <model>_finish()."""
    logits = run(model, images)
    return logits, np.argmax(logits, axis=1)
