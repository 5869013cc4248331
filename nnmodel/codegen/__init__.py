"""nnmodel compile: validate → lay out for a target/storage → emit C (+ the EEPROM image)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import NNModelError
from ..fileformat import check_model
from ..fsutil import stage
from ..model import Model
from ..plan import plan_buffers, stack_bytes
from ..targets import Target, profile, target_names
from .emit_c import BANNER_PREFIX, emit
from .image import HEADER_BYTES, MAX_PAYLOAD, build_image, intel_hex
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


def compile_model(model: Model, *, target: str | Target, storage: str | None, out_dir: str | Path,
                  source: str = "") -> CompileResult:
    """Generate the model's C for `target` (a profile name, or a Target with its budgets)."""
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
    if storage == "eeprom":
        image = build_image(layout.payload, layout.model_hash)
        files[f"{model.name}.bin"] = image
        files[f"{model.name}.eep"] = intel_hex(image).encode()
    out = Path(out_dir)
    header_ours = _ours(out / f"{model.name}.h")
    written = write_outputs(out, files, model.name)
    if header_ours and storage != "eeprom":  # an image left from an earlier --storage eeprom build is stale
        for suffix in (".bin", ".eep"):
            (out / f"{model.name}{suffix}").unlink(missing_ok=True)
    return CompileResult(written, layout, fp)


def _ours(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(len(BANNER_PREFIX)) == BANNER_PREFIX.encode()
    except OSError:
        return False


def write_outputs(out: Path, files: dict[str, bytes], name: str) -> list[Path]:
    """Write every file to a temp name first, then rename them all: a failure leaves the old set.

    Never replaces a file nnmodel did not generate (text files carry the banner; the image files
    count as ours when the model header beside them does).
    """
    out.mkdir(parents=True, exist_ok=True)
    header_ours = _ours(out / f"{name}.h")
    for fname in files:
        target = out / fname
        if target.exists() and not (_ours(target) or (header_ours and target.suffix in (".bin", ".eep"))):
            raise NNModelError(f"{target}: exists and was not generated by nnmodel; "
                               "move it away or choose another --out folder")
    for fname in files:  # temp files of a generation killed before its renames (stage() names them so)
        for stale in out.glob(f".{fname}.*.tmp"):
            stale.unlink(missing_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for fname, data in files.items():
            staged.append((stage(out / fname, data), out / fname))
        for tmp, final in staged:
            os.replace(tmp, final)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
    return [out / fname for fname in files]
