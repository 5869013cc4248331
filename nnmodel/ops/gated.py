"""What the gated recurrences (gru, lstm) share: G gates of U rows each, one accumulator per gate row
for the input and recurrent products, a requantization per gate (or per gate row) into the gate
tables of nnmodel/ops/gates.py, and a Q7 int8 state.

    a_row = b_row + w_x[row] · x + w_h[row] · h      w_x scale acc_g/in_scale, w_h scale acc_g·128
    pre   = clamp(requant(a_row, M_g, S_g), ±127)    scale 1/16 (sigmoid gates) or 1/32 (tanh)

docs/recurrent.md specifies both kinds; gru.py and lstm.py hold what differs.
"""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..quant import choose_multiplier, quantize_symmetric
from .activation import Activation
from .base import SEQUENCE, Shape
from .gates import PRE_MAX, Q7, SIGMOID_PRE_SCALE, TANH_PRE_SCALE, clamp_pre, sigm_q7, tanh_q7
from .weighted import (
    MAX_DIM,
    Lowering,
    WeightedOp,
    abs_row_sums,
    bias_width,
    le_bytes,
    quantize_bias,
    weight_scale,
)

# The state is int8 -127..127 at scale 1/128: to generic code (planner, proof, card) it is a clamp
# like hard-tanh's, so the next layer's input bound is 127.
STATE_ACTIVATION = Activation("hardtanh")
GATE_TABLE_SCALE = {"sigmoid": SIGMOID_PRE_SCALE, "tanh": TANH_PRE_SCALE}


def fold_zero(fl: Any, w_x_q: np.ndarray, b_q: np.ndarray, b0: np.ndarray, acc_rows: np.ndarray,
              in_scale: float) -> np.ndarray:
    """b_q of an importer's first layer whose input codes have a zero point, folded in integers
    (as weighted.fold_input_zero: round(b₀/acc) − Σ W_q·zero, b₀ the bias before the float fold)."""
    zero = fl.extra.get("input_zero")
    if zero is None:
        return b_q
    w = np.asarray(fl.weights["w_x"], np.float64)
    z = np.broadcast_to(np.asarray(zero, np.float64), w.shape[-1:])
    b_raw = b0 + (w * z * in_scale).sum(axis=1)
    folded = quantize_bias(b_raw, acc_rows).astype(np.int64) - (w_x_q.astype(np.int64) * z.astype(np.int64)).sum(axis=1)
    return np.clip(folded, -(2**31) + 1, 2**31 - 1).astype(np.int32)


class GatedOp(WeightedOp):
    """Shared by GRUOp and LSTMOp; GATES names the gates in tensor order with their table."""

    in_form = SEQUENCE
    out_form = SEQUENCE
    placement = "recurrent layers must come first, or right after pools of the raw image (they consume rows)"
    GATES: ClassVar[tuple[tuple[str, str], ...]] = ()  # (gate name, "sigmoid" | "tanh")

    @property
    def n_gates(self) -> int:
        return len(self.GATES)

    def format_version(self, layer: Any) -> int:
        return 3

    def matrices(self, layer: Any) -> list[tuple[str, np.ndarray]]:
        return [("w_x", layer.w_x_q), ("w_h", layer.w_h_q)]

    def matrix_inputs(self, layer: Any, in_max: int) -> list[int]:
        return [in_max, PRE_MAX]

    def bits(self, layer: Any) -> int:
        return 8

    def out_shape(self, layer: Any, in_shape: Shape) -> Shape:
        return (in_shape[0], layer.units)

    def next_input(self, layer: Any, in_scale: float, in_max: int) -> tuple[float, int]:
        return Q7, PRE_MAX

    def accumulators(self, layer: Any) -> int:
        return self.n_gates * layer.units

    def parameter_count(self, layer: Any) -> int:
        return int(layer.w_x_q.size + layer.w_h_q.size + self.bias_count(layer))

    def bias_count(self, layer: Any) -> int:
        raise NotImplementedError

    def row_bias(self, layer: Any) -> np.ndarray:
        """int32 [G·U]: the bias every gate row's accumulator starts from."""
        raise NotImplementedError

    def accumulator_bounds(self, layer: Any, in_max: int) -> np.ndarray:
        """|b| + Σ|w_x|·in_max + Σ|w_h|·127 per gate row."""
        return (np.abs(self.row_bias(layer).astype(np.int64)) + abs_row_sums(layer.w_x_q) * in_max
                + abs_row_sums(layer.w_h_q) * PRE_MAX)

    # ------------------------------------------------------------------------------ quantization
    def gate_scales(self, w_x: np.ndarray, w_h: np.ndarray, in_scale: float, per_channel: bool) -> np.ndarray:
        """acc_scale [G] or [G·U]: both products of a gate row in one accumulator, |W_q| <= 127."""
        g, u = self.n_gates, w_h.shape[1]
        rows = np.maximum(np.abs(w_x).max(axis=1) * in_scale, np.abs(w_h).max(axis=1) * Q7)
        if not per_channel:
            rows = rows.reshape(g, u).max(axis=1)
        return weight_scale(rows).astype(np.float64)

    def rows(self, v: np.ndarray, units: int) -> np.ndarray:
        """A per-gate vector [G] expanded to one entry per gate row [G·U] (per-row vectors unchanged)."""
        return np.repeat(v, units) if v.size == self.n_gates else v

    def quantize_matrices(self, w_x: np.ndarray, w_h: np.ndarray, acc_scale: np.ndarray,
                          in_scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        acc_rows = self.rows(acc_scale, w_h.shape[1])
        w_x_q = quantize_symmetric(w_x, (acc_rows / in_scale)[:, None])
        w_h_q = quantize_symmetric(w_h, (acc_rows / Q7)[:, None])
        return w_x_q, w_h_q, acc_rows

    def set_requant(self, layer: Any, in_max: int) -> None:
        """(M, S) per gate (or gate row) to the gate's table scale, no product able to overflow."""
        u = layer.units
        bounds = self.accumulator_bounds(layer, in_max)
        per_row = layer.acc_scale.size > self.n_gates
        pairs = []
        for j in range(layer.acc_scale.size):
            gate = j // u if per_row else j
            target = GATE_TABLE_SCALE[self.GATES[gate][1]]
            bound = bounds[j] if per_row else bounds[gate * u:(gate + 1) * u].max()
            pairs.append(choose_multiplier(float(layer.acc_scale[j] / target), int(bound)))
        layer.mult = np.array([m for m, _ in pairs], np.int32)
        layer.shift = np.array([s for _, s in pairs], np.int32)

    def requant_rows(self, layer: Any) -> tuple[np.ndarray, np.ndarray]:
        return self.rows(layer.mult, layer.units), self.rows(layer.shift, layer.units)

    def pre(self, layer: Any, acc: np.ndarray, gate: slice) -> np.ndarray:
        """Clamped pre-activations of the gate rows `gate` from their int64 accumulators."""
        from ..quant import requantize

        m, s = self.requant_rows(layer)
        return clamp_pre(requantize(acc, m[gate], s[gate]))

    def gate(self, layer: Any, acc: np.ndarray, k: int) -> np.ndarray:
        """Gate k's Q7 values from its rows' accumulators [N, U]."""
        u = layer.units
        p = self.pre(layer, acc, slice(k * u, (k + 1) * u))
        return sigm_q7(p) if self.GATES[k][1] == "sigmoid" else tanh_q7(p)

    # ------------------------------------------------------------------------------ file format
    def gated_json(self, layer: Any) -> dict[str, Any]:
        return {"type": self.kind, "name": layer.name, "in_features": layer.in_features, "units": layer.units,
                "in_scale": layer.in_scale, "out_scale": Q7}

    def read_gated(self, r: Any, doc: dict, i: int, in_shape: Shape, last: bool) -> dict[str, Any]:
        """Sizes, scales and the requantization tensors of a gated layer, validated."""
        from ..quant import MULT_MAX, SHIFT_MAX

        field = f"layers[{i}]"
        in_features = in_shape[1]
        got_in = r.int_in(doc, "in_features", 1, MAX_DIM, f"{field}.in_features")
        if got_in != in_features:
            raise r.fail(f"{field}.in_features", f"{got_in}, but the previous layer gives {in_features}")
        units = r.int_in(doc, "units", 1, MAX_DIM // self.n_gates, f"{field}.units")
        rows = self.n_gates * units
        where = f"tensors[layers.{i}.acc_scale]"
        spec = r.get(r.get(r.header, "tensors", dict, "tensors"), f"layers.{i}.acc_scale", dict, where)
        shape = r.get(spec, "shape", list, f"{where}.shape")
        if shape not in ([self.n_gates], [rows]) or type(shape[0]) is not int:
            raise r.fail(where, f"shape {shape}, expected [{self.n_gates}] or [{rows}]")
        n = shape[0]
        acc_scale = r.tensor(f"layers.{i}.acc_scale", "float64", (n,))
        if not np.all(acc_scale > 0):
            raise r.fail(where, "scales must be positive")
        mult = r.tensor(f"layers.{i}.mult", "int32", (n,))
        shift = r.tensor(f"layers.{i}.shift", "int32", (n,))
        if mult.min() < 1 or mult.max() > MULT_MAX:
            raise r.fail(f"tensors[layers.{i}.mult]", f"values must be in 1..{MULT_MAX}; re-export the model")
        if shift.min() < 0 or shift.max() > SHIFT_MAX:
            raise r.fail(f"tensors[layers.{i}.shift]", f"values must be in 0..{SHIFT_MAX}; re-export the model")
        t = {"w_x": r.tensor(f"layers.{i}.w_x", "float32", (rows, in_features)),
             "w_h": r.tensor(f"layers.{i}.w_h", "float32", (rows, units)),
             "w_x_q": r.tensor(f"layers.{i}.w_x_q", "int8", (rows, in_features)),
             "w_h_q": r.tensor(f"layers.{i}.w_h_q", "int8", (rows, units))}
        return {"in_features": in_features, "units": units, "rows": rows, "acc_scale": acc_scale, "mult": mult,
                "shift": shift, "t": t, "in_scale": r.positive(doc, "in_scale", f"{field}.in_scale"),
                "name": r.get(doc, "name", str, f"{field}.name")}

    # ------------------------------------------------------------------------------ payload layout
    def gated_layout(self, layer: Any, biases: list[tuple[str, np.ndarray]],
                     options: dict[str, Any]) -> tuple[Any, list[tuple[str, bytes]]]:
        """w_x, w_h (int8 row-major), the biases (one width for all), mult (LE16), shift (u8)."""
        from ..codegen.layout import LayerLayout

        width = max(bias_width(np.asarray(b)) for _, b in biases)
        ll = LayerLayout(self.kind, layer.in_features, layer.units, bias_width=width,
                         per_channel=layer.acc_scale.size > self.n_gates, clamp=STATE_ACTIVATION.clamp,
                         options=options)
        chunks = [("w_x", np.asarray(layer.w_x_q, np.int8).tobytes()),
                  ("w_h", np.asarray(layer.w_h_q, np.int8).tobytes())]
        chunks += [(name, le_bytes(np.asarray(b, np.int64), width)) for name, b in biases]
        chunks += [("mult", le_bytes(layer.mult, 2)), ("shift", np.asarray(layer.shift, np.uint8).tobytes())]
        return ll, chunks

    def descriptor(self, ll: Any) -> dict[str, Any]:
        return {"kind": ll.kind, "n_in": ll.n_in, "n_out": ll.n_out, "offsets": ll.offsets,
                "bias_width": ll.bias_width, "per_channel": ll.per_channel, **ll.options}

    # ------------------------------------------------------------------------------ C lowering
    def lower_input(self, ll: Any, lw: Lowering, x: str, signed_in: bool, bias: str) -> list[str]:
        """acc[0..G·U) = bias + w_x · x: the row's part of every gate row."""
        rows = self.n_gates * ll.n_out
        fn = "nnrt_mac_s8" if signed_in else "nnrt_mac_u8"
        return [f"nnrt_bias_s32({lw.acc}, {lw.w(ll, bias)}, {rows}u, {ll.bias_width}u);",
                f"{fn}({lw.acc}, {lw.w(ll, 'w_x')}, {rows}u, {ll.n_in}u, {x}, {ll.n_in}u);"]

    def lower_recurrent(self, ll: Any, lw: Lowering, state: str, n_rows: int) -> str:
        """acc[0..n_rows) += w_h[0..n_rows) · h (the old state)."""
        return f"nnrt_mac_s8({lw.acc}, {lw.w(ll, 'w_h')}, {n_rows}u, {ll.n_out}u, {state}, {ll.n_out}u);"

    # ------------------------------------------------------------------------------ description
    def activation_text(self, layer: Any) -> str:
        return "gates"  # the fixed σ/tanh tables; `activation` only tells generic code the ±127 clamp

    def scales_text(self, layer: Any) -> str:
        return "per-gate-row" if layer.acc_scale.size > self.n_gates else "per-gate"

    def weights_text(self, layer: Any) -> str:
        return f"int8, {self.scales_text(layer)}"

    def c_word(self, layer: Any) -> str:
        return f"{self.kind}:{layer.in_features}->{layer.units}:gates"

    def weight_tensors(self, layer: Any) -> list[tuple[str, np.ndarray, int]]:
        g = "".join(name for name, _ in self.GATES)
        return [(f"W_x {layer.in_features}->{g}×{layer.units}", layer.w_x_q, 8),
                (f"W_h {layer.units}->{g}×{layer.units}", layer.w_h_q, 8)]

    def gate_names(self) -> list[str]:
        return [name for name, _ in self.GATES]

    def trace_keys(self) -> list[str]:
        """The records trace_gates returns besides the gates."""
        return ["h"]
