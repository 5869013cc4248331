"""nnmodel hook-path: where the PlatformIO hook of this nnmodel is, for `extra_scripts = pre:PATH`."""
from __future__ import annotations

import argparse

from ..paths import hook_script


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hook-path", help="print the path of the PlatformIO hook, for extra_scripts = pre:PATH",
                       description="Print the path of the PlatformIO hook of this nnmodel installation. Projects "
                                   "that depend on the nnmodel library (lib_deps = nnmodel=...) need none of this; "
                                   "with nnmodel installed by pip instead, use it in platformio.ini as "
                                   "extra_scripts = pre:PATH.")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    print(hook_script())
    return 0
