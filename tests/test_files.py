"""Model and data files in, output folders out: what issue 23's audit broke.

- the pre-build compiles exactly the bytes it hashed (a model, framework file, calibration or sample
  file changed between two reads must not leave "up to date" over other bytes);
- special and huge files (/dev/zero, a FIFO, a 2 GiB sparse file) are refused from their type and
  size, before reading, by every reader of a model or data file: one line, fast, bounded memory;
- two writers into one output folder (two compiles, a compile and a pre-build) both succeed and
  leave whole, consistent files;
- file-system problems of --out, a symlink loop, an unwritable folder and Ctrl-C during start-up are
  one line, not a traceback;
- compile replaces or removes only what nnmodel wrote (its manifest), never a user's file.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, small_rnn
from onnx_forms import linear_chain

from nnmodel import NNModelError, prebuild, save
from nnmodel.cli import main
from nnmodel.codegen import compile_model
from nnmodel.datasets import write_idx
from nnmodel.fileformat import to_bytes
from nnmodel.prebuild import MARKER, Settings, generate

BOOKKEEPING = {MARKER, ".nnmodel-files", ".nnmodel.lock"}  # the pre-build's marker, the manifest, the lock
CHILD_ENV = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def outputs(out: Path) -> dict[str, bytes]:
    """The generated files of a folder (not nnmodel's bookkeeping)."""
    return {p.name: p.read_bytes() for p in out.iterdir() if p.name not in BOOKKEEPING}


def one_line(text: str) -> bool:
    return text.count("\n") == 1 and text.endswith("\n") and "Traceback" not in text


# ------------------------------------------------------------------ 1. hash exactly the bytes compiled

def _framework_project(root: Path, variant: dict[str, int]) -> dict[str, str]:
    """net.onnx (a 4-5-3 MLP), calib.npz and s.csv (samples), each in version variant[name] (0 or 1)."""
    rng = np.random.default_rng(7)
    w = [(rng.normal(0, .5, (5, 4)), rng.normal(0, .1, 5), "relu"),
         (rng.normal(0, .5, (3, 5)), rng.normal(0, .1, 3), "")]
    if variant.get("net.onnx"):
        w = [(2 * a, b, act) for a, b, act in w]
    linear_chain(w, root / "net.onnx")
    x = np.random.default_rng(1).integers(-8, 9, (60, 4)) * (3 if variant.get("calib.npz") else 1)
    np.savez(root / "calib.npz", x=x, y=np.arange(60) % 3)
    rows = [[-2, 0, 1, 1, 0], [0, 2, 2, -1, 1]] if variant.get("s.csv") else [[5, -1, 2, 3, 1], [1, 1, -1, 0, 2]]
    (root / "s.csv").write_text("f0,f1,f2,f3,label\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return {"model": "net.onnx", "calibration": "calib.npz", "samples": "2", "sample_images": "s.csv",
            "sample_label": "label"}


def _change_after_hashing(monkeypatch: pytest.MonkeyPatch, path: Path, other: bytes) -> None:
    """The file is replaced right after the pre-build hashed its inputs (an editor save, a branch switch)."""
    real = prebuild.inputs_digest

    def hash_then_change(*args: object, **kwargs: object) -> str:
        digest = real(*args, **kwargs)  # type: ignore[arg-type]
        path.write_bytes(other)
        return digest

    monkeypatch.setattr(prebuild, "inputs_digest", hash_then_change)


def test_a_model_replaced_mid_build_never_leaves_up_to_date_over_other_bytes(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = to_bytes(small_rnn()), to_bytes(small_rnn(seed=4))
    model = tmp_path / "m.nnm"
    options = {"model": "m.nnm", "samples": "2", "golden": "yes"}
    settings = Settings.parse(options, tmp_path, "native")
    clean = {}
    for name, data in (("a", a), ("b", b)):
        model.write_bytes(data)
        generate(settings, options, tmp_path / name, lambda _: None)
        clean[name] = outputs(tmp_path / name)
    model.write_bytes(a)
    out = tmp_path / "out"
    _change_after_hashing(monkeypatch, model, b)
    generate(settings, options, out, lambda _: None)  # hashed A, B on disk when it read again
    monkeypatch.undo()
    model.write_bytes(a)  # back to the old bytes: "up to date" must mean A's files
    generate(settings, options, out, lambda _: None)
    assert outputs(out) == clean["a"], "firmware compiled from the other model under an up-to-date marker"
    model.write_bytes(b)
    assert generate(settings, options, out, lambda _: None) is True and outputs(out) == clean["b"]


@pytest.mark.parametrize("changed", ["net.onnx", "calib.npz", "s.csv"])
def test_framework_calibration_and_sample_files_are_hashed_as_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    changed: str) -> None:
    """An imported framework file, its calibration data and the sample file: the digest covers exactly
    the bytes imported, calibrated on and embedded."""
    clean = {}
    for v in (0, 1):
        root = tmp_path / f"clean{v}"
        root.mkdir()
        options = _framework_project(root, {changed: v})
        generate(Settings.parse(options, root, "native"), options, root / "out", lambda _: None)
        clean[v] = outputs(root / "out")
    assert clean[0] != clean[1]
    root = tmp_path / "p"
    root.mkdir()
    _framework_project(root, {changed: 1})
    other = (root / changed).read_bytes()
    options = _framework_project(root, {changed: 0})
    settings = Settings.parse(options, root, "native")
    original = (root / changed).read_bytes()
    _change_after_hashing(monkeypatch, root / changed, other)
    generate(settings, options, root / "out", lambda _: None)
    monkeypatch.undo()
    (root / changed).write_bytes(original)
    generate(settings, options, root / "out", lambda _: None)
    assert outputs(root / "out") == clean[0]


# ------------------------------------------------------------------ 3. special and huge files

# Runs each case in one process (imports paid once): a CLI command or a pre-build, with SIGALRM as
# the watchdog of a read that would block (a FIFO) and RLIMIT_AS as the bound of one that would not
# end (/dev/zero); prints one JSON line per case.
_PROBE = r"""
import contextlib, io, json, resource, signal, sys, time
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
class Hung(Exception):
    pass
def ring(*_):
    raise Hung()
signal.signal(signal.SIGALRM, ring)
from nnmodel import NNModelError
from nnmodel.cli import main
from nnmodel.prebuild import Settings, generate
for case in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    signal.alarm(10)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            if "argv" in case:
                rc = main(case["argv"])
            else:
                try:
                    opts = case["options"]
                    generate(Settings.parse(opts, Path(case["root"]), "native"), opts, Path(case["out"]), print)
                    rc = 0
                except NNModelError as exc:
                    err.write(f"[nnmodel] error: {exc}\n")
                    rc = 1
        outcome = "exit"
    except Hung:
        outcome, rc = "hung (10 s)", None
    except BaseException as exc:
        outcome, rc = f"raised {type(exc).__name__}: {str(exc)[:100]}", None
    finally:
        signal.alarm(0)
    print(json.dumps({"case": case["name"], "outcome": outcome, "rc": rc, "stderr": err.getvalue()[-300:],
                      "seconds": round(time.monotonic() - start, 2),
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}), flush=True)
"""


def _special_files(root: Path) -> None:
    """zero.*: /dev/zero; fifo.*: a FIFO; big.*: a 2 GiB sparse file; each with every suffix a reader routes on."""
    for suffix in (".nnm", ".csv", ".idx", ".onnx", ".npz"):
        (root / f"zero{suffix}").symlink_to("/dev/zero")
        os.mkfifo(root / f"fifo{suffix}")
        with open(root / f"big{suffix}", "wb") as f:
            f.truncate(2 << 30)


@pytest.mark.skipif(not hasattr(os, "mkfifo") or sys.platform != "linux", reason="FIFOs, /dev/zero, RLIMIT_AS")
def test_special_and_huge_files_are_refused_before_reading(tmp_path: Path) -> None:
    """Every reader of a model or data file (load, the data loaders, the importers, the pre-build)."""
    _special_files(tmp_path)
    options = _framework_project(tmp_path, {})
    write_idx(tmp_path / "x.idx", np.zeros((3, 4), np.uint8))
    out = str(tmp_path / "t.nnm")
    cli = {"info MODEL": ["info", "{K}.nnm"],
           "train --data FILE": ["train", "--arch", "mlp:4-3", "--data", "{K}.csv", "--out", out],
           "train --label IDX": ["train", "--arch", "mlp:4-3", "--data", str(tmp_path / "x.idx"), "--label", "{K}.idx",
                                 "--out", out],
           "import FRAMEWORK": ["import", "{K}.onnx", "--calibration", str(tmp_path / "calib.npz"), "--out", out],
           "import --calibration": ["import", str(tmp_path / "net.onnx"), "--calibration", "{K}.npz", "--out", out]}
    build = {"model .nnm": {"model": "{K}.nnm"}, "model .onnx": {"model": "{K}.onnx"},
             "calibration": {"calibration": "{K}.npz"}, "sample_images": {"sample_images": "{K}.csv"}}
    cases: list[dict] = []
    for kind in ("zero", "fifo", "big"):
        cases += [{"name": f"{kind}: {what}", "argv": [a.replace("{K}", str(tmp_path / kind)) for a in argv]}
                  for what, argv in cli.items()]
        cases += [{"name": f"{kind}: pre-build {what}", "root": str(tmp_path), "out": str(tmp_path / "out"),
                   "options": {**options, **{k: v.replace("{K}", kind) for k, v in opts.items()}}}
                  for what, opts in build.items()]
    proc = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(cases)], capture_output=True, text=True,
                          env=CHILD_ENV, timeout=600)
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(results) == len(cases), proc.stderr[-2000:]
    for r in results:  # (pytest -s shows them)
        print(f"{r['case']:36} {r['outcome']:5} rc {r['rc']} {r['seconds']:5.2f} s  peak {r['peak_mb']} MB")
    bad = [r for r in results if r["outcome"] != "exit" or r["rc"] not in (1, 2) or not one_line(r["stderr"])
           or r["seconds"] > 5]
    assert not bad, "\n".join(json.dumps(r) for r in bad)
    assert max(r["peak_mb"] for r in results) < 600, [(r["case"], r["peak_mb"]) for r in results]
    for r in results:
        kind = r["case"].split(":")[0]
        assert f"{tmp_path / kind}." in r["stderr"], r  # the line names the file at fault


# ------------------------------------------------------------------ 4. two writers, one folder

_RACER = r"""
import sys, time, traceback
from pathlib import Path
from nnmodel import load
from nnmodel.codegen import compile_model
from nnmodel.prebuild import Settings, generate
role, model, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
start, seconds = float(sys.argv[4]), float(sys.argv[5])
m = load(model)
runs = fails = 0
time.sleep(max(0.0, start - time.time()))
while time.time() < start + seconds:
    runs += 1
    try:
        if role == "compile":
            compile_model(m, target="native", storage=None, out_dir=out, source=str(model))
        else:  # a pre-build whose options alternate, so that it regenerates every time
            opts = {"model": model.name, "samples": str(1 + runs % 2)}
            generate(Settings.parse(opts, model.parent, "native"), opts, out, lambda _: None)
    except BaseException as exc:
        fails += 1
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
print(runs, fails)
"""


@pytest.mark.parametrize("roles", [("compile", "compile"), ("compile", "build")], ids=["compiles", "compile+build"])
def test_two_writers_into_one_folder_both_succeed_with_consistent_files(tmp_path: Path, roles: tuple) -> None:
    model = save(small_rnn(), tmp_path / "m.nnm")
    clean = {}
    for samples in ("1", "2"):
        opts = {"model": "m.nnm", "samples": samples}
        generate(Settings.parse(opts, tmp_path, "native"), opts, tmp_path / f"clean{samples}", lambda _: None)
        clean[samples] = outputs(tmp_path / f"clean{samples}")
    out = tmp_path / "out"
    start = time.time() + 4  # both past their imports
    procs = [subprocess.Popen([sys.executable, "-c", _RACER, role, str(model), str(out), str(start), "3"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=CHILD_ENV)
             for role in roles]
    results = [p.communicate(timeout=120) for p in procs]
    counts = [tuple(map(int, stdout.split())) for stdout, _ in results]
    print("runs, failures per writer:", counts)
    assert all(fails == 0 for _, fails in counts), [err[-600:] for _, err in results]
    assert all(runs >= 5 for runs, _ in counts), counts  # they did race
    files = outputs(out)
    assert not [n for n in files if n.endswith(".tmp")], sorted(files)
    for name in ("small_rnn.h", "small_rnn.c", "nnmodel.h"):
        assert files[name] == clean["1"][name], name
    if "build" in roles:
        assert files["nnmodel_samples.c"] in (clean["1"]["nnmodel_samples.c"], clean["2"]["nnmodel_samples.c"])


# ------------------------------------------------------------------ 6. file-system errors: one line

def _out_problem(folder: Path, case: str, name: str, output: str) -> Path:
    """--out NAME in `folder` with a problem; output is "folder" (compile) or "file" (train)."""
    folder.mkdir()
    path = folder / name
    if case == "existing other kind":  # a file where a folder is wanted, a folder where a file is
        path.mkdir() if output == "file" else path.write_text("a file\n")
    elif case == "dangling symlink":
        path.symlink_to(folder / "nowhere" / name)
    elif case == "below a file":
        (folder / "afile").write_text("a file\n")
        path = folder / "afile" / name
    else:
        path.symlink_to(path)  # a loop: the link points at itself
    return path


@pytest.mark.parametrize("case", ["existing other kind", "dangling symlink", "below a file", "symlink loop"])
def test_out_problems_are_one_line(tmp_path: Path, case: str, capsys: pytest.CaptureFixture) -> None:
    model = save(small_rnn(), tmp_path / "m.nnm")
    (tmp_path / "d.csv").write_text("a,b,label\n" + "".join(f"{i % 3},{i % 5},{i % 2}\n" for i in range(20)))
    compile_out = _out_problem(tmp_path / "c", case, "gen", "folder")
    train_out = _out_problem(tmp_path / "t", case, "x.nnm", "file")
    for argv in (["compile", str(model), "--out", str(compile_out)],
                 ["train", "--arch", "mlp:2-4-2", "--data", str(tmp_path / "d.csv"), "--epochs", "1",
                  "--out", str(train_out), "--force"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(f"nnmodel: error: --out {argv[argv.index('--out') + 1]}: ") and one_line(err), err
        assert "epoch" not in err  # train checked before training


def test_a_symlink_loop_as_model_or_data_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    loop = tmp_path / "loop.nnm"
    loop.symlink_to(loop)
    data = tmp_path / "loop.csv"
    data.symlink_to(data)
    for argv in (["info", str(loop)], ["train", "--arch", "mlp:2-2", "--data", str(data), "--out",
                                       str(tmp_path / "x.nnm")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert one_line(err) and "symbolic links" in err, err


def test_train_checks_an_unwritable_out_folder_before_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture) -> None:
    """As root every folder is writable, so the denial is simulated where files are created (os.open)."""
    (tmp_path / "d.csv").write_text("a,b,label\n" + "".join(f"{i % 3},{i % 5},{i % 2}\n" for i in range(20)))
    locked = tmp_path / "ro"
    locked.mkdir()
    real_open = os.open

    def denied(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if flags & os.O_CREAT and Path(os.fsdecode(path)).parent == locked:  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", os.fsdecode(path))  # type: ignore[arg-type]
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", denied)
    assert main(["train", "--arch", "mlp:2-4-2", "--data", str(tmp_path / "d.csv"), "--epochs", "1",
                 "--out", str(locked / "x.nnm")]) == 2
    captured = capsys.readouterr()
    assert one_line(captured.err) and f"{locked}" in captured.err, captured.err
    assert "training" not in captured.out and "epoch" not in captured.err, "it trained first"


def test_ctrl_c_during_start_up_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """Ctrl-C while the command modules are imported (before a command runs)."""
    import nnmodel.cli

    def interrupted(name: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(nnmodel.cli.importlib, "import_module", interrupted)
    try:
        rc = main(["info", "m.nnm"])
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped main(): a traceback")
    assert rc == 130 and capsys.readouterr().err == "nnmodel: interrupted\n"


def test_start_up_before_main_imports_no_numpy() -> None:
    """The console script imports nnmodel.cli before main() can catch Ctrl-C: that window stays short."""
    code = "import sys, nnmodel.cli; print(sorted(m for m in ('numpy', 'nnmodel.fileformat') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=CHILD_ENV, check=True)
    assert proc.stdout.strip() == "[]", proc.stdout


# ------------------------------------------------------------------ 8. only what nnmodel wrote

def test_compile_replaces_or_removes_only_what_it_wrote(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    out.mkdir()
    temp_like = out / ".small_rnn.h.mine.tmp"
    temp_like.write_text("a user's file\n")
    compile_model(small_rnn(lut=False), target="native", storage="ram", out_dir=out)
    assert temp_like.read_text() == "a user's file\n", "removed a .NAME.h.*.tmp it did not create"
    header = (out / "small_rnn.h").read_bytes()
    (out / "small_rnn.bin").write_bytes(b"my own image")
    (out / "small_rnn.eep").write_text(":00000001FF\n")
    compile_model(small_rnn(lut=False), target="native", storage="ram", out_dir=out)
    assert (out / "small_rnn.bin").read_bytes() == b"my own image", "removed a user's NAME.bin"
    assert (out / "small_rnn.eep").read_text() == ":00000001FF\n"
    with pytest.raises(NNModelError, match=r"small_rnn\.bin: exists and was not generated by nnmodel") as info:
        compile_model(small_rnn(lut=False), target="attiny85", storage="eeprom", out_dir=out)
    assert "\n" not in str(info.value)
    assert (out / "small_rnn.bin").read_bytes() == b"my own image" and (out / "small_rnn.h").read_bytes() == header


def test_its_own_images_still_go_when_the_storage_changes(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    compile_model(small_rnn(lut=False), target="attiny85", storage="eeprom", out_dir=out)
    assert (out / "small_rnn.bin").is_file() and (out / "small_rnn.eep").is_file()
    compile_model(small_rnn(lut=False), target="native", storage="ram", out_dir=out)
    assert not (out / "small_rnn.bin").exists() and not (out / "small_rnn.eep").exists()


def test_pre_build_removes_only_extras_it_wrote(tmp_path: Path) -> None:
    save(small_rnn(), tmp_path / "m.nnm")
    out = tmp_path / "out"
    out.mkdir()
    (out / "nnmodel_stream.bin").write_bytes(b"mine")
    (out / "nnmodel_web_page.c").write_text("/* mine */\n")
    opts = {"model": "m.nnm"}
    generate(Settings.parse(opts, tmp_path, "native"), opts, out, lambda _: None)
    assert (out / "nnmodel_stream.bin").read_bytes() == b"mine"
    assert (out / "nnmodel_web_page.c").read_text() == "/* mine */\n"


def test_a_folder_from_before_manifests_is_adopted_by_content(tmp_path: Path) -> None:
    """An output folder an older nnmodel wrote (no .nnmodel-files): its generated files (banner, EEPROM
    image and its HEX) are nnmodel's, a user's file of the same names is not."""
    old, mine = tmp_path / "old", tmp_path / "mine"
    for out in (old, mine):
        compile_model(small_rnn(lut=False), target="attiny85", storage="eeprom", out_dir=out)
        for name in (".nnmodel-files", ".nnmodel.lock"):
            (out / name).unlink()
    (mine / "small_rnn.bin").write_bytes(b"my own image")
    compile_model(small_rnn(lut=False, seed=3), target="attiny85", storage="progmem", out_dir=old)
    assert not (old / "small_rnn.bin").exists() and not (old / "small_rnn.eep").exists()  # its own: removed
    compile_model(small_rnn(lut=False, seed=3), target="attiny85", storage="progmem", out_dir=mine)
    assert (mine / "small_rnn.bin").read_bytes() == b"my own image"  # not an nnmodel image: kept
    assert not (mine / "small_rnn.eep").exists()


def test_a_damaged_manifest_is_one_line_and_nothing_is_touched(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    compile_model(small_rnn(), target="native", storage="ram", out_dir=out)
    before = outputs(out)
    (out / ".nnmodel-files").write_text("# nnmodel: the files it wrote in this folder; it replaces or removes only "
                                        "these\nfile ../../etc/passwd\n")
    with pytest.raises(NNModelError, match=r"\.nnmodel-files: line 2 is damaged") as info:
        compile_model(small_rnn(seed=2), target="native", storage="ram", out_dir=out)
    assert "\n" not in str(info.value) and outputs(out) == before


def test_a_full_disk_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture) -> None:
    """A file-system failure no check foresees (ENOSPC while staging): one line, and the old files stay."""
    import errno

    from nnmodel import fsutil

    model = save(small_rnn(), tmp_path / "m.nnm")
    out = tmp_path / "gen"
    assert main(["compile", str(model), "--out", str(out)]) == 0
    before = outputs(out)

    def full(path: Path, data: bytes, exclusive: bool) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(fsutil, "_write_new", full)
    capsys.readouterr()
    assert main(["compile", str(model), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert one_line(err) and err.endswith(": no space left on device\n"), err
    monkeypatch.undo()
    assert outputs(out) == before
