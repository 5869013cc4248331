"""nnmodel train: train a network in numpy (float warm-up, then quantization-aware) and save a .nnm."""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import __version__, load, reference
from ..datasets import load_mnist
from ..datasets.samples import load_samples
from ..errors import NNModelError
from ..evaldata import data_digest, from_samples, missing_data, test_indices
from ..fileformat import SUFFIX, save
from ..fsutil import check_out_file
from ..model import Model
from ..names import name_problem
from ..realvalues import output_values
from ..train import TrainConfig, parse_arch, parse_augment, train
from ..train.arch import Arch
from ..train.augment import AugmentConfig
from ..train.data import Units, input_spec, output_spec
from ..train.data import codes as data_codes
from ..train.optim import SCHEDULES
from ..train.threads import blas_threads
from ..train.trainer import EpochStats

# (option, attribute, default) in the order the canonical command line lists them.
_RECORDED = [("--epochs", "epochs", 30), ("--seed", "seed", 0), ("--batch", "batch", 64), ("--lr", "lr", 1e-3),
             ("--schedule", "schedule", "cosine"), ("--warmup", "warmup", 0), ("--l2", "l2", 0.0),
             ("--dropout", "dropout", 0.0), ("--clip", "clip", 5.0), ("--augment", "augment", "none"),
             ("--val-split", "val_split", 0.1), ("--float-epochs", "float_epochs", -1),
             ("--calib-percentile", "calib_percentile", 99.99), ("--patience", "patience", 0),
             ("--init-ih", "init_ih", 0.0), ("--leak", "leak", 0.0), ("--teacher", "teacher", ""),
             ("--distill", "distill", 0.0), ("--temperature", "temperature", 4.0),
             ("--restarts", "restarts", 1), ("--screen-epochs", "screen_epochs", 10),
             ("--split-seed", "split_seed", -1), ("--ema", "ema", 0.0), ("--weight-bits", "weight_bits", 8),
             ("--damp", "damp", 0.0),
             ("--limit", "limit", 0), ("--name", "name", ""),
             ("--label", "label", ""), ("--task", "task", ""), ("--test-split", "test_split", 0.2),
             ("--units", "units", "")]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train", help="train a model in numpy (quantization-aware) and save it as .nnm",
        description="Train on a data file (--data FILE: CSV with a header row and a --label column, .npz with "
                    "x and y, or IDX with --label LABELS.idx; classification or regression) or on the MNIST "
                    "training digits (--data DIR). A seeded --val-split is held out for selection; a data "
                    "file's --test-split (MNIST: its test set) is only measured for the record, never used "
                    "to choose anything.")
    p.add_argument("--arch", required=True, help="mlp:784-128-10, rnn:28-5-8-10 (hard-tanh), rnn-tanh:28-5-8-10 "
                                                 "(tanh LUT), mlp-hardtanh:..., rnn:28-8/16-10 (dense after '/'), "
                                                 "gru:28-6-10 and lstm:28-6-10 (integer sigmoid/tanh gates), "
                                                 "gru:28x28-p2-6-10 (the 14 rows of a 2x2 max-pooled image are the "
                                                 "steps), cnn:28x28-c6-p2-c6-p3-10 (3x3 relu convs cN, NxN max pools "
                                                 "pN, then dense sizes)")
    p.add_argument("--data", required=True, metavar="FILE|DIR", help="a data file (.csv, .npz, IDX), or an MNIST "
                   "directory (train split; its test split is reported)")
    p.add_argument("--out", required=True, metavar="FILE.nnm", help="where to save the model")
    for option, attr, default in _RECORDED:
        kind = type(default)
        p.add_argument(option, dest=attr, type=kind, default=default, help=_HELP.get(attr))
    p.add_argument("--per-channel", action="store_true", help="one weight scale per output unit")
    p.add_argument("--learn-clip", action="store_true", help="QAT learns each weight tensor's clip range "
                   "(the export scale becomes clip/qmax instead of max|W|/qmax): fewer outliers, a finer grid; "
                   "per-tensor scales only")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1: small products are "
                                                          "faster single-threaded; not part of the result)")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress on stderr")
    p.set_defaults(run=run)


_HELP = {
    "epochs": "training epochs (default 30)",
    "seed": "seed for split, init, shuffling, augmentation, dropout (default 0)",
    "batch": "minibatch size (default 64)",
    "lr": "peak Adam learning rate (default 1e-3)",
    "schedule": f"learning-rate schedule: {', '.join(SCHEDULES)} (default cosine)",
    "warmup": "steps of linear learning-rate warm-up (default 0)",
    "l2": "L2 penalty on weight matrices (default 0)",
    "dropout": "dropout on the input of each dense layer after the first (default 0)",
    "clip": "global gradient-norm clip, 0 = off (default 5)",
    "augment": "'none' or e.g. rotate=12,shift=2,scale=0.1,shear=0.1 (degrees, pixels, fractions)",
    "val_split": "fraction of the training digits held out for validation (default 0.1); 0 trains on all of "
                 "them and keeps the last epoch (a final fit with settings chosen on a split)",
    "float_epochs": "float epochs before QAT, calibrating relu scales (default -1: epochs/10, at least 1)",
    "calib_percentile": "percentile of relu outputs that maps to 127 (default 99.99)",
    "patience": "stop after N QAT epochs without a better validation accuracy (default 0: never)",
    "init_ih": "RNN/GRU/LSTM input weights ~ N(0, (X/sqrt(inputs))^2) instead of Glorot uniform (default 0: "
               "Glorot)",
    "leak": "surrogate gradient slope where a hard-tanh RNN unit saturates (backward only; default 0)",
    "teacher": "trained .nnm file(s), comma-separated, whose mean logits on each (augmented) minibatch serve as "
               "soft targets (distillation); each must hold out the same validation digits as this run",
    "distill": "weight of the teacher's soft targets in the loss, 0..1 (default 0; needs --teacher)",
    "temperature": "distillation temperature (default 4)",
    "restarts": "screen N initialisations for --screen-epochs float epochs each and train the one with the "
                "best validation accuracy (default 1: no screening)",
    "screen_epochs": "float epochs per screened initialisation (default 10)",
    "split_seed": "seed of the validation split alone (default -1: --seed), so runs with different --seed "
                  "are compared on the same held-out digits",
    "ema": "evaluate and keep an exponential moving average of the QAT weights with this decay per step, "
           "e.g. 0.998 (default 0: the raw weights)",
    "weight_bits": "bits per dense/conv weight: 8 or 4 (int4, two per byte, per-tensor scale max|W|/7; "
                   "biases then stored as int8 << k); default 8",
    "damp": "oscillation dampening in QAT: weight of the pull of each weight towards its integer grid point, "
            "ramped up linearly from 0 over the QAT epochs (e.g. 0.01; default 0: off)",
    "limit": "use only the first N training digits (quick experiments; default 0: all)",
    "name": "model name, a C identifier (default: from --out)",
    "label": "data file: the CSV label column (default 'label'; 'a,b' for several regression outputs), the .npz "
             "y array (default y), or the labels IDX file",
    "task": "classify or regress (default: from the labels: text or whole numbers classify, real values regress)",
    "test_split": "data file: fraction of the rows held out as a test set, never used for training or "
                  "selection, measured at the end and recorded (default 0.2; `eval --held-out` measures it again)",
    "units": "physical units by feature or output name, e.g. adc=count,true_c=degC (for the C header and reports)",
}


def canonical_command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run: every option that differs from its default."""
    parts = ["nnmodel", "train", "--arch", args.arch, "--data", str(args.data), "--out", str(args.out)]
    for option, attr, default in _RECORDED:
        value = getattr(args, attr)
        if value != default:
            parts += [option, f"{value:g}" if isinstance(value, float) else str(value)]
    if args.per_channel:
        parts.append("--per-channel")
    if args.learn_clip:
        parts.append("--learn-clip")
    return shlex.join(parts)


def _model_name(args: argparse.Namespace) -> str:
    name = args.name or re.sub(r"\W", "_", Path(args.out).stem)
    if name and name[0].isdigit():
        name = "m_" + name
    problem = name_problem(name)
    if problem:
        raise NNModelError(f"--name: {problem}" + ("" if args.name else f" (taken from --out {args.out})"))
    return name


def _check_args(args: argparse.Namespace) -> None:
    check_out_file(args.out, "--out", force=args.force, suffix=SUFFIX)  # before training, not after
    checks = [("--epochs", args.epochs >= 1), ("--batch", args.batch >= 1), ("--lr", args.lr > 0),
              ("--test-split", 0 <= args.test_split < 1),
              ("--val-split", 0 <= args.val_split < 1), ("--dropout", 0 <= args.dropout < 1),
              ("--l2", args.l2 >= 0), ("--clip", args.clip >= 0), ("--limit", args.limit >= 0),
              ("--warmup", args.warmup >= 0), ("--patience", args.patience >= 0),
              ("--init-ih", args.init_ih >= 0), ("--leak", 0 <= args.leak <= 1), ("--distill", 0 <= args.distill <= 1),
              ("--temperature", args.temperature > 0), ("--restarts", args.restarts >= 1),
              ("--screen-epochs", args.screen_epochs >= 1), ("--split-seed", args.split_seed >= -1),
              ("--ema", 0 <= args.ema < 1), ("--damp", args.damp >= 0),
              ("--calib-percentile", 50 <= args.calib_percentile <= 100), ("--threads", args.threads >= 0)]
    for option, ok in checks:
        if not ok:
            raise NNModelError(f"{option} {getattr(args, option[2:].replace('-', '_'))}: out of range; "
                               f"see `nnmodel train --help`")
    if args.weight_bits not in (8, 4):
        raise NNModelError(f"--weight-bits {args.weight_bits}: must be 8 or 4")
    if args.learn_clip and args.per_channel:
        raise NNModelError("--learn-clip learns one range per weight tensor; drop --per-channel or --learn-clip")
    if args.task not in ("", "classify", "regress"):
        raise NNModelError(f"--task {args.task}: expected classify or regress")
    if args.val_split == 0 and (args.restarts > 1 or args.patience):
        raise NNModelError("--val-split 0: --restarts and --patience select on the validation digits; drop them "
                           "or keep a split")


def _progress(epochs: int, quiet: bool, regress: bool = False) -> Callable[[EpochStats], None]:
    def fmt(v: float) -> str:
        return f"{v:.4g}" if regress else f"{v:6.2%}"

    def show(s: EpochStats) -> None:
        if quiet:
            return
        what = "rmse " if regress else ""
        if s.val_float is None:
            val = "no validation (final fit)"
        else:
            val = f"val {what}{fmt(s.val_float)} float" + (f" {fmt(s.val_int)} int" if s.val_int is not None
                                                           else " (float phase)")
        print(f"epoch {s.epoch:>{len(str(epochs))}}/{epochs}  loss {s.loss:.4f}  train {what}{fmt(s.train_acc)}  "
              f"{val}  lr {s.lr:.2e}  {s.seconds:.1f}s", file=sys.stderr, flush=True)
    return show


def _config(args: argparse.Namespace, augment: AugmentConfig, task: str = "classify",
            standardize: bool = False) -> TrainConfig:
    return TrainConfig(epochs=args.epochs, batch=args.batch, lr=args.lr, schedule=args.schedule, warmup=args.warmup,
                       l2=args.l2, dropout=args.dropout, clip=args.clip, float_epochs=args.float_epochs,
                       calib_percentile=args.calib_percentile, val_split=args.val_split, patience=args.patience,
                       per_channel=args.per_channel, augment=augment, seed=args.seed, leak=args.leak,
                       init_ih=args.init_ih, distill=args.distill, temperature=args.temperature,
                       restarts=args.restarts, screen_epochs=args.screen_epochs, split_seed=args.split_seed,
                       ema=args.ema, weight_bits=args.weight_bits, learn_clip=args.learn_clip, damp=args.damp,
                       task=task, standardize=standardize)


def run(args: argparse.Namespace) -> int:
    arch = parse_arch(args.arch)
    augment = parse_augment(args.augment)
    _check_args(args)
    arch.check_weight_bits(args.weight_bits)
    name = _model_name(args)
    if not os.path.lexists(args.data):  # a looping or dangling link: the reader names it
        raise NNModelError(missing_data(args.data))
    if not Path(args.data).is_dir():
        return _train_file(args, arch, augment, name)
    for option, value, default in (("--label", args.label, ""), ("--task", args.task, ""),
                                   ("--test-split", args.test_split, 0.2), ("--units", args.units, "")):
        if value != default:
            raise NNModelError(f"{option}: applies to a data file; --data {args.data} is an MNIST folder (its "
                               "labels, task and test split are fixed)")
    data = load_mnist(args.data, "train")
    images, labels = data.images, data.labels
    if args.limit:
        images, labels = images[:args.limit], labels[:args.limit]
    arch.check_images(images.shape, data.source)
    if int(labels.max()) >= arch.layers[-1].n_out:
        raise NNModelError(f"--arch {args.arch}: {arch.layers[-1].n_out} classes but {data.source} has label "
                           f"{int(labels.max())}; end the architecture with {int(labels.max()) + 1}")
    if bool(args.teacher) != (args.distill > 0):
        raise NNModelError("--teacher and --distill go together: e.g. --teacher models/mnist_mlp_esp32c3.nnm "
                           "--distill 0.5")
    cfg = _config(args, augment)
    # Which digits this run holds out, recorded so that a student can check its teachers.
    holdout = {"split_seed": cfg.holdout_seed, "val_split": args.val_split, "digits": len(labels)}
    teacher = _teacher(args.teacher, images, labels, holdout) if args.teacher else None
    if not args.quiet:
        n_val = round(len(labels) * args.val_split)
        print(f"training {args.arch} on {len(labels) - n_val} digits of {data.source} ({n_val} held out for "
              f"validation), {args.epochs} epochs, seed {args.seed}", file=sys.stderr, flush=True)
    with blas_threads(args.threads):
        result = train(arch, images, labels, cfg, _progress(args.epochs, args.quiet), teacher)
        provenance = {
            "command": canonical_command(args),
            "data_sha256": hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest(),
            "seed": args.seed,
            "epochs": args.epochs,
            "best_epoch": result.best_epoch,
            "train_seconds": round(result.seconds, 1),
            "train_digits": result.n_train,
            "val_digits": result.n_val,
            "holdout": holdout,
            "nnmodel_version": __version__,
        }
        model = result.network.quantize(name, per_channel=args.per_channel, provenance=provenance, final=True)
        accuracy = {"val_float": _round(result.val_float), "val_int": _round(result.val_int),
                    "test_int": _test_accuracy(model, args.data)}
    provenance["accuracy"] = accuracy
    save(model, args.out, overwrite=args.force)
    test = "n/a (no test split in --data)" if accuracy["test_int"] is None else f"{accuracy['test_int']:.2%}"
    val = ("no validation split (final fit, last epoch" if result.val_int is None else
           f"val {result.val_float:.2%} float, {result.val_int:.2%} int (best epoch")
    print(f"saved {args.out}: {val} {result.best_epoch}); test {test} int; {model.macs()} MACs; {result.seconds:.1f} s")
    return 0


def _train_file(args: argparse.Namespace, arch: Arch, augment: AugmentConfig, name: str) -> int:
    """Train on a user's data file: quantization chosen from the data, a held-out test split."""
    if args.teacher or args.distill:
        raise NNModelError("--teacher/--distill: distillation is for MNIST digits (--data DIR)")
    if augment != AugmentConfig():
        raise NNModelError("--augment: the digit distortions are for MNIST digits (--data DIR)")
    samples = load_samples(args.data, args.label or None, args.task or None)
    if args.limit:
        samples = dataclasses.replace(samples, x=samples.x[:args.limit], y=samples.y[:args.limit])
    shape = arch.input_shape(samples.shape, samples.source)
    n_out = arch.layers[-1].n_out
    regress = samples.task == "regress"
    wanted = samples.y.reshape(len(samples), -1).shape[1] if regress else len(samples.label_names)
    if n_out != wanted:
        what = f"{wanted} target column(s)" if regress else f"{wanted} classes ({', '.join(samples.label_names[:8])})"
        raise NNModelError(f"--arch {args.arch}: ends with {n_out} outputs but {samples.source} has {what}; "
                           f"end the architecture with {wanted}")
    units = Units.parse(args.units)
    split_seed = args.split_seed if args.split_seed >= 0 else args.seed
    rest, test = test_indices(len(samples), args.test_split, split_seed)
    if len(rest) < 2:
        raise NNModelError(f"{samples.source}: {len(samples)} rows leave too few to train on; more data or a "
                           "smaller --test-split")
    spec = input_spec(samples.x[rest], shape, samples.feature_names, units, samples.source)
    codes = data_codes(spec, samples.x)
    targets = samples.y.astype(np.float64).reshape(len(samples), -1) if regress else samples.y
    cfg = _config(args, augment, samples.task, standardize=True)
    holdout = {"split_seed": split_seed, "val_split": args.val_split, "test_split": float(args.test_split),
               "rows": len(samples), "data_sha256": data_digest(samples)}
    if not args.quiet:
        n_val = round(len(rest) * args.val_split)
        print(f"training {args.arch} ({samples.task}) on {len(rest) - n_val} rows of {samples.source} ({n_val} for "
              f"validation, {len(test)} held out for the test), {args.epochs} epochs, seed {args.seed}",
              file=sys.stderr, flush=True)
    with blas_threads(args.threads):
        result = train(arch, codes[rest], targets[rest], cfg, _progress(args.epochs, args.quiet, regress),
                       input_spec=spec)
    provenance = {
        "command": canonical_command(args),
        "data_sha256": holdout["data_sha256"],
        "seed": args.seed,
        "epochs": args.epochs,
        "best_epoch": result.best_epoch,
        "train_seconds": round(result.seconds, 1),
        "train_rows": result.n_train,
        "val_rows": result.n_val,
        "holdout": holdout,
        "nnmodel_version": __version__,
    }
    model = result.network.quantize(name, per_channel=args.per_channel, provenance=provenance,
                                    labels=list(samples.label_names), final=True)
    model.output = output_spec(samples.task, targets[rest], list(samples.label_names), units)
    check = from_samples(model, samples, held_out=False)
    test_codes, test_targets = check.codes[test], check.targets[test]
    outputs = reference.run(model, test_codes)
    if regress:
        errors = output_values(model, outputs) - test_targets
        rmse = np.sqrt((errors ** 2).mean(axis=0)) if len(test) else None
        mae = np.abs(errors).mean(axis=0) if len(test) else None
        provenance["rmse"] = {"val_float": _round(result.val_float), "val_int": _round(result.val_int),
                              "test_int": None if rmse is None else [_round(float(v)) for v in rmse]}
        provenance["mae"] = {"test_int": None if mae is None else [_round(float(v)) for v in mae]}
        shown = "n/a" if rmse is None else ", ".join(f"{v:.4g}" for v in rmse)
        val = ("no validation split" if result.val_int is None else
               f"val rmse {result.val_float:.4g} float, {result.val_int:.4g} int (best epoch {result.best_epoch})")
        summary = f"{val}; test rmse {shown}, mae {'n/a' if mae is None else ', '.join(f'{v:.4g}' for v in mae)}"
    else:
        acc = float((np.argmax(outputs, axis=1) == test_targets).mean()) if len(test) else None
        provenance["accuracy"] = {"val_float": _round(result.val_float), "val_int": _round(result.val_int),
                                  "test_int": None if acc is None else _round(acc)}
        val = ("no validation split" if result.val_int is None else
               f"val {result.val_float:.2%} float, {result.val_int:.2%} int (best epoch {result.best_epoch})")
        summary = f"{val}; test {'n/a' if acc is None else f'{acc:.2%}'} int ({len(test)} held-out rows)"
    save(model, args.out, overwrite=args.force)
    print(f"saved {args.out}: {summary}; {model.macs()} MACs; {result.seconds:.1f} s")
    return 0


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _teacher(paths: str, images: np.ndarray, labels: np.ndarray, holdout: dict) -> Callable[[np.ndarray], np.ndarray]:
    """The mean real-valued logits of the teachers' integer models (an ensemble when several).

    Each teacher must have held out the same validation digits as this run: a teacher that trained
    on them would leak their labels into the student and overstate its validation accuracy.
    """
    teachers = []
    for path in paths.split(","):
        teacher = load(path)
        if teacher.input.rows != images.shape[1] or teacher.input.cols != images.shape[2]:
            raise NNModelError(f"--teacher {path}: takes {teacher.input.rows}x{teacher.input.cols} images, the "
                               f"data has {images.shape[1]}x{images.shape[2]}")
        if teacher.layers[-1].outputs <= int(labels.max()):
            raise NNModelError(f"--teacher {path}: has {teacher.layers[-1].outputs} classes, the data has label "
                               f"{int(labels.max())}")
        theirs = teacher.provenance.get("holdout")
        if theirs != holdout:
            held = repr(theirs) if theirs else "unrecorded digits"  # free-form provenance: repr keeps one line
            raise NNModelError(f"--teacher {path}: held out {held} for validation, this "
                               f"run holds out {holdout}; train the teacher with the same --split-seed, "
                               f"--val-split and --limit so it never saw this run's validation digits")
        teachers.append(teacher)

    def logits(batch: np.ndarray) -> np.ndarray:
        return sum(reference.run(t, batch) * t.layers[-1].acc_scale for t in teachers) / len(teachers)
    return logits


def _test_accuracy(model: Model, data_dir: str) -> float | None:
    """Integer accuracy on the test split, recorded only (selection already happened on validation)."""
    try:
        test = load_mnist(data_dir, "test")
    except NNModelError:
        return None
    _, pred = reference.predict(model, test.images)
    return round(float((pred == test.labels).mean()), 6)
