"""The example data sets in data/: each generator in scripts/data/ writes the committed file byte for byte,
and each file holds what data/README.md says (shapes, columns, labels, ranges)."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
SCRIPTS = REPO / "scripts" / "data"
FILES = {"breast_cancer": "breast_cancer.csv", "digits": "digits.npz", "thermistor": "thermistor.csv",
         "gestures": "gestures.npz"}


def generate(name: str, out: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run scripts/data/NAME.py --out OUT from another folder than the repository."""
    return subprocess.run([sys.executable, str(SCRIPTS / f"{name}.py"), "--out", str(out)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.mark.parametrize("name", sorted(FILES))
def test_generator_reproduces_committed_file(name: str, tmp_path: Path) -> None:
    out = tmp_path / FILES[name]
    run = generate(name, out, tmp_path)
    assert run.returncode == 0, run.stderr
    assert out.read_bytes() == (DATA / FILES[name]).read_bytes(), \
        f"scripts/data/{name}.py no longer writes data/{FILES[name]}: rerun it and update data/README.md"


def test_out_may_name_a_folder(tmp_path: Path) -> None:
    run = generate("thermistor", tmp_path, tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "thermistor.csv").read_bytes() == (DATA / "thermistor.csv").read_bytes()


def test_files_are_small_and_documented() -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for name, file in FILES.items():
        assert (DATA / file).stat().st_size < 600_000
        assert f"scripts/data/{name}.py" in readme and f"data/{file}" in readme


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def test_breast_cancer() -> None:
    from sklearn.datasets import load_breast_cancer

    header, rows = read_csv(DATA / "breast_cancer.csv")
    assert len(header) == 31 and header[0] == "mean_radius" and header[-1] == "diagnosis"
    assert all(h.isidentifier() and h == h.lower() for h in header)
    assert len(rows) == 569 and all(len(r) == 31 for r in rows)
    diagnosis = [r[-1] for r in rows]
    assert {d: diagnosis.count(d) for d in set(diagnosis)} == {"malignant": 212, "benign": 357}
    x = np.array([[float(v) for v in r[:-1]] for r in rows])
    bunch = load_breast_cancer()
    assert header[:-1] == [str(n).replace(" ", "_") for n in bunch.feature_names]
    np.testing.assert_allclose(x, bunch.data, rtol=2**-24, atol=0)  # the same numbers to float32 precision
    assert diagnosis == [str(bunch.target_names[t]) for t in bunch.target]
    assert x.min() >= 0


def test_digits() -> None:
    from sklearn.datasets import load_digits

    with np.load(DATA / "digits.npz") as z:
        assert sorted(z.files) == ["labels", "x", "y"]
        x, y, labels = z["x"], z["y"], z["labels"]
    assert x.dtype == np.uint8 and x.shape == (1797, 8, 8, 1) and x.min() == 0 and x.max() == 16
    assert y.dtype == np.int64 and y.shape == (1797,) and set(y.tolist()) == set(range(10))
    assert labels.dtype.kind == "U" and labels.tolist() == [str(d) for d in range(10)]
    bunch = load_digits()
    assert np.array_equal(x[..., 0], bunch.images) and np.array_equal(y, bunch.target)


def test_thermistor() -> None:
    header, rows = read_csv(DATA / "thermistor.csv")
    assert header == ["adc", "board_c", "true_c"]
    assert len(rows) == 8000
    assert all(r[0].isdigit() and len(r[2].split(".")[1]) == 3 for r in rows)
    adc = np.array([int(r[0]) for r in rows])
    board, true = np.array([[float(r[1]), float(r[2])] for r in rows]).T
    assert 100 < adc.min() and adc.max() < 900  # the divider stays well inside the ADC's 0..1023
    assert np.array_equal(board * 16, np.round(board * 16))  # the board sensor's 1/16 °C grid
    assert -10 <= true.min() < -9.9 and 59.9 < true.max() <= 60
    assert -0.5 < (board - true).min() and (board - true).max() < 15.5  # self-heating 0..15 K, sensor noise


def test_thermistor_needs_and_allows_the_correction() -> None:
    """The board temperature matters (a fit of adc alone stays >0.5 °C off), and a smooth float fit of (adc, board_c)
    gets within 0.15 °C on held-out rows: the noise floor leaves room for a small int8 MLP's 0.3 °C target."""
    d = np.loadtxt(DATA / "thermistor.csv", delimiter=",", skiprows=1)
    adc, board, true = d.T
    order = np.random.default_rng(0).permutation(len(true))
    train, test = order[:6400], order[6400:]

    def rmse(features: np.ndarray) -> float:
        w, *_ = np.linalg.lstsq(features[train], true[train], rcond=None)
        return float(np.sqrt(np.mean((features[test] @ w - true[test]) ** 2)))

    a, b = (adc - 512) / 512, (board - 32) / 40
    assert rmse(np.stack([a**i for i in range(7)], axis=1)) > 0.5  # adc alone, degree 6
    assert rmse(np.stack([a**i * b**j for i in range(7) for j in range(7 - i)], axis=1)) < 0.15


def test_gestures() -> None:
    with np.load(DATA / "gestures.npz") as z:
        assert sorted(z.files) == ["features", "labels", "x", "y"]
        x, y, labels = z["x"], z["y"], z["labels"]
        assert z["features"].tolist() == ["ax", "ay", "az"]
    assert labels.dtype.kind == "U" and labels.tolist() == ["idle", "shake", "circle", "swipe_left", "tap"]
    assert x.dtype == np.float32 and x.shape == (2500, 32, 3)
    assert y.dtype == np.int64 and y.shape == (2500,) and np.bincount(y).tolist() == [500] * 5
    assert np.array_equal(x * 1024, np.round(x * 1024))  # the sensor's 1/1024 g steps
    assert x.min() >= -2 and x.max() <= 2 - 1 / 1024
    gravity = np.linalg.norm(x.mean(axis=1), axis=1)
    assert np.all(np.abs(gravity[y == 0] - 1) < 0.1)  # idle: the window's mean is gravity, 1 g
    spread = x.std(axis=1).max(axis=1)
    assert np.median(spread[y == 0]) < 0.05 < np.median(spread[y != 0])  # the gestures move, idle does not
