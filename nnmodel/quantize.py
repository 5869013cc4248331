"""Float weights → integer Model: each layer through its kind's Op (scale choice, symmetric int8/int4
weights, int32 biases, multipliers, LUTs), feeding each layer's output range to the next.

The QAT trainer runs this in its forward pass, so the exported integers are the ones it trained
with; importers of other frameworks' weights hand over the same FloatLayers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import ops
from .errors import NNModelError
from .model import InputSpec, Model
from .ops.activation import HARDTANH_SCALE, LUT_FUNCTIONS, lut_out_scale, make_lut
from .quant import INPUT_MAX

__all__ = ["HARDTANH_SCALE", "LUT_FUNCTIONS", "FloatLayer", "lut_out_scale", "make_lut", "quantize_model"]


@dataclass
class FloatLayer:
    """One layer as a trainer or importer hands it over: float weights plus the activation's output scale."""

    kind: str  # a registered kind: dense, rnn, conv2d, maxpool2d (nnmodel.ops)
    weights: dict[str, np.ndarray]  # dense, conv2d ([out, k, k, in]): w, b; rnn: w_ih, w_hh, b; pool: none
    activation: str  # none | linear | relu | hardtanh | lut
    out_scale: float = 0.0  # calibrated/learned for relu and linear; fixed for hardtanh and lut
    lut_function: str = ""
    lut_in_scale: float = 0.0
    name: str = ""
    # conv2d: in_shape (h, w, c); maxpool2d: in_shape, size; dense/conv2d: weight_bits (8 or 4)
    extra: dict = field(default_factory=dict)


def quantize_model(name: str, layers: list[FloatLayer], *, labels: list[str] | None = None,
                   input_spec: InputSpec | None = None, per_channel: bool = False,
                   provenance: dict | None = None) -> Model:
    """Quantize a float network layer by layer, feeding each layer's output range to the next."""
    spec = input_spec or InputSpec()
    in_scale, in_max = spec.scale, INPUT_MAX
    out: list[Any] = []
    for fl in layers:
        op = ops.get(fl.kind)
        if op is None:
            raise NNModelError(f"layer {fl.name or len(out)}: unknown kind {fl.kind!r}; "
                               f"known: {', '.join(ops.kinds())}")
        try:
            layer = op.quantize(fl, in_scale, in_max, per_channel)
        except ValueError as exc:
            raise NNModelError(f"layer {fl.name or len(out)}: {exc}") from None
        out.append(layer)
        in_scale, in_max = op.next_input(layer, in_scale, in_max)
    n = out[-1].outputs
    return Model(name, spec, out, labels or [str(i) for i in range(n)], provenance or {})
