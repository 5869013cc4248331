"""Lay a model's integers out as one byte payload, the same bytes for every storage kind.

Per layer, in order: weight matrices (int8, row-major [out][in]), biases (1, 2 or 4 bytes LE each:
the narrowest that holds every bias), multipliers (LE16), shifts (1 byte), then the LUT (256 int8).
"""
from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass, field

import numpy as np

from ..model import RNN, Layer, Model


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

    def describe(self) -> dict:
        return {"kind": self.kind, "n_in": self.n_in, "n_out": self.n_out, "offsets": self.offsets,
                "bias_width": self.bias_width, "per_channel": self.per_channel,
                "clamp": self.clamp, "has_lut": self.has_lut}


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


def _le(values: np.ndarray, width: int) -> bytes:
    dtype = {1: "<i1", 2: "<i2", 4: "<i4"}[width]
    return np.ascontiguousarray(values, dtype=np.int64).astype(dtype).tobytes()


def _tensors(layer: Layer) -> list[tuple[str, bytes]]:
    mats = [("w_ih", layer.w_ih_q), ("w_hh", layer.w_hh_q)] if isinstance(layer, RNN) else [("w", layer.w_q)]
    out = [(name, np.ascontiguousarray(m, np.int8).tobytes()) for name, m in mats]
    out.append(("bias", _le(layer.b_q, bias_width(layer.b_q))))
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
        ll = LayerLayout(layer.kind, layer.in_features, layer.outputs, bias_width=bias_width(layer.b_q),
                         per_channel=layer.mult.size > 1, has_lut=layer.activation.kind == "lut",
                         clamp=None if layer.activation.kind == "none" else layer.activation.clamp)
        for name, data in _tensors(layer):
            ll.offsets[name] = offset
            chunks.append(data)
            offset += len(data)
        layers.append(ll)
    payload = b"".join(chunks)
    descriptor = json.dumps({"input": [model.input.rows, model.input.cols],
                             "layers": [ll.describe() for ll in layers]}, sort_keys=True).encode()
    digest = hashlib.sha256(b"nnmodel-layout-1\0" + descriptor + b"\0" + payload).digest()
    return Layout(payload, layers, struct.unpack("<I", digest[:4])[0])
