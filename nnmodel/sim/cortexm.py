"""Cross-build a model for the Cortex-M4 and measure it in QEMU mps2-an386.

The engine behind the `cortexm4_sim.*` and `cortexm4.*` benchmark figures, as rv32.py is for RV32:
exact instructions per inference, the stack peak of one streamed inference and the flash and static
RAM of model + runtime (linker map, after --gc-sections). Startup code, memory map and the
instruction counter (nnsim.h: the AN386's 25 MHz counter under QEMU -icount shift=7, proved exact
there and by test/cortexm/test_sim) are those of the cortexm-qemu-sim PlatformIO platform, so this
needs a checkout; the model is generated for the target that platform's board gives (the
"cortex-m" profile with the board's flash and RAM budgets), at -Os.
Needs the Debian packages gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from ..errors import NNModelError
from ..model import Model
from ..paths import repo_root
from ..targets import Board, Target, target_for_board
from .rv32 import QemuBuild, build_bench

GCC = "arm-none-eabi-gcc"
QEMU = "qemu-system-arm"
PACKAGES = "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
PLATFORM = "cortexm-qemu-sim"
BOARD = "mps2_an386"
ARCH = ["-mcpu=cortex-m4", "-mthumb"]  # the board's build.cpu, as the platform's builder passes it
CFLAGS = [*ARCH, "-std=c99", "-Os", "-ffunction-sections", "-fdata-sections", "-Wall", "-Wextra", "-Werror"]
# librdimon: newlib's stdio and exit status through semihosting; the platform's startup replaces crt0.
LDFLAGS = [*ARCH, "-Os", "--specs=rdimon.specs", "-nostartfiles", "-Wl,--gc-sections"]
# shift=7, not 0: see the platform's include/nnsim.h.
QEMU_ARGS = ["-machine", "mps2-an386", "-nographic", "-icount", "shift=7",
             "-semihosting-config", "enable=on,target=native"]


def platform_dir() -> Path | None:
    """platformio/platforms/cortexm-qemu-sim of the checkout, None outside one."""
    root = repo_root()
    found = root / "platformio" / "platforms" / PLATFORM if root is not None else None
    return found if found is not None and (found / "include" / "nnsim.h").is_file() else None


def qemu_command(elf: Path) -> list[str]:
    """Run a semihosted Cortex-M4 program in QEMU mps2-an386, counting instructions exactly."""
    return [QEMU, *QEMU_ARGS, "-kernel", str(elf)]


def missing_tools(qemu: bool = True) -> str | None:
    """None when the cross compiler (and QEMU) and the platform's files are here, else what is missing."""
    missing = [t for t in (GCC, QEMU if qemu else None) if t and shutil.which(t) is None]
    if missing:
        return f"{', '.join(missing)} not found (Debian: apt install {PACKAGES})"
    return None if platform_dir() is not None else f"platformio/platforms/{PLATFORM} is only in a checkout of nnmodel"


def _platform() -> Path:
    found = platform_dir()
    if found is None:
        raise NNModelError(f"platformio/platforms/{PLATFORM}: the platform's files are only in a checkout of nnmodel")
    return found


def target() -> Target:
    """The target the PlatformIO pre-build picks for the board: "cortex-m" with its flash/RAM budgets."""
    manifest = json.loads((_platform() / "boards" / f"{BOARD}.json").read_text())
    return target_for_board(Board.from_manifest(PLATFORM, BOARD, manifest))


def link_flags(map_file: Path | None = None) -> list[str]:
    """The platform builder's link: its linker script (the AN386 memory map) and startup object."""
    ldscript = _platform() / "ldscripts" / f"{BOARD}.ld"
    return [*LDFLAGS, "-T", str(ldscript)] + ([f"-Wl,-Map={map_file}"] if map_file else [])


def startup_source() -> Path:
    return _platform() / "startup" / "nnsim_startup.c"


def include_dir() -> Path:
    return _platform() / "include"


def build(model: Model, workdir: Path, images: np.ndarray, labels: np.ndarray,
          storage: str = "flash") -> QemuBuild:
    """Generate the model for the board's target, embed the digits, compile and link with a map.

    Raises NNModelError when the model does not fit the board (refused at generation, or the
    link overflows a memory region).
    """
    return build_bench(model, Path(workdir), images, labels, target=target(), storage=storage, chip="Cortex-M",
                       cc=[GCC, *CFLAGS, "-I", str(include_dir())], ld=[GCC, *link_flags()], qemu=qemu_command,
                       startup=startup_source())
