"""The host's vector kernels (lib/nnrt/include/nnrt/arch/x86/dense.h) equal the portable ones:
random models built with the AVX-512 VNNI path (-march=native), the AVX2 path (-mavx2, no AVX-512)
and the portable reference (-DNNRT_PORTABLE), all against the numpy reference. Wide layers cover
what the small random models of test_codegen.py do not: several 16/32-input blocks, a last block
that overlaps, rows past the vector limit, output counts around multiples of 8."""
from __future__ import annotations

import platform
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from randmodels import (
    _activation,
    _dense,
    _finish,
    random_conv_model,
    random_gated_model,
    random_images,
    random_model,
)
from test_codegen import _check_random

from nnmodel import hostc, reference
from nnmodel.model import InputSpec, Model
from nnmodel.quant import INPUT_MAX

PATHS = {"vnni": ["-O3", "-march=native"], "avx2": ["-O3", "-mavx2", "-mno-avx512f"],
         "portable": ["-O3", "-march=native", "-DNNRT_PORTABLE"]}
NEEDS = {"vnni": ("avx512_vnni", "avx512bw", "avx512vl"), "avx2": ("avx2",), "portable": ()}
N_RANDOM = 20
WIDE_INPUTS = (16, 17, 28, 31, 32, 33, 47, 64, 100, 784, 1023, 1024, 1025, 1100)


def _cpu_has(flags: tuple[str, ...]) -> str:
    """'' when this machine runs code built for the flags, else why not."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return f"the vector kernels are x86 ({platform.machine()} here)"
    cpu = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    missing = [f for f in flags if f not in cpu.split()]
    return f"this CPU lacks {', '.join(missing)}" if missing else ""


def wide_model(rng: np.random.Generator, n_in: int, name: str) -> Model:
    """One row of n_in pixels through 1-3 dense layers of 5..130 outputs (int8, random activations)."""
    layers, width, in_max = [], n_in, INPUT_MAX
    sizes = [int(rng.choice([5, 8, 9, 16, 23, 64, 130])) for _ in range(int(rng.integers(1, 4)))]
    per_channel = bool(rng.random() < 0.5)
    for i, out in enumerate(sizes):
        last = i == len(sizes) - 1
        layer = _dense(rng, width, out, _activation(rng, last), per_channel, last, 8)
        in_max = _finish(rng, layer, in_max, per_channel, last, 8)
        layers.append(layer)
        width = out
    return Model(name, InputSpec(1, n_in, 1 / 255), layers, [f"c{k}" for k in range(width)], {"random": True})


def _check_all(tmp_path: Path, path: str, make, first_seed: int) -> None:
    """N_RANDOM models of `make` built for the path, 40 inputs each: 0 mismatches with the reference."""
    why = _cpu_has(NEEDS[path])
    if why:
        pytest.skip(why)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda s: _check_random(s, tmp_path / str(s), make, PATHS[path]),
                                range(first_seed, first_seed + N_RANDOM)))
    assert len(results) == N_RANDOM and sum(m for m, _ in results) == 0


@pytest.mark.parametrize("path", sorted(PATHS))
def test_vector_kernels_equal_the_reference_on_random_models(tmp_path: Path, path: str) -> None:
    _check_all(tmp_path, path, random_model, 9000)


def wide_conv(rng: np.random.Generator, name: str) -> Model:
    return random_conv_model(rng, name=name, max_out=20)


@pytest.mark.parametrize("path", sorted(PATHS))
def test_conv_models_equal_the_reference_at_O3_native(tmp_path: Path, path: str) -> None:
    """The conv kernels' eight-channel passes (lib/nnrt/include/nnrt/ops/conv2d.h), inlined into each
    stage, under the host's vectoriser too (GCC has miscompiled int8 dot products at -O3 -march=native)."""
    _check_all(tmp_path, path, wide_conv, 9500)


def wide_gated(rng: np.random.Generator, name: str) -> Model:
    return random_gated_model(rng, str(rng.choice(["gru", "lstm"])), name=name, max_units=24)


@pytest.mark.parametrize("path", sorted(PATHS))
def test_gated_models_equal_the_reference_at_O3_native(tmp_path: Path, path: str) -> None:
    """GRU/LSTM steps (nnrt/ops/gates.h, gru.h, lstm.h: the n rows' product through the vector
    kernels, the gate loops inlined into feed_row) under the host's vectoriser."""
    _check_all(tmp_path, path, wide_gated, 9700)


@pytest.mark.parametrize("path", sorted(PATHS))
def test_vector_kernels_equal_the_reference_on_wide_layers(tmp_path: Path, path: str) -> None:
    why = _cpu_has(NEEDS[path])
    if why:
        pytest.skip(why)

    def check(i: int) -> int:
        rng = np.random.default_rng(100 + i)
        model = wide_model(rng, WIDE_INPUTS[i], f"wide{i}")
        images = random_images(rng, model, 40)
        got = hostc.build(model, tmp_path / str(i), opt="-O3", extra_flags=PATHS[path][1:]).logits(images)
        return int(np.sum(np.any(got != reference.run(model, images), axis=1)))

    with ThreadPoolExecutor(max_workers=2) as pool:
        mismatches = list(pool.map(check, range(len(WIDE_INPUTS))))
    assert mismatches == [0] * len(WIDE_INPUTS)
