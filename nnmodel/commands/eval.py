"""nnmodel eval MODEL: accuracy, per-class accuracy and confusion matrix on MNIST (reference or C engine)."""
from __future__ import annotations

import argparse

import numpy as np

from .. import load
from ..datasets import Dataset, load_mnist, load_sample
from ..errors import NNModelError
from ..evaluate import ENGINES, evaluate, format_report


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="accuracy, per-class accuracy and confusion matrix of a model",
                       description="Run the integer model on a dataset with the numpy reference or the "
                                   "generated C (host build, -O2, also timed) and report accuracy.")
    p.add_argument("model", help="a .nnm model file")
    add_digit_options(p)
    p.add_argument("--engine", choices=ENGINES, default="reference",
                   help="reference: numpy integer reference; c: generated C built on this host (default reference)")
    p.set_defaults(run=run)


def add_digit_options(p: argparse.ArgumentParser) -> None:
    """--data, --split, --limit: which digits to classify (eval and device-eval)."""
    p.add_argument("--data", metavar="DIR", help="MNIST directory (default: the 500 bundled test digits)")
    p.add_argument("--split", choices=("test", "train"), default="test", help="which split (default test)")
    p.add_argument("--limit", type=int, default=0, metavar="N", help="only the first N digits (default all)")


def load_digits(args: argparse.Namespace) -> tuple[Dataset, np.ndarray, np.ndarray]:
    """(dataset, images, labels) chosen by add_digit_options' options, images and labels cut to --limit."""
    if args.limit < 0:
        raise NNModelError(f"--limit {args.limit}: must be 0 (all) or a positive number of digits")
    if args.data:
        data = load_mnist(args.data, args.split)
    elif args.split == "test":
        data = load_sample()
    else:
        raise NNModelError("--split train needs --data DIR; the bundled sample holds test digits only")
    limit = args.limit or None
    return data, data.images[:limit], data.labels[:limit]


def run(args: argparse.Namespace) -> int:
    data, images, labels = load_digits(args)
    model = load(args.model)
    ev = evaluate(model, images, labels, engine=args.engine,
                  source=f"{data.source} ({args.split}, {len(labels)} digits)")
    print(format_report(ev, title=f"model {model.name} ({args.model})"))
    return 0
