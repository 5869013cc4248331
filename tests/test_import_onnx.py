"""nnmodel import of ONNX files: skl2onnx's export of a real MLPClassifier, and graphs in PyTorch's
export forms (tests/onnx_forms.py). onnxruntime is the float oracle (max |difference| <= 1e-4 on the
logits), the integer C is bit-identical to the reference, and the imported CNN runs on the ATtiny85
in simavr with its weights in EEPROM."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import REPO
from onnx_forms import bn_absorbing, conv_bn_relu_pool_linear, linear_chain

from nnmodel import hostc, load, reference
from nnmodel.datasets.samples import load_samples
from nnmodel.importers import import_graph, read_graph
from nnmodel.importers.calibrate import float_forward
from nnmodel.importers.graph import lower
from nnmodel.importers.oracle import onnx_outputs
from nnmodel.realvalues import codes_from_values
from nnmodel.sim import avr_firmware

DIGITS = np.load(REPO / "data" / "digits.npz")


def nnmodel(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "nnmodel", *args], cwd=REPO, capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def split(n: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(0).permutation(n)
    return np.sort(order[n // 4:]), np.sort(order[:n // 4])


def test_sklearn_mlp_through_skl2onnx_keeps_its_accuracy(tmp_path: Path) -> None:
    from skl2onnx import to_onnx
    from sklearn.neural_network import MLPClassifier

    x = DIGITS["x"].reshape(len(DIGITS["x"]), -1).astype(np.float64)
    y = DIGITS["y"]
    tr, te = split(len(y))
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0).fit(x[tr], y[tr])
    path = tmp_path / "digits_mlp.onnx"
    path.write_bytes(to_onnx(clf, x[:1].astype(np.float32), options={"zipmap": False}).SerializeToString())
    np.savez(tmp_path / "calib.npz", x=x[tr], y=y[tr])
    np.savez(tmp_path / "test.npz", x=x[te], y=y[te])
    out = nnmodel("import", str(path), "--calibration", str(tmp_path / "calib.npz"), "--out",
                  str(tmp_path / "m.nnm")).stdout
    assert "MatMul MatMul: dense 64->32" in out and "Softmax" in out and "dropped" in out
    diff = float(re.search(r"float model vs onnxruntime: max \|difference\| (\S+) on the logits", out)[1])
    assert diff <= 1e-4
    ev = nnmodel("eval", str(tmp_path / "m.nnm"), "--data", str(tmp_path / "test.npz"), "--engine", "c").stdout
    acc = float(re.search(r"^accuracy: ([\d.]+)%", ev, re.M)[1]) / 100
    assert acc >= clf.score(x[te], y[te]) - 0.010, (acc, clf.score(x[te], y[te]))
    assert nnmodel("verify", str(tmp_path / "m.nnm"), "--data", str(tmp_path / "test.npz")).stdout.startswith(
        f"{len(te)}/{len(te)} bit-identical")
    model = load(tmp_path / "m.nnm")
    assert model.labels == [str(c) for c in range(10)] and model.provenance["imported_from"] == "digits_mlp.onnx"


def _torch_cnn(tmp_path: Path, view_flatten: bool = False) -> Path:
    """models/digits_cnn.nnm's float weights in physical pixel units, as PyTorch would export them."""
    m = load(REPO / "models" / "digits_cnn.nnm")
    conv, fc = m.layers[0], m.layers[2]
    feature = m.input.features[0]
    # the saved first layer reads u = code / 255 with code = x / scale + zero (standardisation folded in)
    w_x = conv.w.astype(np.float64) / (255 * feature.scale)
    b_x = conv.b + (conv.w.astype(np.float64) * feature.zero_point / 255).reshape(len(conv.b), -1).sum(axis=1)
    w_t, b_t, bn = bn_absorbing(w_x.transpose(0, 3, 1, 2), b_x, np.random.default_rng(1))
    h, w, c = m.layers[1].out_shape  # the map the pool gives the dense layer
    fc_w = fc.w.astype(np.float64).reshape(10, h, w, c).transpose(0, 3, 1, 2).reshape(10, -1)  # HWC -> CHW columns
    return conv_bn_relu_pool_linear(w_t, b_t, bn, fc_w, fc.b.astype(np.float64), (1, 8, 8),
                                    tmp_path / f"cnn{'_view' if view_flatten else ''}.onnx", view_flatten)


@pytest.mark.parametrize("view_flatten", [False, True], ids=["nn.Flatten", "view(n, -1)"])
def test_pytorch_form_cnn_agrees_with_onnxruntime(tmp_path: Path, view_flatten: bool) -> None:
    path = _torch_cnn(tmp_path, view_flatten)
    x = DIGITS["x"].transpose(0, 3, 1, 2).astype(np.float64)  # NCHW, as PyTorch takes it
    g = read_graph(path)
    lowered = lower(g)
    assert [fl.kind for fl in lowered.layers] == ["conv2d", "maxpool2d", "dense"]
    ours = float_forward(lowered.layers, x.transpose(0, 2, 3, 1)).out[-1]
    theirs = onnx_outputs(path, "output", x)
    assert np.abs(ours - theirs).max() <= 1e-4


def test_pytorch_form_cnn_imports_and_runs_on_the_attiny85_from_eeprom(tmp_path: Path) -> None:
    path = _torch_cnn(tmp_path)
    x, y = DIGITS["x"].transpose(0, 3, 1, 2).astype(np.float64), DIGITS["y"]
    tr, te = split(len(y))
    np.savez(tmp_path / "calib.npz", x=x[tr], y=y[tr])
    np.savez(tmp_path / "test.npz", x=x[te], y=y[te])
    # int4 weights: the 843-byte int8 image would not fit the ATtiny85's 512 B of EEPROM (437 B does)
    out = nnmodel("import", str(path), "--calibration", str(tmp_path / "calib.npz"), "--out", str(tmp_path / "c.nnm"),
                  "--weight-bits", "4")
    assert "BatchNormalization /bn/BatchNormalization: folded into /conv/Conv" in out.stdout
    assert "weight columns permuted from CHW" in out.stdout
    model = load(tmp_path / "c.nnm")
    samples = load_samples(tmp_path / "test.npz")
    codes = codes_from_values(model.input, samples.x.transpose(0, 2, 3, 1))
    acc = float((np.argmax(reference.run(model, codes), axis=1) == samples.y).mean())
    assert acc >= 0.93, acc  # the float CNN it came from: ~97%
    why = avr_firmware.missing_tool()
    if why:
        pytest.fail(f"simavr: {why} (scripts/setup.sh installs it)")
    np.savez(tmp_path / "samples.npz", x=samples.x.transpose(0, 2, 3, 1)[:12], y=samples.y[:12])
    gen = avr_firmware.generate(tmp_path / "c.nnm", tmp_path / "gen", samples="12", golden="yes",
                                sample_images=str(tmp_path / "samples.npz"))
    assert (gen / "c.eep").is_file()
    elf = avr_firmware.build(gen, tmp_path / "golden.elf", sim=True,
                             sources=[REPO / "test" / "common" / "test_golden" / "test_main.c"],
                             include_dirs=[REPO / "test"])
    run = avr_firmware.run(avr_firmware.build_harness(tmp_path), elf)
    assert run.returncode == 0 and re.search(r"^\d+ Tests 0 Failures 0 Ignored", run.stdout, re.M), run.stdout


@pytest.mark.parametrize("pool", ["AveragePool", "GlobalAveragePool"])
def test_average_pools_fold_into_the_gemm_after_them(tmp_path: Path, pool: str) -> None:
    """nn.AvgPool2d(2) / nn.AdaptiveAvgPool2d(1) -> flatten -> nn.Linear: the runtime never averages;
    the Gemm's weights spread over each window, so the float model is exactly the framework's."""
    rng = np.random.default_rng(5)
    conv_w, conv_b = rng.normal(0, 0.4, (6, 1, 3, 3)), rng.normal(0, 0.1, 6)
    w, b, bn = bn_absorbing(conv_w, conv_b, rng)
    pooled = 6 * 3 * 3 if pool == "AveragePool" else 6
    path = conv_bn_relu_pool_linear(w, b, bn, rng.normal(0, 0.3, (10, pooled)), rng.normal(0, 0.1, 10), (1, 8, 8),
                                    tmp_path / "avg.onnx", pool=pool)
    x = DIGITS["x"].transpose(0, 3, 1, 2).astype(np.float64) / 16
    lowered = lower(read_graph(path))
    assert [fl.kind for fl in lowered.layers] == ["conv2d", "dense"]
    assert lowered.layers[1].weights["w"].shape == (10, 6 * 6 * 6)  # reads the whole 6x6x6 map
    assert any("folded into /fc/Gemm" in line for line in lowered.chain)
    ours = float_forward(lowered.layers, x.transpose(0, 2, 3, 1)).out[-1]
    assert np.abs(ours - onnx_outputs(path, "output", x)).max() <= 1e-4
    np.savez(tmp_path / "calib.npz", x=x, y=DIGITS["y"])
    model = import_graph(read_graph(path), load_samples(tmp_path / "calib.npz"), name="avg").model
    codes = codes_from_values(model.input, x.transpose(0, 2, 3, 1))
    assert (hostc.build(model, tmp_path / "c").logits(codes) == reference.run(model, codes)).all()


def test_pytorch_form_mlp_with_relu6(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    layers = [(rng.normal(0, 0.5, (16, 6)), rng.normal(0, 0.1, 16), "relu6"),
              (rng.normal(0, 0.4, (12, 16)), rng.normal(0, 0.1, 12), "relu"),
              (rng.normal(0, 0.4, (3, 12)), rng.normal(0, 0.1, 3), "")]
    path = linear_chain(layers, tmp_path / "mlp.onnx")
    x = rng.normal(0, 2, (400, 6))
    lowered = lower(read_graph(path))
    assert lowered.layers[0].extra.get("clip") == 6.0
    assert np.abs(float_forward(lowered.layers, x).out[-1] - onnx_outputs(path, "output", x)).max() <= 1e-4
    np.savez(tmp_path / "calib.npz", x=x, y=rng.integers(0, 3, len(x)))
    imported = import_graph(read_graph(path), load_samples(tmp_path / "calib.npz"), name="mlp6")
    model = imported.model
    assert model.layers[0].out_scale == pytest.approx(6 / 127)
    codes = codes_from_values(model.input, x)
    assert (hostc.build(model, tmp_path / "c").logits(codes) == reference.run(model, codes)).all()


def _edited(path: Path, tmp_path: Path, change) -> Path:
    model = onnx.load(str(path))
    change(model)
    out = tmp_path / "edited.onnx"
    onnx.save(model, str(out))
    return out


UNSUPPORTED = {
    "global max pool": (lambda m: (m.graph.node[3].__setattr__("op_type", "GlobalMaxPool"),
                                   [m.graph.node[3].attribute.pop() for _ in range(len(m.graph.node[3].attribute))]),
                        "node /pool/MaxPool (GlobalMaxPool): not supported; nearest supported form: MaxPool"),
    "padding": (lambda m: m.graph.node[0].attribute[3].ints.__setitem__(slice(None), [1, 1, 1, 1]),
                "node /conv/Conv (Conv): padding is not supported; nearest supported form: Conv without padding"),
    "depthwise": (lambda m: m.graph.node[0].attribute[1].__setattr__("i", 8),
                  "node /conv/Conv (Conv): group 8 (depthwise) is not supported"),
    "stride": (lambda m: m.graph.node[3].attribute[3].ints.__setitem__(slice(None), [1, 1]),
               "node /pool/MaxPool (MaxPool): window [2, 2], strides [1, 1]: nearest supported form"),
}


@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_unsupported_nodes_are_one_line_and_write_nothing(tmp_path: Path, case: str) -> None:
    change, message = UNSUPPORTED[case]
    path = _edited(_torch_cnn(tmp_path), tmp_path, change)
    np.savez(tmp_path / "calib.npz", x=DIGITS["x"][:50].transpose(0, 3, 1, 2), y=DIGITS["y"][:50])
    proc = nnmodel("import", str(path), "--calibration", str(tmp_path / "calib.npz"), "--out",
                   str(tmp_path / "m.nnm"), check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert message in proc.stderr, proc.stderr
    assert not (tmp_path / "m.nnm").exists()


def test_bad_files_and_missing_extras_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a protobuf at all")
    np.savez(tmp_path / "calib.npz", x=np.zeros((4, 6)), y=np.zeros(4, np.int64))
    proc = nnmodel("import", str(junk), "--calibration", str(tmp_path / "calib.npz"), "--out",
                   str(tmp_path / "m.nnm"), check=False)
    assert proc.returncode == 2 and f"{junk}: not a valid ONNX model" in proc.stderr and proc.stderr.count("\n") == 1
    import importlib.util

    from nnmodel import NNModelError
    from nnmodel.importers import require

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(NNModelError, match=r"needs the 'onnx' package; run: pip install 'nnmodel\[onnx\]'"):
        require("onnx", junk)
