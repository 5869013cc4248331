"""nnmodel eval MODEL: accuracy, per-class accuracy and confusion matrix on MNIST (reference or C engine)."""
from __future__ import annotations

import argparse

from .. import load
from ..datasets import load_mnist, load_sample
from ..errors import NNModelError
from ..evaluate import ENGINES, evaluate, format_report


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="accuracy, per-class accuracy and confusion matrix of a model",
                       description="Run the integer model on a dataset with the numpy reference or the "
                                   "generated C (host build, -O2, also timed) and report accuracy.")
    p.add_argument("model", help="a .nnm model file")
    p.add_argument("--data", metavar="DIR", help="MNIST directory (default: the 500 bundled test digits)")
    p.add_argument("--split", choices=("test", "train"), default="test", help="which split (default test)")
    p.add_argument("--engine", choices=ENGINES, default="reference",
                   help="reference: numpy integer reference; c: generated C built on this host (default reference)")
    p.add_argument("--limit", type=int, default=0, metavar="N", help="only the first N digits (default all)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.limit < 0:
        raise NNModelError(f"--limit {args.limit}: must be 0 (all) or a positive number of digits")
    model = load(args.model)
    if args.data:
        data = load_mnist(args.data, args.split)
    elif args.split == "test":
        data = load_sample()
    else:
        raise NNModelError("--split train needs --data DIR; the bundled sample holds test digits only")
    images, labels = data.images, data.labels
    if args.limit:
        images, labels = images[:args.limit], labels[:args.limit]
    ev = evaluate(model, images, labels, engine=args.engine, source=f"{data.source} ({args.split}, {len(labels)} digits)")
    print(format_report(ev, title=f"model {model.name} ({args.model})"))
    return 0
