"""The example models small enough for the ATtiny85 (models/README.md, "Models of the example data")
built as firmware and run in simavr: their logits equal the reference's."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from test_datafiles import DATA, EXAMPLES, MODELS
from test_simulators import FIRMWARE, IMAGES_H, LOGITS, RUNTIME_SOURCES, TOOLS, _runner

from nnmodel import load, reference
from nnmodel.codegen import compile_model
from nnmodel.evaldata import load as load_eval
from nnmodel.evaldata import stream_codes


@pytest.mark.parametrize("name, storage", [("gestures_gru", "eeprom"), ("gestures_gru", "progmem"),
                                           ("gestures_rnn", "progmem"), ("thermistor_attiny85", "eeprom")])
def test_example_models_are_bit_exact_on_the_attiny85(tmp_path: Path, name: str, storage: str) -> None:
    """The ATtiny85-sized example models in simavr (the multiplier-free AVR kernels and, for the GRU, the
    gate path with the tanh table in PROGMEM) on the first 20 rows of their data, logits identical to the reference."""
    tool = TOOLS["avr"]
    if not shutil.which(tool["cc"][0]):
        pytest.fail(f"{tool['cc'][0]} is not installed (scripts/setup.sh installs it)")
    harness = tmp_path / "simavr_run"
    subprocess.run(["gcc", "-std=c99", "-O2", "-o", str(harness), str(REPO / "platformio/sim/simavr_run.c"),
                    "-lsimavr"], check=True)
    model = load(MODELS / f"{name}.nnm")
    file, label, _ = EXAMPLES[name]
    codes = stream_codes(load_eval(model, str(DATA / file), label=label, limit=20), model)
    work = tmp_path / "fw"
    compile_model(model, target="attiny85", storage=storage, out_dir=work)
    (work / "images.h").write_text(IMAGES_H.format(pixels=",".join(map(str, codes.reshape(-1)))))
    (work / "main.c").write_text(FIRMWARE.format(count=len(codes)))
    elf = work / "firmware.elf"
    subprocess.run([*tool["cc"], "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(work), "-I",
                    str(REPO / "lib/nnrt/include"), "-I", str(tool["include"]), str(work / "main.c"),
                    str(work / f"{model.name}.c"), *RUNTIME_SOURCES, "-o", str(elf)], check=True)
    run = subprocess.run(_runner("avr", elf, harness), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-300:]
    got = np.array([[int(v) for v in line.split()] for line in run.stdout.splitlines() if LOGITS.match(line)])
    np.testing.assert_array_equal(got, reference.run(model, codes))
    print(f"{name} ({storage}): {len(got)} of {len(codes)} rows' logits identical in simavr")
