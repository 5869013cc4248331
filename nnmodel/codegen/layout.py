"""Lay a model's integers out as one byte payload, the same bytes for every storage kind.

Per layer, in order, what its kind's Op lays out (Op.lay_out); for the weighted kinds: weights,
biases, multipliers (LE16), shifts (1 byte), then the LUT (256 int8). Weights are the integer
tensor in row-major order ([out][in] dense, [out][dy][dx][in] conv): one byte each for int8, two
per byte for int4 (element 2i in the low nibble of byte i, 2i+1 in the high one; an odd count pads
the last high nibble with 0). Biases take 1, 2 or 4 bytes LE each: the narrowest that holds them;
an int4 layer's biases are stored shifted right by `bias_shift` (its coarse int8 << k biases,
quant.coarse_bias), which the generated code shifts back. Pooling layers have no bytes.
"""
from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass, field

from .. import ops
from ..model import Model
from ..ops.weighted import bias_encoding, bias_width, pack_int4

__all__ = ["LayerLayout", "Layout", "bias_encoding", "bias_width", "lay_out", "pack_int4"]


@dataclass
class LayerLayout:
    """Where one layer's tensors sit in the payload and how they are encoded."""

    kind: str
    n_in: int
    n_out: int
    offsets: dict[str, int] = field(default_factory=dict)  # field -> payload offset
    bias_width: int = 4
    per_channel: bool = False
    clamp: tuple[int, int] | None = None  # None for the logits layer
    has_lut: bool = False
    weight_bits: int = 8
    bias_shift: int = 0  # b_q = stored bias << bias_shift
    in_shape: tuple[int, ...] | None = None  # conv/pool
    kernel: int = 0  # conv
    pool: int = 0  # maxpool size
    channels: int = 0  # conv output channels
    size: int = 0  # bytes in the payload
    options: dict = field(default_factory=dict)  # kind-specific switches of the generated code (gru: reset_after)

    def describe(self) -> dict:
        """Everything generated code assumes about this layer's bytes (its kind's Op.descriptor)."""
        op = ops.get(self.kind)
        assert op is not None
        return op.descriptor(self)


@dataclass
class Layout:
    payload: bytes
    layers: list[LayerLayout]
    model_hash: int  # identifies payload + everything the generated code assumes about it


def lay_out(model: Model) -> Layout:
    chunks: list[bytes] = []
    layers: list[LayerLayout] = []
    offset = 0
    for layer in model.layers:
        ll, tensors = ops.op_of(layer).lay_out(layer)
        start = offset
        for name, data in tensors:
            ll.offsets[name] = offset
            chunks.append(data)
            offset += len(data)
        ll.size = offset - start
        layers.append(ll)
    payload = b"".join(chunks)
    descriptor = json.dumps({"input": [model.input.rows, model.input.cols],
                             "layers": [ll.describe() for ll in layers]}, sort_keys=True).encode()
    digest = hashlib.sha256(b"nnmodel-layout-1\0" + descriptor + b"\0" + payload).digest()
    return Layout(payload, layers, struct.unpack("<I", digest[:4])[0])
