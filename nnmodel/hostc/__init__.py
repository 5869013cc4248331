"""Build generated C with the host compiler and run it: the engine behind verify, eval --engine c and bench."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..codegen import compile_model
from ..errors import NNModelError
from ..model import Model
from ..paths import host_driver, runtime_dir, runtime_sources

WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-Werror"]


def find_cc() -> str:
    """$CC, else cc, gcc or clang on PATH."""
    if os.environ.get("CC"):
        return os.environ["CC"]
    for name in ("cc", "gcc", "clang"):
        if shutil.which(name):
            return name
    raise NNModelError("no C compiler found: install gcc or clang, or set $CC")


@dataclass
class HostBuild:
    exe: Path
    n_classes: int
    image_bytes: int

    def logits(self, images: np.ndarray) -> np.ndarray:
        """int64 [N, n_classes] from the C build, images streamed row by row."""
        return self.classify(images)[0]

    def classify(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits [N, n_classes], classes [N]) as the C build computes them."""
        with tempfile.TemporaryDirectory(prefix="nnmodel-run-") as tmp:
            src, dst = Path(tmp) / "images.u8", Path(tmp) / "logits.i32"
            np.ascontiguousarray(images, np.int8 if images.dtype == np.int8 else np.uint8).tofile(src)
            self._run("logits", str(src), str(dst))
            out = np.fromfile(dst, "<i4").astype(np.int64).reshape(len(images), self.n_classes + 1)
        return out[:, :-1], out[:, -1]

    def raw(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(logits, classes, outputs in steps) of a version-3 model fed raw int32 readings with feed_raw."""
        n = len(raw)
        with tempfile.TemporaryDirectory(prefix="nnmodel-run-") as tmp:
            src, dst = Path(tmp) / "raw.i32", Path(tmp) / "out.i32"
            np.ascontiguousarray(raw, "<i4").tofile(src)
            self._run("raw", str(src), str(dst))
            out = np.fromfile(dst, "<i4").astype(np.int64).reshape(n, 2 * self.n_classes + 1)
        return out[:, :self.n_classes], out[:, self.n_classes], out[:, self.n_classes + 1:]

    def ns_per_inference(self, images: np.ndarray, repeats: int) -> float:
        with tempfile.TemporaryDirectory(prefix="nnmodel-run-") as tmp:
            src = Path(tmp) / "images.u8"
            np.ascontiguousarray(images, np.uint8).tofile(src)
            return float(self._run("time", str(src), str(repeats)).split()[0])

    def check(self, byte: int | None = None, bit: int | None = None) -> int:
        """Status code of the storage check (0 = NNRT_OK), after flipping one image bit if given."""
        args = ["check"] + ([str(byte), str(bit)] if byte is not None else [])
        return int(self._run(*args).split()[0])

    def _run(self, *args: str) -> str:
        proc = subprocess.run([str(self.exe), *args], capture_output=True, text=True)
        if proc.returncode != 0:
            raise NNModelError(f"{self.exe.name} {args[0]}: {proc.stderr.strip() or 'exit ' + str(proc.returncode)}")
        return proc.stdout


def run_compiler(cmd: list[str], what: str) -> None:
    """Run a compiler or linker; on failure an NNModelError `what: <its first error line>`."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:  # e.g. $CC names a program that does not exist
        raise NNModelError(f"{what}: cannot run the C compiler {cmd[0]!r} ({exc.strerror or exc}); "
                           "install gcc or clang, or set $CC") from None
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["?"])[0]
        raise NNModelError(f"{what}: {first}")


def build(model: Model, workdir: Path, *, storage: str = "ram", opt: str = "-O2",
          extra_flags: list[str] | None = None, source: str = "", program: list[Path] | None = None) -> HostBuild:
    """Generate the model for the native target into workdir and link it with the runtime and a program:
    the host driver, or the C sources in `program` (the HostBuild's run methods need the driver)."""
    gen = Path(workdir) / "gen"
    compile_model(model, target="native", storage=storage, out_dir=gen, source=source)
    exe = Path(workdir) / ("driver.exe" if os.name == "nt" else "driver")
    link_with_runtime(model, gen, exe, [opt, *(extra_flags or [])], program or [host_driver()])
    return HostBuild(exe, model.n_classes, model.input.size)


def link_with_runtime(model: Model, gen: Path, out: Path, flags: list[str], sources: list[Path],
                      include_dirs: tuple[Path, ...] = (), what: str = "the host C compiler failed") -> None:
    """Compile the generated model in `gen` with lib/nnrt and `sources` into `out` (-Werror, C99)."""
    rt = runtime_dir()
    includes = [arg for d in (gen, rt / "include", *include_dirs) for arg in ("-I", str(d))]
    cmd = [find_cc(), *WARNINGS, *flags, *includes, str(gen / f"{model.name}.c"),
           *map(str, runtime_sources()), *map(str, sources), "-o", str(out)]
    run_compiler(cmd, f"{model.name}: {what}")
