"""The trainable network: float parameters, a float forward and a QAT forward that runs the exact
integer arithmetic of nnmodel.reference, and manual backprop for both; each layer's part is its
kind's Op (train_forward / train_backward in nnmodel/ops).

QAT forward: the integer Model comes from quantize.quantize_model on the current float weights (so
scales, int8 weights, int32 biases and (M, S) from quant.choose_multiplier are the exported ones);
accumulators are exact integer sums (float64 BLAS on integers, as in reference.py), then
quant.requantize (floor shift) and the activation's clamp / LUT. Backward is a straight-through
estimator: the gradient flows as if y = f(W_fq·x + b) with W_fq = W_q·scale, through every
rounding, and is masked where the clamp saturates. A recurrent layer backpropagates through time;
conv layers run as im2col (HWC patches ordered dy, dx, c) times the weight matrix [out, k·k·in];
max pooling routes the gradient to the first maximum of each window.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import ops
from ..model import InputSpec, Model
from ..ops.activation import HARDTANH_SCALE, lut_out_scale
from ..ops.base import TrainStep
from ..ops.gates import Q7
from ..quant import INPUT_MAX, weight_qmax
from ..quantize import FloatLayer, quantize_model
from .arch import Arch, LayerSpec

LUT_IN_SCALE = 4.0 / 128.0  # the tanh table covers [-4, 4): tanh(4) = 0.9993


@dataclass
class Cache:
    """What backward needs from one forward pass: one entry per layer (its Op's, plus the dropout
    mask of its input and the form change into it)."""

    per_layer: list = field(default_factory=list)


@dataclass
class Network:
    arch: Arch
    params: list[dict[str, np.ndarray]]
    out_scales: list[float]  # real value of one output step per layer (0 for the logits layer)
    input_spec: InputSpec = field(default_factory=InputSpec)
    # The first layer trains on standardized inputs (x - mean) / std (better conditioned than raw
    # codes); float_layers() folds mean and std into its weights and bias, so the exported model eats
    # raw codes. One value, or one per element of the first layer's input's last axis.
    input_mean: float | np.ndarray = 0.0
    input_std: float | np.ndarray = 1.0
    # Regression: the network learns standardized targets (y - mean) / std; the final export folds
    # std and mean into the last layer, so the model's outputs are in the targets' units.
    target_mean: np.ndarray | None = None
    target_std: np.ndarray | None = None
    leak: float = 0.0  # surrogate hard-tanh slope where it saturates (backward only; see ops.activation.deriv)
    weight_bits: int = 8  # of dense and conv weights (4: int4, two per byte); RNN weights stay int8

    @classmethod
    def create(cls, arch: Arch, rng: np.random.Generator, input_mean: float | np.ndarray = 0.0,
               input_std: float | np.ndarray = 1.0, init_ih: float = 0.0, weight_bits: int = 8,
               input_spec: InputSpec | None = None) -> Network:
        params = [_op(spec).init_params(spec, rng, init_ih) for spec in arch.layers]
        scales = []
        for spec in arch.layers:
            if spec.activation == "hardtanh":
                scales.append(HARDTANH_SCALE)
            elif spec.activation == "lut":
                scales.append(lut_out_scale(spec.lut_function, LUT_IN_SCALE))
            elif spec.activation == "relu":
                scales.append(4.0 / 127.0)  # placeholder until calibration
            elif spec.activation == "gates":
                scales.append(Q7)  # a gru/lstm state is Q7 (docs/recurrent.md)
            else:
                scales.append(0.0)
        spec_in = input_spec or InputSpec()
        front = arch.image_front
        if input_spec is None and front is not None:
            spec_in = InputSpec(rows=front[0], cols=front[1])
        return cls(arch, params, scales, spec_in, input_mean, input_std, weight_bits=weight_bits)

    @property
    def regression(self) -> bool:
        return self.target_mean is not None

    @property
    def first_weighted(self) -> int:
        """The layer that reads standardized inputs and into which export folds the standardization: the
        first with weights (max pools before it commute with a per-channel (x - mean) / std, std > 0)."""
        return next(i for i, spec in enumerate(self.arch.layers) if _op(spec).has_weights)

    # ------------------------------------------------------------------------------ learned weight ranges
    # Export scales a tensor by max|W| / qmax, so one outlier weight coarsens the grid for all (int4 has
    # 7 steps a side). With a learned clip c per tensor (LSQ-style, Esser et al. 2020), QAT exports
    # clip(W, -c, c): the scale becomes c / qmax and the optimizer trades outliers against resolution.
    def add_clips(self) -> None:
        """Give every dense/conv weight tensor a clip parameter, inactive (inf) until start_clips()."""
        for spec, p in zip(self.arch.layers, self.params):
            if _op(spec).clips_weight:
                p["clip"] = np.full(1, np.inf)

    def start_clips(self) -> None:
        """Activate the clips at max|W| (nothing clipped yet: the export is unchanged at this step)."""
        for p in self.params:
            if "clip" in p:
                p["clip"][:] = np.abs(p["w"]).max()

    def project_clips(self) -> None:
        """Keep c <= max|W|: above it c would not change the export, and its gradient would lie."""
        for p in self.params:
            if "clip" in p:
                np.minimum(p["clip"], np.abs(p["w"]).max(), out=p["clip"])

    def dampen(self, grads: list[dict[str, np.ndarray]], strength: float, per_channel: bool = False) -> None:
        """Add the gradient of strength/2 · Σ (w/s - round(w/s))² to each dense/conv weight gradient.

        Oscillation dampening (Nagel et al. 2022): with a straight-through backward, latent weights near
        a rounding boundary flip between two integers from step to step, so the exported integers (and
        the accuracy) jitter until the end. Pulling each weight towards its grid point settles them.
        s is the export's step: clip or max|W| (per output row if per_channel), over qmax; weights
        beyond a clip are left to it.
        """
        qmax = weight_qmax(self.weight_bits)
        for spec, p, g in zip(self.arch.layers, self.params, grads):
            if not _op(spec).clips_weight or "w" not in g:
                continue
            w = p["w"]
            if "clip" in p and np.isfinite(p["clip"][0]):
                c = p["clip"][0]
            else:
                flat = np.abs(w).reshape(len(w), -1)
                c = flat.max(axis=1).reshape((-1,) + (1,) * (w.ndim - 1)) if per_channel else flat.max()
            step = np.maximum(c, 1e-12) / qmax
            r = w / step
            g["w"] = g["w"] + strength * np.where(np.abs(w) < c, r - np.round(r), 0.0) / step

    def _weight(self, i: int) -> np.ndarray:
        """The weight tensor as exported (clipped when its range is learned)."""
        p = self.params[i]
        return np.clip(p["w"], -p["clip"][0], p["clip"][0]) if "clip" in p else p["w"]

    def _clip_grads(self, grads: list[dict[str, np.ndarray]]) -> None:
        """Turn dLoss/d(fake-quantized W) into gradients for W (straight through inside the clip, zero
        outside) and for c: dq/dc = (round(w/s) - w/s)/qmax inside, sign(w) outside, with s = c/qmax."""
        qmax = weight_qmax(self.weight_bits)
        for p, g in zip(self.params, grads):
            if "clip" not in p or "w" not in g or not np.isfinite(p["clip"][0]):
                continue
            c, w = p["clip"][0], p["w"]
            inside = np.abs(w) < c
            r = w / (c / qmax)
            g["clip"] = np.array([float((g["w"] * np.where(inside, (np.round(r) - r) / qmax, np.sign(w))).sum())])
            g["w"] = g["w"] * inside

    # ------------------------------------------------------------------------------ export
    def float_layers(self, final: bool = False) -> list[FloatLayer]:
        """The layers as exported; `final` also folds a regression's target statistics into the last."""
        out = []
        last, first = len(self.arch.layers) - 1, self.first_weighted
        for i, (spec, p) in enumerate(zip(self.arch.layers, self.params)):
            p = self._folded_first(i) if i == first else self._exported(i)
            if i == last and final and self.target_mean is not None and self.target_std is not None:
                p["w"] = p["w"] * self.target_std[:, None]
                p["b"] = p["b"] * self.target_std + self.target_mean
            weights = {k: v.astype(np.float32) for k, v in p.items()}
            extra = _op(spec).float_extra(spec, self.weight_bits)
            out.append(FloatLayer(spec.kind, weights, spec.activation, self.out_scales[i],
                                  spec.lut_function, LUT_IN_SCALE if spec.activation == "lut" else 0.0,
                                  name=f"{spec.kind}{i}", extra=extra))
        return out

    def _folded_first(self, i: int) -> dict[str, np.ndarray]:
        """First weighted layer's parameters for raw 0..1 pixels: W x_std + b = (W/std) x + (b - mean/std · W·1).
        The input weights are w (dense, conv), w_ih (rnn) or w_x (gru, lstm); a GRU's input bias is b_x."""
        p = self._exported(i)
        key = next(k for k in ("w_ih", "w_x", "w") if k in p)
        bias = "b_x" if "b_x" in p else "b"
        p[key] = p[key] / self.input_std
        if np.ndim(self.input_mean):  # per input element, along the weight's last axis
            p[bias] = p[bias] - (p[key] * self.input_mean).reshape(len(p[key]), -1).sum(axis=1)
        else:
            p[bias] = p[bias] - self.input_mean * p[key].reshape(len(p[key]), -1).sum(axis=1)
        return p

    def _exported(self, i: int) -> dict[str, np.ndarray]:
        p = {k: v for k, v in self.params[i].items() if k != "clip"}
        if "w" in p:
            p["w"] = self._weight(i)
        return p

    def _standardize(self, x_real: np.ndarray) -> np.ndarray:
        return (x_real - self.input_mean) / self.input_std

    def quantize(self, name: str = "model", *, per_channel: bool = False, provenance: dict | None = None,
                 labels: list[str] | None = None, final: bool = False) -> Model:
        """The integer model of the current weights; `final` for the saved one (a regression's outputs
        then come in the targets' units; while training they are standardized)."""
        return quantize_model(name, self.float_layers(final), labels=labels, input_spec=self.input_spec,
                              per_channel=per_channel, provenance=provenance)

    # ------------------------------------------------------------------------------ forward
    def forward(self, images: np.ndarray, q: Model | None = None, *, dropout: float = 0.0,
                rng: np.random.Generator | None = None) -> tuple[np.ndarray, Cache]:
        """Logits (float64, real-valued up to one common factor) for uint8 images [N, rows, cols].

        q is None: float forward. Otherwise QAT forward with the integer model q (from quantize());
        in eval mode (dropout 0) `cache.per_layer[-1]["acc"]` holds the exact integer logits.
        """
        x = np.asarray(images, np.float64)
        spec_in = self.input_spec
        form = _op(self.arch.layers[0]).in_form
        vec = x.reshape((len(x),) + ops.input_shape(spec_in.rows, spec_in.cols, form, spec_in.channels))
        scale, in_max = spec_in.scale, INPUT_MAX
        cache = Cache()
        first = self.first_weighted
        for i, spec in enumerate(self.arch.layers):
            op = _op(spec)
            shape = vec.shape
            vec = ops.adapt(vec, form, op.in_form)
            drop = None
            if op.takes_dropout and dropout > 0 and i > 0 and rng is not None:
                keep = rng.random(vec.shape) >= dropout
                vec = vec * keep / (1.0 - dropout)
                if q is not None:
                    vec = np.rint(vec)  # the integer path needs integer inputs
                drop = keep / (1.0 - dropout)
            weight = self._weight(i) if q is None and "w" in self.params[i] else None
            step = TrainStep(i == first, self.input_mean, self.input_std, self.leak, weight)
            out = op.train_forward(spec, self.params[i], vec, scale, in_max, None if q is None else q.layers[i], step)
            out.entry.update(drop=drop, adapt=(form, op.in_form, shape))
            cache.per_layer.append(out.entry)
            vec, scale, in_max, form = out.y, out.scale, out.in_max, op.out_form
        last = cache.per_layer[-1]
        if q is not None and self.regression and "logit_scale" in last:
            # The integer logits come at one common scale (enough for argmax); a regression's loss needs
            # each output at its own: acc_k · acc_scale_k.
            last["rescale"] = np.asarray(q.layers[-1].acc_scale, np.float64) / last["logit_scale"]
            vec = vec * last["rescale"]
        return vec, cache

    # ------------------------------------------------------------------------------ backward
    def backward(self, d_logits: np.ndarray, cache: Cache) -> list[dict[str, np.ndarray]]:
        """Gradients of the loss for every parameter, given dLoss/dlogits (as returned by forward)."""
        grads: list[dict[str, np.ndarray]] = [{} for _ in self.params]
        d = d_logits * cache.per_layer[-1].get("rescale", 1.0)
        first = self.first_weighted  # nothing below it to train
        for i in range(len(self.arch.layers) - 1, -1, -1):
            spec, entry = self.arch.layers[i], cache.per_layer[i]
            g, d_in = _op(spec).train_backward(spec, entry, d, i > first)
            grads[i].update(g)
            if d_in is None:
                break
            if entry["drop"] is not None:
                d_in = d_in * entry["drop"]
            src, dst, shape = entry["adapt"]
            d = ops.adapt_back(d_in, shape, src, dst)
        self._clip_grads(grads)
        return grads


def _op(spec: LayerSpec) -> ops.Op:
    op = ops.get(spec.kind)
    assert op is not None, spec.kind
    return op


def distill_xent(logits: np.ndarray, labels: np.ndarray, teacher: np.ndarray | None, weight: float,
                 temperature: float) -> tuple[float, np.ndarray]:
    """(1 - weight)·CE(labels) + weight·T²·CE(softmax(teacher/T), softmax(logits/T)), and its gradient.

    Knowledge distillation (Hinton et al. 2015): the teacher's soft targets at temperature T. The T²
    factor keeps the soft term's gradient on the scale of the hard one.
    """
    loss, d = softmax_xent(logits, labels)
    if not weight:
        return loss, d
    assert teacher is not None, "distillation with weight > 0 needs the teacher's logits"
    t = temperature
    zt = teacher / t - (teacher / t).max(axis=1, keepdims=True)
    pt = np.exp(zt)
    pt /= pt.sum(axis=1, keepdims=True)
    zs = logits / t - (logits / t).max(axis=1, keepdims=True)
    log_ps = zs - np.log(np.exp(zs).sum(axis=1, keepdims=True))
    n = len(labels)
    soft = float(-(pt * log_ps).sum(axis=1).mean()) * t * t
    d_soft = (np.exp(log_ps) - pt) * t / n  # d(T² CE)/d logits = T (p_s - p_t) / n
    return (1.0 - weight) * loss + weight * soft, (1.0 - weight) * d + weight * d_soft


def softmax_xent(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and its gradient with respect to the logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    n = len(labels)
    loss = float(-np.log(p[np.arange(n), labels] + 1e-300).mean())
    p[np.arange(n), labels] -= 1.0
    return loss, p / n
