"""The `nnmodel` command. Each subcommand lives in nnmodel/commands/<name>.py with register() and run()."""
from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import NNModelError

COMMANDS = ("compile", "info", "verify", "eval", "report", "train", "import", "data", "bench", "device-eval", "demo",
            "hook-path")
MODULES = {"import": "importer"}  # a command whose module cannot carry its name


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nnmodel", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"nnmodel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"nnmodel.commands.{MODULES.get(name, name.replace('-', '_'))}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except NNModelError as exc:
        print(f"nnmodel: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nnmodel: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `nnmodel info M | head`: the reader left; say nothing more
        sys.stdout = None  # no flush of the closed pipe at exit
        return 141


if __name__ == "__main__":
    sys.exit(main())
