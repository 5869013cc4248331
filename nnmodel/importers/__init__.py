"""Import weights trained elsewhere: ONNX (PyTorch, scikit-learn via skl2onnx, TensorFlow via tf2onnx),
Keras (.keras, .h5) and scikit-learn MLPs, quantized after training on calibration data.

    read_graph(path) -> graph.Graph          each format's reader (optional extras: onnx, keras)
    graph.lower(g) -> Lowered                 nnmodel's layer kinds, or one line naming the node
    calibrate.quantize_lowered(...) -> Model  the trainer's export path, scales from the data

`nnmodel import` (nnmodel/commands/importer.py) and the pre-build (a custom_nnmodel_model that is a
framework file) call import_file; `from_sklearn` is the Python API for an estimator in hand.
docs/import.md lists every supported op and layer.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets.samples import Samples
from ..errors import NNModelError
from ..fsutil import InputFiles
from ..model import REGRESS, Model
from ..train.data import Units
from .calibrate import float_forward, quantize_lowered, shaped
from .graph import Graph, Lowered, lower

SUFFIXES = {".onnx": "onnx", ".keras": "keras", ".h5": "keras", ".hdf5": "keras", ".pkl": "sklearn",
            ".pickle": "sklearn", ".joblib": "sklearn"}
EXTRAS = {"onnx": ("onnx", "nnmodel[onnx]"), "keras": ("h5py", "nnmodel[keras]")}


def format_of(path: Path) -> str | None:
    return SUFFIXES.get(path.suffix.lower())


def require(extra: str, path: Path) -> None:
    module, package = EXTRAS[extra]
    if importlib.util.find_spec(module) is None:
        raise NNModelError(f"{path}: reading {extra} files needs the {module!r} package; run: pip install "
                           f"'{package}'")


def read_graph(path: Path, inputs: InputFiles | None = None) -> Graph:
    """The file's network as a Graph (the reader chosen by suffix). The file is read once, size and type
    checked first, from `inputs` (the pre-build hashes the same bytes), and each reader parses those bytes."""
    kind = format_of(path)
    raw = (inputs or InputFiles()).model(path)
    if kind == "onnx":
        require("onnx", path)
        from .onnx_reader import read_onnx

        return read_onnx(path, raw)
    if kind == "keras":
        require("keras", path)
        from .keras_reader import read_keras

        return read_keras(path, raw)
    if kind == "sklearn":
        from .sklearn_reader import graph_of, load_estimator

        return graph_of(load_estimator(path, raw), str(path))
    raise NNModelError(f"{path}: unknown model format; nnmodel imports .onnx, .keras, .h5 and pickled scikit-learn "
                       "MLPs (.pkl, .joblib), and reads its own .nnm")


@dataclass
class Imported:
    model: Model
    lowered: Lowered
    float_outputs: np.ndarray  # the float network's outputs on the calibration samples (physical units)
    report: list[str] = field(default_factory=list)


def samples_for(graph: Graph, lowered: Lowered, samples: Samples) -> np.ndarray:
    """The samples in nnmodel's layout (HWC): a framework image input in NCHW takes [N, C, H, W] data;
    sequences are [N, T, F] whichever axis the framework batches on."""
    x = np.asarray(samples.x, np.float64)
    want = graph.input_shape
    if tuple(x.shape[1:]) == tuple(want):
        if len(want) == 3 and graph.layout == "NCHW":
            x = x.transpose(0, 2, 3, 1)
        return x.reshape((len(x),) + lowered.input_shape)
    if len(want) == 1 and int(np.prod(x.shape[1:])) == want[0]:  # e.g. 8x8 images for a 64-input MLP
        return x.reshape(len(x), want[0])
    if len(want) == 2 and x.ndim == 2 and x.shape[1] == want[0] * want[1]:  # CSV rows of T·F values, step by step
        return x.reshape(len(x), want[0], want[1])
    if len(want) == 3:  # one channel may come as [N, H, W]
        channels, hw = (want[0], want[1:]) if graph.layout == "NCHW" else (want[2], want[:2])
        if channels == 1 and tuple(x.shape[1:]) == tuple(hw):
            return x.reshape((len(x),) + lowered.input_shape)
    if len(want) == 2:
        raise NNModelError(f"{samples.source}: samples have shape {'x'.join(map(str, x.shape[1:]))}, but "
                           f"{graph.source} takes sequences of {want[0]} steps x {want[1]} values: give them as "
                           f"[N, {want[0]}, {want[1]}] (samples first, whatever the framework's batch axis), or CSV "
                           f"rows of {want[0] * want[1]} values, step after step")
    raise NNModelError(f"{samples.source}: samples have shape {'x'.join(map(str, x.shape[1:]))}, but "
                       f"{graph.source} takes {'x'.join(map(str, want))} ({graph.layout} as its framework lays it "
                       "out)")


def import_graph(graph: Graph, samples: Samples, *, name: str, per_channel: bool = False, weight_bits: int = 8,
                 units: Units | None = None, provenance: dict | None = None) -> Imported:
    """Lower, calibrate on the samples and quantize; the report says what happened and how well."""
    lowered = lower(graph)
    x = samples_for(graph, lowered, samples)
    task = samples.task
    n_out = len(lowered.layers[-1].weights["b"])
    if task == REGRESS:
        targets = np.asarray(samples.y, np.float64).reshape(len(samples), -1)
        names = list(samples.label_names)
        if targets.shape[1] != n_out:
            raise NNModelError(f"{samples.source}: {targets.shape[1]} target column(s), {graph.source} has {n_out} "
                               "outputs")
    else:
        targets = np.asarray(samples.y, np.int64)
        names = lowered.labels or (list(samples.label_names) if len(samples.label_names) == n_out
                                   else [str(i) for i in range(n_out)])
        if len(names) != n_out:
            raise NNModelError(f"{graph.source}: {n_out} outputs but {len(names)} class names")
    quantized = quantize_lowered(lowered, x, targets, task, names, list(samples.feature_names), units or Units({}),
                                 name, per_channel, weight_bits, provenance or {}, samples.source)
    first = lowered.layers[0]
    from .. import ops

    op = ops.get(first.kind)
    assert op is not None
    outputs = float_forward(lowered.layers, shaped(x, lowered.input_shape, op.in_form), op.in_form).out[-1]
    return Imported(quantized.model, lowered, outputs,
                    ["graph:"] + [f"  {line}" for line in lowered.chain] + [f"note: {n}" for n in lowered.notes])


def from_sklearn(estimator: Any, x_calib: np.ndarray, y: np.ndarray | None = None, *, name: str = "sklearn_mlp",
                 per_channel: bool = False, weight_bits: int = 8) -> Model:
    """A fitted MLPClassifier/MLPRegressor as an integer Model, calibrated on x_calib [N, F]."""
    from .sklearn_reader import graph_of

    graph = graph_of(estimator, type(estimator).__name__)
    x = np.asarray(x_calib, np.float64)
    regress = type(estimator).__name__ == "MLPRegressor"
    if y is None:
        y = estimator.predict(x)
    if regress:
        target = np.asarray(y, np.float64).reshape(len(x), -1)
        labels = [f"y{i}" for i in range(target.shape[1])] if target.shape[1] > 1 else ["y"]
    else:
        classes = [str(c) for c in estimator.classes_]
        index = {c: i for i, c in enumerate(classes)}
        target = np.array([index[str(v)] for v in y], np.int64)
        labels = classes
    samples = Samples(x, target, "regress" if regress else "classify", [f"x{i}" for i in range(x.shape[1])],
                      labels, [bool(np.all(x[:, i] == np.round(x[:, i]))) for i in range(x.shape[1])],
                      "x_calib")
    return import_graph(graph, samples, name=name, per_channel=per_channel, weight_bits=weight_bits).model
