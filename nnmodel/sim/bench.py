"""Benchmarks: each producer yields figures `key = value unit`; they report, never pass or fail.

Keys are stable and dotted: <where>.<model>.<figure>. Times are medians of several runs;
simulator counts are exact. Later issues add producers to PRODUCERS.
"""
from __future__ import annotations

import hashlib
import json
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

from .. import hostc, reference
from ..datasets import load_sample
from ..fsutil import write_atomic
from ..model import Model

if TYPE_CHECKING:
    from .rv32 import Measurement, Memory

RUNS = 5


@dataclass
class Figure:
    key: str
    value: float
    unit: str

    def line(self) -> str:
        value = f"{self.value:.0f}" if float(self.value).is_integer() else f"{self.value:.4g}"
        return f"{self.key} = {value} {self.unit}"


RANDOM_INPUTS = 100  # inputs of a model that does not read MNIST digits


@dataclass
class BenchContext:
    models: list[tuple[str, Model]]  # (key name, model)
    images: np.ndarray  # digits to run (the bundled sample)
    paths: list[Path]  # the model files
    note: Callable[[str], None] = print  # why a figure is missing ("# ..." lines of `nnmodel bench`)

    def inputs(self, model: Model) -> np.ndarray:
        """What a model runs on: the sample digits, or for any other input RANDOM_INPUTS seeded random
        codes [N, rows, cols] in its dtype (its figures then hold for inputs spread over every code)."""
        spec = model.input
        if not spec.is_v3 and (spec.rows, spec.cols) == self.images.shape[1:]:
            return self.images
        rng = np.random.default_rng(0)
        dtype = np.uint8 if spec.dtype == "uint8" else np.int8
        info = np.iinfo(dtype)
        return rng.integers(info.min, int(info.max) + 1, (RANDOM_INPUTS, spec.rows, spec.cols)).astype(dtype)


Producer = Callable[[BenchContext], Iterable[Figure]]


def host_figures(ctx: BenchContext) -> Iterator[Figure]:
    """host.<model>.us_per_inference: the generated C at -O2, median of RUNS timed runs."""
    for key, model in ctx.models:
        inputs = ctx.inputs(model)
        with tempfile.TemporaryDirectory(prefix="nnmodel-bench-") as tmp:
            build = hostc.build(model, Path(tmp), opt="-O2")
            repeats = max(1, int(2e8 // max(model.macs() * len(inputs), 1)))  # ~0.1-0.5 s per run
            ns = statistics.median(build.ns_per_inference(inputs, repeats) for _ in range(RUNS))
        yield Figure(f"host.{key}.us_per_inference", round(ns / 1000.0, 2), "us")


def float_ratio_figures(ctx: BenchContext) -> Iterator[Figure]:
    """host.<model>.float_ratio: the integer C's time over a float32 C twin's (sim/float_twin.py),
    both at -O3 -march=native -ffast-math, timed interleaved in one process (the vector kernels of
    lib/nnrt/include/nnrt/arch/x86 at work); float_ratio_O2 the same at -O2 (portable kernels)."""
    from .float_twin import FAST, has_twin, time_against_twin

    for key, model in ctx.models:
        if not has_twin(model):
            continue
        inputs = ctx.inputs(model)
        for suffix, flags in (("", FAST), ("_O2", ["-O2"])):
            with tempfile.TemporaryDirectory(prefix="nnmodel-bench-") as tmp:
                ours, theirs, agree = time_against_twin(model, Path(tmp), inputs, flags)
            yield Figure(f"host.{key}.int_us{suffix}", round(ours / 1000.0, 2), "us")
            yield Figure(f"host.{key}.float_us{suffix}", round(theirs / 1000.0, 2), "us")
            yield Figure(f"host.{key}.float_ratio{suffix}", round(ours / theirs, 3), "x")
        yield Figure(f"host.{key}.float_twin_agreement", agree, f"of {len(inputs)} argmax")


def reference_figures(ctx: BenchContext) -> Iterator[Figure]:
    """reference.<model>.images_per_second: numpy reference on a 10,000-image batch."""
    for key, model in ctx.models:
        inputs = ctx.inputs(model)
        batch = np.resize(inputs, (10000,) + inputs.shape[1:])
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            reference.run(model, batch)
            times.append(time.perf_counter() - t0)
        yield Figure(f"reference.{key}.images_per_second", round(len(batch) / statistics.median(times)), "images/s")


# Timed in a fresh interpreter, as PlatformIO runs the hook: import + digest (+ generation).
_PREBUILD_PROBE = """
import sys, time
t0 = time.perf_counter()
from nnmodel.prebuild import Settings, generate
from pathlib import Path
s = Settings.parse({"model": sys.argv[1]}, Path("."), "esp32c3")
generate(s, {"model": sys.argv[1]}, Path(sys.argv[2]), lambda _: None)
print(time.perf_counter() - t0)
"""


def prebuild_figures(ctx: BenchContext) -> Iterator[Figure]:
    """prebuild.regenerate_seconds / prebuild.noop_seconds for the largest model given."""
    if not ctx.paths:
        return
    path = max(ctx.paths, key=lambda p: p.stat().st_size)
    regenerate: list[float] = []
    noop: list[float] = []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory(prefix="nnmodel-bench-") as tmp:
            for runs in (regenerate, noop):  # first run generates, the second finds it up to date
                out = subprocess.run([sys.executable, "-c", _PREBUILD_PROBE, str(path.resolve()), tmp],
                                     capture_output=True, text=True, check=True).stdout
                runs.append(float(out))
    yield Figure("prebuild.regenerate_seconds", round(statistics.median(regenerate), 3), "s")
    yield Figure("prebuild.noop_seconds", round(statistics.median(noop), 3), "s")


def train_figures(ctx: BenchContext) -> Iterator[Figure]:
    """train.<model>.seconds: re-run the command recorded in the model's provenance (minutes)."""
    for key, model in ctx.models:
        command = model.provenance.get("command", "")
        command = command if isinstance(command, str) else ""  # provenance is free-form JSON
        argv = shlex.split(command)[1:] if command.startswith("nnmodel train ") else []
        if "--out" not in argv or "--data" not in argv or not Path(argv[argv.index("--data") + 1]).is_dir():
            ctx.note(f"# train.{key}: no runnable training command or dataset here; skipped")
            continue
        with tempfile.TemporaryDirectory(prefix="nnmodel-bench-") as tmp:
            argv[argv.index("--out") + 1] = str(Path(tmp) / f"{model.name}.nnm")
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "nnmodel", *argv], check=True, capture_output=True)
            yield Figure(f"train.{key}.seconds", round(time.perf_counter() - t0, 1), "s")


ATTINY85_DIGITS = 200  # streamed digits whose cycles are averaged


def attiny85_samples() -> str:
    """custom_nnmodel_samples of platformio.ini's [attiny85_model] (what env attiny85 embeds), else 4."""
    import configparser

    from ..paths import repo_root

    root, config = repo_root(), configparser.ConfigParser(interpolation=None)
    if root is not None and (root / "platformio.ini").is_file():
        config.read(root / "platformio.ini")
    return config.get("attiny85_model", "custom_nnmodel_samples", fallback="4").strip()


def attiny85_figures(ctx: BenchContext) -> Iterator[Figure]:
    """The ATtiny85 firmware (src/attiny85, model in EEPROM) of each model that fits the chip.

    attiny85.<model>.flash_bytes: .text + .data of the chip build (atmelavr's flags, 16.5 MHz), and
    attiny85.firmware.flash_bytes the same for the first such model; attiny85.<model>.eeprom_bytes:
    its .eeprom section (header + weights);
    attiny85_sim.<model>.sram_peak_bytes: .data + .bss + the stack high-water of the simulator build
    running its samples (SRAM painting); attiny85_sim.<model>.cycles_per_inference: mean exact cycles
    of app_classify over ATTINY85_DIGITS streamed test digits (cycles do not depend on the clock;
    divide by 16.5 for microseconds on a Digispark).
    """
    from ..errors import NNModelError
    from . import avr_firmware as fw

    why = fw.missing_tool()
    if why:
        ctx.note(f"# attiny85: {why}; skipped")
        return
    samples, firmware_done = attiny85_samples(), False
    with tempfile.TemporaryDirectory(prefix="nnmodel-bench-") as tmp:
        harness = fw.build_harness(Path(tmp))
        driver_c = Path(tmp) / "driver.c"
        driver_c.write_text(fw.BENCH_DRIVER)
        for (key, _), path in zip(ctx.models, ctx.paths):
            work = Path(tmp) / key
            try:
                gen = fw.generate(path, work / "gen", samples=samples, stream=str(ATTINY85_DIGITS))
            except NNModelError as exc:
                # e.g. a model too big for the EEPROM; the advice after ';' is for `nnmodel compile`
                ctx.note(f"# attiny85: {key} skipped, the firmware cannot hold it: {str(exc).split('; ')[0]}")
                continue
            try:
                real = fw.sizes(fw.build(gen, work / "real.elf", sim=False))
            except NNModelError as exc:  # reported, and the simulator figures still come
                ctx.note(f"# attiny85: chip build of {key} failed: {exc}")
            else:
                if not firmware_done:  # the firmware of the first model, the key of earlier results
                    yield Figure("attiny85.firmware.flash_bytes", real.flash, "bytes")
                    firmware_done = True
                yield Figure(f"attiny85.{key}.flash_bytes", real.flash, "bytes")
                yield Figure(f"attiny85.{key}.eeprom_bytes", real.eeprom, "bytes")
            sim_elf = fw.build(gen, work / "sim.elf", sim=True)
            run = fw.run(harness, sim_elf)
            if run.returncode != 0:
                raise NNModelError(f"attiny85 firmware of {key} exited {run.returncode} in simavr: {run.stdout[-200:]}")
            yield Figure(f"attiny85_sim.{key}.sram_peak_bytes", fw.sizes(sim_elf).sram_static + run.stack_max, "bytes")
            driver = fw.build(gen, work / "driver.elf", sim=True, sources=[fw.source_dir() / "app.c", driver_c])
            run = fw.run(harness, driver, "-in", str(gen / "nnmodel_stream.bin"))
            cycles = [int(c) for c in re.findall(r"^cycles (\d+)$", run.stdout, re.M)]
            if run.returncode != 0 or len(cycles) != ATTINY85_DIGITS:
                raise NNModelError(f"attiny85 bench driver of {key}: exit {run.returncode}, "
                                   f"{len(cycles)} of {ATTINY85_DIGITS} digits")
            yield Figure(f"attiny85_sim.{key}.cycles_per_inference", round(statistics.mean(cycles)), "cycles")


def rv32_figures(ctx: BenchContext) -> Iterator[Figure]:
    """RV32IMC, the ESP32-C3's instruction set (nnmodel.sim.rv32: cross-built at -Os, run in QEMU).

    rv32imc_sim.<model>.instructions_per_inference / _per_mac: exact (-icount shift=0 + minstret),
    mean over the benchmark digits, model calls only; `_worst`: the same for an all-255 image (no
    pixel skipped). rv32imc.<model>.inference_ram_bytes = static_ram_bytes (.data + .bss of model +
    runtime, from the linker map) + stack_bytes (painted stack peak of one streamed inference, the
    caller's row buffer and logits included). flash_bytes: model + runtime code, constants and data
    image after --gc-sections (weights included; the digits and the bench driver not).
    """
    from . import rv32

    yield from _qemu_figures(ctx, rv32, "rv32imc")


def cortexm_figures(ctx: BenchContext) -> Iterator[Figure]:
    """Cortex-M4 (nnmodel.sim.cortexm: cross-built at -Os for the cortexm-qemu-sim board, run in QEMU
    mps2-an386): the figures of rv32_figures under cortexm4_sim.<model>.* and cortexm4.<model>.*.
    Instruction counts are exact (the AN386's 25 MHz counter at -icount shift=7, see the platform's
    nnsim.h); real Cortex-M4 cycles also depend on wait states and multi-cycle instructions.
    """
    from . import cortexm

    yield from _qemu_figures(ctx, cortexm, "cortexm4")


class _SimBuild(Protocol):
    def memory(self) -> Memory: ...
    def measure(self, timeout: float = ...) -> Measurement: ...


class _QemuSim(Protocol):
    """What nnmodel.sim.rv32 and nnmodel.sim.cortexm offer (modules satisfy protocols)."""

    def missing_tools(self, qemu: bool = True) -> str | None: ...
    def build(self, model: Model, workdir: Path, images: np.ndarray, labels: np.ndarray,
              storage: str = "flash") -> _SimBuild: ...


def _qemu_figures(ctx: BenchContext, sim: _QemuSim, chip: str) -> Iterator[Figure]:
    """The figures of a QEMU-run instruction set; `sim` is nnmodel.sim.rv32 or .cortexm (same API)."""
    from ..errors import NNModelError

    missing = sim.missing_tools(qemu=False)
    if missing:
        ctx.note(f"# {chip}: {missing}; skipped")
        return
    no_qemu = sim.missing_tools(qemu=True)
    for key, model in ctx.models:
        inputs = ctx.inputs(model)
        with tempfile.TemporaryDirectory(prefix="nnmodel-bench-") as tmp:
            try:
                build = sim.build(model, Path(tmp), inputs, np.zeros(len(inputs), np.uint8))
            except NNModelError as exc:  # e.g. refused at generation: over the board's budgets
                ctx.note(f"# {chip}: {key} skipped, it does not build for this chip: {str(exc).split('; ')[0]}")
                continue
            memory = build.memory()
            run = None if no_qemu else build.measure()
        if run is None:
            ctx.note(f"# {chip}_sim.{key}: {no_qemu}; instruction and stack figures skipped")
        else:
            mean, macs = float(run.instructions.mean()), model.macs()
            yield Figure(f"{chip}_sim.{key}.instructions_per_inference", round(mean), "instructions")
            yield Figure(f"{chip}_sim.{key}.instructions_per_mac", round(mean / macs, 2), "instructions")
            yield Figure(f"{chip}_sim.{key}.instructions_per_inference_worst", run.worst, "instructions")
            yield Figure(f"{chip}_sim.{key}.instructions_per_mac_worst", round(run.worst / macs, 2), "instructions")
            yield Figure(f"{chip}.{key}.inference_ram_bytes", memory.static_ram + run.stack, "bytes")
            yield Figure(f"{chip}.{key}.stack_bytes", run.stack, "bytes")
            differ = int((run.logits != reference.run(model, inputs)).any(axis=1).sum())
            if differ:
                ctx.note(f"# {chip}_sim.{key}: logits differ from nnmodel.reference on {differ} of "
                         f"{len(inputs)} inputs")
        yield Figure(f"{chip}.{key}.static_ram_bytes", memory.static_ram, "bytes")
        # the model's data (weights, biases, scales) in flash, then the code that runs it, separately
        yield Figure(f"{chip}.{key}.flash_bytes", memory.const + memory.data, "bytes")
        yield Figure(f"{chip}.{key}.flash_code_bytes", memory.code, "bytes")
        yield Figure(f"{chip}.{key}.flash_total_bytes", memory.flash, "bytes")


PRODUCERS: list[Producer] = [host_figures, float_ratio_figures, reference_figures, prebuild_figures,
                              attiny85_figures, rv32_figures, cortexm_figures]


def run_all(models: list[tuple[str, Model]], paths: list[Path], out: Path | None,
            producers: list[Producer] | None = None, echo: Callable[[str], None] = print) -> list[Figure]:
    ctx = BenchContext(models, load_sample().images, paths)
    figures: list[Figure] = []
    for producer in producers or PRODUCERS:
        for fig in producer(ctx):
            echo(fig.line())
            figures.append(fig)
    if out is not None:
        results: dict = {f.key: asdict(f) for f in figures}
        # Which model file each <model> key measured: a report reading these figures checks it.
        results[MODELS_KEY] = {key: {"file": p.name, "sha256": file_digest(p)} for (key, _), p in zip(models, paths)}
        out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out, (json.dumps(results, indent=2, sort_keys=True) + "\n").encode())
    return figures


MODELS_KEY = "models"


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_results(path: Path, key: str, model_path: Path) -> list[Figure]:
    """The figures of model `key` in a results file of run_all, refused if they measured another file."""
    from ..errors import NNModelError

    try:
        results = json.loads(path.read_text())
        recorded = results.get(MODELS_KEY, {}).get(key, {}).get("sha256")
        figures = [Figure(str(v["key"]), float(v["value"]), str(v["unit"])) for k, v in results.items()
                   if k != MODELS_KEY and f".{key}." in k]
    except (OSError, ValueError, AttributeError, KeyError, TypeError) as exc:
        raise NNModelError(f"{path}: not a results file of `nnmodel bench` ({exc}); "
                           f"run nnmodel bench --out {path}") from None
    if recorded != file_digest(model_path):
        raise NNModelError(f"{path}: holds no figures of {model_path} as it is now (model {key} "
                           f"{'changed since' if recorded else 'not in'} that run); rerun nnmodel bench")
    return figures
