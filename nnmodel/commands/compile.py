"""nnmodel compile MODEL --target T --storage S --out DIR"""
from __future__ import annotations

import argparse

from .. import load
from ..codegen import compile_model
from ..targets import STORAGES, TARGETS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compile", help="generate C (and the EEPROM image) for a target",
                       description="Generate <name>.h/.c and nnmodel.h (plus <name>.bin/.eep for EEPROM storage).")
    p.add_argument("model", help="model file (.nnm)")
    p.add_argument("--target", choices=sorted(TARGETS), default="native")
    p.add_argument("--storage", choices=STORAGES, help="where the weights live (default: the target's first choice)")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = load(args.model)
    result = compile_model(model, target=args.target, storage=args.storage, out_dir=args.out, source=args.model)
    fp = result.footprint
    for path in result.files:
        print(f"wrote {path}")
    print(f"{model.name}: hash 0x{result.layout.model_hash:08x}, payload {fp.payload} B, "
          f"flash {fp.flash} B, SRAM {fp.sram} B, EEPROM {fp.eeprom} B")
    return 0
