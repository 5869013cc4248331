"""The trainable network: float parameters, a float forward and a QAT forward that runs the exact
integer arithmetic of nnmodel.reference, and manual backprop (BPTT for the RNN stack) for both.

QAT forward: the integer Model comes from export.quantize_model on the current float weights (so
scales, int8 weights, int32 biases and (M, S) from quant.choose_multiplier are the exported ones);
accumulators are exact integer sums (float64 BLAS on integers, as in reference.py), then
quant.requantize (floor shift) and quant.activate (clamp / LUT). Backward is a straight-through
estimator: the gradient flows as if y = f(W_fq·x + b) with W_fq = W_q·scale, through every
rounding, and is masked where the clamp saturates.

Conv layers run as im2col (HWC patches ordered dy, dx, c, as reference.im2col) times the weight
matrix [out, k·k·in]; max pooling routes the gradient to the first maximum of each window.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..export import HARDTANH_SCALE, FloatLayer, lut_out_scale, quantize_model
from ..model import RNN, Conv2D, Dense, InputSpec, Model
from ..quant import INPUT_MAX, activate, requantize, weight_qmax
from ..reference import im2col
from .arch import Arch, LayerSpec

LUT_IN_SCALE = 4.0 / 128.0  # the tanh table covers [-4, 4): tanh(4) = 0.9993
FLOAT32_EXACT = 2**24  # float32 holds every integer up to this; float64 up to 2^53


@dataclass
class Cache:
    """What backward needs from one forward pass."""

    per_layer: list = field(default_factory=list)
    logit_scale: float = 1.0


def _init_params(spec: LayerSpec, rng: np.random.Generator, init_ih: float = 0.0) -> dict[str, np.ndarray]:
    if spec.kind == "maxpool2d":
        return {}
    if spec.kind == "conv2d":  # He normal over the fan-in k·k·in
        k, c = spec.size, spec.in_shape[2]
        w = rng.normal(0.0, np.sqrt(2.0 / (k * k * c)), (spec.channels, k, k, c))
        return {"w": w, "b": np.zeros(spec.channels)}
    if spec.kind == "dense":
        gain = 2.0 if spec.activation == "relu" else 1.0  # He for relu, Glorot-ish otherwise
        w = rng.normal(0.0, np.sqrt(gain / spec.n_in), (spec.n_out, spec.n_in))
        return {"w": w, "b": np.zeros(spec.n_out)}
    limit = np.sqrt(6.0 / (spec.n_in + spec.n_out))
    w_ih = rng.uniform(-limit, limit, (spec.n_out, spec.n_in))
    if init_ih:  # smaller input weights: 0..1 pixels summed over a row saturate hard-tanh at Glorot scale
        w_ih = rng.normal(0.0, init_ih / np.sqrt(spec.n_in), (spec.n_out, spec.n_in))
    # Orthogonal recurrent matrix: keeps the 28-step gradient from exploding or vanishing at init.
    q, r = np.linalg.qr(rng.normal(size=(spec.n_out, spec.n_out)))
    w_hh = q * np.sign(np.diag(r))
    return {"w_ih": w_ih, "w_hh": w_hh, "b": np.zeros(spec.n_out)}


def _deriv(kind: str, z: np.ndarray, mask: np.ndarray, leak: float = 0.0) -> np.ndarray:
    """d act / d z (real-valued z), zeroed where the (integer) clamp saturates.

    leak > 0 (hard-tanh only): a surrogate slope `leak` where the clamp saturates instead of 0, so
    a saturated unit still gets a gradient back (the forward is unchanged).
    """
    if kind == "lut":
        return (1.0 - np.tanh(z) ** 2) * mask
    if leak and kind == "hardtanh":
        return np.where(mask, 1.0, leak)
    return mask.astype(np.float64)


def _float_act(kind: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(y, mask) of the float activation; relu is unbounded in float training."""
    if kind == "relu":
        return np.maximum(z, 0.0), z > 0
    if kind == "hardtanh":
        return np.clip(z, -1.0, 1.0), np.abs(z) <= 1.0
    if kind == "lut":
        return np.tanh(z), np.ones(z.shape, bool)
    return z, np.ones(z.shape, bool)


def _int_mask(kind: str, pre: np.ndarray) -> np.ndarray:
    if kind == "relu":
        return (pre > 0) & (pre <= 127)
    if kind == "hardtanh":
        return (pre >= -127) & (pre <= 127)
    return (pre >= -128) & (pre <= 127)


def _target_scale(layer: Dense | RNN) -> float:
    """Real value of one step of the requantized pre-activation."""
    return layer.activation.lut_in_scale if layer.activation.kind == "lut" else layer.out_scale


def _imatmul(x: np.ndarray, w_q: np.ndarray) -> np.ndarray:
    """Exact integer x · w_qᵀ (all operands are integers well inside float64's exact range)."""
    return np.rint(x @ w_q.astype(np.float64).T)


def _imatmul_bounded(x: np.ndarray, w_q: np.ndarray, in_max: int) -> np.ndarray:
    """Exact integer x · w_qᵀ for |x| <= in_max, in float32 when every partial sum provably stays
    below 2^24 (each is bounded by Σ|w|·in_max, whatever the summation order), else float64."""
    if int(np.abs(w_q.astype(np.int64)).sum(axis=1).max()) * in_max < FLOAT32_EXACT:
        return (x.astype(np.float32) @ w_q.astype(np.float32).T).astype(np.float64)
    return _imatmul(x, w_q)


def _col2im(d_cols: np.ndarray, in_shape: tuple[int, ...], k: int) -> np.ndarray:
    """Adjoint of reference.im2col: [N, oh, ow, k*k*c] patch gradients -> [N, h, w, c]."""
    n, oh, ow, _ = d_cols.shape
    c = in_shape[-1]
    d_cols = d_cols.reshape(n, oh, ow, k, k, c)
    dx = np.zeros((n,) + tuple(in_shape[1:]), d_cols.dtype)
    for dy in range(k):
        for dxx in range(k):
            dx[:, dy:dy + oh, dxx:dxx + ow, :] += d_cols[:, :, :, dy, dxx, :]
    return dx


def _maxpool(x: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """(y [N, h//p, w//p, c], index of each window's first maximum in 0..p*p-1), floor on ragged edges."""
    n, h, w, c = x.shape
    oh, ow = h // p, w // p
    win = x[:, :oh * p, :ow * p, :].reshape(n, oh, p, ow, p, c).transpose(0, 1, 3, 5, 2, 4)
    win = win.reshape(n, oh, ow, c, p * p)
    arg = win.argmax(axis=-1)
    return np.take_along_axis(win, arg[..., None], axis=-1)[..., 0], arg


def _maxpool_backward(d: np.ndarray, arg: np.ndarray, in_shape: tuple[int, ...], p: int) -> np.ndarray:
    n, oh, ow, c = arg.shape
    hot = (arg[..., None] == np.arange(p * p)) * d[..., None]  # [n, oh, ow, c, p*p]
    hot = hot.reshape(n, oh, ow, c, p, p).transpose(0, 1, 4, 2, 5, 3).reshape(n, oh * p, ow * p, c)
    dx = np.zeros((n,) + tuple(in_shape[1:]))
    dx[:, :oh * p, :ow * p, :] = hot
    return dx


@dataclass
class Network:
    arch: Arch
    params: list[dict[str, np.ndarray]]
    out_scales: list[float]  # real value of one output step per layer (0 for the logits layer)
    input_spec: InputSpec = field(default_factory=InputSpec)
    # The first layer trains on standardized pixels (x - mean) / std (better conditioned than 0..1);
    # float_layers() folds mean and std into its weights and bias, so the exported model eats raw pixels.
    input_mean: float = 0.0
    input_std: float = 1.0
    leak: float = 0.0  # surrogate hard-tanh slope where it saturates (backward only; see _deriv)
    weight_bits: int = 8  # of dense and conv weights (4: int4, two per byte); RNN weights stay int8

    @classmethod
    def create(cls, arch: Arch, rng: np.random.Generator, input_mean: float = 0.0,
               input_std: float = 1.0, init_ih: float = 0.0, weight_bits: int = 8) -> "Network":
        params = [_init_params(spec, rng, init_ih) for spec in arch.layers]
        scales = []
        for spec in arch.layers:
            if spec.activation == "hardtanh":
                scales.append(HARDTANH_SCALE)
            elif spec.activation == "lut":
                scales.append(lut_out_scale(spec.lut_function, LUT_IN_SCALE))
            elif spec.activation == "relu":
                scales.append(4.0 / 127.0)  # placeholder until calibration
            else:
                scales.append(0.0)
        spec_in = InputSpec()
        if arch.family == "cnn":
            h, w, _ = arch.layers[0].in_shape
            spec_in = InputSpec(rows=h, cols=w)
        return cls(arch, params, scales, spec_in, input_mean, input_std, weight_bits=weight_bits)

    @property
    def n_rnn(self) -> int:
        return sum(1 for spec in self.arch.layers if spec.kind == "rnn")

    @property
    def n_front(self) -> int:
        return self.arch.n_front

    # ------------------------------------------------------------------------------ learned weight ranges
    # Export scales a tensor by max|W| / qmax, so one outlier weight coarsens the grid for all (int4 has
    # 7 steps a side). With a learned clip c per tensor (LSQ-style, Esser et al. 2020), QAT exports
    # clip(W, -c, c): the scale becomes c / qmax and the optimizer trades outliers against resolution.
    def add_clips(self) -> None:
        """Give every dense/conv weight tensor a clip parameter, inactive (inf) until start_clips()."""
        for spec, p in zip(self.arch.layers, self.params):
            if spec.kind in ("dense", "conv2d"):
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
            if spec.kind not in ("dense", "conv2d") or "w" not in g:
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
    def float_layers(self) -> list[FloatLayer]:
        out = []
        for i, (spec, p) in enumerate(zip(self.arch.layers, self.params)):
            p = self._folded_first() if i == 0 else self._exported(i)
            weights = {k: v.astype(np.float32) for k, v in p.items()}
            extra: dict = {}
            if spec.kind in ("conv2d", "maxpool2d"):
                extra["in_shape"] = spec.in_shape
            if spec.kind == "maxpool2d":
                extra["size"] = spec.size
            if spec.kind in ("conv2d", "dense"):
                extra["weight_bits"] = self.weight_bits
            out.append(FloatLayer(spec.kind, weights, spec.activation, self.out_scales[i],
                                  spec.lut_function, LUT_IN_SCALE if spec.activation == "lut" else 0.0,
                                  name=f"{spec.kind}{i}", extra=extra))
        return out

    def _folded_first(self) -> dict[str, np.ndarray]:
        """First-layer parameters for raw 0..1 pixels: W x_std + b = (W/std) x + (b - mean/std · W·1)."""
        p = self._exported(0)
        key = "w_ih" if "w_ih" in p else "w"
        p[key] = p[key] / self.input_std
        p["b"] = p["b"] - self.input_mean * p[key].reshape(len(p[key]), -1).sum(axis=1)
        return p

    def _exported(self, i: int) -> dict[str, np.ndarray]:
        p = {k: v for k, v in self.params[i].items() if k != "clip"}
        if "w" in p:
            p["w"] = self._weight(i)
        return p

    def _standardize(self, x_real: np.ndarray) -> np.ndarray:
        return (x_real - self.input_mean) / self.input_std

    def quantize(self, name: str = "model", *, per_channel: bool = False, provenance: dict | None = None,
                 labels: list[str] | None = None) -> Model:
        return quantize_model(name, self.float_layers(), labels=labels, input_spec=self.input_spec,
                              per_channel=per_channel, provenance=provenance)

    # ------------------------------------------------------------------------------ forward
    def forward(self, images: np.ndarray, q: Model | None = None, *, dropout: float = 0.0,
                rng: np.random.Generator | None = None) -> tuple[np.ndarray, Cache]:
        """Logits (float64, real-valued up to one common factor) for uint8 images [N, rows, cols].

        q is None: float forward. Otherwise QAT forward with the integer model q (from quantize());
        in eval mode (dropout 0) `cache.per_layer[-1]["acc"]` holds the exact integer logits.
        """
        x = np.asarray(images, np.float64)
        n = x.shape[0]
        spec_in = self.input_spec
        cache = Cache()
        scale = spec_in.scale
        start = self.n_rnn or self.n_front
        if self.n_rnn:
            vec, scale = self._rnn_forward(x, q, cache)
        elif self.n_front:
            vec, scale = self._conv_front_forward(x, q, cache)
            vec = vec.reshape(n, -1)  # HWC order, as reference.run flattens
        else:
            vec = x.reshape(n, spec_in.size)
        for i in range(start, len(self.arch.layers)):
            if dropout > 0 and i > 0 and rng is not None:
                keep = rng.random(vec.shape) >= dropout
                vec = vec * keep / (1.0 - dropout)
                if q is not None:
                    vec = np.rint(vec)  # the integer path needs integer inputs
                cache.per_layer.append({"drop": keep / (1.0 - dropout)})
            else:
                cache.per_layer.append({"drop": None})
            vec, scale = self._dense_forward(i, vec, scale, q, cache)
        return vec, cache

    def _dense_forward(self, i: int, x: np.ndarray, in_scale: float, q: Model | None,
                       cache: Cache) -> tuple[np.ndarray, float]:
        spec, entry = self.arch.layers[i], cache.per_layer[-1]
        if q is None:
            p, w = self.params[i], self._weight(i)
            x_real = x * in_scale if i else self._standardize(x * in_scale)
            z = x_real @ w.T + p["b"]
            entry.update(x_real=x_real, w=w)
            if spec.activation == "none":
                entry["deriv"] = None
                return z, 1.0
            y, mask = _float_act(spec.activation, z)
            entry.update(deriv=_deriv(spec.activation, z, mask), y=y)  # y: for relu scale calibration
            return y, 1.0
        layer = q.layers[i]
        assert isinstance(layer, Dense)
        acc = layer.b_q.astype(np.float64) + _imatmul(x, layer.w_q)
        w_scale = layer.acc_scale / layer.in_scale
        # Gradients for layer 0 are taken in the standardized parametrization (see float_layers).
        x_real = x * layer.in_scale if i else self._standardize(x * layer.in_scale)
        entry.update(x_real=x_real, w=layer.w_q * (w_scale[:, None] if w_scale.size > 1 else w_scale[0]))
        if spec.activation == "none":
            # The prediction is argmax of the int logits, so the loss sees them with one common scale.
            c = float(layer.acc_scale.mean())
            entry.update(deriv=c / layer.acc_scale, acc=acc.astype(np.int64))
            cache.logit_scale = c
            return acc * c, 1.0
        pre = requantize(acc.astype(np.int64), layer.mult, layer.shift)
        y = activate(pre, layer.activation)
        entry["deriv"] = _deriv(spec.activation, pre * _target_scale(layer), _int_mask(spec.activation, pre))
        return y.astype(np.float64), layer.out_scale

    def _conv_front_forward(self, x: np.ndarray, q: Model | None, cache: Cache) -> tuple[np.ndarray, float]:
        """Conv/pool stack on [N, h, w] images; per conv layer keep its im2col patches (as integers in
        QAT, with the affine map to real values) and act'(z), per pool the argmax of each window."""
        vec = x[..., None]
        scale, in_max = self.input_spec.scale, INPUT_MAX
        for i in range(self.n_front):
            spec = self.arch.layers[i]
            entry: dict = {"drop": None, "in_shape": vec.shape}
            cache.per_layer.append(entry)
            if spec.kind == "maxpool2d":
                vec, entry["arg"] = _maxpool(vec, spec.size)
                continue
            cols = im2col(vec, spec.size)
            # Real patch value = a·cols + c (layer 0 in the standardized parametrization, as dense).
            a, c = scale, 0.0
            if i == 0:
                a, c = scale / self.input_std, -self.input_mean / self.input_std
            if q is None:
                p = self.params[i]
                w = self._weight(i).reshape(spec.channels, -1)
                z = cols @ (a * w).T + (c * w.sum(axis=1) + p["b"])  # = (a·cols + c) @ wᵀ + b
                vec, mask = _float_act(spec.activation, z)
                entry.update(cols=cols, affine=(a, c), w=w, deriv=_deriv(spec.activation, z, mask), y=vec)
                scale = 1.0
                continue
            layer = q.layers[i]
            assert isinstance(layer, Conv2D)
            w_q = layer.w_q.reshape(layer.out_channels, -1)
            acc = layer.b_q.astype(np.float64) + _imatmul_bounded(cols, w_q, in_max)
            pre = requantize(acc.astype(np.int64), layer.mult, layer.shift)
            vec = activate(pre, layer.activation).astype(np.float64)
            w_scale = layer.acc_scale / layer.in_scale
            entry.update(cols=cols, affine=(a, c), w=w_q * (w_scale[:, None] if w_scale.size > 1 else w_scale[0]),
                         deriv=_deriv(spec.activation, pre * _target_scale(layer), _int_mask(spec.activation, pre)))
            scale, in_max = layer.out_scale, layer.activation.out_max_abs
        return vec, scale

    def _rnn_forward(self, x: np.ndarray, q: Model | None, cache: Cache) -> tuple[np.ndarray, float]:
        """Run the RNN stack over the rows; keep per step the [input, h_prev] (real) and act'(z)."""
        n, rows, _ = x.shape
        k_layers = self.n_rnn
        hs = [np.zeros((n, self.arch.layers[k].n_out)) for k in range(k_layers)]
        ins: list[list[np.ndarray]] = [[] for _ in range(k_layers)]
        derivs: list[list[np.ndarray]] = [[] for _ in range(k_layers)]
        mats = []  # per layer: (W_cat used in backward, in_scale, out_scale, integer weights or None)
        in_scale = self.input_spec.scale
        for k in range(k_layers):
            spec, p = self.arch.layers[k], self.params[k]
            if q is None:
                mats.append((np.hstack([p["w_ih"], p["w_hh"]]), in_scale, 1.0, None, p["b"], None))
                in_scale = 1.0
            else:
                layer = q.layers[k]
                assert isinstance(layer, RNN)
                col = layer.acc_scale[:, None] if layer.acc_scale.size > 1 else layer.acc_scale[0]
                w_fq = np.hstack([layer.w_ih_q * (col / layer.in_scale), layer.w_hh_q * (col / layer.out_scale)])
                w_int = np.hstack([layer.w_ih_q, layer.w_hh_q]).astype(np.float64).T
                mats.append((w_fq, layer.in_scale, layer.out_scale, w_int, layer.b_q.astype(np.float64), layer))
        for t in range(rows):
            inp = x[:, t, :]
            for k in range(k_layers):
                spec = self.arch.layers[k]
                w, s_in, s_out, w_int, b, layer = mats[k]
                cat = np.hstack([inp, hs[k]])
                if layer is None:
                    inp_real = self._standardize(inp * s_in) if k == 0 else inp * s_in
                    cat_real = np.hstack([inp_real, hs[k]])
                    z = cat_real @ w.T + b
                    h, mask = _float_act(spec.activation, z)
                    derivs[k].append(_deriv(spec.activation, z, mask, self.leak))
                else:
                    acc = b + np.rint(cat @ w_int)
                    pre = requantize(acc.astype(np.int64), layer.mult, layer.shift)
                    h = activate(pre, layer.activation).astype(np.float64)
                    inp_real = self._standardize(inp * s_in) if k == 0 else inp * s_in
                    cat_real = np.hstack([inp_real, hs[k] * s_out])
                    derivs[k].append(_deriv(spec.activation, pre * _target_scale(layer),
                                            _int_mask(spec.activation, pre), self.leak))
                ins[k].append(cat_real)
                hs[k] = h
                inp = h
        cache.per_layer.extend({"ins": ins[k], "deriv": derivs[k], "w": mats[k][0],
                                "n_in": self.arch.layers[k].n_in} for k in range(k_layers))
        if q is None:  # every step's state, for relu scale calibration
            for k in range(k_layers):
                n_in = self.arch.layers[k].n_in
                cache.per_layer[k]["y"] = np.concatenate([c[:, n_in:] for c in ins[k][1:]] + [hs[k]])
        return hs[-1], (1.0 if q is None else mats[-1][2])

    # ------------------------------------------------------------------------------ backward
    def backward(self, d_logits: np.ndarray, cache: Cache) -> list[dict[str, np.ndarray]]:
        """Gradients of the loss for every parameter, given dLoss/dlogits (as returned by forward)."""
        grads: list[dict[str, np.ndarray]] = [dict() for _ in self.params]
        d = d_logits
        start = self.n_rnn or self.n_front
        for i in range(len(self.arch.layers) - 1, start - 1, -1):
            entry = cache.per_layer[i]
            deriv = entry["deriv"]
            dz = d * deriv if deriv is not None else d
            grads[i]["w"] = dz.T @ entry["x_real"]
            grads[i]["b"] = dz.sum(axis=0)
            d = dz @ entry["w"]
            if entry["drop"] is not None:
                d = d * entry["drop"]
        if self.n_rnn:
            self._rnn_backward(d, cache, grads)
        elif self.n_front:
            self._conv_front_backward(d, cache, grads)
        self._clip_grads(grads)
        return grads

    def _conv_front_backward(self, d: np.ndarray, cache: Cache, grads: list[dict[str, np.ndarray]]) -> None:
        """d: dLoss/d(flattened output of the conv/pool stack)."""
        front = self.n_front
        for i in range(front - 1, -1, -1):
            spec, entry = self.arch.layers[i], cache.per_layer[i]
            if spec.kind == "maxpool2d":
                d = _maxpool_backward(d.reshape(entry["arg"].shape), entry["arg"], entry["in_shape"], spec.size)
                continue
            cols = entry["cols"]
            k_taps = cols.shape[-1]
            dz = d.reshape(cols.shape[:-1] + (spec.channels,)) * entry["deriv"]
            dz2 = dz.reshape(-1, spec.channels)
            a, c = entry["affine"]
            dz_sum = dz2.sum(axis=0)
            gw = a * (dz2.T @ cols.reshape(-1, k_taps)) + c * dz_sum[:, None]
            grads[i]["w"] = gw.reshape(self.params[i]["w"].shape)
            grads[i]["b"] = dz_sum
            if i:  # the image needs no gradient
                d = _col2im(dz @ entry["w"], entry["in_shape"], spec.size)

    def _rnn_backward(self, d_top: np.ndarray, cache: Cache, grads: list[dict[str, np.ndarray]]) -> None:
        """Backprop through time over the whole stack; weight gradients summed in one product per layer."""
        k_layers = self.n_rnn
        entries = cache.per_layer[:k_layers]
        steps = len(entries[0]["ins"])
        rec = [np.zeros_like(entries[k]["deriv"][0]) for k in range(k_layers)]
        rec[-1] = d_top
        dzs: list[list[np.ndarray]] = [[None] * steps for _ in range(k_layers)]  # type: ignore[list-item]
        for t in range(steps - 1, -1, -1):
            up = None
            for k in range(k_layers - 1, -1, -1):
                e = entries[k]
                g = rec[k] if up is None else rec[k] + up
                dz = g * e["deriv"][t]
                dzs[k][t] = dz
                d_cat = dz @ e["w"]
                up = d_cat[:, :e["n_in"]]
                rec[k] = d_cat[:, e["n_in"]:]
        for k in range(k_layers):
            e = entries[k]
            dz_all = np.concatenate(dzs[k], axis=0)
            g_cat = dz_all.T @ np.concatenate(e["ins"], axis=0)
            grads[k]["w_ih"] = g_cat[:, :e["n_in"]]
            grads[k]["w_hh"] = g_cat[:, e["n_in"]:]
            grads[k]["b"] = dz_all.sum(axis=0)


def distill_xent(logits: np.ndarray, labels: np.ndarray, teacher: np.ndarray, weight: float,
                 temperature: float) -> tuple[float, np.ndarray]:
    """(1 - weight)·CE(labels) + weight·T²·CE(softmax(teacher/T), softmax(logits/T)), and its gradient.

    Knowledge distillation (Hinton et al. 2015): the teacher's soft targets at temperature T. The T²
    factor keeps the soft term's gradient on the scale of the hard one.
    """
    loss, d = softmax_xent(logits, labels)
    if not weight:
        return loss, d
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
