"""nnmodel report: every shipped model's report (kept in build/artifacts/reports), valid PNGs of the
sizes plot_list promises, the card's figures equal to `nnmodel eval`'s and the bench's, and the
report's files replacing only an earlier report. Version-3 models (data files, any input shape,
regression) get the pictures of their task and input kind, and nothing that assumes 28x28 digits."""
from __future__ import annotations

import dataclasses
import json
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import MNIST_DIR, small_rnn
from randmodels import random_conv_model, random_model

from nnmodel import load, save
from nnmodel.cli import main
from nnmodel.errors import NNModelError
from nnmodel.evaldata import EvalData
from nnmodel.model import REGRESS, Feature, InputSpec, Model, OutputSpec
from nnmodel.report import CARD, MARKER, build_report
from nnmodel.report.plots import plot_list
from nnmodel.sim import avr_firmware, rv32
from nnmodel.sim.bench import MODELS_KEY, file_digest

REPO = Path(__file__).resolve().parent.parent
MODELS = sorted((REPO / "models").glob("*.nnm"))
ARTIFACTS = REPO / "build" / "artifacts" / "reports"

# Pixel sizes of each shipped model's pictures: fixed here so a layout change is a visible decision.
EXPECTED_SIZES = {
    "mnist_cnn_attiny85": {"confusion_matrix.png": (800, 800), "per_class_accuracy.png": (900, 450),
                           "misclassified.png": (880, 665), "weight_histograms.png": (1200, 330),
                           "feature_maps.png": (770, 1410)},
    "mnist_cnn_esp32c3": {"confusion_matrix.png": (800, 800), "per_class_accuracy.png": (900, 450),
                          "misclassified.png": (880, 665), "weight_histograms.png": (1200, 660),
                          "feature_maps.png": (1430, 1410)},
    "mnist_rnn_attiny85": {"confusion_matrix.png": (800, 800), "per_class_accuracy.png": (900, 450),
                           "misclassified.png": (880, 665), "weight_histograms.png": (1200, 660),
                           "rnn_hidden_state.png": (1510, 1040)},
    "mnist_mlp_esp32c3": {"confusion_matrix.png": (800, 800), "per_class_accuracy.png": (900, 450),
                          "misclassified.png": (880, 665), "weight_histograms.png": (1200, 330),
                          "first_layer_weights.png": (880, 520)},
    "breast_cancer_mlp": {"confusion_matrix.png": (600, 600), "per_class_accuracy.png": (900, 450),
                          "weight_histograms.png": (1200, 330)},
    "thermistor_attiny85": {"predicted_vs_true.png": (480, 480), "residuals.png": (480, 420),
                            "weight_histograms.png": (1200, 330)},
    "digits_cnn": {"confusion_matrix.png": (800, 800), "per_class_accuracy.png": (900, 450),
                   "misclassified.png": (880, 665), "weight_histograms.png": (1200, 330),
                   "feature_maps.png": (990, 750)},
    "gestures_rnn": {"confusion_matrix.png": (600, 600), "per_class_accuracy.png": (900, 450),
                     "misclassified.png": (1100, 750), "weight_histograms.png": (1200, 330),
                     "rnn_hidden_state.png": (1090, 1040)},
    "gestures_gru": {"confusion_matrix.png": (600, 600), "per_class_accuracy.png": (900, 450),
                     "misclassified.png": (1100, 750), "weight_histograms.png": (1200, 330),
                     "rnn_hidden_state.png": (1090, 1040), "recurrent_gates.png": (1290, 720)},
    "mnist_gru_attiny85": {"confusion_matrix.png": (800, 800), "per_class_accuracy.png": (900, 450),
                           "misclassified.png": (880, 665), "weight_histograms.png": (1200, 330),
                           "rnn_hidden_state.png": (1090, 1040), "recurrent_gates.png": (1290, 720)},
}

# The version-3 example models' data: their trainers' held-out test rows, and for digits_cnn every row.
DATA_FILES = {
    "breast_cancer_mlp": ["--data", str(REPO / "data" / "breast_cancer.csv"), "--label", "diagnosis", "--held-out"],
    "thermistor_attiny85": ["--data", str(REPO / "data" / "thermistor.csv"), "--label", "true_c", "--held-out"],
    "digits_cnn": ["--data", str(REPO / "data" / "digits.npz")],
    "gestures_rnn": ["--data", str(REPO / "data" / "gestures.npz"), "--held-out"],
    "gestures_gru": ["--data", str(REPO / "data" / "gestures.npz"), "--held-out"],
}
CLASSIFIERS = [p.stem for p in MODELS if not load(p).is_regression]
REGRESSIONS = [p.stem for p in MODELS if load(p).is_regression]


def data_args(name: str = "") -> list[str]:
    """A v3 model's data file; for MNIST models the full test set where it is (CI), else the bundled 500 digits."""
    if name in DATA_FILES:
        return DATA_FILES[name]
    return ["--data", str(MNIST_DIR)] if (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file() else []


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG after checking its signature, every chunk's CRC and the pixel data size."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    pos, chunks, idat = 8, [], b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in chunk {kind!r}"
        chunks.append(kind)
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND" and b"IDAT" in chunks
    width, height, depth, color = struct.unpack(">IIBB", data[16:26])
    channels = {2: 3, 6: 4, 0: 1, 4: 2}[color]
    assert len(zlib.decompress(idat)) == height * (1 + width * channels * depth // 8)
    return width, height


@pytest.fixture(scope="module")
def reports() -> dict[str, Path]:
    """The report of every shipped model, simulator figures measured (as CI and the Project Task do)."""
    out = {}
    for path in MODELS:
        folder = ARTIFACTS / path.stem
        assert main(["report", str(path), "--out", str(folder)] + data_args(path.stem)) == 0
        out[path.stem] = folder
    return out


@pytest.mark.parametrize("name", [p.stem for p in MODELS])
def test_every_picture_is_a_valid_png_of_the_promised_size(reports: dict[str, Path], name: str) -> None:
    folder = reports[name]
    expected = EXPECTED_SIZES[name]
    assert {p.file: (p.width, p.height) for p in plot_list(load(REPO / "models" / f"{name}.nnm"))} == expected
    assert sorted(p.name for p in folder.iterdir()) == sorted([*expected, CARD, MARKER])
    from matplotlib.image import imread

    for file, size in expected.items():
        assert png_size((folder / file).read_bytes()) == size, file
        pixels = imread(folder / file)
        assert pixels.shape[:2] == size[::-1] and float(pixels[..., :3].std()) > 0.05, f"{file} is blank"
    card = (folder / CARD).read_text()
    assert all(f"![{file}]({file})" in card for file in expected)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_card_accuracy_equals_nnmodel_eval(reports: dict[str, Path], name: str, capsys) -> None:
    card = (reports[name] / CARD).read_text()
    capsys.readouterr()
    for engine, row in (("reference", "reference (numpy integer"), ("c", "C (the generated code")):
        assert main(["eval", str(REPO / "models" / f"{name}.nnm"), "--engine", engine] + data_args(name)) == 0
        printed = capsys.readouterr().out
        accuracy = re.search(r"^accuracy: (\S+ \(\d+/\d+\))$", printed, re.M).group(1)
        assert re.search(rf"^\| {re.escape(row)}[^|]*\| {re.escape(accuracy)} \|$", card, re.M), (engine, accuracy)
        per_class = re.findall(r"^\s+\S+\s+([\d.]+%)\s+\(n=\d+\)$", printed, re.M)
        table = re.search(r"^\| accuracy \| (.*) \|$", card, re.M).group(1).split(" | ")
        assert len(per_class) == len(load(REPO / "models" / f"{name}.nnm").labels) and table == per_class
    n = accuracy.split("/")[1].rstrip(")")
    noun = "samples" if name in DATA_FILES else "digits"
    assert f"identical on {n}/{n} {noun} (bit for bit)" in card


@pytest.mark.parametrize("name", REGRESSIONS)
def test_card_error_equals_nnmodel_eval(reports: dict[str, Path], name: str, capsys) -> None:
    card = (reports[name] / CARD).read_text()
    model = load(REPO / "models" / f"{name}.nnm")
    capsys.readouterr()
    for engine, row in (("reference", "reference (numpy integer"), ("c", "C (the generated code")):
        assert main(["eval", str(REPO / "models" / f"{name}.nnm"), "--engine", engine] + data_args(name)) == 0
        printed = capsys.readouterr().out
        rmse = re.findall(r"rmse: (.+)$", printed, re.M)
        mae = re.findall(r"mae: (.+)$", printed, re.M)
        assert len(rmse) == len(mae) == model.n_classes
        for out, r, m in zip(model.labels, rmse, mae):
            assert re.search(rf"^\| {re.escape(out)} \| {re.escape(row)}[^|]*\| {re.escape(r)} \| {re.escape(m)} \|$",
                             card, re.M), (engine, out, r, m)
    n = re.search(r"held-out test rows, (\d+)\)", card).group(1)
    assert f"Outputs of the two engines: identical on {n}/{n} samples (bit for bit)." in card


def test_card_carries_the_simulator_figures_of_the_bench(reports: dict[str, Path]) -> None:
    cnn = (reports["mnist_cnn_attiny85"] / CARD).read_text()
    mlp = (reports["mnist_mlp_esp32c3"] / CARD).read_text()
    if avr_firmware.missing_tool():
        assert "not measured" in cnn
    else:
        cycles = re.search(r"ATtiny85 cycles per inference[^|]*\| ([\d,]+) \(≈ [\d.]+ ms", cnn)
        assert cycles and 1_000_000 < int(cycles.group(1).replace(",", "")) < 2_000_000
        assert "`attiny85.mnist_cnn_attiny85.eeprom_bytes`" in cnn and "| 499 |" in cnn
        # the MLP cannot live in a 512-byte EEPROM: the card says so instead of inventing figures
        assert "mnist_mlp_esp32c3 skipped, the firmware cannot hold it" in mlp
        assert "| ATtiny85 cycles per inference | not measured | |" in mlp
    if rv32.missing_tools():
        assert "RV32IMC instructions per inference | not measured" in mlp
    else:
        assert re.search(r"RV32IMC instructions per inference \(mean, 500 test digits; QEMU\) \| [\d,]+ ", mlp)
    for name in DATA_FILES:  # v3 models: RV32 on the bench's random inputs; the ATtiny85 firmware skips them
        card = (reports[name] / CARD).read_text()
        assert "| ATtiny85 cycles per inference | not measured | |" in card
        if not avr_firmware.missing_tool():
            assert f"- attiny85: {name} skipped, the firmware cannot hold it: " in card
        if not rv32.missing_tools():
            assert re.search(r"RV32IMC instructions per inference \(mean, 100 seeded random inputs; QEMU\) \| "
                             rf"[\d,]+ .*\| `rv32imc_sim\.{name}\.instructions_per_inference` \|", card)


def test_same_inputs_give_byte_identical_reports(tmp_path: Path) -> None:
    path = save(small_rnn(), tmp_path / "small_rnn.nnm")
    for out in ("a", "b"):
        assert main(["report", str(path), "--out", str(tmp_path / out), "--limit", "60", "--no-sim"]) == 0
    a, b = sorted((tmp_path / "a").iterdir()), sorted((tmp_path / "b").iterdir())
    assert [p.name for p in a] == [p.name for p in b]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b))
    assert "Not measured (`--no-sim`)" in (tmp_path / "a" / CARD).read_text()


def test_only_an_earlier_report_is_replaced(tmp_path: Path, capsys) -> None:
    path = save(small_rnn(), tmp_path / "small_rnn.nnm")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert main(["report", str(path), "--out", str(mine), "--limit", "20", "--no-sim"]) == 2
    assert "did not write; choose an empty or new --out" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]

    (tmp_path / "file").write_text("x")
    assert main(["report", str(path), "--out", str(tmp_path / "file"), "--limit", "20", "--no-sim"]) == 2
    assert "is not a folder" in capsys.readouterr().err

    out = tmp_path / "report"
    assert main(["report", str(path), "--out", str(out), "--limit", "20", "--no-sim"]) == 0
    (out / "rnn_hidden_state.png").write_bytes(b"stale")
    (out / MARKER).write_text((out / MARKER).read_text() + "old_picture.png\n")
    (out / "old_picture.png").write_bytes(b"from an older nnmodel")
    assert main(["report", str(path), "--out", str(out), "--limit", "20", "--no-sim"]) == 0
    assert not (out / "old_picture.png").exists()
    assert png_size((out / "rnn_hidden_state.png").read_bytes()) == (1510, 1040)


def test_figures_are_read_from_a_bench_results_file_of_this_model_only(tmp_path: Path, capsys) -> None:
    path = save(small_rnn(), tmp_path / "small_rnn.nnm")
    results = tmp_path / "results.json"
    figure = {"key": "attiny85_sim.small_rnn.cycles_per_inference", "unit": "cycles", "value": 123456}
    results.write_text(json.dumps({figure["key"]: figure,
                                   MODELS_KEY: {"small_rnn": {"file": path.name, "sha256": file_digest(path)}}}))
    out = tmp_path / "report"
    assert main(["report", str(path), "--out", str(out), "--limit", "20", "--bench", str(results)]) == 0
    card = (out / CARD).read_text()
    assert f"read from {results}" in card and "| 123,456 (≈ 7.5 ms at 16.5 MHz) |" in card

    save(small_rnn(seed=3), path, overwrite=True)
    capsys.readouterr()
    assert main(["report", str(path), "--out", str(tmp_path / "r2"), "--limit", "20", "--bench", str(results)]) == 2
    err = capsys.readouterr().err
    assert "changed since that run); rerun nnmodel bench" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r2").exists()


def test_nnmodel_works_without_matplotlib_and_report_says_how_to_get_it(tmp_path: Path) -> None:
    blocked = ("import sys; sys.modules['matplotlib'] = None; from nnmodel.cli import main; "
               "sys.exit(main(sys.argv[1:]))")
    model = str(REPO / "models" / "mnist_rnn_attiny85.nnm")
    for argv in (["info", model], ["eval", model, "--limit", "50"], ["eval", model, "--limit", "20", "--engine", "c"],
                 ["compile", model, "--target", "attiny85", "--out", str(tmp_path / "gen")]):
        proc = subprocess.run([sys.executable, "-c", blocked, *argv], capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode == 0, (argv, proc.stderr)
    proc = subprocess.run([sys.executable, "-c", blocked, "report", model, "--out", str(tmp_path / "r"), "--no-sim"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "matplotlib, which is not installed" in proc.stderr and "-m pip install" in proc.stderr
    assert not (tmp_path / "r").exists()


def test_report_refuses_no_digits(tmp_path: Path, capsys) -> None:
    path = save(small_rnn(), tmp_path / "small_rnn.nnm")
    assert main(["report", str(path), "--out", str(tmp_path / "r"), "--limit", "-1"]) == 2
    assert "--limit -1" in capsys.readouterr().err and not (tmp_path / "r").exists()


def _pngs_ok(folder: Path, expected: dict[str, tuple[int, int]]) -> None:
    """Every promised picture is a valid, non-blank PNG of its size, and the card shows it."""
    from matplotlib.image import imread

    for file, size in expected.items():
        assert png_size((folder / file).read_bytes()) == size, file
        assert float(imread(folder / file)[..., :3].std()) > 0.05, f"{file} is blank"
    card = (folder / CARD).read_text()
    assert all(f"![{file}]({file})" in card for file in expected)


@pytest.mark.parametrize("name", ["digits_cnn", "breast_cancer_mlp"])
def test_classification_report_on_a_data_file(tmp_path: Path, name: str) -> None:
    """digits_cnn reads 8x8 images: its misclassified digits and feature maps are 8x8, nothing is 28x28;
    breast_cancer_mlp reads a vector: no example pictures, its 30 features summarised on the card."""
    model = load(REPO / "models" / f"{name}.nnm")
    out = tmp_path / "report"
    held_out = [a for a in DATA_FILES[name] if a != "--held-out"] + ["--held-out"]  # the test rows only
    assert main(["report", str(REPO / "models" / f"{name}.nnm"), "--out", str(out), "--no-sim", *held_out]) == 0
    expected = EXPECTED_SIZES[name]
    assert sorted(p.name for p in out.iterdir()) == sorted([*expected, CARD, MARKER])
    _pngs_ok(out, expected)
    card = (out / CARD).read_text()
    assert "## Accuracy" in card and "| reference (numpy integer, the specification) | " in card
    assert re.search(r"^\| accuracy \| (\d+\.\d\d%( \| )?)+ \|$", card, re.M)
    assert "held-out test rows" in card and "The figures above are on those test rows (`--held-out`)." in card
    assert re.search(r"Recorded at export \(model file provenance\): test_int \d+\.\d\d%", card)
    assert "28x28" not in card and "28×28" not in card and "first_layer_weights" not in card
    if name == "digits_cnn":
        assert "- input: image 8x8x1 uint8, fed as 8 rows of 8 codes" in card and "| 0 | x0 | — | 1 | 120 |" in card
        assert "misclassified samples as the model saw them" in card
    else:
        assert "- task: classification into 2 classes (benign, malignant)" in card
        assert f"{len(model.input.features)} features: mean_radius, " in card
        assert "<summary>every feature</summary>" in card


def test_regression_report_plots_predicted_vs_true_and_residuals(tmp_path: Path, capsys) -> None:
    path = REPO / "models" / "thermistor_attiny85.nnm"
    out = tmp_path / "report"
    assert main(["report", str(path), "--out", str(out), "--no-sim", *DATA_FILES["thermistor_attiny85"]]) == 0
    expected = EXPECTED_SIZES["thermistor_attiny85"]
    assert sorted(p.name for p in out.iterdir()) == sorted([*expected, CARD, MARKER])
    _pngs_ok(out, expected)
    card = (out / CARD).read_text()
    capsys.readouterr()
    assert main(["eval", str(path), *DATA_FILES["thermistor_attiny85"]]) == 0
    printed = capsys.readouterr().out
    rmse, mae = re.search(r"^rmse: (.+)$", printed, re.M).group(1), re.search(r"^mae: (.+)$", printed, re.M).group(1)
    assert rmse.endswith(" degC")
    assert f"| true_c | reference (numpy integer, the specification) | {rmse} | {mae} |" in card
    assert "## Error" in card and "## Accuracy" not in card and "confusion_matrix" not in card
    assert "- task: regression, 1 output: true_c in degC (integer form: steps of 0.001 degC)" in card
    assert "| 0 | adc | count | 2.728 | -52 | 1 |" in card and "| 1 | board_c | degC |" in card
    assert re.search(r"Recorded at export \(model file provenance\): RMSE test_int [\d.]+ degC", card)
    assert "`test` is the 20% of the training file's 8000 rows the trainer held out (split seed 0)" in card
    assert "Firmware figures: not measured (`--no-sim`)." in card


def test_v3_report_measures_what_the_simulators_can_run(tmp_path: Path) -> None:
    """breast_cancer_mlp (about a second of QEMU): RV32 figures on the bench's seeded random inputs, and
    the ATtiny85 firmware, whose 512-byte EEPROM cannot hold it, listed as not measured with the reason."""
    out = tmp_path / "report"
    assert main(["report", str(REPO / "models" / "breast_cancer_mlp.nnm"), "--out", str(out),
                 *DATA_FILES["breast_cancer_mlp"]]) == 0
    card = (out / CARD).read_text()
    if not avr_firmware.missing_tool():
        assert ("- attiny85: breast_cancer_mlp skipped, the firmware cannot hold it: breast_cancer_mlp.nnm: "
                "does not fit attiny85 EEPROM") in card
    if rv32.missing_tools():
        assert "| RV32IMC instructions per inference | not measured | |" in card
    else:
        assert "| RV32IMC instructions per inference (mean, 100 seeded random inputs; QEMU) |" in card
        assert re.search(r"^\| RV32IMC: RAM of one inference \(static \+ stack\) \| [\d,]+ \|", card, re.M)


def test_a_failing_simulator_leaves_a_note_for_v3_models_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A simulator path that cannot handle a version-3 model leaves a note on the card, not a crash;
    for an MNIST-era model the same failure is a bug and stops the report."""
    from nnmodel.report import measure as measure_module

    def broken(ctx: object) -> list:
        raise NNModelError("bench.elf: QEMU run failed (exit 1): trap")

    monkeypatch.setattr(measure_module, "attiny85_figures", lambda ctx: [])
    monkeypatch.setattr(measure_module, "rv32_figures", broken)
    path = REPO / "models" / "thermistor_attiny85.nnm"
    bench = measure_module.measure(load(path), path, path.stem)
    assert bench.figures == {}
    assert bench.notes == ["rv32imc: not measured, the simulator run failed on thermistor_attiny85: "
                           "bench.elf: QEMU run failed (exit 1): trap"]
    mnist = REPO / "models" / "mnist_cnn_attiny85.nnm"
    with pytest.raises(NNModelError, match="QEMU run failed"):
        measure_module.measure(load(mnist), mnist, mnist.stem)


def test_report_of_a_gru_behind_a_pool_draws_its_state(tmp_path: Path) -> None:
    """The shipped GRU reads the rows of a max-pooled digit: its hidden-state picture takes the
    recurrent layer after the pool (there is no leading sequence layer)."""
    path = REPO / "models" / "mnist_gru_attiny85.nnm"
    assert main(["report", str(path), "--out", str(tmp_path / "r"), "--no-sim"]) == 0
    for file in ("rnn_hidden_state.png", "recurrent_gates.png"):
        assert png_size((tmp_path / "r" / file).read_bytes()) == EXPECTED_SIZES["mnist_gru_attiny85"][file]


def test_v3_model_without_its_data_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    assert main(["report", str(REPO / "models" / "gestures_rnn.nnm"), "--out", str(tmp_path / "r"), "--no-sim"]) == 2
    err = capsys.readouterr().err.strip()
    assert "not 28x28 digits; pass its data file with --data FILE" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


def _as_v3(model: Model, kind: str, dtype: str, regress: bool) -> Model:
    """The model with a version-3 input of its rows and cols (features with units) and maybe regression."""
    spec = model.input
    new = {"image": spec if spec.channels > 1 else InputSpec.of_shape((spec.rows, spec.cols, 1)),
           "sequence": InputSpec.of_shape((spec.rows, spec.cols))}[kind]
    new = dataclasses.replace(new, scale=spec.scale, dtype=dtype)
    new.features = tuple(Feature(f"f{i}", "V", 0.05 * (i + 1), 3, 0.001) for i in range(new.n_features))
    k = model.n_classes
    out = OutputSpec(REGRESS, ("mm",) * k, (0.01,) * k) if regress else model.output
    return dataclasses.replace(model, input=new, output=out, name=model.name + "_v3")


V3_CASES = {  # name: (base model, input kind, dtype, regression)
    "rgb_int8_cnn": (lambda rng: random_conv_model(rng, "rgb", max_side=10, channels=3), "image", "int8", False),
    "two_channel_cnn_regression": (lambda rng: random_conv_model(rng, "ch2", max_side=10, channels=2), "image",
                                   "uint8", True),
    "sequence_rnn": (lambda rng: random_model(rng, "seq"), "sequence", "int8", False),
    "sequence_rnn_regression": (lambda rng: random_model(rng, "seqr"), "sequence", "uint8", True),
}


@pytest.mark.parametrize("case", V3_CASES)
def test_every_input_kind_and_task_gets_its_pictures(tmp_path: Path, case: str) -> None:
    """Random v3 models (any H×W, 2 or 3 channels, int8 codes, sequences, several regression outputs): the
    report draws every picture plot_list promises at its size, the card names the metric."""
    make, kind, dtype, regress = V3_CASES[case]
    for seed in range(40):  # random_model gives an RNN front only sometimes
        rng = np.random.default_rng(seed)
        base = make(rng)
        if kind != "sequence" or type(base.layers[0]).__name__ == "RNN":
            break
    model = _as_v3(base, kind, dtype, regress)
    path = save(model, tmp_path / f"{model.name}.nnm")
    lo, hi = (-128, 128) if dtype == "int8" else (0, 256)
    codes = rng.integers(lo, hi, (60,) + model.input.shape).astype(np.int8 if dtype == "int8" else np.uint8)
    targets = rng.normal(size=(60, model.n_classes)) if regress else rng.integers(0, model.n_classes, 60)
    files = build_report(model, path, EvalData(codes, targets, "random codes (60)", regress), None, "test")
    expected = {p.file: (p.width, p.height) for p in plot_list(model)}
    assert sorted(files) == sorted([*expected, CARD])
    assert all(png_size(files[f]) == size for f, size in expected.items())
    assert ("predicted_vs_true.png" in files) == regress == ("## Error" in files[CARD].decode())
    assert "first_layer_weights.png" not in files and "28x28" not in files[CARD].decode()


def test_report_refuses_no_samples() -> None:
    model = load(REPO / "models" / "digits_cnn.nnm")
    empty = EvalData(np.zeros((0, 8, 8, 1), np.uint8), np.zeros(0, np.int64), "x.npz (held-out test rows, 0)", False)
    with pytest.raises(NNModelError, match=r"^x.npz \(held-out test rows, 0\): no samples to report on; drop --limit"):
        build_report(model, REPO / "models" / "digits_cnn.nnm", empty, None, "test")
