"""nnmodel verify MODEL [--data DIR|FILE]: generated C on the host vs the numpy reference, input by input."""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from .. import hostc, load, reference
from ..evaldata import stream_codes
from ..targets import STORAGES
from .eval import add_data_options, load_data


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="check the generated C is bit-identical to the reference")
    p.add_argument("model")
    add_data_options(p)
    p.add_argument("--storage", choices=STORAGES, default="ram", help="storage kind to build on the host")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = load(args.model)
    data = load_data(args, model)
    rows = stream_codes(data, model)
    expected = reference.run(model, rows)
    with tempfile.TemporaryDirectory(prefix="nnmodel-verify-") as tmp:
        got = hostc.build(model, Path(tmp), storage=args.storage, source=args.model).logits(rows)
    same = np.all(got == expected, axis=1)
    print(f"{int(same.sum())}/{len(rows)} bit-identical ({model.name}, {data.source}, storage {args.storage})")
    if same.all():
        return 0
    k = int(np.argmin(same))
    print(f"first mismatch: input {k}: C {got[k].tolist()} vs reference {expected[k].tolist()}")
    return 1
