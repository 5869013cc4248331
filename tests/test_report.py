"""nnmodel report: every shipped model's report (kept in build/artifacts/reports), valid PNGs of the
sizes plot_list promises, the card's figures equal to `nnmodel eval`'s and the bench's, and the
report's files replacing only an earlier report."""
from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from conftest import MNIST_DIR, small_rnn

from nnmodel import load, save
from nnmodel.cli import main
from nnmodel.report import CARD, MARKER
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
    "mnist_rnn_attiny85": {"confusion_matrix.png": (800, 800), "per_class_accuracy.png": (900, 450),
                           "misclassified.png": (880, 665), "weight_histograms.png": (1200, 660),
                           "rnn_hidden_state.png": (1510, 1040)},
    "mnist_mlp_esp32c3": {"confusion_matrix.png": (800, 800), "per_class_accuracy.png": (900, 450),
                          "misclassified.png": (880, 665), "weight_histograms.png": (1200, 330),
                          "first_layer_weights.png": (880, 520)},
}


def data_args() -> list[str]:
    """The full MNIST test set where it is (CI), else the bundled 500 digits."""
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
        assert main(["report", str(path), "--out", str(folder)] + data_args()) == 0
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


@pytest.mark.parametrize("name", [p.stem for p in MODELS])
def test_card_accuracy_equals_nnmodel_eval(reports: dict[str, Path], name: str, capsys) -> None:
    card = (reports[name] / CARD).read_text()
    capsys.readouterr()
    for engine, row in (("reference", "reference (numpy integer"), ("c", "C (the generated code")):
        assert main(["eval", str(REPO / "models" / f"{name}.nnm"), "--engine", engine] + data_args()) == 0
        printed = capsys.readouterr().out
        accuracy = re.search(r"^accuracy: (\S+ \(\d+/\d+\))$", printed, re.M).group(1)
        assert re.search(rf"^\| {re.escape(row)}[^|]*\| {re.escape(accuracy)} \|$", card, re.M), (engine, accuracy)
        per_class = re.findall(r"^\s+\S+\s+([\d.]+%)\s+\(n=\d+\)$", printed, re.M)
        table = re.search(r"^\| accuracy \| (.*) \|$", card, re.M).group(1).split(" | ")
        assert len(per_class) == 10 and table == per_class
    n = accuracy.split("/")[1].rstrip(")")
    assert f"identical on {n}/{n} digits (bit for bit)" in card


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
