"""nnmodel device-eval --port PORT: classify test digits on a board over the serial protocol.

Reports the on-device accuracy, the per-image latency (device time inside the model, and the
host's round trip) and every image whose integer logits differ from nnmodel.reference.
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import load, reference
from ..codegen.layout import lay_out
from ..device import DeviceInfo, open_device
from ..errors import NNModelError
from ..fsutil import write_atomic
from ..model import Model
from ..paths import repo_root
from .eval import add_digit_options, load_digits


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("device-eval", help="classify test digits on a board over serial; compare with the reference",
                       description="Stream test digits to a board running the nnmodel serial firmware "
                                   "(docs/serial-protocol.md); report on-device accuracy, latency and every "
                                   "image whose logits differ from nnmodel.reference.")
    p.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyACM0, /dev/ttyUSB0, COM5")
    add_digit_options(p)
    p.add_argument("--model", metavar="FILE",
                   help="the .nnm the firmware was built from "
                        "(default: models/NAME.nnm for the NAME the device reports)")
    p.add_argument("--ignore-hash", action="store_true",
                   help="compare even when the device runs another model hash (lists the differences)")
    p.add_argument("--baud", type=int, default=115200, help="baud rate (default %(default)s)")
    p.add_argument("--timeout", type=float, default=2.0, metavar="S", help="seconds to wait for each reply (default 2)")
    p.add_argument("--connect-timeout", type=float, default=10.0, metavar="S",
                   help="seconds to wait for the first answer; boards may reset when the port opens (default 10)")
    p.add_argument("--csv", metavar="FILE", help="also write one row per image (class, logits match, us, ms)")
    p.set_defaults(run=run)


@dataclass
class Result:
    index: int
    label: int
    device_class: int
    reference_class: int
    device_logits: tuple[int, ...]
    reference_logits: tuple[int, ...]
    us: int
    roundtrip_ms: float
    retries: int

    @property
    def same(self) -> bool:
        """Logits bit-identical to the reference, and the device's class is their argmax."""
        return self.device_logits == self.reference_logits and self.device_class == self.reference_class


def _shown(path: str | Path) -> str:
    """A path as short as it can be said: relative to the working directory when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _model_for(info: DeviceInfo, args: argparse.Namespace) -> tuple[Model, str]:
    if args.model:
        return load(args.model), args.model
    root = repo_root()
    for folder in (Path.cwd() / "models", root / "models" if root else None):
        if folder is not None and (folder / f"{info.model}.nnm").is_file():
            path = folder / f"{info.model}.nnm"
            return load(path), _shown(path)
    raise NNModelError(f"{args.port}: the device runs model {info.model} (hash 0x{info.hash:08x}) and there is no "
                       f"models/{info.model}.nnm here; pass --model FILE")


def _check_model(info: DeviceInfo, model: Model, path: str, args: argparse.Namespace) -> str:
    shape = (model.input.rows, model.input.cols, model.n_classes)
    if (info.rows, info.cols, info.classes) != shape:
        raise NNModelError(f"{args.port}: the device's model takes {info.rows}x{info.cols} images into {info.classes} "
                           f"classes, {path} takes {shape[0]}x{shape[1]} into {shape[2]}; pass the right --model")
    model_hash = lay_out(model).model_hash
    if info.hash == model_hash and info.model == model.name:
        return f"matches {path}"
    what = (f"the device runs {info.model} hash 0x{info.hash:08x}, but {path} is {model.name} "
            f"hash 0x{model_hash:08x}")
    if not args.ignore_hash:
        raise NNModelError(f"{args.port}: {what}; flash the firmware built from it, pass the matching --model, "
                           f"or add --ignore-hash to list the differences")
    return f"DIFFERS: {what}"


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    arr = np.asarray(values, dtype=np.float64)
    return float(np.median(arr)), float(np.percentile(arr, 95)), float(arr.max())


def run(args: argparse.Namespace) -> int:
    data, images, labels = load_digits(args)
    results: list[Result] = []
    progress = sys.stderr.isatty()
    with open_device(args.port, args.baud, args.timeout, args.connect_timeout) as dev:
        info = dev.info()
        if info.proto != 1:
            raise NNModelError(f"{args.port}: the device speaks serial protocol {info.proto}; this nnmodel speaks 1")
        model, path = _model_for(info, args)
        match = _check_model(info, model, path, args)
        expected = reference.run(model, images)
        print(f"device {args.port}: {info.model} hash 0x{info.hash:08x}, protocol {info.proto}, "
              f"weights in {info.storage} ({match})")
        print(f"images: {len(images)} from {_shown(data.source)} ({args.split} split)")
        sys.stdout.flush()
        for k, image in enumerate(images):
            reply, rtt, retries = dev.classify(np.ascontiguousarray(image, np.uint8).tobytes())
            want = tuple(int(v) for v in expected[k])
            results.append(Result(k, int(labels[k]), reply.cls, int(np.argmax(expected[k])), reply.logits, want,
                                  reply.us, rtt * 1000.0, retries))
            if progress and (k + 1) % 50 == 0:
                print(f"\r{k + 1}/{len(images)}", end="", file=sys.stderr, flush=True)
    if progress:
        print("\r", end="", file=sys.stderr)
    if args.csv:
        _write_csv(Path(args.csv), results)
    return _report(results)


def _report(results: list[Result]) -> int:
    n = len(results)
    if n == 0:
        print("no images")
        return 0
    correct = sum(r.device_class == r.label for r in results)
    ref_correct = sum(r.reference_class == r.label for r in results)
    same = sum(r.same for r in results)
    us = _percentiles([r.us for r in results])
    ms = _percentiles([r.roundtrip_ms for r in results])
    print(f"accuracy on device: {correct}/{n} = {100.0 * correct / n:.2f}%  "
          f"(reference: {ref_correct}/{n} = {100.0 * ref_correct / n:.2f}%)")
    print(f"logits identical to nnmodel.reference: {same}/{n}")
    print(f"latency on device: median {us[0]:.0f} us, p95 {us[1]:.0f} us, max {us[2]:.0f} us (time inside the model)")
    print(f"round trip: median {ms[0]:.2f} ms, p95 {ms[1]:.2f} ms, max {ms[2]:.2f} ms (frame sent to reply read)")
    print(f"retries: {sum(r.retries for r in results)}")
    bad = [r for r in results if not r.same]
    print(f"mismatches: {len(bad) if bad else 'none'}")
    for r in bad:
        print(f"mismatch: image {r.index} (label {r.label}): device class {r.device_class} logits "
              f"{list(r.device_logits)} | reference class {r.reference_class} logits {list(r.reference_logits)}")
    return 1 if bad else 0


def _write_csv(path: Path, results: list[Result]) -> None:
    text = io.StringIO(newline="")
    w = csv.writer(text)
    w.writerow(["image", "label", "device_class", "reference_class", "logits_identical", "device_us",
                "roundtrip_ms", "retries"])
    for r in results:
        w.writerow([r.index, r.label, r.device_class, r.reference_class, int(r.same), r.us,
                    f"{r.roundtrip_ms:.3f}", r.retries])
    try:
        write_atomic(path, text.getvalue().encode())
    except OSError as exc:
        raise NNModelError(f"{path}: cannot write: {exc.strerror}") from None
