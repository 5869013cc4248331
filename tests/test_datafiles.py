"""Your data, your task: train, eval, verify and the pre-build on data files (data/, made by
scripts/data), the shipped example models' goals, and one-line errors for bad data.

The example models (models/breast_cancer_mlp.nnm, thermistor_attiny85.nnm, digits_cnn.nnm,
gestures_rnn.nnm, gestures_gru.nnm) are checked on the rows their trainer held out (`eval --held-out`), bit-exact on
the host for every row of their data, and in QEMU (RV32IMC and Cortex-M4) on 40 rows each.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

from nnmodel import load, reference
from nnmodel.evaldata import load as load_eval
from nnmodel.evaldata import stream_codes
from nnmodel.prebuild import Settings, generate

DATA = REPO / "data"
MODELS = REPO / "models"
# model, data file, label, the goal on the held-out rows: (metric, bound)
EXAMPLES = {
    "breast_cancer_mlp": ("breast_cancer.csv", "diagnosis", ("accuracy", 0.95)),
    "thermistor_attiny85": ("thermistor.csv", "true_c", ("rmse", 0.3)),
    "digits_cnn": ("digits.npz", None, ("accuracy", 0.95)),
    "gestures_rnn": ("gestures.npz", None, ("accuracy", 0.95)),
    "gestures_gru": ("gestures.npz", None, ("accuracy", 0.95)),
}


def nnmodel(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "nnmodel", *args], cwd=REPO, capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def data_args(name: str) -> list[str]:
    file, label, _ = EXAMPLES[name]
    return ["--data", str(DATA / file)] + (["--label", label] if label else [])


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_model_meets_its_goal_on_held_out_rows(name: str) -> None:
    metric, bound = EXAMPLES[name][2]
    out = nnmodel("eval", str(MODELS / f"{name}.nnm"), *data_args(name), "--held-out").stdout
    assert "held-out test rows" in out
    if metric == "accuracy":
        found = re.search(r"^accuracy: ([\d.]+)% \((\d+)/(\d+)\)$", out, re.M)
        assert found and float(found[1]) / 100 >= bound, out
    else:
        found = re.search(r"^rmse: ([\d.]+) degC$", out, re.M)
        assert found and float(found[1]) <= bound and re.search(r"^mae: [\d.]+ degC$", out, re.M), out


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_model_c_is_bit_identical_on_every_row(name: str) -> None:
    out = nnmodel("verify", str(MODELS / f"{name}.nnm"), *data_args(name)).stdout
    found = re.match(r"(\d+)/(\d+) bit-identical", out)
    assert found and found[1] == found[2] and int(found[2]) > 500, out


def test_example_models_are_bit_exact_in_qemu() -> None:
    from nnmodel.sim import cortexm, rv32

    for sim in (rv32, cortexm):
        missing = sim.missing_tools()
        if missing:
            pytest.fail(f"{sim.__name__}: {missing} (scripts/setup.sh installs the simulators)")
    for name in EXAMPLES:
        model = load(MODELS / f"{name}.nnm")
        file, label, _ = EXAMPLES[name]
        codes = stream_codes(load_eval(model, str(DATA / file), label=label, limit=40), model)
        expected = reference.run(model, codes)
        for sim in (rv32, cortexm):
            with tempfile.TemporaryDirectory() as tmp:
                run = sim.build(model, Path(tmp), codes, np.zeros(len(codes), np.uint8)).measure()
            assert (run.logits == expected).all(), f"{name} on {sim.__name__}"
            assert run.instructions.min() > 0


def test_train_classify_from_csv_then_eval_and_verify(tmp_path: Path) -> None:
    out = tmp_path / "bc.nnm"
    done = nnmodel("train", "--arch", "mlp:30-8-2", "--data", str(DATA / "breast_cancer.csv"), "--label",
                   "diagnosis", "--epochs", "20", "--batch", "32", "--lr", "0.003", "--out", str(out), "--quiet")
    assert re.search(r"test [\d.]+% int \(114 held-out rows\)", done.stdout), done.stdout
    model = load(out)
    assert model.labels == ["benign", "malignant"] and model.input.shape == (30,)
    assert model.provenance["holdout"]["test_split"] == 0.2 and model.provenance["holdout"]["rows"] == 569
    info = nnmodel("info", str(out)).stdout
    assert "input vector of 30 uint8 codes" in info and "feature mean_radius" in info
    ev = nnmodel("eval", str(out), "--data", str(DATA / "breast_cancer.csv"), "--label", "diagnosis").stdout
    assert re.search(r"^accuracy: [\d.]+% \(\d+/569\)$", ev, re.M)
    assert nnmodel("verify", str(out), "--data", str(DATA / "breast_cancer.csv"), "--label",
                   "diagnosis").stdout.startswith("569/569 bit-identical")


def test_train_regression_with_units(tmp_path: Path) -> None:
    out = tmp_path / "th.nnm"
    done = nnmodel("train", "--arch", "mlp:2-8-1", "--data", str(DATA / "thermistor.csv"), "--label", "true_c",
                   "--units", "adc=count,board_c=degC,true_c=degC", "--limit", "2000", "--epochs", "10",
                   "--out", str(out), "--quiet")
    assert re.search(r"test rmse [\d.]+, mae [\d.]+", done.stdout), done.stdout
    model = load(out)
    assert model.is_regression and model.output.units == ("degC",) and model.output.steps == (0.001,)
    assert [f.unit for f in model.input.features] == ["count", "degC"]
    assert [f.step for f in model.input.features] == [1.0, 0.0625]  # whole counts; the sensor's 1/16 grid
    ev = nnmodel("eval", str(out), "--data", str(DATA / "thermistor.csv"), "--label", "true_c", "--engine",
                 "c").stdout
    assert re.search(r"^rmse: [\d.]+ degC$", ev, re.M) and re.search(r"^mae: [\d.]+ degC$", ev, re.M)


def test_train_sequences_and_images(tmp_path: Path) -> None:
    rnn = tmp_path / "g.nnm"
    nnmodel("train", "--arch", "rnn:3-8-5", "--data", str(DATA / "gestures.npz"), "--limit", "500", "--epochs",
            "3", "--out", str(rnn), "--quiet")
    model = load(rnn)
    assert model.input.kind == "sequence" and model.input.shape == (32, 3)
    assert [f.name for f in model.input.features] == ["ax", "ay", "az"]
    cnn = tmp_path / "d.nnm"
    nnmodel("train", "--arch", "cnn:8x8x1-c4-p2-10", "--data", str(DATA / "digits.npz"), "--limit", "500",
            "--epochs", "3", "--out", str(cnn), "--quiet")
    model = load(cnn)
    assert model.input.kind == "image" and model.input.shape == (8, 8, 1)
    assert model.input.features[0].scale == 1.0  # whole numbers 0..16: one code each, lossless
    assert nnmodel("verify", str(cnn), "--data", str(DATA / "digits.npz")).stdout.startswith("1797/1797")


@pytest.mark.parametrize("arch, data", [("gru:3-8-5", "gestures.npz"), ("lstm:3-6-5", "gestures.npz"),
                                        ("gru:8x8-p2-6-10", "digits.npz")])
def test_train_gated_recurrences_on_data_files(tmp_path: Path, arch: str, data: str) -> None:
    """A GRU or LSTM on sequences, and a GRU reading the rows of a max-pooled image (standardized per
    channel behind the pool): eval --held-out measures the model on the rows the trainer held out and
    gets the test accuracy the trainer printed (three epochs: the pipeline, not the accuracy)."""
    out = tmp_path / "g.nnm"
    done = nnmodel("train", "--arch", arch, "--data", str(DATA / data), "--epochs", "3", "--lr", "0.01",
                   "--out", str(out), "--quiet").stdout
    printed = re.search(r"test ([\d.]+)% int", done)
    model = load(out)
    assert [layer.kind for layer in model.layers][-2:] == [arch.split(":")[0], "dense"]
    ev = nnmodel("eval", str(out), "--data", str(DATA / data), "--held-out").stdout
    measured = re.search(r"^accuracy: ([\d.]+)% \((\d+)/(\d+)\)$", ev, re.M)
    assert printed and measured and measured[1] == printed[1], (done, ev)
    assert int(measured[3]) == round(0.2 * len(load_eval(model, str(DATA / data))))  # the --test-split rows


def test_shipped_example_retrains_byte_for_byte(tmp_path: Path) -> None:
    """The command in the model's provenance gives the same model (only its time differs)."""
    model = load(MODELS / "breast_cancer_mlp.nnm")
    argv = model.provenance["command"].split()[1:]
    argv[argv.index("--out") + 1] = str(tmp_path / "breast_cancer_mlp.nnm")
    nnmodel(*argv, "--quiet")
    again = load(tmp_path / "breast_cancer_mlp.nnm")
    for a, b in zip(model.layers, again.layers):
        assert (a.w_q == b.w_q).all() and (a.b_q == b.b_q).all()
    assert again.input == model.input and again.output == model.output


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    return path


BAD_DATA = {
    "non-numeric cell": ("a,b,label\n1,2,0\n3,x,1\n", ["--label", "label"],
                         "line 3, column 2 (b): 'x' is not a number"),
    "missing label column": ("a,b,c\n1,2,0\n", ["--label", "tempx"], "no column 'tempx'; the columns are a, b, c"),
    "ragged row": ("a,b,label\n1,2,0\n1,2,3,4\n", ["--label", "label"], "line 3 has 4 values, the header has 3"),
    "NaN": ("a,b,label\n1,nan,0\n", ["--label", "label"], "line 2, column 2 (b): 'nan' is not a finite number"),
    "infinity": ("a,b,label\n1,inf,0\n", ["--label", "label"], "line 2, column 2 (b): 'inf' is not a finite number"),
    "regression label for classify": ("a,b,t\n1,2,23.41\n2,3,1\n", ["--label", "t", "--task", "classify"],
                                      "column 't' holds real values (e.g. 23.41 on line 2): a regression target; "
                                      "use --task regress"),
    "shape that does not match --arch": ("a,b,label\n1,2,0\n2,3,1\n", ["--label", "label"],
                                         "samples have shape 2, but --arch mlp:6-4-2 takes 6 features; "
                                         "e.g. --arch mlp:2-16-2"),
}


@pytest.mark.parametrize("case", sorted(BAD_DATA))
def test_bad_data_is_one_line_naming_file_and_place(tmp_path: Path, case: str) -> None:
    text, extra, message = BAD_DATA[case]
    path = _csv(tmp_path, text)
    proc = nnmodel("train", "--arch", "mlp:6-4-2", "--data", str(path), *extra, "--out", str(tmp_path / "m.nnm"),
                   check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(f"nnmodel: error: {path}: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "m.nnm").exists()


def test_eval_refuses_data_that_is_not_the_models(tmp_path: Path) -> None:
    proc = nnmodel("eval", str(MODELS / "thermistor_attiny85.nnm"), "--data", str(DATA / "breast_cancer.csv"),
                   "--label", "diagnosis", check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "samples have shape 30, but model thermistor_attiny85 takes 2" in proc.stderr
    proc = nnmodel("eval", str(MODELS / "thermistor_attiny85.nnm"), check=False)  # no --data: MNIST digits
    assert "not 28x28 digits; pass its data file with --data FILE" in proc.stderr


def test_prebuild_golden_from_a_data_file_runs_on_the_host(tmp_path: Path) -> None:
    """custom_nnmodel_sample_images names a data file: samples and golden logits of a v3 model, checked
    by the same C test (test/common/test_golden) the simulator envs run."""
    project = tmp_path / "p"
    (project / "models").mkdir(parents=True)
    shutil.copy(MODELS / "thermistor_attiny85.nnm", project / "models")
    shutil.copy(DATA / "thermistor.csv", project)
    options = {"model": "models/thermistor_attiny85.nnm", "samples": "25", "golden": "yes",
               "sample_images": "thermistor.csv", "sample_label": "true_c"}
    gen = project / "gen"
    generate(Settings.parse(options, project, "native"), options, gen, lambda _: None)
    assert "25 sample" in (gen / "nnmodel_samples.h").read_text()
    from nnmodel import hostc

    native = REPO / "platformio" / "platforms" / "nnmodel-native" / "include"
    exe = tmp_path / "golden"
    model = load(project / "models" / "thermistor_attiny85.nnm")
    hostc.link_with_runtime(model, gen, exe, ["-O1"], [REPO / "test" / "common" / "test_golden" / "test_main.c",
                                                        gen / "nnmodel_samples.c", gen / "nnmodel_golden.c"],
                            include_dirs=(native, REPO / "test"))
    out = subprocess.run([str(exe)], capture_output=True, text=True)
    assert out.returncode == 0 and re.search(r"^\d+ Tests 0 Failures 0 Ignored", out.stdout, re.M), out.stdout
