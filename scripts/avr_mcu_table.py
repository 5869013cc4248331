#!/usr/bin/env python3
"""Write nnmodel/data/avr_mcus.json: flash, SRAM and EEPROM bytes of every AVR the toolchain knows.

PlatformIO's board manifests give flash and RAM (upload.maximum_size / maximum_ram_size) but not
the EEPROM, which an EEPROM image must fit; avr-libc's device headers have all three (FLASHEND,
RAMEND - RAMSTART + 1, E2END). Run with Debian's gcc-avr and avr-libc installed:

    python3 scripts/avr_mcu_table.py            # rewrites nnmodel/data/avr_mcus.json
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "nnmodel" / "data" / "avr_mcus.json"


def mcus() -> list[str]:
    help_text = subprocess.run(["avr-gcc", "--target-help"], capture_output=True, text=True, check=True).stdout
    names = help_text.split("Known MCU names:", 1)[1].split("\n\n", 1)[0].split()
    return sorted(n for n in names if re.fullmatch(r"at\w+", n))  # devices, not the avrN core families


def _evaluate(expr: str) -> int:
    """An expanded avr-libc size macro: integer arithmetic on literals only, e.g. (0x100 + 2560 - 1)."""
    expr = re.sub(r"(0[xX][0-9a-fA-F]+|\d+)[uUlL]*", r"\1", expr)
    if not re.fullmatch(r"[\s0-9a-fA-FxX()+\-*/]+", expr):
        raise ValueError(f"not a literal expression: {expr!r}")
    return int(eval(expr.replace("/", "//"), {"__builtins__": {}}))  # checked above: digits and operators only


def sizes(mcu: str) -> dict[str, int] | None:
    probe = "nnm_flash = FLASHEND + 1\nnnm_ram = RAMEND - RAMSTART + 1\nnnm_eeprom = E2END + 1\n"
    proc = subprocess.run(["avr-gcc", f"-mmcu={mcu}", "-E", "-P", "-include", "avr/io.h", "-x", "c", "-"],
                          input=probe, capture_output=True, text=True)
    if proc.returncode != 0:
        return None  # avr-libc has no header for it
    found = dict(re.findall(r"^nnm_(\w+) = (.+)$", proc.stdout, re.M))
    try:
        values = {name: _evaluate(expr) for name, expr in found.items()}
    except ValueError:
        return None  # a macro avr-libc does not define for this device (left as a name)
    if set(values) != {"flash", "ram", "eeprom"} or values["ram"] <= 0:
        return None  # no SRAM (the at90s1200 family: registers only): no place for a model's buffers
    if values["eeprom"] <= 1:
        values["eeprom"] = 0  # E2END 0: the device has no EEPROM
    return values


def main() -> None:
    table = {mcu: s for mcu in mcus() if (s := sizes(mcu)) is not None}
    version = subprocess.run(["avr-gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    doc = {"source": f"avr-libc device headers through {version}: flash FLASHEND+1, ram RAMEND-RAMSTART+1, "
                     "eeprom E2END+1 (scripts/avr_mcu_table.py)", "mcus": table}
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"{OUT}: {len(table)} MCUs")


if __name__ == "__main__":
    main()
