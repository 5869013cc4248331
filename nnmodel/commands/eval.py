"""nnmodel eval MODEL: accuracy, per-class accuracy and confusion matrix, or RMSE and MAE per output
(regression), on MNIST digits or a data file (reference or C engine)."""
from __future__ import annotations

import argparse

import numpy as np

from .. import evaldata, load
from ..datasets import Dataset, load_mnist, load_sample
from ..errors import NNModelError
from ..evaldata import EvalData
from ..evaluate import ENGINES, evaluate_data, format_any
from ..model import Model


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="accuracy (classification) or RMSE/MAE (regression) of a model",
                       description="Run the integer model on a dataset with the numpy reference or the "
                                   "generated C (host build, -O2, also timed) and report accuracy, per-class "
                                   "accuracy and the confusion matrix, or each output's RMSE and MAE.")
    p.add_argument("model", help="a .nnm model file")
    add_data_options(p)
    p.add_argument("--engine", choices=ENGINES, default="reference",
                   help="reference: numpy integer reference; c: generated C built on this host (default reference)")
    p.set_defaults(run=run)


def add_digit_options(p: argparse.ArgumentParser) -> None:
    """--data, --split, --limit: which digits to classify (device-eval speaks the digit protocol)."""
    p.add_argument("--data", metavar="DIR", help="MNIST directory (default: the 500 bundled test digits)")
    p.add_argument("--split", choices=("test", "train"), default="test", help="which split (default test)")
    p.add_argument("--limit", type=int, default=0, metavar="N", help="only the first N digits (default all)")


def add_data_options(p: argparse.ArgumentParser) -> None:
    """--data, --label, --held-out, --split, --limit: what eval, verify and report run the model on."""
    p.add_argument("--data", metavar="DIR|FILE", help="an MNIST directory, or a data file: .csv with a header "
                   "row, .npz (x, y) or IDX (default: the 500 bundled MNIST test digits)")
    p.add_argument("--label", metavar="COLUMN", help="data file: the label column of a CSV (default 'label'), the "
                   "y array of an .npz (default y), or the labels IDX file")
    p.add_argument("--held-out", action="store_true", help="data file: only the rows the model's trainer held "
                   "out as its test set (recorded in the model)")
    p.add_argument("--split", choices=("test", "train"), default="test", help="MNIST split (default test)")
    p.add_argument("--limit", type=int, default=0, metavar="N", help="only the first N samples (default all)")


def load_data(args: argparse.Namespace, model: Model) -> EvalData:
    """The samples add_data_options' options name, as the model's codes and targets."""
    return evaldata.load(model, args.data, label=args.label, split=args.split, limit=args.limit,
                         held_out=args.held_out)


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
    model = load(args.model)
    data = load_data(args, model)
    ev = evaluate_data(model, data, engine=args.engine)
    print(format_any(ev, title=f"model {model.name} ({args.model})"))
    return 0
