"""examples/: user projects that depend on the library (`lib_deps = nnmodel=symlink://../..`).

Each builds and runs offline through its twin env (simavr, QEMU or the host) with the logits or
classes nnmodel.reference gives; the real-board env's own sources are compiled for the chip with
the Debian toolchains (its official platform needs the PlatformIO registry), against the code the
library's pre-build generates for that board's manifest. A board a model does not fit fails the
build with the manifest's numbers.
"""
from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import REPO

from nnmodel import load, reference
from nnmodel.datasets import load_sample
from nnmodel.paths import runtime_sources
from nnmodel.prebuild import Settings, generate
from nnmodel.realvalues import codes_from_raw, outputs_fixed
from nnmodel.sim import avr_firmware
from nnmodel.targets import Board

EXAMPLES = REPO / "examples"
PIO = Path(sys.executable).parent / "pio"
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror"]


@pytest.fixture(scope="module")
def pio_env() -> dict[str, str]:
    env = dict(os.environ, PLATFORMIO_CORE_DIR=str(REPO / ".pio-core"), PLATFORMIO_SETTING_ENABLE_TELEMETRY="No",
               PLATFORMIO_DISABLE_UPGRADE_CHECK="true")
    subprocess.run([sys.executable, str(REPO / "platformio" / "setup_offline.py")], env=env, check=True)
    return env


def _pio(example: str, env: dict[str, str], *args: str, stdin: bytes | None = None) -> str:
    proc = subprocess.run([str(PIO), "run", "-d", str(EXAMPLES / example), *args], env=env, capture_output=True,
                          timeout=600, input=stdin)
    out = proc.stdout.decode() + proc.stderr.decode()
    assert proc.returncode == 0, out
    return out


def _classes(out: str) -> list[tuple[int, int, int]]:
    return [(int(k), int(c), int(lab)) for k, c, lab in re.findall(r"digit (\d+): class (\d+), label (\d+)", out)]


def _real_env_sources(example: str, board: Board, tmp_path: Path, options: dict[str, str]) -> Path:
    """Generate what the library's pre-build writes for the real board (its manifest's values)."""
    out = tmp_path / "gen"
    generate(Settings.parse(options, EXAMPLES / example, board), options, out, lambda _: None)
    return out


def test_every_example_is_a_lib_deps_project_with_a_twin() -> None:
    names = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir())
    assert len(names) >= 4, names
    for name in names:
        ini = (EXAMPLES / name / "platformio.ini").read_text()
        assert "lib_deps = nnmodel=symlink://../.." in ini and "custom_nnmodel_model" in ini, name
        assert "platform = symlink://../../platformio/platforms/" in ini, f"{name}: no offline twin"
        assert re.search(r"^platform = (atmelavr|espressif32|raspberrypi)$", ini, re.M), f"{name}: no real board"


def test_attiny85_eeprom_runs_in_simavr(pio_env: dict[str, str], tmp_path: Path) -> None:
    out = _pio("attiny85-eeprom", pio_env, "-e", "sim", "-t", "exec")
    assert "model mnist_cnn_attiny85, EEPROM image status 0" in out
    model, sample = load(EXAMPLES / "attiny85-eeprom/models/digits.nnm"), load_sample()
    expected = reference.predict(model, sample.images[:4])[1]
    assert _classes(out) == [(k, int(expected[k]), int(sample.labels[k])) for k in range(4)], out

    # the real chip (atmelavr's board attiny85: 8 MHz): the same source without the twin's printing
    board = Board.from_manifest("atmelavr", "attiny85", {"build": {"mcu": "attiny85", "f_cpu": "8000000L"},
                                                         "upload": {"maximum_size": 8192, "maximum_ram_size": 512}})
    gen = _real_env_sources("attiny85-eeprom", board, tmp_path,
                            {"model": "models/digits.nnm", "storage": "eeprom", "samples": "4"})
    _build_avr(EXAMPLES / "attiny85-eeprom/src/main.c", gen, tmp_path, "attiny85", 8_000_000, flash=8192, ram=512)


def _build_avr(main: Path, gen: Path, tmp_path: Path, mcu: str, f_cpu: int, flash: int, ram: int) -> Path:
    """The firmware as atmelavr's builder compiles it (its flags, LTO) fits the board's flash and SRAM."""
    elf = tmp_path / "firmware.elf"
    flags = [f"-mmcu={mcu}", *(f for f in avr_firmware.REAL_FLAGS if not f.startswith("-mmcu="))]
    subprocess.run(["avr-gcc", *flags, *STRICT, f"-DF_CPU={f_cpu}UL", "-I", str(gen), "-I",
                    str(REPO / "lib/nnrt/include"), str(main), *map(str, sorted(gen.glob("*.c"))),
                    *map(str, runtime_sources(asm=True)), "-o", str(elf)], check=True)
    size = avr_firmware.sizes(elf)
    assert size.flash <= flash and size.sram_static <= ram, size
    return elf


# attiny85-thermistor: simulated readings as (air °C, board warmer than the air by K), inside the
# training data's ranges (data/README.md: air -10..60 °C, self-heating 0..15 K).
THERMISTOR_SCENARIOS = [(-8.0, 4.0), (5.0, 10.0), (21.0, 7.5), (37.0, 12.0), (58.0, 2.0)]
VCC_MV = 5000  # simavr_run -vcc: the divider's supply, the ADC's reference for the thermistor
BANDGAP_MV = 1100  # the temperature sensor's reference (simavr's ADC_VREF_V110)
# ATtiny25/45/85 datasheet, typical temperature-sensor counts (1.1 V reference) at -40, +25, +85 °C
DIE_CURVE = ((-40.0, 25.0, 85.0), (230.0, 300.0, 370.0))
# avr-gcc's soft-float helpers (libgcc: __addsf3 ... __unordsf2; avr-libc: __fp_*), any of which
# means float arithmetic reached the firmware
FLOAT_ROUTINES = {"__addsf3", "__subsf3", "__mulsf3", "__divsf3", "__fixsfsi", "__fixunssfsi", "__floatsisf",
                  "__floatunsisf", "__cmpsf2", "__ltsf2", "__gtsf2", "__gesf2", "__lesf2", "__eqsf2", "__nesf2",
                  "__unordsf2"}
SOFT_FLOAT = re.compile(r"^__(\w*[sd]f\w*|fp_\w+|float\w*|fix\w*)$")
READING = re.compile(r"adc=(\d+) die=(\d+) board16=(-?\d+) T = (-?\d+\.\d+) C, inference (\d+) cycles")


def _data_generator(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """scripts/data/NAME.py, the physics the training data was made with."""
    monkeypatch.syspath_prepend(str(REPO / "scripts" / "data"))  # for its `_common`
    return importlib.import_module(name)


def _thermistor_millivolts(scenarios: list[tuple[float, float]], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """simavr_run -adc per reading: the divider's voltage on ADC2 (NTC from VCC to the pin, 10 kΩ to ground,
    thermistor and fixed resistor warmed by the board as data/README.md says) and the temperature
    sensor's typical voltage at the board temperature, in whole mV as simavr takes them."""
    physics = _data_generator("thermistor", monkeypatch)
    out = []
    for air, warmer in scenarios:
        board = air + warmer
        divider = round(float(physics.divider_ratio(np.float64(air), np.float64(board))) * VCC_MV)
        die = round(float(np.interp(board, *DIE_CURVE)) * BANDGAP_MV / 1024)
        out.append(f"2={divider},temp={die}")
    return out


def _simavr_count(mv: int, ref_mv: int) -> int:
    """simavr's ADC conversion (sim/avr_adc.c): mV·1023/Vref, truncated (the datasheet has 1024)."""
    return mv * 1023 // ref_mv


def _die_sixteenths(count: int) -> int:
    """main.c's die_sixteenths: the datasheet's curve in 1/16 °C, rounded half away from zero."""
    x = count - 300
    n = x * (16 * 65 if x < 0 else 16 * 60)
    return 16 * 25 + ((n + 35) // 70 if n >= 0 else -((35 - n) // 70))


def _celsius(milli: int) -> str:
    return f"{'-' if milli < 0 else ''}{abs(milli) // 1000}.{abs(milli) % 1000:03d}"


def _assert_no_float(elf: Path) -> None:
    symbols = {line.split()[-1] for line in subprocess.run(["avr-nm", str(elf)], capture_output=True, text=True,
                                                           check=True).stdout.splitlines() if line.strip()}
    assert {"main", "__vectors"} <= symbols, sorted(symbols)  # a symbol table to trust
    found = sorted(symbols & FLOAT_ROUTINES | {s for s in symbols if SOFT_FLOAT.match(s)})
    assert not found, f"{elf}: float routines {found}"


def _check_thermistor_readings(out: str, adc_args: list[str], scenarios: list[tuple[float, float]]) -> None:
    """One line per -adc scenario: the counts simavr's ADC gives for the injected voltages, the
    firmware's board temperature, and a temperature bit-identical to the reference for those raw
    integers, printed with OUTPUT_DECIMALS, within 1 °C of the simulated air."""
    readings = READING.findall(out)
    assert len(readings) == len(scenarios), out
    model = load(EXAMPLES / "attiny85-thermistor/models/thermistor.nnm")
    raw = np.array([[int(adc), int(board16)] for adc, _, board16, _, _ in readings], np.int64)
    expected = outputs_fixed(model, reference.run(model, codes_from_raw(model.input, raw)))[:, 0]
    for (adc, die, board16, celsius, cycles), arg, (air, _), milli in zip(readings, adc_args, scenarios, expected):
        divider_mv, die_mv = (int(v.split("=")[1]) for v in arg.split(","))
        assert int(adc) == _simavr_count(divider_mv, VCC_MV) and int(die) == _simavr_count(die_mv, BANDGAP_MV), out
        assert int(board16) == _die_sixteenths(int(die)), out
        assert celsius == _celsius(int(milli)), out
        assert abs(int(milli) / 1000 - air) < 1.0, (air, celsius)
        assert 0 < int(cycles) < 100_000, out


def test_attiny85_thermistor_prints_celsius_without_float_in_simavr(pio_env: dict[str, str], tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    example = EXAMPLES / "attiny85-thermistor"
    # the twin's own run (`pio run -e sim -t exec`): its -adc scenarios are this physics' numbers
    ini = (example / "platformio.ini").read_text()
    adc_args = _thermistor_millivolts(THERMISTOR_SCENARIOS, monkeypatch)
    assert re.findall(r"^\s+-adc\n\s+(\S+)$", ini, re.M) == adc_args
    out = _pio("attiny85-thermistor", pio_env, "-e", "sim", "-t", "exec")
    assert "model thermistor_attiny85, EEPROM image status 0" in out
    _check_thermistor_readings(out, adc_args, THERMISTOR_SCENARIOS)

    build = example / ".pio/build/sim"
    _assert_no_float(build / "firmware.elf")
    sim = [str(build / "simavr_run"), "-m", "attiny85", "-f", "16500000", "-vcc", str(VCC_MV)]
    # more readings straight through the harness: the whole training range, corners included
    sweep = [(air, warmer) for air in (-10.0, 0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0) for warmer in (0.0, 15.0)]
    args = _thermistor_millivolts(sweep, monkeypatch)
    run = subprocess.run([*sim, *(a for arg in args for a in ("-adc", arg)), str(build / "firmware.elf")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    _check_thermistor_readings(run.stdout, args, sweep)

    # an erased EEPROM (no -t uploadeep yet): the status, no reading
    (tmp_path / "erased.bin").write_bytes(b"")
    run = subprocess.run([*sim, "-ee", str(tmp_path / "erased.bin"), "-adc", args[0], str(build / "firmware.elf")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "EEPROM image status 1" in run.stdout and "T = " not in run.stdout, run.stdout

    # the real chip (atmelavr's board attiny85: 8 MHz): its UART output instead of the console
    board = Board.from_manifest("atmelavr", "attiny85", {"build": {"mcu": "attiny85", "f_cpu": "8000000L"},
                                                         "upload": {"maximum_size": 8192, "maximum_ram_size": 512}})
    gen = _real_env_sources("attiny85-thermistor", board, tmp_path, {"model": "models/thermistor.nnm",
                                                                    "storage": "eeprom"})
    _assert_no_float(_build_avr(example / "src/main.c", gen, tmp_path, "attiny85", 8_000_000, flash=8192, ram=512))


def test_uno_progmem_runs_in_simavr(pio_env: dict[str, str], tmp_path: Path) -> None:
    out = _pio("uno-progmem", pio_env, "-e", "sim", "-t", "exec")
    assert "model mnist_rnn_attiny85, weights in progmem" in out
    model, sample = load(EXAMPLES / "uno-progmem/models/digits.nnm"), load_sample()
    expected = reference.predict(model, sample.images[:10])[1]
    assert _classes(out) == [(k, int(expected[k]), int(sample.labels[k])) for k in range(10)], out
    assert f"{int((expected == sample.labels[:10]).sum())} of 10 right" in out

    uno = Board.from_manifest("atmelavr", "uno", {"build": {"mcu": "atmega328p", "f_cpu": "16000000L"},
                                                  "upload": {"maximum_size": 32256, "maximum_ram_size": 2048}})
    gen = _real_env_sources("uno-progmem", uno, tmp_path, {"model": "models/digits.nnm", "storage": "progmem",
                                                           "samples": "10"})
    _build_avr(EXAMPLES / "uno-progmem/src/main.c", gen, tmp_path, "atmega328p", 16_000_000, flash=32256, ram=2048)


def test_esp32c3_serial_protocol_on_the_host_twin(pio_env: dict[str, str], tmp_path: Path) -> None:
    _pio("esp32c3-serial", pio_env, "-e", "host")
    sample = load_sample()
    images = sample.images[:20]
    frames = b"xx" + b"".join(b"N" + img.tobytes() for img in images)  # leading noise is skipped
    proc = subprocess.run([str(EXAMPLES / "esp32c3-serial/.pio/build/host/program")], input=frames,
                          capture_output=True, check=True, timeout=60)
    replies = proc.stdout.decode().splitlines()
    logits = reference.run(load(EXAMPLES / "esp32c3-serial/models/digits.nnm"), images)
    assert replies == [f"class {int(np.argmax(row))} logits " + " ".join(map(str, row)) for row in logits]

    # the board's own sources: riscv gcc for the C, the Arduino side against declaration stand-ins
    c3 = Board.from_manifest("espressif32", "esp32-c3-devkitm-1", {"build": {"mcu": "esp32c3"},
                                                                   "upload": {"maximum_size": 4194304,
                                                                              "maximum_ram_size": 327680}})
    gen = _real_env_sources("esp32c3-serial", c3, tmp_path, {"model": "models/digits.nnm"})
    rv = ["-march=rv32imc", "-mabi=ilp32", "--specs=picolibc.specs"]
    src = EXAMPLES / "esp32c3-serial/src"
    for file in (src / "classifier.c", gen / "mnist_cnn_attiny85.c"):
        subprocess.run(["riscv64-unknown-elf-gcc", *rv, "-Os", *STRICT, "-c", "-I", str(gen), "-I",
                        str(REPO / "lib/nnrt/include"), str(file), "-o", str(tmp_path / "x.o")], check=True)
    subprocess.run(["riscv64-unknown-elf-g++", *rv, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                    "-I", str(REPO / "tests/esp32_stubs"), "-I", str(gen), "-I", str(REPO / "lib/nnrt/include"),
                    str(src / "arduino_main.cpp")], check=True)


def test_rp2040_flash_runs_on_a_cortex_m_in_qemu(pio_env: dict[str, str], tmp_path: Path) -> None:
    out = _pio("rp2040-flash", pio_env, "-e", "sim", "-t", "exec")
    model, sample = load(EXAMPLES / "rp2040-flash/models/digits.nnm"), load_sample()
    expected = reference.predict(model, sample.images[:10])[1]
    assert "model mnist_cnn_attiny85, weights in flash" in out
    assert _classes(out) == [(k, int(expected[k]), int(sample.labels[k])) for k in range(10)], out
    assert f"{int((expected == sample.labels[:10]).sum())} of 10 right" in out

    # the Pico itself: Cortex-M0+ (armv6-m, no DSP), its manifest's budgets
    pico = Board.from_manifest("raspberrypi", "pico", {"build": {"cpu": "cortex-m0plus", "mcu": "rp2040"},
                                                       "upload": {"maximum_size": 2097152,
                                                                  "maximum_ram_size": 270336}})
    gen = _real_env_sources("rp2040-flash", pico, tmp_path, {"model": "models/digits.nnm", "storage": "flash",
                                                             "samples": "10"})
    m0 = ["-mcpu=cortex-m0plus", "-mthumb", "-Os"]
    src = EXAMPLES / "rp2040-flash/src"
    for file in (src / "digits.c", *sorted(gen.glob("*.c"))):
        subprocess.run(["arm-none-eabi-gcc", *m0, *STRICT, "-c", "-I", str(gen), "-I", str(REPO / "lib/nnrt/include"),
                        str(file), "-o", str(tmp_path / "x.o")], check=True)
    subprocess.run(["arm-none-eabi-g++", *m0, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-I",
                    str(REPO / "tests/esp32_stubs"), "-I", str(gen), "-I", str(REPO / "lib/nnrt/include"),
                    str(src / "arduino_main.cpp")], check=True)


def test_a_board_the_model_does_not_fit_fails_with_the_manifests_numbers(pio_env: dict[str, str],
                                                                         tmp_path: Path) -> None:
    """Through PlatformIO: the Uno's budgets (uno_sim's manifest carries its 32256/2048) refuse the MLP."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.c").write_text('#include "nnmodel.h"\nint main(void) { return 0; }\n')
    shutil.copy(REPO / "models/mnist_mlp_esp32c3.nnm", tmp_path / "big.nnm")
    (tmp_path / "platformio.ini").write_text(f"""\
[env:uno]
platform = symlink://{REPO}/platformio/platforms/tinyavr-sim
board = uno_sim
lib_deps = nnmodel=symlink://{REPO}
custom_nnmodel_model = big.nnm
""")
    proc = subprocess.run([str(PIO), "run", "-d", str(tmp_path)], env=pio_env, capture_output=True, text=True,
                          timeout=600)
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("[nnmodel] error")]
    assert proc.returncode != 0 and len(errors) == 1, proc.stdout + proc.stderr
    assert ("does not fit atmega328p flash: needs 101911 bytes of model data, 32256 available "
            "(board uno_sim (tinyavr-sim)'s manifest)") in errors[0]
