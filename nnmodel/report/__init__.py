"""`nnmodel report`: pictures of what a model does and a Markdown model card, written as one set.

build_report() computes everything in memory (both engines, the reference's internal states, the
simulator figures); write_report() then stages every file and renames them all, so a failure leaves
the previous report whole. Only a folder that is empty or holds an earlier report is written to.
The data are nnmodel.evaldata's (MNIST digits or a data file); the pictures follow the model's task
(classification or regression) and input kind (vector, sequence or image of any size).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import ops, reference
from ..errors import NNModelError
from ..evaldata import EvalData, stream_codes
from ..evaluate import Evaluation, Regression, c_logits_and_timing, check_compatible, from_logits
from ..fsutil import stage
from ..model import Model
from . import plots
from .card import CardInputs, model_card
from .measure import BenchFigures, static_footprints

CARD = "model_card.md"
MARKER = ".nnmodel-report"  # lists the files of the report in a folder; absent: not ours


@dataclass
class Results:
    """What the pictures are drawn from: the data and the reference engine's results on them."""

    model: Model
    data: EvalData
    rows: np.ndarray  # the codes as the engines read them, [N, rows, cols]
    ev: Evaluation | Regression  # the reference's
    title: str


def pick_examples(model: Model, targets: np.ndarray, count: int) -> np.ndarray:
    """Indices of a few examples, in data order: the first of each of the first `count` classes, or for
    a regression `count` samples spread over the first output's range."""
    if not model.is_regression:
        _, first = np.unique(targets, return_index=True)
        return np.sort(first)[:count]
    order = np.argsort(targets[:, 0], kind="stable")
    return np.unique(order[np.linspace(0, len(order) - 1, min(count, len(order))).round().astype(int)])


def build_report(model: Model, model_path: Path, data: EvalData, bench: BenchFigures | None,
                 command: str, short: str = "", held_out: bool = False) -> dict[str, bytes]:
    """file name -> contents of every file of the report (PNGs and the card). `short` names the data in
    the pictures' titles (e.g. "500 test digits"); `held_out`: the data are the model's test rows."""
    if not len(data):
        raise NNModelError(f"{data.source}: no samples to report on; drop --limit or use another --data")
    rows = stream_codes(data, model)
    if not model.is_regression:
        check_compatible(model, rows, data.targets, data.source)
    ref_logits = reference.run(model, rows)
    c_logits, _ = c_logits_and_timing(model, rows, timing=False)
    ref, c = from_logits(model, data, ref_logits, "reference"), from_logits(model, data, c_logits, "c")
    agree = int((ref_logits == c_logits).all(axis=1).sum())

    short = short or f"{len(data)} samples"
    if isinstance(ref, Regression):
        title = f"{model.name} on {short}"
    else:
        title = f"{model.name}: {ref.accuracy:.2%} on {short}"
    results = Results(model, data, rows, ref, title)
    files: dict[str, bytes] = {}
    pictures = plots.plot_list(model)
    for plot in pictures:
        files[plot.file] = _draw(plot, results)
    card = model_card(CardInputs(model, model_path, data.source, ref, c, agree, static_footprints(model),
                                 bench, pictures, command, held_out))
    files[CARD] = card.encode()
    return files


def _draw(plot: plots.Plot, res: Results) -> bytes:
    model, ev = res.model, res.ev
    if plot.file == "weight_histograms.png":
        return plots.weight_histograms(plot, model)
    if plot.file == "first_layer_weights.png":
        return plots.first_layer_weights(plot, model)
    if plot.file == "recurrent_gates.png":
        return _draw_gates(plot, res)
    if plot.file in ("rnn_hidden_state.png", "feature_maps.png"):
        return _draw_front(plot, res)
    if isinstance(ev, Regression):
        if plot.file == "predicted_vs_true.png":
            return plots.predicted_vs_true(plot, ev, res.title)
        if plot.file == "residuals.png":
            return plots.residuals(plot, ev, res.title)
        raise AssertionError(plot.file)
    names = ev.class_names
    if plot.file == "confusion_matrix.png":
        return plots.confusion_matrix(plot, ev.confusion, names, res.title)
    if plot.file == "per_class_accuracy.png":
        return plots.per_class_accuracy(plot, ev.per_class, ev.confusion.sum(axis=1), names, ev.accuracy, res.title)
    if plot.file == "misclassified.png":
        view = plots.InputView.of(model.input, res.data.codes)
        return plots.misclassified(plot, view, res.data.codes, ev.labels, ev.predictions, names, model.name,
                                   plots.example_noun(model))
    raise AssertionError(plot.file)


def _draw_front(plot: plots.Plot, res: Results) -> bytes:
    """The RNN's hidden states or the CNN's feature maps on a few examples, from the reference's trace."""
    model, codes, targets = res.model, res.data.codes, res.data.targets
    view = plots.InputView.of(model.input, codes)
    rnn = plot.file == "rnn_hidden_state.png"
    pick = pick_examples(model, targets, plots.HIDDEN_EXAMPLES if rnn else plots.FEATURE_EXAMPLES)
    trace: list = []
    reference.run(model, res.rows[pick], trace=trace)
    if rnn:
        n_map = len(model.leading(ops.MAP))
        history = trace[n_map:n_map + len(model.sequence_front())]
        head_logits = _head_logits_per_row(model, history[-1])
        return plots.rnn_hidden_state(plot, model, view, codes[pick], targets[pick], history, head_logits)
    return plots.feature_maps(plot, model, view, codes[pick], targets[pick], trace[:len(model.leading(ops.MAP))])


def _draw_gates(plot: plots.Plot, res: Results) -> bytes:
    """The gated layers' gates, cells and states on a few examples (the reference, step by step)."""
    model, codes, targets = res.model, res.data.codes, res.data.targets
    pick = pick_examples(model, targets, plots.GATE_EXAMPLES)
    trace: list = []
    reference.run(model, res.rows[pick], trace=trace)
    n_map = len(model.leading(ops.MAP))
    front = model.sequence_front()
    x = trace[n_map - 1] if n_map else res.rows[pick].astype(np.int64)
    x_form = ops.MAP if n_map else ops.SEQUENCE
    traces = []
    for k, layer in enumerate(front):
        op = ops.op_of(layer)
        x_in = ops.adapt(x, x_form, ops.SEQUENCE) if k == 0 else trace[n_map + k - 1]
        if plots.gate_panels(layer):
            traces.append((layer, op.trace_gates(layer, x_in)))
    view = plots.InputView.of(model.input, codes)
    return plots.recurrent_gates(plot, model, view, codes[pick], targets[pick], traces)


def _head_logits_per_row(model: Model, states: np.ndarray) -> np.ndarray:
    """[N, rows, outputs]: the layers after the RNN stack applied to its state after each row."""
    n, rows, units = states.shape
    head = model.layers[len(model.leading(ops.MAP)) + len(model.sequence_front()):]
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
