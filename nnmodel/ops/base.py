"""What every layer kind provides, and the tensor forms that pass between layers.

A layer consumes and produces one of three forms (the batch axis first):

    vector    [N, F]        dense
    sequence  [N, T, F]     one step per input row (rnn); a vector layer after it reads the last step
    map       [N, H, W, C]  one HWC row per input row (conv2d, maxpool2d); a vector layer after it
                            reads it flattened in HWC order

The input [N, rows, cols] enters in the first layer's form: a map (rows, cols/C, C), a sequence of
rows, or a vector of rows·cols codes. `adapt_shape`/`adapt` are the only conversions; a layer
whose form cannot be reached from the previous one is refused by the loader.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

VECTOR, SEQUENCE, MAP = "vector", "sequence", "map"
Shape = tuple[int, ...]  # without the batch axis: (F,), (T, F) or (H, W, C)


class Layer(Protocol):
    """What generic code may read from any layer; everything else belongs to its kind's Op."""

    kind: ClassVar[str]
    name: str

    @property
    def outputs(self) -> int: ...


def input_shape(rows: int, cols: int, form: str, channels: int = 1) -> Shape:
    """The input (`rows` rows of `cols` codes, an image's rows holding cols/channels pixels of
    `channels` values) as the first layer sees it."""
    return {MAP: (rows, cols // channels, channels), SEQUENCE: (rows, cols), VECTOR: (rows * cols,)}[form]


def adapt_shape(shape: Shape, src: str, dst: str) -> Shape | None:
    """Shape after converting form src to dst; None when a dst layer cannot follow a src one."""
    if src == dst:
        return shape
    if dst == VECTOR and src == MAP:
        return (int(np.prod(shape)),)
    if dst == VECTOR and src == SEQUENCE:
        return (shape[1],)
    if dst == SEQUENCE and src == MAP:  # a map's rows are the steps (pools of the raw image, then a recurrence)
        return (shape[0], shape[1] * shape[2])
    return None


def adapt(x: np.ndarray, src: str, dst: str) -> np.ndarray:
    """The data conversion of adapt_shape (batch axis first)."""
    if src == dst:
        return x
    if src == MAP:
        return x.reshape(len(x), x.shape[1], -1) if dst == SEQUENCE else x.reshape(len(x), -1)
    return x[:, -1, :]


def adapt_back(d: np.ndarray, x_shape: tuple[int, ...], src: str, dst: str) -> np.ndarray:
    """Gradient through adapt(): d has adapt()'s output shape, the result x_shape (the input's)."""
    if src == dst:
        return d
    if src == MAP:
        return d.reshape(x_shape)
    out = np.zeros(x_shape)
    out[:, -1, :] = d
    return out


@dataclass
class TrainStep:
    """What one layer's training forward needs besides its parameters and input."""

    first: bool  # the network's first layer: it trains on standardized inputs (Network.input_mean/std)
    # One value, or one per element of the input's last axis (dense: inputs, rnn: a step's, conv: channels)
    mean: float | np.ndarray = 0.0
    std: float | np.ndarray = 1.0
    leak: float = 0.0  # surrogate slope of a saturated hard-tanh recurrence (backward only)
    weight: np.ndarray | None = None  # the exported (clipped) float weight "w", for ops that clip it

    def standardize(self, x_real: np.ndarray) -> np.ndarray:
        return (x_real - self.mean) / self.std if self.first else x_real


@dataclass
class TrainOut:
    """A layer's training forward: its output, its scale and bound, and what backward needs."""

    y: np.ndarray
    scale: float  # real value of one output step (1.0 for float outputs)
    in_max: int  # bound on |output| for the next layer's exact integer product
    entry: dict = field(default_factory=dict)


class Op:
    """One layer kind. Subclasses set the class attributes and implement the methods that apply.

    Sections follow the chain: file format, quantization, integer reference, overflow proof,
    payload layout, C lowering, training, description. docs/architecture.md lists what a new kind
    must provide.
    """

    kind: ClassVar[str]
    layer_type: ClassVar[type]
    in_form: ClassVar[str]
    out_form: ClassVar[str]
    has_weights: ClassVar[bool] = True
    clips_weight: ClassVar[bool] = False  # a float weight "w" whose range QAT may learn (Network.add_clips)
    takes_dropout: ClassVar[bool] = False  # training may drop its inputs
    # What the loader says when this kind follows a layer whose form it cannot read.
    placement: ClassVar[str] = ""
    # The runtime headers generated code includes for this kind (lib/nnrt/include/).
    c_headers: ClassVar[tuple[str, ...]] = ()

    # ------------------------------------------------------------------------------ file format
    def format_version(self, layer: Any) -> int:
        """Oldest .nnm version that can hold this layer."""
        return 1

    def to_json(self, layer: Any) -> dict[str, Any]:
        raise NotImplementedError

    def tensors(self, layer: Any) -> list[tuple[str, str, np.ndarray]]:
        """(field, dtype, array) of every tensor the file stores for this layer, in file order."""
        return []

    def read(self, r: Any, doc: dict, i: int, in_shape: Shape, last: bool) -> Any:
        """The layer from its JSON and tensors (r: fileformat's validating reader); in_shape is what
        the previous layer (or the image) gives, in this kind's in_form."""
        raise NotImplementedError

    def out_shape(self, layer: Any, in_shape: Shape) -> Shape:
        raise NotImplementedError

    # ------------------------------------------------------------------------------ quantization
    def quantize(self, fl: Any, in_scale: float, in_max: int, per_channel: bool) -> Any:
        """The integer layer from a quantize.FloatLayer, given its input's scale and |bound|."""
        raise NotImplementedError

    def next_input(self, layer: Any, in_scale: float, in_max: int) -> tuple[float, int]:
        """(scale, |bound|) of this layer's output, the next layer's input."""
        return in_scale, in_max

    def float_forward(self, fl: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(pre-activation, output) of a quantize.FloatLayer in float, for real-valued x in in_form:
        what an importer compares with the framework the weights came from, and calibrates on."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------ reference
    def forward(self, layer: Any, x: np.ndarray) -> np.ndarray:
        """Integer reference: int64 output in out_form for int64 input in in_form."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------ overflow proof
    def accumulator_bounds(self, layer: Any, in_max: int) -> np.ndarray | None:
        """Per output: the largest |partial sum| for inputs |x| <= in_max; None: no accumulator."""
        return None

    def requant_rows(self, layer: Any) -> tuple[np.ndarray, np.ndarray]:
        """(M, S) as the proof pairs them with accumulator_bounds: [1] (one for all) or one per output."""
        return layer.mult, layer.shift

    # ------------------------------------------------------------------------------ sizes
    def accumulators(self, layer: Any) -> int:
        """int32 accumulators one evaluation (or step) of the layer needs."""
        return int(layer.outputs)

    def macs(self, layer: Any, steps: int) -> int:
        """Multiply-accumulates for one input (steps: rows fed)."""
        return 0

    def parameter_count(self, layer: Any) -> int:
        return 0

    # ------------------------------------------------------------------------------ payload layout
    def lay_out(self, layer: Any) -> tuple[Any, list[tuple[str, bytes]]]:
        """(codegen.layout.LayerLayout without offsets, [(field, bytes)] in payload order)."""
        raise NotImplementedError

    def descriptor(self, ll: Any) -> dict[str, Any]:
        """Everything generated code assumes about the layer's bytes: it enters the model hash."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------ C lowering
    def state_decls(self, layer: Any, state: str) -> list[tuple[str, str, int, int]]:
        """A recurrent layer's static buffers kept across rows, zeroed by begin(): (C name, C type,
        count, bytes each); the first is its int8 state `state`, which the next layer reads."""
        return [(state, "int8_t", int(layer.outputs), 1)]

    def state_size(self, layer: Any) -> int:
        """SRAM bytes of state_decls."""
        return sum(n * size for _, _, n, size in self.state_decls(layer, ""))

    # ------------------------------------------------------------------------------ training
    def init_params(self, spec: Any, rng: np.random.Generator, init_ih: float) -> dict[str, np.ndarray]:
        return {}

    def float_extra(self, spec: Any, weight_bits: int) -> dict[str, Any]:
        """quantize.FloatLayer.extra for an arch LayerSpec."""
        return {}

    def train_forward(self, spec: Any, params: dict[str, np.ndarray], x: np.ndarray, in_scale: float,
                      in_max: int, q: Any, step: TrainStep) -> TrainOut:
        """Float forward (q None) or the QAT forward through the integer layer q."""
        raise NotImplementedError

    def train_backward(self, spec: Any, entry: dict, d: np.ndarray,
                       input_grad: bool) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """(parameter gradients, dLoss/dinput or None when not input_grad) from dLoss/doutput."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------ description
    def summary(self, layer: Any) -> str:
        """Short shape text for `nnmodel info`, e.g. "dense 784->32"."""
        raise NotImplementedError

    def activation_text(self, layer: Any) -> str:
        """The activation column of `nnmodel info`."""
        return str(layer.activation.kind)

    def c_word(self, layer: Any) -> str:
        """The layer in the generated LAYERS string: kind:in->out:activation[:w4]."""
        raise NotImplementedError

    def card_row(self, layer: Any) -> tuple[str, str, str, str, int]:
        """(kind, in → out, activation, weights, parameters) for the model card's table."""
        raise NotImplementedError

    def weight_tensors(self, layer: Any) -> list[tuple[str, np.ndarray, int]]:
        """(label, integer codes as stored, bits) of each weight matrix, for the report."""
        return []
