"""Lay a model's integers out as one byte payload, the same bytes for every storage kind.

Per layer, in order: weights, biases, multipliers (LE16), shifts (1 byte), then the LUT (256 int8).
Weights are the integer tensor in row-major order ([out][in] dense, [out][dy][dx][in] conv): one
byte each for int8, two per byte for int4 (element 2i in the low nibble of byte i, 2i+1 in the
high one; an odd count pads the last high nibble with 0). Biases take 1, 2 or 4 bytes LE each: the
narrowest that holds them; an int4 layer's biases are stored shifted right by `bias_shift` (its
coarse int8 << k biases, quant.coarse_bias), which the generated code shifts back. Pooling layers
have no bytes.
"""
from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass, field

import numpy as np

from ..model import RNN, Conv2D, Dense, Layer, MaxPool2D, Model


@dataclass
class LayerLayout:
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
    in_shape: tuple[int, int, int] | None = None  # conv/pool
    kernel: int = 0  # conv
    pool: int = 0  # maxpool size
    channels: int = 0  # conv output channels

    def describe(self) -> dict:
        """Everything generated code assumes about this layer's bytes (the keys of int8 dense/RNN
        layers are those of layout 1, so existing models keep their hash)."""
        if self.kind == "maxpool2d":
            return {"kind": self.kind, "in_shape": list(self.in_shape or ()), "size": self.pool}
        d = {"kind": self.kind, "n_in": self.n_in, "n_out": self.n_out, "offsets": self.offsets,
             "bias_width": self.bias_width, "per_channel": self.per_channel,
             "clamp": self.clamp, "has_lut": self.has_lut}
        if self.kind == "conv2d":
            d.update(in_shape=list(self.in_shape or ()), kernel=self.kernel, channels=self.channels)
        if self.kind == "conv2d" or self.weight_bits != 8 or self.bias_shift:
            d.update(weight_bits=self.weight_bits, bias_shift=self.bias_shift)
        return d


@dataclass
class Layout:
    payload: bytes
    layers: list[LayerLayout]
    model_hash: int  # identifies payload + everything the generated code assumes about it


def bias_width(b_q: np.ndarray) -> int:
    lo, hi = (int(b_q.min()), int(b_q.max())) if b_q.size else (0, 0)
    for width in (1, 2):
        if -(1 << (8 * width - 1)) <= lo and hi < (1 << (8 * width - 1)):
            return width
    return 4


def bias_encoding(b_q: np.ndarray, weight_bits: int) -> tuple[int, int]:
    """(width, shift) of the stored biases: b_q == stored << shift exactly, stored in `width` bytes.

    int8 layers keep shift 0 (their bytes are as in layout 1). int4 layers take the narrowest width,
    then the smallest shift, that holds them exactly: coarse biases (multiples of 2^k that fit int8
    after the shift) take one byte each.
    """
    b = np.asarray(b_q, np.int64)
    if weight_bits == 8 or not b.size or not b.any():
        return bias_width(b_q), 0
    tz = min(int(v & -v).bit_length() - 1 for v in np.abs(b[b != 0]))  # common trailing zero bits
    for width in (1, 2, 4):
        for k in range(tz + 1):
            if bias_width(b >> k) <= width:
                return width, k
    return 4, 0  # unreachable: int32 values always fit 4 bytes with k = 0


def pack_int4(w_q: np.ndarray) -> bytes:
    """Row-major elements two per byte: element 2i in the low nibble of byte i, 2i+1 in the high one."""
    v = np.asarray(w_q, np.int64).reshape(-1)
    if v.size and (v.min() < -8 or v.max() > 7):
        raise ValueError("int4 weights must be in -8..7")
    n = (v & 0xF).astype(np.uint8)
    if n.size % 2:
        n = np.append(n, np.uint8(0))
    return (n[0::2] | (n[1::2] << 4)).astype(np.uint8).tobytes()


def _le(values: np.ndarray, width: int) -> bytes:
    dtype = {1: "<i1", 2: "<i2", 4: "<i4"}[width]
    return np.ascontiguousarray(values, dtype=np.int64).astype(dtype).tobytes()


def _weights(m: np.ndarray, bits: int) -> bytes:
    return pack_int4(m) if bits == 4 else np.ascontiguousarray(m, np.int8).tobytes()


def _tensors(layer: Layer, width: int, shift: int) -> list[tuple[str, bytes]]:
    bits = getattr(layer, "weight_bits", 8)
    mats = [("w_ih", layer.w_ih_q), ("w_hh", layer.w_hh_q)] if isinstance(layer, RNN) else [("w", layer.w_q)]
    out = [(name, _weights(m, bits)) for name, m in mats]
    out.append(("bias", _le(np.asarray(layer.b_q, np.int64) >> shift, width)))
    if layer.activation.kind != "none":
        out.append(("mult", _le(layer.mult, 2)))
        out.append(("shift", np.asarray(layer.shift, np.uint8).tobytes()))
    if layer.activation.kind == "lut":
        out.append(("lut", np.asarray(layer.activation.lut, np.int8).tobytes()))
    return out


def lay_out(model: Model) -> Layout:
    chunks: list[bytes] = []
    layers: list[LayerLayout] = []
    offset = 0
    for layer in model.layers:
        if isinstance(layer, MaxPool2D):
            layers.append(LayerLayout(layer.kind, layer.in_features, layer.outputs, bias_width=0,
                                      in_shape=tuple(layer.in_shape), pool=layer.size))
            continue
        bits = layer.weight_bits if isinstance(layer, (Dense, Conv2D)) else 8
        width, shift = bias_encoding(layer.b_q, bits)
        ll = LayerLayout(layer.kind, layer.in_features, layer.outputs, bias_width=width,
                         per_channel=layer.mult.size > 1, has_lut=layer.activation.kind == "lut",
                         clamp=None if layer.activation.kind == "none" else layer.activation.clamp,
                         weight_bits=bits, bias_shift=shift)
        if isinstance(layer, Conv2D):
            ll.in_shape, ll.kernel, ll.channels = tuple(layer.in_shape), layer.kernel, layer.out_channels
        for name, data in _tensors(layer, width, shift):
            ll.offsets[name] = offset
            chunks.append(data)
            offset += len(data)
        layers.append(ll)
    payload = b"".join(chunks)
    descriptor = json.dumps({"input": [model.input.rows, model.input.cols],
                             "layers": [ll.describe() for ll in layers]}, sort_keys=True).encode()
    digest = hashlib.sha256(b"nnmodel-layout-1\0" + descriptor + b"\0" + payload).digest()
    return Layout(payload, layers, struct.unpack("<I", digest[:4])[0])
