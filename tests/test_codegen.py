"""Generated C against the reference: random models, every storage kind, EEPROM checks, determinism."""
from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, small_mlp, small_rnn
from randmodels import random_images, random_model

from nnmodel import NNModelError, hostc, reference
from nnmodel.codegen import compile_model
from nnmodel.codegen.image import HEADER_BYTES, build_image, crc16

N_RANDOM = 200


def _check_random(seed: int, workdir: Path) -> tuple[int, int]:
    rng = np.random.default_rng(seed)
    model = random_model(rng, name=f"rand{seed}")
    storage = ("ram", "flash", "progmem", "eeprom")[seed % 4]
    if storage == "eeprom" and len(compile_model(model, target="native", storage="ram",
                                                 out_dir=workdir / "probe").layout.payload) > 0xFFFF:
        storage = "ram"
    images = random_images(rng, model, 40)
    got = hostc.build(model, workdir, storage=storage, opt="-O1").logits(images)
    return int(np.sum(np.any(got != reference.run(model, images), axis=1))), len(images)


def test_random_models_bit_identical(tmp_path: Path) -> None:
    """N_RANDOM random models (dense, RNN, every activation, per-tensor/channel) × 40 inputs: 0 mismatches."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda s: _check_random(s, tmp_path / str(s)), range(N_RANDOM)))
    mismatches = sum(m for m, _ in results)
    assert len(results) == N_RANDOM and mismatches == 0, f"{mismatches} mismatching images"


@pytest.mark.parametrize("storage", ["ram", "flash", "progmem", "eeprom"])
@pytest.mark.parametrize("make", [small_rnn, small_mlp])
def test_every_storage_kind_on_host(tmp_path: Path, storage: str, make) -> None:
    model = make()
    images = random_images(np.random.default_rng(3), model, 50)
    build = hostc.build(model, tmp_path, storage=storage)
    np.testing.assert_array_equal(build.logits(images), reference.run(model, images))
    assert build.check() == 0


@pytest.fixture(scope="module")
def eeprom_build(tmp_path_factory) -> hostc.HostBuild:
    return hostc.build(small_rnn(), tmp_path_factory.mktemp("ee"), storage="eeprom")


@pytest.mark.parametrize("byte", range(HEADER_BYTES))
def test_eeprom_header_damage_is_detected(eeprom_build, byte: int) -> None:
    """A flipped bit anywhere in the header: missing, version, length, stale or corrupt, never OK."""
    assert all(eeprom_build.check(byte, bit) != 0 for bit in range(8))


def test_eeprom_payload_damage_is_detected(eeprom_build) -> None:
    payload = len(compile_model(small_rnn(), target="native", storage="eeprom", out_dir=Path(
        eeprom_build.exe.parent / "again")).layout.payload)
    rng = np.random.default_rng(0)
    for byte in rng.choice(payload, 40, replace=False):
        assert eeprom_build.check(HEADER_BYTES + int(byte), int(rng.integers(8))) == 5  # NNRT_ERR_CORRUPT


def test_stale_and_erased_images_are_refused(tmp_path: Path) -> None:
    """An intact image of another model is 'stale' (4); an erased EEPROM is 'missing' (1)."""
    model = small_rnn()
    build = hostc.build(model, tmp_path, storage="eeprom")
    gen = tmp_path / "gen" / f"{model.name}.c"
    other = compile_model(small_rnn(seed=1), target="native", storage="eeprom", out_dir=tmp_path / "other")
    image = build_image(other.layout.payload, other.layout.model_hash)
    source = gen.read_text()
    start = source.index("= {") + 3
    end = source.index("};", start)
    for replacement, expected in ((image, 4), (b"\xff" * len(image), 1)):
        table = ",".join(f"0x{b:02x}" for b in replacement)
        gen.write_text(source[:start] + table + source[end:])
        subprocess.run([hostc.find_cc(), "-std=c99", "-I", str(gen.parent), "-I", str(REPO / "lib/nnrt/include"),
                        str(gen), str(REPO / "lib/nnrt/src/nnrt.c"), str(REPO / "nnmodel/host/driver.c"),
                        "-o", str(build.exe)], check=True)
        assert build.check() == expected


def test_image_header_layout() -> None:
    image = build_image(b"\x01\x02\x03", 0xA1B2C3D4)
    assert image[:4] == b"NM\x01\x00" and image[4:6] == b"\x03\x00" and image[6:10] == bytes.fromhex("d4c3b2a1")
    assert int.from_bytes(image[10:12], "little") == crc16(image[:10] + image[12:])
    assert crc16(b"123456789") == 0x29B1  # CRC-16/CCITT-FALSE check value


@pytest.mark.parametrize("storage", ["ram", "eeprom"])
def test_generated_files_are_deterministic(tmp_path: Path, storage: str) -> None:
    a = compile_model(small_rnn(), target="native", storage=storage, out_dir=tmp_path / "a")
    b = compile_model(small_rnn(), target="native", storage=storage, out_dir=tmp_path / "b")
    assert [p.name for p in a.files] == [p.name for p in b.files]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a.files, b.files))
    if storage == "eeprom":
        assert {p.suffix for p in a.files} >= {".bin", ".eep"}
        assert (tmp_path / "a" / "small_rnn.bin").stat().st_size == a.footprint.eeprom


def test_eep_is_intel_hex_of_the_bin(tmp_path: Path) -> None:
    compile_model(small_rnn(lut=False), target="attiny85", storage="eeprom", out_dir=tmp_path)
    data = bytearray()
    for line in (tmp_path / "small_rnn.eep").read_text().split():
        raw = bytes.fromhex(line[1:])
        assert sum(raw) & 0xFF == 0
        if raw[3] == 0:
            assert int.from_bytes(raw[1:3], "big") == len(data)
            data += raw[4:-1]
    assert bytes(data) == (tmp_path / "small_rnn.bin").read_bytes()


def test_model_that_does_not_fit_names_the_bytes(tmp_path: Path) -> None:
    with pytest.raises(NNModelError, match=r"does not fit attiny85 EEPROM: needs \d+ .* 512 available"):
        compile_model(small_mlp(), target="attiny85", storage="eeprom", out_dir=tmp_path)
    with pytest.raises(NNModelError, match=r"does not fit attiny85 SRAM: needs \d+"):
        compile_model(small_rnn(), target="attiny85", storage="ram", out_dir=tmp_path)
    with pytest.raises(NNModelError, match=r"does not fit attiny85 flash: needs \d+ bytes of model data, 8192"):
        compile_model(small_mlp(hidden=16), target="attiny85", storage="progmem", out_dir=tmp_path)
    with pytest.raises(NNModelError, match="AVR flash is --storage progmem"):
        compile_model(small_rnn(), target="attiny85", storage="flash", out_dir=tmp_path)
    assert not list(tmp_path.iterdir()), "nothing is written for a model that does not fit"


def test_user_files_are_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "nnmodel.h").write_text("/* mine */\n")
    with pytest.raises(NNModelError, match="not generated by nnmodel"):
        compile_model(small_rnn(), target="native", storage="ram", out_dir=tmp_path)
    assert (tmp_path / "nnmodel.h").read_text() == "/* mine */\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nnmodel.h"]


def test_mixed_generations_do_not_compile(tmp_path: Path) -> None:
    """A header from one model and a source from another (an interrupted copy) fail at compile time."""
    compile_model(small_rnn(), target="native", storage="ram", out_dir=tmp_path / "a")
    compile_model(small_rnn(seed=5), target="native", storage="ram", out_dir=tmp_path / "b")
    shutil.copy(tmp_path / "b" / "small_rnn.h", tmp_path / "a" / "small_rnn.h")
    proc = subprocess.run([hostc.find_cc(), "-std=c99", "-c", "-I", str(tmp_path / "a"), "-I",
                           str(REPO / "lib/nnrt/include"), str(tmp_path / "a" / "small_rnn.c"), "-o",
                           str(tmp_path / "x.o")], capture_output=True, text=True)
    assert proc.returncode != 0 and "another generation" in proc.stderr


CROSS = {
    "avr": (["avr-gcc", "-mmcu=attiny85", "-Os"], "attiny85", ("eeprom", "progmem")),
    "rv32": (["riscv64-unknown-elf-gcc", "-march=rv32imc", "-mabi=ilp32", "--specs=picolibc.specs", "-O2"], "esp32c3", ("flash", "ram")),
    "host": (["gcc", "-O2"], "native", ("ram", "eeprom")),
}


@pytest.mark.parametrize("arch", sorted(CROSS))
def test_runtime_compiles_warning_free(tmp_path: Path, arch: str) -> None:
    """lib/nnrt plus generated code under -std=c99 -Wall -Wextra -Werror on all three compilers."""
    cc, target, storages = CROSS[arch]
    if not shutil.which(cc[0]):
        pytest.fail(f"{cc[0]} is not installed (the README's test command installs it)")
    for storage in storages:
        models = [small_rnn(lut=target != "attiny85")]
        if not (target == "attiny85" and storage == "eeprom"):  # an MLP's weights exceed 512 B
            models.append(small_mlp(hidden=4 if target == "attiny85" else 16))
        for model in models:
            out = tmp_path / f"{storage}-{model.name}"
            compile_model(model, target=target, storage=storage, out_dir=out)
            for src in (out / f"{model.name}.c", REPO / "lib/nnrt/src/nnrt.c"):
                subprocess.run([*cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c", "-I", str(out),
                                "-I", str(REPO / "lib/nnrt/include"), str(src), "-o", str(out / "x.o")], check=True)
