"""nnmodel data mnist --dir DIR: download the official files (online users) and verify their checksums."""
from __future__ import annotations

import argparse

from ..datasets import download_mnist


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="download a dataset and verify its checksums")
    p.add_argument("dataset", choices=("mnist", "fashion-mnist"))
    p.add_argument("--dir", required=True, help="where to put the files")
    p.add_argument("--timeout", type=float, default=30.0)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    paths = download_mnist(args.dir, fashion=args.dataset == "fashion-mnist", timeout=args.timeout, progress=print)
    print(f"{len(paths)} files verified in {args.dir}")
    return 0
