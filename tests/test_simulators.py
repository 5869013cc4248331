"""Random models on the real instruction sets: ATtiny85 in simavr, RV32IMC and Cortex-M4 in QEMU, vs the reference.

The AVR build takes kernel paths (register-level EEPROM reads, shift-add multiply, the int4 conv
kernel in assembly) that no host test compiles; RV32 checks the portable kernels with a 32-bit int
and picolibc, Cortex-M4 with Thumb-2 code generation and newlib. CI installs the toolchains
(scripts/setup.sh); a missing one fails the test rather than skipping it.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from randmodels import random_conv_model, random_images, random_model

from nnmodel import NNModelError, reference
from nnmodel.codegen import compile_model
from nnmodel.paths import runtime_sources
from nnmodel.sim import cortexm, rv32

PLATFORMS = REPO / "platformio" / "platforms"
RUNTIME_SOURCES = [str(p) for p in runtime_sources(asm=True)]  # the AVR asm kernel too
LOGITS = re.compile(r"^-?\d+( -?\d+)* ?$")
N_MODELS = 32  # dense/RNN models, then as many conv/pool models (int4 and int8)

FIRMWARE = """#include <stdint.h>
#include "nnmodel.h"
#include "nnsim.h"
#include "images.h"
int main(void)
{{
    uint8_t row[NNMODEL_INPUT_COLS];
    int32_t logits[NNMODEL_NUM_CLASSES];
    uint16_t k, r, c;
    if (nnmodel_check() != NNRT_OK) {{
        nnsim_puts("storage refused\\n");
        nnsim_exit(3);
    }}
    for (k = 0; k < {count}u; k++) {{
        nnmodel_begin();
        for (r = 0; r < NNMODEL_INPUT_ROWS; r++) {{
            for (c = 0; c < NNMODEL_INPUT_COLS; c++) {{
                row[c] = IMAGE_BYTE(((uint32_t)k * NNMODEL_INPUT_ROWS + r) * NNMODEL_INPUT_COLS + c);
            }}
            nnmodel_feed_row(row);
        }}
        nnmodel_finish(logits);
        for (c = 0; c < NNMODEL_NUM_CLASSES; c++) {{
            nnsim_puti32(logits[c]);
            nnsim_putc(' ');
        }}
        nnsim_putc('\\n');
    }}
    nnsim_flush();
    return 0;
}}
"""

IMAGES_H = """#ifdef __AVR__
#include <avr/pgmspace.h>
static const uint8_t images[] PROGMEM = {{{pixels}}};
#define IMAGE_BYTE(i) pgm_read_byte(images + (i))
#else
static const uint8_t images[] = {{{pixels}}};
#define IMAGE_BYTE(i) (images[(i)])
#endif
"""

TOOLS = {
    "avr": {
        "target": "attiny85", "storages": ("eeprom", "progmem"),
        "cc": ["avr-gcc", "-mmcu=attiny85", "-Os", "-ffunction-sections", "-fdata-sections", "-Wl,--gc-sections",
               "-Wl,--section-start=.mmcu=0x910000"],
        "include": PLATFORMS / "tinyavr-sim" / "include",
        "sim": "gcc",  # builds the simavr harness
    },
    "rv32": {
        "target": "esp32c3", "storages": ("flash", "ram"),
        "cc": [rv32.GCC, *rv32.ARCH, *rv32.SEMIHOSTING, "-O2", *rv32.MEMORY],
        "include": PLATFORMS / "rv32-qemu-sim" / "include",
        "sim": rv32.QEMU,
    },
    # The board's target (the "cortex-m" profile with the AN386's budgets) and the platform's startup
    # code and memory map, as env cortexm4_sim builds them.
    "cortexm": {
        "target": cortexm.target(), "storages": ("flash", "ram"),
        "cc": [cortexm.GCC, *cortexm.link_flags(), "-O2", str(cortexm.startup_source())],
        "include": cortexm.include_dir(),
        "sim": cortexm.QEMU,
    },
}


@pytest.fixture(scope="module")
def simavr_run(tmp_path_factory) -> Path:
    exe = tmp_path_factory.mktemp("harness") / "simavr_run"
    subprocess.run(["gcc", "-std=c99", "-O2", "-o", str(exe), str(REPO / "platformio/sim/simavr_run.c"), "-lsimavr"],
                   check=True)
    return exe


def _runner(arch: str, elf: Path, simavr: Path) -> list[str]:
    if arch == "avr":
        return [str(simavr), "-m", "attiny85", "-f", "16500000", "-c", "2000000000", str(elf)]
    return rv32.qemu_command(elf) if arch == "rv32" else cortexm.qemu_command(elf)


@pytest.mark.parametrize("arch", ["avr", "rv32", "cortexm"])
def test_random_models_on_the_target_instruction_set(tmp_path: Path, arch: str, simavr_run: Path) -> None:
    tool = TOOLS[arch]
    for program in (tool["cc"][0], tool["sim"]):
        if not shutil.which(program):
            pytest.fail(f"{program} is not installed (scripts/setup.sh installs it)")
    ran = mismatched = 0
    seed = 0
    while ran < 2 * N_MODELS:
        rng = np.random.default_rng(5000 + seed)
        if ran < N_MODELS:
            model = random_model(rng, name=f"r{seed}")
        else:  # up to 20 channels off the ATtiny85: the eight-channel conv passes and their remainders
            model = random_conv_model(rng, name=f"r{seed}", max_out=8 if arch == "avr" else 20)
        storage = tool["storages"][seed % 2]
        seed += 1
        work = tmp_path / f"{seed}"
        try:
            compile_model(model, target=tool["target"], storage=storage, out_dir=work)
        except NNModelError:
            continue  # does not fit the chip: refused at generation, as it should be
        images = random_images(rng, model, 4)
        (work / "images.h").write_text(IMAGES_H.format(pixels=",".join(map(str, images.reshape(-1)))))
        (work / "main.c").write_text(FIRMWARE.format(count=len(images)))
        elf = work / "firmware.elf"
        build = subprocess.run([*tool["cc"], "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(work), "-I",
                                str(REPO / "lib/nnrt/include"), "-I", str(tool["include"]), str(work / "main.c"),
                                str(work / f"{model.name}.c"), *RUNTIME_SOURCES, "-o", str(elf)],
                               capture_output=True, text=True)
        if build.returncode != 0 and "overflowed" in build.stderr:
            continue  # code + weights + test images exceed 8 KB of flash
        assert build.returncode == 0, build.stderr
        # QEMU's semihosting console writes to stderr when not on a terminal: read both streams.
        run = subprocess.run(_runner(arch, elf, simavr_run), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, text=True, timeout=120)
        lines = [line for line in run.stdout.splitlines() if LOGITS.match(line)]  # not the harness's notes
        assert run.returncode == 0, f"{model.name} ({storage}): exit {run.returncode}: {run.stdout[-300:]}"
        got = np.array([[int(v) for v in line.split()] for line in lines])
        mismatched += int(got.shape != (len(images), model.n_classes) or np.any(got != reference.run(model, images)))
        ran += 1
    assert ran == 2 * N_MODELS and mismatched == 0, f"{mismatched} of {ran} models differ from the reference"
