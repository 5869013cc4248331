"""`nnmodel report`: pictures of what a model does and a Markdown model card, written as one set.

build_report() computes everything in memory (both engines, the reference's internal states, the
simulator figures); write_report() then stages every file and renames them all, so a failure leaves
the previous report whole. Only a folder that is empty or holds an earlier report is written to.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import ops, reference
from ..errors import NNModelError
from ..evaluate import Evaluation, c_logits_and_timing, check_compatible
from ..fsutil import stage
from ..model import Model
from . import plots
from .card import CardInputs, model_card
from .measure import BenchFigures, static_footprints

CARD = "model_card.md"
MARKER = ".nnmodel-report"  # lists the files of the report in a folder; absent: not ours


@dataclass
class Digits:
    images: np.ndarray  # uint8 [N, rows, cols]
    labels: np.ndarray  # [N]
    source: str  # for the card: file and split
    short: str  # for titles, e.g. "10000 test digits"


def pick_examples(labels: np.ndarray, count: int) -> np.ndarray:
    """Indices of the first digit of each of the first `count` distinct classes, in data order."""
    _, first = np.unique(labels, return_index=True)
    return np.sort(first)[:count]


def build_report(model: Model, model_path: Path, digits: Digits, bench: BenchFigures | None,
                 command: str) -> dict[str, bytes]:
    """file name -> contents of every file of the report (PNGs and the card)."""
    images, labels = digits.images, digits.labels.astype(np.int64)
    if not len(labels):
        raise NNModelError(f"{digits.source}: no digits to report on; drop --limit or use another --data")
    check_compatible(model, images, labels, digits.source)
    ref_logits = reference.run(model, images)
    c_logits, _ = c_logits_and_timing(model, images, timing=False)
    names = list(model.labels)
    ref = Evaluation(labels, np.argmax(ref_logits, axis=1), names, "reference", digits.source)
    c = Evaluation(labels, np.argmax(c_logits, axis=1), names, "c", digits.source)
    agree = int((ref_logits == c_logits).all(axis=1).sum())

    files: dict[str, bytes] = {}
    title = f"{model.name}: {ref.accuracy:.2%} on {digits.short}"
    pictures = plots.plot_list(model)
    for plot in pictures:
        files[plot.file] = _draw(plot, model, digits, ref, title)
    card = model_card(CardInputs(model, model_path, digits.source, ref, c, agree, static_footprints(model),
                                 bench, pictures, command))
    files[CARD] = card.encode()
    return files


def _draw(plot: plots.Plot, model: Model, digits: Digits, ev: Evaluation, title: str) -> bytes:
    names = ev.class_names
    if plot.file == "confusion_matrix.png":
        return plots.confusion_matrix(plot, ev.confusion, names, title)
    if plot.file == "per_class_accuracy.png":
        return plots.per_class_accuracy(plot, ev.per_class, ev.confusion.sum(axis=1), names, ev.accuracy, title)
    if plot.file == "misclassified.png":
        return plots.misclassified(plot, digits.images, ev.labels, ev.predictions, names, model.name)
    if plot.file == "weight_histograms.png":
        return plots.weight_histograms(plot, model)
    if plot.file == "first_layer_weights.png":
        return plots.first_layer_weights(plot, model)
    if plot.file == "rnn_hidden_state.png":
        pick = pick_examples(ev.labels, plots.HIDDEN_DIGITS)
        trace: list = []
        reference.run(model, digits.images[pick], trace=trace)
        history = trace[:len(model.leading(ops.SEQUENCE))]
        head_logits = _head_logits_per_row(model, history[-1])
        return plots.rnn_hidden_state(plot, model, digits.images[pick], ev.labels[pick], history, head_logits)
    if plot.file == "feature_maps.png":
        pick = pick_examples(ev.labels, plots.FEATURE_DIGITS)
        trace = []
        reference.run(model, digits.images[pick], trace=trace)
        return plots.feature_maps(plot, model, digits.images[pick], ev.labels[pick],
                                  trace[:len(model.leading(ops.MAP))])
    raise AssertionError(plot.file)


def _head_logits_per_row(model: Model, states: np.ndarray) -> np.ndarray:
    """[N, rows, classes]: the layers after the RNN stack applied to its state after each row."""
    n, rows, units = states.shape
    head = model.layers[len(model.leading(ops.SEQUENCE)):]
    return reference.forward(head, states.reshape(n * rows, units), ops.VECTOR).reshape(n, rows, -1)


def write_report(out: Path, files: dict[str, bytes]) -> list[Path]:
    """Replace the report in `out` by `files` (all renamed at the end; earlier extra files removed)."""
    marker = out / MARKER
    if out.exists() and not out.is_dir():
        raise NNModelError(f"{out}: exists and is not a folder; choose another --out")
    previous: list[str] = []
    if out.is_dir() and any(out.iterdir()):
        if not marker.is_file():
            raise NNModelError(f"{out}: holds files that nnmodel report did not write; choose an empty or new --out")
        previous = marker.read_text().split()
    out.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for name, data in sorted(files.items()):
            staged.append((stage(out / name, data), out / name))
        staged.append((stage(marker, "".join(f"{n}\n" for n in sorted(files)).encode()), marker))
        for tmp, final in staged:
            os.replace(tmp, final)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
    for name in previous:
        if name not in files and "/" not in name and not name.startswith("."):
            (out / name).unlink(missing_ok=True)
    return [out / name for name in sorted(files)]
