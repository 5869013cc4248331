"""The C gate arithmetic of the gated recurrences (lib/nnrt/include/nnrt/ops/gates.h, lstm.h) against
nnmodel/ops/gates.py and nnmodel/quant.py, exhaustively where the ranges allow, on the host and on the
ATtiny85 in simavr (whose gate path is multiplier-free shift-and-add).

tests/gates_check.c prints one digest line per family (count, sum of values, sum of running sums, both
mod 2^32); this file replays every family in numpy and compares. A mismatch names the family; gates_check.c
built with -DGATES_DUMP prints every value to find it.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

from nnmodel.ops import gates
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
def simavr_run(tmp_path_factory) -> Path:
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
