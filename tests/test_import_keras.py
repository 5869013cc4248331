"""nnmodel import of Keras files, read with h5py only: the ONNX twin's CNN (tests/test_import_onnx.py)
built and saved by Keras 3 itself (.keras zip and legacy .h5). Keras's predict is the float oracle
(max |difference| <= 1e-4) and the imported integers equal the ONNX twin's (docs/import.md,
"Rounding": both files hold the same float32 weights, and the BatchNorm fold and the calibration
are one code path)."""
from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from test_import_onnx import DIGITS, _torch_cnn, split

from nnmodel import load
from nnmodel.importers import read_graph
from nnmodel.importers.calibrate import float_forward
from nnmodel.importers.graph import lower
from nnmodel.importers.oracle import keras_outputs

os.environ.setdefault("KERAS_BACKEND", "jax")  # the light backend the test extra pins
import keras  # after the backend is chosen


def nnmodel(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, KERAS_BACKEND=os.environ["KERAS_BACKEND"])
    proc = subprocess.run([sys.executable, "-m", "nnmodel", *args], cwd=REPO, capture_output=True, text=True, env=env)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def keras_cnn(folder: Path, softmax: bool = False) -> tuple[Path, Path]:
    """Conv2D(3x3) -> BatchNormalization -> ReLU -> MaxPooling2D(2) -> Flatten -> Dense, with the ONNX
    twin's weights in Keras's layouts (kernel HWIO, Dense [in, out] over an HWC flatten); saved as
    .keras and .h5."""
    import onnx
    from onnx import numpy_helper

    twin = _torch_cnn(folder)
    w = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(twin)).graph.initializer}
    k = w["conv.weight"].shape[0]
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(k, 3, name="conv"),
        keras.layers.BatchNormalization(epsilon=1e-5, name="bn"),
        keras.layers.ReLU(name="relu"),
        keras.layers.MaxPooling2D(2, name="pool"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dropout(0.25, name="dropout"),
        keras.layers.Dense(10, activation="softmax" if softmax else None, name="fc"),
    ])
    model.get_layer("conv").set_weights([w["conv.weight"].transpose(2, 3, 1, 0), w["conv.bias"]])
    model.get_layer("bn").set_weights([w["bn.weight"], w["bn.bias"], w["bn.running_mean"], w["bn.running_var"]])
    c, h, wd = k, 3, 3  # the pooled map the Dense reads: ONNX flattens CHW, Keras HWC
    fc = w["fc.weight"].reshape(10, c, h, wd).transpose(0, 2, 3, 1).reshape(10, -1)
    model.get_layer("fc").set_weights([fc.T, w["fc.bias"]])
    model.save(folder / "cnn.keras")
    model.save(folder / "cnn.h5")
    return folder / "cnn.keras", twin


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras_cnn_agrees_with_keras_predict(tmp_path: Path, suffix: str) -> None:
    path = keras_cnn(tmp_path)[0].with_suffix(suffix)
    x = DIGITS["x"].astype(np.float64)  # NHWC, as Keras takes it
    lowered = lower(read_graph(path))
    assert [fl.kind for fl in lowered.layers] == ["conv2d", "maxpool2d", "dense"]
    ours = float_forward(lowered.layers, x).out[-1]
    assert np.abs(ours - keras_outputs(path, x)).max() <= 1e-4


def test_keras_file_imports_to_the_onnx_twins_integers(tmp_path: Path) -> None:
    path, twin = keras_cnn(tmp_path, softmax=True)
    x, y = DIGITS["x"].astype(np.float64), DIGITS["y"]
    tr, _ = split(len(y))
    np.savez(tmp_path / "calib_nhwc.npz", x=x[tr], y=y[tr])
    np.savez(tmp_path / "calib_nchw.npz", x=x[tr].transpose(0, 3, 1, 2), y=y[tr])
    out = nnmodel("import", str(path), "--calibration", str(tmp_path / "calib_nhwc.npz"), "--out",
                  str(tmp_path / "k.nnm")).stdout
    diff = float(re.search(r"float model vs Keras: max \|difference\| (\S+) on the probabilities", out)[1])
    assert diff <= 1e-4, out
    assert "folded into conv" in out and "dropped" in out
    nnmodel("import", str(twin), "--calibration", str(tmp_path / "calib_nchw.npz"), "--out", str(tmp_path / "o.nnm"))
    from_keras, from_onnx = load(tmp_path / "k.nnm"), load(tmp_path / "o.nnm")
    assert len(from_keras.layers) == len(from_onnx.layers) == 3
    for a, b in zip(from_keras.layers, from_onnx.layers):
        for field in dataclasses.fields(a):
            mine, theirs = getattr(a, field.name), getattr(b, field.name)
            if isinstance(mine, np.ndarray):  # weights, biases, requantization multipliers and shifts
                assert np.array_equal(mine, theirs), (a.kind, field.name)
            elif isinstance(mine, float):  # real scales: equal to float64 rounding (calibration sums differ in order)
                assert mine == pytest.approx(theirs, rel=1e-9), (a.kind, field.name)
    assert [(f.scale, f.zero_point, f.step) for f in from_keras.input.features] == \
        [(f.scale, f.zero_point, f.step) for f in from_onnx.input.features]


def test_keras_layers_it_cannot_lower_are_one_line(tmp_path: Path) -> None:
    model = keras.Sequential([keras.Input((6, 4)), keras.layers.Conv1D(8, 3, name="conv1d"), keras.layers.Flatten(),
                              keras.layers.Dense(3)])
    model.save(tmp_path / "conv1d.keras")
    np.savez(tmp_path / "calib.npz", x=np.zeros((4, 6, 4)), y=np.zeros(4, np.int64))
    proc = nnmodel("import", str(tmp_path / "conv1d.keras"), "--calibration", str(tmp_path / "calib.npz"), "--out",
                   str(tmp_path / "m.nnm"), check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "conv1d" in proc.stderr and "Conv1D" in proc.stderr and "nearest supported form" in proc.stderr
    assert not (tmp_path / "m.nnm").exists()


@pytest.mark.parametrize("pool", ["AveragePooling2D", "GlobalAveragePooling2D"])
def test_keras_average_pools_fold_into_the_dense_after_them(tmp_path: Path, pool: str) -> None:
    rng = np.random.default_rng(7)
    pooling = keras.layers.AveragePooling2D(2) if pool == "AveragePooling2D" else keras.layers.GlobalAveragePooling2D()
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(6, 3, activation="relu"), pooling,
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    model.set_weights([rng.normal(0, 0.4, v.shape) for v in model.get_weights()])
    model.save(tmp_path / "avg.keras")
    x = DIGITS["x"].astype(np.float64) / 16
    lowered = lower(read_graph(tmp_path / "avg.keras"))
    assert [fl.kind for fl in lowered.layers] == ["conv2d", "dense"]
    ours = float_forward(lowered.layers, x).out[-1]
    assert np.abs(ours - keras_outputs(tmp_path / "avg.keras", x)).max() <= 1e-4
