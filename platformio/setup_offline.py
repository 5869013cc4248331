#!/usr/bin/env python3
"""Prepare a PlatformIO core dir to build nnmodel without the PlatformIO registry.

    PLATFORMIO_CORE_DIR=/tmp/pio-core .venv/bin/python platformio/setup_offline.py

Installs platformio/tool-scons (a stand-in that runs the pip-installed SCons)
as PlatformIO's core package tool-scons. Idempotent. The in-repo platforms
need no step: platformio.ini names them with symlink:// URIs.

Safety, because a stand-in claims PlatformIO's package name and owner:
- only into the core dir named by --core-dir or PLATFORMIO_CORE_DIR, never
  the default ~/.platformio unless that path is given explicitly;
- only when the Python that runs PlatformIO (run this script with it) can
  import the SCons version the stand-in hands over to;
- never over a tool-scons that PlatformIO downloaded itself.
"""

import argparse
import filecmp
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "tool-scons")
MARK = "nnmodel offline stand-in"  # in our package.json description


def fail(msg):
    sys.stderr.write(f"setup_offline: {msg}\n")
    sys.exit(1)


def check_python():
    try:
        import SCons
        from platformio.dependencies import get_core_dependencies  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        fail("run me with the Python that runs PlatformIO, with scons installed "
             f"(pip install platformio==6.2.0 scons==4.11.1): {exc}")
    want = get_core_dependencies()["tool-scons"]  # e.g. "~4.41101.0"
    major, minor, patch = (int(p) for p in SCons.__version__.split(".")[:3])
    have = f"4.{major:d}{minor:02d}{patch:02d}.0"
    if want.lstrip("~^") != have:
        fail(f"this PlatformIO wants tool-scons {want} but pip SCons {SCons.__version__} maps to {have}; "
             "install the matching scons")
    return have


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--core-dir", default=os.environ.get("PLATFORMIO_CORE_DIR"),
                    help="PlatformIO core dir (default: $PLATFORMIO_CORE_DIR)")
    args = ap.parse_args()
    if not args.core_dir:
        fail("set PLATFORMIO_CORE_DIR or pass --core-dir; refusing to guess "
             "(the default ~/.platformio may belong to another PlatformIO, e.g. VS Code's)")
    version = check_python()

    dst = os.path.join(os.path.abspath(os.path.expanduser(args.core_dir)), "packages", "tool-scons")
    manifest = os.path.join(dst, "package.json")
    if os.path.isfile(manifest):
        with open(manifest, encoding="utf-8") as fp:
            if MARK not in json.load(fp).get("description", ""):
                print(f"setup_offline: {dst} is PlatformIO's own tool-scons; left alone")
                return
    os.makedirs(dst, exist_ok=True)
    changed = False
    for name in ("package.json", "scons.py"):
        if not (os.path.isfile(os.path.join(dst, name))
                and filecmp.cmp(os.path.join(SRC, name), os.path.join(dst, name), shallow=False)):
            shutil.copyfile(os.path.join(SRC, name), os.path.join(dst, name))
            changed = True
    # PlatformIO looks core packages up by owner "platformio"; a file:// install
    # records no owner and would make it fetch from the registry. This metadata
    # exists only in the installed copy, never in the repository.
    meta = {"type": "tool", "name": "tool-scons", "version": version,
            "spec": {"owner": "platformio", "id": None, "name": "tool-scons",
                     "requirements": None, "uri": None}}
    piopm = os.path.join(dst, ".piopm")
    old = None
    if os.path.isfile(piopm):
        with open(piopm, encoding="utf-8") as fp:
            old = json.load(fp)
    if old != meta:
        with open(piopm, "w", encoding="utf-8") as fp:
            json.dump(meta, fp)
        changed = True
    print("setup_offline: tool-scons stand-in {} in {}".format("installed" if changed else "already up to date", dst))


if __name__ == "__main__":
    main()
