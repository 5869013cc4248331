"""The report's pictures: each function draws one PNG of a known pixel size from integer results.

matplotlib is an optional extra (`pip install nnmodel[report]`); it is imported here only, through
its object-oriented API (Figure + the Agg canvas), so no pyplot state is shared between reports.
PNGs carry no software/date metadata: the same model and data give byte-identical files.
"""
from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import ops
from ..errors import NNModelError
from ..model import Model

if TYPE_CHECKING:  # matplotlib stays optional: nothing is imported from it at module load
    from matplotlib.figure import Figure

DPI = 100
MISSED_ROWS, MISSED_COLS = 5, 8  # the misclassified grid shows at most 40 digits
HIDDEN_DIGITS = 4  # RNN heat maps: digits shown
FEATURE_DIGITS = 3  # CNN feature maps: digits shown
MAX_CHANNELS = 12  # feature-map columns per layer
FIRST_LAYER_UNITS = 32  # dense-first models: receptive fields shown


def _matplotlib() -> tuple[Any, Any]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        # sys.executable: PlatformIO's own Python when the report runs as a Project Task
        raise NNModelError("nnmodel report draws its pictures with matplotlib, which is not installed; "
                           f"run: \"{sys.executable}\" -m pip install 'matplotlib>=3.5' "
                           "(or pip install 'nnmodel[report]')") from None
    return Figure, FigureCanvasAgg


def new_figure(width_px: int, height_px: int) -> Figure:
    figure_cls, canvas_cls = _matplotlib()
    fig = figure_cls(figsize=(width_px / DPI, height_px / DPI), dpi=DPI)
    canvas_cls(fig)
    return fig


def png(fig: Figure) -> bytes:
    # No bbox_inches="tight": it would change the pixel size with the contents.
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


@dataclass(frozen=True)
class Plot:
    """One picture of the report: its file name, pixel size and what it shows (for the card)."""

    file: str
    width: int
    height: int
    caption: str


# ------------------------------------------------------------------------------------ sizes
def weight_tensors(model: Model) -> list[tuple[str, np.ndarray, int]]:
    """(title, integer codes as stored, bits) of every weight matrix, in layer order."""
    out = []
    for i, layer in enumerate(model.layers):
        out += [(f"[{i}] {layer.kind} {label}", codes, bits)
                for label, codes, bits in ops.op_of(layer).weight_tensors(layer)]
    return out


def plot_list(model: Model) -> list[Plot]:
    """The pictures a report of this model holds, with their sizes (tests check the PNGs against it)."""
    k = model.n_classes
    side = max(600, 60 * k + 200)
    plots = [
        Plot("confusion_matrix.png", side, side, "Confusion matrix: rows are the true class, columns the "
             "prediction; colour is the share of the row."),
        Plot("per_class_accuracy.png", 900, 450, "Per-class accuracy, with the overall accuracy as a line."),
        Plot("misclassified.png", 110 * MISSED_COLS, 125 * MISSED_ROWS + 40,
             f"The first {MISSED_ROWS * MISSED_COLS} misclassified digits as the model saw them: "
             "true label, then prediction."),
        Plot("weight_histograms.png", 1200, 330 * -(-len(weight_tensors(model)) // 3),
             "Histogram of each weight matrix's integer codes as stored on the chip (int8 or int4), "
             "with the share of zeros and of saturated codes (±max, where the largest weight lands)."),
    ]
    front_rnn, front_conv = model.leading(ops.SEQUENCE), model.leading(ops.MAP)
    first = ops.op_of(model.layers[0])
    if front_rnn:
        plots.append(Plot("rnn_hidden_state.png", 250 + 420 * (len(front_rnn) + 1), 260 * HIDDEN_DIGITS,
                          "The RNN reading each digit row by row: its hidden state after each row (one heat-map "
                          "row per unit), and the logits the head would output if the image stopped there "
                          "(white dots: its choice after each row)."))
    elif front_conv:
        cols = 1 + min(MAX_CHANNELS, max(layer_channels(c) for c in front_conv))
        plots.append(Plot("feature_maps.png", 110 * cols, (110 * len(front_conv) + 30) * FEATURE_DIGITS,
                          "Feature maps: each conv and pool layer's output channels for a few digits "
                          "(the input digit at the left)."))
    elif first.in_form == ops.VECTOR and first.has_weights:  # it reads the whole image
        rows = -(-min(FIRST_LAYER_UNITS, model.layers[0].outputs) // 8)
        plots.append(Plot("first_layer_weights.png", 8 * 110, rows * 120 + 40,
                          "What the first layer looks for: the weights of its first units as images "
                          "(red raises the unit, blue lowers it)."))
    return plots


def layer_channels(layer: Any) -> int:
    """Channels of a map layer's output (HWC)."""
    return int(layer.out_shape[2])


# ------------------------------------------------------------------------------------ drawing
def confusion_matrix(plot: Plot, confusion: np.ndarray, names: list[str], title: str) -> bytes:
    fig = new_figure(plot.width, plot.height)
    ax = fig.add_axes((0.1, 0.08, 0.86, 0.86))
    support = np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    share = confusion / support
    ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    for (i, j), v in np.ndenumerate(confusion):
        if v:
            ax.text(j, i, str(int(v)), ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.5 else ("#b00000" if i != j else "black"))
    ticks = range(len(names))
    ax.set_xticks(ticks, names)
    ax.set_yticks(ticks, names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=10)
    return png(fig)


def per_class_accuracy(plot: Plot, per_class: np.ndarray, support: np.ndarray,
                       names: list[str], overall: float, title: str) -> bytes:
    fig = new_figure(plot.width, plot.height)
    ax = fig.add_axes((0.08, 0.14, 0.9, 0.74))
    values = np.nan_to_num(per_class) * 100
    bars = ax.bar(range(len(names)), values, color="#4878a8")
    for bar, v, n in zip(bars, values, support):
        ax.text(bar.get_x() + bar.get_width() / 2, v + 0.3, f"{v:.1f}%\nn={int(n)}", ha="center",
                va="bottom", fontsize=7)
    low = max(0.0, min(values.min(initial=100.0), overall * 100) - 5)
    ax.set_ylim(low, 101.5)
    ax.axhline(overall * 100, color="#c04040", linestyle="--", linewidth=1)
    ax.text(len(names) - 0.5, overall * 100, f"overall {overall:.2%}", color="#c04040", ha="right",
            va="bottom", fontsize=8)
    ax.set_xticks(range(len(names)), names)
    ax.set_xlabel("true class")
    ax.set_ylabel("correct (%)")
    ax.set_title(title, fontsize=10)
    return png(fig)


def misclassified(plot: Plot, images: np.ndarray, labels: np.ndarray, predictions: np.ndarray,
                  names: list[str], title: str) -> bytes:
    fig = new_figure(plot.width, plot.height)
    wrong = np.flatnonzero(predictions != labels)
    fig.suptitle(f"{title}: {len(wrong)} misclassified" + (f", first {MISSED_ROWS * MISSED_COLS} shown"
                                                           if len(wrong) > MISSED_ROWS * MISSED_COLS else ""),
                 fontsize=10)
    top = 1 - 40 / plot.height
    for slot in range(MISSED_ROWS * MISSED_COLS):
        r, c = divmod(slot, MISSED_COLS)
        ax = fig.add_axes((c / MISSED_COLS + 0.01, top * (1 - (r + 1) / MISSED_ROWS) + 0.005,
                           1 / MISSED_COLS - 0.02, top / MISSED_ROWS - 0.045))
        ax.set_axis_off()
        if slot < len(wrong):
            i = wrong[slot]
            ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=255, interpolation="nearest")
            ax.set_title(f"#{i}: {names[labels[i]]} → {names[predictions[i]]}", fontsize=8, color="#b00000")
    if not len(wrong):
        fig.text(0.5, 0.5, "no misclassified digits", ha="center", va="center", fontsize=14)
    return png(fig)


def weight_histograms(plot: Plot, model: Model) -> bytes:
    fig = new_figure(plot.width, plot.height)
    tensors = weight_tensors(model)
    rows = -(-len(tensors) // 3)
    for n, (title, codes, bits) in enumerate(tensors):
        r, c = divmod(n, 3)
        ax = fig.add_axes((c / 3 + 0.05, 1 - (r + 1) / rows + 0.12 / rows, 1 / 3 - 0.08, 0.72 / rows))
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        flat = codes.astype(np.int64).ravel()
        width = max(1, (hi - lo + 1) // 32)  # int8: 8 codes per bar, or a few hundred weights look like noise
        counts = np.bincount((flat - lo) // width, minlength=(hi - lo + 1) // width)
        ax.bar(lo + width * np.arange(len(counts)) + (width - 1) / 2, counts, width=width, color="#4878a8",
               edgecolor="white", linewidth=0.5)
        ax.set_xlim(lo - 1, hi + 1)
        zeros = float((flat == 0).mean())
        saturated = float((np.abs(flat) >= hi).mean())  # symmetric quantization: max|w| maps to ±hi
        ax.set_title(f"{title}\n{flat.size} int{bits} codes, {zeros:.0%} zero, {saturated:.1%} at ±{hi}",
                     fontsize=8)
        ax.set_xlabel("weight code" + (f" (bars of {width})" if width > 1 else ""), fontsize=8)
        ax.tick_params(labelsize=7)
    return png(fig)


def rnn_hidden_state(plot: Plot, model: Model, images: np.ndarray, labels: np.ndarray,
                     history: list[np.ndarray], head_logits: np.ndarray) -> bytes:
    """history[k]: [N, rows, units] outputs of RNN layer k; head_logits: [N, rows, classes], the logits
    the dense head gives on the last RNN layer's state after each row."""
    fig = new_figure(plot.width, plot.height)
    n_panels = len(history) + 1
    left_w = 250 / plot.width
    panel_w = (1 - left_w) / n_panels
    rows = len(images)
    for d in range(rows):
        y0 = 1 - (d + 1) / rows
        h = 1 / rows
        ax = fig.add_axes((0.01, y0 + 0.12 * h, left_w - 0.03, 0.72 * h))
        ax.imshow(images[d], cmap="gray_r", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(f"digit {model.labels[labels[d]]}", fontsize=9)
        ax.set_axis_off()
        panels = [(f"layer {k} hidden state ({h_.shape[2]} units)", h_[d].T, model.leading(ops.SEQUENCE)[k])
                  for k, h_ in enumerate(history)]
        panels.append(("head's logits if reading stopped at this row", head_logits[d].T, None))
        for p, (title, grid, layer) in enumerate(panels):
            ax = fig.add_axes((left_w + p * panel_w + 0.03, y0 + 0.2 * h, panel_w - 0.05, 0.62 * h))
            if layer is not None:
                lo, hi = layer.activation.clamp
                bound = max(abs(lo), abs(hi))
                ax.imshow(grid, cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="auto", interpolation="nearest")
                ax.set_ylabel("unit", fontsize=8)
            else:
                ax.imshow(grid, cmap="viridis", aspect="auto", interpolation="nearest")
                leader = np.argmax(grid, axis=0)  # the class the head would pick after each row
                ax.plot(np.arange(grid.shape[1]), leader, "w.", markersize=4)
                final = int(leader[-1])
                ax.set_yticks(range(len(model.labels)), model.labels, fontsize=6)
                ax.set_ylabel(f"class (final: {model.labels[final]})", fontsize=8)
            ax.set_title(title, fontsize=8)
            ax.set_xlabel("image row read", fontsize=8)
            ax.tick_params(labelsize=7)
    return png(fig)


def feature_maps(plot: Plot, model: Model, images: np.ndarray, labels: np.ndarray,
                 maps: list[np.ndarray]) -> bytes:
    """maps[k]: [N, h, w, c] output of conv/pool layer k (integer codes)."""
    fig = new_figure(plot.width, plot.height)
    front = model.leading(ops.MAP)
    cols = 1 + min(MAX_CHANNELS, max(layer_channels(c) for c in front))
    block = 1 / len(images)
    row_h = (block - 30 / plot.height) / len(front)
    for d in range(len(images)):
        top = 1 - d * block
        fig.text(0.01, top - 12 / plot.height, f"digit {model.labels[labels[d]]}", fontsize=9, weight="bold",
                 va="center")
        ax = fig.add_axes((0.005, top - 30 / plot.height - row_h + 0.1 * row_h, 1 / cols - 0.01, 0.8 * row_h))
        ax.imshow(images[d], cmap="gray_r", vmin=0, vmax=255, interpolation="nearest")
        ax.set_axis_off()
        for k, layer in enumerate(front):
            y = top - 30 / plot.height - (k + 1) * row_h
            fmap = maps[k][d]
            vmax = max(int(np.abs(maps[k][:len(images)]).max()), 1)  # one scale per layer: maps compare
            for ch in range(min(MAX_CHANNELS, fmap.shape[2])):
                ax = fig.add_axes(((ch + 1) / cols + 0.005, y + 0.1 * row_h, 1 / cols - 0.01, 0.72 * row_h))
                ax.imshow(fmap[:, :, ch], cmap="magma", vmin=0, vmax=vmax, interpolation="nearest")
                ax.set_axis_off()
                kind = "conv" if ops.op_of(layer).has_weights else "pool"
                ax.set_title(f"[{model.layers.index(layer)}] {kind} ch{ch}", fontsize=7)
    return png(fig)


def first_layer_weights(plot: Plot, model: Model) -> bytes:
    layer = model.layers[0]
    _, codes, _ = ops.op_of(layer).weight_tensors(layer)[0]  # [units, rows * cols]
    fig = new_figure(plot.width, plot.height)
    units = min(FIRST_LAYER_UNITS, layer.outputs)
    rows = -(-units // 8)
    fig.suptitle(f"[0] {ops.op_of(layer).summary(layer)}: weights of units 0..{units - 1} "
                 f"as {model.input.rows}x{model.input.cols} images", fontsize=10)
    top = 1 - 40 / plot.height
    for u in range(units):
        r, c = divmod(u, 8)
        ax = fig.add_axes((c / 8 + 0.01, top * (1 - (r + 1) / rows) + 0.005, 1 / 8 - 0.02, top / rows - 0.04))
        w = codes[u].astype(np.int64).reshape(model.input.rows, model.input.cols)
        bound = max(int(np.abs(w).max()), 1)
        ax.imshow(w, cmap="RdBu_r", vmin=-bound, vmax=bound, interpolation="nearest")
        ax.set_title(f"unit {u}", fontsize=7)
        ax.set_axis_off()
    return png(fig)
