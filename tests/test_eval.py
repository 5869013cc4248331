"""nnmodel.evaluate and `nnmodel eval`: metrics, report format, reference and C engines, errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnmodel import cli, save
from nnmodel.datasets import load_mnist
from nnmodel.evaluate import Evaluation, evaluate, format_report
from nnmodel.train import TrainConfig, parse_arch, train

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "mnist"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared MNIST not available")


@pytest.fixture(autouse=True)
def only_our_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "COMMANDS", ("train", "eval"))


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not DATA.is_dir():
        pytest.skip("shared MNIST not available")
    ds = load_mnist(DATA, "train")
    result = train(parse_arch("rnn:28-5-8-10"), ds.images[:800], ds.labels[:800],
                   TrainConfig(epochs=2, lr=1e-2, float_epochs=1, seed=1))
    return save(result.network.quantize("evalnet"), tmp_path_factory.mktemp("m") / "evalnet.nnm")


def test_metrics_from_known_predictions() -> None:
    ev = Evaluation(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), ["a", "b", "c"], "reference", "x")
    assert ev.accuracy == pytest.approx(0.6)
    np.testing.assert_array_equal(ev.confusion, [[1, 1, 0], [0, 2, 0], [1, 0, 0]])
    np.testing.assert_allclose(ev.per_class, [0.5, 1.0, 0.0])
    text = format_report(ev)
    assert "accuracy: 60.00% (3/5)" in text
    assert "confusion matrix (rows: true, columns: predicted):" in text
    rows = text.splitlines()[-3:]
    assert rows[0].split() == ["a", "1", "1", "0"] and rows[2].split() == ["c", "1", "0", "0"]


def test_class_without_examples_is_reported_as_na() -> None:
    ev = Evaluation(np.array([0, 0]), np.array([0, 1]), ["0", "1"], "reference", "")
    assert np.isnan(ev.per_class[1])
    assert "n/a" in format_report(ev)


def test_eval_reference_report_format(model_file: Path, capsys) -> None:
    assert cli.main(["eval", str(model_file), "--data", str(DATA), "--limit", "300"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("model evalnet")
    assert "engine: reference" in out and "(test, 300 digits)" in out
    assert any(line.startswith("accuracy: ") and line.endswith("/300)") for line in lines)
    assert "per-class accuracy:" in out and "us/inference" not in out
    matrix = lines[lines.index("confusion matrix (rows: true, columns: predicted):") + 1:]
    assert matrix[0].split() == [str(i) for i in range(10)]
    assert len(matrix) == 11 and sum(int(v) for row in matrix[1:] for v in row.split()[1:]) == 300


def test_c_engine_matches_reference_and_is_timed(model_file: Path, capsys) -> None:
    from nnmodel import load
    model = load(model_file)
    ds = load_mnist(DATA, "test")
    ref = evaluate(model, ds.images[:400], ds.labels[:400])
    c = evaluate(model, ds.images[:400], ds.labels[:400], engine="c")
    np.testing.assert_array_equal(c.predictions, ref.predictions)
    assert c.us_per_inference is not None and c.us_per_inference > 0
    assert cli.main(["eval", str(model_file), "--data", str(DATA), "--engine", "c", "--limit", "200"]) == 0
    assert "us/inference (host C -O2, median of 5 runs)" in capsys.readouterr().out


def test_eval_without_data_uses_the_bundled_sample(model_file: Path, capsys) -> None:
    assert cli.main(["eval", str(model_file)]) == 0
    assert "/500)" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["missing.nnm"], "no such model file"),
    (["{model}", "--split", "train"], "--split train needs --data"),
    (["{model}", "--limit", "-1"], "--limit"),
    (["{model}", "--data", "/nonexistent-dir"], "no such file or folder"),
])
def test_eval_errors_are_one_line(model_file: Path, capsys, args: list[str], message: str) -> None:
    argv = ["eval"] + [a.format(model=model_file) for a in args]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
