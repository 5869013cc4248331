"""Benchmarks: each producer yields figures `key = value unit`; they report, never pass or fail.

Keys are stable and dotted: <where>.<model>.<figure>. Times are medians of several runs;
simulator counts are exact. Later issues add producers to PRODUCERS.
"""
from __future__ import annotations

import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from . import hostc, reference
from .datasets import load_sample
from .model import Model

RUNS = 5


@dataclass
class Figure:
    key: str
    value: float
    unit: str

    def line(self) -> str:
        value = f"{self.value:.0f}" if float(self.value).is_integer() else f"{self.value:.4g}"
        return f"{self.key} = {value} {self.unit}"


@dataclass
class BenchContext:
    models: list[tuple[str, Model]]  # (key name, model)
    images: np.ndarray  # digits to run (the bundled sample)
    paths: list[Path]  # the model files


Producer = Callable[[BenchContext], Iterable[Figure]]


def host_figures(ctx: BenchContext) -> Iterator[Figure]:
    """host.<model>.us_per_inference: the generated C at -O2, median of RUNS timed runs."""
    for key, model in ctx.models:
        with tempfile.TemporaryDirectory(prefix="nnmodel-bench-") as tmp:
            build = hostc.build(model, Path(tmp), opt="-O2")
            repeats = max(1, int(2e8 // max(model.macs() * len(ctx.images), 1)))  # ~0.1-0.5 s per run
            ns = statistics.median(build.ns_per_inference(ctx.images, repeats) for _ in range(RUNS))
        yield Figure(f"host.{key}.us_per_inference", round(ns / 1000.0, 2), "us")


def reference_figures(ctx: BenchContext) -> Iterator[Figure]:
    """reference.<model>.images_per_second: numpy reference on a 10,000-image batch."""
    batch = np.resize(ctx.images, (10000,) + ctx.images.shape[1:])
    for key, model in ctx.models:
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
    regenerate, noop = [], []
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
        argv = shlex.split(command)[1:] if command.startswith("nnmodel train ") else []
        if "--out" not in argv or "--data" not in argv or not Path(argv[argv.index("--data") + 1]).is_dir():
            print(f"# train.{key}: no runnable training command or dataset here; skipped")
            continue
        with tempfile.TemporaryDirectory(prefix="nnmodel-bench-") as tmp:
            argv[argv.index("--out") + 1] = str(Path(tmp) / f"{model.name}.nnm")
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "nnmodel", *argv], check=True, capture_output=True)
            yield Figure(f"train.{key}.seconds", round(time.perf_counter() - t0, 1), "s")


PRODUCERS: list[Producer] = [host_figures, reference_figures, prebuild_figures]


def run_all(models: list[tuple[str, Model]], paths: list[Path], out: Path | None,
            producers: list[Producer] | None = None, echo: Callable[[str], None] = print) -> list[Figure]:
    ctx = BenchContext(models, load_sample().images, paths)
    figures: list[Figure] = []
    for producer in producers or PRODUCERS:
        for fig in producer(ctx):
            echo(fig.line())
            figures.append(fig)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({f.key: asdict(f) for f in figures}, indent=2, sort_keys=True) + "\n")
    return figures
