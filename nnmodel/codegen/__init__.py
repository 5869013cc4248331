"""nnmodel compile: validate → lay out for a target/storage → emit C (+ the EEPROM image)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import NNModelError
from ..fileformat import MAGIC as NNM_MAGIC
from ..fileformat import check_model
from ..fsutil import OutputFolder
from ..model import Model
from ..plan import plan_buffers, stack_bytes
from ..targets import Target, profile, target_names
from .emit_c import BANNER_PREFIX, emit
from .extras import STREAM_MAGIC, STREAM_VERSION
from .image import HEADER_BYTES, IMAGE_MAGIC, IMAGE_VERSION, MAX_PAYLOAD, build_image, intel_hex
from .layout import Layout, lay_out


@dataclass
class Footprint:
    """Bytes the model needs in each memory of the target (runtime code not included)."""

    payload: int  # weights, biases, multipliers, shifts, tables
    buffers: int  # static SRAM of the inference state
    flash: int
    sram: int
    eeprom: int
    stack: int = 0  # stack beyond the target's stack_reserve (the conv kernels)


def footprint(model: Model, layout: Layout, storage: str) -> Footprint:
    payload = len(layout.payload)
    buffers = plan_buffers(model).ram_bytes
    return Footprint(
        payload=payload,
        buffers=buffers,
        flash=0 if storage == "eeprom" else payload,  # RAM weights are copied from flash at boot
        sram=buffers + (payload if storage == "ram" else 0),
        eeprom=payload + HEADER_BYTES if storage == "eeprom" else 0,
        stack=stack_bytes(model),
    )


_STORAGE_OPTION = "(--storage, custom_nnmodel_storage)"  # the CLI's and platformio.ini's names


def check_fit(target: Target, storage: str, fp: Footprint, where: str) -> None:
    """Invariant 5: a model that does not fit fails now, with bytes needed versus available."""
    if storage not in target.storages:
        hint = " (AVR flash is --storage progmem)" if storage == "flash" and "progmem" in target.storages else ""
        raise NNModelError(f"{where}: storage {storage!r} is not available on {target.name}; "
                           f"choose one of {', '.join(target.storages)}{hint}")
    if storage == "eeprom" and fp.payload > MAX_PAYLOAD:
        raise NNModelError(f"{where}: an EEPROM image holds at most {MAX_PAYLOAD} bytes of payload, "
                           f"this model needs {fp.payload}; use storage flash or ram {_STORAGE_OPTION}")
    if storage == "eeprom" and target.eeprom_bytes is None and target.name != "native":
        raise NNModelError(f"{where}: the EEPROM size of {target.name} is not known, so the {fp.eeprom}-byte image "
                           "cannot be checked; give its size (--budget-eeprom, or custom_nnmodel_budget_eeprom in "
                           "platformio.ini) or name the MCU (--target atmega328p)")
    checks = [("EEPROM", fp.eeprom, target.eeprom_bytes, "bytes of image (header included)"),
              ("flash", fp.flash, target.flash_bytes, "bytes of model data"),
              ("SRAM", fp.sram + target.stack_reserve + fp.stack, target.sram_bytes,
               f"bytes ({fp.sram} model + {target.stack_reserve} kept for stack and input row"
               + (f" + {fp.stack} for the conv kernels' stack)" if fp.stack else ")"))]
    source = f" ({target.budgets_from})" if target.budgets_from else ""
    for memory, need, have, what in checks:
        if have is not None and need > have:
            raise NNModelError(f"{where}: does not fit {target.name} {memory}: needs {need} {what}, "
                               f"{have} available{source}; use a smaller model or another storage {_STORAGE_OPTION}")


@dataclass
class CompileResult:
    files: list[Path]
    layout: Layout
    footprint: Footprint


@dataclass
class Generated:
    """A model's generated files, in memory: written by write_outputs, or with others by the pre-build."""

    files: dict[str, bytes]
    stale: list[str]  # files of an earlier generation that no longer belong (its EEPROM image)
    layout: Layout
    footprint: Footprint


def generate_files(model: Model, *, target: str | Target, storage: str | None, source: str = "") -> Generated:
    """Generate the model's C for `target` (a profile name, or a Target with its budgets); writes nothing."""
    where = source or model.name
    chosen = target if isinstance(target, Target) else profile(target)
    if chosen is None:
        raise NNModelError(f"{where}: unknown target {target!r}; choose one of {target_names()}")
    storage = storage or chosen.storages[0]
    check_model(model, where)
    layout = lay_out(model)
    fp = footprint(model, layout, storage)
    check_fit(chosen, storage, fp, where)
    files: dict[str, bytes] = {name: text.encode() for name, text in
                               emit(model, layout, storage, chosen.name, Path(source).name or model.name).items()}
    images = [f"{model.name}.bin", f"{model.name}.eep"]
    if storage == "eeprom":
        image = build_image(layout.payload, layout.model_hash)
        files[images[0]] = image
        files[images[1]] = intel_hex(image).encode()
    # an image left from an earlier --storage eeprom generation is stale (removed only if nnmodel wrote it)
    return Generated(files, [] if storage == "eeprom" else images, layout, fp)


def compile_model(model: Model, *, target: str | Target, storage: str | None, out_dir: str | Path,
                  source: str = "") -> CompileResult:
    """Generate the model's C for `target` into out_dir (see write_outputs)."""
    generated = generate_files(model, target=target, storage=storage, source=source)
    written = write_outputs(Path(out_dir), generated.files, model.name, remove=generated.stale)
    return CompileResult(written, generated.layout, generated.footprint)


_IMAGE_HEX = re.compile(rb":[0-9A-F]{2}000000" + IMAGE_MAGIC.hex().upper().encode())


def generated_by_nnmodel(path: Path) -> bool:
    """Recognisably nnmodel's, from its content: a generated C file (banner), an EEPROM image (.bin, or its
    Intel HEX .eep), a sample stream, an imported .nnm. Used only for a folder written before nnmodel kept
    a manifest there (fsutil.OutputFolder's adopt)."""
    if not path.is_file():  # (a FIFO would block the read)
        return False
    try:
        with path.open("rb") as f:
            head = f.read(64)
    except OSError:
        return False
    if head.startswith(BANNER_PREFIX.encode()) or head.startswith(NNM_MAGIC):
        return True
    if path.suffix == ".bin":
        return head[:3] in (IMAGE_MAGIC + bytes([IMAGE_VERSION]), STREAM_MAGIC + bytes([STREAM_VERSION]))
    if path.suffix == ".eep":
        lines = head.split(b"\n")
        return len(lines) > 1 and _IMAGE_HEX.match(lines[1]) is not None
    return False


def write_outputs(out: Path, files: dict[str, bytes], name: str = "", remove: list[str] | tuple[str, ...] = ()
                  ) -> list[Path]:
    """Write every file to a temp name first, then rename them all: a failure leaves the old set; then
    remove the `remove` files of an earlier generation.

    Under a lock on the folder (two writers both end with whole files), and only ever replacing or
    removing files nnmodel wrote there (its manifest, fsutil.OutputFolder): a user's file is refused
    with one line, before anything is written.
    """
    folder = OutputFolder(out, generated_by_nnmodel)
    folder.refuse_foreign(files)
    with folder:
        return folder.write(files, remove=remove)
