"""The source framework's own answer on the calibration samples, for the import's agreement line.

ONNX runs in onnxruntime (the tensor the model's outputs equal is exposed as an extra graph output);
scikit-learn estimators answer predict_proba / predict; Keras files are compared when keras is
importable. Every oracle is optional: without it the import says what was not measured.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np

from .graph import Graph, Lowered


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def onnx_outputs(path: Path, tensor: str, x: np.ndarray, raw: bytes | None = None, batch_axis: int = 0) -> np.ndarray:
    """onnxruntime's value of `tensor` [N, ...] for inputs x in the file's own layout, the batch on
    `batch_axis` (1 for a time-first sequence [T, N, F]); raw: the file's bytes as the importer read
    them, else the file is read. A file exported with a fixed batch size runs in batches of that size."""
    import onnx
    import onnxruntime

    model = onnx.load_model_from_string(raw) if raw is not None else onnx.load(str(path))
    if tensor not in {o.name for o in model.graph.output}:
        model.graph.output.append(onnx.helper.make_empty_tensor_value_info(tensor))
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    given = session.get_inputs()[0]
    n = x.shape[batch_axis]
    size = given.shape[batch_axis] if len(given.shape) == x.ndim else None
    size = size if isinstance(size, int) and size > 0 else max(n, 1)  # a dynamic batch: all at once
    parts = []
    for start in range(0, n, size):
        chunk = np.take(x, np.arange(start, min(start + size, n)), axis=batch_axis)
        count = chunk.shape[batch_axis]
        if count < size:  # the last batch of a fixed-size file, padded with zeros (their outputs dropped)
            pad = [(0, 0)] * x.ndim
            pad[batch_axis] = (0, size - count)
            chunk = np.pad(chunk, pad)
        out = np.asarray(session.run([tensor], {given.name: chunk.astype(np.float32)})[0], np.float64)
        parts.append(out.reshape(size, -1)[:count])
    return np.concatenate(parts) if parts else np.zeros((0, 0))


KERAS_BACKENDS = ("tensorflow", "jax", "torch")  # keras 3's own order of preference


def keras_outputs(path: Path, x: np.ndarray) -> np.ndarray:
    """Keras's own predict on x (NHWC); Keras 3 runs on whichever backend is installed."""
    if "KERAS_BACKEND" not in os.environ:
        found = [b for b in KERAS_BACKENDS if importlib.util.find_spec(b) is not None]
        if found:  # keras defaults to tensorflow and fails to import without it
            os.environ["KERAS_BACKEND"] = found[0]
    import keras

    model = keras.saving.load_model(str(path), compile=False)
    return np.asarray(model.predict(x.astype(np.float32), verbose=0), np.float64).reshape(len(x), -1)


def agreement(path: Path | None, graph: Graph, lowered: Lowered, x_framework: np.ndarray, ours: np.ndarray,
              estimator: Any = None, raw: bytes | None = None) -> str:
    """One line: the largest |difference| between the float network and its framework on x."""
    what = "outputs"
    # the samples as the framework takes them: (N, 8, 8, 1) images for a 64-input MLP, (N, 8, 8) for (8, 8, 1)
    x_framework = x_framework.reshape((len(x_framework),) + tuple(graph.input_shape))
    try:
        if estimator is not None:
            regress = type(estimator).__name__ == "MLPRegressor"
            theirs = (estimator.predict(x_framework).reshape(len(ours), -1) if regress
                      else estimator.predict_proba(x_framework))
            ours, what = (ours, "outputs") if regress else (softmax(ours), "probabilities")
            source = "scikit-learn"
        elif path is not None and path.suffix.lower() == ".onnx":
            if importlib.util.find_spec("onnxruntime") is None:
                return "agreement with the framework: not measured (pip install 'nnmodel[onnx]' adds onnxruntime)"
            time_first = graph.layout == "TNF"  # torch's default sequence layout [T, N, F]
            theirs = onnx_outputs(path, lowered.output_tensor, x_framework.transpose(1, 0, 2) if time_first
                                  else x_framework, raw, 1 if time_first else 0)
            source, what = "onnxruntime", "logits"
        elif path is not None and path.suffix.lower() in (".keras", ".h5", ".hdf5"):
            if importlib.util.find_spec("keras") is None:
                return "agreement with the framework: not measured (pip install keras and a backend, e.g. jax)"
            theirs, source = keras_outputs(path, x_framework), "Keras"
            # Keras saves the Softmax inside the last Dense: compare probabilities then
            ours, what = (softmax(ours), "probabilities") if lowered.softmax else (ours, "outputs")
        else:
            return f"agreement with the framework: not measured ({graph.source} has no oracle here)"
    except Exception as exc:  # the oracle's own failure is reported, not fatal: the import stands on its own
        return f"agreement with the framework: not measured ({type(exc).__name__}: {str(exc)[:100]})"
    diff = float(np.abs(ours - theirs).max()) if ours.size else 0.0
    return f"float model vs {source}: max |difference| {diff:.3g} on the {what} of {len(ours)} samples"
