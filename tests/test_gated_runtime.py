"""The C runtime of the gated recurrences (lib/nnrt/include/nnrt/ops/gates.h, gru.h, lstm.h).

- The gate arithmetic against nnmodel/ops/gates.py and nnmodel/quant.py, exhaustively where the ranges
  allow, on the host and on the ATtiny85 in simavr (whose gate path is multiplier-free shift-and-add):
  tests/gates_check.c prints one digest line per family (count, sum of values, sum of running sums, both
  mod 2^32), replayed here in numpy. A mismatch names the family; gates_check.c built with -DGATES_DUMP
  prints every value to find it.
- Random GRU and LSTM models (tests/randmodels.py) against nnmodel.reference: on the host, in simavr and
  in QEMU (RV32IMC, Cortex-M4), with a check that they reach every saturation.
- The ATtiny85 firmware of a GRU/LSTM model calls no libgcc multiply in its gate path.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import REPO

from nnmodel.model import Model
from nnmodel.ops import gates
from nnmodel.ops.gru import GRU
from nnmodel.quant import requantize

CHECK_C = REPO / "tests" / "gates_check.c"
NNRT = REPO / "lib" / "nnrt"
SIM_INCLUDE = REPO / "platformio" / "platforms" / "tinyavr-sim" / "include"
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
MASK32 = (1 << 32) - 1


@dataclass(frozen=True)
class Plan:
    """What one build of gates_check.c covers (its -D options)."""

    cell_stride: int  # the LSTM cell family's step over c in -32767..32767
    qmul32_cases: int
    requant_cases: int
    requant_units: int

    def defines(self) -> list[str]:
        return [f"-DCELL_STRIDE={self.cell_stride}", f"-DQMUL32_CASES={self.qmul32_cases}u",
                f"-DREQUANT_CASES={self.requant_cases}u", f"-DREQUANT_UNITS={self.requant_units}u"]


HOST = Plan(cell_stride=1, qmul32_cases=2000, requant_cases=400, requant_units=40)
# The ATtiny85: 512 B of SRAM bound the requantization cases; simavr runs ~10^7-10^8 cycles a second.
AVR = Plan(cell_stride=129, qmul32_cases=300, requant_cases=300, requant_units=8)


# ------------------------------------------------------------------------------------- digests
class Digest:
    """sum1 = Σ v, sum2 = Σ of the running sum1s, mod 2^32, over values added in chunks."""

    def __init__(self) -> None:
        self.count = self.sum1 = self.sum2 = 0

    def add(self, values: np.ndarray) -> None:
        v = np.asarray(values, np.int64).ravel().astype(np.uint64)  # two's complement, wraps mod 2^64
        run = np.cumsum(v, dtype=np.uint64)
        n = len(v)
        self.sum2 = (self.sum2 + n * self.sum1 + int(np.sum(run, dtype=np.uint64))) & MASK32
        self.sum1 = (self.sum1 + int(run[-1]) if n else self.sum1) & MASK32
        self.count += n

    def line(self) -> tuple[int, int, int]:
        return self.count, self.sum1, self.sum2


class XorShift32:
    """The C program's generator: xorshift32 (13, 17, 5)."""

    def __init__(self, seed: int = 2463534242) -> None:
        self.state = seed

    def next(self) -> int:
        s = self.state
        s ^= (s << 13) & MASK32
        s ^= s >> 17
        s ^= (s << 5) & MASK32
        self.state = s
        return s


def _signed32(v: int) -> int:
    return v - (1 << 32) if v & (1 << 31) else v


# ------------------------------------------------------------------------------------- families
def _qmul32_inputs(rng: XorShift32, cases: int) -> np.ndarray:
    values = [0, 1, -1, 127, -128, 2**31 - 1, -2**31, -129]
    for _ in range(cases):
        v = _signed32(rng.next())
        values.append(v >> (rng.next() & 31))  # Python's >> floors, as the C's explicit floor shift
    return np.array(values, np.int64)


def _lstm_cells(stride: int) -> Iterator[np.ndarray]:
    """(c', h') interleaved per cell, in the C program's order, a block of c values at a time."""
    f_pre = np.arange(-127, 128, dtype=np.int64)
    f = gates.sigm_q7(f_pre)
    cs = np.arange(-32767, 32768, stride, dtype=np.int64)
    k0 = 0
    for start in range(0, len(cs), 1024):
        c = np.repeat(cs[start:start + 1024], 255)
        k = k0 + np.arange(len(c), dtype=np.int64)
        k0 += len(c)
        i = gates.sigm_q7(k * 37 % 255 - 127)
        g = gates.tanh_q7((k * 101 + 50) % 255 - 127)
        o = gates.sigm_q7((k * 19 + 200) % 255 - 127)
        c_new = gates.lstm_cell(np.tile(f, len(c) // 255), i, g, c)
        h_new = gates.lstm_output(o, c_new)
        yield np.stack([c_new, h_new], axis=1)


def _requant(rng: XorShift32, cases: int, max_units: int) -> tuple[Digest, Digest]:
    out, inputs = Digest(), Digest()
    for _ in range(cases):
        units = 1 + rng.next() % max_units
        blocks = 1 + rng.next() % 4
        per_channel = rng.next() & 1
        pairs = blocks * units if per_channel else blocks
        per = 1 if per_channel else units
        acc, mult, shift = [], [], []
        for _k in range(pairs):
            m = 1 + rng.next() % 32767
            e = m.bit_length()
            abits = rng.next() % (31 - e)
            s = min(max(abits + e - 9 + rng.next() % 5, 0), 31)
            for _i in range(per):
                mag = rng.next() & ((1 << abits) - 1) if abits else 0
                if rng.next() % 3 == 0:
                    mag >>= rng.next() % (abits + 1)
                acc.append(-mag if rng.next() & 1 else mag)
                mult.append(m)
                shift.append(s)
        a = np.array(acc, np.int64)
        inputs.add(a)
        out.add(np.clip(requantize(a, np.array(mult), np.array(shift)), -gates.PRE_MAX, gates.PRE_MAX))
    return out, inputs


def expected(plan: Plan) -> dict[str, tuple[int, int, int]]:
    """Every family's digest from nnmodel/ops/gates.py (and quant.requantize), in the C program's order."""
    pre = np.arange(-127, 128, dtype=np.int64)
    found: dict[str, tuple[int, int, int]] = {}
    for name, values in (("tanh", gates.tanh_q7(pre)), ("sigm", gates.sigm_q7(pre)),
                         ("qmul16", gates.qmul(np.arange(129)[:, None], np.arange(-255, 256)[None, :]))):
        d = Digest()
        d.add(values)
        found[name] = d.line()
    rng = XorShift32()
    d = Digest()
    d.add(gates.qmul(np.arange(129)[None, :], _qmul32_inputs(rng, plan.qmul32_cases)[:, None]))
    found["qmul32"] = d.line()
    d = Digest()
    for block in _lstm_cells(plan.cell_stride):
        d.add(block)
    found["lstm_cell"] = d.line()
    out, inputs = _requant(rng, plan.requant_cases, plan.requant_units)
    found["requant"], found["requant_inputs"] = out.line(), inputs.line()
    return found


LINE = re.compile(r"^=?(\w+) (\d+) (\d+) (\d+)$")


def parse(text: str) -> dict[str, tuple[int, int, int]]:
    return {m.group(1): (int(m.group(2)), int(m.group(3)), int(m.group(4)))
            for m in map(LINE.match, text.splitlines()) if m}


def _compare(got: dict[str, tuple[int, int, int]], want: dict[str, tuple[int, int, int]]) -> list[str]:
    return [f"{name}: C {got.get(name)} vs gates.py {line}" for name, line in want.items() if got.get(name) != line]


# ------------------------------------------------------------------------------------- tests
def test_gate_arithmetic_on_the_host(tmp_path: Path) -> None:
    """All 255 pre-activations of tanh and sigm; qmul for every gate 0..128 times every a in -255..255 and
    2,008 int32 values; the LSTM cell and state for every f gate times every int16 cell; 400 gate
    requantizations (per gate and per row, S 0..31): C == gates.py."""
    exe = tmp_path / "gates_check"
    subprocess.run(["gcc", *STRICT, "-pedantic", "-O2", *HOST.defines(), "-I", str(NNRT / "include"), str(CHECK_C),
                    str(NNRT / "src" / "nnrt.c"), "-o", str(exe)], check=True)
    got = parse(subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout)
    want = expected(HOST)
    print("host:", {k: v[0] for k, v in got.items()})
    assert not _compare(got, want), _compare(got, want)


def _avr_build(tmp: Path, name: str, extra: list[str]) -> Path:
    for tool in ("avr-gcc", "avr-objdump", "gcc"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is not installed (scripts/setup.sh installs it)")
    elf = tmp / name
    subprocess.run(["avr-gcc", "-mmcu=attiny85", "-Os", "-ffunction-sections", "-fdata-sections", "-Wl,--gc-sections",
                    "-Wl,--section-start=.mmcu=0x910000", *STRICT, *extra, "-I", str(NNRT / "include"),
                    "-I", str(SIM_INCLUDE), str(CHECK_C), str(NNRT / "src" / "nnrt.c"), "-o", str(elf)], check=True)
    return elf


@pytest.fixture(scope="module")
def simavr_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    exe = tmp_path_factory.mktemp("harness") / "simavr_run"
    subprocess.run(["gcc", "-std=c99", "-O2", "-o", str(exe), str(REPO / "platformio/sim/simavr_run.c"), "-lsimavr"],
                   check=True)
    return exe


def test_gate_arithmetic_on_the_attiny85(tmp_path: Path, simavr_run: Path) -> None:
    """The same families in simavr (the ATtiny85's shift-and-add gate path), the LSTM cells on every 129th
    int16 cell, fewer int32 qmuls and requantization cases of at most 8 units (512 B of SRAM)."""
    elf = _avr_build(tmp_path, "gates.elf", AVR.defines())
    run = subprocess.run([str(simavr_run), "-m", "attiny85", "-f", "16500000", "-c", "4000000000", str(elf)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-300:] + run.stderr[-300:]
    got = parse(run.stdout)
    want = expected(AVR)
    print("attiny85:", {k: v[0] for k, v in got.items()}, run.stderr.strip().splitlines()[-1:])
    assert not _compare(got, want), _compare(got, want)


# ------------------------------------------------------------------------------------- random models
N_HOST_MODELS = 320  # GRU (reset_after either way) and LSTM models, half each, × INPUTS inputs
INPUTS = 40
BATCH = 16  # models linked into one host executable (one compiler run instead of sixteen)
N_SIM_MODELS = 32  # per instruction set
STORAGES = ("ram", "flash", "progmem", "eeprom")

BATCH_DRIVER = """#include <stdio.h>
#include <stdint.h>
{includes}
typedef uint16_t (*classify_fn)(const uint8_t *image, int32_t *logits);
static const classify_fn models[] = {{{fns}}};
static const unsigned sizes[][2] = {{{sizes}}}; /* input bytes, classes */
int main(int argc, char **argv)
{{
    static uint8_t image[28 * 28];
    int32_t logits[16];
    unsigned k, i, j;
    FILE *in;
    if (argc != 2 || (in = fopen(argv[1], "rb")) == NULL) {{
        return 2;
    }}
    for (k = 0; k < sizeof models / sizeof models[0]; k++) {{
        for (i = 0; i < {inputs}u; i++) {{
            if (fread(image, 1, sizes[k][0], in) != sizes[k][0]) {{
                return 3;
            }}
            models[k](image, logits);
            for (j = 0; j < sizes[k][1]; j++) {{
                printf("%ld ", (long)logits[j]);
            }}
            printf("\\n");
        }}
    }}
    fclose(in);
    return 0;
}}
"""


def random_gated(seed: int, **sizes: int) -> tuple[np.ndarray, Model]:
    """The random GRU (even seeds) or LSTM (odd seeds) model of a seed and its INPUTS inputs."""
    from randmodels import random_gru_model, random_images, random_lstm_model

    rng = np.random.default_rng(seed)
    make = random_gru_model if seed % 2 == 0 else random_lstm_model
    model = make(rng, name=f"{'gru' if seed % 2 == 0 else 'lstm'}{seed}", **sizes)
    return random_images(rng, model, INPUTS), model


def _host_batch(seeds: list[int], work: Path, flags: tuple[str, ...] = ("-O1",)) -> tuple[int, int]:
    """(models, mismatching inputs) of the random gated models of `seeds` built into one executable
    (with `flags`), each with its own weight storage (ram, flash, progmem, eeprom by seed)."""
    from nnmodel import reference
    from nnmodel.codegen import compile_model
    from nnmodel.hostc import WARNINGS, find_cc

    runs = [random_gated(seed) for seed in seeds]
    dirs = []
    for seed, (_, model) in zip(seeds, runs):
        gen = work / model.name
        compile_model(model, target="native", storage=STORAGES[seed // 2 % 4], out_dir=gen)
        dirs.append(gen)
    driver = work / "batch.c"
    driver.write_text(BATCH_DRIVER.format(
        includes="\n".join(f'#include "{m.name}.h"' for _, m in runs),
        fns=", ".join(f"{m.name}_classify" for _, m in runs),
        sizes=", ".join(f"{{{m.input.size}u, {m.n_classes}u}}" for _, m in runs), inputs=INPUTS))
    np.concatenate([images.reshape(-1) for images, _ in runs]).astype(np.uint8).tofile(work / "images.u8")
    exe = work / "batch"
    includes = [arg for d in (*dirs, NNRT / "include") for arg in ("-I", str(d))]
    build = subprocess.run([find_cc(), *WARNINGS, *flags, *includes, str(driver), *(str(d / f"{m.name}.c") for d, (_, m)
                            in zip(dirs, runs)), str(NNRT / "src" / "nnrt.c"), "-o", str(exe)],
                           capture_output=True, text=True)
    assert build.returncode == 0, [line for line in build.stderr.splitlines() if "error" in line][:3]
    lines = subprocess.run([str(exe), str(work / "images.u8")], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    bad = 0
    for k, (images, model) in enumerate(runs):
        got = np.array([[int(v) for v in line.split()] for line in lines[k * INPUTS:(k + 1) * INPUTS]])
        bad += int(np.sum(np.any(got != reference.run(model, images), axis=1)))
    return len(runs), bad


def test_random_gated_models_bit_identical_on_the_host(tmp_path: Path) -> None:
    """N_HOST_MODELS random GRU and LSTM models (saturating gates and cells included) × 40 inputs: the
    generated C and nnmodel.reference agree on every logit."""
    from concurrent.futures import ThreadPoolExecutor

    batches = [list(range(b, min(b + BATCH, N_HOST_MODELS))) for b in range(0, N_HOST_MODELS, BATCH)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda seeds: _host_batch(seeds, _mkdir(tmp_path / str(seeds[0]))), batches))
    models, bad = sum(n for n, _ in results), sum(b for _, b in results)
    print(f"host: {models} random GRU/LSTM models x {INPUTS} inputs, {bad} mismatching inputs")
    assert models == N_HOST_MODELS and bad == 0


def test_random_gated_models_clean_under_sanitizers(tmp_path: Path) -> None:
    """Sixteen of them built with -fsanitize=address,undefined (any report aborts the run): 0 mismatches."""
    sanitize = ("-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=all")
    models, bad = _host_batch(list(range(BATCH)), tmp_path, sanitize)
    assert models == BATCH and bad == 0


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_random_gated_models_reach_every_saturation(monkeypatch: pytest.MonkeyPatch) -> None:
    """The equivalence above means something only if its models reach the edges: pre-activations
    clamped at +127 and -127, sigmoid gates at exactly 0 and 128, LSTM cells clamped at ±32767, GRUs
    both ways of reset_after, per-gate and per-row requantization, stacked and mixed layers, behind a
    pool of the image or not; and if
    most models' logits still depend on the input."""
    from nnmodel import reference
    from nnmodel.ops import gated, gates, lstm

    seen: set[tuple] = set()

    def clamp_pre(p: np.ndarray) -> np.ndarray:
        seen.update({("pre", 127)} if np.any(p > 127) else set())
        seen.update({("pre", -127)} if np.any(p < -127) else set())
        return gates.clamp_pre(p)

    def sigm_q7(p: np.ndarray) -> np.ndarray:
        g = gates.sigm_q7(p)
        seen.update(("gate", int(v)) for v in (0, 128) if np.any(g == v))
        return g

    def lstm_cell(f: np.ndarray, i: np.ndarray, g: np.ndarray, c: np.ndarray) -> np.ndarray:
        out = gates.lstm_cell(f, i, g, c)
        seen.update(("cell", int(v)) for v in (-32767, 32767) if np.any(out == v))
        return out

    monkeypatch.setattr(gated, "clamp_pre", clamp_pre)
    monkeypatch.setattr(gated, "sigm_q7", sigm_q7)
    monkeypatch.setattr(lstm, "lstm_cell", lstm_cell)
    varied = 0
    for seed in range(N_HOST_MODELS):
        images, model = random_gated(seed)
        varied += len({tuple(row) for row in reference.run(model, images)}) >= INPUTS // 4
        front = [layer for layer in model.layers if layer.kind in ("gru", "lstm")]
        seen.update(("reset_after", layer.reset_after) for layer in front if layer.kind == "gru")
        seen.update(("per_row", layer.acc_scale.size > (3 if layer.kind == "gru" else 4)) for layer in front)
        seen.add(("stack", tuple(layer.kind for layer in front)))
        seen.add(("pool", model.layers[0].kind == "maxpool2d"))
    want = {("pre", 127), ("pre", -127), ("gate", 0), ("gate", 128), ("cell", 32767), ("cell", -32767),
            ("reset_after", True), ("reset_after", False), ("per_row", True), ("per_row", False),
            ("stack", ("gru", "gru")), ("stack", ("gru", "lstm")), ("stack", ("lstm", "lstm")),
            ("stack", ("lstm", "gru")), ("pool", True), ("pool", False)}
    print(f"{varied} of {N_HOST_MODELS} models give at least {INPUTS // 4} distinct logit rows for {INPUTS} inputs")
    assert want <= seen, sorted(want - seen)
    assert varied >= N_HOST_MODELS // 2  # most models' logits depend on their input, not only on saturation


# ATtiny85: 512 B of SRAM (3U or 4U int32 accumulators) and of EEPROM (the weights) bound the sizes.
SIM_SIZES = {"avr": {"max_units": 6, "max_cols": 12, "max_rows": 16}, "rv32": {}, "cortexm": {}}


@pytest.mark.parametrize("arch", ["avr", "rv32", "cortexm"])
def test_random_gated_models_on_the_target_instruction_set(tmp_path: Path, arch: str, simavr_run: Path) -> None:
    """N_SIM_MODELS random GRU and LSTM models per instruction set, 4 inputs each, against the reference:
    the ATtiny85 in simavr (weights in EEPROM and PROGMEM: the multiplier-free gate path), RV32IMC and
    Cortex-M4 in QEMU (weights in flash and RAM). Models that do not fit the chip are skipped over."""
    import test_simulators as sims

    from nnmodel import NNModelError, reference
    from nnmodel.codegen import compile_model

    tool: dict[str, Any] = sims.TOOLS[arch]
    for program in (tool["cc"][0], tool["sim"]):
        if not shutil.which(program):
            pytest.fail(f"{program} is not installed (scripts/setup.sh installs it)")
    ran = mismatched = seed = 0
    kinds: dict[str, int] = {}
    while ran < N_SIM_MODELS and seed < 20 * N_SIM_MODELS:
        images, model = random_gated(9000 + seed, **SIM_SIZES[arch])
        images = images[:4]
        storage = tool["storages"][seed // 2 % 2]
        seed += 1
        work = tmp_path / model.name
        try:
            compile_model(model, target=tool["target"], storage=storage, out_dir=work)
        except NNModelError:
            continue  # does not fit the chip: refused at generation, as it should be
        (work / "images.h").write_text(sims.IMAGES_H.format(pixels=",".join(map(str, images.reshape(-1)))))
        (work / "main.c").write_text(sims.FIRMWARE.format(count=len(images)))
        elf = work / "firmware.elf"
        build = subprocess.run([*tool["cc"], *STRICT, "-I", str(work), "-I", str(NNRT / "include"), "-I",
                                str(tool["include"]), str(work / "main.c"), str(work / f"{model.name}.c"),
                                *sims.RUNTIME_SOURCES, "-o", str(elf)], capture_output=True, text=True)
        if build.returncode != 0 and "overflowed" in build.stderr:
            continue  # code + weights + test images exceed 8 KB of flash
        assert build.returncode == 0, build.stderr
        run = subprocess.run(sims._runner(arch, elf, simavr_run), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, text=True, timeout=120)
        lines = [line for line in run.stdout.splitlines() if sims.LOGITS.match(line)]
        assert run.returncode == 0, f"{model.name} ({storage}): exit {run.returncode}: {run.stdout[-300:]}"
        got = np.array([[int(v) for v in line.split()] for line in lines])
        mismatched += int(got.shape != (len(images), model.n_classes) or np.any(got != reference.run(model, images)))
        ran += 1
        pooled = "pool+" if model.layers[0].kind == "maxpool2d" else ""
        key = f"{pooled}{next(x.kind for x in model.layers if x.kind in ('gru', 'lstm'))}/{storage}"
        kinds[key] = kinds.get(key, 0) + 1
    print(f"{arch}: {ran} random GRU/LSTM models ({kinds}), {mismatched} differ from the reference")
    assert ran == N_SIM_MODELS and mismatched == 0, f"{mismatched} of {ran} models differ from the reference"


def _gated_firmware_model(kind: str, per_channel: bool, reset_after: bool, seed: int) -> Model:
    """A GRU/LSTM of 8 units over 14-pixel rows (14 rows) and a dense head, random weights."""
    from randmodels import _activation, _dense, _finish, _gated_layer

    from nnmodel.model import InputSpec
    from nnmodel.quant import INPUT_MAX

    rng = np.random.default_rng(seed)
    layer = _gated_layer(rng, kind, 14, 8, INPUT_MAX, per_channel)
    while isinstance(layer, GRU) and layer.reset_after != reset_after:
        layer = _gated_layer(rng, kind, 14, 8, INPUT_MAX, per_channel)
    head = _dense(rng, 8, 10, _activation(rng, True), per_channel, True, 8)
    _finish(rng, head, gates.PRE_MAX, per_channel, True, 8)
    name = f"{kind}{int(per_channel)}{int(reset_after)}"
    return Model(name, InputSpec(14, 14, 1 / 255), [layer, head], [f"c{k}" for k in range(10)], {})


@pytest.mark.parametrize("kind, per_channel, reset_after", [("gru", False, True), ("gru", True, False),
                                                            ("lstm", False, False), ("lstm", True, False)])
def test_attiny85_gate_path_calls_no_multiply(tmp_path: Path, simavr_run: Path, kind: str, per_channel: bool,
                                              reset_after: bool) -> None:
    """The ATtiny85 has no MUL: in a GRU/LSTM firmware (weights in PROGMEM) neither the generated step
    (feed_row, the gate step inlined) nor any nnrt function calls libgcc's __mulhi3/__mulsi3/...; the
    firmware still matches the reference. Prints the gate functions' sizes and the stack high-water."""
    import test_simulators as sims

    from nnmodel import reference
    from nnmodel.codegen import compile_model

    model = _gated_firmware_model(kind, per_channel, reset_after, seed=3)
    work = tmp_path / model.name
    compile_model(model, target="attiny85", storage="progmem", out_dir=work)
    images = np.random.default_rng(0).integers(0, 256, (2, 14, 14)).astype(np.uint8)
    (work / "images.h").write_text(sims.IMAGES_H.format(pixels=",".join(map(str, images.reshape(-1)))))
    (work / "main.c").write_text(sims.FIRMWARE.format(count=len(images)))
    tool: dict[str, Any] = sims.TOOLS["avr"]
    elf = work / "firmware.elf"
    subprocess.run([*tool["cc"], *STRICT, "-I", str(work), "-I", str(NNRT / "include"), "-I", str(tool["include"]),
                    str(work / "main.c"), str(work / f"{model.name}.c"), *sims.RUNTIME_SOURCES, "-o", str(elf)],
                   check=True)
    text = subprocess.run(["avr-objdump", "-d", str(elf)], capture_output=True, text=True, check=True).stdout
    sizes = {parts[3]: int(parts[1], 16) for parts in (line.split() for line in subprocess.run(
        ["avr-nm", "-S", str(elf)], capture_output=True, text=True, check=True).stdout.splitlines()) if len(parts) == 4}
    checked, calls = [], []
    for body in re.split(r"\n(?=[0-9a-f]+ <)", text):
        head = re.match(r"[0-9a-f]+ <([^>]+)>:", body)
        if head and (head.group(1).startswith("nnrt_") or head.group(1).endswith("_feed_row")):
            checked.append(head.group(1))
            calls += [f"{head.group(1)} -> {m}" for m in re.findall(r"call\s.*<(__mul\w*)", body)]
    run = subprocess.run([str(simavr_run), "-m", "attiny85", "-f", "16500000", str(elf)], capture_output=True,
                         text=True, timeout=120)
    got = np.array([[int(v) for v in line.split()] for line in run.stdout.splitlines() if sims.LOGITS.match(line)])
    print(model.name, {f: sizes.get(f) for f in checked}, run.stderr.strip().splitlines()[-1])
    assert any(f.startswith("nnrt_gates_requant") for f in checked) and f"{model.name}_feed_row" in checked
    assert not calls, calls
    assert run.returncode == 0 and np.array_equal(got, reference.run(model, images))
