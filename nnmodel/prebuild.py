"""The PlatformIO pre-build step: custom_nnmodel_* options → generated C in $BUILD_DIR/nnmodel.

`generate()` is plain Python (tests call it); `scons_prebuild(env)` is the glue that the hook
nnmodel/pio/nnmodel_hook.py calls, as the library's build.extraScript (`lib_deps = nnmodel=...`)
or as a project `extra_scripts = pre:` script. The target and its flash/SRAM/EEPROM budgets come
from the env's platform and board manifest (nnmodel.targets), unless custom_nnmodel_target and
custom_nnmodel_budget_* say otherwise. Regeneration is skipped while a digest of every input
(model bytes, options, target and budgets, nnmodel's own sources) matches the marker, which is
written only after a complete generation.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import __version__
from .errors import NNModelError
from .fsutil import InputFiles, OutputFolder, os_error_line
from .targets import STORAGES, Board, Target, app_partition_size, profile, target_for_board, target_names

PREFIX = "custom_nnmodel_"
OPTIONS = {
    "model": "model file(s), comma- or newline-separated, each optionally `@storage`; the first is nnmodel.h's",
    "target": "a profile instead of the board's: native, attiny85, esp32c3, avr, esp32, esp8266, cortex-m, generic32 "
              "or an AVR MCU (default: from the env's platform and board)",
    "storage": "ram | flash | progmem | eeprom (default: the target's first choice)",
    "budget_flash": "bytes of flash the model's data may take (default: the board's upload.maximum_size)",
    "budget_ram": "bytes of SRAM (default: the board's upload.maximum_ram_size)",
    "budget_eeprom": "bytes of EEPROM (default: the MCU's, from avr-libc)",
    "samples": "how many samples to embed as nnmodel_samples.h (default 0)",
    "sample_images": "where the samples come from: a data file (.csv with a header row, .npz, IDX with "
                     "custom_nnmodel_sample_label) or MNIST-style images-idx3 IDX beside its labels-idx1 file "
                     "(default: the bundled MNIST test digits)",
    "sample_label": "the label column of a CSV sample file, the y array of an .npz, or the labels IDX file",
    "golden": "yes: write nnmodel_golden.h/.c with the reference's logits on the samples (for C tests)",
    "data": "MNIST folder or data file for the nnmodel_verify and nnmodel_report tasks (default: "
            "custom_nnmodel_sample_images when that is a data file, else the bundled MNIST test digits)",
    "data_label": "that data file's label (CSV column, .npz y array or labels IDX file; default: "
                  "custom_nnmodel_sample_label when the data is the sample file)",
    "stream": "N: write nnmodel_stream.bin, N sample digits + the reference's logits for simavr_run -in (default 0)",
    "calibration": "data file an imported model's (.onnx, .keras, .h5, .pkl) activation ranges are measured on",
    "calibration_label": "that file's label: CSV column, .npz y array or labels IDX file",
    "weight_bits": "8 or 4: weights of an imported model (default 8)",
    "per_channel": "yes: one weight scale per output unit of an imported model",
    "eeprom_writer": "yes: write nnmodel_eeprom_writer.h/.c, the EEPROM image in flash for a writer firmware",
    "web_page": "yes: write nnmodel_web_page.h/.c, the draw-a-digit page as a C byte array and GET /model (lib/nnweb)",
}
MARKER = ".nnmodel-inputs"
SUFFIX = ".nnm"  # fileformat.SUFFIX; not imported: the up-to-date path stays numpy-free


@dataclass
class Settings:
    models: list[Path]
    storages: list[str]  # per model: its `@storage`, else the storage option, else the target's first
    target: Target  # profile and budgets
    storage: str | None
    samples: int
    sample_images: Path | None
    golden: bool
    data: Path | None
    stream: int = 0
    eeprom_writer: bool = False
    web_page: bool = False
    sample_label: str = ""
    data_label: str = ""
    calibration: Path | None = None
    calibration_label: str = ""
    weight_bits: int = 8
    per_channel: bool = False

    @classmethod
    def parse(cls, options: dict[str, str], project_dir: Path, board: Board | str) -> Settings:
        """board: what the env's PlatformIO says (or, for tools and tests, a profile name)."""
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise NNModelError(f"platformio.ini: unknown option {PREFIX}{unknown[0]}; known: "
                               + ", ".join(PREFIX + k for k in OPTIONS))
        entries = [s.strip() for s in options.get("model", "").replace(",", "\n").splitlines() if s.strip()]
        names = [e.split("@")[0].strip() for e in entries]
        storage = (options.get("storage") or "").strip() or None
        storages = [(e.split("@", 1)[1].strip() if "@" in e else storage) for e in entries]
        if not names:
            raise NNModelError(f"platformio.ini: {PREFIX}model is required when any {PREFIX}* option is set")

        def count(name: str) -> int:
            value = options.get(name, "0").strip()
            if not value.isdigit() or int(value) > 65535:
                raise NNModelError(f"platformio.ini: {PREFIX}{name} = {value!r}; expected a count 0..65535")
            return int(value)

        def flag(name: str) -> bool:
            value = options.get(name, "no").strip().lower()
            if value not in ("yes", "no", "true", "false", "1", "0"):
                raise NNModelError(f"platformio.ini: {PREFIX}{name} = {value!r}; expected yes or no")
            return value in ("yes", "true", "1")

        def path(value: str | None) -> Path | None:
            return (project_dir / value.strip()) if value and value.strip() else None

        target = _target(options, board)
        chosen = [st or target.storages[0] for st in storages]
        for st in chosen:
            if st not in target.storages:
                where = "" if isinstance(board, str) else f" ({board.described})"
                raise NNModelError(f"platformio.ini: {PREFIX}storage = {st}: not available on {target.name}{where}; "
                                   f"choose one of {', '.join(target.storages)}"
                                   + ("" if st in STORAGES else f" (storages: {', '.join(STORAGES)})"))
        models = [project_dir / n for n in names]
        calibration = path(options.get("calibration"))
        framework = [m for m in models if m.suffix != SUFFIX]
        if framework and calibration is None:
            raise NNModelError(f"platformio.ini: {PREFIX}model = {framework[0].name} is a framework file: name the "
                               f"data its activation ranges are measured on with {PREFIX}calibration = data/calib.npz")
        bits = (options.get("weight_bits") or "8").strip()
        if bits not in ("8", "4"):
            raise NNModelError(f"platformio.ini: {PREFIX}weight_bits = {bits!r}; expected 8 or 4")
        return cls(models, chosen, target, storage, count("samples"),
                   path(options.get("sample_images")), flag("golden"), path(options.get("data")), count("stream"),
                   flag("eeprom_writer"), flag("web_page"), (options.get("sample_label") or "").strip(),
                   (options.get("data_label") or "").strip(), calibration,
                   (options.get("calibration_label") or "").strip(), int(bits), flag("per_channel"))

    def model_file(self, path: Path, out_dir: Path) -> Path:
        """Where the .nnm of a model entry is: itself, or the import of a framework file in out_dir."""
        return path if path.suffix == SUFFIX else out_dir / f"{_import_name(path)}{SUFFIX}"


def _import_name(path: Path) -> str:
    """The C name of an imported model: its file's stem made an identifier."""
    import re

    name = re.sub(r"\W", "_", path.stem)
    return "m_" + name if name[:1].isdigit() else name


def _target(options: dict[str, str], board: Board | str) -> Target:
    """The env's target: the board's profile (or custom_nnmodel_target's) with the board's budgets, or
    the profile named by `board`; budgets overridden by custom_nnmodel_budget_* (bytes; "none": no check)."""
    name = (options.get("target") or "").strip()
    try:
        if isinstance(board, Board):
            target = target_for_board(board, name)
        else:
            found = profile(name or board)
            if found is None:
                raise ValueError(name or board)
            target = found
    except ValueError:
        raise NNModelError(f"platformio.ini: {PREFIX}target = {name!r}: unknown; choose one of {target_names()}") \
            from None
    budgets: dict[str, int | None] = {}
    for memory in ("flash", "ram", "eeprom"):
        value = (options.get(f"budget_{memory}") or "").strip()
        if not value:
            continue
        if value.lower() == "none":
            budgets[memory] = None
        elif value.isdigit() and 0 < int(value) < 1 << 32:
            budgets[memory] = int(value)
        else:
            raise NNModelError(f"platformio.ini: {PREFIX}budget_{memory} = {value!r}: expected a number of bytes "
                               "(e.g. 32256) or none")
    if budgets:
        import dataclasses

        target = dataclasses.replace(
            target, budgets_from="custom_nnmodel_budget_*",
            flash_bytes=budgets.get("flash", target.flash_bytes), sram_bytes=budgets.get("ram", target.sram_bytes),
            eeprom_bytes=budgets.get("eeprom", target.eeprom_bytes))
    return target


def _own_sources_digest() -> bytes:
    """nnmodel's own code is an input too: a changed generator must regenerate (not only a new version)."""
    h = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")) + sorted(package.rglob("*.c")):
        h.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return h.digest()


def input_files(settings: Settings) -> list[Path]:
    """Every file the generation reads (the models, calibration and sample data, an IDX labels file)."""
    files = list(settings.models) + [f for f in (settings.sample_images, settings.calibration) if f]
    images, label = settings.sample_images, settings.sample_label
    if images and label and (images.parent / label).is_file():
        files.append(images.parent / label)  # an IDX labels file is an input too
    elif images and not label and "images-idx3" in images.name:
        files.append(_mnist_labels(images))  # the labels beside MNIST-style images
    if settings.calibration and Path(settings.calibration_label).is_file():
        files.append(Path(settings.calibration_label))  # an IDX labels file, as the data loader opens it
    if settings.web_page:
        from .paths import web_page

        files.append(web_page())  # not one of nnmodel's .py sources, but embedded all the same
    return files


def _mnist_labels(images: Path) -> Path:
    return Path(str(images).replace("images-idx3", "labels-idx1"))


def inputs_digest(settings: Settings, options: dict[str, str], inputs: InputFiles) -> str:
    """The digest of every input: the files as read into `inputs` (size and type checked first), which
    the generation then uses; nothing is read twice, so what is hashed is what is compiled."""
    h = hashlib.sha256(f"nnmodel {__version__}\0target {settings.target!r}\0".encode())
    h.update(_own_sources_digest())
    for key in sorted(options):
        h.update(f"{key}={options[key]}\0".encode())
    for path in input_files(settings):
        data = inputs.model(path) if path in settings.models else inputs.data(path)
        h.update(hashlib.sha256(data).digest())
        if path.suffix != SUFFIX and path in settings.models:
            # a framework file re-imports when touched too: re-exporting the same network is a
            # rebuild the user asked for (its generated files still only change with its bytes)
            h.update(f"\0mtime {inputs.mtime_ns(path)}\0".encode())
    return h.hexdigest()


def generate(settings: Settings, options: dict[str, str], out_dir: Path,
             log: Callable[[str], None] = print) -> bool:
    """Make out_dir hold the generated files; False when they were already up to date.

    Every input file is read once, hashed and generated from (fsutil.InputFiles); every output is made
    in memory first, then written under the folder's lock (fsutil.OutputFolder), replacing or removing
    only files nnmodel wrote. The marker goes first and comes back last: an interrupted generation
    never looks complete.
    """
    inputs = InputFiles()
    digest = inputs_digest(settings, options, inputs)
    marker = out_dir / MARKER
    if _marked(marker, digest):
        log(f"nnmodel: up to date ({', '.join(p.name for p in settings.models)}, inputs {digest[:12]})")
        return False
    from .codegen import generate_files, generated_by_nnmodel

    folder = OutputFolder(out_dir, lambda p: p.name == MARKER or generated_by_nnmodel(p))
    if os.path.lexists(marker):  # a failed or interrupted generation must not leave the old marker
        with folder:
            folder.remove([MARKER])

    from .codegen.extras import emit_eeprom_writer, emit_golden, emit_samples, emit_stream, emit_web_page
    from .codegen.image import build_image
    from .fileformat import checked_bytes, from_bytes
    from .reference import run
    # (imports above are local: the up-to-date path must stay fast and numpy-free)
    files: dict[str, bytes] = {}
    models = []
    for path in settings.models:
        if path.suffix == SUFFIX:
            models.append(from_bytes(inputs.model(path), str(path)))
        else:
            model = _imported(settings, path, log, inputs)
            saved = settings.model_file(path, out_dir)  # the .nnm the Project Tasks run on
            files[saved.name] = checked_bytes(model, str(saved))
            models.append(model)
    if len({m.name for m in models}) != len(models):
        raise NNModelError(f"platformio.ini: {PREFIX}model lists two models named the same")
    # Secondary models first: each one's files hold nnmodel.h, and the first model's must win.
    stale: set[str] = set()
    for model, path, storage in reversed(list(zip(models, settings.models, settings.storages))):
        result = generate_files(model, target=settings.target, storage=storage, source=str(path))
        files.update(result.files)
        stale.update(result.stale)
        first_storage = storage  # the last one generated is the first model
        fp = result.footprint
        log(f"nnmodel: generated {model.name} for {settings.target.name} "
            f"(hash 0x{result.layout.model_hash:08x}; flash {fp.flash} B, SRAM {fp.sram} B, EEPROM {fp.eeprom} B)")
    if settings.eeprom_writer:
        if first_storage != "eeprom":
            raise NNModelError(f"platformio.ini: {PREFIX}eeprom_writer = yes needs the first model in EEPROM "
                               f"({PREFIX}storage = eeprom); {settings.models[0].name} is in {first_storage}")
        image = build_image(result.layout.payload, result.layout.model_hash)
        files.update({k: v.encode() for k, v in emit_eeprom_writer(models[0], image, result.layout.model_hash).items()})
        log(f"nnmodel: EEPROM writer image of {models[0].name} ({len(image)} B in flash)")
    if settings.web_page:
        from .paths import web_page

        page = inputs.data(web_page())
        files.update({k: v.encode() for k, v in emit_web_page(models[0], result.layout.model_hash, page).items()})
        log(f"nnmodel: draw-a-digit page ({len(page)} B) and GET /model of {models[0].name} (nnmodel_web_page.c)")
    if settings.samples or settings.golden or settings.stream:
        all_codes, all_labels, source = _samples(settings, models, inputs)
        what = "digits" if not models[0].input.is_v3 else "inputs"
    if settings.stream:
        if settings.stream > len(all_codes):
            raise NNModelError(f"platformio.ini: {PREFIX}stream = {settings.stream}; {source} holds only "
                               f"{len(all_codes)} {what}")
        images = all_codes[:settings.stream]
        files["nnmodel_stream.bin"] = emit_stream(models[0], result.layout.model_hash, images,
                                                  all_labels[:settings.stream], run(models[0], images))
        log(f"nnmodel: input stream of {len(images)} {what} and reference logits (nnmodel_stream.bin)")
    if settings.samples or settings.golden:
        count = settings.samples or len(all_codes)
        images, labels_ = all_codes[:count], all_labels[:count]
        signed = models[0].input.dtype == "int8"
        files.update({k: v.encode() for k, v in emit_samples(images, labels_, source, signed).items()})
        if settings.golden:
            expected = [run(m, images) for m in models]
            files.update({k: v.encode() for k, v in emit_golden(models, expected, settings.storages).items()})
        log(f"nnmodel: embedded {len(images)} sample {what}" + (" and golden logits" if settings.golden else ""))
    # Left from an earlier build with the option on: the writer would no longer match the model.
    stale.update(("nnmodel_eeprom_writer.h", "nnmodel_eeprom_writer.c", "nnmodel_stream.bin", "nnmodel_web_page.h",
                  "nnmodel_web_page.c"))

    folder.refuse_foreign(files)
    with folder:
        if _marked(marker, digest):  # another build made the same generation while this one computed
            log(f"nnmodel: up to date ({', '.join(p.name for p in settings.models)}, inputs {digest[:12]})")
            return False
        folder.remove([MARKER])
        folder.write(files, remove=sorted(stale - set(files)), claim=[MARKER])
        marker.write_text(digest + "\n")  # last, after the manifest: a marker cut short matches nothing
    return True


def _marked(marker: Path, digest: str) -> bool:
    try:
        return marker.is_file() and marker.read_text().strip() == digest
    except (OSError, UnicodeDecodeError):
        return False


def _imported(settings: Settings, path: Path, log: Callable[[str], None], inputs: InputFiles) -> Any:
    """A framework file (.onnx, .keras, .h5, .pkl) imported and calibrated, from the bytes in `inputs`;
    the caller saves it beside the generated C (the marker's digest of both files and the options is its
    cache key)."""
    from .commands.importer import import_file

    assert settings.calibration is not None  # Settings.parse requires it for a framework file
    model = import_file(path, str(settings.calibration), settings.calibration_label or None,
                        name=_import_name(path), per_channel=settings.per_channel, weight_bits=settings.weight_bits,
                        provenance={"imported_from": path.name, "calibration": settings.calibration.name,
                                    "nnmodel_version": __version__}, inputs=inputs)
    log(f"nnmodel: imported {path.name} (calibrated on {settings.calibration.name}) as {_import_name(path)}{SUFFIX}")
    return model


def _samples(settings: Settings, models: list[Any], inputs: InputFiles) -> tuple[Any, Any, str]:
    """(codes [N, rows, cols] in the first model's input dtype, uint8 labels [N] (0 for a regression),
    where they came from) for the samples, golden vectors and stream."""
    import numpy as np

    from .datasets import load_idx_pair, load_sample
    from .evaldata import from_samples, stream_codes
    first = models[0]
    others = [m.name for m in models[1:] if m.input != first.input]
    if others:
        raise NNModelError(f"platformio.ini: {PREFIX}model: {others[0]} takes other inputs than {first.name}, so they "
                           "cannot share samples; give each its own env")
    images = settings.sample_images
    label = settings.sample_label
    if images is None or (not label and "images-idx3" in images.name):
        if first.input.is_v3 or (first.input.rows, first.input.cols) != (28, 28):
            raise NNModelError(f"platformio.ini: {PREFIX}sample_images: {first.name} takes {first.input.describe()}, "
                               "not MNIST digits; name a data file it fits (and its label with "
                               f"{PREFIX}sample_label)")
        if images is None:
            digits, source = load_sample(), "the bundled MNIST test sample"
        else:
            digits = load_idx_pair(images, _mnist_labels(images), inputs)
            source = images.name
        return digits.images, digits.labels, source
    from .datasets.samples import load_samples

    labels_path = images.parent / label if label and (images.parent / label).is_file() else None
    samples = load_samples(images, str(labels_path) if labels_path else (label or None), inputs=inputs)
    data = from_samples(first, samples)
    labels = np.zeros(len(data), np.uint8) if first.is_regression else data.targets.astype(np.uint8)
    return stream_codes(data, first), labels, images.name


# ------------------------------------------------------------------------------------ SCons glue
def _fail(env: Any, message: str) -> None:
    sys.stderr.write(f"[nnmodel] error: {message}\n")
    env.Exit(1)


def _options(env: Any) -> dict[str, str]:
    config = env.GetProjectConfig()
    section = "env:" + env["PIOENV"]
    names = [n for n in config.options(section) if n.startswith(PREFIX)]
    return {n[len(PREFIX):]: str(env.GetProjectOption(n)) for n in names}


def board_for_env(env: Any) -> Board:
    """The env's platform and board manifest (with its board_* overrides from platformio.ini)."""
    platform = env.PioPlatform().name
    board_id = env.subst("$BOARD")
    if not board_id:
        return Board(platform)
    config = env.BoardConfig()
    board = Board.from_manifest(platform, board_id, {
        "build": {"mcu": config.get("build.mcu", ""), "cpu": config.get("build.cpu", "")},
        "upload": {key: config.get(f"upload.{key}", None)
                   for key in ("maximum_size", "maximum_ram_size", "maximum_eeprom_size")}})
    # espressif32's framework scripts have chosen the partition table by now; its app partition,
    # not the flash chip, bounds the firmware.
    table = Path(env.subst("$PARTITIONS_TABLE_CSV")) if env.get("PARTITIONS_TABLE_CSV") else None
    if table is not None and table.is_file():
        size = app_partition_size(table.read_text(errors="replace"), str(config.get("build.app_partition_name", "")))
        if size is not None:
            board = dataclasses.replace(board, flash=size, flash_from=f"the app partition in {table.name}")
    return board


def scons_prebuild(env: Any, library: bool = False) -> None:
    """Called by the hook (nnmodel/pio/nnmodel_hook.py) with PlatformIO's construction environment.

    library: the hook runs as the nnmodel library's build.extraScript, in the library's own env
    (PlatformIO compiles the runtime, lib/nnrt, as the library's sources and gives the project the
    include paths appended here); else as a project pre-script, which compiles the runtime itself.
    """
    options = _options(env)
    if not options:
        print(f"nnmodel: nothing to generate for env:{env['PIOENV']} (no {PREFIX}* options)")
        return
    project_dir = Path(env.subst("$PROJECT_DIR"))
    out_dir = Path(env.subst("$BUILD_DIR")) / "nnmodel"
    # The IDE's integration-dump pass (VS Code, --list-targets) only collects include paths and
    # Project Tasks: register those, generate nothing.
    dump = env.IsIntegrationDump()
    try:
        settings = Settings.parse(options, project_dir, board_for_env(env))
        if not dump:
            generate(settings, options, out_dir)
    except NNModelError as exc:
        _fail(env, str(exc))
        return
    except OSError as exc:  # the build folder itself (full disk, permissions): one line too
        _fail(env, f"{out_dir}: {os_error_line(exc)}")
        return
    from .paths import runtime_dir

    runtime = runtime_dir()
    build_dir = Path(env.subst("$BUILD_DIR"))
    env.AppendUnique(CPPPATH=[str(out_dir)] + ([] if library else [str(runtime / "include")]))
    from SCons.Script import DefaultEnvironment

    top = DefaultEnvironment()
    if top.get("NNMODEL_HOOK_DONE"):  # some frameworks (ESP-IDF) construct the library builders twice
        return
    top["NNMODEL_HOOK_DONE"] = True
    _add_tasks(top, settings)  # Project Tasks belong to the project, whichever env runs the hook
    if dump:
        return
    env.BuildSources(str(build_dir / "nnmodel_obj"), str(out_dir))
    if not library:  # the project route: no library builder compiles the runtime, so this does
        env.BuildSources(str(build_dir / "nnrt_obj"), str(runtime / "src"))


def _add_tasks(env: Any, settings: Settings) -> None:
    """Project Tasks in VS Code (and `pio run -t NAME`): run nnmodel on this env's model."""
    from .cli import main

    model = str(settings.model_file(settings.models[0], Path(env.subst("$BUILD_DIR")) / "nnmodel"))
    data, label = settings.data, settings.data_label  # no data: the digits bundled with nnmodel
    sample = settings.sample_images
    if data is None and sample is not None and (settings.sample_label or "images-idx3" not in sample.name):
        data, label = sample, label or settings.sample_label  # a model of your data: its own file
    given = (["--data", str(data)] if data else []) + (["--label", label] if label else [])

    def action(argv: list[str]) -> Callable[..., int]:
        def run(target: Any, source: Any, env: Any) -> int:
            return main(argv)
        return run

    env.AddCustomTarget(name="nnmodel_info", dependencies=None, actions=[action(["info", model])],
                        title="nnmodel info", description="Layers, sizes, MACs and RAM of this env's model",
                        always_build=True)
    verify = ["verify", model, *given]
    env.AddCustomTarget(name="nnmodel_verify", dependencies=None, actions=[action(verify)],
                        title="nnmodel verify",
                        description="Generated C on the host vs the numpy reference, input by input",
                        always_build=True)
    report_dir = Path(env.subst("$BUILD_DIR")) / "nnmodel_report"
    report = ["report", model, "--out", str(report_dir), *given]
    env.AddCustomTarget(name="nnmodel_report", dependencies=None, actions=[action(report)],
                        title="nnmodel report",
                        description="Plots and a model card of this env's model in $BUILD_DIR/nnmodel_report "
                                    "(needs matplotlib)",
                        always_build=True)
