"""What the layers that multiply-accumulate and requantize share (dense, rnn, conv2d).

    acc = b_q + Σ W_q · x          int32, bounded by the overflow proof
    y   = act((acc · M + 2^(S-1)) >> S)   M, S per tensor or per output (quant.choose_multiplier)

Here: symmetric weight quantization, the file fields every such layer stores, the payload
encoding of weights and biases, and the C lines of the bias/product/requantization kernels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import NNModelError
from ..quant import (
    MULT_MAX,
    SHIFT_MAX,
    WEIGHT_BITS,
    choose_multiplier,
    coarse_bias,
    quantize_symmetric,
    weight_qmax,
    weight_range,
)
from .activation import HARDTANH_SCALE, RANGES, Activation, lut_out_scale, make_lut
from .base import Op

MAX_DIM = 65535  # layer sizes travel as uint16 in the C runtime
SCALE_N = "n"  # shape placeholder: 1 (per tensor) or out (per channel)
REQUANT_FIELDS = {"mult": ("int32", (SCALE_N,)), "shift": ("int32", (SCALE_N,))}


# ------------------------------------------------------------------------------------ quantization
def weight_bits(fl: Any) -> int:
    bits = int(fl.extra.get("weight_bits", 8))
    if bits not in WEIGHT_BITS:
        raise NNModelError(f"layer {fl.name or fl.kind}: weight_bits {bits}; supported: 8, 4")
    return bits


def resolve_activation(fl: Any) -> tuple[Activation, float, float]:
    """(activation, output scale, scale the requantization targets) of a float layer."""
    if fl.activation == "lut":
        out = lut_out_scale(fl.lut_function, fl.lut_in_scale)
        lut = make_lut(fl.lut_function, fl.lut_in_scale, out)
        return Activation("lut", lut, fl.lut_in_scale, fl.lut_function), out, fl.lut_in_scale
    if fl.activation == "hardtanh":
        return Activation("hardtanh"), HARDTANH_SCALE, HARDTANH_SCALE
    if fl.activation == "none":
        return Activation("none"), 0.0, 0.0
    if not fl.out_scale > 0:
        raise NNModelError(f"layer {fl.name or fl.kind}: activation {fl.activation} needs a positive out_scale")
    return Activation(fl.activation), fl.out_scale, fl.out_scale


def weight_scale(max_abs: np.ndarray, bits: int = 8) -> np.ndarray:
    return np.maximum(max_abs, 1e-12) / weight_qmax(bits)


def quantize_bias(b: np.ndarray, acc_scale: np.ndarray) -> np.ndarray:
    return np.clip(np.round(b / acc_scale), -(2**31) + 1, 2**31 - 1).astype(np.int32)


def fold_input_zero(fl: Any, w_q: np.ndarray, b_q: np.ndarray, acc_scale: np.ndarray, in_scale: float,
                    key: str = "w") -> np.ndarray:
    """The bias of a first layer whose input codes have a zero point (FloatLayer.extra["input_zero"],
    per element of the input's last axis), folded in integers: b_q = round(b₀/acc) − Σ W_q·zero.

    fl.weights["b"] already holds the float fold b₀ − Σ W·scale·zero; folding it in float would
    multiply every weight's rounding error by the code (≈ 128), not by code − zero. With the
    integer fold the accumulator is Σ W_q·(code − zero) + round(b₀/acc), as the float network."""
    zero = fl.extra.get("input_zero")
    if zero is None:
        return b_q
    w = np.asarray(fl.weights[key], np.float64)
    z = np.broadcast_to(np.asarray(zero, np.float64), w.shape[-1:])
    b0 = np.asarray(fl.weights["b"], np.float64) + (w * z * in_scale).reshape(len(w), -1).sum(axis=1)
    folded = quantize_bias(b0, acc_scale).astype(np.int64) - (w_q.astype(np.int64) * z.astype(np.int64)) \
        .reshape(len(w), -1).sum(axis=1)
    return np.clip(folded, -(2**31) + 1, 2**31 - 1).astype(np.int32)


def quantize_weights(w: np.ndarray, b: np.ndarray, in_scale: float, per_channel: bool,
                     bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(w_q, b_q, acc_scale) of a weight tensor [out, ...]: symmetric scale per tensor or per output."""
    flat = np.abs(w.reshape(len(w), -1))
    max_abs = flat.max(axis=1) if per_channel else np.array([flat.max()])
    w_scale = weight_scale(max_abs, bits)
    acc_scale = (w_scale * in_scale).astype(np.float64)
    w_q = quantize_symmetric(w, w_scale.reshape((-1,) + (1,) * (w.ndim - 1)) if per_channel else w_scale[0], bits)
    b_q = quantize_bias(b, acc_scale)
    if bits == 4:  # int4 layers store their biases as int8 << k (quant.coarse_bias)
        b_q = coarse_bias(b_q)
    return w_q, b_q, acc_scale


def abs_row_sums(w: np.ndarray) -> np.ndarray:
    return np.abs(w.astype(np.int64)).reshape(len(w), -1).sum(axis=1)


# ------------------------------------------------------------------------------------ payload encoding
def bias_width(b_q: np.ndarray) -> int:
    lo, hi = (int(b_q.min()), int(b_q.max())) if b_q.size else (0, 0)
    for width in (1, 2):
        if -(1 << (8 * width - 1)) <= lo and hi < (1 << (8 * width - 1)):
            return width
    return 4


def bias_encoding(b_q: np.ndarray, bits: int) -> tuple[int, int]:
    """(width, shift) of the stored biases: b_q == stored << shift exactly, stored in `width` bytes.

    int8 layers keep shift 0 (their bytes are as in layout 1). int4 layers take the narrowest width,
    then the smallest shift, that holds them exactly: coarse biases (multiples of 2^k that fit int8
    after the shift) take one byte each.
    """
    b = np.asarray(b_q, np.int64)
    if bits == 8 or not b.size or not b.any():
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


def le_bytes(values: np.ndarray, width: int) -> bytes:
    dtype = {1: "<i1", 2: "<i2", 4: "<i4"}[width]
    return np.ascontiguousarray(values, dtype=np.int64).astype(dtype).tobytes()


def weight_bytes(m: np.ndarray, bits: int) -> bytes:
    return pack_int4(m) if bits == 4 else np.ascontiguousarray(m, np.int8).tobytes()


# ------------------------------------------------------------------------------------ C lowering
@dataclass(frozen=True)
class Lowering:
    """Names the generated code uses: the model prefix and the accumulator array's element size."""

    prefix: str
    acc_elem: int = 4  # 4: int32 accumulators, 2: int16 (plan.acc16)

    @property
    def acc(self) -> str:
        return f"{self.prefix}_acc"

    @staticmethod
    def w(ll: Any, field: str) -> str:
        """The address of a layer's tensor in weight storage (the generated W() macro)."""
        return f"W({ll.offsets[field]}u)"


class WeightedOp(Op):
    """Base of the kinds with weights, a bias and a requantizing activation."""

    # file field -> (dtype, shape in the layer's dimension names)
    FIELDS: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {}
    # activations this kind accepts ("" for any); the loader's and quantizer's messages say why
    ACTIVATIONS: ClassVar[tuple[str, ...]] = ()

    # ------------------------------------------------------------------------------ structure
    def matrices(self, layer: Any) -> list[tuple[str, np.ndarray]]:
        """(payload field, integer weights [out, ...]) in payload order."""
        return [("w", layer.w_q)]

    def matrix_inputs(self, layer: Any, in_max: int) -> list[int]:
        """Bound on |x| for each matrix's inputs."""
        return [in_max]

    def bits(self, layer: Any) -> int:
        return int(getattr(layer, "weight_bits", 8))

    def next_input(self, layer: Any, in_scale: float, in_max: int) -> tuple[float, int]:
        if not layer.activation.requantizes:
            return in_scale, in_max
        return layer.out_scale, layer.activation.out_max_abs

    def parameter_count(self, layer: Any) -> int:
        return sum(m.size for _, m in self.matrices(layer)) + layer.b_q.size

    # ------------------------------------------------------------------------------ quantization
    def requant_params(self, layer: Any, in_max: int, target_scale: float) -> None:
        """Fill mult/shift from the real ratio acc_scale/target_scale and the proven accumulator bound."""
        if not layer.activation.requantizes:
            layer.mult = layer.shift = np.zeros(0, np.int32)
            return
        bounds = self.accumulator_bounds(layer, in_max)
        per_channel = layer.acc_scale.size > 1
        pairs = [choose_multiplier(float(layer.acc_scale[j] / target_scale),
                                   int(bounds[j] if per_channel else bounds.max()))
                 for j in range(layer.acc_scale.size)]
        layer.mult = np.array([m for m, _ in pairs], np.int32)
        layer.shift = np.array([s for _, s in pairs], np.int32)

    # ------------------------------------------------------------------------------ overflow proof
    def accumulator_bounds(self, layer: Any, in_max: int) -> np.ndarray:
        """|b + any subset of terms| <= |b| + Σ|w||x|: one bound for streaming, unrolled and
        reordered accumulation alike."""
        bound = np.abs(layer.b_q.astype(np.int64))
        for (_, m), x_max in zip(self.matrices(layer), self.matrix_inputs(layer, in_max)):
            bound = bound + abs_row_sums(m) * x_max
        return bound

    # ------------------------------------------------------------------------------ file format
    def json_common(self, layer: Any) -> dict[str, Any]:
        act: dict[str, Any] = {"kind": layer.activation.kind}
        if layer.activation.kind == "lut":
            act["lut_in_scale"] = layer.activation.lut_in_scale
            act["function"] = layer.activation.function
        return {"type": self.kind, "name": layer.name, "activation": act,
                "in_scale": layer.in_scale, "out_scale": layer.out_scale}

    def tensors(self, layer: Any) -> list[tuple[str, str, np.ndarray]]:
        out = [(name, dtype, getattr(layer, name)) for name, (dtype, _) in self.FIELDS.items()]
        if layer.activation.requantizes:
            out += [("mult", "int32", layer.mult), ("shift", "int32", layer.shift)]
        if layer.activation.kind == "lut":
            out.append(("lut", "int8", layer.activation.lut))
        return out

    def read_weight_bits(self, r: Any, doc: dict, i: int, required: bool) -> int:
        field = f"layers[{i}].weight_bits"
        if not required and "weight_bits" not in doc:
            return 8
        bits = r.get(doc, "weight_bits", int, field)
        if bits not in WEIGHT_BITS:
            raise r.fail(field, f"{bits}; supported: {', '.join(map(str, WEIGHT_BITS))}")
        return bits

    def read_activation(self, r: Any, doc: dict, i: int, last: bool) -> Activation:
        field = f"layers[{i}].activation"
        act = r.get(doc, "activation", dict, field)
        kind = r.get(act, "kind", str, f"{field}.kind")
        if kind not in RANGES:
            raise r.fail(f"{field}.kind", f"unknown activation {kind!r}; known: {', '.join(RANGES)}")
        if (kind == "none") != last:
            raise r.fail(f"{field}.kind", "only the last layer (the logits) has activation 'none'")
        if kind != "lut":
            return Activation(kind)
        lut = r.tensor(f"layers.{i}.lut", "int8", (256,))
        return Activation(kind, lut, r.positive(act, "lut_in_scale", f"{field}.lut_in_scale"),
                          r.get(act, "function", str, f"{field}.function"))

    def read_common(self, r: Any, doc: dict, i: int, last: bool, dims: dict[str, int],
                    bits: int) -> dict[str, Any]:
        """Activation, tensors, scales and name, validated in file-field order; dims gives the
        sizes named in FIELDS ("out" among them)."""
        field = f"layers[{i}]"
        act = self.read_activation(r, doc, i, last)
        out = dims["out"]
        where_scale = f"tensors[layers.{i}.acc_scale]"
        scale_spec = r.get(r.get(r.header, "tensors", dict, "tensors"), f"layers.{i}.acc_scale", dict, where_scale)
        scale_shape = r.get(scale_spec, "shape", list, f"{where_scale}.shape")
        if scale_shape not in ([1], [out]) or type(scale_shape[0]) is not int:  # [True] and [1.0] equal [1]
            raise r.fail(where_scale, f"shape {scale_shape}, expected [1] or [{out}]")
        dims = {**dims, SCALE_N: scale_shape[0]}
        fields = dict(self.FIELDS)
        if act.requantizes:
            fields.update(REQUANT_FIELDS)
        t = {name: r.tensor(f"layers.{i}.{name}", dtype, tuple(dims[d] for d in shape))
             for name, (dtype, shape) in fields.items()}
        if not np.all(t["acc_scale"] > 0):
            raise r.fail(f"tensors[layers.{i}.acc_scale]", "scales must be positive")
        if bits != 8:
            lo, hi = weight_range(bits)
            if t["w_q"].size and (t["w_q"].min() < lo or t["w_q"].max() > hi):
                raise r.fail(f"tensors[layers.{i}.w_q]", f"values must be in {lo}..{hi} for weight_bits {bits}")
        if act.requantizes:
            if t["mult"].min() < 1 or t["mult"].max() > MULT_MAX:
                raise r.fail(f"tensors[layers.{i}.mult]", f"values must be in 1..{MULT_MAX}; re-export the model")
            if t["shift"].min() < 0 or t["shift"].max() > SHIFT_MAX:
                raise r.fail(f"tensors[layers.{i}.shift]", f"values must be in 0..{SHIFT_MAX}; re-export the model")
            out_scale = r.positive(doc, "out_scale", f"{field}.out_scale")
        else:
            out_scale = r.number(doc, "out_scale", f"{field}.out_scale")
            empty = np.zeros(0, np.int32)
            t["mult"], t["shift"] = empty, empty
        in_scale = r.positive(doc, "in_scale", f"{field}.in_scale")
        return {"act": act, "t": t, "in_scale": in_scale, "out_scale": out_scale,
                "name": r.get(doc, "name", str, f"{field}.name")}

    # ------------------------------------------------------------------------------ payload layout
    def lay_out(self, layer: Any) -> tuple[Any, list[tuple[str, bytes]]]:
        from ..codegen.layout import LayerLayout

        bits = self.bits(layer)
        width, shift = bias_encoding(layer.b_q, bits)
        act = layer.activation
        ll = LayerLayout(self.kind, self.n_in(layer), layer.outputs, bias_width=width,
                         per_channel=layer.mult.size > 1, has_lut=act.kind == "lut",
                         clamp=act.clamp if act.requantizes else None, weight_bits=bits, bias_shift=shift)
        chunks = [(name, weight_bytes(m, bits)) for name, m in self.matrices(layer)]
        chunks.append(("bias", le_bytes(np.asarray(layer.b_q, np.int64) >> shift, width)))
        if act.requantizes:
            chunks.append(("mult", le_bytes(layer.mult, 2)))
            chunks.append(("shift", np.asarray(layer.shift, np.uint8).tobytes()))
        if act.kind == "lut":
            chunks.append(("lut", np.asarray(act.lut, np.int8).tobytes()))
        return ll, chunks

    def n_in(self, layer: Any) -> int:
        return int(layer.in_features)

    def descriptor(self, ll: Any) -> dict[str, Any]:
        """The keys of int8 dense/RNN layers are those of layout 1, so existing models keep their hash."""
        d = {"kind": ll.kind, "n_in": ll.n_in, "n_out": ll.n_out, "offsets": ll.offsets,
             "bias_width": ll.bias_width, "per_channel": ll.per_channel, "clamp": ll.clamp, "has_lut": ll.has_lut}
        if ll.weight_bits != 8 or ll.bias_shift:
            d.update(weight_bits=ll.weight_bits, bias_shift=ll.bias_shift)
        return d

    # ------------------------------------------------------------------------------ C lowering
    def lower_bias(self, ll: Any, lw: Lowering) -> list[str]:
        """acc = bias (shifted back for an int4 layer's coarse biases)."""
        if lw.acc_elem == 2:
            return [f"nnrt_bias_s16({lw.acc}, {lw.w(ll, 'bias')}, {ll.n_out}u, {ll.bias_width}u, {ll.bias_shift}u);"]
        lines = [f"nnrt_bias_s32({lw.acc}, {lw.w(ll, 'bias')}, {ll.n_out}u, {ll.bias_width}u);"]
        if ll.bias_shift:
            lines.append(f"nnrt_bias_shl({lw.acc}, {ll.n_out}u, {ll.bias_shift}u);")
        return lines

    def lower_requant(self, ll: Any, lw: Lowering, src: str, dst: str) -> str:
        """dst = act(requant(src)) for the layer's n_out outputs."""
        lo, hi = ll.clamp
        lut = lw.w(ll, "lut") if ll.has_lut else "NULL"
        return (f"nnrt_requant_s8({src}, {dst}, {ll.n_out}u, &(const nnrt_act_params_t){{.mult = {lw.w(ll, 'mult')}, "
                f".shift = {lw.w(ll, 'shift')}, .per_channel = {int(ll.per_channel)}u, .lo = {lo}, .hi = {hi}, "
                f".lut = {lut}}});")

    def lower_mac(self, ll: Any, lw: Lowering, x: str, signed: bool, col: str, n: str, nonneg: bool = False,
                  field: str = "w", n_in: int | None = None) -> str:
        """acc += W[:, col:col+n] · x; col is a C expression of the first column ("" for 0). signed: int8
        inputs, else uint8. nonneg: the int8 inputs are never negative, so the int4 kernel may read
        them as uint8 (no sign extension)."""
        stride = ll.n_in if n_in is None else n_in
        if ll.weight_bits == 4:
            xs = f"(const uint8_t *){x}" if signed and not x.startswith("(const uint8_t *)") else x
            return (f"nnrt_mac_w4({lw.acc}, {int(lw.acc_elem == 2)}u, {lw.w(ll, field)}, {col or '0u'}, "
                    f"{ll.n_out}u, {stride}u, {xs}, {n}, {int(signed and not nonneg)}u);")
        fn = "nnrt_mac_s8" if signed else "nnrt_mac_u8"
        return f"{fn}({lw.acc}, {lw.w(ll, field)}{' + ' + col if col else ''}, {ll.n_out}u, {stride}u, {x}, {n});"

    # ------------------------------------------------------------------------------ description
    def scale_kind(self, layer: Any) -> str:
        return "per-channel" if layer.acc_scale.size > 1 else "per-tensor"

    def scales_text(self, layer: Any) -> str:
        """Scale granularity, and the weight width when it is not int8 (`nnmodel info`)."""
        return self.scale_kind(layer) + (f" int{self.bits(layer)}" if self.bits(layer) != 8 else "")

    def weights_text(self, layer: Any) -> str:
        """Weight width and scale granularity (the model card)."""
        return f"int{self.bits(layer)}, {self.scale_kind(layer)}"

    def act_word(self, layer: Any) -> str:
        return f":{layer.activation.kind}" + (":w4" if self.bits(layer) == 4 else "")

    def c_word(self, layer: Any) -> str:
        return f"{self.kind}:{layer.in_features}->{layer.outputs}" + self.act_word(layer)
