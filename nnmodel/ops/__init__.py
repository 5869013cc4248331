"""The layer kinds: one module each, and the registry that maps a kind's name to its Op.

Code outside this package asks the registry (`op_of(layer)`, `get(kind)`) and never branches on a
kind's name; a new kind is a module here, its entry below, and its C header in lib/nnrt
(docs/architecture.md has the checklist).
"""
from __future__ import annotations

from typing import Any

from .base import MAP, SEQUENCE, VECTOR, Layer, Op, adapt, adapt_back, adapt_shape, input_shape
from .conv2d import Conv2D, Conv2DOp
from .dense import Dense, DenseOp
from .gru import GRU, GRUOp
from .lstm import LSTM, LSTMOp
from .maxpool2d import MaxPool2D, MaxPool2DOp
from .rnn import RNN, RNNOp

# In the order error messages list them.
REGISTRY: dict[str, Op] = {op.kind: op for op in (DenseOp(), RNNOp(), GRUOp(), LSTMOp(), Conv2DOp(), MaxPool2DOp())}


def get(kind: str) -> Op | None:
    """The Op of a kind's name (as files and FloatLayers spell it), or None if unknown."""
    return REGISTRY.get(kind)


def op_of(layer: Layer) -> Any:
    """The Op of a layer object. Typed Any: each Op's methods take its own layer type."""
    return REGISTRY[layer.kind]


def kinds() -> list[str]:
    return list(REGISTRY)


__all__ = [
    "GRU",
    "LSTM",
    "MAP",
    "REGISTRY",
    "RNN",
    "SEQUENCE",
    "VECTOR",
    "Conv2D",
    "Dense",
    "Layer",
    "MaxPool2D",
    "Op",
    "adapt",
    "adapt_back",
    "adapt_shape",
    "get",
    "input_shape",
    "kinds",
    "op_of",
]
