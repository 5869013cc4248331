"""Cross-build a model for RV32IMC (the ESP32-C3's instruction set) and measure it in QEMU.

The engine behind the `rv32imc_sim.*` and `rv32imc.*` benchmark figures: exact instructions per
inference (QEMU `-icount shift=0` + the minstret counter), the stack peak of one streamed
inference (painted RAM), and the flash and static RAM the model and the runtime take (from the
linker map, after --gc-sections). Compiler flags and memory map are those of the rv32-qemu-sim
PlatformIO platform (platformio/platforms/rv32-qemu-sim), with -Os as the ESP32-C3 Arduino build.
Needs the Debian packages gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..codegen import compile_model
from ..codegen.extras import emit_samples
from ..errors import NNModelError
from ..hostc import run_compiler
from ..model import Model
from ..paths import runtime_dir, runtime_sources
from ..targets import Target

GCC = "riscv64-unknown-elf-gcc"
QEMU = "qemu-system-riscv32"
PACKAGES = "gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc"
ARCH = ["-march=rv32imc", "-mabi=ilp32", "-misa-spec=2.2", "--specs=picolibc.specs"]
SEMIHOSTING = ["--oslib=semihost", "--crt0=semihost"]  # stdio to the host; main's return is QEMU's exit status
MEMORY = ["-Wl,--defsym=__flash=0x80000000", "-Wl,--defsym=__flash_size=0x100000",  # board rv32imc_virt
          "-Wl,--defsym=__ram=0x80100000", "-Wl,--defsym=__ram_size=0x100000"]
CFLAGS = [*ARCH, "-std=c99", "-Os", "-ffunction-sections", "-fdata-sections", "-Wall", "-Wextra", "-Werror"]
LDFLAGS = [*ARCH, "-Os", *SEMIHOSTING, "-Wl,--gc-sections", *MEMORY]
QEMU_ARGS = ["-machine", "virt", "-nographic", "-bios", "none", "-icount", "shift=0",
             "-semihosting-config", "enable=on,target=native"]


def qemu_command(elf: Path) -> list[str]:
    """Run a semihosted RV32 program in QEMU virt, counting instructions exactly (as platformio.ini does)."""
    return [QEMU, *QEMU_ARGS, "-kernel", str(elf)]

# Input sections by the memory they take: initialised data needs flash (its image) and RAM.
FLASH_ONLY = (".text", ".rodata", ".srodata")
FLASH_AND_RAM = (".data", ".sdata")
RAM_ONLY = (".bss", ".sbss", "COMMON")


def missing_tools(qemu: bool = True) -> str | None:
    """None when the cross compiler (and QEMU) are on PATH, else what to install."""
    missing = [t for t in (GCC, QEMU if qemu else None) if t and shutil.which(t) is None]
    return f"{', '.join(missing)} not found (Debian: apt install {PACKAGES})" if missing else None


@dataclass
class Memory:
    """Bytes that the named objects put in each memory of the linked program."""

    code: int  # .text
    const: int  # .rodata/.srodata: the weights, with storage = flash
    data: int  # initialised .data/.sdata: flash image + RAM
    bss: int  # zeroed RAM

    @property
    def flash(self) -> int:
        return self.code + self.const + self.data

    @property
    def static_ram(self) -> int:
        return self.data + self.bss


@dataclass
class Measurement:
    instructions: np.ndarray  # per sample digit, inside the model calls
    logits: np.ndarray  # [N, n_classes]
    worst: int  # all-255 image: no pixel skipped
    stack: int  # bytes below the caller during one inference (row buffer and logits included)


@dataclass
class QemuBuild:
    """A linked bench driver (bench_driver.c) of this module's or cortexm.py's build(), with its map."""

    elf: Path
    map: Path
    n_classes: int
    model_objects: tuple[str, ...]  # the model's and the runtime's object files
    command: list[str]  # QEMU running the ELF, counting instructions exactly

    def memory(self) -> Memory:
        return map_memory(self.map.read_text(), self.model_objects)

    def measure(self, timeout: float = 600.0) -> Measurement:
        return run_bench(self.command, self.elf, self.n_classes, timeout)


def run_bench(command: list[str], elf: Path, n_classes: int, timeout: float) -> Measurement:
    """Run a bench driver (bench_driver.c) in its simulator and read its lines."""
    try:
        proc = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise NNModelError(f"{elf}: QEMU did not finish within {timeout:g} s") from None
    # Semihosted stdout reaches QEMU's stdout or stderr depending on QEMU and the terminal.
    instructions, logits, worst, stack = [], [], None, None
    for line in proc.stdout.splitlines():
        words = line.split()
        if words[:1] == ["digit"] and len(words) == 3 + n_classes:
            instructions.append(int(words[2]))
            logits.append([int(w) for w in words[3:]])
        elif words[:1] == ["worst"] and len(words) == 2:
            worst = int(words[1])
        elif words[:1] == ["stack"] and len(words) == 2:
            stack = int(words[1])
    if proc.returncode != 0 or worst is None or stack is None:
        tail = " | ".join(proc.stdout.strip().splitlines()[-3:])
        raise NNModelError(f"{elf}: QEMU run failed (exit {proc.returncode}): {tail}")
    return Measurement(np.array(instructions, np.int64), np.array(logits, np.int64).reshape(-1, n_classes),
                       worst, stack)


BENCH_DRIVER = Path(__file__).with_name("bench_driver.c")  # + the bench_<isa>.h the compiler's ISA picks


def build_bench(model: Model, workdir: Path, images: np.ndarray, labels: np.ndarray, *, target: str | Target,
                storage: str, chip: str, cc: list[str], ld: list[str], qemu: Callable[[Path], list[str]],
                startup: Path | None = None) -> QemuBuild:
    """The build() of this module and of cortexm.py: generate the model for `target` and embed the digits;
    compile the model, the digits, the bench driver, `startup` (if any) and the runtime with `cc` (compiler
    and flags); link them with `ld` (compiler and link flags) and a map. `chip` names the toolchain in
    errors; `qemu` gives the command that runs the ELF.
    """
    gen = workdir / "gen"
    compile_model(model, target=target, storage=storage, out_dir=gen)
    for name, text in emit_samples(images, labels, "the benchmark digits").items():
        (gen / name).write_text(text)
    units = {"model.o": gen / f"{model.name}.c", "samples.o": gen / "nnmodel_samples.c", "bench.o": BENCH_DRIVER}
    if startup is not None:
        units["startup.o"] = startup
    units.update({f"nnrt_{src.stem}.o": src for src in runtime_sources()})
    for obj, src in units.items():
        run_compiler([*cc, "-I", str(gen), "-I", str(runtime_dir() / "include"), "-c", str(src),
                      "-o", str(workdir / obj)],
                     f"{model.name}: the {chip} compiler failed on {src.name}")
    elf, map_file = workdir / "bench.elf", workdir / "bench.map"
    run_compiler([*ld, f"-Wl,-Map={map_file}", *(str(workdir / o) for o in units), "-o", str(elf)],
                 f"{model.name}: the {chip} link failed")
    objects = tuple(o for o in units if o == "model.o" or o.startswith("nnrt_"))
    return QemuBuild(elf, map_file, model.n_classes, objects, qemu(elf))


def build(model: Model, workdir: Path, images: np.ndarray, labels: np.ndarray, storage: str = "flash") -> QemuBuild:
    """Generate the model for the esp32c3 target, embed the digits, compile and link with a map."""
    return build_bench(model, Path(workdir), images, labels, target="esp32c3", storage=storage, chip="RV32",
                       cc=[GCC, *CFLAGS], ld=[GCC, *LDFLAGS], qemu=qemu_command)


_ENTRY = re.compile(r"^ (?P<name>[.\w]\S*|COMMON)?\s+0x(?P<addr>[0-9a-fA-F]+)\s+0x(?P<size>[0-9a-fA-F]+)"
                    r"\s+(?P<file>\S.*)$")


def map_memory(map_text: str, objects: tuple[str, ...]) -> Memory:
    """Sum the input sections of the given object files in a GNU ld map (after garbage collection).

    An entry is ` .section  0xADDR  0xSIZE  file.o`, or the section name alone on one line and the
    rest on the next when the name is long. Sections listed before the memory map were discarded.
    """
    sizes = {"code": 0, "const": 0, "data": 0, "bss": 0}
    start = map_text.find("Linker script and memory map")
    name = None
    for line in map_text[start:].splitlines() if start >= 0 else []:
        m = _ENTRY.match(line)
        if not m:
            stripped = line.strip()
            name = stripped if line.startswith(" .") and " " not in stripped else None
            continue
        section, size, file = m.group("name") or name, int(m.group("size"), 16), m.group("file").strip()
        name = None
        if section is None or size == 0 or Path(file.split("(")[0]).name not in objects:
            continue
        if section.startswith(".text"):
            sizes["code"] += size
        elif section.startswith((".rodata", ".srodata")):
            sizes["const"] += size
        elif section.startswith(FLASH_AND_RAM):
            sizes["data"] += size
        elif section.startswith(RAM_ONLY):
            sizes["bss"] += size
    return Memory(**sizes)
