"""scikit-learn MLPClassifier / MLPRegressor as a graph.Graph: from the object, or a pickle/joblib file.

The estimator's own attributes are read (coefs_ [in, out], intercepts_, activation,
out_activation_); nothing of scikit-learn is imported to do so. A binary classifier's single
logistic output z becomes two logits (0, z): the same argmax.
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import NNModelError
from .graph import Graph, Node

ACTIVATIONS = {"relu": "Relu", "tanh": "Tanh", "logistic": "Sigmoid", "identity": None}


def graph_of(est: Any, source: str) -> Graph:
    kind = type(est).__name__
    if kind not in ("MLPClassifier", "MLPRegressor") or not hasattr(est, "coefs_"):
        raise NNModelError(f"{source}: a {kind} (fitted: {hasattr(est, 'coefs_')}); nnmodel imports fitted "
                           "scikit-learn MLPClassifier and MLPRegressor estimators")
    act = ACTIVATIONS.get(est.activation, "?")
    if act == "?":
        raise NNModelError(f"{source}: activation {est.activation!r}; nearest supported form: relu, tanh, logistic "
                           "or identity")
    nodes: list[Node] = []
    weights: dict[str, np.ndarray] = {}
    current = "x"
    last = len(est.coefs_) - 1
    for i, (w, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        w, b = np.asarray(w, np.float64), np.asarray(b, np.float64)
        if i == last and kind == "MLPClassifier" and w.shape[1] == 1:  # binary: logits (0, z)
            w, b = np.hstack([np.zeros_like(w), w]), np.concatenate([[0.0], b])
        weights[f"W{i}"], weights[f"b{i}"] = w, b
        nodes.append(Node("MatMul", f"layer{i}", [current, f"W{i}"], [f"mm{i}"]))
        nodes.append(Node("Add", f"layer{i}_bias", [f"mm{i}", f"b{i}"], [f"z{i}"]))
        current = f"z{i}"
        if i < last and act is not None:
            nodes.append(Node(act, f"layer{i}_{est.activation}", [current], [f"h{i}"]))
            current = f"h{i}"
    labels = [str(c) for c in getattr(est, "classes_", [])] if kind == "MLPClassifier" else []
    output = "dropped: logits keep the argmax" if kind == "MLPClassifier" else "linear"
    notes = [f"scikit-learn {kind}: {len(est.coefs_)} dense layers, activation {est.activation}, output "
             f"{est.out_activation_} ({output})"]
    return Graph(nodes, weights, "x", (int(est.coefs_[0].shape[0]),), "NCHW", source, labels, notes)


def load_estimator(path: Path, raw: bytes) -> Any:
    """A pickled (or joblib-dumped) estimator from `raw`, the bytes of `path` (read once by the caller).
    Unpickling runs code from the file: only files you trust."""
    try:
        import joblib

        return joblib.load(io.BytesIO(raw))
    except ImportError:
        pass
    except Exception as exc:
        raise NNModelError(f"{path}: cannot unpickle ({type(exc).__name__}: {str(exc)[:120]})") from None
    try:
        return pickle.loads(raw)
    except Exception as exc:
        raise NNModelError(f"{path}: cannot unpickle ({type(exc).__name__}: {str(exc)[:120]})") from None
