"""nnmodel compile MODEL --target T --storage S --out DIR"""
from __future__ import annotations

import argparse

from .. import load
from ..codegen import compile_model
from ..errors import NNModelError
from ..fsutil import check_out_folder
from ..targets import STORAGES, profile, target_names


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compile", help="generate C (and the EEPROM image) for a target",
                       description="Generate <name>.h/.c and nnmodel.h (plus <name>.bin/.eep for EEPROM storage).")
    p.add_argument("model", help="model file (.nnm)")
    p.add_argument("--target", default="native", help=f"profile: {target_names()} (default native; docs/boards.md)")
    for memory in ("flash", "ram", "eeprom"):
        p.add_argument(f"--budget-{memory}", type=int, metavar="BYTES",
                       help=f"{memory} the model may take (default: the target's, if it has one)")
    p.add_argument("--storage", choices=STORAGES, help="where the weights live (default: the target's first choice)")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    target = profile(args.target)
    if target is None:
        raise NNModelError(f"--target {args.target!r}: unknown; choose one of {target_names()}")
    budgets = {"flash": args.budget_flash, "sram": args.budget_ram, "eeprom": args.budget_eeprom}
    for memory, value in budgets.items():
        if value is not None and value <= 0:
            raise NNModelError(f"--budget-{'ram' if memory == 'sram' else memory} {value}: expected a positive "
                               "number of bytes")
    target = target.budgeted(**budgets, source="--budget-*")
    check_out_folder(args.out)
    model = load(args.model)
    result = compile_model(model, target=target, storage=args.storage, out_dir=args.out, source=args.model)
    fp = result.footprint
    for path in result.files:
        print(f"wrote {path}")
    print(f"{model.name}: hash 0x{result.layout.model_hash:08x}, payload {fp.payload} B, "
          f"flash {fp.flash} B, SRAM {fp.sram} B, EEPROM {fp.eeprom} B")
    return 0
