"""nnmodel import of recurrent layers: ONNX GRU/LSTM/RNN nodes in the forms torch 2.13.0's exporter
writes (tests/onnx_forms.torch_recurrent, checked node for node against that version's real output),
and Keras 3's GRU (reset_after both ways), LSTM and SimpleRNN saved by Keras itself. The float model
agrees with onnxruntime / Keras predict (max |difference| <= 1e-4), the integer model imported by
`nnmodel import` agrees with the float one on the class of >= 90% of held-out gestures and its C is
bit-identical (`nnmodel verify`), and every form nnmodel cannot run is one line naming the node
(nothing written)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import REPO
from onnx_forms import torch_recurrent
from test_import_keras import nnmodel

from nnmodel import load, reference
from nnmodel.datasets.samples import load_samples
from nnmodel.errors import NNModelError
from nnmodel.evaldata import sample_codes
from nnmodel.importers import read_graph, samples_for
from nnmodel.importers.calibrate import float_forward
from nnmodel.importers.graph import lower
from nnmodel.importers.oracle import agreement

os.environ.setdefault("KERAS_BACKEND", "jax")  # the light backend the test extra pins
import keras  # after the backend is chosen

GESTURES = np.load(REPO / "data" / "gestures.npz")  # [2500, 32, 3], 5 classes
GATES = {"GRU": 3, "LSTM": 4, "RNN": 1}




def torch_weights(kind: str, feat: int, hidden: int, layers: int, rng: np.random.Generator,
                  scale: float = 0.6) -> list[tuple[np.ndarray, ...]]:
    """(weight_ih, weight_hh, bias_ih, bias_hh) per layer in torch's shapes and gate order."""
    g = GATES[kind]
    out = []
    for k in range(layers):
        f = feat if k == 0 else hidden
        out.append((rng.normal(0, scale, (g * hidden, f)), rng.normal(0, scale, (g * hidden, hidden)),
                    rng.normal(0, 0.3, g * hidden), rng.normal(0, 0.3, g * hidden)))
    return out


def float_vs_framework(path: Path, x: np.ndarray) -> tuple[list[str], float]:
    """(the lowered kinds, max |float model - framework|) on samples x [N, T, F]."""
    graph = read_graph(path)
    lowered = lower(graph)
    ours = float_forward(lowered.layers, x).out[-1]
    line = agreement(path, graph, lowered, x, ours)
    found = re.search(r"max \|difference\| (\S+) on", line)
    assert found, line
    return [fl.kind for fl in lowered.layers], float(found[1])


# (kind, batch_first, use, layers, nonlinearity, fixed batch, opset)
TORCH_FORMS = [
    ("GRU", True, "out", 1, "tanh", None, 17),
    ("GRU", False, "out", 1, "tanh", None, 17),
    ("GRU", True, "h", 2, "tanh", None, 17),
    ("GRU", True, "hsq", 1, "tanh", None, 17),
    ("GRU", True, "slice", 1, "tanh", None, 17),
    ("GRU", True, "out", 1, "tanh", 2, 17),
    ("GRU", True, "out", 1, "tanh", None, 9),
    ("LSTM", True, "out", 1, "tanh", None, 17),
    ("LSTM", False, "out", 1, "tanh", None, 17),
    ("LSTM", True, "h", 2, "tanh", None, 17),
    ("LSTM", True, "out", 2, "tanh", None, 11),
    ("RNN", True, "out", 1, "tanh", None, 17),
    ("RNN", False, "h", 1, "relu", None, 17),
]


@pytest.mark.parametrize("form", TORCH_FORMS, ids=lambda f: "-".join(str(v) for v in f))
def test_torch_recurrent_forms_agree_with_onnxruntime(tmp_path: Path, form: tuple) -> None:
    kind, batch_first, use, layers, nonlinearity, fixed, opset = form
    rng = np.random.default_rng(len(str(form)))
    path = torch_recurrent(kind, torch_weights(kind, 3, 7, layers, rng), rng.normal(0, 0.5, (5, 7)),
                           rng.normal(0, 0.1, 5), 9, tmp_path / "m.onnx", batch_first=batch_first, use=use,
                           nonlinearity=nonlinearity, fixed_batch=fixed, opset=opset)
    x = rng.normal(0, 1.0, (41, 9, 3))  # 41: the fixed-batch file runs in padded batches of 2
    kinds, diff = float_vs_framework(path, x)
    assert kinds == [{"GRU": "gru", "LSTM": "lstm", "RNN": "rnn"}[kind]] * layers + ["dense"]
    assert diff <= 1e-4, diff
    assert read_graph(path).layout == ("NTF" if batch_first else "TNF")


def test_gru_without_linear_before_reset_agrees_with_onnxruntime(tmp_path: Path) -> None:
    """linear_before_reset=0 (ONNX's default; tf2onnx writes it for Keras reset_after=False)."""
    rng = np.random.default_rng(3)
    path = torch_recurrent("GRU", torch_weights("GRU", 3, 6, 1, rng), rng.normal(0, 0.5, (4, 6)), np.zeros(4), 8,
                           tmp_path / "m.onnx")
    model = onnx.load(str(path))
    gru = next(n for n in model.graph.node if n.op_type == "GRU")
    next(a for a in gru.attribute if a.name == "linear_before_reset").i = 0
    onnx.save(model, str(path))
    lowered = lower(read_graph(path))
    assert lowered.layers[0].extra["reset_after"] is False
    assert float_vs_framework(path, rng.normal(0, 1.0, (30, 8, 3)))[1] <= 1e-4


def keras_model(*layers: keras.layers.Layer, steps: int = 9, feat: int = 3, seed: int = 0) -> keras.Model:
    model = keras.Sequential([keras.Input((steps, feat)), *layers, keras.layers.Dense(5, name="fc")])
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.5, w.shape) for w in model.get_weights()])
    return model


KERAS_FORMS = {
    "gru_reset_after": lambda: [keras.layers.GRU(7, name="gru")],
    "gru_reset_before": lambda: [keras.layers.GRU(7, reset_after=False, name="gru")],
    "gru_no_bias": lambda: [keras.layers.GRU(7, use_bias=False, name="gru")],
    "lstm": lambda: [keras.layers.LSTM(7, name="lstm")],
    "simple_rnn": lambda: [keras.layers.SimpleRNN(7, name="rnn")],
    "simple_rnn_relu": lambda: [keras.layers.SimpleRNN(7, activation="relu", name="rnn")],
    "stacked": lambda: [keras.layers.GRU(7, return_sequences=True, name="gru"), keras.layers.LSTM(6, name="lstm")],
    "rescaled": lambda: [keras.layers.Rescaling(0.5, offset=0.25), keras.layers.GRU(7, name="gru")],
}
KERAS_KINDS = {"gru_reset_after": ["gru"], "gru_reset_before": ["gru"], "gru_no_bias": ["gru"], "lstm": ["lstm"],
               "simple_rnn": ["rnn"], "simple_rnn_relu": ["rnn"], "stacked": ["gru", "lstm"], "rescaled": ["gru"]}


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("form", list(KERAS_FORMS))
def test_keras_recurrent_layers_agree_with_keras_predict(tmp_path: Path, form: str, suffix: str) -> None:
    model = keras_model(*KERAS_FORMS[form]())
    path = tmp_path / f"m{suffix}"
    model.save(path)
    x = np.random.default_rng(1).normal(0, 1.0, (40, 9, 3))
    kinds, diff = float_vs_framework(path, x)
    assert kinds == KERAS_KINDS[form] + ["dense"]
    assert diff <= 1e-4, diff
    if form == "gru_reset_before":
        assert lower(read_graph(path)).layers[0].extra["reset_after"] is False


def test_keras_functional_recurrent_chain_agrees(tmp_path: Path) -> None:
    inputs = keras.Input((9, 3))
    h = keras.layers.GRU(6, return_sequences=True, name="gru")(inputs)
    h = keras.layers.LSTM(5, name="lstm")(h)
    outputs = keras.layers.Dense(4, name="fc")(keras.layers.Dropout(0.2)(h))
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(8)
    model.set_weights([rng.normal(0, 0.5, w.shape) for w in model.get_weights()])
    model.save(tmp_path / "f.keras")
    kinds, diff = float_vs_framework(tmp_path / "f.keras", rng.normal(0, 1, (20, 9, 3)))
    assert kinds == ["gru", "lstm", "dense"] and diff <= 1e-4, (kinds, diff)


def keras_to_torch(model: keras.Model, name: str, kind: str) -> list[tuple[np.ndarray, ...]]:
    """A Keras GRU (reset_after) / LSTM / SimpleRNN's weights as torch's (w_ih, w_hh, b_ih, b_hh): Keras
    GRU z,r,h -> torch r,z,n; Keras LSTM i,f,c,o is torch's i,f,g,o."""
    kernel, rec, bias = (np.asarray(v, np.float64) for v in model.get_layer(name).get_weights())
    u = rec.shape[0]
    order = {"GRU": (1, 0, 2), "LSTM": (0, 1, 2, 3), "RNN": (0,)}[kind]

    def rows(m: np.ndarray) -> np.ndarray:
        return np.concatenate([m[..., g * u:(g + 1) * u] for g in order], axis=-1).T

    b_ih, b_hh = (bias[0], bias[1]) if kind == "GRU" else (bias, np.zeros_like(bias))
    return [(rows(kernel), rows(rec), rows(b_ih[None])[:, 0], rows(b_hh[None])[:, 0])]


TRAINED = {  # Keras layer, and the torch form of the same weights (None: torch has no such GRU)
    "GRU": (lambda: keras.layers.GRU(12, name="rec"), "GRU"),
    "GRU_reset_before": (lambda: keras.layers.GRU(12, reset_after=False, name="rec"), None),
    "LSTM": (lambda: keras.layers.LSTM(12, name="rec"), "LSTM"),
    "SimpleRNN": (lambda: keras.layers.SimpleRNN(12, name="rec"), "RNN"),
}


@pytest.mark.parametrize("form", list(TRAINED))
def test_import_of_trained_gesture_models_keeps_the_float_class(tmp_path: Path, form: str) -> None:
    """A Keras model trained on the gestures and its torch-form ONNX twin: both import through the CLI,
    agree with their framework <= 1e-4, give the same integers, the integer reference picks the float
    model's class on >= 90% of held-out gestures, and `nnmodel verify` finds the C bit-identical."""
    keras.utils.set_random_seed(0)
    x, y = GESTURES["x"].astype(np.float64), GESTURES["y"]
    layer, kind = TRAINED[form]
    model = keras.Sequential([keras.Input((32, 3)), layer(), keras.layers.Dense(5, name="fc")])
    model.compile(keras.optimizers.Adam(0.02), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[:1500], y[:1500], epochs=8, batch_size=100, verbose=0)
    model.save(tmp_path / "m.keras")
    np.savez(tmp_path / "calib.npz", x=x[:1500], y=y[:1500])
    np.savez(tmp_path / "test.npz", x=x[2000:], y=y[2000:])
    files = [(tmp_path / "m.keras", "Keras", "outputs")]
    if kind is not None:
        fc_w, fc_b = (np.asarray(v, np.float64) for v in model.get_layer("fc").get_weights())
        twin = torch_recurrent(kind, keras_to_torch(model, "rec", kind), fc_w.T, fc_b, 32, tmp_path / "twin.onnx")
        files.append((twin, "onnxruntime", "logits"))
    for path, source, what in files:
        out = nnmodel("import", str(path), "--calibration", str(tmp_path / "calib.npz"), "--out",
                      str(path.with_suffix(".nnm"))).stdout
        print(out)
        diff = float(re.search(rf"float model vs {source}: max \|difference\| (\S+) on the {what}", out)[1])
        assert diff <= 1e-4, out
    from_keras = load(tmp_path / "m.nnm")
    if kind is not None:  # one code path from the same float32 weights: the same integers
        from_onnx = load(tmp_path / "twin.nnm")
        for a, b in zip(from_keras.layers, from_onnx.layers):
            for field in ("w_x_q", "w_h_q", "w_ih_q", "w_hh_q", "w_q", "b_q", "b_x_q", "b_h_q", "mult", "shift"):
                if hasattr(a, field):
                    assert np.array_equal(getattr(a, field), getattr(b, field)), (a.kind, field)
    test = load_samples(str(tmp_path / "test.npz"))
    graph = read_graph(tmp_path / "m.keras")
    lowered = lower(graph)
    floats = float_forward(lowered.layers, samples_for(graph, lowered, test)).out[-1]
    ints = reference.run(from_keras, sample_codes(from_keras, test))
    same = float((np.argmax(floats, axis=1) == np.argmax(ints, axis=1)).mean())
    print(f"{form}: integer reference picks the float class on {same:.2%} of {len(test)} held-out gestures; "
          f"float accuracy {(np.argmax(floats, axis=1) == test.y).mean():.2%}, "
          f"int {(np.argmax(ints, axis=1) == test.y).mean():.2%}")
    assert same >= 0.90, same
    for path, _, _ in files:  # the generated C (nnrt gru.h / lstm.h, the rnn's dense kernels) is bit-identical
        done = nnmodel("verify", str(path.with_suffix(".nnm")), "--data", str(tmp_path / "test.npz")).stdout
        assert done.startswith(f"{len(test)}/{len(test)} bit-identical"), done


def _edit(path: Path, op: str, **changes: object) -> Path:
    """The file with the op's node changed: attributes set (None removes one), or inputs replaced."""
    model = onnx.load(str(path))
    node = next(n for n in model.graph.node if n.op_type == op)
    for key, value in changes.items():
        if key == "inputs":
            del node.input[:]
            node.input.extend(value)  # type: ignore[arg-type]
            continue
        kept = [a for a in node.attribute if a.name != key]
        del node.attribute[:]
        node.attribute.extend(kept)
        if value is not None:
            node.attribute.append(onnx.helper.make_attribute(key, value))
    onnx.save(model, str(path))
    return path


def _with_initializer(path: Path, name: str, value: np.ndarray) -> None:
    model = onnx.load(str(path))
    model.graph.initializer.append(onnx.numpy_helper.from_array(value.astype(np.float32), name))
    onnx.save(model, str(path))


REFUSED = {  # what the file gets, and what the one line must say
    "bidirectional": (lambda p: _edit(p, "GRU", direction="bidirectional"), "direction bidirectional"),
    "reverse": (lambda p: _edit(p, "GRU", direction="reverse"), "direction reverse"),
    "clip": (lambda p: _edit(p, "GRU", clip=3.0), "clip 3.0"),
    "activations": (lambda p: _edit(p, "GRU", activations=["HardSigmoid", "Tanh"]), "activations"),
    "sequence_lens": (lambda p: _edit(p, "GRU", inputs=["/rnn/Transpose_output_0", "onnx::GRU_200", "onnx::GRU_201",
                                                        "onnx::GRU_202", "input", ""]), "sequence_lens"),
    "initial_h": (lambda p: (_with_initializer(p, "h0", np.full((1, 1, 6), 0.5)),
                             _edit(p, "GRU", inputs=["/rnn/Transpose_output_0", "onnx::GRU_200", "onnx::GRU_201",
                                                     "onnx::GRU_202", "", "h0"])), "initial_h is not zero"),
    "layout": (lambda p: _edit(p, "GRU", layout=1), "layout 1 reads [N, T, F] but gets [T, N, F]"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_onnx_recurrent_forms_it_cannot_run_are_one_line(tmp_path: Path, case: str) -> None:
    rng = np.random.default_rng(5)
    path = torch_recurrent("GRU", torch_weights("GRU", 3, 6, 1, rng), rng.normal(0, 0.5, (4, 6)), np.zeros(4), 8,
                           tmp_path / "m.onnx")
    edit, expected = REFUSED[case]
    edit(path)
    np.savez(tmp_path / "calib.npz", x=rng.normal(0, 1, (20, 8, 3)), y=np.arange(20) % 4)
    proc = nnmodel("import", str(path), "--calibration", str(tmp_path / "calib.npz"), "--out",
                   str(tmp_path / "m.nnm"), check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "node /rnn/GRU (GRU)" in proc.stderr and expected in proc.stderr, proc.stderr
    assert not (tmp_path / "m.nnm").exists()


def test_lstm_peepholes_and_cell_state_are_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    weights = torch_weights("LSTM", 3, 6, 1, rng)
    path = torch_recurrent("LSTM", weights, rng.normal(0, 0.5, (4, 6)), np.zeros(4), 8, tmp_path / "m.onnx")
    _with_initializer(path, "P", rng.normal(0, 1, (1, 18)))
    model = onnx.load(str(path))
    lstm = next(n for n in model.graph.node if n.op_type == "LSTM")
    lstm.input.append("P")
    onnx.save(model, str(path))
    with pytest.raises(NNModelError, match=r"node /rnn/LSTM \(LSTM\): P \(peepholes\) is not zero"):
        lower(read_graph(path))
    # c_n[-1] into the Linear: the cell state is not what nnmodel's LSTM hands on
    path = torch_recurrent("LSTM", weights, rng.normal(0, 0.5, (4, 6)), np.zeros(4), 8, tmp_path / "c.onnx", use="h")
    model = onnx.load(str(path))
    next(n for n in model.graph.node if n.op_type == "Gather" and n.name == "/Gather").input[0] = "/rnn/LSTM_output_2"
    onnx.save(model, str(path))
    with pytest.raises(NNModelError, match=r"node /Gather \(Gather\): reads the cell state c_n of /rnn/LSTM"):
        lower(read_graph(path))


def test_every_step_into_a_dense_is_refused(tmp_path: Path) -> None:
    """return_sequences=True then Dense (Keras applies it to every step): nnmodel's recurrent layers hand
    on their last step only, so the file is refused, naming the Dense."""
    model = keras_model(keras.layers.GRU(6, return_sequences=True, name="gru"))
    model.save(tmp_path / "m.keras")
    with pytest.raises(NNModelError, match=r"node fc \(Gemm\): reads every step of gru's sequence.*"
                                           r"return_sequences=False"):
        lower(read_graph(tmp_path / "m.keras"))
    rng = np.random.default_rng(2)  # out[:, 0]: the first step
    path = torch_recurrent("GRU", torch_weights("GRU", 3, 6, 1, rng), rng.normal(0, 0.5, (4, 6)), np.zeros(4), 8,
                           tmp_path / "m.onnx")
    model_file = onnx.load(str(path))
    const = next(n for n in model_file.graph.node if n.output[0] == "/Constant_output_0")
    const.attribute[0].t.CopyFrom(onnx.numpy_helper.from_array(np.array(0, np.int64)))
    onnx.save(model_file, str(path))
    with pytest.raises(NNModelError, match=r"node /Gather \(Gather\): takes step 0 of /rnn/GRU"):
        lower(read_graph(path))


@pytest.mark.parametrize("layer, expected", [
    (lambda: keras.layers.GRU(6, go_backwards=True, name="r"), "go_backwards=True"),
    (lambda: keras.layers.LSTM(6, recurrent_activation="hard_sigmoid", name="r"),
     "recurrent_activation 'hard_sigmoid'"),
    (lambda: keras.layers.SimpleRNN(6, activation="sigmoid", name="r"), "activation 'sigmoid'"),
    (lambda: keras.layers.Bidirectional(keras.layers.GRU(6), name="r"), "not supported"),
], ids=["go_backwards", "hard_sigmoid", "sigmoid_rnn", "bidirectional"])
def test_keras_recurrent_forms_it_cannot_run_are_one_line(tmp_path: Path, layer: object, expected: str) -> None:
    keras_model(layer()).save(tmp_path / "m.keras")  # type: ignore[operator]
    np.savez(tmp_path / "calib.npz", x=np.zeros((4, 9, 3)), y=np.zeros(4, np.int64))
    proc = nnmodel("import", str(tmp_path / "m.keras"), "--calibration", str(tmp_path / "calib.npz"), "--out",
                   str(tmp_path / "m.nnm"), check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "layer r (" in proc.stderr and expected in proc.stderr and "nearest supported form" in proc.stderr
    assert not (tmp_path / "m.nnm").exists()


def test_sequence_inputs_come_as_n_t_f_or_flat_csv_rows(tmp_path: Path) -> None:
    """Calibration sequences are [N, T, F] even for a time-first (batch_first=False) file, or CSV rows of
    T·F values; a 3-D input that no recurrent node reads is refused."""
    rng = np.random.default_rng(9)
    path = torch_recurrent("GRU", torch_weights("GRU", 2, 5, 1, rng), rng.normal(0, 0.5, (3, 5)), np.zeros(3), 4,
                           tmp_path / "m.onnx", batch_first=False)
    x = rng.normal(0, 1, (30, 4, 2))
    with open(tmp_path / "calib.csv", "w") as f:
        f.write(",".join(f"t{t}_{c}" for t in range(4) for c in "ab") + ",label\n")
        for row, label in zip(x.reshape(30, -1), np.arange(30) % 3):
            f.write(",".join(f"{v:.6f}" for v in row) + f",{label}\n")
    out = nnmodel("import", str(path), "--calibration", str(tmp_path / "calib.csv"), "--out",
                  str(tmp_path / "m.nnm")).stdout
    assert float(re.search(r"max \|difference\| (\S+) on the logits of 30 samples", out)[1]) <= 1e-4, out
    assert load(tmp_path / "m.nnm").input.shape == (4, 2)
    np.savez(tmp_path / "bad.npz", x=x.reshape(30, 2, 4), y=np.arange(30) % 3)
    proc = nnmodel("import", str(path), "--calibration", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "b.nnm"),
                   check=False)
    assert proc.returncode == 2 and "takes sequences of 4 steps x 2 values" in proc.stderr, proc.stderr
    model = onnx.load(str(path))  # the input into a Gemm instead of the GRU
    graph = onnx.helper.make_graph([onnx.helper.make_node("Flatten", ["input"], ["f"], axis=1),
                                    onnx.helper.make_node("Gemm", ["f", "w", "b"], ["output"], transB=1)], "g",
                                   [model.graph.input[0]], [model.graph.output[0]],
                                   [onnx.numpy_helper.from_array(np.zeros((3, 8), np.float32), "w"),
                                    onnx.numpy_helper.from_array(np.zeros(3, np.float32), "b")])
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), str(tmp_path / "f.onnx"))
    with pytest.raises(NNModelError, match=r"a 3-D input is a sequence for a GRU, LSTM or RNN node"):
        read_graph(tmp_path / "f.onnx")


def test_a_file_with_a_fixed_batch_size_is_compared_in_batches(tmp_path: Path) -> None:
    """torch.onnx.export without dynamic_axes fixes the batch (often 1): onnxruntime refuses any other
    count, so the agreement line runs the samples in batches of that size (the last one padded)."""
    from onnx_forms import linear_chain

    rng = np.random.default_rng(4)
    path = linear_chain([(rng.normal(0, 0.5, (6, 4)), rng.normal(0, 0.1, 6), "relu"),
                         (rng.normal(0, 0.5, (3, 6)), np.zeros(3), "")], tmp_path / "m.onnx")
    model = onnx.load(str(path))
    for value in (model.graph.input[0], model.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_value = 1
    onnx.save(model, str(path))
    x = rng.normal(0, 1, (7, 4))
    graph = read_graph(path)
    lowered = lower(graph)
    line = agreement(path, graph, lowered, x, float_forward(lowered.layers, x).out[-1])
    assert re.search(r"max \|difference\| (\S+) on the logits of 7 samples", line), line
    assert float(re.search(r"difference\| (\S+)", line)[1]) <= 1e-4


def test_float_calibration_data_without_a_grid_imports_and_saves(tmp_path: Path) -> None:
    """float64 samples with no decimal or binary grid (e.g. sensor values already standardised): every
    value is within 1e-9 of a multiple of 10^-9, which is no grid at all; the feature's raw step must
    stay within what the file format accepts (2^-24..2^24 codes), so the .nnm saves and loads."""
    rng = np.random.default_rng(9)
    path = torch_recurrent("GRU", torch_weights("GRU", 2, 5, 1, rng), rng.normal(0, 0.5, (3, 5)), np.zeros(3), 4,
                           tmp_path / "m.onnx")
    np.savez(tmp_path / "calib.npz", x=rng.normal(0, 1, (30, 4, 2)), y=np.arange(30) % 3)
    nnmodel("import", str(path), "--calibration", str(tmp_path / "calib.npz"), "--out", str(tmp_path / "m.nnm"))
    for feature in load(tmp_path / "m.nnm").input.features:
        assert 2.0**-24 <= feature.step / feature.scale <= 1.0, feature
