"""nnmodel bench [MODEL ...]: every benchmark this machine can run, one `key = value unit` per line."""
from __future__ import annotations

import argparse
from pathlib import Path

from .. import load
from ..errors import NNModelError
from ..paths import repo_root
from ..sim.bench import PRODUCERS, run_all, train_figures


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run the benchmarks and write bench/results.json")
    p.add_argument("models", nargs="*", help="model files (default: the shipped models/*.nnm)")
    p.add_argument("--out", default="bench/results.json", help="JSON results file (default: %(default)s)")
    p.add_argument("--train", action="store_true",
                   help="also retrain each model with its recorded command and time it (takes minutes)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    paths = [Path(m) for m in args.models]
    if not paths:
        root = repo_root()
        paths = sorted((root / "models").glob("*.nnm")) if root else []
        if not paths:
            raise NNModelError("no models to benchmark: pass model files, or run from a checkout with models/*.nnm")
    models = [(p.stem, load(p)) for p in paths]
    producers = PRODUCERS + ([train_figures] if args.train else [])
    run_all(models, paths, Path(args.out), producers)
    print(f"wrote {args.out}")
    return 0
