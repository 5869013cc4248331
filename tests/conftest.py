"""Shared fixtures: the MNIST folder CI provides, and small models built in memory."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ helpers: randmodels, literal_reference

from nnmodel.model import Model
from nnmodel.quantize import FloatLayer, quantize_model

REPO = Path(__file__).resolve().parents[1]
MNIST_DIR = REPO.parent / "shared" / "mnist"


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """nnmodel's wheel, built once (hatchling is a pinned test tool: no build isolation, no download)."""
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist),
                    str(REPO)], cwd=dist, check=True, capture_output=True)
    return next(dist.glob("nnmodel-*.whl"))


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST not found at {MNIST_DIR}")
    return MNIST_DIR


def small_rnn(seed: int = 0, name: str = "small_rnn", lut: bool = True) -> Model:
    """28→5→8→10, the seed's shape with random weights; the second layer's tanh LUT (256 B) is optional."""
    rng = np.random.default_rng(seed)
    layers = [
        FloatLayer("rnn", {"w_ih": rng.normal(0, .3, (5, 28)), "w_hh": rng.normal(0, .3, (5, 5)),
                           "b": rng.normal(0, .1, 5)}, "hardtanh"),
        FloatLayer("rnn", {"w_ih": rng.normal(0, .3, (8, 5)), "w_hh": rng.normal(0, .3, (8, 8)),
                           "b": rng.normal(0, .1, 8)}, "lut" if lut else "hardtanh",
                   lut_function="tanh", lut_in_scale=4 / 128),
        FloatLayer("dense", {"w": rng.normal(0, .3, (10, 8)), "b": rng.normal(0, .1, 10)}, "none"),
    ]
    return quantize_model(name, layers)


def small_mlp(seed: int = 0, name: str = "small_mlp", hidden: int = 32) -> Model:
    rng = np.random.default_rng(seed)
    layers = [
        FloatLayer("dense", {"w": rng.normal(0, .05, (hidden, 784)), "b": rng.normal(0, .1, hidden)}, "relu",
                   out_scale=0.05),
        FloatLayer("dense", {"w": rng.normal(0, .3, (10, hidden)), "b": rng.normal(0, .1, 10)}, "none"),
    ]
    return quantize_model(name, layers, per_channel=True)


@pytest.fixture
def rnn_model() -> Model:
    return small_rnn()


@pytest.fixture
def mlp_model() -> Model:
    return small_mlp()


def sigint_by_default() -> None:
    """preexec_fn for a child the test stops with SIGINT (Ctrl-C): a shell that starts the test run in
    the background (`cmd &`) ignores SIGINT, the child would inherit that, and Python would then
    install no KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
