"""Targets and budgets from what PlatformIO knows: the platform, the board manifest, the options.

The manifests below carry the values of the official platforms' boards/*.json (platformio/
platform-atmelavr boards/uno.json, platform-ststm32 boards/bluepill_f103c8.json,
platform-raspberrypi boards/pico.json, platform-espressif32 boards/esp32-c3-devkitm-1.json);
the same numbers reach nnmodel through env.BoardConfig() in a build (tests/test_new_user.py runs
one through PlatformIO).
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, small_mlp, small_rnn
from randmodels import random_gru_model, random_lstm_model, small_cnn

from nnmodel import NNModelError
from nnmodel.codegen import compile_model
from nnmodel.prebuild import Settings, board_for_env
from nnmodel.targets import Board, app_partition_size, avr_mcus, target_for_board

UNO = Board.from_manifest("atmelavr", "uno", {"build": {"mcu": "atmega328p", "f_cpu": "16000000L"},
                                              "upload": {"maximum_ram_size": 2048, "maximum_size": 32256}})
BLUEPILL = Board.from_manifest("ststm32", "bluepill_f103c8", {
    "build": {"cpu": "cortex-m3", "mcu": "stm32f103c8t6"},
    "upload": {"maximum_ram_size": 20480, "maximum_size": 65536}})
PICO = Board.from_manifest("raspberrypi", "pico", {
    "build": {"cpu": "cortex-m0plus", "mcu": "rp2040"},
    "upload": {"maximum_ram_size": 270336, "maximum_size": 2097152}})
ESP32C3 = Board.from_manifest("espressif32", "esp32-c3-devkitm-1", {
    "build": {"mcu": "esp32c3"}, "upload": {"maximum_ram_size": 327680, "maximum_size": 4194304}})


@pytest.mark.parametrize("board, name, storages, budgets", [
    (UNO, "atmega328p", ("progmem", "eeprom", "ram"), (32256, 2048, 1024)),
    (BLUEPILL, "cortex-m", ("flash", "ram"), (65536, 20480, None)),
    (PICO, "cortex-m", ("flash", "ram"), (2097152, 270336, None)),
    (ESP32C3, "esp32c3", ("flash", "ram"), (4194304, 327680, None)),
    (Board("atmelavr", "attiny85", "attiny85", flash=8192, ram=512), "attiny85", ("eeprom", "progmem", "ram"),
     (8192, 512, 512)),
    (Board("teensy", "teensy2", "atmega32u4", flash=32256, ram=2560), "atmega32u4", ("progmem", "eeprom", "ram"),
     (32256, 2560, 1024)),
    (Board("espressif8266", "d1_mini", "esp8266", flash=1044464, ram=81920), "esp8266", ("progmem", "ram"),
     (1044464, 81920, None)),
    (Board("espressif32", "esp32dev", "esp32", flash=1310720, ram=327680), "esp32", ("flash", "ram"),
     (1310720, 327680, None)),
    (Board("someplatform", "someboard", "xyz", flash=100000, ram=10000), "generic32", ("flash", "ram"),
     (100000, 10000, None)),
    (Board("native"), "native", ("ram", "flash", "progmem", "eeprom"), (None, None, None)),
])
def test_the_board_decides_profile_and_budgets(board: Board, name: str, storages: tuple, budgets: tuple) -> None:
    target = target_for_board(board)
    assert (target.name, target.storages) == (name, storages)
    assert (target.flash_bytes, target.sram_bytes, target.eeprom_bytes) == budgets


def test_avr_table_comes_from_avr_libc() -> None:
    table = avr_mcus()
    assert table["atmega328p"] == {"flash": 32768, "ram": 2048, "eeprom": 1024}
    assert table["attiny85"] == {"flash": 8192, "ram": 512, "eeprom": 512}
    assert table["atmega2560"]["eeprom"] == 4096 and len(table) > 200


@pytest.mark.parametrize("board, memory, have", [(UNO, "flash", 32256), (BLUEPILL, "flash", 65536)])
def test_a_model_that_does_not_fit_names_the_manifests_bytes(tmp_path: Path, board: Board, memory: str,
                                                            have: int) -> None:
    model = small_mlp(hidden=128)  # 784*128 int8 weights: about 100 KB
    with pytest.raises(NNModelError) as info:
        compile_model(model, target=target_for_board(board), storage=None, out_dir=tmp_path)
    message = str(info.value)
    assert f"does not fit {target_for_board(board).name} {memory}: needs " in message
    assert f"{have} available (board {board.board} ({board.platform})'s manifest)" in message
    assert not tmp_path.exists() or not any(tmp_path.iterdir()), "nothing written"


def test_a_model_that_fits_the_pico_compiles(tmp_path: Path) -> None:
    result = compile_model(small_mlp(hidden=128), target=target_for_board(PICO), storage=None, out_dir=tmp_path)
    assert result.footprint.flash > 65536 and (tmp_path / "nnmodel.h").is_file()


def _parse(options: dict[str, str], board: Board) -> Settings:
    return Settings.parse({"model": "m.nnm", **options}, Path("."), board)


@pytest.mark.parametrize("options, board, message", [
    ({"target": "pdp11"}, UNO, "platformio.ini: custom_nnmodel_target = 'pdp11': unknown; choose one of native, "
                               "attiny85, esp32c3, avr, esp32, esp8266, cortex-m, generic32 or an AVR MCU"),
    ({"storage": "eeprom"}, ESP32C3, "platformio.ini: custom_nnmodel_storage = eeprom: not available on esp32c3 "
                                     "(board esp32-c3-devkitm-1 (espressif32)); choose one of flash, ram"),
    ({"storage": "sdcard"}, UNO, "custom_nnmodel_storage = sdcard: not available on atmega328p (board uno "
                                 "(atmelavr)); choose one of progmem, eeprom, ram (storages: ram, flash, progmem, "
                                 "eeprom)"),
    ({"budget_flash": "64k"}, UNO, "platformio.ini: custom_nnmodel_budget_flash = '64k': expected a number of bytes "
                                   "(e.g. 32256) or none"),
    ({"budget_ram": "-5"}, PICO, "custom_nnmodel_budget_ram = '-5': expected a number of bytes"),
])
def test_bad_target_options_are_one_line_errors(options: dict, board: Board, message: str) -> None:
    with pytest.raises(NNModelError) as info:
        _parse(options, board)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_options_override_the_board(tmp_path: Path) -> None:
    settings = _parse({"target": "attiny85", "budget_flash": "4096", "budget_eeprom": "none"}, UNO)
    t = settings.target
    assert (t.name, t.flash_bytes, t.sram_bytes, t.eeprom_bytes) == ("attiny85", 4096, 2048, None)
    assert settings.storages == ["eeprom"]  # attiny85's default storage
    budget = r"needs 487 bytes of model data, 100 available \(custom_nnmodel_budget_\*\)"
    with pytest.raises(NNModelError, match=budget):
        compile_model(small_cnn(), target=_parse({"budget_flash": "100"}, UNO).target, storage="progmem",
                      out_dir=tmp_path)


def test_esp8266_progmem_compiles_warning_free(tmp_path: Path) -> None:
    """The ESP8266 path (weights in PROGMEM, read by the core's word-aligned pgm_read_byte) with
    Debian's xtensa-lx106 gcc (freestanding: Debian ships no C library for it) and a stand-in for
    the core's <pgmspace.h>."""
    cc = "xtensa-lx106-elf-gcc"
    if not shutil.which(cc):
        pytest.fail(f"{cc} is not installed (scripts/setup.sh installs gcc-xtensa-lx106)")
    gated = [make(np.random.default_rng(2), name=make.__name__[7:11]) for make in (random_gru_model, random_lstm_model)]
    for model in (small_mlp(hidden=16), small_cnn(), small_rnn(), *gated):
        out = tmp_path / model.name
        compile_model(model, target="esp8266", storage="progmem", out_dir=out)
        assert "#elif defined(ESP8266) || defined(ARDUINO_ARCH_ESP8266)" in (out / f"{model.name}.c").read_text()
        flags = ["-mlongcalls", "-Os", "-ffreestanding", "-DESP8266", "-std=c99", "-Wall", "-Wextra", "-Werror",
                 "-pedantic"]
        # nnrt.c too: the gated layers' tanh table is PROGMEM there, read with pgm_read_byte
        for src in (out / f"{model.name}.c", REPO / "lib/nnrt/src/nnrt.c"):
            subprocess.run([cc, *flags, "-c", "-I", str(out), "-I", str(REPO / "lib/nnrt/include"), "-I",
                            str(REPO / "tests/esp8266_stubs"), str(src), "-o", str(out / "m.o")], check=True)


ARDUINO_DEFAULT_CSV = """# Name,   Type, SubType, Offset,  Size, Flags
nvs,      data, nvs,     0x9000,  0x5000,
otadata,  data, ota,     0xe000,  0x2000,
app0,     app,  ota_0,   0x10000, 0x140000,
app1,     app,  ota_1,   0x150000,0x140000,
spiffs,   data, spiffs,  0x290000,0x160000,
coredump, data, coredump,0x3F0000,0x10000,
"""


@pytest.mark.parametrize("csv, name, size", [
    (ARDUINO_DEFAULT_CSV, "", 0x140000),
    (ARDUINO_DEFAULT_CSV, "app1", 0x140000),
    ("nvs, data, nvs, , 24K,\nphy_init, data, phy, , 4K,\nfactory, app, factory, , 3M,\n", "", 3 * 1024 * 1024),
    ("factory, 0, 0, 0x10000, 1536K\nota_0, 0, 0x10, , 0x100000\n", "", 1536 * 1024),
    ("a, app, ota_1, , 0x1000\nb, app, test, , 0x3000\n", "", 0x3000),
    ("nvs, data, nvs, , 24K,\n", "", None),
    ("broken, app, factory, , lots\n", "", None),
])
def test_app_partition_size(csv: str, name: str, size: int | None) -> None:
    assert app_partition_size(csv, name) == size


class _Esp32Env:
    """What board_for_env reads from an espressif32 build env after its framework script ran."""

    def __init__(self, table: Path | None) -> None:
        self.table = table

    def PioPlatform(self):
        return type("Platform", (), {"name": "espressif32"})()

    def subst(self, text: str) -> str:
        return {"$BOARD": "esp32dev", "$PARTITIONS_TABLE_CSV": str(self.table)}[text]

    def get(self, key: str, default=None):
        return str(self.table) if key == "PARTITIONS_TABLE_CSV" and self.table else default

    def BoardConfig(self):
        values = {"build.mcu": "esp32", "upload.maximum_size": 4194304, "upload.maximum_ram_size": 327680}
        return type("Config", (), {"get": lambda _self, key, default=None: values.get(key, default)})()


def test_esp32_flash_budget_is_the_app_partition(tmp_path: Path) -> None:
    table = tmp_path / "partitions.csv"
    table.write_text(ARDUINO_DEFAULT_CSV)
    target = target_for_board(board_for_env(_Esp32Env(table)))
    assert (target.name, target.flash_bytes, target.sram_bytes) == ("esp32", 0x140000, 327680)
    assert target.budgets_from.endswith("flash from the app partition in partitions.csv")
    without = target_for_board(board_for_env(_Esp32Env(None)))
    assert without.flash_bytes == 4194304 and "partition" not in without.budgets_from
