"""The built wheel, installed as a user installs it: not editable, in a fresh venv, outside the checkout.

It must carry the CLI, the compiler, the C runtime (nnmodel/_nnrt), the bundled sample digits and
the PlatformIO hook (`nnmodel hook-path`), with metadata fit for PyPI: a shipped model compiles to
the same files as from the checkout, the generated C builds with the wheel's runtime alone and
gives the reference's logits, and `nnmodel eval --engine c` runs on the bundled digits.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import venv
from pathlib import Path

import numpy as np
from conftest import REPO

import nnmodel
from nnmodel import load, reference
from nnmodel.codegen import compile_model
from nnmodel.datasets import load_sample

MODEL = REPO / "models" / "mnist_cnn_attiny85.nnm"
PRINT_LOGITS = """
#include <stdio.h>
#include "nnmodel.h"
#include "digits.h"
int main(void)
{{
    int32_t logits[NNMODEL_NUM_CLASSES];
    unsigned k, j;
    for (k = 0; k < {count}u; k++) {{
        nnmodel_classify(digits + k * NNMODEL_INPUT_ROWS * NNMODEL_INPUT_COLS, logits);
        for (j = 0; j < NNMODEL_NUM_CLASSES; j++) {{
            printf("%ld ", (long)logits[j]);
        }}
        printf("\\n");
    }}
    return 0;
}}
"""


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc.stdout


def test_the_installed_wheel_compiles_a_shipped_model(tmp_path: Path, wheel: Path) -> None:
    env_dir, work = tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    venv.create(env_dir, with_pip=True)
    py = env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"
    _run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)], cwd=work)
    where = _run([str(py), "-c", "import nnmodel, nnmodel.paths as p; print(nnmodel.__file__); print(p.runtime_dir())"],
                 cwd=work, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}).split()
    assert all(Path(w).is_relative_to(env_dir) for w in where), where  # the wheel's files, not the checkout's
    runtime = Path(where[1])

    cli = env_dir / ("Scripts" if os.name == "nt" else "bin") / "nnmodel"
    out = _run([str(cli), "compile", str(MODEL), "--target", "native", "--storage", "eeprom", "--out", "gen"],
               cwd=work)
    assert "mnist_cnn_attiny85" in out
    mine = tmp_path / "checkout"
    compile_model(load(MODEL), target="native", storage="eeprom", out_dir=mine, source=str(MODEL))
    for f in sorted(mine.iterdir()):
        assert (work / "gen" / f.name).read_bytes() == f.read_bytes(), f"{f.name} differs from the checkout's"

    images = load_sample().images[:20]
    (work / "gen" / "digits.h").write_text("static const unsigned char digits[] = {"
                                           + ",".join(map(str, images.reshape(-1))) + "};\n")
    (work / "main.c").write_text(PRINT_LOGITS.format(count=len(images)))
    sources = [str(work / "main.c"), str(work / "gen" / "mnist_cnn_attiny85.c"),
               *map(str, sorted((runtime / "src").rglob("*.c")))]
    _run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-I", str(work / "gen"), "-I",
          str(runtime / "include"), *sources, "-o", str(work / "digits")], cwd=work)
    got = np.array([[int(v) for v in line.split()] for line in _run([str(work / "digits")], cwd=work).splitlines()])
    np.testing.assert_array_equal(got, reference.run(load(MODEL), images))

    # the bundled digits, the hook and the metadata
    out = _run([str(cli), "eval", str(MODEL), "--engine", "c", "--limit", "100"], cwd=work)
    assert re.search(r"data: \S+/nnmodel/data/samples/mnist-test-500-images-idx3-ubyte\.gz \(test, 100 digits\)", out)
    assert re.search(r"^accuracy: \d+\.\d\d% \(\d+/100\)$", out, re.M), out
    hook = Path(_run([str(cli), "hook-path"], cwd=work).strip())
    assert hook.is_file() and hook.is_relative_to(env_dir) and hook.name == "nnmodel_hook.py"
    meta = _run([str(py), "-c", "import importlib.metadata as m, json; d = m.metadata('nnmodel'); "
                 "print(json.dumps({k: d.get_all(k) for k in ('Name', 'Version', 'License', 'Project-URL', "
                 "'Classifier', 'Provides-Extra', 'Requires-Dist')}))"], cwd=work)
    info = json.loads(meta)
    assert info["Name"] == ["nnmodel"] and info["Version"] == [nnmodel.__version__] and info["License"] == ["MIT"]
    assert any(u.startswith("Source, https://") for u in info["Project-URL"])
    assert "License :: OSI Approved :: MIT License" in info["Classifier"]
    assert {"report", "device"} <= set(info["Provides-Extra"]) and info["Requires-Dist"][0].startswith("numpy")
