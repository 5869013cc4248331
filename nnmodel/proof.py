"""The overflow proof (invariant 2 of DESIGN.md): from the actual integer weights, every accumulator
and every requantization product of a model provably fits int32, or the model is refused.

Each kind's Op bounds its own accumulators (ops.weighted: |b| + Σ|w|·max|x|); this module chains
the bounds through the network, each layer's output bound feeding the next layer's input.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import ops
from .quant import ACC_MAX, INPUT_MAX, rounding_term


@dataclass
class LayerProof:
    index: int
    in_max: int  # bound on |input| of this layer
    acc_bound: int  # bound on |accumulator| over all outputs (0: no accumulator)
    product_bound: int  # bound on |acc * M + 2^(S-1)|, 0 for the logits layer

    @property
    def headroom_bits(self) -> float:
        """Unused int32 range of the accumulator (the product is kept near 2^31 on purpose: a larger M is
        more precise)."""
        return float(np.log2((ACC_MAX + 1) / max(self.acc_bound, 1)))


def accumulator_bounds(layer: Any, in_max: int) -> np.ndarray:
    """Per output: the largest |partial sum| reachable in any summation order, for inputs |x| <= in_max."""
    bounds = ops.op_of(layer).accumulator_bounds(layer, in_max)
    return np.zeros(0, np.int64) if bounds is None else bounds


def prove_no_overflow(model: Any) -> list[LayerProof]:
    """Bound every accumulator and product from the actual integer weights; refuse any possible overflow.

    Raises ValueError naming the layer field; load() and compile turn it into an NNModelError.
    """
    proofs: list[LayerProof] = []
    in_max = INPUT_MAX
    for i, layer in enumerate(model.layers):
        op = ops.op_of(layer)
        acc = op.accumulator_bounds(layer, in_max)
        if acc is None:  # no accumulator (a max-pool): the input's bound passes on
            proofs.append(LayerProof(i, in_max, 0, 0))
            _, in_max = op.next_input(layer, 0.0, in_max)
            continue
        worst = int(acc.max()) if acc.size else 0
        if worst > ACC_MAX:
            raise ValueError(
                f"layers[{i}]: accumulator can reach {worst} > int32 max {ACC_MAX}; retrain with smaller weights"
            )
        product = 0
        if layer.activation.requantizes:
            mult, shift = op.requant_rows(layer)
            a = acc if mult.size > 1 else np.array([worst], np.int64)
            product = int((a * mult.astype(np.int64) + rounding_term(shift)).max())
            if product > ACC_MAX:
                raise ValueError(
                    f"layers[{i}].mult: acc*M+2^(S-1) can reach {product} > {ACC_MAX}; re-export the model"
                )
        proofs.append(LayerProof(i, in_max, worst, product))
        _, in_max = op.next_input(layer, 0.0, in_max)
    return proofs
