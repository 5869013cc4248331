"""In-memory model: the architecture, float weights and the integer tensors the reference and C run.

The integer semantics of every field are specified in docs/quantization.md and implemented once,
in nnmodel.quant (arithmetic) and nnmodel.reference (the network).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

import numpy as np

# Output clamp range [lo, hi] of each activation, applied after requantization. "none" marks the
# logits layer: its int32 accumulators are the output, with no requantization.
ACTIVATION_RANGES: dict[str, tuple[int, int] | None] = {
    "none": None,
    "linear": (-128, 127),
    "relu": (0, 127),
    "hardtanh": (-127, 127),  # output scale is 1/127, so the clamp *is* hard-tanh
    "lut": (-128, 127),  # clamp of the table index, then y = lut[index + 128]
}


@dataclass
class Activation:
    kind: str
    lut: np.ndarray | None = None  # int8[256] for kind == "lut"
    lut_in_scale: float = 0.0  # real value of one step of the table index
    function: str = ""  # what the table approximates ("tanh", "selu"), for people and the trainer

    @property
    def clamp(self) -> tuple[int, int]:
        rng = ACTIVATION_RANGES[self.kind]
        assert rng is not None, "the logits layer has no clamp"
        return rng

    @property
    def out_min(self) -> int:
        """Smallest value this activation can output (0 for ReLU-like clamps: no negative inputs next)."""
        if self.kind == "lut":
            assert self.lut is not None
            return int(self.lut.min())
        return self.clamp[0]

    @property
    def out_max_abs(self) -> int:
        """Largest |value| this activation can output: the bound the overflow proof feeds forward."""
        if self.kind == "lut":
            assert self.lut is not None
            return int(np.abs(self.lut.astype(np.int64)).max())
        lo, hi = self.clamp
        return max(abs(lo), abs(hi))


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
class Dense:
    """y = act(requant(b_q + W_q · x)). As the first layer it consumes the whole image, row by row."""

    in_features: int
    out_features: int
    activation: Activation
    w: np.ndarray  # float32 [out, in], kept for retraining
    b: np.ndarray  # float32 [out]
    w_q: np.ndarray  # int8 [out, in]
    b_q: np.ndarray  # int32 [out], in accumulator scale
    in_scale: float
    acc_scale: np.ndarray  # float64 [1] or [out]: real value of one accumulator step
    out_scale: float  # real value of one output step (0.0 for the logits layer)
    mult: np.ndarray  # int32 [1] or [out], 1..MULT_MAX (empty for the logits layer)
    shift: np.ndarray  # int32 [1] or [out], 0..SHIFT_MAX (empty for the logits layer)
    name: str = ""
    weight_bits: int = 8  # 4: w_q holds -8..7 and is stored two per byte

    kind = "dense"

    @property
    def outputs(self) -> int:
        return self.out_features


@dataclass
class Conv2D:
    """Valid k×k convolution, stride 1, over an HWC feature map (the image is H×W×1):
    y[i, j, o] = act(requant(b_q[o] + Σ_{dy, dx, c} w_q[o, dy, dx, c] · x[i+dy, j+dx, c])).

    Output (h-k+1, w-k+1, out_channels), HWC. Weights are ordered [out][dy][dx][in], so one output's
    taps over one input row are contiguous, as the HWC rows that stream in.
    """

    in_shape: tuple[int, int, int]  # (h, w, channels)
    out_channels: int
    kernel: int
    activation: Activation
    w: np.ndarray  # float32 [out, k, k, in]
    b: np.ndarray  # float32 [out]
    w_q: np.ndarray  # int8 [out, k, k, in]
    b_q: np.ndarray  # int32 [out]
    in_scale: float
    acc_scale: np.ndarray  # float64 [1] or [out]
    out_scale: float
    mult: np.ndarray  # int32 [1] or [out]
    shift: np.ndarray  # int32 [1] or [out]
    name: str = ""
    weight_bits: int = 8

    kind = "conv2d"

    @property
    def out_shape(self) -> tuple[int, int, int]:
        h, w, _ = self.in_shape
        return (h - self.kernel + 1, w - self.kernel + 1, self.out_channels)

    @property
    def in_features(self) -> int:
        return self.in_shape[0] * self.in_shape[1] * self.in_shape[2]

    @property
    def taps(self) -> int:
        """Weights per output channel: k·k·in."""
        return self.kernel * self.kernel * self.in_shape[2]

    @property
    def outputs(self) -> int:
        h, w, c = self.out_shape
        return h * w * c


@dataclass
class MaxPool2D:
    """Non-overlapping p×p max over an HWC int8 map; output (h // p, w // p, c) (a ragged edge is
    dropped, as PyTorch's default). No weights, no requantization: the values pass through."""

    in_shape: tuple[int, int, int]
    size: int
    name: str = ""

    kind = "maxpool2d"

    @property
    def out_shape(self) -> tuple[int, int, int]:
        h, w, c = self.in_shape
        return (h // self.size, w // self.size, c)

    @property
    def in_features(self) -> int:
        return self.in_shape[0] * self.in_shape[1] * self.in_shape[2]

    @property
    def outputs(self) -> int:
        h, w, c = self.out_shape
        return h * w * c


@dataclass
class RNN:
    """Elman step h_t = act(requant(b_q + W_ih_q · x_t + W_hh_q · h_{t-1})), h_0 = 0.

    Both products land in one int32 accumulator, so W_ih is quantized with scale acc_scale/in_scale
    and W_hh with acc_scale/out_scale: one accumulator scale, one requantization per unit.
    """

    in_features: int
    units: int
    activation: Activation
    w_ih: np.ndarray  # float32 [units, in]
    w_hh: np.ndarray  # float32 [units, units]
    b: np.ndarray  # float32 [units]
    w_ih_q: np.ndarray  # int8
    w_hh_q: np.ndarray  # int8
    b_q: np.ndarray  # int32
    in_scale: float
    acc_scale: np.ndarray  # float64 [1] or [units]
    out_scale: float
    mult: np.ndarray  # int32 [1] or [units]
    shift: np.ndarray  # int32 [1] or [units]
    name: str = ""

    kind = "rnn"

    @property
    def outputs(self) -> int:
        return self.units


Layer = Union[Dense, RNN, Conv2D, MaxPool2D]
# Layers that multiply-accumulate (everything but pooling)
WeightLayer = Union[Dense, RNN, Conv2D]


def has_weights(layer: Layer) -> bool:
    return not isinstance(layer, MaxPool2D)


@dataclass
class Model:
    name: str
    input: InputSpec
    layers: list[Layer]
    labels: list[str]
    provenance: dict = field(default_factory=dict)

    @property
    def rnn_front(self) -> list[RNN]:
        """The leading stack of RNN layers (run once per input row); empty for a dense-first model."""
        front: list[RNN] = []
        for layer in self.layers:
            if not isinstance(layer, RNN):
                break
            front.append(layer)
        return front

    @property
    def conv_front(self) -> list[Conv2D | MaxPool2D]:
        """The leading conv/pool stack (fed by input rows); empty for other models."""
        front: list[Conv2D | MaxPool2D] = []
        for layer in self.layers:
            if not isinstance(layer, (Conv2D, MaxPool2D)):
                break
            front.append(layer)
        return front

    @property
    def n_classes(self) -> int:
        return self.layers[-1].outputs

    def macs(self) -> int:
        """Multiply-accumulates for one image."""
        total = 0
        for layer in self.layers:
            if isinstance(layer, RNN):
                total += self.input.rows * layer.units * (layer.in_features + layer.units)
            elif isinstance(layer, Conv2D):
                total += layer.outputs * layer.taps
            elif isinstance(layer, Dense):
                total += layer.in_features * layer.out_features
        return total

    def parameter_count(self) -> int:
        total = 0
        for layer in self.layers:
            if isinstance(layer, RNN):
                total += layer.w_ih_q.size + layer.w_hh_q.size + layer.b_q.size
            elif has_weights(layer):
                total += layer.w_q.size + layer.b_q.size
        return total
