"""Target profiles: which storage kinds a target offers, and its memory budgets."""
from __future__ import annotations

from dataclasses import dataclass

STORAGES = ("ram", "flash", "progmem", "eeprom")


@dataclass(frozen=True)
class Target:
    name: str
    storages: tuple[str, ...]  # the first is the default
    flash_bytes: int | None  # None: unlimited (host)
    sram_bytes: int | None
    eeprom_bytes: int | None
    stack_reserve: int  # SRAM kept for the caller's stack, interrupts and the input row
    note: str = ""


TARGETS: dict[str, Target] = {
    "native": Target("native", ("ram", "flash", "progmem", "eeprom"), None, None, None, 0,
                     "host build; progmem is plain memory and eeprom a RAM array holding the image"),
    # ATtiny85: 8 KB flash, 512 B SRAM, 512 B EEPROM. AVR `const` data lives in SRAM, so flash means progmem.
    "attiny85": Target("attiny85", ("eeprom", "progmem", "ram"), 8192, 512, 512, 96),
    # ESP32-C3 with the Arduino core: 1.25 MB app partition (default 4 MB layout), 320 KB heap+data.
    "esp32c3": Target("esp32c3", ("flash", "ram"), 1310720, 327680, None, 4096),
}


def storage_macro(storage: str) -> str:
    return {"ram": "NNRT_STORAGE_MEM", "flash": "NNRT_STORAGE_MEM",
            "progmem": "NNRT_STORAGE_PROGMEM", "eeprom": "NNRT_STORAGE_EEPROM"}[storage]
