"""In-memory model: the input, the layers (each kind's dataclass lives in nnmodel/ops), the output.

The integer semantics of every field are specified in docs/quantization.md and implemented once:
nnmodel.quant (arithmetic), each kind's Op (nnmodel/ops) and nnmodel.reference (the network). The
real-valued meaning of the input codes and of the outputs (docs/model-format.md, version 3) is
nnmodel.realvalues.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import ops
from .ops import RNN, Conv2D, Dense, MaxPool2D
from .ops.activation import Activation

# The layer classes live with their kinds; re-exported for `from nnmodel.model import Dense, ...`.
__all__ = ["RNN", "Activation", "Conv2D", "Dense", "Feature", "InputSpec", "MaxPool2D", "Model", "OutputSpec"]

IMAGE, SEQUENCE, VECTOR = "image", "sequence", "vector"  # input kinds: [H, W, C], [T, F], [F]
INPUT_KINDS = (IMAGE, SEQUENCE, VECTOR)


@dataclass(frozen=True)
class Feature:
    """The physical meaning of one input feature's codes: value = scale * (code - zero_point) in
    `unit`; the firmware's raw integers count `step`s of that unit (an ADC count, 1/16 °C)."""

    name: str
    unit: str = ""
    scale: float = 1.0
    zero_point: int = 0  # in the input dtype's codes (int8: -128..127 mean uint8 codes 0..255)
    step: float = 1.0


@dataclass
class InputSpec:
    """The input tensor: fed as `rows` rows of `cols` codes (one row per call).

    A v1/v2 model's input is a uint8 image [rows, cols, 1] whose codes mean scale·code. Version 3
    adds the tensor's kind and shape (a vector [F], a sequence [T, F] or an image [H, W, C]), int8
    codes, and per-feature physical meaning (`features`: one per tensor, or one per F or C).
    `scale` stays the first layer's view: the network reads code·scale (int8: (code + 128)·scale).
    """

    rows: int = 28
    cols: int = 28  # codes per row: F for vectors and sequences, W·C for images
    scale: float = 1.0 / 255.0
    kind: str = IMAGE
    channels: int = 1  # C of an image; 1 otherwise
    dtype: str = "uint8"  # "uint8" or "int8" (the C API's element type)
    features: tuple[Feature, ...] = ()  # () = v1/v2: no physical meaning recorded

    @property
    def size(self) -> int:
        return self.rows * self.cols

    @property
    def shape(self) -> tuple[int, ...]:
        """The tensor's shape without the batch axis: (F,), (T, F) or (H, W, C)."""
        if self.kind == VECTOR:
            return (self.cols,)
        if self.kind == SEQUENCE:
            return (self.rows, self.cols)
        return (self.rows, self.cols // self.channels, self.channels)

    @property
    def n_features(self) -> int:
        """The axis `features` runs along: F, or an image's channels."""
        return self.channels if self.kind == IMAGE else self.cols

    @property
    def is_v3(self) -> bool:
        return (self.kind != IMAGE or self.channels != 1 or self.dtype != "uint8" or bool(self.features))

    @classmethod
    def of_shape(cls, shape: tuple[int, ...], **kw: Any) -> InputSpec:
        """The spec of a tensor shape: (F,) a vector, (T, F) a sequence, (H, W, C) an image."""
        if len(shape) == 1:
            return cls(1, shape[0], kind=VECTOR, **kw)
        if len(shape) == 2:
            return cls(shape[0], shape[1], kind=SEQUENCE, **kw)
        if len(shape) == 3:
            return cls(shape[0], shape[1] * shape[2], kind=IMAGE, channels=shape[2], **kw)
        raise ValueError(f"input shape {shape}: expected (F,), (T, F) or (H, W, C)")

    def describe(self) -> str:
        """e.g. "vector of 6 uint8 codes", "sequence of 32 steps x 3", "image 28x28x1"."""
        if self.kind == VECTOR:
            return f"vector of {self.cols} {self.dtype} codes"
        if self.kind == SEQUENCE:
            return f"sequence of {self.rows} steps x {self.cols} {self.dtype} codes"
        return f"image {'x'.join(map(str, self.shape))} {self.dtype}"


REGRESS, CLASSIFY = "regress", "classify"


@dataclass
class OutputSpec:
    """What the last layer's int32 outputs mean.

    classify: one logit per label; the class is the largest. regress: output k's physical value
    is acc_scale[k]·output[k] (zero point 0: the bias carries any offset) in units[k]; firmware
    reads it as an integer count of steps[k].
    """

    task: str = CLASSIFY
    units: tuple[str, ...] = ()  # regress: one per output
    steps: tuple[float, ...] = ()  # regress: the integer form's unit per output, e.g. 0.001

    @property
    def is_v3(self) -> bool:
        return self.task != CLASSIFY


@dataclass
class Model:
    name: str
    input: InputSpec
    layers: list[Any]  # one dataclass per kind (nnmodel.ops); ops.op_of(layer) knows what it holds
    labels: list[str]  # classify: class names; regress: output names
    provenance: dict = field(default_factory=dict)
    output: OutputSpec = field(default_factory=OutputSpec)

    @property
    def n_classes(self) -> int:
        """Outputs of the last layer: classes, or regression outputs."""
        return int(self.layers[-1].outputs)

    @property
    def is_regression(self) -> bool:
        return self.output.task == REGRESS

    def macs(self) -> int:
        """Multiply-accumulates for one input."""
        return sum(ops.op_of(layer).macs(layer, self.input.rows) for layer in self.layers)

    def parameter_count(self) -> int:
        return sum(ops.op_of(layer).parameter_count(layer) for layer in self.layers)

    def sequence_front(self) -> list[Any]:
        """The recurrent layers stepped once per row: first in the model, or after pools/convs of the image."""
        n_map = len(self.leading(ops.MAP))
        out = []
        for layer in self.layers[n_map:]:
            if ops.op_of(layer).out_form != ops.SEQUENCE:
                break
            out.append(layer)
        return out

    def leading(self, form: str) -> list[Any]:
        """The leading layers that produce `form` (the rows-streamed front of a sequence or map model)."""
        out = []
        for layer in self.layers:
            if ops.op_of(layer).out_form != form:
                break
            out.append(layer)
        return out
