"""Targets: which storage kinds a chip offers and its memory budgets, from what PlatformIO knows.

A target is a profile (storages, stack reserve) plus budgets. In a PlatformIO build the profile
follows from the env's platform and board manifest (`board_for_env` reads them), and the budgets
are the manifest's `upload.maximum_size` (flash) and `upload.maximum_ram_size` (SRAM), the EEPROM
size coming from avr-libc's device headers (nnmodel/data/avr_mcus.json). The CLI names a profile:
`--target native | attiny85 | esp32c3 | avr | esp32 | esp8266 | cortex-m | generic32`, or any AVR
MCU avr-libc knows (`--target atmega328p`). docs/boards.md lists them.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

STORAGES = ("ram", "flash", "progmem", "eeprom")
AVR_TABLE = Path(__file__).resolve().parent / "data" / "avr_mcus.json"


@dataclass(frozen=True)
class Target:
    name: str
    storages: tuple[str, ...]  # the first is the default
    flash_bytes: int | None  # None: not checked (host, or a board that does not say)
    sram_bytes: int | None
    eeprom_bytes: int | None
    stack_reserve: int  # SRAM kept for the caller's stack, interrupts and the input row
    note: str = ""
    budgets_from: str = ""  # where the budgets come from, for messages ("board uno (atmelavr)")

    def budgeted(self, flash: int | None = None, sram: int | None = None, eeprom: int | None = None,
                 source: str = "") -> Target:
        """The same profile with the budgets that are given replaced (`source` says where from)."""
        changes: dict[str, Any] = {k: v for k, v in (("flash_bytes", flash), ("sram_bytes", sram),
                                                     ("eeprom_bytes", eeprom)) if v is not None}
        if changes and source:
            changes["budgets_from"] = source
        return dataclasses.replace(self, **changes)


# AVR `const` data lives in SRAM, so flash means progmem there. Cortex-M and RISC-V keep `const`
# data in flash. The ESP8266 places `const` data in RAM unless it is PROGMEM.
NATIVE = Target("native", ("ram", "flash", "progmem", "eeprom"), None, None, None, 0,
                "host build; progmem is plain memory and eeprom a RAM array holding the image")
PROFILES: dict[str, Target] = {t.name: t for t in (
    NATIVE,
    # ATtiny85: 8 KB flash, 512 B SRAM, 512 B EEPROM; the seed's weights live in the EEPROM.
    Target("attiny85", ("eeprom", "progmem", "ram"), 8192, 512, 512, 96, "ATtiny85: EEPROM image by default"),
    # ESP32-C3 with the Arduino core: 1.25 MB app partition (default 4 MB layout), 320 KB heap+data.
    Target("esp32c3", ("flash", "ram"), 1310720, 327680, None, 4096, "ESP32-C3 (RV32IMC)"),
    Target("avr", ("progmem", "eeprom", "ram"), None, None, None, 96, "any AVR: weights in PROGMEM by default"),
    Target("esp32", ("flash", "ram"), None, None, None, 4096, "ESP32 family (Xtensa or RISC-V)"),
    Target("esp8266", ("progmem", "ram"), None, None, None, 4096,
           "ESP8266: weights in flash through PROGMEM/pgm_read_byte (plain const data would sit in RAM)"),
    Target("cortex-m", ("flash", "ram"), None, None, None, 1024, "ARM Cortex-M: const weights in flash"),
    Target("generic32", ("flash", "ram"), None, None, None, 1024,
           "a 32-bit chip nnmodel has no profile for: const weights in flash"),
)}
CORTEX_M_PLATFORMS = frozenset({"ststm32", "nordicnrf52", "nordicnrf51", "raspberrypi", "atmelsam", "teensy",
                                "nxplpc", "freescalekinetis", "siliconlabsefm32", "maxim32", "gd32", "renesas-ra"})


@lru_cache(maxsize=1)
def avr_mcus() -> dict[str, dict[str, int]]:
    """MCU -> flash, ram and eeprom bytes (scripts/avr_mcu_table.py made the table from avr-libc)."""
    return dict(json.loads(AVR_TABLE.read_text())["mcus"])


def profile(name: str) -> Target | None:
    """A profile by name, or an AVR MCU by its avr-gcc name (its budgets from avr-libc)."""
    if name in PROFILES:
        return PROFILES[name]
    mcu = avr_mcus().get(name.lower())
    if mcu is None:
        return None
    return dataclasses.replace(PROFILES["avr"], name=name.lower(), note=f"{name}: weights in PROGMEM by default"
                               ).budgeted(mcu["flash"], mcu["ram"], mcu["eeprom"], "avr-libc's device header")


def target_names() -> str:
    return ", ".join(PROFILES) + " or an AVR MCU (e.g. atmega328p)"


@dataclass(frozen=True)
class Board:
    """What a PlatformIO env says about its chip (env.PioPlatform() and the board manifest)."""

    platform: str  # the dev-platform's name: atmelavr, espressif32, ststm32, native, ...
    board: str = ""  # board id, "" without one (native)
    mcu: str = ""  # build.mcu
    cpu: str = ""  # build.cpu
    flash: int | None = None  # upload.maximum_size
    ram: int | None = None  # upload.maximum_ram_size
    eeprom: int | None = None  # upload.maximum_eeprom_size (the in-repo simulator boards say it)
    flash_from: str = ""  # where flash comes from when not the manifest (an ESP32 partition table)

    @classmethod
    def from_manifest(cls, platform: str, board: str, manifest: dict[str, Any]) -> Board:
        """From a board manifest (boards/<id>.json) as nested dicts."""
        build, upload = manifest.get("build", {}), manifest.get("upload", {})
        return cls(platform, board, str(build.get("mcu", "")), str(build.get("cpu", "")),
                   _size(upload.get("maximum_size")), _size(upload.get("maximum_ram_size")),
                   _size(upload.get("maximum_eeprom_size")))

    @property
    def described(self) -> str:
        return f"board {self.board} ({self.platform})" if self.board else f"platform {self.platform}"


def _size(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") and int(value) > 0 else None
    except (TypeError, ValueError):
        return None


def target_for_board(board: Board, name: str = "") -> Target:
    """The profile a board runs (`name` forces one), with the board's budgets where it gives them."""
    if name:
        chosen = profile(name)
        if chosen is None:
            raise ValueError(name)
    else:
        chosen = _profile_for(board)
    if chosen is NATIVE:
        return chosen
    eeprom = board.eeprom
    if eeprom is None and board.mcu.lower() in avr_mcus():
        eeprom = avr_mcus()[board.mcu.lower()]["eeprom"]
    source = f"{board.described}'s manifest" + (f", flash from {board.flash_from}" if board.flash_from else "")
    return chosen.budgeted(board.flash, board.ram, eeprom, source)


def app_partition_size(csv_text: str, name: str = "") -> int | None:
    """The application partition's size in an ESP-IDF partition table (partitions.csv).

    The espressif32 platform checks the firmware against this, not the manifest's flash size, but
    only after linking, so the pre-build reads it itself: the partition called `name`
    (board_build.app_partition_name), else `factory`, else `ota_0`, else the largest app partition.
    """
    apps: dict[str, tuple[str, int]] = {}
    for line in csv_text.splitlines():
        cells = [c.strip() for c in line.split("#", 1)[0].split(",")]
        if len(cells) < 5 or cells[1] not in ("app", "0"):
            continue
        size = _partition_size(cells[4])
        if size is not None:
            apps[cells[0]] = (cells[2], size)
    if not apps:
        return None
    if name in apps:
        return apps[name][1]
    for subtype in ("factory", "ota_0"):
        for kind, size in apps.values():
            if kind == subtype:
                return size
    return max(size for _, size in apps.values())


def _partition_size(text: str) -> int | None:
    scale = {"k": 1024, "m": 1024 * 1024}.get(text[-1:].lower(), 1)
    digits = text[:-1] if scale > 1 else text
    try:
        return int(digits, 0) * scale
    except ValueError:
        return None


def _profile_for(board: Board) -> Target:
    platform, mcu, cpu = board.platform, board.mcu.lower(), board.cpu.lower()
    if platform in ("native", "nnmodel-native"):
        return NATIVE
    if mcu in PROFILES:
        return PROFILES[mcu]  # attiny85 (also the simulator's board), esp32c3
    if mcu.startswith(("at", "avr")) or platform in ("atmelavr", "atmelmegaavr", "tinyavr-sim"):
        return profile(mcu) or PROFILES["avr"]
    if platform == "rv32-qemu-sim":
        return PROFILES["esp32c3"]  # the ESP32-C3's instruction set in QEMU
    if platform == "espressif32":
        return PROFILES["esp32"]
    if platform == "espressif8266":
        return PROFILES["esp8266"]
    if cpu.startswith("cortex-m") or platform in CORTEX_M_PLATFORMS:
        return PROFILES["cortex-m"]
    return PROFILES["generic32"]


def storage_macro(storage: str) -> str:
    return {"ram": "NNRT_STORAGE_MEM", "flash": "NNRT_STORAGE_MEM",
            "progmem": "NNRT_STORAGE_PROGMEM", "eeprom": "NNRT_STORAGE_EEPROM"}[storage]
