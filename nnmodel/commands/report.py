"""nnmodel report MODEL --out DIR: pictures of what the network does and a Markdown model card."""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from .. import load
from ..evaldata import EvalData
from ..fsutil import check_out_folder
from ..report import CARD, build_report, write_report
from ..report.measure import from_results, measure
from .eval import add_data_options, load_data


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="PNG plots and a model card (needs the report extra: matplotlib)",
                       description="Evaluate the model with both engines on MNIST digits or a data file and write "
                                   "PNGs (classification: confusion matrix, per-class accuracy, misclassified "
                                   "images or sequences; regression: predicted vs true and residuals; weight "
                                   "histograms; the RNN's hidden state, the CNN's feature maps or an image MLP's "
                                   "first-layer weights) and model_card.md beside them.")
    p.add_argument("model", help="a .nnm model file")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="folder for the report (created; must be empty or hold an earlier report)")
    add_data_options(p)
    sims = p.add_mutually_exclusive_group()
    sims.add_argument("--bench", metavar="FILE", help="read the simulator figures from a results file of "
                                                      "`nnmodel bench` instead of measuring them")
    sims.add_argument("--no-sim", action="store_true", help="leave the simulator figures out (faster)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    path = Path(args.model)
    check_out_folder(args.out)
    model = load(path)
    data = load_data(args, model)
    key = path.stem
    bench = None if args.no_sim else (from_results(Path(args.bench), path, key) if args.bench
                                      else measure(model, path, key))
    command = "nnmodel report " + " ".join(shlex.quote(a) for a in _argv(args))
    files = build_report(model, path, data, bench, command, _short(args, data), held_out=args.held_out)
    written = write_report(Path(args.out), files)
    for f in written:
        print(f"wrote {f}")
    print(f"model card: {Path(args.out) / CARD}")
    return 0


def _short(args: argparse.Namespace, data: EvalData) -> str:
    """The data in a few words, for the pictures' titles."""
    n = len(data)
    if args.data is None or Path(args.data).is_dir():
        return f"{n} {args.split} digits"
    return f"{n} {'held-out ' if args.held_out else ''}rows of {Path(args.data).name}"


def _argv(args: argparse.Namespace) -> list[str]:
    """The options that decide the report's contents (not --out), for the card's provenance line."""
    argv = [args.model]
    if args.data:
        argv += ["--data", args.data]
    if args.label:
        argv += ["--label", args.label]
    if args.held_out:
        argv.append("--held-out")
    if args.split != "test":
        argv += ["--split", args.split]
    if args.limit:
        argv += ["--limit", str(args.limit)]
    if args.bench:
        argv += ["--bench", args.bench]
    if args.no_sim:
        argv.append("--no-sim")
    return argv
