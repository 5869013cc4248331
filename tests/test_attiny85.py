"""The ATtiny85 firmware beyond `pio test -e attiny85_sim`: chip builds, 8 MHz timing, EEPROM writer.

Built with avr-gcc directly (nnmodel.sim.avr_firmware: the envs' sources, generated code and flags) and
run in simavr. CI installs the toolchain (scripts/setup.sh); a missing tool fails, it does not skip.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

from nnmodel import load, reference
from nnmodel.codegen.extras import emit_eeprom_writer
from nnmodel.datasets import load_sample
from nnmodel.sim import avr_firmware as fw
from nnmodel.targets import PROFILES

MODEL = REPO / "models" / "mnist_rnn_attiny85.nnm"
DIGITS = 4
CHIP = PROFILES["attiny85"]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    why = fw.missing_tool()
    if why:
        pytest.fail(why)
    return tmp_path_factory.mktemp("attiny85")


@pytest.fixture(scope="module")
def gen(work: Path) -> Path:
    return fw.generate(MODEL, work / "gen", samples=str(DIGITS), eeprom_writer="yes")


@pytest.fixture(scope="module")
def harness(work: Path) -> Path:
    return fw.build_harness(work)


@pytest.fixture(scope="module")
def expected_classes() -> list[int]:
    return [int(c) for c in np.argmax(reference.run(load(MODEL), load_sample().images[:DIGITS]), axis=1)]


FLASH_LIMIT = {"attiny85": 8192, "digispark-tiny": 6012}  # atmelavr's boards/*.json maximum_size


@pytest.mark.parametrize("firmware, f_cpu, samples, board", [
    ("attiny85", 16_500_000, DIGITS, "attiny85"),        # env attiny85
    ("attiny85", 8_000_000, DIGITS, "attiny85"),         # env attiny85_8mhz
    ("attiny85", 16_500_000, 3, "digispark-tiny"),       # env digispark
    ("attiny85_writer", 16_500_000, 0, "digispark-tiny"),  # env attiny85_eeprom_writer
])
def test_chip_builds_compile_with_the_official_flags_and_fit(work: Path, firmware: str, f_cpu: int, samples: int,
                                                             board: str) -> None:
    """What `pio run -e ENV` builds with atmelavr (not installable here): -Werror clean, fits the board."""
    out = work / f"chip-{firmware}-{f_cpu}-{samples}"
    gen = fw.generate(MODEL, out / "gen", samples=str(samples),
                      eeprom_writer="yes" if firmware == "attiny85_writer" else "no")
    size = fw.sizes(fw.build(gen, out / "firmware.elf", sim=False, f_cpu=f_cpu, firmware=firmware))
    assert 0 < size.flash <= FLASH_LIMIT[board], size
    assert size.sram_static <= CHIP.sram_bytes - CHIP.stack_reserve, size
    # the EEMEM image is the .eeprom section (what -t uploadeep writes), and the only EEPROM data
    assert size.eeprom == len((gen / f"{load(MODEL).name}.bin").read_bytes()), size


@pytest.mark.parametrize("f_cpu", [16_500_000, 8_000_000])
def test_firmware_blink_timing_follows_f_cpu(work: Path, gen: Path, harness: Path, f_cpu: int,
                                             expected_classes: list[int]) -> None:
    """The simulator build at 16.5 and 8 MHz: each class d blinks d+1 times, 250 ms on and 250 ms off
    (run 100x faster in simulator builds) counted in cycles of that clock."""
    elf = fw.build(gen, work / f"sim-{f_cpu}.elf", sim=True, f_cpu=f_cpu)
    run = fw.run(harness, elf, "-led", f_cpu=f_cpu)
    assert run.returncode == 0, run.stdout + run.stderr
    predicted = [int(d) for d in re.findall(r"predicted (\d+)", run.stdout)]
    assert predicted == expected_classes
    pulses = run.led_pulses
    assert len(pulses) == sum(d + 1 for d in expected_classes)
    ms = f_cpu / 1000 / 100
    first = {sum(d + 1 for d in expected_classes[:k]) for k in range(DIGITS)}  # a digit's first blink
    for i, (on, off) in enumerate(pulses):
        assert abs(on - 250 * ms) < 25 * ms, (i, on)
        if i in first and i:
            assert off >= (250 + 1500) * ms, (i, off)  # last gap + the pause (+ one inference)
        elif i:
            assert abs(off - 250 * ms) < 25 * ms, (i, off)
    assert run.led_level == 0


def test_writer_provisions_an_erased_eeprom_for_the_firmware(work: Path, gen: Path, harness: Path,
                                                            expected_classes: list[int]) -> None:
    """Digispark flow in simavr: the writer on an erased EEPROM, then the inference firmware on what
    it left there (simavr_run -ee-out, then -ee)."""
    erased, written = work / "erased.bin", work / "written.bin"
    erased.write_bytes(b"\xff" * 512)
    writer = fw.build(gen, work / "writer.elf", sim=True, firmware="attiny85_writer")
    run = fw.run(harness, writer, "-ee", str(erased), "-ee-out", str(written), "-led")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 differ after writing, check status 0" in run.stdout
    assert run.led_level == 1 and run.led_pulses == []  # done: LED on steadily, no flicker
    image = (gen / f"{load(MODEL).name}.bin").read_bytes()
    dump = written.read_bytes()
    assert dump[:len(image)] == image and dump[len(image):] == b"\xff" * (512 - len(image))

    firmware = fw.build(gen, work / "firmware.elf", sim=True)
    run = fw.run(harness, firmware, "-ee", str(written), "-led")
    assert run.returncode == 0, run.stdout + run.stderr
    assert [int(d) for d in re.findall(r"predicted (\d+)", run.stdout)] == expected_classes

    refused = fw.run(harness, firmware, "-ee", str(erased), "-led")
    assert refused.returncode == 1 and "predicted" not in refused.stdout  # NNRT_ERR_MISSING
    assert len(refused.led_pulses) == 10 + 1


def test_writer_signals_failure_when_the_image_does_not_check(work: Path, gen: Path, harness: Path) -> None:
    """A writer whose flash copy is damaged writes and reads back fine, but the firmware's check
    refuses the result: it must flicker and report, not light the done LED."""
    model = load(MODEL)
    bad = work / "gen-bad"
    shutil.copytree(gen, bad)
    image = bytearray((gen / f"{model.name}.bin").read_bytes())
    image[40] ^= 0x10  # one payload bit
    model_hash = int.from_bytes(image[6:10], "little")
    for name, text in emit_eeprom_writer(model, bytes(image), model_hash).items():
        (bad / name).write_text(text)
    writer = fw.build(bad, work / "writer-bad.elf", sim=True, firmware="attiny85_writer")
    erased = work / "erased-2.bin"
    erased.write_bytes(b"\xff" * 512)
    run = fw.run(harness, writer, "-ee", str(erased), "-led")
    assert run.returncode == 5, run.stdout + run.stderr  # NNRT_ERR_CORRUPT
    assert "0 differ after writing, check status 5" in run.stdout
    assert len(run.led_pulses) == 10 and run.led_level == 0


def test_real_board_envs_are_configured_as_documented() -> None:
    """platformio.ini's chip envs (not buildable offline): clock, fuses, upload, sources."""
    from platformio.project.config import ProjectConfig

    config = ProjectConfig(str(REPO / "platformio.ini"))

    def get(env: str, option: str) -> str:
        return str(config.get(f"env:{env}", option))

    assert get("attiny85", "board_build.f_cpu") == "16500000L" and get("attiny85", "board_fuses.lfuse") == "0xE1"
    assert get("attiny85_8mhz", "board_build.f_cpu") == "8000000L"
    assert get("attiny85_8mhz", "board_fuses.lfuse") == "0xE2"  # 8 MHz RC, no CKDIV8
    # -t fuses writes -Ulock:w:<lock_bits>:m; left to atmelavr the value can come out empty, which
    # avrdude 7.2+ refuses ("file :m is not readable"). 0xFF: no memory lock.
    for env in ("attiny85", "attiny85_8mhz", "attiny85_eeprom_writer"):
        assert config.has_option(f"env:{env}", "board_fuses.lock_bits"), env
        assert get(env, "board_fuses.lock_bits") == "0xFF", env
    for env in ("attiny85", "attiny85_8mhz", "digispark"):
        assert "+<attiny85/>" in get(env, "build_src_filter")
    assert get("digispark", "upload_protocol") == "micronucleus" and get("digispark", "board") == "digispark-tiny"
    assert get("attiny85_eeprom_writer", "upload_protocol") == "micronucleus"
    assert "+<attiny85_writer/>" in get("attiny85_eeprom_writer", "build_src_filter")
    assert get("attiny85_eeprom_writer", "custom_nnmodel_eeprom_writer") == "yes"
