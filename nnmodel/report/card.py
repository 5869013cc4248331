"""The model card: one Markdown page of what the model is, how well it does and what it costs where.

Every number on it is computed by nnmodel (eval's engines, the code layout, the bench producers);
nothing depends on the clock, so the same model and data give the same card byte for byte.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__, ops
from ..codegen.layout import lay_out
from ..commands.info import describe
from ..datasets import load_sample
from ..evaluate import Evaluation, Regression
from ..model import IMAGE, InputSpec, Model
from ..realvalues import code_range
from ..sim.bench import ATTINY85_DIGITS, RANDOM_INPUTS, attiny85_samples, file_digest
from .measure import BenchFigures, StaticFootprint
from .plots import Plot

AVR_MHZ = 16.5  # the Digispark's clock (attiny85 env's f_cpu)
FEATURE_TABLE_MAX = 12  # inputs with more features get a summary line, their table folded away


@dataclass
class CardInputs:
    model: Model
    model_path: Path
    data_source: str
    reference: Evaluation | Regression
    c: Evaluation | Regression
    agree: int  # samples whose logits (outputs) are identical in both engines
    footprints: list[StaticFootprint]
    bench: BenchFigures | None
    plots: list[Plot]
    command: str
    held_out: bool = False  # the data are the rows the model's trainer held out


def accuracy_text(ev: Evaluation) -> str:
    """As `nnmodel eval` prints it (tests compare the two)."""
    return f"{ev.accuracy:.2%} ({int((ev.predictions == ev.labels).sum())}/{ev.n})"


def _n(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _layer_rows(model: Model) -> list[str]:
    rows = ["| # | layer | in → out | activation | weights | parameters |", "|---|---|---|---|---|---|"]
    for i, layer in enumerate(model.layers):
        kind, shape, act, weights, params = ops.op_of(layer).card_row(layer)
        rows.append(f"| {i} | {kind} | {shape} | {act} | {weights} | {params:,} |")
    return rows


def _noun(model: Model) -> str:
    """MNIST-era (v1/v2) models are evaluated on digits."""
    return "samples" if model.input.is_v3 else "digits"


def _engines_agree(inp: CardInputs, what: str) -> str:
    n, noun = inp.reference.n, _noun(inp.model)
    same = "identical" if inp.agree == n else "DIFFERENT"
    return (f"{what} of the two engines: {same} on {inp.agree}/{n} {noun}"
            + (" (bit for bit)." if inp.agree == n else " — a bug: run `nnmodel verify` on this model."))


def _accuracy(inp: CardInputs, ref: Evaluation, c: Evaluation) -> list[str]:
    out = ["## Accuracy", "", f"Data: {inp.data_source}.", "",
           "| engine | accuracy |", "|---|---|",
           f"| reference (numpy integer, the specification) | {accuracy_text(ref)} |",
           f"| C (the generated code, host build -O2) | {accuracy_text(c)} |", "", _engines_agree(inp, "Logits")]
    out += _recorded(inp)
    support = ref.confusion.sum(axis=1)
    out += ["", "| class | " + " | ".join(ref.class_names) + " |",
            "|---|" + "---|" * len(ref.class_names),
            "| accuracy | " + " | ".join("n/a" if np.isnan(a) else f"{a:.2%}" for a in ref.per_class) + " |",
            f"| {_noun(inp.model)} | " + " | ".join(str(int(s)) for s in support) + " |"]
    return out


def _with_unit(value: float, unit: str) -> str:
    """A regression figure as `nnmodel eval` prints it."""
    return f"{value:.4g}" + (f" {unit}" if unit else "")


def _error(inp: CardInputs, ref: Regression, c: Regression) -> list[str]:
    units = ref.units or [""] * len(ref.names)
    out = ["## Error", "", f"Data: {inp.data_source}. RMSE and MAE of each output in its unit; the outputs "
           "are the integer results times their scales (`nnmodel eval` prints the same figures).", "",
           "| output | engine | RMSE | MAE |", "|---|---|---|---|"]
    for engine, ev in (("reference (numpy integer, the specification)", ref),
                       ("C (the generated code, host build -O2)", c)):
        out += [f"| {name} | {engine} | {_with_unit(rmse, unit)} | {_with_unit(mae, unit)} |"
                for name, unit, rmse, mae in zip(ev.names, units, ev.rmse, ev.mae)]
    out += ["", _engines_agree(inp, "Outputs")]
    return out + _recorded(inp)


def _recorded_values(value: object, units: list[str]) -> str:
    """A provenance figure: one number, or one per output (a list), with units when they are known."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _with_unit(float(value), units[0] if len(units) == 1 else "")
    if isinstance(value, list) and len(value) == len(units) and all(isinstance(v, (int, float)) for v in value):
        return " / ".join(_with_unit(float(v), u) for v, u in zip(value, units))
    return ""


def _recorded(inp: CardInputs) -> list[str]:
    """The figures the trainer recorded at export, and which rows its `test` figures come from."""
    model, prov = inp.model, inp.model.provenance
    parts = []
    acc = prov.get("accuracy")
    if isinstance(acc, dict) and acc:
        shown = ", ".join(f"{k} {v:.2%}" for k, v in acc.items() if isinstance(v, float))
        parts += [shown] if shown else []
    units = list(model.output.units) or [""] * model.n_classes
    for metric in ("rmse", "mae"):
        figures = prov.get(metric)
        if model.is_regression and isinstance(figures, dict):
            shown = ", ".join(f"{k} {text}" for k, v in figures.items() if (text := _recorded_values(v, units)))
            parts += [f"{metric.upper()} {shown}"] if shown else []
    if not parts:
        return []
    out = ["", "Recorded at export (model file provenance): " + "; ".join(parts) + "."]
    hold = prov.get("holdout")
    if isinstance(hold, dict) and isinstance(hold.get("test_split"), float) and hold["test_split"] > 0:
        out += ["", f"`test` is the {hold['test_split']:.0%} of the training file's {hold.get('rows', '?')} rows "
                f"the trainer held out (split seed {hold.get('split_seed', '?')}), `val` its validation rows. "
                + ("The figures above are on those test rows (`--held-out`)." if inp.held_out else
                   "The figures above include rows it trained on; `--held-out` restricts them to its test rows.")]
    return out


def _input(model: Model) -> list[str]:
    """The v3 input's meaning: per feature (or channel) what a code stands for."""
    spec = model.input
    if not spec.is_v3:
        return []
    lo, hi = code_range(spec)
    axis = "channel" if spec.kind == IMAGE else "feature"
    out = ["## Input", "", f"{spec.describe()}. A code stands for value = scale × (code − zero point) in the "
           f"{axis}'s unit (codes {lo}..{hi}); the firmware's raw integers (`feed_raw`) count `step`s of it.", ""]
    table = _feature_rows(spec)
    if len(spec.features) <= FEATURE_TABLE_MAX:
        return out + table
    units = sorted({f.unit for f in spec.features if f.unit})
    scales = [f.scale for f in spec.features]
    out += [f"{len(spec.features)} {axis}s: {', '.join(f.name for f in spec.features)}; units: "
            f"{', '.join(units) or 'none recorded'}; scales {min(scales):.4g}..{max(scales):.4g}.", "",
            f"<details><summary>every {axis}</summary>", ""]
    return out + table + ["", "</details>"]


def _feature_rows(spec: InputSpec) -> list[str]:
    lo, hi = code_range(spec)
    rows = ["| # | name | unit | scale | zero point | step | values |", "|---|---|---|---|---|---|---|"]
    for i, f in enumerate(spec.features):
        rows.append(f"| {i} | {f.name} | {f.unit or '—'} | {f.scale:.6g} | {f.zero_point} | {f.step:g} | "
                    f"{f.scale * (lo - f.zero_point):.4g}..{f.scale * (hi - f.zero_point):.4g} |")
    if len(spec.features) == 1 and spec.n_features > 1:
        rows.append(f"| | (one description for all {spec.n_features}) | | | | | |")
    return rows


def _output_text(name: str, unit: str, step: float) -> str:
    """A regression output for the card: its name, unit and the firmware's integer step."""
    u = f" {unit}" if unit else ""
    return name + (f" in {unit}" if unit else "") + (f" (integer form: steps of {step:g}{u})" if step else "")


def _task(model: Model) -> str:
    if not model.is_regression:
        return f"classification into {model.n_classes} classes ({', '.join(model.labels)})"
    units = model.output.units or ("",) * model.n_classes
    steps = model.output.steps or (0.0,) * model.n_classes
    outs = ", ".join(_output_text(name, u, st) for name, u, st in zip(model.labels, units, steps))
    return f"regression, {model.n_classes} output{'s' if model.n_classes > 1 else ''}: {outs}"


def _footprint(inp: CardInputs) -> list[str]:
    out = ["## Footprint per target", "",
           "Model bytes by storage kind, from the generated code's layout (runtime code not included); "
           "the compiler refuses what does not fit:", "",
           "| target | storage | flash | SRAM | EEPROM | fits |", "|---|---|---|---|---|---|"]
    for fp in inp.footprints:
        out.append(f"| {fp.target} | {fp.storage} | {fp.flash:,} B | {fp.sram:,} B | {fp.eeprom:,} B | "
                   + ("yes |" if not fp.refused else f"no: {fp.refused} |"))
    bench = inp.bench
    if bench is None:
        out += ["", "Firmware figures: not measured (`--no-sim`)."]
        return out
    samples, noun = attiny85_samples(), "inputs" if inp.model.input.is_v3 else "digits"
    rows = [(f"ATtiny85 firmware (src/attiny85, model in EEPROM): flash, {samples} sample {noun} of "
             f"{inp.model.input.size} B included", "attiny85.<model>.flash_bytes"),
            ("ATtiny85 firmware: EEPROM image", "attiny85.<model>.eeprom_bytes"),
            ("ATtiny85 firmware: SRAM peak while classifying (static + stack)", "attiny85_sim.<model>.sram_peak_bytes"),
            ("RV32IMC (ESP32-C3 ISA): flash, model + runtime", "rv32imc.<model>.flash_bytes"),
            ("RV32IMC: RAM of one inference (static + stack)", "rv32imc.<model>.inference_ram_bytes")]
    found = [(label, bench.get(key)) for label, key in rows]
    out += ["", f"Firmware figures, {bench.source}:", "", "| figure | bytes | bench key |", "|---|---|---|"]
    out += [f"| {label} | {_n(f.value)} | `{f.key}` |" for label, f in found if f is not None]
    out += [f"| {label} | not measured | |" for label, f in found if f is None]
    return out


def _speed(inp: CardInputs) -> list[str]:
    out = ["## Speed", ""]
    bench = inp.bench
    if bench is None:
        return out + ["Not measured (`--no-sim`); `nnmodel bench` gives cycles and instructions."]
    cycles = bench.get("attiny85_sim.<model>.cycles_per_inference")
    instr = bench.get("rv32imc_sim.<model>.instructions_per_inference")
    worst = bench.get("rv32imc_sim.<model>.instructions_per_inference_worst")
    per_mac = bench.get("rv32imc_sim.<model>.instructions_per_mac")
    spec = inp.model.input  # the bench runs 28x28 v1/v2 models on test digits, others on random codes
    random = spec.is_v3 or (spec.rows, spec.cols) != (28, 28)
    out += [f"Exact counts from the simulators, {bench.source}:", "", "| figure | value | bench key |", "|---|---|---|"]
    if cycles:
        out.append(f"| ATtiny85 cycles per inference (mean, {ATTINY85_DIGITS} "
                   f"{'streamed samples' if random else 'test digits'}; simavr) | {_n(cycles.value)} "
                   f"(≈ {cycles.value / AVR_MHZ / 1000:.1f} ms at {AVR_MHZ} MHz) | `{cycles.key}` |")
    else:
        out.append("| ATtiny85 cycles per inference | not measured | |")
    if instr:
        inputs = f"{RANDOM_INPUTS} seeded random inputs" if random else f"{len(load_sample().labels)} test digits"
        out.append(f"| RV32IMC instructions per inference (mean, {inputs}; QEMU) | {_n(instr.value)} "
                   + (f"({per_mac.value:g} per MAC)" if per_mac else "") + f" | `{instr.key}` |")
        if worst:
            worst_input = "every input byte 0xFF" if random else "all-255 image (no pixel skipped)"
            out.append(f"| RV32IMC instructions, {worst_input} | {_n(worst.value)} "
                       f"| `{worst.key}` |")
    else:
        out.append("| RV32IMC instructions per inference | not measured | |")
    out += ["", f"MACs per inference: {inp.model.macs():,}."]
    return out


def _notes(inp: CardInputs) -> list[str]:
    notes = inp.bench.notes if inp.bench else []
    return ["", "Not measured, and why:", ""] + [f"- {n}" for n in notes] if notes else []


def _input_lines(model: Model) -> list[str]:
    """The card's summary lines on the input and the task."""
    spec = model.input
    if not spec.is_v3 and not model.is_regression:  # as MNIST-era cards said it
        return [f"- input: {spec.rows}×{spec.cols} uint8 image, fed row by row; "
                f"{model.n_classes} classes ({', '.join(model.labels)})"]
    fed = "in one row" if spec.rows == 1 else f"as {spec.rows} rows of {spec.cols} codes"
    return [f"- input: {spec.describe()}, fed {fed} ([Input](#input))" if spec.is_v3
            else f"- input: {spec.describe()}, fed {fed}",
            f"- task: {_task(model)}"]


def model_card(inp: CardInputs) -> str:
    model = inp.model
    layout = lay_out(model)
    prov = model.provenance
    lines = [f"# Model card: {model.name}", "",
             f"Written by `{inp.command}` (nnmodel {__version__}).", "",
             f"- model file: `{inp.model_path.name}`, sha256 `{file_digest(inp.model_path)[:16]}…`, "
             f"model hash `0x{layout.model_hash:08x}` (the EEPROM image and generated code carry it)",
             *_input_lines(model),
             f"- parameters: {model.parameter_count():,}; parameter bytes: {len(layout.payload):,} B "
             "(weights, biases, multipliers, tables)",
             f"- MACs per inference: {model.macs():,}", "",
             *_input(model), *([""] if model.input.is_v3 else []),
             "## Architecture", ""] + _layer_rows(model)
    lines += (["", "<details><summary><code>nnmodel info</code></summary>", "", "```"] + describe(model)
              + ["```", "</details>", ""])
    ref, c = inp.reference, inp.c
    if isinstance(ref, Regression) and isinstance(c, Regression):
        lines += _error(inp, ref, c)
    elif isinstance(ref, Evaluation) and isinstance(c, Evaluation):
        lines += _accuracy(inp, ref, c)
    lines += [""] + _footprint(inp) + [""] + _speed(inp) + _notes(inp)
    if prov.get("command"):
        lines += ["", "## Training", "", f"Produced by: `{prov['command']}`"]
        extra = {k: prov[k] for k in ("seed", "epochs", "best_epoch", "train_digits", "val_digits", "train_rows",
                                      "val_rows", "train_seconds") if k in prov}
        if extra:
            lines.append("(" + ", ".join(f"{k} {v}" for k, v in extra.items()) + ")")
    lines += ["", "## Pictures", ""]
    for plot in inp.plots:
        lines += [f"### {plot.file}", "", plot.caption, "", f"![{plot.file}]({plot.file})", ""]
    return "\n".join(lines).rstrip() + "\n"
