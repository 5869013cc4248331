"""nnmodel demo [--model M] [--port P]: draw a digit in a browser; the model's generated C classifies it."""
from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import load
from ..errors import NNModelError
from ..paths import repo_root

DEFAULT_MODEL = "mnist_mlp_esp32c3.nnm"
DEFAULT_PORT = 8028
DEFAULT_DEADLINE = 10.0  # = nnmodel.demo.Limits' defaults (not imported here: http.server is loaded by run() only)
DEFAULT_CONNECTIONS = 64


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0..65535; 0 picks a free one)")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 3600:  # (nan fails this too)
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (more than 0, at most 3600)")
    return value


def _connections(text: str) -> int:
    if not text.isdecimal() or not 1 <= int(text) <= 4096:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of connections (1..4096)")
    return int(text)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="serve the draw-a-digit page on 127.0.0.1, classified by the model's C")
    p.add_argument("--model", help=f"model file (default: models/{DEFAULT_MODEL} of this checkout)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT,
                   help="TCP port on 127.0.0.1; 0 picks a free one (default: %(default)s)")
    p.add_argument("--deadline", type=_seconds, default=DEFAULT_DEADLINE, metavar="SECONDS",
                   help="time for a whole request, from connecting to the last body byte; a slower one "
                        "gets 408 (default: %(default)g)")
    p.add_argument("--max-connections", type=_connections, default=DEFAULT_CONNECTIONS, metavar="N",
                   help="connections served at once; more wait their turn (default: %(default)s)")
    p.set_defaults(run=run)


def _default_model() -> Path:
    root = repo_root()
    if root is None or not (root / "models" / DEFAULT_MODEL).is_file():
        raise NNModelError(f"no default model (models/{DEFAULT_MODEL} of a checkout): pass --model FILE")
    return root / "models" / DEFAULT_MODEL


@contextmanager
def _sigterm_stops() -> Iterator[None]:
    """`kill PID` stops the server like Ctrl-C does: temp files removed, exit status 0."""
    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        yield
        return
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args: argparse.Namespace) -> int:
    from ..demo import Limits, NativeSite, build_library, open_server

    path = Path(args.model) if args.model else _default_model()
    model = load(path)

    def log(line: str) -> None:
        print(f"nnmodel demo: {line}", file=sys.stderr, flush=True)

    limits = Limits(deadline=args.deadline, connections=args.max_connections)
    server = open_server(args.port, log, limits)  # now: a busy port fails before the compiler runs
    workdir = Path(tempfile.mkdtemp(prefix="nnmodel-demo-"))
    try:
        with _sigterm_stops():
            server.site = NativeSite(build_library(model, workdir, source=str(path)))
            print(f"nnmodel demo: {model.name} from {path}, compiled for this host "
                  "(generated C + lib/nnrt + lib/nnweb)")
            print(f"nnmodel demo: open {server.url} in a browser; Ctrl-C stops", flush=True)
            server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("nnmodel demo: stopped", flush=True)
    finally:
        server.server_close()
        shutil.rmtree(workdir, ignore_errors=True)  # (Windows keeps a loaded DLL: left for the OS)
    return 0
