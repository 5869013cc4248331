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
from ..evaluate import Evaluation
from ..model import Model
from ..sim.bench import attiny85_samples, file_digest
from .measure import BenchFigures, StaticFootprint
from .plots import Plot

AVR_MHZ = 16.5  # the Digispark's clock (attiny85 env's f_cpu)


@dataclass
class CardInputs:
    model: Model
    model_path: Path
    data_source: str
    reference: Evaluation
    c: Evaluation
    agree: int  # digits whose logits are identical in both engines
    footprints: list[StaticFootprint]
    bench: BenchFigures | None
    plots: list[Plot]
    command: str


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


def _accuracy(inp: CardInputs) -> list[str]:
    ref, c = inp.reference, inp.c
    out = ["## Accuracy", "", f"Data: {inp.data_source}.", "",
           "| engine | accuracy |", "|---|---|",
           f"| reference (numpy integer, the specification) | {accuracy_text(ref)} |",
           f"| C (the generated code, host build -O2) | {accuracy_text(c)} |", ""]
    same = "identical" if inp.agree == ref.n else "DIFFERENT"
    out.append(f"Logits of the two engines: {same} on {inp.agree}/{ref.n} digits"
               + (" (bit for bit)." if inp.agree == ref.n else " — a bug: run `nnmodel verify` on this model."))
    acc = inp.model.provenance.get("accuracy")
    if isinstance(acc, dict) and acc:
        shown = ", ".join(f"{k} {v:.2%}" for k, v in acc.items() if isinstance(v, float))
        if shown:
            out += ["", f"Recorded at export (model file provenance): {shown}."]
    support = ref.confusion.sum(axis=1)
    out += ["", "| class | " + " | ".join(ref.class_names) + " |",
            "|---|" + "---|" * len(ref.class_names),
            "| accuracy | " + " | ".join("n/a" if np.isnan(a) else f"{a:.2%}" for a in ref.per_class) + " |",
            "| digits | " + " | ".join(str(int(s)) for s in support) + " |"]
    return out


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
    samples = attiny85_samples()
    rows = [(f"ATtiny85 firmware (src/attiny85, model in EEPROM): flash, {samples} sample digits of 784 B included",
             "attiny85.<model>.flash_bytes"),
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
    out += [f"Exact counts from the simulators, {bench.source}:", "", "| figure | value | bench key |", "|---|---|---|"]
    if cycles:
        out.append(f"| ATtiny85 cycles per inference (mean, 200 test digits; simavr) | {_n(cycles.value)} "
                   f"(≈ {cycles.value / AVR_MHZ / 1000:.1f} ms at {AVR_MHZ} MHz) | `{cycles.key}` |")
    else:
        out.append("| ATtiny85 cycles per inference | not measured | |")
    if instr:
        out.append(f"| RV32IMC instructions per inference (mean, 500 test digits; QEMU) | {_n(instr.value)} "
                   + (f"({per_mac.value:g} per MAC)" if per_mac else "") + f" | `{instr.key}` |")
        if worst:
            out.append(f"| RV32IMC instructions, all-255 image (no pixel skipped) | {_n(worst.value)} "
                       f"| `{worst.key}` |")
    else:
        out.append("| RV32IMC instructions per inference | not measured | |")
    out += ["", f"MACs per inference: {inp.model.macs():,}."]
    return out


def _notes(inp: CardInputs) -> list[str]:
    notes = inp.bench.notes if inp.bench else []
    return ["", "Not measured, and why:", ""] + [f"- {n}" for n in notes] if notes else []


def model_card(inp: CardInputs) -> str:
    model = inp.model
    layout = lay_out(model)
    prov = model.provenance
    lines = [f"# Model card: {model.name}", "",
             f"Written by `{inp.command}` (nnmodel {__version__}).", "",
             f"- model file: `{inp.model_path.name}`, sha256 `{file_digest(inp.model_path)[:16]}…`, "
             f"model hash `0x{layout.model_hash:08x}` (the EEPROM image and generated code carry it)",
             f"- input: {model.input.rows}×{model.input.cols} uint8 image, fed row by row; "
             f"{model.n_classes} classes ({', '.join(model.labels)})",
             f"- parameters: {model.parameter_count():,}; parameter bytes: {len(layout.payload):,} B "
             "(weights, biases, multipliers, tables)",
             f"- MACs per inference: {model.macs():,}", "",
             "## Architecture", ""] + _layer_rows(model)
    lines += (["", "<details><summary><code>nnmodel info</code></summary>", "", "```"] + describe(model)
              + ["```", "</details>", ""])
    lines += _accuracy(inp) + [""] + _footprint(inp) + [""] + _speed(inp) + _notes(inp)
    if prov.get("command"):
        lines += ["", "## Training", "", f"Produced by: `{prov['command']}`"]
        extra = {k: prov[k] for k in ("seed", "epochs", "best_epoch", "train_digits", "val_digits", "train_seconds")
                 if k in prov}
        if extra:
            lines.append("(" + ", ".join(f"{k} {v}" for k, v in extra.items()) + ")")
    lines += ["", "## Pictures", ""]
    for plot in inp.plots:
        lines += [f"### {plot.file}", "", plot.caption, "", f"![{plot.file}]({plot.file})", ""]
    return "\n".join(lines).rstrip() + "\n"
