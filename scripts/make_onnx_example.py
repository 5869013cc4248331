#!/usr/bin/env python3
"""models/digits_mlp_sklearn.onnx: a scikit-learn MLPClassifier on data/digits.npz, exported by skl2onnx.

The framework file of env native_onnx (platformio.ini), which the pre-build imports and calibrates
on data/digits.npz at build time, and of docs/import.md. Trained on a seeded 75% of the digits;
the rest is its held-out split. Same bytes on every run (scikit-learn's seeded training,
skl2onnx's deterministic output); needs the test extra (scikit-learn, skl2onnx).

    .venv/bin/python scripts/make_onnx_example.py [--out models/digits_mlp_sklearn.onnx]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def build() -> bytes:
    from skl2onnx import to_onnx
    from sklearn.neural_network import MLPClassifier

    data = np.load(REPO / "data" / "digits.npz")
    x, y = data["x"].reshape(len(data["x"]), -1).astype(np.float64), data["y"]
    train = np.sort(np.random.default_rng(0).permutation(len(y))[len(y) // 4:])
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0).fit(x[train], y[train])
    return to_onnx(clf, x[:1].astype(np.float32), options={"zipmap": False}).SerializeToString()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "models" / "digits_mlp_sklearn.onnx")
    args = parser.parse_args()
    args.out.write_bytes(build())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
