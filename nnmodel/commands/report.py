"""nnmodel report MODEL --out DIR: pictures of what the network does and a Markdown model card."""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from .. import load
from ..report import CARD, Digits, build_report, write_report
from ..report.measure import from_results, measure
from .eval import add_digit_options, load_digits


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="PNG plots and a model card (needs the report extra: matplotlib)",
                       description="Evaluate the model with both engines and write a confusion matrix, per-class "
                                   "accuracy, misclassified digits, weight histograms, the RNN's hidden state or "
                                   "the CNN's feature maps as PNGs, and model_card.md beside them.")
    p.add_argument("model", help="a .nnm model file")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="folder for the report (created; must be empty or hold an earlier report)")
    add_digit_options(p)
    sims = p.add_mutually_exclusive_group()
    sims.add_argument("--bench", metavar="FILE", help="read the simulator figures from a results file of "
                                                      "`nnmodel bench` instead of measuring them")
    sims.add_argument("--no-sim", action="store_true", help="leave the simulator figures out (faster)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    path = Path(args.model)
    model = load(path)
    data, images, labels = load_digits(args)
    digits = Digits(images, labels, f"{data.source} ({args.split}, {len(labels)} digits)",
                    f"{len(labels)} {args.split} digits")
    key = path.stem
    bench = None if args.no_sim else (from_results(Path(args.bench), path, key) if args.bench
                                      else measure(model, path, key))
    command = "nnmodel report " + " ".join(shlex.quote(a) for a in _argv(args))
    files = build_report(model, path, digits, bench, command)
    written = write_report(Path(args.out), files)
    for f in written:
        print(f"wrote {f}")
    print(f"model card: {Path(args.out) / CARD}")
    return 0


def _argv(args: argparse.Namespace) -> list[str]:
    """The options that decide the report's contents (not --out), for the card's provenance line."""
    argv = [args.model]
    if args.data:
        argv += ["--data", args.data]
    if args.split != "test":
        argv += ["--split", args.split]
    if args.limit:
        argv += ["--limit", str(args.limit)]
    if args.bench:
        argv += ["--bench", args.bench]
    if args.no_sim:
        argv.append("--no-sim")
    return argv
