"""maxpool2d: non-overlapping p×p max over an HWC map; output (h // p, w // p, c).

A ragged edge is dropped, as PyTorch's default. No weights, no requantization: the values pass
through. After a conv the planner fuses it into the conv's stage (the running max of raw sums);
on the raw image it is a stage of its own (nnrt_pool_u8).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .base import MAP, Op, Shape, TrainOut, TrainStep
from .conv2d import read_map_shape, shape_text
from .weighted import MAX_DIM


@dataclass
class MaxPool2D:
    """Non-overlapping p×p max over an HWC int8 map; output (h // p, w // p, c) (a ragged edge is
    dropped, as PyTorch's default). No weights, no requantization: the values pass through."""

    in_shape: tuple[int, int, int]
    size: int
    name: str = ""

    kind: ClassVar[str] = "maxpool2d"

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


def windows(x: np.ndarray, p: int) -> np.ndarray:
    """[N, h, w, c] -> [N, h//p, w//p, c, p*p]: each pooling window's values (floor on ragged edges)."""
    n, h, w, c = x.shape
    oh, ow = h // p, w // p
    win = x[:, :oh * p, :ow * p, :].reshape(n, oh, p, ow, p, c).transpose(0, 1, 3, 5, 2, 4)
    return win.reshape(n, oh, ow, c, p * p)


class MaxPool2DOp(Op):
    kind = "maxpool2d"
    layer_type = MaxPool2D
    in_form = MAP
    out_form = MAP
    has_weights = False
    placement = "maxpool2d layers must come first (they consume the image)"
    c_headers = ("nnrt/ops/maxpool2d.h",)

    # ------------------------------------------------------------------------------ file format
    def format_version(self, layer: MaxPool2D) -> int:
        return 2

    def to_json(self, layer: MaxPool2D) -> dict[str, Any]:
        return {"type": self.kind, "name": layer.name, "in_shape": list(layer.in_shape), "size": layer.size}

    def read(self, r: Any, doc: dict, i: int, in_shape: Shape, last: bool) -> MaxPool2D:
        field = f"layers[{i}]"
        shape = read_map_shape(r, doc, i, in_shape)
        size = r.int_in(doc, "size", 1, MAX_DIM, f"{field}.size")
        if size > min(shape[0], shape[1]):
            raise r.fail(f"{field}.size",
                         f"{size} is larger than the {shape[0]}x{shape[1]} input: the output would be empty")
        return MaxPool2D(shape, size, r.get(doc, "name", str, f"{field}.name"))

    def out_shape(self, layer: MaxPool2D, in_shape: Shape) -> Shape:
        return layer.out_shape

    # ------------------------------------------------------------------------------ quantization
    def quantize(self, fl: Any, in_scale: float, in_max: int, per_channel: bool) -> MaxPool2D:
        shape = (int(fl.extra["in_shape"][0]), int(fl.extra["in_shape"][1]), int(fl.extra["in_shape"][2]))
        return MaxPool2D(shape, int(fl.extra["size"]), fl.name)

    # ------------------------------------------------------------------------------ reference
    def forward(self, layer: MaxPool2D, x: np.ndarray) -> np.ndarray:
        return _pool(x, layer.size)

    def float_forward(self, fl: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = _pool(x, int(fl.extra["size"]))
        return y, y

    # ------------------------------------------------------------------------------ payload layout
    def lay_out(self, layer: MaxPool2D) -> tuple[Any, list[tuple[str, bytes]]]:
        from ..codegen.layout import LayerLayout

        return LayerLayout(self.kind, layer.in_features, layer.outputs, bias_width=0,
                           in_shape=tuple(layer.in_shape), pool=layer.size), []

    def descriptor(self, ll: Any) -> dict[str, Any]:
        return {"kind": ll.kind, "in_shape": list(ll.in_shape or ()), "size": ll.pool}

    # ------------------------------------------------------------------------------ training
    def float_extra(self, spec: Any, weight_bits: int) -> dict[str, Any]:
        return {"in_shape": spec.in_shape, "size": spec.size}

    def train_forward(self, spec: Any, params: dict[str, np.ndarray], x: np.ndarray, in_scale: float,
                      in_max: int, q: Any, step: TrainStep) -> TrainOut:
        """Routes the gradient to each window's first maximum."""
        win = windows(x, spec.size)
        arg = win.argmax(axis=-1)
        y = np.take_along_axis(win, arg[..., None], axis=-1)[..., 0]
        return TrainOut(y, in_scale, in_max, {"in_shape": x.shape, "arg": arg})

    def train_backward(self, spec: Any, entry: dict, d: np.ndarray,
                       input_grad: bool) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        arg, in_shape, p = entry["arg"], entry["in_shape"], spec.size
        n, oh, ow, c = arg.shape
        d = d.reshape(arg.shape)
        hot = (arg[..., None] == np.arange(p * p)) * d[..., None]  # [n, oh, ow, c, p*p]
        hot = hot.reshape(n, oh, ow, c, p, p).transpose(0, 1, 4, 2, 5, 3).reshape(n, oh * p, ow * p, c)
        dx = np.zeros((n,) + tuple(in_shape[1:]))
        dx[:, :oh * p, :ow * p, :] = hot
        return {}, dx

    # ------------------------------------------------------------------------------ C lowering
    def lower_image_pool(self, n_q: int, pool: int, dst: str) -> str:
        """Pool the caller's image row into its pooled row `dst`, the running max of a group of
        `pool` rows (r: the row's index)."""
        if pool == 1:
            return f"nnrt_pool_u8(row, {n_q}u, 1u, {dst}, 1u);"
        return f"nnrt_pool_u8(row, {n_q}u, {pool}u, {dst}, (uint8_t)(r % {pool}u == 0u));"

    # ------------------------------------------------------------------------------ description
    def summary(self, layer: MaxPool2D) -> str:
        return (f"maxpool {layer.size}x{layer.size} {shape_text(layer.in_shape)}->{shape_text(layer.out_shape)} "
                "(floor; no weights)")

    def c_word(self, layer: MaxPool2D) -> str:
        return f"maxpool2d:{'x'.join(map(str, layer.in_shape))}->{'x'.join(map(str, layer.out_shape))}"

    def card_row(self, layer: MaxPool2D) -> tuple[str, str, str, str, int]:
        return (f"max-pool {layer.size}×{layer.size}",
                f"{'×'.join(map(str, layer.in_shape))} → {'×'.join(map(str, layer.out_shape))}", "–", "–", 0)


def _pool(x: np.ndarray, p: int) -> np.ndarray:
    """Max over p×p windows of [N, h, w, c], floor (the last rows and columns that fill no window drop)."""
    n, h, w, c = x.shape
    oh, ow = h // p, w // p
    return x[:, :oh * p, :ow * p, :].reshape(n, oh, p, ow, p, c).max(axis=(2, 4))
