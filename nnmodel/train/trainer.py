"""The training loop: seeded split, minibatch Adam, float warm-up with activation-scale calibration,
then quantization-aware training, best-epoch selection on the validation split.

Phases (see network.py for the QAT arithmetic):
  0. optional screening (--restarts N): N seeded initialisations train --screen-epochs float epochs
     each; the one with the best validation accuracy is kept (a tiny RNN's result depends strongly
     on where it starts).
  1. float phase (--float-epochs): plain float training. Each relu layer's output scale tracks an
     EMA (momentum 0.9 per batch) of the `calib_percentile` percentile of its float output over the
     batch; out_scale = ema / 127. Hard-tanh (1/127) and the tanh LUT have fixed scales.
  2. QAT phase: scales are frozen; every minibatch re-exports the current weights with
     quantize.quantize_model (int8 or int4 weights, int32 biases, (M, S) from quant.choose_multiplier
     on the actual integers) and trains through the exact integer forward with a straight-through
     backward. With learn_clip each weight tensor's clip range (hence its scale) is learned too.
     After each epoch the integer accuracy on the validation split is measured; the best epoch's
     weights (ties: earliest) are the result. The test set is never seen here.

Every random choice comes from one np.random.SeedSequence(seed), so a seed fixes the model.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .. import ops
from ..model import InputSpec, Model
from .arch import Arch
from .augment import AugmentConfig, augment
from .data import standardization
from .network import Cache, Network, distill_xent
from .optim import Adam, learning_rate

EVAL_CHUNK = 2000

# Soft targets for distillation: uint8 digits [B, 28, 28] -> real-valued logits [B, classes].
Teacher = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch: int = 64
    lr: float = 1e-3
    schedule: str = "cosine"
    warmup: int = 0  # steps of linear warm-up
    l2: float = 0.0
    dropout: float = 0.0
    clip: float = 5.0
    float_epochs: int = -1  # -1: max(1, epochs // 10)
    calib_percentile: float = 99.99
    val_split: float = 0.1
    patience: int = 0  # stop after this many QAT epochs without a better val_int; 0 = never
    per_channel: bool = False
    weight_bits: int = 8  # dense and conv weights: 8 (int8) or 4 (int4, two per byte)
    learn_clip: bool = False  # QAT learns a clip range per weight tensor (network.add_clips); per-tensor only
    damp: float = 0.0  # oscillation dampening of the QAT weights (network.dampen), ramped up from 0 over QAT
    leak: float = 0.0  # surrogate gradient slope of a saturated hard-tanh RNN unit (0 = exact STE)
    init_ih: float = 0.0  # RNN input weights ~ N(0, (init_ih/sqrt(n_in))^2); 0 = Glorot uniform
    distill: float = 0.0  # weight of the teacher's soft targets in the loss (needs a teacher)
    temperature: float = 4.0
    restarts: int = 1  # > 1: screen this many initialisations for `screen_epochs` float epochs, keep the best
    screen_epochs: int = 10
    split_seed: int = -1  # >= 0: the validation split comes from this seed alone (-1: from `seed`)
    ema: float = 0.0  # > 0: keep an exponential moving average of the QAT weights (decay per step)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = 0
    task: str = "classify"  # or "regress": MSE on standardized targets, selection by validation RMSE
    standardize: bool = False  # per-feature input standardization (a user's data; MNIST trains on raw pixels)

    @property
    def holdout_seed(self) -> int:
        """The seed that picks the validation digits."""
        return self.split_seed if self.split_seed >= 0 else self.seed

    @property
    def n_float_epochs(self) -> int:
        return self.float_epochs if self.float_epochs >= 0 else max(1, self.epochs // 10)


@dataclass
class EpochStats:
    """Scores are accuracies for classification and RMSEs (in the targets' units) for regression."""

    epoch: int
    loss: float
    train_acc: float
    val_float: float | None  # None without a validation split
    val_int: float | None  # None in the float phase, or without a validation split
    lr: float
    seconds: float


@dataclass
class TrainResult:
    network: Network
    best_epoch: int
    val_float: float | None  # None without a validation split (val_split = 0)
    val_int: float | None
    seconds: float
    history: list[EpochStats]
    n_train: int
    n_val: int


def validation_split(n: int, val_split: float, holdout_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The (train, val) indices of a run whose validation digits come from `holdout_seed`."""
    return split_indices(n, val_split, np.random.default_rng(np.random.SeedSequence(holdout_seed).spawn(1)[0]))


def split_indices(n: int, val_split: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) index arrays, both sorted; val is a seeded random `val_split` fraction."""
    perm = rng.permutation(n)
    n_val = round(n * val_split)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def int_logits(net: Network, q: Model, images: np.ndarray) -> np.ndarray:
    """Exact integer logits of the QAT forward in eval mode (equal to reference.run(q, images))."""
    out = []
    for s in range(0, len(images), EVAL_CHUNK):
        _, cache = net.forward(images[s:s + EVAL_CHUNK], q)
        out.append(cache.per_layer[-1]["acc"])
    return np.concatenate(out) if out else np.zeros((0, net.arch.layers[-1].n_out), np.int64)


def int_outputs(net: Network, q: Model, images: np.ndarray) -> np.ndarray:
    """The integer model's outputs: logits for classification, real values for regression."""
    logits = int_logits(net, q, images)
    return logits * np.asarray(q.layers[-1].acc_scale, np.float64) if net.regression else logits


def float_logits(net: Network, images: np.ndarray) -> np.ndarray:
    out = [net.forward(images[s:s + EVAL_CHUNK])[0] for s in range(0, len(images), EVAL_CHUNK)]
    return np.concatenate(out) if out else np.zeros((0, net.arch.layers[-1].n_out))


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((np.argmax(logits, axis=1) == labels).mean()) if len(labels) else 0.0


def _score(net: Network, outputs: np.ndarray, targets: np.ndarray) -> float:
    """Accuracy (classification), or RMSE in the targets' units of standardized outputs/targets."""
    if not net.regression:
        return _accuracy(outputs, targets)
    assert net.target_std is not None
    return float(np.sqrt((((outputs - targets) * net.target_std) ** 2).mean())) if len(targets) else 0.0


def _better(net: Network, a: float, b: float | None) -> bool:
    """Is score a better than b (None: no score yet)? Higher accuracy, lower RMSE."""
    return b is None or (a < b if net.regression else a > b)


def mse(outputs: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error over samples and outputs, and its gradient."""
    diff = outputs - targets
    return float((diff ** 2).mean()), 2.0 * diff / diff.size


def _calibrate(net: Network, cache: Cache, ema: dict[int, float], pct: float) -> None:
    for i, spec in enumerate(net.arch.layers):
        if spec.activation == "relu" and "y" in cache.per_layer[i]:
            p = float(np.percentile(cache.per_layer[i]["y"], pct))
            ema[i] = p if i not in ema else 0.9 * ema[i] + 0.1 * p
            net.out_scales[i] = max(ema[i], 1e-3) / 127.0


def _update_average(averaged: list[dict[str, np.ndarray]] | None, params: list[dict[str, np.ndarray]],
                    decay: float) -> list[dict[str, np.ndarray]]:
    """One step of an exponential moving average of the weights (Polyak averaging): it smooths the
    minibatch noise that QAT's rounding adds, which a tiny network feels most."""
    if averaged is None:
        return copy.deepcopy(params)
    for avg, cur in zip(averaged, params):
        for name, value in cur.items():
            avg[name] *= decay
            avg[name] += (1.0 - decay) * value
    return averaged


def _new_network(arch: Arch, rng: np.random.Generator, cfg: TrainConfig, template: Network) -> Network:
    """A fresh initialisation with the template's input/target statistics and input spec."""
    net = Network.create(arch, rng, template.input_mean, template.input_std, init_ih=cfg.init_ih,
                         weight_bits=cfg.weight_bits, input_spec=template.input_spec)
    net.target_mean, net.target_std, net.leak = template.target_mean, template.target_std, cfg.leak
    return net


def _loss(net: Network, cfg: TrainConfig, outputs: np.ndarray, targets: np.ndarray,
          soft: np.ndarray | None) -> tuple[float, np.ndarray]:
    if net.regression:
        return mse(outputs, targets)
    return distill_xent(outputs, targets, soft, cfg.distill, cfg.temperature)


def _screen(arch: Arch, cfg: TrainConfig, seeds: list[np.random.SeedSequence], x_tr: np.ndarray,
            y_tr: np.ndarray, teacher: Teacher | None, x_va: np.ndarray, y_va: np.ndarray,
            template: Network) -> Network:
    """Best of several initialisations: each trains `screen_epochs` float epochs at the peak learning
    rate (its own init and batch order); the one with the best float accuracy on the validation
    split (ties: earliest) starts the real run. A tiny RNN's result depends strongly on its start.
    """
    best: tuple[float, Network] | None = None
    for seq in seeds:
        init_rng, order_rng = (np.random.default_rng(s) for s in seq.spawn(2))
        net = _new_network(arch, init_rng, cfg, template)
        opt = Adam(l2=cfg.l2, clip=cfg.clip)
        for _ in range(cfg.screen_epochs):
            order = order_rng.permutation(len(y_tr))
            for b in range(0, len(order), cfg.batch):
                idx = order[b:b + cfg.batch]
                logits, cache = net.forward(x_tr[idx])
                _, d = _loss(net, cfg, logits, y_tr[idx], teacher(x_tr[idx]) if teacher else None)
                opt.step(net.params, net.backward(d, cache), cfg.lr)
        score = _score(net, float_logits(net, x_va), y_va)
        if best is None or _better(net, score, best[0]):
            best = (score, net)
    assert best is not None
    return best[1]


def train(arch: Arch, images: np.ndarray, labels: np.ndarray, cfg: TrainConfig,
          progress: Callable[[EpochStats], None] | None = None,
          teacher: Teacher | None = None, input_spec: InputSpec | None = None) -> TrainResult:
    """Train on (images, labels), holding out a seeded validation split; return the best QAT epoch.

    images are network codes, uint8 [N, rows, cols] (input_spec says what they mean; default the
    MNIST digits'); labels class indices [N], or for cfg.task "regress" real targets [N, K].
    `teacher` (uint8 digits -> real-valued logits) gives the soft targets when cfg.distill > 0. It
    sees each minibatch as the student does (augmented, if augmenting), never the validation digits.
    """
    if cfg.distill and teacher is None:
        raise ValueError("cfg.distill > 0 needs a teacher")
    if cfg.learn_clip and cfg.per_channel:
        raise ValueError("learn_clip learns one range per tensor; it does not combine with per_channel")
    seeds = np.random.SeedSequence(cfg.seed)
    # The first child is the split's (validation_split draws it from holdout_seed, the same when unset).
    _, init_rng, order_rng, aug_rng, drop_rng = (np.random.default_rng(s) for s in seeds.spawn(5))
    tr, va = validation_split(len(labels), cfg.val_split, cfg.holdout_seed)
    regress = cfg.task == "regress"
    y_all = labels.astype(np.float64).reshape(len(labels), -1) if regress else labels.astype(np.int64)
    x_tr, y_tr, x_va, y_va = images[tr], y_all[tr], images[va], y_all[va]
    if regress and cfg.distill:
        raise ValueError("distillation needs class logits; it does not apply to regression")
    template = Network.create(arch, np.random.default_rng(0), input_spec=input_spec)
    if cfg.standardize:
        form = ops.get(arch.layers[0].kind)
        assert form is not None
        spec = template.input_spec
        first = template.first_weighted
        # The first weighted layer's input axis: after a pool front a step's W'·C values (per channel, tiled)
        width = (arch.layers[first].n_in if first else
                 ops.input_shape(spec.rows, spec.cols, form.in_form, spec.channels)[-1])
        template.input_mean, template.input_std = standardization(spec, x_tr, width)
    if regress:
        template.target_mean = y_tr.mean(axis=0)
        template.target_std = np.where(y_tr.std(axis=0) > 1e-12, y_tr.std(axis=0), 1.0)
        y_tr = (y_tr - template.target_mean) / template.target_std
        y_va = (y_va - template.target_mean) / template.target_std
    # val_split = 0 is the final fit on every digit, with settings chosen earlier on a split: no
    # selection is possible, so the last epoch is kept.
    has_val = len(y_va) > 0
    if not has_val and (cfg.restarts > 1 or cfg.patience):
        raise ValueError("restarts and patience select on the validation split; val_split must be > 0")
    teacher = teacher if cfg.distill else None
    start = time.perf_counter()
    # Raw 0..1 pixels (Network's input standardization stays off): a blank row must be a neutral
    # input for the RNN state, and standardized pixels measured worse for it on validation.
    if cfg.restarts > 1:
        net = _screen(arch, cfg, seeds.spawn(cfg.restarts), x_tr, y_tr, teacher, x_va, y_va, template)
    else:
        net = _new_network(arch, init_rng, cfg, template)
    if cfg.learn_clip:
        net.add_clips()
    opt = Adam(l2=cfg.l2, clip=cfg.clip)
    steps_per_epoch = math.ceil(len(y_tr) / cfg.batch)
    total = cfg.epochs * steps_per_epoch
    float_epochs = min(cfg.n_float_epochs, cfg.epochs - 1)
    ema: dict[int, float] = {}
    averaged: list[dict[str, np.ndarray]] | None = None  # cfg.ema's running average, from the first QAT step
    best: tuple[float, int, list, list] | None = None
    history: list[EpochStats] = []
    # Initial relu scales from the untrained network; the float phase refines them.
    _calibrate(net, net.forward(x_tr[:512])[1], ema, cfg.calib_percentile)
    step = 0
    for epoch in range(cfg.epochs):
        t0 = time.perf_counter()
        qat = epoch >= float_epochs
        if cfg.learn_clip and epoch == float_epochs:
            net.start_clips()
        x_ep = augment(x_tr, cfg.augment, aug_rng)
        order = order_rng.permutation(len(y_tr))
        loss_sum, correct = 0.0, 0.0
        lr = cfg.lr
        for b in range(steps_per_epoch):
            idx = order[b * cfg.batch:(b + 1) * cfg.batch]
            q = net.quantize(per_channel=cfg.per_channel) if qat else None
            logits, cache = net.forward(x_ep[idx], q, dropout=cfg.dropout, rng=drop_rng)
            loss, d = _loss(net, cfg, logits, y_tr[idx], teacher(x_ep[idx]) if teacher else None)
            grads = net.backward(d, cache)
            if qat and cfg.damp:
                net.dampen(grads, cfg.damp * (step - float_epochs * steps_per_epoch + 1)
                           / ((cfg.epochs - float_epochs) * steps_per_epoch), cfg.per_channel)
            lr = learning_rate(cfg.lr, cfg.schedule, step, total, cfg.warmup)
            opt.step(net.params, grads, lr)
            if cfg.learn_clip and qat:
                net.project_clips()
            if not qat:
                _calibrate(net, cache, ema, cfg.calib_percentile)
            elif cfg.ema:
                averaged = _update_average(averaged, net.params, cfg.ema)
            step += 1
            loss_sum += loss * len(idx)
            if regress:
                correct += float(_score(net, logits, y_tr[idx]) ** 2) * len(idx)  # summed MSE, for RMSE
            else:
                correct += int((np.argmax(logits, axis=1) == y_tr[idx]).sum())
        raw = net.params
        if averaged is not None:  # judge (and keep) the averaged weights; training continues on the raw ones
            net.params = averaged
        val_float = _score(net, float_logits(net, x_va), y_va) if has_val else None
        val_int = None
        if qat and has_val:
            val_int = _score(net, int_outputs(net, net.quantize(per_channel=cfg.per_channel), x_va), y_va)
        train_score = math.sqrt(correct / len(y_tr)) if regress else correct / len(y_tr)
        stats = EpochStats(epoch + 1, loss_sum / len(y_tr), train_score, val_float, val_int, lr,
                           time.perf_counter() - t0)
        history.append(stats)
        if progress:
            progress(stats)
        if val_int is not None and _better(net, val_int, None if best is None else best[0]):
            best = (val_int, epoch + 1, copy.deepcopy(net.params), list(net.out_scales))
        net.params = raw
        if cfg.patience and best is not None and epoch + 1 - best[1] >= cfg.patience:
            break
    seconds = time.perf_counter() - start
    if not has_val:  # a final fit keeps the last epoch (its averaged weights, if averaging)
        net.params = averaged if averaged is not None else net.params
        return TrainResult(net, cfg.epochs, None, None, seconds, history, len(y_tr), 0)
    assert best is not None  # float_epochs < epochs guarantees one QAT epoch
    net.params, net.out_scales = best[2], best[3]
    val_float = _score(net, float_logits(net, x_va), y_va)
    return TrainResult(net, best[1], val_float, best[0], seconds, history, len(y_tr), len(y_va))
