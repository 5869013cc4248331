"""Where nnmodel finds the C runtime and its host driver, in a checkout and in an installed wheel."""
from __future__ import annotations

from pathlib import Path

from .errors import NNModelError

PACKAGE_DIR = Path(__file__).resolve().parent


def runtime_dir() -> Path:
    """lib/nnrt: copied into the wheel as nnmodel/_nnrt; in a checkout, beside the package."""
    for candidate in (PACKAGE_DIR / "_nnrt", PACKAGE_DIR.parent / "lib" / "nnrt"):
        if (candidate / "include" / "nnrt" / "storage.h").is_file():
            return candidate
    raise NNModelError(f"{PACKAGE_DIR}: the C runtime lib/nnrt is missing; reinstall nnmodel")


def runtime_sources(asm: bool = False) -> list[Path]:
    """lib/nnrt's sources: the C files, and with asm the per-architecture assembly (src/arch/*/)
    too, which assembles to nothing on other targets."""
    src = runtime_dir() / "src"
    return sorted(src.rglob("*.c")) + (sorted(src.rglob("*.S")) if asm else [])


def web_dir() -> Path:
    """lib/nnweb, the draw-a-digit endpoints: nnmodel/_nnweb in the wheel, beside the package in a checkout."""
    for candidate in (PACKAGE_DIR / "_nnweb", PACKAGE_DIR.parent / "lib" / "nnweb"):
        if (candidate / "include" / "nnweb.h").is_file():
            return candidate
    raise NNModelError(f"{PACKAGE_DIR}: the C library lib/nnweb is missing; reinstall nnmodel")


def web_page() -> Path:
    """The draw-a-digit page: one source, served by `nnmodel demo` and embedded in the ESP32-C3 firmware."""
    return PACKAGE_DIR / "demo" / "page.html"


def hook_script() -> Path:
    """The PlatformIO hook: the library's build.extraScript, or a project's `extra_scripts = pre:` script."""
    return PACKAGE_DIR / "pio" / "nnmodel_hook.py"


def host_driver() -> Path:
    return PACKAGE_DIR / "hostc" / "driver.c"


def repo_root() -> Path | None:
    """The checkout this package runs from, if any (for shipped models and the digit sample)."""
    root = PACKAGE_DIR.parent
    return root if (root / "models").is_dir() else None
