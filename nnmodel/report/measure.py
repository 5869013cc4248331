"""What a model costs on each target: static footprints from the code layout, and the bench figures.

The simulator figures come from the same producers as `nnmodel bench` (simavr for the ATtiny85
firmware, QEMU for RV32IMC), run now on this model, or read from a results file that bench wrote.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..codegen import check_fit, footprint
from ..codegen.layout import lay_out
from ..datasets import load_sample
from ..errors import NNModelError
from ..model import Model
from ..sim.bench import BenchContext, Figure, attiny85_figures, read_results, rv32_figures
from ..targets import PROFILES


@dataclass
class StaticFootprint:
    target: str
    storage: str
    flash: int
    sram: int
    eeprom: int
    refused: str  # why the compiler refuses it on this target ("" when it fits)


def static_footprints(model: Model) -> list[StaticFootprint]:
    """Model bytes (runtime code excluded) per target and storage kind, with the compiler's fit check."""
    layout = lay_out(model)
    rows = []
    for target in ("attiny85", "esp32c3"):
        profile = PROFILES[target]
        for storage in profile.storages:
            fp = footprint(model, layout, storage)
            try:
                check_fit(profile, storage, fp, model.name)
                refused = ""
            except NNModelError as exc:
                refused = str(exc).split(": ", 1)[-1].split("; ")[0]
            rows.append(StaticFootprint(target, storage, fp.flash, fp.sram, fp.eeprom, refused))
    return rows


@dataclass
class BenchFigures:
    figures: dict[str, Figure]  # by key, model key replaced by "<model>"
    source: str  # where they came from, for the card
    notes: list[str] = field(default_factory=list)  # why figures are missing

    def get(self, key: str) -> Figure | None:
        return self.figures.get(key)


def _by_generic_key(figures: list[Figure], key: str) -> dict[str, Figure]:
    return {f.key.replace(f".{key}.", ".<model>."): f for f in figures if f".{key}." in f.key}


def measure(model: Model, path: Path, key: str) -> BenchFigures:
    """Run the bench's simulator producers on this one model (skipped with a note when a tool is missing).

    A version-3 model runs on the bench's seeded random inputs (BenchContext.inputs); a producer that
    still cannot handle it leaves a note instead of stopping the report. A v1/v2 model's failure is a
    bug and is raised.
    """
    notes: list[str] = []

    def note(text: str) -> None:  # the file's name only: the card must not depend on the checkout's place
        notes.append(text.lstrip("# ").replace(str(path.resolve()), path.name).replace(str(path), path.name))

    ctx = BenchContext([(key, model)], load_sample().images, [path], note=note)
    figures: list[Figure] = []
    for chip, producer in (("attiny85", attiny85_figures), ("rv32imc", rv32_figures)):
        try:
            figures += list(producer(ctx))
        except NNModelError as exc:
            if not model.input.is_v3:
                raise
            note(f"{chip}: not measured, the simulator run failed on {key}: {exc}")
    return BenchFigures(_by_generic_key(figures, key), "measured now by `nnmodel bench`'s simulator producers "
                        "(simavr: ATtiny85 firmware; QEMU: RV32IMC)", notes)


def from_results(results: Path, model_path: Path, key: str) -> BenchFigures:
    figures = read_results(results, key, model_path)
    return BenchFigures(_by_generic_key(figures, key), f"read from {results} (written by `nnmodel bench`)")
