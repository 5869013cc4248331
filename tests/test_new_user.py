"""A new user: a PlatformIO project outside this checkout that depends on the nnmodel library.

The project has a platformio.ini (`lib_deps = nnmodel=symlink://<checkout>` and
custom_nnmodel_model), a model file and src/main.c, nothing else. It is built by a PlatformIO whose
Python has neither nnmodel nor numpy (a fresh venv holding only the pinned platformio and scons,
plus the offline tool-scons stand-in): the library's hook must load nnmodel from the library and
install numpy itself; with pip offline it must fail with one line whose command then works.
`pio test` runs this repository's golden test (test_dir) on the user's model, as a project of
theirs would run their own: Unity, PlatformIO's default test framework, is in the unreachable
registry, and test_framework = custom needs the runner that test/ holds.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import venv
from pathlib import Path

import pytest
from conftest import REPO

PINS = re.search(r'^pio = \[(.*)\]$', (REPO / "pyproject.toml").read_text(), re.M)
PLATFORMIO_INI = """\
[platformio]
test_dir = {repo}/test

[env:native]
platform = symlink://{repo}/platformio/platforms/nnmodel-native
lib_deps = nnmodel=symlink://{repo}
custom_nnmodel_model = models/net.nnm
custom_nnmodel_golden = yes
test_framework = custom
test_filter = common/*
"""
MAIN_C = """\
#include <stdio.h>
#include "nnmodel.h"

int main(void)
{
    static uint8_t image[NNMODEL_INPUT_ROWS * NNMODEL_INPUT_COLS]; /* a blank digit */
    int32_t logits[NNMODEL_NUM_CLASSES];
    printf("%s: weights %s, check %d, class %u, logit0 %ld\\n", NNMODEL_NAME, NNMODEL_STORAGE, (int)nnmodel_check(),
           (unsigned)nnmodel_classify(image, logits), (long)logits[0]);
    return 0;
}
"""


@pytest.fixture
def bare_pio(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A PlatformIO in its own venv with only the pinned platformio and scons (no nnmodel, no numpy)."""
    assert PINS, "pyproject.toml lists the pio extra"
    pins = [p.strip().strip('"') for p in PINS.group(1).split(",")]
    root = tmp_path_factory.mktemp("bare-pio")
    venv.create(root / "venv", with_pip=True)
    py = root / "venv" / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", *pins], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PLATFORMIO"))}
    env.update(PLATFORMIO_CORE_DIR=str(root / "core"), PLATFORMIO_SETTING_ENABLE_TELEMETRY="No",
               PLATFORMIO_DISABLE_UPGRADE_CHECK="true")
    subprocess.run([str(py), str(REPO / "platformio" / "setup_offline.py")], env=env, check=True,
                   capture_output=True)
    # outside the checkout: `python -c` puts the working directory first on sys.path
    probe = subprocess.run([str(py), "-c", "import nnmodel"], capture_output=True, cwd=root, env=env)
    assert probe.returncode != 0, "the bare PlatformIO's Python must not have nnmodel"
    probe = subprocess.run([str(py), "-c", "import numpy"], capture_output=True, cwd=root, env=env)
    assert probe.returncode != 0, "nor numpy: the hook installs it"
    return py, env


def _pio(py: Path, project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(py.parent / "pio"), *args], cwd=project, env=env, capture_output=True, text=True,
                          timeout=600)


def test_a_new_project_builds_and_tests_with_only_lib_deps(tmp_path: Path,
                                                           bare_pio: tuple[Path, dict[str, str]]) -> None:
    py, env = bare_pio
    project = tmp_path / "my project"  # a space, as user folders have
    (project / "src").mkdir(parents=True)
    (project / "models").mkdir()
    (project / "platformio.ini").write_text(PLATFORMIO_INI.format(repo=REPO))
    (project / "models" / "net.nnm").write_bytes((REPO / "models" / "mnist_rnn_attiny85.nnm").read_bytes())
    (project / "src" / "main.c").write_text(MAIN_C)

    # pip offline: one line, naming the command that fixes it
    offline = _pio(py, project, {**env, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": ""}, "run", "-e", "native")
    assert offline.returncode != 0
    errors = [line for line in (offline.stdout + offline.stderr).splitlines() if line.startswith("[nnmodel] error")]
    assert len(errors) == 1, offline.stdout + offline.stderr
    assert "numpy is missing from PlatformIO's Python and pip could not install it" in errors[0]
    command = errors[0].split("; run: ", 1)[1]
    assert shlex.split(command)[:4] == [str(py), "-m", "pip", "install"], command
    assert subprocess.run(shlex.split(command), env=env, capture_output=True).returncode == 0

    built = _pio(py, project, env, "run", "-e", "native", "-t", "exec")
    out = built.stdout + built.stderr
    assert built.returncode == 0, out
    assert "nnmodel: generated mnist_rnn_attiny85 for native" in out
    assert "mnist_rnn_attiny85: weights ram, check 0, class " in out
    assert not (project / "src" / "nnmodel.h").exists() and (project / ".pio/build/native/nnmodel/nnmodel.h").is_file()

    again = _pio(py, project, env, "run", "-e", "native")
    assert again.returncode == 0 and "nnmodel: up to date" in again.stdout, again.stdout + again.stderr

    tested = _pio(py, project, env, "test", "-e", "native")
    out = tested.stdout + tested.stderr
    assert tested.returncode == 0 and re.search(r"\d+ test cases: \d+ succeeded", out), out
    assert "FAILED" not in out and "SKIPPED" not in out, out


def test_a_pip_installed_nnmodel_runs_as_an_extra_script(tmp_path: Path, bare_pio: tuple[Path, dict[str, str]],
                                                         wheel: Path) -> None:
    """The other route: nnmodel from the wheel in PlatformIO's Python, and `extra_scripts = pre:PATH`
    with the path `nnmodel hook-path` prints; the runtime comes from the wheel too."""
    py, env = bare_pio
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)], env=env,
                   check=True, capture_output=True)
    hook = subprocess.run([str(py.parent / "nnmodel"), "hook-path"], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()
    assert Path(hook).is_relative_to(py.parent.parent), hook  # inside the venv, not this checkout
    project = tmp_path / "app"
    (project / "src").mkdir(parents=True)
    (project / "platformio.ini").write_text(f"""\
[env:native]
platform = symlink://{REPO}/platformio/platforms/nnmodel-native
extra_scripts = pre:{hook}
custom_nnmodel_model = net.nnm
custom_nnmodel_storage = eeprom
""")
    (project / "net.nnm").write_bytes((REPO / "models" / "mnist_cnn_attiny85.nnm").read_bytes())
    (project / "src" / "main.c").write_text(MAIN_C)
    built = _pio(py, project, env, "run", "-e", "native", "-t", "exec")
    out = built.stdout + built.stderr
    assert built.returncode == 0, out
    assert "mnist_cnn_attiny85: weights eeprom, check 0, class " in out
    assert "nnrt_obj" in out  # the project route compiles the wheel's runtime itself
