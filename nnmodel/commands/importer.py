"""nnmodel import MODEL_FILE --calibration DATA --out NAME.nnm: weights trained elsewhere, quantized."""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import re
import shlex
from pathlib import Path

import numpy as np

from .. import __version__, reference
from ..codegen import footprint
from ..codegen.layout import lay_out
from ..datasets.samples import Samples, load_samples
from ..errors import NNModelError
from ..evaldata import sample_codes
from ..fileformat import SUFFIX, save
from ..fsutil import InputFiles, check_out_file
from ..importers import format_of, import_graph, read_graph, samples_for
from ..importers.oracle import agreement
from ..importers.sklearn_reader import load_estimator
from ..model import Model
from ..names import name_problem
from ..realvalues import output_values
from ..targets import profile
from ..train.data import Units

TARGETS = (("attiny85", "eeprom"), ("attiny85", "progmem"), ("atmega328p", "progmem"), ("esp32c3", "flash"),
           ("cortex-m", "flash"))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="import ONNX, Keras or scikit-learn weights, quantized on calibration data",
                       description="Read a network trained elsewhere (.onnx from PyTorch, skl2onnx or tf2onnx; .keras "
                                   "or .h5; a pickled scikit-learn MLP), lower it to nnmodel's layers, calibrate its "
                                   "activation ranges on DATA and save the integer model. docs/import.md lists the "
                                   "supported ops.")
    p.add_argument("model", metavar="MODEL_FILE", help=".onnx, .keras, .h5, or .pkl/.joblib (scikit-learn)")
    p.add_argument("--calibration", required=True, metavar="DATA",
                   help="samples the activation ranges are measured on, with their labels: .csv with a header row, "
                        ".npz (x, y) or IDX (with --label LABELS.idx), in the framework's input layout")
    p.add_argument("--label", metavar="COLUMN", help="the CSV label column, the .npz y array or the labels IDX file")
    p.add_argument("--out", required=True, metavar="NAME.nnm", help="where to save the model")
    p.add_argument("--name", default="", help="model name, a C identifier (default: from --out)")
    p.add_argument("--weight-bits", type=int, choices=(8, 4), default=8, help="bits per dense/conv weight")
    p.add_argument("--per-channel", action="store_true", help="one weight scale per output unit")
    p.add_argument("--units", default="", help="physical units by feature or output name, e.g. adc=count,t=degC")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.set_defaults(run=run)


def model_name(args: argparse.Namespace) -> str:
    name = args.name or re.sub(r"\W", "_", Path(args.out).stem)
    name = "m_" + name if name[:1].isdigit() else name
    problem = name_problem(name)
    if problem:
        raise NNModelError(f"--name: {problem}" + ("" if args.name else f" (taken from --out {args.out})"))
    return name


def check_out(out: Path, force: bool) -> None:
    check_out_file(out, "--out", force=force, suffix=SUFFIX)


def command_line(args: argparse.Namespace) -> str:
    parts = ["nnmodel", "import", str(args.model), "--calibration", str(args.calibration), "--out", str(args.out)]
    for option, value in (("--label", args.label), ("--name", args.name), ("--units", args.units)):
        if value:
            parts += [option, value]
    if args.weight_bits != 8:
        parts += ["--weight-bits", str(args.weight_bits)]
    if args.per_channel:
        parts.append("--per-channel")
    return shlex.join(parts)


def scores(model: Model, float_out: np.ndarray, int_out: np.ndarray, targets: np.ndarray) -> str:
    if model.is_regression:
        fe = np.sqrt(((float_out - targets) ** 2).mean(axis=0))
        ie = np.sqrt(((output_values(model, int_out) - targets) ** 2).mean(axis=0))
        return "rmse float " + ", ".join(f"{v:.4g}" for v in fe) + "; int " + ", ".join(f"{v:.4g}" for v in ie)
    fa = float((np.argmax(float_out, axis=1) == targets).mean())
    ia = float((np.argmax(int_out, axis=1) == targets).mean())
    return f"accuracy float {fa:.2%}, int {ia:.2%} ({len(targets)} calibration samples)"


def import_file(path: Path, calibration: str, label: str | None, *, name: str, per_channel: bool = False,
                weight_bits: int = 8, units: str = "", provenance: dict | None = None,
                echo: bool = False, inputs: InputFiles | None = None) -> Model:
    """The integer model of a framework file (the pre-build calls this too); echo prints the report.
    inputs: where the model and calibration files are read, once each (the pre-build hashes those bytes)."""
    inputs = inputs or InputFiles()
    graph = read_graph(path, inputs)
    samples = load_samples(calibration, label, inputs=inputs)
    imported = import_graph(graph, samples, name=name, per_channel=per_channel, weight_bits=weight_bits,
                            units=Units.parse(units), provenance=provenance)
    model = imported.model
    if not echo:
        return model
    for line in imported.report:
        print(line)
    x = np.asarray(samples.x, np.float64)
    raw = inputs.model(path)  # the bytes imported above, not the file again
    estimator = load_estimator(path, raw) if format_of(path) == "sklearn" else None
    print(agreement(path, graph, imported.lowered, x.astype(np.float64), imported.float_outputs, estimator, raw))
    codes = sample_codes(model, samples_like(samples, samples_for(graph, imported.lowered, samples)))
    int_out = reference.run(model, codes)
    targets = np.asarray(samples.y, np.float64).reshape(len(samples), -1) if model.is_regression else samples.y
    print(scores(model, imported.float_outputs, int_out, targets))
    layout = lay_out(model)
    shown = []
    for target, storage in TARGETS:
        chosen = profile(target)
        if chosen is not None and storage in chosen.storages:
            fp = footprint(model, layout, storage)
            need = fp.eeprom if storage == "eeprom" else fp.flash
            shown.append(f"{target} {storage} {need} B + SRAM {fp.sram} B")
    print("bytes: " + "; ".join(shown))
    return model


def samples_like(samples: Samples, x: np.ndarray) -> Samples:
    """The samples with x in nnmodel's layout (the framework's NCHW images transposed to HWC)."""
    return dataclasses.replace(samples, x=x)


def run(args: argparse.Namespace) -> int:
    path = Path(args.model)
    out = Path(args.out)
    check_out(out, args.force)
    name = model_name(args)
    inputs = InputFiles()
    provenance = {"command": command_line(args), "imported_from": path.name,
                  "source_sha256": hashlib.sha256(inputs.model(path)).hexdigest(), "nnmodel_version": __version__}
    model = import_file(path, args.calibration, args.label, name=name, per_channel=args.per_channel,
                        weight_bits=args.weight_bits, units=args.units, provenance=provenance, echo=True,
                        inputs=inputs)
    save(model, out, overwrite=args.force)
    print(f"saved {out}: {model.macs()} MACs, {model.parameter_count()} parameters")
    return 0
