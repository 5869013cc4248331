"""The `nnmodel` command. Each subcommand lives in nnmodel/commands/<name>.py with register() and run()."""
from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import NNModelError
from .fsutil import os_error_line

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
    # Start-up (importing the commands, numpy among them) is inside the handlers too: Ctrl-C at any
    # point after the console script called main() is one line.
    try:
        args = build_parser().parse_args(argv)
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
    except OSError as exc:  # a file-system failure no check foresaw (a full disk, a file removed meanwhile)
        print(f"nnmodel: error: {os_error_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
