"""Accuracy, per-class accuracy, confusion matrix (classification), RMSE and MAE per output
(regression), and C timing of a model on a dataset.

Shared by `nnmodel eval` and anything that reports on models; the engines are the numpy integer
reference and the generated C built on the host (which must agree bit for bit).
"""
from __future__ import annotations

import math
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import hostc, reference
from .errors import NNModelError
from .evaldata import EvalData, stream_codes
from .model import Model
from .realvalues import output_values

ENGINES = ("reference", "c")
TIMING_RUNS = 5
TIMING_IMAGES = 1000
TIMING_TARGET_NS = 2e8  # aim each timing run at ~0.2 s of CPU time


@dataclass
class Evaluation:
    labels: np.ndarray  # int [N] true classes
    predictions: np.ndarray  # int [N] argmax of the integer logits (ties: lowest index)
    class_names: list[str]
    engine: str
    source: str
    us_per_inference: float | None = None  # C engine only: median over TIMING_RUNS runs

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def accuracy(self) -> float:
        return float((self.predictions == self.labels).mean()) if self.n else 0.0

    @property
    def confusion(self) -> np.ndarray:
        """int64 [classes, classes]: rows are the true class, columns the predicted one."""
        k = len(self.class_names)
        m = np.zeros((k, k), np.int64)
        np.add.at(m, (self.labels, self.predictions), 1)
        return m

    @property
    def per_class(self) -> np.ndarray:
        """Fraction of each true class predicted correctly (NaN for a class with no examples)."""
        m = self.confusion
        support = m.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(support > 0, np.diag(m) / np.maximum(support, 1), np.nan)


@dataclass
class Regression:
    truth: np.ndarray  # float64 [N, K] in the outputs' units
    predictions: np.ndarray  # float64 [N, K]: the integer outputs times their scales
    names: list[str]
    units: list[str]
    engine: str
    source: str
    us_per_inference: float | None = None

    @property
    def n(self) -> int:
        return len(self.truth)

    @property
    def rmse(self) -> np.ndarray:
        return np.sqrt(((self.predictions - self.truth) ** 2).mean(axis=0)) if self.n else np.zeros(len(self.names))

    @property
    def mae(self) -> np.ndarray:
        return np.abs(self.predictions - self.truth).mean(axis=0) if self.n else np.zeros(len(self.names))


def check_compatible(model: Model, images: np.ndarray, labels: np.ndarray, where: str) -> None:
    spec = model.input
    if images.shape[1:] != (spec.rows, spec.cols):
        raise NNModelError(f"{where}: images are {images.shape[1]}x{images.shape[2]} but the model takes "
                           f"{spec.rows}x{spec.cols}; use a dataset that matches the model")
    if len(labels) and int(labels.max()) >= model.n_classes:
        raise NNModelError(f"{where}: label {int(labels.max())} but the model has {model.n_classes} classes; "
                           "use the dataset the model was trained for")


def c_logits_and_timing(model: Model, images: np.ndarray, *, timing: bool = True) -> tuple[np.ndarray, float | None]:
    """Integer logits from the generated C (host build at -O2) and the median µs per inference."""
    with tempfile.TemporaryDirectory(prefix="nnmodel-eval-") as tmp:
        build = hostc.build(model, Path(tmp), opt="-O2")
        logits = build.logits(images)
        us = time_inference(build, images[:TIMING_IMAGES]) if timing and len(images) else None
    return logits, us


def time_inference(build: hostc.HostBuild, images: np.ndarray, runs: int = TIMING_RUNS) -> float:
    """Median µs per inference over `runs` runs, each repeated to last about TIMING_TARGET_NS."""
    probe = build.ns_per_inference(images, 1)
    repeats = max(1, math.ceil(TIMING_TARGET_NS / max(probe * len(images), 1.0)))
    return statistics.median(build.ns_per_inference(images, repeats) for _ in range(runs)) / 1000.0


def evaluate(model: Model, images: np.ndarray, labels: np.ndarray, *, engine: str = "reference",
             source: str = "", timing: bool = True) -> Evaluation:
    if engine not in ENGINES:
        raise NNModelError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    check_compatible(model, images, labels, source or model.name)
    us = None
    if engine == "c":
        logits, us = c_logits_and_timing(model, images, timing=timing)
    else:
        logits = reference.run(model, images)
    return Evaluation(labels.astype(np.int64), np.argmax(logits, axis=1), list(model.labels), engine,
                      source, us)


def evaluate_data(model: Model, data: EvalData, *, engine: str = "reference",
                  timing: bool = True) -> Evaluation | Regression:
    """A model on EvalData (nnmodel.evaldata): classification or regression, by the model's task."""
    if engine not in ENGINES:
        raise NNModelError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    rows = stream_codes(data, model)
    us = None
    if engine == "c":
        logits, us = c_logits_and_timing(model, rows, timing=timing)
    else:
        logits = reference.run(model, rows)
    return from_logits(model, data, logits, engine, us)


def from_logits(model: Model, data: EvalData, logits: np.ndarray, engine: str,
                us: float | None = None) -> Evaluation | Regression:
    """The Evaluation (classification) or Regression of integer outputs computed on `data`."""
    if model.is_regression:
        return Regression(data.targets, output_values(model, logits), list(model.labels),
                          list(model.output.units), engine, data.source, us)
    return Evaluation(data.targets, np.argmax(logits, axis=1), list(model.labels), engine, data.source, us)


def format_regression(ev: Regression, title: str = "") -> str:
    """rmse and mae per output, in its unit."""
    out = [title] if title else []
    out.append(f"engine: {ev.engine}" + (f"  data: {ev.source}" if ev.source else ""))
    for name, unit, rmse, mae in zip(ev.names, ev.units, ev.rmse, ev.mae):
        suffix = f" {unit}" if unit else ""
        prefix = f"{name}: " if len(ev.names) > 1 else ""
        out.append(f"{prefix}rmse: {rmse:.4g}{suffix}")
        out.append(f"{prefix}mae: {mae:.4g}{suffix}")
    if ev.us_per_inference is not None:
        out.append(f"time: {ev.us_per_inference:.2f} us/inference (host C -O2, median of {TIMING_RUNS} runs)")
    return "\n".join(out)


def format_any(ev: Evaluation | Regression, title: str = "") -> str:
    return format_regression(ev, title) if isinstance(ev, Regression) else format_report(ev, title)


def format_confusion(ev: Evaluation) -> str:
    names = ev.class_names
    m = ev.confusion
    width = max(4, len(str(int(m.max()) if m.size else 0)) + 1, max(len(n) for n in names) + 1)
    lines = ["true \\ predicted".ljust(8)]
    lines[0] = " " * 8 + "".join(n.rjust(width) for n in names)
    for name, row in zip(names, m):
        lines.append(name[:7].ljust(8) + "".join(str(int(v)).rjust(width) for v in row))
    return "\n".join(lines)


def format_report(ev: Evaluation, title: str = "") -> str:
    """Plain-text report: accuracy, per-class accuracy, confusion matrix (rows true, columns predicted)."""
    correct = int((ev.predictions == ev.labels).sum())
    out = [title] if title else []
    out.append(f"engine: {ev.engine}" + (f"  data: {ev.source}" if ev.source else ""))
    out.append(f"accuracy: {ev.accuracy:.2%} ({correct}/{ev.n})")
    if ev.us_per_inference is not None:
        out.append(f"time: {ev.us_per_inference:.2f} us/inference (host C -O2, median of {TIMING_RUNS} runs)")
    out.append("per-class accuracy:")
    support = ev.confusion.sum(axis=1)
    for name, acc, s in zip(ev.class_names, ev.per_class, support):
        shown = "   n/a" if np.isnan(acc) else f"{acc:7.2%}"
        out.append(f"  {name:>6} {shown}  (n={int(s)})")
    out.append("confusion matrix (rows: true, columns: predicted):")
    out.append(format_confusion(ev))
    return "\n".join(out)
