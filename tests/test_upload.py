"""The attiny85 envs' ISP uploads, run with real avrdude on an emulated chip, then the chip in simavr.

The command lines are those of `pio run -e ENV -t fuses|uploadeep|upload` (the official atmelavr
builder's, built from platformio.ini's values) with only the programmer swapped: `-c usbasp` becomes
`-c stk500v1 -P <pty> -b 19200`, an ATtiny85 emulated behind an STK500v1 programmer on a
pseudo-terminal (nnmodel.sim.avr_isp). The chip's flash and EEPROM then run in simavr at the clock
its fuses select, and the LED on PB1 is read back as digits or as the error pattern.
CI installs avrdude (scripts/setup.sh); a missing tool fails, it does not skip.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

from nnmodel import load, reference
from nnmodel.datasets import load_sample
from nnmodel.errors import NNModelError
from nnmodel.sim import avr_firmware as fw
from nnmodel.sim.avr_isp import (
    CRC_EOP,
    EEPROM_BYTES,
    EESAVE,
    FLASH_BYTES,
    STK_FAILED,
    STK_INSYNC,
    STK_NOSYNC,
    STK_OK,
    STK_UNKNOWN,
    Attiny85,
    ProgrammerOnPty,
    Stk500v1,
    eeprom_word_addresses_for,
)

README_ORDER = ("fuses", "uploadeep", "upload")
# platform-atmelavr boards/attiny85.json: "mcu": "attiny85", "upload": {"extra_flags": "-e", ...}
BOARD_MCU, BOARD_EXTRA_FLAGS = "attiny85", ["-e"]
# the firmware's LED code (src/attiny85/app.h), ms of chip time
DIGIT_ON, DIGIT_CYCLE, DIGIT_PAUSE = 250, 500, 1500
ERROR_FAST, ERROR_SLOW, ERROR_ROUND_S = 50, 600, 10 * 0.1 + 0.6 + 1.0 + 1.5  # status 1: one slow flash
INFERENCE_CYCLES = 2_000_000  # a bound: the CNN takes 1.39 M (README)


@dataclass(frozen=True)
class ChipEnv:
    """What the official builder reads from platformio.ini for one chip env."""
    name: str
    f_cpu: int
    lfuse: str
    hfuse: str
    efuse: str
    lock_bits: str
    upload_flags: list[str]
    model: Path
    options: dict[str, str]  # custom_nnmodel_* without the prefix


def chip_env(name: str) -> ChipEnv:
    from platformio.project.config import ProjectConfig  # PlatformIO's configparser: extends, ${...}

    config = ProjectConfig(str(REPO / "platformio.ini"))
    section = f"env:{name}"
    assert config.has_option(section, "board_fuses.lock_bits"), \
        f"platformio.ini [{section}]: no board_fuses.lock_bits: -t fuses would take atmelavr's default lock value " \
        f"(empty in v5.2.0: -Ulock:w::m, which avrdude 7.2+ refuses)"
    assert config.get(section, "board") == "attiny85" and config.get(section, "upload_protocol") == "usbasp", \
        f"{name}: the swap below assumes board attiny85 programmed with -c usbasp"
    options = {k.removeprefix("custom_nnmodel_"): str(config.get(section, k)) for k in config.options(section)
               if k.startswith("custom_nnmodel_")}
    return ChipEnv(name, int(str(config.get(section, "board_build.f_cpu")).rstrip("L")),
                   *(str(config.get(section, f"board_fuses.{k}")) for k in ("lfuse", "hfuse", "efuse", "lock_bits")),
                   list(config.get(section, "upload_flags", [])), REPO / options.pop("model"), options)


def builder_commands(env: ChipEnv, firmware: Path, port: str, hfuse: str | None = None) -> dict[str, list[str]]:
    """The avrdude command lines of `-t fuses`, `-t uploadeep` and `-t upload`.

    Mirrors platform-atmelavr's builder, with Debian's avrdude and its own avrdude.conf instead of
    the tool-avrdude package's (`-C …/avrdude.conf` dropped):
    - builder/main.py, avrdude branch: `UPLOADERFLAGS=["-p", "$BOARD_MCU", "-C", …, "-c",
      "$UPLOAD_PROTOCOL"]`, `UPLOADCMD="$UPLOADER $UPLOADERFLAGS -U flash:w:$SOURCES:i"`,
      `UPLOADEEPCMD="$UPLOADER $UPLOADERFLAGS -U eeprom:w:$SOURCES:i"`; BeforeUpload() gives a
      protocol named "usb…" no port and no speed, then appends the board's `upload.extra_flags`
      (attiny85: -e) and `-D` ("disable erasing by default").
    - builder/fuses.py: `FUSESUPLOADERFLAGS=["-p", "$BOARD_MCU", "-C", …]`, `-e` appended only when
      not is_target_without_bootloader() (attiny85 has none), then `-c $UPLOAD_PROTOCOL`;
      `SETFUSESCMD="$FUSESUPLOADER $FUSESUPLOADERFLAGS $UPLOAD_FLAGS $FUSESFLAGS"` with
      `FUSESFLAGS=["-Ulock:w:%s:m" % lock, "-Uhfuse:w:%s:m" % hfuse, "-Ulfuse:w:%s:m" % lfuse]`,
      `lock = board.get("fuses.lock_bits", …)`, and `-Uefuse:w:%s:m` appended when efuse is set.
    """
    programmer = ["-c", "stk500v1", "-P", port, "-b", "19200"]  # in place of: -c usbasp
    uploader = ["avrdude", "-p", BOARD_MCU, *programmer, *BOARD_EXTRA_FLAGS, "-D"]
    fuses = [f"-Ulock:w:{env.lock_bits}:m", f"-Uhfuse:w:{hfuse or env.hfuse}:m", f"-Ulfuse:w:{env.lfuse}:m",
             f"-Uefuse:w:{env.efuse}:m"]
    return {"fuses": ["avrdude", "-p", BOARD_MCU, *programmer, *env.upload_flags, *fuses],
            "uploadeep": [*uploader, "-U", f"eeprom:w:{firmware.with_suffix('.eep')}:i"],
            "upload": [*uploader, "-U", f"flash:w:{firmware.with_suffix('.hex')}:i"]}


def avrdude_version() -> tuple[int, int]:
    out = subprocess.run(["avrdude", "-?"], capture_output=True, text=True).stderr
    m = re.search(r"avrdude version (\d+)\.(\d+)", out)
    assert m, out[-300:]
    return int(m.group(1)), int(m.group(2))


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    why = fw.missing_tool() or (None if shutil.which("avrdude") else
                                "avrdude is not installed: run scripts/setup.sh (apt: avrdude)")
    if why:
        pytest.fail(why)
    return tmp_path_factory.mktemp("upload")


@pytest.fixture(scope="module")
def harness(work: Path) -> Path:
    return fw.build_harness(work)


@dataclass(frozen=True)
class Build:
    env: ChipEnv
    firmware: Path  # firmware.elf; .hex and .eep beside it
    image: bytes  # the model's EEPROM image
    digits: list[int]  # the reference's classes of the embedded sample digits


class Builds(dict[str, Build]):
    """`pio run -e NAME`'s firmware (atmelavr's flags; nnmodel.sim.avr_firmware), then its ElfToHex
    and ElfToEep (builder/main.py: `-O ihex -R .eeprom`; `-O ihex -j .eeprom
    --set-section-flags=.eeprom="alloc,load" --no-change-warnings --change-section-lma .eeprom=0`),
    built once per env."""

    def __init__(self, work: Path) -> None:
        super().__init__()
        self.work = work

    def __missing__(self, name: str) -> Build:
        env = chip_env(name)
        out = self.work / name
        gen = fw.generate(env.model, out / "nnmodel", **env.options)
        elf = fw.build(gen, out / "firmware.elf", sim=False, f_cpu=env.f_cpu)
        subprocess.run(["avr-objcopy", "-O", "ihex", "-R", ".eeprom", elf, elf.with_suffix(".hex")], check=True)
        subprocess.run(["avr-objcopy", "-O", "ihex", "-j", ".eeprom", "--set-section-flags=.eeprom=alloc,load",
                        "--no-change-warnings", "--change-section-lma", ".eeprom=0", elf, elf.with_suffix(".eep")],
                       check=True)
        samples = int(env.options["samples"])
        model = load(env.model)
        digits = [int(c) for c in np.argmax(reference.run(model, load_sample().images[:samples]), axis=1)]
        self[name] = Build(env, elf, (gen / f"{model.name}.bin").read_bytes(), digits)
        return self[name]


@pytest.fixture(scope="module")
def builds(work: Path) -> Builds:
    return Builds(work)


def program(state: Path, b: Build, targets: tuple[str, ...], hfuse: str | None = None) -> None:
    """Each target's avrdude run, each with a programmer started afresh on the chip's state file."""
    word_addresses = eeprom_word_addresses_for(avrdude_version())
    for target in targets:
        with ProgrammerOnPty(state, eeprom_word_addresses=word_addresses) as isp:
            cmd = builder_commands(b.env, b.firmware, isp.port, hfuse)[target]
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert run.returncode == 0, f"-t {target}: {' '.join(cmd)}\n{run.stderr[-2000:]}"


def run_chip(work: Path, harness: Path, chip: Attiny85, cycles: int) -> tuple[fw.SimRun, float]:
    """The chip's flash and EEPROM in simavr for `cycles`, at the clock its low fuse selects."""
    flash, eeprom, elf = work / "flash.bin", work / "eeprom.bin", work / "flash.elf"
    flash.write_bytes(chip.flash)
    eeprom.write_bytes(chip.eeprom)
    subprocess.run(["avr-objcopy", "-I", "binary", "-O", "elf32-avr", "--rename-section",
                    ".data=.text,contents,alloc,load,readonly,code", flash, elf], check=True)
    clock = chip.clock_hz()
    run = fw.run(harness, elf, "-ee", str(eeprom), "-led", f_cpu=int(clock), max_cycles=cycles)
    assert "led pulses=" in run.stderr, run.stderr[-500:]
    return run, clock


def led_groups(run: fw.SimRun, clock: float) -> list[list[float]]:
    """The LED's on-times in ms of chip time, grouped by the dark pauses (1 s or more) between them."""
    groups: list[list[float]] = []
    for on, off_before in run.led_pulses:
        if not groups or off_before / clock >= 1.0:
            groups.append([])
        groups[-1].append(on * 1000 / clock)
    return groups


def round_cycles(b: Build) -> int:
    """One pass over the sample digits: each digit's blinks and pause, in cycles of the build's F_CPU."""
    ms = sum((d + 1) * DIGIT_CYCLE + DIGIT_PAUSE for d in b.digits)
    return b.env.f_cpu * ms // 1000 + INFERENCE_CYCLES * len(b.digits)


@pytest.mark.parametrize("name", ["attiny85", "attiny85_8mhz"])
def test_readme_order_programs_a_chip_that_blinks_the_reference_digits(work: Path, harness: Path, builds: Builds,
                                                                        name: str) -> None:
    """README order: fuses, uploadeep, upload. The chip then holds exactly the build, and blinks the
    reference's class of each sample digit, 250 ms per blink at the clock the fuses chose."""
    b = builds[name]
    state = work / f"{name}-readme.json"
    program(state, b, README_ORDER)
    chip = Attiny85.load(state)
    assert [f"0x{v:02X}" for v in (chip.lfuse, chip.hfuse, chip.efuse, chip.lock)] == \
        [b.env.lfuse, b.env.hfuse, b.env.efuse, b.env.lock_bits]
    code_file = b.firmware.with_suffix(".bin")
    subprocess.run(["avr-objcopy", "-I", "ihex", "-O", "binary", b.firmware.with_suffix(".hex"), code_file], check=True)
    code = code_file.read_bytes()
    assert chip.flash == code + b"\xff" * (FLASH_BYTES - len(code))
    assert chip.eeprom == b.image + b"\xff" * (EEPROM_BYTES - len(b.image))
    assert chip.clock_hz() == {"attiny85": 16e6, "attiny85_8mhz": 8e6}[name]  # PLL; 8 MHz RC, no CKDIV8

    run, clock = run_chip(work, harness, chip, round_cycles(b))
    groups = led_groups(run, clock)
    assert [len(g) - 1 for g in groups[:len(b.digits)]] == b.digits, groups
    for on in (t for g in groups for t in g):
        assert abs(on - DIGIT_ON) < DIGIT_ON * 0.05, on  # 16.5 MHz builds on the 16.0 MHz PLL: 3% long


def test_reverse_order_leaves_no_firmware(work: Path, harness: Path, builds: Builds) -> None:
    """upload before uploadeep: uploadeep's chip erase (-e) clears the flash just written."""
    b = builds["attiny85"]
    state = work / "reverse.json"
    program(state, b, ("fuses", "upload", "uploadeep"))
    chip = Attiny85.load(state)
    assert chip.flash == b"\xff" * FLASH_BYTES
    assert chip.eeprom[:len(b.image)] == b.image  # the model is there, the firmware is not
    run, _ = run_chip(work, harness, chip, round_cycles(b))
    assert run.led_pulses == [] and run.led_level == 0


def test_without_eesave_the_upload_erases_the_model(work: Path, harness: Path, builds: Builds) -> None:
    """README order with hfuse's EESAVE unprogrammed: upload's chip erase takes the EEPROM too, and
    the firmware shows the error pattern with status 1 (missing): 10 fast flashes, one slow."""
    b = builds["attiny85"]
    state = work / "no-eesave.json"
    program(state, b, README_ORDER, hfuse=f"0x{int(b.env.hfuse, 16) | EESAVE:02X}")
    chip = Attiny85.load(state)
    assert chip.hfuse & EESAVE and chip.eeprom == b"\xff" * EEPROM_BYTES
    run, clock = run_chip(work, harness, chip, int(b.env.f_cpu * ERROR_ROUND_S) + INFERENCE_CYCLES)
    group = led_groups(run, clock)[0]
    kinds = ["fast" if abs(t - ERROR_FAST) < ERROR_FAST * 0.05 else "slow" if abs(t - ERROR_SLOW) < ERROR_SLOW * 0.05
             else t for t in group]
    assert kinds == ["fast"] * 10 + ["slow"] * 1, group


# The emulated chip and programmer on their own (no avrdude): the datasheet and AVR061 facts above rely on.

def isp(chip: Attiny85, *cmd: int) -> int:
    return chip.isp(bytes(cmd))[3]


def test_emulated_chip_programs_flash_by_and_and_erases_as_the_datasheet_says(tmp_path: Path) -> None:
    chip = Attiny85()
    assert isp(chip, 0x30, 0, 0, 0) == 0x00  # not in programming mode: ignored, nothing shifted out
    assert chip.enter_programming()
    assert [isp(chip, 0x30, 0, i, 0) for i in range(3)] == [0x1E, 0x93, 0x0B]

    def write_page(word: int, data: bytes) -> None:
        for i, byte in enumerate(data):
            isp(chip, 0x48 if i & 1 else 0x40, 0, i >> 1, byte)
        isp(chip, 0x4C, word >> 8, word & 0xFF, 0)

    write_page(32, bytes([0xF0, 0x0F]))
    write_page(32, bytes([0x3C, 0xFF]))  # no erase in between: 1 -> 0 only
    assert chip.flash[64:67] == bytes([0x30, 0x0F, 0xFF])
    assert [isp(chip, op, 0, 32, 0) for op in (0x20, 0x28)] == [0x30, 0x0F]
    isp(chip, 0xC0, 0x01, 0xFF, 0x12)  # EEPROM byte 511: auto-erase, then write
    isp(chip, 0xC0, 0x01, 0xFF, 0x34)
    assert isp(chip, 0xA0, 0x01, 0xFF, 0) == 0x34

    isp(chip, 0xAC, 0xE0, 0, 0xFE)  # LB1: lock mode 2
    isp(chip, 0xAC, 0xE0, 0, 0xFF)  # lock bits are only cleared by writes
    assert isp(chip, 0x58, 0, 0, 0) == 0xFE
    write_page(0, bytes([0x00]))
    isp(chip, 0xAC, 0xA0, 0, 0xE1)
    assert chip.flash[0] == 0xFF and chip.lfuse == 0x62  # mode 2: no flash, fuse programming

    isp(chip, 0xAC, 0x80, 0, 0)  # Chip Erase, EESAVE unprogrammed (factory 0xDF)
    assert chip.flash == b"\xff" * FLASH_BYTES and chip.eeprom == b"\xff" * EEPROM_BYTES and chip.lock == 0xFF
    isp(chip, 0xAC, 0xA8, 0, 0xF7)  # EESAVE programmed; SPIEN (bit 5) cannot be unprogrammed over ISP
    assert chip.hfuse == 0xD7
    isp(chip, 0xC0, 0, 7, 0x55)
    write_page(0, bytes([0x12]))
    isp(chip, 0xAC, 0x80, 0, 0)
    assert chip.eeprom[7] == 0x55 and chip.flash[0] == 0xFF  # EESAVE keeps the EEPROM, not the flash

    chip.save(tmp_path / "chip.json")
    again = Attiny85.load(tmp_path / "chip.json")
    assert (again.flash, again.eeprom, again.hfuse) == (chip.flash, chip.eeprom, 0xD7)
    assert again.enter_programming()
    isp(again, 0xAC, 0xA8, 0, 0x57)  # RSTDISBL: the RESET pin is gone, so is serial programming
    assert again.hfuse == 0x57 and not again.enter_programming()
    debugwire = Attiny85(hfuse=0x9F)  # DWEN programmed: debugWIRE has the RESET pin, unless a lock bit is set
    assert not debugwire.enter_programming()
    debugwire.lock = 0xFC
    assert debugwire.enter_programming()

    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(NNModelError, match=r"bad.json: not an emulated ATtiny85 state file"):
        Attiny85.load(tmp_path / "bad.json")
    assert Attiny85.load(tmp_path / "none.json").lfuse == 0x62  # no file yet: a factory-fresh chip


def test_emulated_programmer_answers_frames_as_avr061_says(tmp_path: Path) -> None:
    sent: list[bytes] = []
    programmer = Stk500v1(Attiny85(), tmp_path / "chip.json", eeprom_word_addresses=False)
    session = programmer.session(sent.append)
    next(session)

    def frame(*data: int) -> bytes:
        sent.clear()
        for byte in data:
            session.send(byte)
        return b"".join(sent)

    assert frame(0x30, CRC_EOP) == bytes([STK_INSYNC, STK_OK])
    assert frame(0x30, 0x00) == bytes([STK_NOSYNC])  # no Sync_CRC_EOP where it belongs
    assert frame(0x99, CRC_EOP) == bytes([STK_UNKNOWN])
    assert frame(0x41, 0x81, CRC_EOP) == bytes([STK_INSYNC, 1, STK_OK])  # firmware major version
    assert frame(0x50, CRC_EOP) == bytes([STK_INSYNC, STK_OK])  # ENTER_PROGMODE
    assert frame(0x75, CRC_EOP) == bytes([STK_INSYNC, 0x1E, 0x93, 0x0B, STK_OK])  # READ_SIGN
    assert frame(0x55, 0x03, 0x00, CRC_EOP) == bytes([STK_INSYNC, STK_OK])  # EEPROM byte 3 (AVR061)
    assert frame(0x64, 0x00, 0x02, ord("E"), 0xAB, 0xCD, CRC_EOP) == bytes([STK_INSYNC, STK_OK])
    assert programmer.chip.eeprom[3:5] == bytes([0xAB, 0xCD])
    assert (tmp_path / "chip.json").exists()  # saved before the answer
    assert frame(0x74, 0x00, 0x02, ord("E"), CRC_EOP) == bytes([STK_INSYNC, 0xAB, 0xCD, STK_OK])


def test_programmer_on_pty_fails_fast_and_reports_its_own_errors(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Over the pseudo-terminal: a frame is answered; after an emulator error every byte gets FAILED (the
    host stops instead of retrying for minutes) and leaving the block raises the error."""
    import os
    import select

    def broken(self: Stk500v1, cmd: int, args: bytes, data: bytes) -> bytes:
        raise RuntimeError("emulator bug")

    def exchange(fd: int, data: bytes, n: int, wait: float = 5) -> bytes:
        os.write(fd, data)
        got = b""
        while len(got) < n and select.select([fd], [], [], wait)[0]:
            got += os.read(fd, n - len(got))
        return got

    answers = []  # checked after the block: an assertion inside would be replaced by the error it raises
    with pytest.raises(RuntimeError, match="emulator bug"), \
            ProgrammerOnPty(tmp_path / "chip.json", eeprom_word_addresses=False) as isp:
        host = os.open(isp.port, os.O_RDWR | os.O_NOCTTY)
        try:
            answers.append(exchange(host, bytes([0x30, CRC_EOP]), 2))
            monkeypatch.setattr(Stk500v1, "execute", broken)
            answers.append(exchange(host, bytes([0x30, CRC_EOP]), 1, wait=0.3))
            answers.append(exchange(host, bytes([0x30, CRC_EOP]), 2))
        finally:
            os.close(host)
    # answered; the frame that broke it: no answer; then FAILED for every byte
    assert answers == [bytes([STK_INSYNC, STK_OK]), b"", bytes([STK_FAILED] * 2)]
