"""nnmodel verify MODEL [--data DIR]: generated C on the host vs the numpy reference, image by image."""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from .. import hostc, load, reference
from ..targets import STORAGES
from .eval import add_digit_options, load_digits


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="check the generated C is bit-identical to the reference")
    p.add_argument("model")
    add_digit_options(p)
    p.add_argument("--storage", choices=STORAGES, default="ram", help="storage kind to build on the host")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = load(args.model)
    _, images, _ = load_digits(args)
    expected = reference.run(model, images)
    with tempfile.TemporaryDirectory(prefix="nnmodel-verify-") as tmp:
        got = hostc.build(model, Path(tmp), storage=args.storage, source=args.model).logits(images)
    same = np.all(got == expected, axis=1)
    print(f"{int(same.sum())}/{len(images)} bit-identical ({model.name}, {args.split} split, storage {args.storage})")
    if same.all():
        return 0
    k = int(np.argmin(same))
    print(f"first mismatch: image {k}: C {got[k].tolist()} vs reference {expected[k].tolist()}")
    return 1
