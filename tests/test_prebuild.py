"""The PlatformIO pre-build: options, skip-when-unchanged, errors, and real `pio run` builds."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, small_mlp, small_rnn

from nnmodel import NNModelError, load, reference, save
from nnmodel.datasets import load_sample
from nnmodel.fsutil import LOCK, MANIFEST
from nnmodel.hostc import find_cc
from nnmodel.prebuild import MARKER, Settings, generate

PIO = Path(sys.executable).parent / "pio"


def _settings(tmp_path: Path, **options: str) -> tuple[Settings, dict[str, str]]:
    return Settings.parse(options, tmp_path, "native"), options


def test_generate_skips_when_nothing_changed_and_regenerates_on_change(tmp_path: Path) -> None:
    save(small_rnn(), tmp_path / "m.nnm")
    settings, options = _settings(tmp_path, model="m.nnm", samples="3", golden="yes")
    out, lines = tmp_path / "out", []
    assert generate(settings, options, out, lines.append) is True
    assert {"small_rnn.h", "small_rnn.c", "nnmodel.h", "nnmodel_samples.c", "nnmodel_golden.c", MARKER} <= {
        p.name for p in out.iterdir()}
    assert generate(settings, options, out, lines.append) is False and "up to date" in lines[-1]
    save(small_rnn(seed=4), tmp_path / "m.nnm", overwrite=True)  # same name, new weights
    assert generate(settings, options, out, lines.append) is True
    settings2, options2 = _settings(tmp_path, model="m.nnm", samples="4", golden="yes")
    assert generate(settings2, options2, out, lines.append) is True  # an option is an input too


def test_failed_generation_leaves_no_marker(tmp_path: Path) -> None:
    save(small_rnn(), tmp_path / "m.nnm")
    settings, options = _settings(tmp_path, model="m.nnm")
    out = tmp_path / "out"
    generate(settings, options, out, lambda _: None)
    (tmp_path / "m.nnm").write_bytes(b"garbage")
    with pytest.raises(NNModelError, match="bad magic"):
        generate(settings, options, out, lambda _: None)
    assert not (out / MARKER).exists(), "the next build must regenerate"


def test_a_model_with_a_reserved_name_generates_nothing(tmp_path: Path) -> None:
    """A model named after a runtime or generated file (written by other means than save(), which
    refuses it) fails the pre-build with one line; neither nnrt.h nor nnmodel.h is written."""
    from nnmodel.fileformat import to_bytes

    for name in ("nnrt", "nnmodel"):
        (tmp_path / f"{name}.nnm").write_bytes(to_bytes(small_mlp(name=name)))
        settings, options = _settings(tmp_path, model=f"{name}.nnm")
        with pytest.raises(NNModelError, match=f"name: '{name}' clashes with") as info:
            generate(settings, options, tmp_path / "out", lambda _: None)
        assert "\n" not in str(info.value)
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# Runs generate() in a child that SIGKILLs itself at its k-th file rename (os.replace: write_outputs
# stages every file, then renames them) or, if k is negative, prints how many renames a whole run does.
_KILLED_AT = """
import os, signal, sys
from pathlib import Path
from nnmodel.prebuild import Settings, generate
k, calls, real = int(sys.argv[4]), [0], os.replace
def replace(src, dst):
    if calls[0] == k:
        os.kill(os.getpid(), signal.SIGKILL)
    calls[0] += 1
    real(src, dst)
os.replace = replace
opts = {"model": sys.argv[2], "samples": "20", "golden": "yes"}
generate(Settings.parse(opts, Path(sys.argv[1]), "native"), opts, Path(sys.argv[3]), lambda _: None)
print(calls[0])
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_killed_generation_leaves_whole_files_and_the_next_build_regenerates(tmp_path: Path) -> None:
    """A build killed at every point of a regeneration (old model A -> new model B, same name): each
    generated file is whole, A's or B's (never a mix), nothing says "up to date", and the next
    build regenerates B exactly, leaving no temp files."""
    save(small_rnn(), tmp_path / "a.nnm")
    save(small_rnn(seed=4), tmp_path / "b.nnm")
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def run(model: str, out: Path, k: int) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", _KILLED_AT, str(tmp_path), model, str(out), str(k)],
                              capture_output=True, text=True, env=env)

    def files(out: Path) -> dict[str, bytes]:  # not the marker, nor the folder's manifest and lock (their own test)
        return {p.name: p.read_bytes() for p in out.iterdir() if p.name not in (MARKER, MANIFEST, LOCK)}

    whole = {}
    for m in ("a", "b"):
        proc = run(f"{m}.nnm", tmp_path / m, -1)
        assert proc.returncode == 0, proc.stderr
        whole[m], renames = files(tmp_path / m), int(proc.stdout)
    assert renames >= 6 and whole["a"].keys() == whole["b"].keys()
    assert all(whole["a"][n] != whole["b"][n] for n in ("small_rnn.c", "nnmodel_golden.c"))
    for k in range(renames):
        out = tmp_path / f"out{k}"
        assert run("a.nnm", out, -1).returncode == 0
        assert run("b.nnm", out, k).returncode == -9  # killed at its k-th rename
        left = files(out)
        temps = [n for n in left if n.endswith(".tmp")]
        assert temps, "the kill comes between staging and renaming"
        for name, data in left.items():
            assert name in temps or data in (whole["a"][name], whole["b"][name]), f"{name} is mixed after kill {k}"
        assert not (out / MARKER).exists()
        assert run("b.nnm", out, -1).returncode == 0
        assert files(out) == whole["b"], f"after kill {k} the next build must regenerate B, without temp files"


@pytest.mark.parametrize("options, message", [
    ({"model": "m.nnm", "modle": "x"}, "unknown option custom_nnmodel_modle"),
    ({"storage": "eeprom"}, "custom_nnmodel_model is required"),
    ({"model": "m.nnm", "samples": "many"}, "custom_nnmodel_samples"),
    ({"model": "m.nnm", "golden": "maybe"}, "custom_nnmodel_golden"),
    ({"model": "m.nnm", "stream": "lots"}, "custom_nnmodel_stream = 'lots'; expected a count"),
    ({"model": "m.nnm", "eeprom_writer": "maybe"}, "custom_nnmodel_eeprom_writer = 'maybe'; expected yes or no"),
])
def test_bad_options_are_named(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(NNModelError, match=message):
        Settings.parse(options, tmp_path, "native")


@pytest.mark.parametrize("options, message", [
    ({"stream": "501"}, "custom_nnmodel_stream = 501; the bundled MNIST test sample holds only 500 digits"),
    ({"eeprom_writer": "yes", "storage": "ram"}, "custom_nnmodel_eeprom_writer = yes needs the first model in "
                                                 "EEPROM .* m.nnm is in ram"),
])
def test_generation_errors_of_the_attiny85_options_are_one_line(tmp_path: Path, options: dict, message: str) -> None:
    save(small_rnn(), tmp_path / "m.nnm")
    settings, opts = _settings(tmp_path, model="m.nnm", **options)
    with pytest.raises(NNModelError, match=message) as err:
        generate(settings, opts, tmp_path / "out", lambda _: None)
    assert "\n" not in str(err.value)


def test_stream_holds_the_sample_digits_and_the_reference_logits(tmp_path: Path) -> None:
    """custom_nnmodel_stream: the simavr_run -in file of the firmware tests, byte for byte as documented."""
    model = small_rnn()
    save(model, tmp_path / "m.nnm")
    settings, options = _settings(tmp_path, model="m.nnm", storage="eeprom", stream="3")
    generate(settings, options, tmp_path / "a", lambda _: None)
    generate(settings, options, tmp_path / "b", lambda _: None)
    data = (tmp_path / "a" / "nnmodel_stream.bin").read_bytes()
    assert data == (tmp_path / "b" / "nnmodel_stream.bin").read_bytes()  # deterministic
    digits = load_sample()
    model_hash = int.from_bytes((tmp_path / "a" / "small_rnn.bin").read_bytes()[6:10], "little")
    assert data[:12] == b"NS\x01\x0a\x03\x00\x1c\x1c" + model_hash.to_bytes(4, "little")
    expected = reference.run(model, digits.images[:3])
    record = 1 + 784 + 40
    assert len(data) == 12 + 3 * record
    for k in range(3):
        rec = data[12 + k * record: 12 + (k + 1) * record]
        assert rec[0] == digits.labels[k] and rec[1:785] == digits.images[k].tobytes()
        assert np.array_equal(np.frombuffer(rec[785:], "<i4"), expected[k])


def test_eeprom_writer_carries_the_image_and_goes_when_the_option_does(tmp_path: Path) -> None:
    """custom_nnmodel_eeprom_writer: the generated writer, built on the host, restores a wiped image."""
    save(small_rnn(), tmp_path / "m.nnm")
    out = tmp_path / "out"
    settings, options = _settings(tmp_path, model="m.nnm", storage="eeprom", eeprom_writer="yes")
    generate(settings, options, out, lambda _: None)
    table = re.search(r"nnmodel_writer_image\[\w+\] NNW_PROGMEM = \{(.*?)\};",
                      (out / "nnmodel_eeprom_writer.c").read_text(), re.S)
    assert table and bytes.fromhex("".join(re.findall(r"0x([0-9a-f]{2})", table.group(1)))) == (
        out / "small_rnn.bin").read_bytes()
    (out / "main.c").write_text(
        '#include <string.h>\n#include "nnmodel.h"\n#include "nnmodel_eeprom_writer.h"\n'
        "int main(void) {\n"
        "    if (nnmodel_check() != NNRT_OK) return 1;\n"
        "    memset(nnmodel_image, 0xFF, NNMODEL_IMAGE_BYTES);\n"
        "    if (nnmodel_check() != NNRT_ERR_MISSING) return 2;\n"
        "    if (nnmodel_eeprom_write() != 0) return 3;\n"
        "    return nnmodel_check() == NNRT_OK ? 0 : 4;\n}\n")
    exe = tmp_path / "writer"
    subprocess.run([find_cc(), "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(out), "-I",
                    str(REPO / "lib/nnrt/include"), *map(str, sorted(out.glob("*.c"))),
                    str(REPO / "lib/nnrt/src/nnrt.c"), "-o", str(exe)], check=True)
    assert subprocess.run([str(exe)]).returncode == 0

    settings, options = _settings(tmp_path, model="m.nnm", storage="eeprom")
    generate(settings, options, out, lambda _: None)
    assert not (out / "nnmodel_eeprom_writer.c").exists(), "a stale writer would no longer match the model"
    assert (out / "small_rnn.bin").is_file()


def test_per_model_storage_suffix(tmp_path: Path) -> None:
    settings = Settings.parse({"model": "a.nnm, b.nnm @eeprom", "storage": "ram"}, tmp_path, "native")
    assert settings.storages == ["ram", "eeprom"] and [p.name for p in settings.models] == ["a.nnm", "b.nnm"]


# --------------------------------------------------------------------------- real PlatformIO builds
@pytest.fixture(scope="module")
def pio_env() -> dict[str, str]:
    if not PIO.exists():
        pytest.fail(f"{PIO} missing: run scripts/setup.sh (it installs platformio==6.2.0)")
    env = dict(os.environ, PLATFORMIO_CORE_DIR=str(REPO / ".pio-core"), PLATFORMIO_SETTING_ENABLE_TELEMETRY="No",
               PLATFORMIO_DISABLE_UPGRADE_CHECK="true")
    subprocess.run([sys.executable, str(REPO / "platformio" / "setup_offline.py")], env=env, check=True)
    return env


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's project: the hook, a model, one firmware file; nothing else from this repo."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.c").write_text(
        '#include <stdio.h>\n#include "nnmodel.h"\n'
        'int main(void) { printf("%s %d\\n", NNMODEL_NAME, (int)nnmodel_check()); return 0; }\n')
    save(small_mlp(hidden=8), tmp_path / "model.nnm")
    (tmp_path / "platformio.ini").write_text(f"""
[env]
platform = symlink://{REPO}/platformio/platforms/nnmodel-native
extra_scripts = pre:{REPO}/extra_scripts/nnmodel_prebuild.py

[env:app]
custom_nnmodel_model = model.nnm

[env:plain]
""")
    return tmp_path


def _pio(project: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(PIO), *args], cwd=project, env=env, capture_output=True, text=True, timeout=300)


def test_build_regenerates_only_when_the_model_changes(project: Path, pio_env: dict) -> None:
    first = _pio(project, pio_env, "run", "-e", "app", "-t", "exec")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "nnmodel: generated small_mlp" in first.stdout and "small_mlp 0" in first.stdout
    assert (project / ".pio/build/app/nnmodel/small_mlp.h").is_file()
    assert not (project / "src" / "nnmodel.h").exists(), "generated files never go into src/"

    again = _pio(project, pio_env, "run", "-e", "app")
    assert again.returncode == 0 and "nnmodel: up to date" in again.stdout
    assert "Compiling" not in again.stdout, again.stdout

    save(small_mlp(seed=9, hidden=8), project / "model.nnm", overwrite=True)
    changed = _pio(project, pio_env, "run", "-e", "app")
    assert changed.returncode == 0 and "nnmodel: generated small_mlp" in changed.stdout
    assert "nnmodel_obj/small_mlp.o" in changed.stdout


def test_corrupt_model_fails_the_build_with_a_tagged_error(project: Path, pio_env: dict) -> None:
    raw = (project / "model.nnm").read_bytes()
    (project / "model.nnm").write_bytes(raw[: len(raw) // 2])
    proc = _pio(project, pio_env, "run", "-e", "app")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "[nnmodel] error: " in output and "truncated" in output and "Traceback" not in output


def test_env_without_options_is_untouched(project: Path, pio_env: dict) -> None:
    (project / "src" / "main.c").write_text("int main(void) { return 0; }\n")
    proc = _pio(project, pio_env, "run", "-e", "plain")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "nnmodel: nothing to generate for env:plain" in proc.stdout
    assert not (project / ".pio/build/plain/nnmodel").exists()


def test_project_tasks_are_listed(project: Path, pio_env: dict) -> None:
    proc = _pio(project, pio_env, "run", "-e", "app", "--list-targets")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert all(t in proc.stdout for t in ("nnmodel_info", "nnmodel_verify", "nnmodel_report"))
    info = _pio(project, pio_env, "run", "-e", "app", "-t", "nnmodel_info")
    assert info.returncode == 0 and "MACs per inference" in info.stdout


def test_report_task_writes_the_report_into_the_build_dir(project: Path, pio_env: dict) -> None:
    proc = _pio(project, pio_env, "run", "-e", "app", "-t", "nnmodel_report")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = project / ".pio/build/app/nnmodel_report"
    card = (report / "model_card.md").read_text()
    assert card.startswith("# Model card: small_mlp") and "| C (the generated code" in card
    assert (report / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(project.glob("src/*.png")), "the report goes to the build dir only"


def test_a_model_of_your_data_builds_and_its_tasks_use_its_data(project: Path, pio_env: dict) -> None:
    """A version-3 model with its data file: samples and golden outputs come from the file, the
    firmware reads raw integers and prints the output in its unit, nnmodel_verify checks the file."""
    shutil.copy(REPO / "models" / "thermistor_attiny85.nnm", project / "thermo.nnm")
    shutil.copy(REPO / "data" / "thermistor.csv", project / "thermistor.csv")
    (project / "src" / "main.c").write_text("""#include <stdio.h>
#include "nnmodel.h"
#include "nnmodel_samples.h"
int main(void)
{
    int32_t raw[2] = {478, 455};
    static const char *const units[] = NNMODEL_OUTPUT_UNITS;
    nnmodel_begin();
    nnmodel_feed_raw(raw);
    nnmodel_finish(NULL);
    printf("T %ld in 1e-%u %s\\n", (long)nnmodel_output(0), NNMODEL_OUTPUT_DECIMALS, units[0]);
    return 0;
}
""")
    with (project / "platformio.ini").open("a") as f:
        f.write("\n[env:thermo]\ncustom_nnmodel_model = thermo.nnm\ncustom_nnmodel_samples = 8\n"
                "custom_nnmodel_golden = yes\ncustom_nnmodel_sample_images = thermistor.csv\n"
                "custom_nnmodel_sample_label = true_c\n")
    run = _pio(project, pio_env, "run", "-e", "thermo", "-t", "exec")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "nnmodel: embedded 8 sample inputs and golden logits" in run.stdout
    model = load(project / "thermo.nnm")
    from nnmodel.realvalues import codes_from_raw, outputs_fixed
    expected = outputs_fixed(model, reference.run(model, codes_from_raw(model.input, np.array([[478, 455]]))))
    assert f"T {int(expected[0, 0])} in 1e-3 degC" in run.stdout
    verify = _pio(project, pio_env, "run", "-e", "thermo", "-t", "nnmodel_verify")
    assert verify.returncode == 0 and "8000/8000 bit-identical" in verify.stdout, verify.stdout + verify.stderr


def test_an_onnx_model_is_imported_in_the_build_and_cached(project: Path, pio_env: dict) -> None:
    """custom_nnmodel_model = an .onnx file: imported and calibrated at build time, cached by the
    digest of both files and the options; a re-exported network regenerates."""
    import onnx
    from onnx import numpy_helper

    shutil.copy(REPO / "models" / "digits_mlp_sklearn.onnx", project / "net.onnx")
    shutil.copy(REPO / "data" / "digits.npz", project / "calib.npz")
    (project / "src" / "main.c").write_text(
        '#include <stdio.h>\n#include "nnmodel.h"\n'
        'int main(void) { printf("%s %u\\n", NNMODEL_NAME, NNMODEL_INPUT_COLS); return 0; }\n')
    with (project / "platformio.ini").open("a") as f:
        f.write("\n[env:onnx]\ncustom_nnmodel_model = net.onnx\ncustom_nnmodel_calibration = calib.npz\n")
    first = _pio(project, pio_env, "run", "-e", "onnx", "-t", "exec")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "nnmodel: imported net.onnx (calibrated on calib.npz) as net.nnm" in first.stdout
    assert "net 64" in first.stdout and (project / ".pio/build/onnx/nnmodel/net.nnm").is_file()
    again = _pio(project, pio_env, "run", "-e", "onnx")
    assert again.returncode == 0 and "nnmodel: up to date (net.onnx" in again.stdout
    os.utime(project / "net.onnx", ns=(time.time_ns(), time.time_ns() + 10**9))  # `touch net.onnx`
    touched = _pio(project, pio_env, "run", "-e", "onnx")
    assert touched.returncode == 0 and "nnmodel: imported net.onnx" in touched.stdout, touched.stdout
    model = onnx.load(str(project / "net.onnx"))  # the network re-exported with other weights
    first_init = model.graph.initializer[0]
    first_init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(first_init) * 1.5, first_init.name))
    onnx.save(model, str(project / "net.onnx"))
    changed = _pio(project, pio_env, "run", "-e", "onnx")
    assert changed.returncode == 0 and "nnmodel: imported net.onnx" in changed.stdout, changed.stdout
    with (project / "platformio.ini").open("a") as f:
        f.write("\n[env:nocalib]\ncustom_nnmodel_model = net.onnx\n")
    refused = _pio(project, pio_env, "run", "-e", "nocalib")
    assert refused.returncode != 0
    assert "custom_nnmodel_model = net.onnx is a framework file: name the data its activation ranges are " \
           "measured on with custom_nnmodel_calibration" in refused.stdout + refused.stderr
