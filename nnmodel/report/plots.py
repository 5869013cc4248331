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
from ..evaluate import Regression
from ..model import IMAGE, SEQUENCE, VECTOR, InputSpec, Model
from ..realvalues import features, output_values, values_from_codes

if TYPE_CHECKING:  # matplotlib stays optional: nothing is imported from it at module load
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
MISSED_ROWS, MISSED_COLS = 5, 8  # the misclassified grid shows at most 40 images
SEQ_ROWS, SEQ_COLS = 4, 5  # ... or 20 sequences (curves need room)
HIDDEN_EXAMPLES = 4  # RNN heat maps: examples shown
GATE_EXAMPLES = 3  # gated layers' gate heat maps: examples shown
FEATURE_EXAMPLES = 3  # CNN feature maps: examples shown
MAX_CHANNELS = 12  # feature-map columns per layer
FIRST_LAYER_UNITS = 32  # dense-first image models: receptive fields shown
PANEL_COLS = 3  # regression pictures: panels (one per output) per row
LEGEND_FEATURES = 10  # sequences with more features draw their curves without a legend


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
    plots = _regression_plots(model) if model.is_regression else _classification_plots(model)
    plots.append(Plot("weight_histograms.png", 1200, 330 * -(-len(weight_tensors(model)) // 3),
                      "Histogram of each weight matrix's integer codes as stored on the chip (int8 or int4), "
                      "with the share of zeros and of saturated codes (±max, where the largest weight lands)."))
    return plots + _front_plots(model)


def example_noun(model: Model) -> str:
    """What an example is called in titles: MNIST-era (v1/v2) models read digits."""
    return "sample" if model.input.is_v3 else "digit"


def _classification_plots(model: Model) -> list[Plot]:
    side = max(600, 60 * model.n_classes + 200)
    plots = [
        Plot("confusion_matrix.png", side, side, "Confusion matrix: rows are the true class, columns the "
             "prediction; colour is the share of the row."),
        Plot("per_class_accuracy.png", 900, 450, "Per-class accuracy, with the overall accuracy as a line."),
    ]
    spec = model.input
    if spec.kind == IMAGE:
        plots.append(Plot("misclassified.png", 110 * MISSED_COLS, 125 * MISSED_ROWS + 40,
                          f"The first {MISSED_ROWS * MISSED_COLS} misclassified {example_noun(model)}s as the model "
                          "saw them" + (" (channel 0)" if spec.channels not in (1, 3) else "")
                          + ": true label, then prediction."))
    elif spec.kind == SEQUENCE:
        plots.append(Plot("misclassified.png", 220 * SEQ_COLS, 170 * SEQ_ROWS + 70,
                          f"The first {SEQ_ROWS * SEQ_COLS} misclassified sequences: each feature's value over "
                          "time (the model's codes in physical units); true label, then prediction."))
    return plots  # a vector has no picture of its own: the card's feature table describes it


def _panel_grid(outputs: int) -> tuple[int, int]:
    """(rows, cols) of one-panel-per-output regression pictures."""
    cols = min(outputs, PANEL_COLS)
    return -(-outputs // cols), cols


def _regression_plots(model: Model) -> list[Plot]:
    rows, cols = _panel_grid(model.n_classes)
    return [
        Plot("predicted_vs_true.png", 480 * cols, 440 * rows + 40,
             "Predicted against true value of each output (reference engine, physical units), with the y = x "
             "line; RMSE and MAE in the titles."),
        Plot("residuals.png", 480 * cols, 380 * rows + 40,
             "Histogram of each output's residual (predicted − true, in its unit), with its mean and spread."),
    ]


def _front_plots(model: Model) -> list[Plot]:
    """Pictures of the network's front: an RNN's states, a CNN's maps, a dense layer's receptive fields."""
    front_rnn, front_conv = model.sequence_front(), model.leading(ops.MAP)
    first = ops.op_of(model.layers[0])
    noun = example_noun(model)
    if front_rnn:
        image = model.input.kind == IMAGE
        step = "row" if image else "step"
        head = ("the outputs the head would give" if model.is_regression
                else "the logits the head would output")
        marks = "dashed: the true value" if model.is_regression else f"white dots: its choice after each {step}"
        out = [Plot("rnn_hidden_state.png", 250 + 420 * (len(front_rnn) + 1), 260 * HIDDEN_EXAMPLES,
                    f"The recurrent layers reading each {noun} {step} by {step}: the hidden state after each "
                    f"{step} (one heat-map row per unit), and {head} if the {'image' if image else 'sequence'} "
                    f"stopped there ({marks}).")]
        panels = sum(len(gate_panels(layer)) for layer in front_rnn)
        if panels:
            out.append(Plot("recurrent_gates.png", 250 + 260 * panels, 240 * GATE_EXAMPLES,
                            f"Inside the gated layers, {step} by {step}, on a few {noun}s: each gate's integer "
                            "value (0..128 = 0..1 for the sigmoid gates, ±128 = ±1 for tanh), the LSTM cell "
                            "(Q12: 4096 = 1.0) and the state h, one heat-map row per unit."))
        return out
    if front_conv:
        cols = 1 + min(MAX_CHANNELS, max(layer_channels(c) for c in front_conv))
        return [Plot("feature_maps.png", 110 * cols, (110 * len(front_conv) + 30) * FEATURE_EXAMPLES,
                     f"Feature maps: each conv and pool layer's output channels for a few {noun}s "
                     f"(the input {noun} at the left).")]
    spec = model.input
    if first.in_form == ops.VECTOR and first.has_weights and spec.kind == IMAGE and spec.channels == 1:
        rows = -(-min(FIRST_LAYER_UNITS, model.layers[0].outputs) // 8)  # it reads the whole image
        return [Plot("first_layer_weights.png", 8 * 110, rows * 120 + 40,
                     "What the first layer looks for: the weights of its first units as images "
                     "(red raises the unit, blue lowers it).")]
    return []


def layer_channels(layer: Any) -> int:
    """Channels of a map layer's output (HWC)."""
    return int(layer.out_shape[2])


# ------------------------------------------------------------------------------------ inputs
@dataclass(frozen=True)
class InputView:
    """How to draw one example's input so examples compare: an image's codes in one grey range (0..255
    for v1/v2 pixels, else the data's), a sequence's or vector's physical values in the data's range."""

    spec: InputSpec
    lo: float
    hi: float

    @classmethod
    def of(cls, spec: InputSpec, codes: np.ndarray) -> InputView:
        """The view of a data set's codes [N, *shape] (or MNIST's [N, rows, cols])."""
        if spec.kind == IMAGE and not spec.is_v3:
            return cls(spec, 0.0, 255.0)
        shown = codes.astype(np.float64) if spec.kind == IMAGE else values_from_codes(spec, codes)
        lo, hi = (float(shown.min()), float(shown.max())) if shown.size else (0.0, 1.0)
        return cls(spec, lo, hi if hi > lo else lo + 1.0)

    @property
    def steps_axis(self) -> str:
        """What an RNN's time axis counts."""
        return "image row read" if self.spec.kind == IMAGE else "step read"

    def curve_labels(self) -> list[str]:
        return [f"{f.name} ({f.unit})" if f.unit else f.name for f in features(self.spec)]

    def draw(self, ax: Axes, code: np.ndarray) -> list[Any]:
        """One example: an image (channel 0, or RGB when C is 3), a sequence's curves or a vector's bars.
        Returns the curves drawn (for a legend)."""
        if self.spec.kind == IMAGE:
            img = np.asarray(code, np.float64)
            if img.ndim == 3 and img.shape[2] == 3:
                ax.imshow(np.clip((img - self.lo) / (self.hi - self.lo), 0.0, 1.0), interpolation="nearest")
            else:
                img = img[:, :, 0] if img.ndim == 3 else img
                ax.imshow(img, cmap="gray_r", vmin=self.lo, vmax=self.hi, interpolation="nearest")
            ax.set_axis_off()
            return []
        values = values_from_codes(self.spec, np.asarray(code)[None])[0]
        if self.spec.kind == VECTOR:
            ax.bar(range(len(values)), values, color="#4878a8")
            lines: list[Any] = []
        else:
            lines = ax.plot(values, linewidth=1)
        ax.set_ylim(self.lo, self.hi)
        ax.tick_params(labelsize=6)
        return lines


def example_caption(model: Model, target: np.ndarray) -> str:
    """An example's truth, for titles: its class, or its outputs in their units."""
    if not model.is_regression:
        return f"{'class' if model.input.is_v3 else 'digit'} {model.labels[int(target)]}"
    units = model.output.units or ("",) * model.n_classes
    shown = [f"{name} {v:.4g}" + (f" {u}" if u else "")
             for name, v, u in zip(model.labels, np.atleast_1d(target), units)]
    return ", ".join(shown[:2]) + (", …" if len(shown) > 2 else "")  # titles are narrow


def axis_label(name: str, unit: str) -> str:
    return f"{name} ({unit})" if unit else name


# ------------------------------------------------------------------------------------ drawing
def _slant(ax: Axes, degrees: float) -> None:
    """Slant the x tick labels so long class names do not overlap."""
    for label in ax.get_xticklabels():
        label.set_rotation(degrees)
        label.set_horizontalalignment("right")


def confusion_matrix(plot: Plot, confusion: np.ndarray, names: list[str], title: str) -> bytes:
    fig = new_figure(plot.width, plot.height)
    longest = max(len(n) for n in names)
    left = max(0.1, (45 + 8 * longest) / plot.width)  # room for long class names and the axis label
    bottom = max(0.08, (45 + 6 * longest) / plot.height) if longest > 2 else 0.08
    ax = fig.add_axes((left, bottom, 0.96 - left, 0.94 - bottom))
    support = np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    share = confusion / support
    ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    for (i, j), v in np.ndenumerate(confusion):
        if v:
            ax.text(j, i, str(int(v)), ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.5 else ("#b00000" if i != j else "black"))
    ticks = range(len(names))
    ax.set_xticks(ticks, names)
    if longest > 2:
        _slant(ax, 45)
    ax.set_yticks(ticks, names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=10)
    return png(fig)


def per_class_accuracy(plot: Plot, per_class: np.ndarray, support: np.ndarray,
                       names: list[str], overall: float, title: str) -> bytes:
    fig = new_figure(plot.width, plot.height)
    slanted = max(len(n) for n in names) > 3  # long class names: slanted, with room below
    ax = fig.add_axes((0.08, 0.22, 0.9, 0.66) if slanted else (0.08, 0.14, 0.9, 0.74))
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
    if slanted:
        _slant(ax, 20)
    ax.set_xlabel("true class")
    ax.set_ylabel("correct (%)")
    ax.set_title(title, fontsize=10)
    return png(fig)


def misclassified(plot: Plot, view: InputView, codes: np.ndarray, labels: np.ndarray, predictions: np.ndarray,
                  names: list[str], title: str, noun: str) -> bytes:
    """The first misclassified examples: images in a 5x8 grid, sequences' curves in a 4x5 grid."""
    fig = new_figure(plot.width, plot.height)
    image = view.spec.kind == IMAGE
    rows, cols = (MISSED_ROWS, MISSED_COLS) if image else (SEQ_ROWS, SEQ_COLS)
    wrong = np.flatnonzero(predictions != labels)
    fig.suptitle(f"{title}: {len(wrong)} misclassified" + (f", first {rows * cols} shown"
                                                           if len(wrong) > rows * cols else ""), fontsize=10)
    top = 1 - (40 if image else 70) / plot.height  # sequences: a legend row under the title
    lines: list[Any] = []
    for slot in range(rows * cols):
        r, c = divmod(slot, cols)
        if image:
            box = (c / cols + 0.01, top * (1 - (r + 1) / rows) + 0.005, 1 / cols - 0.02, top / rows - 0.045)
        else:
            box = (c / cols + 0.035, top * (1 - (r + 1) / rows) + 0.03, 1 / cols - 0.05, top / rows - 0.09)
        ax = fig.add_axes(box)
        if slot < len(wrong):
            i = wrong[slot]
            lines = view.draw(ax, codes[i]) or lines
            ax.set_title(f"#{i}: {names[labels[i]]} → {names[predictions[i]]}", fontsize=8, color="#b00000")
        else:
            ax.set_axis_off()
    if lines and len(lines) <= LEGEND_FEATURES:
        fig.legend(lines, view.curve_labels(), loc="upper center", bbox_to_anchor=(0.5, 1 - 28 / plot.height),
                   ncol=min(len(lines), 6), fontsize=8, frameon=False)
    if not len(wrong):
        fig.text(0.5, 0.5, f"no misclassified {noun}s", ha="center", va="center", fontsize=14)
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


def rnn_hidden_state(plot: Plot, model: Model, view: InputView, codes: np.ndarray, targets: np.ndarray,
                     history: list[np.ndarray], head_logits: np.ndarray) -> bytes:
    """history[k]: [N, rows, units] outputs of RNN layer k; head_logits: [N, rows, outputs], what the
    dense head gives on the last RNN layer's state after each row (or step)."""
    fig = new_figure(plot.width, plot.height)
    n_panels = len(history) + 1
    left_w = 250 / plot.width
    panel_w = (1 - left_w) / n_panels
    rows = len(codes)
    step = "row" if view.spec.kind == IMAGE else "step"
    longest = 0 if model.is_regression else max(len(n) for n in model.labels)
    for d in range(rows):
        y0 = 1 - (d + 1) / rows
        h = 1 / rows
        if view.spec.kind == IMAGE:
            ax = fig.add_axes((0.01, y0 + 0.12 * h, left_w - 0.03, 0.72 * h))
        else:  # curves need their tick labels
            ax = fig.add_axes((0.04, y0 + 0.2 * h, left_w - 0.06, 0.62 * h))
        lines = view.draw(ax, codes[d])
        if d == 0 and lines and len(lines) <= LEGEND_FEATURES:
            ax.legend(lines, view.curve_labels(), fontsize=6, loc="upper right")
        ax.set_title(example_caption(model, targets[d]), fontsize=9)
        # sequence_front: the recurrent layers, also when pools of the image come first
        panels = [(f"layer {k} hidden state ({h_.shape[2]} units)", h_[d].T, model.sequence_front()[k])
                  for k, h_ in enumerate(history)]
        what = "outputs" if model.is_regression else "logits"
        panels.append((f"head's {what} if reading stopped at this {step}", head_logits[d].T, None))
        for p, (title, grid, layer) in enumerate(panels):
            pad = 0.0 if layer is not None else max(0, 6 * longest - 12) / plot.width  # long class names
            ax = fig.add_axes((left_w + p * panel_w + 0.03 + pad, y0 + 0.2 * h, panel_w - 0.05 - pad, 0.62 * h))
            if layer is not None:
                lo, hi = layer.activation.clamp
                bound = max(abs(lo), abs(hi))
                ax.imshow(grid, cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="auto", interpolation="nearest")
                ax.set_ylabel("unit", fontsize=8)
            elif model.is_regression:
                _head_outputs(ax, model, head_logits[d], targets[d])
            else:
                ax.imshow(grid, cmap="viridis", aspect="auto", interpolation="nearest")
                leader = np.argmax(grid, axis=0)  # the class the head would pick after each row
                ax.plot(np.arange(grid.shape[1]), leader, "w.", markersize=4)
                final = model.labels[int(leader[-1])]
                ax.set_yticks(range(len(model.labels)), model.labels, fontsize=6)
                if max(len(n) for n in model.labels) <= 2:
                    ax.set_ylabel(f"class (final: {final})", fontsize=8)
                else:  # long names fill the margin: the choice goes in the title
                    title += f" (final: {final})"
            ax.set_title(title, fontsize=8)
            ax.set_xlabel(view.steps_axis, fontsize=8)
            ax.tick_params(labelsize=7)
    return png(fig)


def gate_panels(layer: Any) -> list[tuple[str, str]]:
    """(record, meaning) of the heat maps of one recurrent layer's gates (none for an Elman rnn)."""
    op = ops.op_of(layer)
    if not hasattr(op, "trace_gates"):
        return []
    kinds = dict(op.GATES)
    panels = [(name, f"gate {name} ({'σ' if kinds[name] == 'sigmoid' else 'tanh'})") for name in op.gate_names()]
    if "c" in op.trace_keys():
        panels.append(("c", "cell c"))
    return panels + [("h", "state h")]


def recurrent_gates(plot: Plot, model: Model, view: InputView, codes: np.ndarray, targets: np.ndarray,
                    traces: list[tuple[Any, dict[str, np.ndarray]]]) -> bytes:
    """traces: (layer, its trace_gates record of [N, T, U] arrays) per gated layer of the front."""
    fig = new_figure(plot.width, plot.height)
    panels = [(k, layer, rec, key, meaning) for k, (layer, rec) in enumerate(traces)
              for key, meaning in gate_panels(layer)]
    left_w = 250 / plot.width
    panel_w = (1 - left_w) / len(panels)
    rows = len(codes)
    for d in range(rows):
        y0, h = 1 - (d + 1) / rows, 1 / rows
        ax = fig.add_axes((0.01, y0 + 0.12 * h, left_w - 0.03, 0.72 * h))
        view.draw(ax, codes[d])
        ax.set_title(example_caption(model, targets[d]), fontsize=9)
        for p, (k, _layer, rec, key, meaning) in enumerate(panels):
            grid = rec[key][d].T
            ax = fig.add_axes((left_w + p * panel_w + 0.02, y0 + 0.2 * h, panel_w - 0.03, 0.62 * h))
            if key in ("r", "z", "i", "f", "o"):
                ax.imshow(grid, cmap="viridis", vmin=0, vmax=128, aspect="auto", interpolation="nearest")
            else:
                bound = max(1, int(np.abs(rec[key]).max())) if key == "c" else 128
                ax.imshow(grid, cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="auto", interpolation="nearest")
            ax.set_title(f"layer {k}: {meaning}", fontsize=8)
            ax.set_xlabel(view.steps_axis, fontsize=7)
            ax.tick_params(labelsize=6)
    return png(fig)


def _head_outputs(ax: Axes, model: Model, logits: np.ndarray, target: np.ndarray) -> None:
    """A regression head's outputs after each step, in their units, with the true values dashed."""
    units = model.output.units or ("",) * model.n_classes
    values = output_values(model, logits)  # [rows, outputs]
    for k, line in enumerate(ax.plot(values, linewidth=1)):
        ax.axhline(float(np.atleast_1d(target)[k]), color=line.get_color(), linestyle="--", linewidth=0.8)
    ax.set_ylabel(axis_label(model.labels[0], units[0]) if model.n_classes == 1
                  else "outputs (" + ", ".join(model.labels) + ")", fontsize=8)


def feature_maps(plot: Plot, model: Model, view: InputView, codes: np.ndarray, targets: np.ndarray,
                 maps: list[np.ndarray]) -> bytes:
    """maps[k]: [N, h, w, c] output of conv/pool layer k (integer codes)."""
    fig = new_figure(plot.width, plot.height)
    front = model.leading(ops.MAP)
    cols = 1 + min(MAX_CHANNELS, max(layer_channels(c) for c in front))
    block = 1 / len(codes)
    row_h = (block - 30 / plot.height) / len(front)
    for d in range(len(codes)):
        top = 1 - d * block
        fig.text(0.01, top - 12 / plot.height, example_caption(model, targets[d]), fontsize=9, weight="bold",
                 va="center")
        ax = fig.add_axes((0.005, top - 30 / plot.height - row_h + 0.1 * row_h, 1 / cols - 0.01, 0.8 * row_h))
        view.draw(ax, codes[d])
        for k, layer in enumerate(front):
            y = top - 30 / plot.height - (k + 1) * row_h
            fmap = maps[k][d]
            vmax = max(int(np.abs(maps[k][:len(codes)]).max()), 1)  # one scale per layer: maps compare
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


def _output_axes(fig: Figure, plot: Plot, k: int, outputs: int) -> Axes:
    """The axes of output k in a one-panel-per-output picture (a 40-pixel title band on top)."""
    rows, cols = _panel_grid(outputs)
    r, c = divmod(k, cols)
    top = 1 - 40 / plot.height
    return fig.add_axes((c / cols + 0.13 / cols, top * (1 - (r + 1) / rows) + 0.14 * top / rows,
                         0.8 / cols, 0.7 * top / rows))


def _each_output(fig: Any, plot: Plot, ev: Regression) -> list[tuple[int, str, str, Any]]:
    """(index, name, unit, its axes) for every output of a regression, one panel each."""
    units = ev.units or [""] * len(ev.names)
    return [(k, name, unit, _output_axes(fig, plot, k, len(ev.names)))
            for k, (name, unit) in enumerate(zip(ev.names, units))]


def predicted_vs_true(plot: Plot, ev: Regression, title: str) -> bytes:
    fig = new_figure(plot.width, plot.height)
    fig.suptitle(title, fontsize=10)
    for k, name, unit, ax in _each_output(fig, plot, ev):
        truth, pred = ev.truth[:, k], ev.predictions[:, k]
        ax.scatter(truth, pred, s=6, alpha=0.5, color="#4878a8", linewidths=0)
        lo, hi = float(min(truth.min(), pred.min())), float(max(truth.max(), pred.max()))
        ax.plot([lo, hi], [lo, hi], color="#c04040", linestyle="--", linewidth=1, label="y = x")
        u = f" {unit}" if unit else ""
        ax.set_title(f"{name}: RMSE {ev.rmse[k]:.4g}{u}, MAE {ev.mae[k]:.4g}{u}", fontsize=9)
        ax.set_xlabel("true " + axis_label(name, unit), fontsize=8)
        ax.set_ylabel("predicted " + axis_label(name, unit), fontsize=8)
        ax.legend(fontsize=8, loc="upper left")
        ax.tick_params(labelsize=7)
    return png(fig)


def residuals(plot: Plot, ev: Regression, title: str) -> bytes:
    fig = new_figure(plot.width, plot.height)
    fig.suptitle(title, fontsize=10)
    for k, name, unit, ax in _each_output(fig, plot, ev):
        res = ev.predictions[:, k] - ev.truth[:, k]
        ax.hist(res, bins=40, color="#4878a8", edgecolor="white", linewidth=0.5)
        ax.axvline(0.0, color="#c04040", linestyle="--", linewidth=1)
        u = f" {unit}" if unit else ""
        ax.set_title(f"{name}: mean {res.mean():+.3g}{u}, std {res.std():.3g}{u}", fontsize=9)
        ax.set_xlabel("predicted − true" + (f" ({unit})" if unit else ""), fontsize=8)
        ax.set_ylabel("samples", fontsize=8)
        ax.tick_params(labelsize=7)
    return png(fig)
