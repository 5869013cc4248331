"""Generated C against the reference: random models, every storage kind, EEPROM checks, determinism."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, small_mlp, small_rnn
from randmodels import (
    random_conv_model,
    random_gru_model,
    random_images,
    random_lstm_model,
    random_model,
    small_cnn,
)

from nnmodel import NNModelError, hostc, reference
from nnmodel.codegen import compile_model
from nnmodel.codegen.emit_c import RUNTIME_API_VERSION
from nnmodel.codegen.image import HEADER_BYTES, build_image, crc16

# NNMODEL_RANDOM_SCALE=3 runs 3x as many (1,230 models, ~4 min on 2 cores) for a full-size check.
SCALE = int(os.environ.get("NNMODEL_RANDOM_SCALE", "1"))
N_RANDOM = 200 * SCALE
N_RANDOM_CONV = 150 * SCALE  # conv/pool models, plus N_RANDOM_INT4 dense/RNN models with int4 dense layers
N_RANDOM_INT4 = 60 * SCALE
N_SANITIZED = 12  # of each family, built with AddressSanitizer + UBSan
SANITIZE = ["-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]


def _check_random(seed: int, workdir: Path, make=random_model, flags: list[str] | None = None) -> tuple[int, int]:
    rng = np.random.default_rng(seed)
    model = make(rng, name=f"rand{seed}")
    storage = ("ram", "flash", "progmem", "eeprom")[seed % 4]
    if storage == "eeprom" and len(compile_model(model, target="native", storage="ram",
                                                 out_dir=workdir / "probe").layout.payload) > 0xFFFF:
        storage = "ram"
    images = random_images(rng, model, 40)
    got = hostc.build(model, workdir, storage=storage, opt="-O1", extra_flags=flags).logits(images)
    return int(np.sum(np.any(got != reference.run(model, images), axis=1))), len(images)


def test_random_models_bit_identical(tmp_path: Path) -> None:
    """N_RANDOM random models (dense, RNN, every activation, per-tensor/channel) × 40 inputs: 0 mismatches."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda s: _check_random(s, tmp_path / str(s)), range(N_RANDOM)))
    mismatches = sum(m for m, _ in results)
    assert len(results) == N_RANDOM and mismatches == 0, f"{mismatches} mismatching images"


def test_random_conv_models_bit_identical(tmp_path: Path) -> None:
    """N_RANDOM_CONV random conv/pool models (k 1..5, pools 1..3, 1..8 channels, int4/int8, per-tensor/channel,
    both line-buffer strategies, int16/int32 running maxima, pools of the raw image) × 40 inputs: 0 mismatches."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda s: _check_random(s, tmp_path / str(s), random_conv_model),
                                 range(5000, 5000 + N_RANDOM_CONV)))
    mismatches = sum(m for m, _ in results)
    assert len(results) == N_RANDOM_CONV and mismatches == 0, f"{mismatches} mismatching images"


def test_random_int4_dense_models_bit_identical(tmp_path: Path) -> None:
    """Dense-first and RNN models whose dense layers have packed int4 weights and shifted biases."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda s: _check_random(s, tmp_path / str(s),
                                                        lambda r, name: random_model(r, name, int4=True)),
                                 range(7000, 7000 + N_RANDOM_INT4)))
    assert sum(m for m, _ in results) == 0


def test_random_models_clean_under_sanitizers(tmp_path: Path) -> None:
    """Random dense/RNN, conv and int4 models whose C is built with -fsanitize=address,undefined (any
    report aborts the driver, failing the build's run): still 0 mismatches."""
    def int4(r: np.random.Generator, name: str):
        return random_model(r, name, int4=True)
    jobs = [(seed, make) for make, first in ((random_model, 0), (random_conv_model, 5000), (int4, 7000))
            for seed in range(first, first + N_SANITIZED)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda job: _check_random(job[0], tmp_path / str(job[0]), job[1], SANITIZE), jobs))
    assert len(results) == 3 * N_SANITIZED and sum(m for m, _ in results) == 0


def test_random_conv_models_cover_every_code_path() -> None:
    """The equivalence test above means something only if it reaches every strategy and buffer type."""
    from nnmodel.plan import plan_conv
    seen = set()
    for seed in range(5000, 5000 + N_RANDOM_CONV):
        model = random_conv_model(np.random.default_rng(seed))
        for st in plan_conv(model):
            seen.add((st.strategy, st.run_elem))
            seen.add(("bits", st.conv.weight_bits if st.conv is not None else 0))
            seen.add(("ring", min(st.ring_rows, 2), st.caller_row))
        seen.add(("per_channel", any(getattr(x, "mult", np.zeros(0)).size > 1 for x in model.layers)))
    assert {("window", 0), ("running", 2), ("running", 4), ("pool", 0), ("bits", 4), ("bits", 8),
            ("ring", 0, True), ("ring", 1, True), ("ring", 2, True), ("ring", 1, False), ("ring", 2, False),
            ("per_channel", True), ("per_channel", False)} <= seen


@pytest.mark.parametrize("storage", ["ram", "flash", "progmem", "eeprom"])
@pytest.mark.parametrize("variant", ["int4", "int8-per-channel", "random-int4"])
def test_target_cnn_bit_identical(tmp_path: Path, storage: str, variant: str) -> None:
    """The shipped CNN's architecture (int4 with -8 weights; int8 per channel, whose second stage keeps
    an int32 running max; random int4 integers) on random, blank, saturated and sparse digits."""
    if variant == "random-int4":
        model = random_conv_model(np.random.default_rng(77), name="cnn", target=True)
    else:
        model = small_cnn(bits=4) if variant == "int4" else small_cnn(bits=8, per_channel=True)
    images = random_images(np.random.default_rng(5), model, 150)
    build = hostc.build(model, tmp_path, storage=storage, opt="-O1")
    got = build.logits(images)
    np.testing.assert_array_equal(got, reference.run(model, images))
    assert build.check() == 0
    assert len(np.unique(got, axis=0)) > 100, "logits should vary with the image"


def test_pool_only_front_compiles_and_matches(tmp_path: Path) -> None:
    """A map front of pools alone (no conv) before a dense layer, and before a GRU: its stage function
    is NNRT_CONV_FN, which only nnrt/ops/conv2d.h used to define (the C did not compile)."""
    from randmodels import _activation, _dense, _finish, _gated_layer

    from nnmodel.model import InputSpec, MaxPool2D, Model

    rng = np.random.default_rng(1)
    for name, front in (("pool_dense", []), ("pool_gru", [_gated_layer(rng, "gru", 6, 5, 255, False)])):
        width = front[0].units if front else 36
        head = _dense(rng, width, 10, _activation(rng, True), False, True, 8)
        _finish(rng, head, 127 if front else 255, False, True, 8)
        model = Model(name, InputSpec(12, 12, 1 / 255), [MaxPool2D((12, 12, 1), 2), *front, head],
                      [f"c{k}" for k in range(10)], {})
        images = random_images(rng, model, 10)
        got = hostc.build(model, tmp_path / name, storage="progmem").logits(images)
        assert np.array_equal(got, reference.run(model, images)), name


def test_target_cnn_plan_and_ram() -> None:
    """conv1 reads only input rows/cols 0..23 (window ring of 3 previous rows), conv2 only 9x9 outputs
    (running: ring of 3 rows + 3x6 int16 maxima), int16 logits when proven; the RAM total counts every
    buffer."""
    from nnmodel.plan import acc16, plan_buffers, plan_conv
    model = small_cnn()
    s0, s1 = plan_conv(model)
    assert (s0.need_in, s0.need_out, s0.strategy, s0.ring_rows, s0.row_bytes) == ((24, 24), (11, 11), "window", 3, 24)
    assert (s1.need_in, s1.need_out, s1.strategy, s1.ring_rows, s1.row_bytes, s1.run_elem) == \
        ((11, 11), (3, 3), "running", 3, 66, 2)
    buf = plan_buffers(model)
    assert (buf.acc_elem, acc16(model)) == (2, True)
    assert buf.ram_bytes == 72 + 198 + 36 + 2 * 10 + 2 == 328
    # int32 logits when the proof does not bound them within int16: one weight row of all -8
    big = small_cnn()
    dense = big.layers[-1]
    dense.w_q[0, :] = -8
    assert not acc16(big) and plan_buffers(big).ram_bytes == 348


def _declared_ram(source: str) -> int:
    """Bytes of the static buffers a generated .c declares (weights have initialisers and are excluded)."""
    import re
    sizes = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "uint16_t": 2, "int32_t": 4}
    total = 0
    for kind, count in re.findall(r"^static (u?int\d+_t) \w+(?:\[(\d+)\])?;", source, re.M):
        total += sizes[kind] * int(count or 1)
    return total


def test_ram_bytes_count_every_buffer(tmp_path: Path) -> None:
    """<NAME>_RAM_BYTES equals the generated static buffers, for many models of every kind."""
    import re
    models = [small_cnn(), small_cnn(bits=8), small_rnn(), small_mlp()]
    models += [random_conv_model(np.random.default_rng(s), name=f"c{s}") for s in range(60)]
    models += [random_model(np.random.default_rng(s), name=f"d{s}", int4=True) for s in range(20)]
    for model in models:
        out = tmp_path / model.name
        compile_model(model, target="native", storage="flash", out_dir=out)
        ram = int(re.search(r"_RAM_BYTES (\d+)u", (out / f"{model.name}.h").read_text())[1])
        assert _declared_ram((out / f"{model.name}.c").read_text()) == ram, model.name


def test_target_cnn_fits_the_attiny85_eeprom(tmp_path: Path) -> None:
    """nnmodel compile --target attiny85 --storage eeprom: a 12 + 487 = 499 B image (of 512); the model's
    buffers are exactly the .bss avr-gcc allocates."""
    from nnmodel import save
    from nnmodel.cli import main
    path = save(small_cnn(name="cnn"), tmp_path / "cnn.nnm")
    out = tmp_path / "gen"
    assert main(["compile", str(path), "--target", "attiny85", "--storage", "eeprom", "--out", str(out)]) == 0
    assert (out / "cnn.bin").stat().st_size == HEADER_BYTES + 487 <= 512
    if shutil.which("avr-gcc"):
        obj = tmp_path / "cnn.o"
        subprocess.run(["avr-gcc", "-mmcu=attiny85", "-Os", "-std=c99", "-c", "-I", str(out), "-I",
                        str(REPO / "lib/nnrt/include"), str(out / "cnn.c"), "-o", str(obj)], check=True)
        size = subprocess.run(["avr-size", "-A", str(obj)], capture_output=True, text=True, check=True).stdout
        bss = int(next(line.split()[1] for line in size.splitlines() if line.startswith(".bss")))
        assert bss == 328  # int16 logits: their bound is proven within int16


def test_conv_models_reserve_the_conv_kernels_stack(tmp_path: Path) -> None:
    """The int8 variant keeps an int32 running max (384 B of buffers): with the conv kernels' stack it
    cannot run in 512 B of SRAM, and compile says so instead of producing firmware that overflows."""
    with pytest.raises(NNModelError, match=r"SRAM: needs 528 bytes \(384 model \+ 96 kept .* \+ 48 for the conv"):
        compile_model(small_cnn(bits=8), target="attiny85", storage="progmem", out_dir=tmp_path)


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
                        str(gen), str(REPO / "lib/nnrt/src/nnrt.c"), str(REPO / "nnmodel/hostc/driver.c"),
                        "-o", str(build.exe)], check=True)
        assert build.check() == expected


def test_image_header_layout() -> None:
    image = build_image(b"\x01\x02\x03", 0xA1B2C3D4)
    assert image[:4] == b"NM\x01\x00" and image[4:6] == b"\x03\x00" and image[6:10] == bytes.fromhex("d4c3b2a1")
    assert int.from_bytes(image[10:12], "little") == crc16(image[:10] + image[12:])
    assert crc16(b"123456789") == 0x29B1  # CRC-16/CCITT-FALSE check value


@pytest.mark.parametrize("storage", ["ram", "eeprom"])
@pytest.mark.parametrize("make", [small_rnn, small_cnn])
def test_generated_files_are_deterministic(tmp_path: Path, storage: str, make) -> None:
    a = compile_model(make(), target="native", storage=storage, out_dir=tmp_path / "a")
    b = compile_model(make(), target="native", storage=storage, out_dir=tmp_path / "b")
    assert [p.name for p in a.files] == [p.name for p in b.files]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a.files, b.files))
    if storage == "eeprom":
        assert {p.suffix for p in a.files} >= {".bin", ".eep"}
        assert (tmp_path / "a" / f"{make().name}.bin").stat().st_size == a.footprint.eeprom


def test_int4_packing_and_shifted_biases() -> None:
    """Nibble order (element 2i low, 2i+1 high, odd count padded with 0) and bias (width, shift)."""
    from nnmodel.codegen.layout import bias_encoding, pack_int4
    assert pack_int4(np.array([1, -1, -8, 7, 3])) == bytes([0xF1, 0x78, 0x03])
    assert bias_encoding(np.array([-128 << 5, 127 << 5, 0, 3 << 6]), 4) == (1, 5)
    assert bias_encoding(np.array([-128 << 5, 127 << 5, 0, 3 << 6]), 8) == (2, 0)  # int8 layers: as before
    assert bias_encoding(np.array([300, -2]), 4) == (2, 0)
    assert bias_encoding(np.array([0, 0]), 4) == (1, 0)


def test_shipped_models_keep_their_hash() -> None:
    from nnmodel import load
    from nnmodel.codegen.layout import lay_out
    assert lay_out(load(REPO / "models/mnist_rnn_attiny85.nnm")).model_hash == 0x368691F8
    assert lay_out(load(REPO / "models/mnist_mlp_esp32c3.nnm")).model_hash == 0x3387DB59


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


def test_generated_code_names_the_runtime_api_it_needs(tmp_path: Path) -> None:
    """The generator's API version is nnrt.h's; against another runtime the build stops with an
    #error naming both versions (as nanopb's PB_PROTO_HEADER_VERSION does)."""
    header = (REPO / "lib/nnrt/include/nnrt.h").read_text()
    m = re.search(r"^#define NNRT_API_VERSION (\d+)$", header, re.M)
    assert m and int(m.group(1)) == RUNTIME_API_VERSION
    compile_model(small_rnn(), target="native", storage="ram", out_dir=tmp_path / "gen")
    gen_h = (tmp_path / "gen" / "small_rnn.h").read_text()
    assert f"#define SMALL_RNN_NNRT_API_VERSION {RUNTIME_API_VERSION}" in gen_h
    shutil.copytree(REPO / "lib/nnrt/include", tmp_path / "rt")

    def build(version_line: str) -> subprocess.CompletedProcess:
        (tmp_path / "rt" / "nnrt.h").write_text(header.replace(m.group(0), version_line))
        return subprocess.run([hostc.find_cc(), "-std=c99", "-fsyntax-only", "-I", str(tmp_path / "gen"), "-I",
                               str(tmp_path / "rt"), str(tmp_path / "gen" / "small_rnn.c")],
                              capture_output=True, text=True)

    assert build(m.group(0)).returncode == 0
    older, newer = (build("/* nnmodel 0.1 had no version macro */"),
                    build(f"#define NNRT_API_VERSION {RUNTIME_API_VERSION + 1}"))
    assert older.returncode != 0 and newer.returncode != 0
    assert f"needs nnrt API version {RUNTIME_API_VERSION}; the nnrt.h found has version 1" in older.stderr
    assert (f"needs nnrt API version {RUNTIME_API_VERSION}; the nnrt.h found has a newer version "
            f"(NNRT_API_VERSION > {RUNTIME_API_VERSION})") in newer.stderr


def test_each_layer_is_marked_where_its_weights_start(tmp_path: Path) -> None:
    """A comment names every layer with weights (kind, shape) before the table row holding its first
    byte, with the W() offset of each tensor; the calls carry the same [i] label."""
    model = small_cnn()
    result = compile_model(model, target="native", storage="eeprom", out_dir=tmp_path)
    lines = (tmp_path / f"{model.name}.c").read_text().splitlines()
    table = lines.index(next(line for line in lines if line.startswith("uint8_t small_cnn_image[")))
    end = lines.index("};", table)
    for i, ll in enumerate(result.layout.layers):
        if not ll.offsets:
            continue
        mark = next(k for k in range(table, end) if lines[k].strip().startswith(f"/* [{i}] "))
        rows_before = [line for line in lines[table + 1:mark] if line.strip().startswith("0x")]
        assert len(rows_before) == (HEADER_BYTES + min(ll.offsets.values())) // 16, lines[mark]
        assert all(f"{name} W({off})" in lines[mark] for name, off in ll.offsets.items()), lines[mark]
        assert any(line.strip().startswith(f"/* [{i}] ") for line in lines[end:]), f"layer {i}: no label at its calls"


CROSS = {
    "avr": (["avr-gcc", "-mmcu=attiny85", "-Os"], "attiny85", ("eeprom", "progmem")),
    "rv32": (["riscv64-unknown-elf-gcc", "-march=rv32imc", "-mabi=ilp32", "--specs=picolibc.specs", "-O2"],
             "esp32c3", ("flash", "ram")),
    "host": (["gcc", "-O2"], "native", ("ram", "eeprom")),
    # the host's vector kernels (nnrt/arch/x86/dense.h): compiled whatever this CPU runs
    "host-avx2": (["gcc", "-O3", "-mavx2"], "native", ("ram",)),
    "host-avx512-vnni": (["gcc", "-O3", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni"], "native", ("ram",)),
    # ARMv7E-M (DSP instructions) and ARMv6-M (RP2040-class: no DSP, no divide, Thumb-1 mostly)
    "cortex-m4": (["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-O2"], "cortex-m", ("flash", "ram")),
    "cortex-m0plus": (["arm-none-eabi-gcc", "-mcpu=cortex-m0plus", "-mthumb", "-Os"], "cortex-m", ("flash", "ram")),
}


@pytest.mark.parametrize("arch", sorted(CROSS))
def test_runtime_compiles_warning_free(tmp_path: Path, arch: str) -> None:
    """lib/nnrt plus generated code under -std=c99 -Wall -Wextra -Werror -pedantic on every cross compiler."""
    cc, target, storages = CROSS[arch]
    if not shutil.which(cc[0]):
        pytest.fail(f"{cc[0]} is not installed (the README's test command installs it)")
    for storage in storages:
        models = [small_rnn(lut=target != "attiny85"), small_cnn(name="cnn4")]
        if not (target == "attiny85" and storage == "eeprom"):  # an MLP's weights exceed 512 B
            models.append(small_mlp(hidden=4 if target == "attiny85" else 16))
        # GRU (reset_after both ways) and LSTM, per gate and per gate row: nnrt/ops/gates.h, gru.h, lstm.h
        small = {"max_units": 3, "max_cols": 6} if target == "attiny85" else {}
        models += [make(np.random.default_rng(s), name=f"{make.__name__[7:11]}{s}", **small)
                   for make in (random_gru_model, random_lstm_model) for s in range(4)]
        if target != "attiny85":  # int8 per channel, and random conv/pool/int4 models of every kind
            models.append(small_cnn(name="cnn8", bits=8, per_channel=True))
            models += [random_conv_model(np.random.default_rng(s), name=f"rc{s}") for s in range(5000, 5012)]
            models += [random_model(np.random.default_rng(s), name=f"ri{s}", int4=True) for s in range(7000, 7004)]
        for model in models:
            out = tmp_path / f"{storage}-{model.name}"
            compile_model(model, target=target, storage=storage, out_dir=out)
            for src in (out / f"{model.name}.c", REPO / "lib/nnrt/src/nnrt.c"):
                subprocess.run([*cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c", "-I", str(out),
                                "-I", str(REPO / "lib/nnrt/include"), str(src), "-o", str(out / "x.o")], check=True)
