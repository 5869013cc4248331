"""Measure the float baselines quoted in data/README.md: plain scikit-learn/numpy models on each example set.

Every figure is on a held-out 20%: the rows are split by np.random.default_rng(0).permutation, first 80%
to fit, last 20% to score (the same split for every model of a dataset). Features are standardised
with the training part's mean and deviation. Models are seeded, so a rerun on the same versions prints
the same numbers (other numpy/scikit-learn/BLAS builds can move the last digit).

    .venv/bin/python scripts/data/baselines.py [--data DIR] [NAME ...]
    # NAME: breast_cancer, digits, thermistor or gestures (default: all four)

Needs scikit-learn (the `test` extra of pyproject.toml); takes about 15 s.
"""
from __future__ import annotations

import argparse
import csv
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import thermistor
from _common import DATA_DIR
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler


def split(n: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(0).permutation(n)
    cut = int(0.8 * n)
    return order[:cut], order[cut:]


def standardise(x: np.ndarray, train: np.ndarray) -> np.ndarray:
    return np.asarray(StandardScaler().fit(x[train]).transform(x))


def accuracy(model: LogisticRegression | MLPClassifier, x: np.ndarray, y: np.ndarray) -> float:
    train, test = split(len(y))
    xs = standardise(x, train)
    model.fit(xs[train], y[train])
    return float(np.mean(model.predict(xs[test]) == y[test]))


def classifiers(x: np.ndarray, y: np.ndarray, hidden: int) -> None:
    print(f"  logistic regression: accuracy {accuracy(LogisticRegression(max_iter=5000), x, y):.4f}")
    mlp = MLPClassifier(hidden_layer_sizes=(hidden,), max_iter=2000, random_state=0)
    print(f"  MLP {x.shape[1]}-{hidden}-{len(np.unique(y))} relu (adam): accuracy {accuracy(mlp, x, y):.4f}")


def breast_cancer(data: Path) -> None:
    with open(data / "breast_cancer.csv", newline="") as f:
        rows = list(csv.reader(f))[1:]
    x = np.array([[float(v) for v in r[:-1]] for r in rows])
    y = np.array([r[-1] == "malignant" for r in rows], dtype=np.int64)
    classifiers(x, y, 16)


def digits(data: Path) -> None:
    z = np.load(data / "digits.npz")
    classifiers(z["x"].reshape(len(z["y"]), -1).astype(np.float64), z["y"], 32)


def rmse(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred - y) ** 2)))


def poly_features(adc: np.ndarray, board: np.ndarray, degree: int) -> np.ndarray:
    a, b = (adc - 512) / 512, (board - 32) / 40
    return np.stack([a**i * b**j for i in range(degree + 1) for j in range(degree + 1 - i)], axis=1)


def noise_floor() -> float:
    """RMSE of the best estimator, to first order: the generator's noise propagated through its curve.

    ADC noise and truncation (sqrt(0.5² + 1/12) LSB) and board-sensor noise and quantisation
    (sqrt(0.05² + 0.0625²/12) K), each divided by the local slope, averaged over the generator's
    uniform (T_true, offset) grid.
    """
    t_true = np.linspace(thermistor.T_MIN, thermistor.T_MAX, 141)[:, None]
    t_board = t_true + np.linspace(0.0, thermistor.OFFSET_MAX, 61)[None, :]
    h = 1e-4
    d_true = (thermistor.divider_ratio(t_true + h, t_board) - thermistor.divider_ratio(t_true - h, t_board)) / (2 * h)
    d_board = (thermistor.divider_ratio(t_true, t_board + h) - thermistor.divider_ratio(t_true, t_board - h)) / (2 * h)
    s_adc = np.sqrt(thermistor.ADC_NOISE**2 + 1 / 12) / 1024
    s_board = np.sqrt(thermistor.BOARD_NOISE**2 + thermistor.BOARD_LSB**2 / 12)
    return float(np.sqrt(np.mean((s_adc / d_true) ** 2 + (s_board * d_board / d_true) ** 2)))


def thermistor_set(data: Path) -> None:
    d = np.loadtxt(data / "thermistor.csv", delimiter=",", skiprows=1)
    adc, board, y = d[:, 0], d[:, 1], d[:, 2]
    train, test = split(len(y))
    ratio = (adc + 0.5) / 1024  # the thermistor alone, ideal Beta equation, board ignored
    r_ntc = thermistor.R_FIXED * (1 - ratio) / ratio
    naive = 1 / (1 / (thermistor.T0 + thermistor.KELVIN) + np.log(r_ntc / thermistor.R0) / thermistor.BETA)
    naive_rmse = rmse(naive[test] - thermistor.KELVIN, y[test])
    print(f"  thermistor alone (Beta equation, no board correction): RMSE {naive_rmse:.3f} °C")
    x = np.stack([((adc - 512) / 512) ** i for i in range(7)], axis=1)
    w, *_ = np.linalg.lstsq(x[train], y[train], rcond=None)
    print(f"  least-squares polynomial of degree 6 in adc alone: RMSE {rmse(x[test] @ w, y[test]):.3f} °C")
    for degree in (1, 3, 6):
        x = poly_features(adc, board, degree)
        w, *_ = np.linalg.lstsq(x[train], y[train], rcond=None)
        print(f"  least-squares polynomial of degree {degree} in (adc, board_c): "
              f"RMSE {rmse(x[test] @ w, y[test]):.3f} °C")
    xs = standardise(np.stack([adc, board], axis=1), train)
    for hidden in (16, 32):
        mlp = MLPRegressor(hidden_layer_sizes=(hidden,), solver="lbfgs", max_iter=5000, tol=1e-9, random_state=0)
        mlp.fit(xs[train], y[train])
        print(f"  MLP 2-{hidden}-1 relu (lbfgs): RMSE {rmse(mlp.predict(xs[test]), y[test]):.3f} °C")
    a8, b8 = np.floor(adc / 4) * 4 + 1.5, np.round((board + 10) / (85 / 255)) * (85 / 255) - 10
    x = poly_features(a8, b8, 6)
    w, *_ = np.linalg.lstsq(x[train], y[train], rcond=None)
    print(f"  the same polynomial of degree 6 with both inputs cut to 8 bits (adc // 4; board_c on 256 steps "
          f"over -10..75 °C): RMSE {rmse(x[test] @ w, y[test]):.3f} °C")
    print(f"  noise floor (first-order propagation of the generator's noise): {noise_floor():.3f} °C")


def gestures(data: Path) -> None:
    z = np.load(data / "gestures.npz")
    x, y = z["x"].astype(np.float64), z["y"]
    print("  flattened raw windows (96 features):")
    classifiers(x.reshape(len(y), -1), y, 64)
    print("  flattened windows minus each window's per-axis mean (gravity removed):")
    classifiers((x - x.mean(axis=1, keepdims=True)).reshape(len(y), -1), y, 64)


SETS: dict[str, Callable[[Path], None]] = {"breast_cancer": breast_cancer, "digits": digits,
                                          "thermistor": thermistor_set, "gestures": gestures}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="folder holding the files (default: data/)")
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"one of {', '.join(SETS)} (default: all)")
    args = parser.parse_args(argv)
    for name in args.names:
        if name not in SETS:
            parser.error(f"unknown data set {name!r}: choose from {', '.join(SETS)}")
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    for name in args.names or SETS:
        print(f"{name}:")
        SETS[name](args.data)


if __name__ == "__main__":
    main()
