"""This checkout's ATtiny85 firmware, built with avr-gcc directly and run in simavr (bench, tests).

The same inputs as the PlatformIO envs: src/attiny85/ (or src/attiny85_writer/), the pre-build's
output (nnmodel.prebuild.generate with the env's options) and lib/nnrt. Flags mirror the official
atmelavr platform's bare-metal build for the chip (REAL_FLAGS: sizes) and the in-repo tinyavr-sim
builder for simulator builds (SIM_FLAGS). Needs avr-gcc/avr-libc, host gcc and libsimavr-dev.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import NNModelError
from ..hostc import WARNINGS as STRICT  # the flags of platformio.ini's [strict]
from ..paths import repo_root, runtime_dir, runtime_sources

F_CPU = 16_500_000  # Digispark / env attiny85 (internal PLL, OSCCAL tuned)
# atmelavr's builder/frameworks/_bare.py, then the env's build_flags (later -std wins)
REAL_FLAGS = ["-mmcu=attiny85", "-Os", "-std=gnu11", "-fno-fat-lto-objects", "-ffunction-sections",
              "-fdata-sections", "-flto", "-fuse-linker-plugin", "-Wl,--gc-sections"]
# platformio/platforms/tinyavr-sim/builder/main.py: no LTO, .mmcu placed for simavr 1.6
SIM_FLAGS = ["-mmcu=attiny85", "-Os", "-ffunction-sections", "-fdata-sections", "-Wl,--gc-sections",
             "-Wl,--section-start=.mmcu=0x910000", "-DNNMODEL_SIM"]
TOOLS = ("avr-gcc", "avr-size", "gcc")


def missing_tool() -> str | None:
    """Why the firmware cannot be built and simulated here, or None."""
    for tool in TOOLS:
        if not shutil.which(tool):
            return f"{tool} is not installed (apt: gcc-avr avr-libc binutils-avr simavr libsimavr-dev)"
    root = repo_root()
    if root is None or not (root / "src" / "attiny85").is_dir():
        return "the firmware sources (src/attiny85/) are only in a checkout of nnmodel"
    return None


def _root() -> Path:
    root = repo_root()
    if root is None:
        raise NNModelError("src/: the firmware sources are only in a checkout of nnmodel")
    return root


def source_dir(firmware: str = "attiny85") -> Path:
    return _root() / "src" / firmware


def generate(model: Path, out_dir: Path, **options: str) -> Path:
    """The pre-build's output for an ATtiny85 env with the model in EEPROM (plus custom_nnmodel_* options)."""
    from ..prebuild import Settings
    from ..prebuild import generate as prebuild_generate

    opts = {"model": str(model), "target": "attiny85", "storage": "eeprom", **options}
    prebuild_generate(Settings.parse(opts, Path("."), "attiny85"), opts, out_dir, lambda _: None)
    return out_dir


@dataclass
class Sizes:
    text: int
    data: int
    bss: int
    eeprom: int

    @property
    def flash(self) -> int:  # what the chip's flash holds: code + .data's initial values
        return self.text + self.data

    @property
    def sram_static(self) -> int:
        return self.data + self.bss


def build(gen_dir: Path, out_elf: Path, *, sim: bool, f_cpu: int = F_CPU, firmware: str = "attiny85",
          sources: list[Path] | None = None, defines: list[str] | None = None,
          include_dirs: list[Path] | None = None) -> Path:
    """Compile and link one firmware; sources default to every .c of src/<firmware>/."""
    src = sorted(source_dir(firmware).glob("*.c")) if sources is None else sources
    runtime = runtime_dir()
    cmd = ["avr-gcc", *(SIM_FLAGS if sim else REAL_FLAGS), *STRICT, f"-DF_CPU={f_cpu}UL",
           *(f"-D{d}" for d in defines or []), "-I", str(gen_dir), "-I", str(runtime / "include"),
           "-I", str(source_dir(firmware)), *(arg for d in include_dirs or [] for arg in ("-I", str(d)))]
    if sim:
        cmd += ["-I", str(_root() / "platformio" / "platforms" / "tinyavr-sim" / "include")]
    runtime_src = runtime_sources(asm=True)  # the asm kernels too
    cmd += [*map(str, src), *map(str, sorted(gen_dir.glob("*.c"))), *map(str, runtime_src), "-o", str(out_elf)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        errors = [line for line in proc.stderr.splitlines() if "error" in line] or proc.stderr.splitlines()
        raise NNModelError(f"{out_elf.name}: avr-gcc failed: {errors[0].strip() if errors else proc.returncode}")
    return out_elf


def sizes(elf: Path) -> Sizes:
    out = subprocess.run(["avr-size", "-A", "-d", str(elf)], capture_output=True, text=True, check=True).stdout
    found = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\.(\w+)\s+(\d+)", out, re.M)}
    return Sizes(found.get("text", 0), found.get("data", 0), found.get("bss", 0) + found.get("noinit", 0),
                 found.get("eeprom", 0))


def build_harness(out_dir: Path) -> Path:
    """platformio/sim/simavr_run.c with the host gcc, as the tinyavr-sim builder does."""
    exe = out_dir / "simavr_run"
    src = _root() / "platformio" / "sim" / "simavr_run.c"
    proc = subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(exe), str(src),
                           "-lsimavr"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise NNModelError(f"{src}: cannot build the simavr harness (libsimavr-dev installed?): "
                           f"{proc.stderr.strip().splitlines()[-1:]}")
    return exe


@dataclass
class SimRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def stack_max(self) -> int:
        """Stack high-water mark of the whole run, bytes (the harness's SRAM painting)."""
        m = re.search(r"stack_max=(\d+) bytes", self.stderr)
        if not m:
            raise NNModelError(f"simavr_run printed no stack high-water: {self.stderr[-200:]}")
        return int(m.group(1))

    @property
    def led_pulses(self) -> list[tuple[int, int]]:
        """(on, off before) cycles of each PB1 pulse (runs with -led)."""
        return [(int(a), int(b)) for a, b in re.findall(r"led on=(\d+) off_before=(\d+)", self.stderr)]

    @property
    def led_level(self) -> int | None:
        """PB1 at the end of the run (runs with -led)."""
        m = re.search(r"led pulses=\d+ level=(\d)", self.stderr)
        return int(m.group(1)) if m else None


def run(harness: Path, elf: Path, *args: str, f_cpu: int = F_CPU, max_cycles: int = 2_000_000_000,
        timeout: float = 300) -> SimRun:
    """simavr_run with the harness options in args (-in, -ee, -ee-out, -led)."""
    proc = subprocess.run([str(harness), "-m", "attiny85", "-f", str(f_cpu), "-c", str(max_cycles), *args,
                           str(elf)], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return SimRun(proc.returncode, proc.stdout, proc.stderr)


# Classifies the digits of an -in stream (custom_nnmodel_stream) with the firmware's app_classify
# and prints the cycles of each; the expected logits in the stream are skipped, outside the region.
BENCH_DRIVER = r"""#include <stdint.h>
#include "app.h"
#include "nnmodel.h"
#include "nnsim.h"

volatile uint16_t bench_sink; /* keeps the result observable: -Os may not move work out */

static void stream_row(uint16_t k, uint16_t r, uint8_t *row)
{
    (void)k;
    if (r == 0u) {
        (void)nnsim_in_byte(); /* label */
    }
    nnsim_in_read(row, NNMODEL_INPUT_COLS);
}

/* The stream's sample count; out of line so that its header buffer is not on the stack while a
 * model runs (a model may use all but a few bytes of the 512). */
static __attribute__((noinline)) uint16_t read_count(void)
{
    uint8_t header[12];
    nnsim_in_read(header, sizeof header);
    return (uint16_t)(header[4] | header[5] << 8);
}

int main(void)
{
    uint32_t cycles;
    uint16_t count = read_count(), k, j;
    if (nnmodel_check() != NNRT_OK) {
        return 3;
    }
    for (k = 0; k < count; k++) {
        nnsim_mark_t mark = nnsim_region_begin();
        bench_sink = app_classify(stream_row, k, NULL);
        cycles = nnsim_region_end(mark);
        nnsim_puts_P(PSTR("cycles "));
        nnsim_putu32(cycles);
        nnsim_putc('\n');
        for (j = 0; j < 4u * NNMODEL_NUM_CLASSES; j++) { /* the reference logits: not needed here */
            (void)nnsim_in_byte();
        }
    }
    return 0;
}
"""
