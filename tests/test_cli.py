"""The nnmodel command: compile, info, verify, bench, and one-line errors without tracebacks."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import small_mlp, small_rnn

from nnmodel import save
from nnmodel.cli import main
from nnmodel.sim import rv32
from nnmodel.sim.bench import file_digest


def nnmodel(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnmodel", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture
def rnn_file(tmp_path: Path) -> Path:
    return save(small_rnn(lut=False), tmp_path / "small_rnn.nnm")


def test_compile_writes_header_source_and_eeprom_image(rnn_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "gen"
    assert main(["compile", str(rnn_file), "--target", "attiny85", "--storage", "eeprom", "--out", str(out)]) == 0
    generated = ["nnmodel.h", "small_rnn.bin", "small_rnn.c", "small_rnn.eep", "small_rnn.h"]
    # beside them nnmodel's manifest of the files it wrote, and the folder's lock (docs/errors.md section 11)
    assert sorted(p.name for p in out.iterdir()) == [".nnmodel-files", ".nnmodel.lock", *generated]
    assert [line.split(" ", 1)[1] for line in (out / ".nnmodel-files").read_text().splitlines()[1:]] == generated
    text = capsys.readouterr().out
    assert "EEPROM" in text and "hash 0x" in text


def test_info_lists_layers_sizes_macs_and_ram(rnn_file: Path, capsys) -> None:
    assert main(["info", str(rnn_file)]) == 0
    text = capsys.readouterr().out
    for expected in ("rnn 28->5", "rnn 5->8", "dense 8->10", "MACs per inference: 7612", "parameters:",
                     "eeprom", "runtime RAM:", "bits headroom"):
        assert expected in text, expected


def test_verify_full_test_set(tmp_path: Path, mnist_dir: Path, capsys) -> None:
    path = save(small_mlp(), tmp_path / "small_mlp.nnm")
    assert main(["verify", str(path), "--data", str(mnist_dir)]) == 0
    assert "10000/10000 bit-identical" in capsys.readouterr().out


def test_verify_eeprom_storage_with_limit(rnn_file: Path, mnist_dir: Path, capsys) -> None:
    assert main(["verify", str(rnn_file), "--data", str(mnist_dir), "--limit", "300", "--storage", "eeprom"]) == 0
    assert "300/300 bit-identical" in capsys.readouterr().out


def test_bench_prints_key_value_unit_and_writes_json(rnn_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = nnmodel("bench", str(rnn_file), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if " = " in line]
    keys = {line.split(" = ")[0] for line in lines}
    assert {"host.small_rnn.us_per_inference", "reference.small_rnn.images_per_second",
            "prebuild.regenerate_seconds", "prebuild.noop_seconds"} <= keys
    rv32_keys = {f"rv32imc_sim.small_rnn.{k}" for k in ("instructions_per_inference", "instructions_per_mac",
                                                        "instructions_per_inference_worst",
                                                        "instructions_per_mac_worst")}
    rv32_keys |= {f"rv32imc.small_rnn.{k}" for k in ("inference_ram_bytes", "stack_bytes", "static_ram_bytes",
                                                     "flash_bytes", "flash_code_bytes", "flash_total_bytes")}
    assert {k for k in keys if k.startswith("rv32")} == (set() if rv32.missing_tools() else rv32_keys)
    results = json.loads(out.read_text())
    assert results.pop("models") == {"small_rnn": {"file": rnn_file.name, "sha256": file_digest(rnn_file)}}
    assert set(results) == keys and all(r["value"] > 0 for r in results.values())


@pytest.mark.parametrize("args, message", [
    (["info", "missing.nnm"], "missing.nnm: no such model file"),
    (["compile", "{bad}", "--out", "o"], "bad magic"),
    (["compile", "{rnn}", "--target", "attiny85", "--storage", "flash", "--out", "o"],
     "AVR flash is --storage progmem"),
    (["verify", "{rnn}", "--data", "nowhere"], "nnmodel data mnist --dir"),
])
def test_errors_are_one_line_without_traceback(tmp_path: Path, rnn_file: Path, args: list, message: str) -> None:
    bad = tmp_path / "bad.nnm"
    bad.write_bytes(b"not a model at all, just text")
    args = [a.replace("{bad}", str(bad)).replace("{rnn}", str(rnn_file)) for a in args]
    proc = nnmodel(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("nnmodel: error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_bench_train_reruns_the_recorded_command(tmp_path: Path, mnist_dir: Path) -> None:
    model = tmp_path / "tiny.nnm"
    train = ["train", "--arch", "mlp:784-8-10", "--data", str(mnist_dir), "--out", str(model), "--epochs", "1",
             "--limit", "300", "--quiet"]
    assert nnmodel(*train).returncode == 0
    proc = nnmodel("bench", str(model), "--train", "--out", str(tmp_path / "r.json"))
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("train.tiny.seconds = "))
    assert float(line.split(" = ")[1].split()[0]) > 0


def test_info_notes_a_final_fit_only_when_validation_is_missing(tmp_path: Path, capsys) -> None:
    """A split run trained on a folder without the test files has val_* but test_int None: it is no final fit."""
    model = small_mlp()
    model.provenance["accuracy"] = {"val_float": 0.987, "val_int": 0.989, "test_int": None}
    assert main(["info", str(save(model, tmp_path / "split.nnm"))]) == 0
    text = capsys.readouterr().out
    assert "val_int 98.90%" in text and "final fit" not in text
    model.provenance["accuracy"] = {"val_float": None, "val_int": None, "test_int": 0.98}
    assert main(["info", str(save(model, tmp_path / "full.nnm"))]) == 0
    assert "test_int 98.00% (no validation split: final fit" in capsys.readouterr().out
