"""conv2d: valid k×k convolution, stride 1, over an HWC map, int8 or packed int4 weights.

    y[i, j, o] = act(requant(b_q[o] + Σ_{dy, dx, c} w_q[o, dy, dx, c] · x[i+dy, j+dx, c]))

Output (h-k+1, w-k+1, out_channels). Weights are ordered [out][dy][dx][in], so one output's taps
over one input row are contiguous, as the HWC rows that stream in. The runtime computes it row by
row through line buffers, max-pooling the raw sums of the pools that follow it (plan.py fuses
them) before bias and requantization: exact because the allowed activations are monotone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import NNModelError
from ..quant import requantize
from .activation import MONOTONE, Activation, activate, deriv, float_act, float_activation, int_mask, target_scale
from .base import MAP, Shape, TrainOut, TrainStep
from .dense import fake_quant_weight, imatmul, requant_activate
from .weighted import MAX_DIM, Lowering, WeightedOp, fold_input_zero, quantize_weights, resolve_activation, weight_bits

MAX_KERNEL = 7
FLOAT32_EXACT = 2**24  # float32 holds every integer up to this; float64 up to 2^53


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

    kind: ClassVar[str] = "conv2d"

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


def im2col(x: np.ndarray, k: int) -> np.ndarray:
    """[N, h, w, c] -> [N, h-k+1, w-k+1, k*k*c]: each output position's patch, ordered (dy, dx, c)."""
    _n, h, w, _c = x.shape
    oh, ow = h - k + 1, w - k + 1
    return np.concatenate([x[:, dy:dy + oh, dx:dx + ow, :] for dy in range(k) for dx in range(k)], axis=3)


def col2im(d_cols: np.ndarray, in_shape: tuple[int, ...], k: int) -> np.ndarray:
    """Adjoint of im2col: [N, oh, ow, k*k*c] patch gradients -> [N, h, w, c]."""
    n, oh, ow, _ = d_cols.shape
    c = in_shape[-1]
    d_cols = d_cols.reshape(n, oh, ow, k, k, c)
    dx = np.zeros((n,) + tuple(in_shape[1:]), d_cols.dtype)
    for dy in range(k):
        for dxx in range(k):
            dx[:, dy:dy + oh, dxx:dxx + ow, :] += d_cols[:, :, :, dy, dxx, :]
    return dx


def imatmul_bounded(x: np.ndarray, w_q: np.ndarray, in_max: int) -> np.ndarray:
    """Exact integer x · w_qᵀ for |x| <= in_max, in float32 when every partial sum provably stays
    below 2^24 (each is bounded by Σ|w|·in_max, whatever the summation order), else float64."""
    if int(np.abs(w_q.astype(np.int64)).sum(axis=1).max()) * in_max < FLOAT32_EXACT:
        return (x.astype(np.float32) @ w_q.astype(np.float32).T).astype(np.float64)
    return np.rint(x @ w_q.astype(np.float64).T)


class Conv2DOp(WeightedOp):
    kind = "conv2d"
    layer_type = Conv2D
    in_form = MAP
    out_form = MAP
    clips_weight = True
    placement = "conv2d layers must come first (they consume the image)"
    c_headers = ("nnrt/ops/conv2d.h",)
    FIELDS: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {
        "w": ("float32", ("out", "k", "k", "cin")),
        "b": ("float32", ("out",)),
        "w_q": ("int8", ("out", "k", "k", "cin")),
        "b_q": ("int32", ("out",)),
        "acc_scale": ("float64", ("n",)),
    }

    # ------------------------------------------------------------------------------ file format
    def format_version(self, layer: Conv2D) -> int:
        return 2

    def to_json(self, layer: Conv2D) -> dict[str, Any]:
        doc = self.json_common(layer)
        doc.update(in_shape=list(layer.in_shape), out_channels=layer.out_channels, kernel=layer.kernel,
                   weight_bits=layer.weight_bits)
        return doc

    def read(self, r: Any, doc: dict, i: int, in_shape: Shape, last: bool) -> Conv2D:
        field = f"layers[{i}]"
        shape = read_map_shape(r, doc, i, in_shape)
        k = r.int_in(doc, "kernel", 1, MAX_KERNEL, f"{field}.kernel")
        if k > min(shape[0], shape[1]):
            raise r.fail(f"{field}.kernel", f"{k} is larger than the {shape[0]}x{shape[1]} input")
        out = r.int_in(doc, "out_channels", 1, MAX_DIM, f"{field}.out_channels")
        bits = self.read_weight_bits(r, doc, i, True)
        act_kind = r.get(r.get(doc, "activation", dict, f"{field}.activation"), "kind", str, f"{field}.activation.kind")
        if act_kind not in MONOTONE:
            raise r.fail(f"{field}.activation.kind", f"{act_kind}; a conv2d layer takes {', '.join(MONOTONE)} "
                         "(the runtime max-pools before requantizing, exact only for these)")
        c = self.read_common(r, doc, i, last, {"out": out, "k": k, "cin": shape[2]}, bits)
        t = c["t"]
        return Conv2D(shape, out, k, c["act"], t["w"], t["b"], t["w_q"], t["b_q"], c["in_scale"],
                      t["acc_scale"], c["out_scale"], t["mult"], t["shift"], c["name"], bits)

    def out_shape(self, layer: Conv2D, in_shape: Shape) -> Shape:
        return layer.out_shape

    # ------------------------------------------------------------------------------ quantization
    def quantize(self, fl: Any, in_scale: float, in_max: int, per_channel: bool) -> Conv2D:
        w = np.asarray(fl.weights["w"], np.float32)  # [out, k, k, in]
        b = np.asarray(fl.weights["b"], np.float32)
        bits = weight_bits(fl)
        act, out_scale, target = resolve_activation(fl)
        if act.kind not in MONOTONE:
            # The runtime pools accumulators before requantizing, exact only for monotone activations.
            raise NNModelError(f"layer {fl.name or 'conv2d'}: activation {act.kind}; a conv layer takes relu, "
                               "linear or hardtanh")
        w_q, b_q, acc_scale = quantize_weights(w, b, in_scale, per_channel, bits)
        b_q = fold_input_zero(fl, w_q, b_q, acc_scale, in_scale)
        shape = (int(fl.extra["in_shape"][0]), int(fl.extra["in_shape"][1]), int(fl.extra["in_shape"][2]))
        layer = Conv2D(shape, w.shape[0], w.shape[1], act, w, b, w_q, b_q, in_scale, acc_scale, out_scale,
                       np.zeros(0, np.int32), np.zeros(0, np.int32), fl.name, bits)
        self.requant_params(layer, in_max, target)
        return layer

    def float_forward(self, fl: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = np.asarray(fl.weights["w"], np.float64)
        z = im2col(x, w.shape[1]) @ w.reshape(len(w), -1).T + fl.weights["b"]
        return z, float_activation(fl, z)

    # ------------------------------------------------------------------------------ reference
    def forward(self, layer: Conv2D, x: np.ndarray) -> np.ndarray:
        """int64 [N, oh, ow, out] activations for int64 [N, h, w, c] inputs."""
        acc = layer.b_q.astype(np.int64) + imatmul(im2col(x, layer.kernel), layer.w_q.reshape(layer.out_channels, -1))
        return requant_activate(acc, layer)

    def macs(self, layer: Conv2D, steps: int) -> int:
        return layer.outputs * layer.taps

    # ------------------------------------------------------------------------------ payload layout
    def lay_out(self, layer: Conv2D) -> tuple[Any, list[tuple[str, bytes]]]:
        ll, chunks = super().lay_out(layer)
        ll.in_shape, ll.kernel, ll.channels = tuple(layer.in_shape), layer.kernel, layer.out_channels
        return ll, chunks

    def descriptor(self, ll: Any) -> dict[str, Any]:
        d = super().descriptor(ll)
        d.update(in_shape=list(ll.in_shape or ()), kernel=ll.kernel, channels=ll.channels,
                 weight_bits=ll.weight_bits, bias_shift=ll.bias_shift)
        return d

    # ------------------------------------------------------------------------------ training
    def init_params(self, spec: Any, rng: np.random.Generator, init_ih: float) -> dict[str, np.ndarray]:
        k, c = spec.size, spec.in_shape[2]  # He normal over the fan-in k·k·in
        w = rng.normal(0.0, np.sqrt(2.0 / (k * k * c)), (spec.channels, k, k, c))
        return {"w": w, "b": np.zeros(spec.channels)}

    def float_extra(self, spec: Any, weight_bits: int) -> dict[str, Any]:
        return {"in_shape": spec.in_shape, "weight_bits": weight_bits}

    def train_forward(self, spec: Any, params: dict[str, np.ndarray], x: np.ndarray, in_scale: float,
                      in_max: int, q: Conv2D | None, step: TrainStep) -> TrainOut:
        """Keeps the im2col patches (integers in QAT) with the affine map to their real values."""
        cols = im2col(x, spec.size)
        # Real patch value = a·cols + c (the first layer in the standardized parametrization, as dense);
        # per-channel statistics repeat along the patch (order dy, dx, c).
        a, c = (in_scale / step.std, -step.mean / step.std) if step.first else (in_scale, 0.0)
        if np.ndim(a) or np.ndim(c):
            a, c = np.tile(np.broadcast_to(a, (x.shape[-1],)), spec.size ** 2), np.tile(
                np.broadcast_to(c, (x.shape[-1],)), spec.size ** 2)
        entry: dict[str, Any] = {"in_shape": x.shape, "cols": cols, "affine": (a, c)}
        if q is None:
            assert step.weight is not None
            w = step.weight.reshape(spec.channels, -1)
            shift = c * w.sum(axis=1) if np.ndim(c) == 0 else w @ c
            z = cols @ (a * w).T + (shift + params["b"])  # = (a·cols + c) @ wᵀ + b
            y, mask = float_act(spec.activation, z)
            entry.update(w=w, deriv=deriv(spec.activation, z, mask), y=y)
            return TrainOut(y, 1.0, in_max, entry)
        w_q = q.w_q.reshape(q.out_channels, -1)
        acc = q.b_q.astype(np.float64) + imatmul_bounded(cols, w_q, in_max)
        pre = requantize(acc.astype(np.int64), q.mult, q.shift)
        y = activate(pre, q.activation).astype(np.float64)
        entry.update(w=fake_quant_weight(w_q, q),
                     deriv=deriv(spec.activation, pre * target_scale(q.activation, q.out_scale),
                                 int_mask(spec.activation, pre)))
        return TrainOut(y, q.out_scale, q.activation.out_max_abs, entry)

    def train_backward(self, spec: Any, entry: dict, d: np.ndarray,
                       input_grad: bool) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        cols = entry["cols"]
        k_taps = cols.shape[-1]
        dz = d.reshape(cols.shape[:-1] + (spec.channels,)) * entry["deriv"]
        dz2 = dz.reshape(-1, spec.channels)
        a, c = entry["affine"]
        dz_sum = dz2.sum(axis=0)
        gw = a * (dz2.T @ cols.reshape(-1, k_taps)) + c * dz_sum[:, None]
        grads = {"w": gw.reshape((spec.channels, spec.size, spec.size, spec.in_shape[2])), "b": dz_sum}
        return grads, (col2im(dz @ entry["w"], entry["in_shape"], spec.size) if input_grad else None)

    # ------------------------------------------------------------------------------ C lowering
    def lower_params(self, ll: Any, lw: Lowering, sx: bool, k: int, c_in: int, c_out: int, pool: int,
                     n_q: int) -> list[str]:
        """The stage's two parameter structs, named `conv` (what it computes: input signedness, weight
        width, kernel, channels, fused pool size, pooled outputs per row, weights) and `out` (bias
        and requantization of its outputs), for the calls below."""
        lo, hi = ll.clamp
        return [f"const nnrt_conv_params_t conv = {{.sx = {int(sx)}u, .w4 = {int(ll.weight_bits == 4)}u, "
                f".k = {k}u, .c_in = {c_in}u, .c_out = {c_out}u, .p = {pool}u, .n_q = {n_q}u, .w = {lw.w(ll, 'w')}}};",
                f"const nnrt_conv_out_params_t out = {{.bias = {lw.w(ll, 'bias')}, .bias_width = {ll.bias_width}u, "
                f".bias_shift = {ll.bias_shift}u, .mult = {lw.w(ll, 'mult')}, .shift = {lw.w(ll, 'shift')}, "
                f".per_channel = {int(ll.per_channel)}u, .lo = {lo}, .hi = {hi}}};"]

    def lower_window(self, dst: str) -> str:
        """One pooled output row at once from the k+p-1 input rows in `rows`."""
        return f"nnrt_conv_window(rows, &conv, &out, {dst});"

    def lower_run(self, run: str, wide: bool, first: str) -> str:
        """One conv row (k input rows in `rows`) into the running max of its pooling group."""
        return f"nnrt_conv_run(rows, &conv, {run}, {int(wide)}u, {first});"

    def lower_out(self, run: str, wide: bool, n_q: int, c_out: int, dst: str) -> str:
        """The end of a pooling group: bias and requantization of the running max."""
        return f"nnrt_conv_out({run}, {int(wide)}u, {n_q}u, {c_out}u, &out, {dst});"

    # ------------------------------------------------------------------------------ description
    def summary(self, layer: Conv2D) -> str:
        return f"conv {layer.kernel}x{layer.kernel} {shape_text(layer.in_shape)}->{shape_text(layer.out_shape)}"

    def c_word(self, layer: Conv2D) -> str:
        return (f"conv2d:{'x'.join(map(str, layer.in_shape))}->{'x'.join(map(str, layer.out_shape))}"
                + self.act_word(layer))

    def card_row(self, layer: Conv2D) -> tuple[str, str, str, str, int]:
        return (f"conv {layer.kernel}×{layer.kernel}",
                f"{'×'.join(map(str, layer.in_shape))} → {'×'.join(map(str, layer.out_shape))}",
                layer.activation.kind, self.weights_text(layer),
                self.parameter_count(layer))

    def weight_tensors(self, layer: Conv2D) -> list[tuple[str, np.ndarray, int]]:
        return [(f"{layer.kernel}x{layer.kernel} {layer.in_shape[2]}->{layer.out_channels}", layer.w_q,
                 layer.weight_bits)]


def shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def read_map_shape(r: Any, doc: dict, i: int, expected: Shape) -> tuple[int, int, int]:
    """A conv/pool layer's in_shape [h, w, c]: must be what the previous layer (or the image) gives."""
    field = f"layers[{i}].in_shape"
    value = r.get(doc, "in_shape", list, field)
    if len(value) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_DIM
                                  for v in value):
        raise r.fail(field, f"{value} is not [h, w, channels] with each in 1..{MAX_DIM}")
    shape = (value[0], value[1], value[2])
    if shape != tuple(expected):
        raise r.fail(field, f"{list(shape)}, but the previous layer gives {list(expected)}")
    return shape
