"""In-memory model: the input, the layers (each kind's dataclass lives in nnmodel/ops) and labels.

The integer semantics of every field are specified in docs/quantization.md and implemented once:
nnmodel.quant (arithmetic), each kind's Op (nnmodel/ops) and nnmodel.reference (the network).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import ops
from .ops import RNN, Conv2D, Dense, MaxPool2D
from .ops.activation import Activation

# The layer classes live with their kinds; re-exported for `from nnmodel.model import Dense, ...`.
__all__ = ["RNN", "Activation", "Conv2D", "Dense", "InputSpec", "MaxPool2D", "Model"]


@dataclass
class InputSpec:
    """uint8 pixels, zero point 0, fed as `rows` rows of `cols` pixels (one row per call)."""

    rows: int = 28
    cols: int = 28
    scale: float = 1.0 / 255.0

    @property
    def size(self) -> int:
        return self.rows * self.cols


@dataclass
class Model:
    name: str
    input: InputSpec
    layers: list[Any]  # one dataclass per kind (nnmodel.ops); ops.op_of(layer) knows what it holds
    labels: list[str]
    provenance: dict = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return int(self.layers[-1].outputs)

    def macs(self) -> int:
        """Multiply-accumulates for one image."""
        return sum(ops.op_of(layer).macs(layer, self.input.rows) for layer in self.layers)

    def parameter_count(self) -> int:
        return sum(ops.op_of(layer).parameter_count(layer) for layer in self.layers)

    def leading(self, form: str) -> list[Any]:
        """The leading layers that produce `form` (the rows-streamed front of a sequence or map model)."""
        out = []
        for layer in self.layers:
            if ops.op_of(layer).out_form != form:
                break
            out.append(layer)
        return out
