#!/usr/bin/env python3
"""Prove that a refactor of nnmodel changed no generated output.

What it proves: for the same model files, `nnmodel.codegen.compile_model` of the working tree writes
the same files as it did at a base commit (default 62e89e7), on every (target, storage) pair the base
offers, refusals (NNModelError messages) included. Each file pair is either byte-identical or
identical once the refactor's expected, behaviour-free changes are taken out of the new text:

  a. lines holding NNRT_API_VERSION (the runtime-version guard; a whole `#if ... NNRT_API_VERSION ...`
     block goes when its body is only #error/#warning/#else/#elif lines);
  b. whole-line C comments that occur nowhere verbatim in the old file (per-layer marker comments);
     blank lines beside a line dropped by a or b go too, down to as many as the old file has between
     the same two neighbouring lines (never after a line ending in a backslash);
  c. kernel parameter structs: on a line holding `_params_t){` (a statement spread over lines is
     joined first), the compound-literal heads `&(const nnrt_<word>_params_t){` (and nested
     `(nnrt_<word>_t){`), the designators `.<field> = ` and then every `{`, `}` (with a trailing comma
     before `}`) are deleted: the line must then read as the old positional call. Designators must
     follow the order of the struct's fields as declared in the new tree's lib/**/*.h, so a literal
     that names its fields in another order (same text, other meaning) is never taken as identical.
     A parameter struct bound to a name first (`const nnrt_<word>_params_t NAME = {...};` on one
     line) is dropped and its literal stands for every later `&NAME` of the file;
  d. runtime headers: the run of `#include "nnrt/..."` lines (one header per operator) stands for
     the old file's `#include "nnrt_kernels.h"` / `"nnrt_conv.h"` lines.

.bin and .eep images must be byte-identical, and so must ERROR files (the refusal messages).

The models: the base's shipped models/*.nnm, N random models of each family of the base's
tests/randmodels.py (dense/RNN int8 and int4, conv, conv in the shipped CNN's shape; seeds 0..N-1),
and the fixed small_cnn/small_rnn/small_mlp variants of tests/, all written by the base's code.

Run (from the checkout; exit code 0 only when nothing is different or missing):

    .venv/bin/python scripts/compare_generated.py                   # base 62e89e7, 40 per family
    .venv/bin/python scripts/compare_generated.py --base HEAD --random 10 --keep /tmp/cmp
    .venv/bin/python scripts/compare_generated.py --self-test       # the normalisation on fixed strings

The base tree comes from `git archive BASE | tar -x`; each side's compile loop runs in one subprocess
with PYTHONPATH set to that side's tree only (this file stays stdlib-only; the workers need numpy).
"""
from __future__ import annotations

import argparse
import contextlib
import difflib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BASE = "62e89e7"
DEFAULT_RANDOM = 40
MAX_REPORTED = 10
MAX_DIFF_LINES = 20
TEXT_SUFFIXES = (".c", ".h")  # the only files normalised; everything else must match byte for byte

# (file-name prefix, helper of the base's tests/, keyword arguments): N models each, seeds 0..N-1
RANDOM_FAMILIES: list[tuple[str, str, dict[str, Any]]] = [
    ("d", "random_model", {}),
    ("i", "random_model", {"int4": True}),
    ("c", "random_conv_model", {}),
    ("t", "random_conv_model", {"target": True}),
]
# (file stem = model name, helper of the base's tests/, keyword arguments)
FIXED_MODELS: list[tuple[str, str, dict[str, Any]]] = [
    ("small_cnn", "small_cnn", {}),
    ("small_cnn_pc", "small_cnn", {"per_channel": True}),
    ("small_cnn_nopin", "small_cnn", {"pin_extremes": False}),
    ("small_cnn_int8", "small_cnn", {"bits": 8}),
    ("small_cnn_int8_pc", "small_cnn", {"bits": 8, "per_channel": True}),
    ("small_rnn", "small_rnn", {}),
    ("small_rnn_nolut", "small_rnn", {"lut": False}),
    ("small_mlp", "small_mlp", {}),
    ("small_mlp_h8", "small_mlp", {"hidden": 8}),
    ("small_mlp_s3", "small_mlp", {"seed": 3}),
]


# ----------------------------------------------------------------------------------- normalisation
GUARD_TOKEN = "NNRT_API_VERSION"
WHOLE_LINE_COMMENT = re.compile(r"^\s*/\*(?:(?!\*/).)*\*/\s*$")  # one comment, no code between two
PP_IF = re.compile(r"^\s*#\s*if")  # #if, #ifdef, #ifndef
PP_ENDIF = re.compile(r"^\s*#\s*endif\b")
PP_GUARD_BODY = re.compile(r"^\s*#\s*(?:error|warning|else|elif)\b")
PARAMS_LINE = re.compile(r"_params_t\)\s*\{")
PARAMS_BINDING = re.compile(r"^\s*const\s+(nnrt_\w+_params_t)\s+(\w+)\s*=\s*(\{.*\});\s*$")
NEW_RUNTIME_INCLUDE = re.compile(r'^#include "nnrt/[\w/]+\.h"$')
OLD_RUNTIME_INCLUDE = re.compile(r'^#include "nnrt_(?:kernels|conv)\.h"$')
LITERAL_HEAD = re.compile(r"&?\((?:const\s+)?(nnrt_\w+_t)\)\s*\{")  # &(const nnrt_x_params_t){ and nested ones
DESIGNATOR = re.compile(r"\.(\w+)\s*=(?!=)\s*")
TRAILING_COMMA = re.compile(r",\s*(?=\})")
BRACE = re.compile(r"\{\s*|\s*\}")
MAX_JOINED_LINES = 64


DROPPED = "\0dropped\0"  # stands where rules a/b took a line out, until the blank lines around it are settled


@dataclass
class NormStats:
    guard: int = 0  # lines dropped by rule a
    comment: int = 0  # lines dropped by rule b
    blank: int = 0  # blank lines dropped beside them (the old file has fewer there)
    params: int = 0  # lines rewritten by rule c (after joining)
    bindings: int = 0  # parameter structs bound to a name, substituted (rule c)
    includes: int = 0  # runtime include runs replaced (rule d)
    unchecked: int = 0  # literals whose struct declaration was not found (field order not checked)
    out_of_order: int = 0  # literals left alone: designators not in declaration order

    def add(self, other: NormStats) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _drop_guard(lines: list[str], stats: NormStats) -> list[str]:
    """Rule a: every line holding NNRT_API_VERSION, and a whole #if block of them when its body is
    only #error/#warning/#else/#elif (or blank, comment, token) lines."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if GUARD_TOKEN not in line:
            out.append(line)
            i += 1
            continue
        end = i
        if PP_IF.match(line):
            depth, j = 1, i + 1
            while j < len(lines) and depth:
                depth += 1 if PP_IF.match(lines[j]) else -1 if PP_ENDIF.match(lines[j]) else 0
                j += 1
            body = lines[i + 1:j - 1]
            if not depth and all(not b.strip() or PP_GUARD_BODY.match(b) or WHOLE_LINE_COMMENT.match(b)
                                 or GUARD_TOKEN in b for b in body):
                end = j - 1
        stats.guard += end - i + 1
        out.append(DROPPED)
        i = end + 1
    return out


def _drop_new_comments(lines: list[str], old_lines: set[str], stats: NormStats) -> list[str]:
    """Rule b: whole-line comments that the old file does not have verbatim."""
    out = []
    for line in lines:
        if line != DROPPED and WHOLE_LINE_COMMENT.match(line) and line not in old_lines:
            stats.comment += 1
            out.append(DROPPED)
        else:
            out.append(line)
    return out


def _settle_blanks(lines: list[str], old: list[str], stats: NormStats) -> list[str]:
    """Blank lines beside dropped ones: where the old file has the same two neighbouring lines with
    fewer blank lines between them, keep only those (never after a line ending in a backslash)."""
    after: dict[str, list[int]] = {}
    for k, line in enumerate(old):
        after.setdefault(line, []).append(k)
    out: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() and lines[i] != DROPPED:
            out.append(lines[i])
            i += 1
            continue
        j = i
        while j < len(lines) and (lines[j] == DROPPED or not lines[j].strip()):
            j += 1
        run = [x for x in lines[i:j] if x != DROPPED]
        if len(run) < j - i and out and j < len(lines) and not out[-1].endswith("\\"):
            gaps = []  # the blank lines between the same two lines in the old file, wherever they meet
            for k in after.get(out[-1], []):
                m = k + 1
                while m < len(old) and not old[m].strip():
                    m += 1
                if m < len(old) and old[m] == lines[j]:
                    gaps.append(old[k + 1:m])
            fewer = [g for g in gaps if len(g) < len(run)]
            if fewer and not any(len(g) == len(run) for g in gaps):
                best = max(fewer, key=len)
                stats.blank += len(run) - len(best)
                run = best
        out += run
        i = j
    return out


def _join_statement(lines: list[str], i: int) -> tuple[str, int]:
    """The line at i, joined with the following ones until its braces balance; returns (text, next i)."""
    text, j = lines[i], i + 1
    while text.count("{") > text.count("}") and j < len(lines) and j - i < MAX_JOINED_LINES:
        nxt = lines[j].strip()
        j += 1
        if lines[j - 1] == DROPPED:
            continue
        glue = "" if text.rstrip().endswith(("{", "(")) or nxt.startswith(("}", ")")) else " "
        text = text.rstrip() + glue + nxt
    return text, j


def _fields_in_order(text: str, struct_fields: dict[str, list[str]], stats: NormStats) -> bool:
    """Whether every parameter-struct literal on the line names its fields in declaration order."""
    for head in LITERAL_HEAD.finditer(text):
        fields = struct_fields.get(head.group(1))
        depth, names, k = 1, [], head.end()
        while k < len(text) and depth:
            ch = text[k]
            depth += 1 if ch == "{" else -1 if ch == "}" else 0
            m = DESIGNATOR.match(text, k) if depth == 1 and ch == "." else None
            if m:
                names.append(m.group(1))
            k += 1
        if not names:
            continue  # positional fields are in declaration order by definition
        if fields is None:
            stats.unchecked += 1
            continue
        idx = [fields.index(n) if n in fields else -1 for n in names]
        if -1 in idx or idx != sorted(set(idx)):
            stats.out_of_order += 1
            return False
    return True


def _flatten_params(lines: list[str], struct_fields: dict[str, list[str]], stats: NormStats) -> list[str]:
    """Rule c: parameter-struct literals back to the positional arguments they replaced."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not PARAMS_LINE.search(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        text, i = _join_statement(lines, i)
        if _fields_in_order(text, struct_fields, stats):
            text = LITERAL_HEAD.sub("", text)
            text = DESIGNATOR.sub("", text)
            text = BRACE.sub("", TRAILING_COMMA.sub("", text))
            stats.params += 1
        out.append(text)
    return out


def _substitute_bindings(lines: list[str], stats: NormStats) -> list[str]:
    """Rule c, named structs: drop `const T NAME = {...};` and write its literal for each later `&NAME`."""
    out: list[str] = []
    bound: dict[str, str] = {}
    for line in lines:
        m = PARAMS_BINDING.match(line) if line != DROPPED else None
        if m:
            bound[m.group(2)] = f"&(const {m.group(1)}){m.group(3)}"
            stats.bindings += 1
            out.append(DROPPED)
            continue
        for name, literal in bound.items():
            line = re.sub(rf"&{name}\b", literal.replace("\\", "\\\\"), line)
        out.append(line)
    return out


def _runtime_includes(lines: list[str], old_lines: list[str], stats: NormStats) -> list[str]:
    """Rule d: the first run of one-header-per-operator includes becomes the old file's runtime includes."""
    old_includes = [line for line in old_lines if OLD_RUNTIME_INCLUDE.match(line)]
    out: list[str] = []
    i = 0
    while i < len(lines):
        if NEW_RUNTIME_INCLUDE.match(lines[i]) and not stats.includes:
            while i < len(lines) and NEW_RUNTIME_INCLUDE.match(lines[i]):
                i += 1
            out += old_includes
            stats.includes += 1
            continue
        out.append(lines[i])
        i += 1
    return out


def normalise(new: str, old: str, struct_fields: dict[str, list[str]] | None = None) -> tuple[str, NormStats]:
    """The new text with rules a, b, c, d applied (in that order); compare the result with `old`."""
    stats = NormStats()
    old_lines = old.split("\n")
    lines = _drop_guard(new.split("\n"), stats)
    lines = _drop_new_comments(lines, set(old_lines), stats)
    lines = _substitute_bindings(lines, stats)
    lines = _flatten_params(lines, struct_fields or {}, stats)
    lines = _runtime_includes(lines, old_lines, stats)
    return "\n".join(_settle_blanks(lines, old_lines, stats)), stats


STRUCT_DECL = re.compile(r"typedef\s+struct\s*\w*\s*\{(?P<body>[^{}]*(?:\{[^{}]*\}[^{}]*)*)\}\s*(?P<name>\w+)\s*;"
                         r"|struct\s+(?P<tag>\w+)\s*\{(?P<body2>[^{}]*(?:\{[^{}]*\}[^{}]*)*)\}\s*;")
C_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)
DECLARATOR = re.compile(r"(\w+)\s*(?:\[[^\]]*\]\s*)*(?::\s*\d+\s*)?$")


def struct_fields_of(tree: Path) -> dict[str, list[str]]:
    """Field names, in order, of the structs declared in the tree's lib/**/*.h (typedef name and tag)."""
    found: dict[str, list[str]] = {}
    for header in sorted((tree / "lib").rglob("*.h")):
        text = C_COMMENT.sub(" ", header.read_text(errors="replace"))
        for m in STRUCT_DECL.finditer(text):
            body, name = (m["body"], m["name"]) if m["body"] is not None else (m["body2"], m["tag"])
            body = re.sub(r"\{[^{}]*\}", " ", body)  # an inline nested struct counts as one field
            names = []
            for decl in body.split(";"):
                for part in decl.split(",") if decl.strip() else ():
                    d = DECLARATOR.search(part.strip())
                    if d:
                        names.append(d.group(1))
            found.setdefault(name, names)
            found.setdefault(f"{name}_t", names)  # struct tag nnrt_x_params -> nnrt_x_params_t
    return found


# -------------------------------------------------------------------------------------- comparison
@dataclass
class Finding:
    path: str
    what: str
    detail: list[str]


@dataclass
class Comparison:
    files: int = 0
    byte_identical: int = 0
    normalised: int = 0
    refusals: int = 0
    crashes: int = 0
    different: list[Finding] = field(default_factory=list)
    missing: list[Finding] = field(default_factory=list)
    stats: NormStats = field(default_factory=NormStats)


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _udiff(old: str, new: str, old_name: str, new_name: str) -> list[str]:
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), old_name, new_name, n=1, lineterm=""))
    return lines[:MAX_DIFF_LINES] + ([f"... ({len(lines) - MAX_DIFF_LINES} more diff lines)"]
                                     if len(lines) > MAX_DIFF_LINES else [])


def _binary_detail(old: bytes, new: bytes) -> list[str]:
    first = next((k for k, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
    return [f"binary: {len(old)} bytes old, {len(new)} bytes new, first difference at byte {first}"]


def compare_trees(base_out: Path, new_out: Path, struct_fields: dict[str, list[str]]) -> Comparison:
    def files(root: Path) -> set[str]:
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} if root.is_dir() else set()

    old_files, new_files = files(base_out), files(new_out)
    result = Comparison(files=len(old_files | new_files))
    result.refusals = sum(1 for f in old_files if f.endswith("/ERROR"))
    result.crashes = sum(1 for f in old_files | new_files if f.endswith("/CRASH"))
    for rel in sorted(old_files | new_files):
        if rel not in new_files or rel not in old_files:
            side, root = ("base", base_out) if rel in old_files else ("new", new_out)
            text = None if rel.endswith(".bin") else _text((root / rel).read_bytes())
            body = text if text is not None else f"<binary, {(root / rel).stat().st_size} bytes>"
            detail = _udiff(body, "", f"base_out/{rel}", "(absent)") if side == "base" else \
                _udiff("", body, "(absent)", f"new_out/{rel}")
            result.missing.append(Finding(rel, f"only in {side}_out", detail))
            continue
        old, new = (base_out / rel).read_bytes(), (new_out / rel).read_bytes()
        if old == new:
            result.byte_identical += 1
            continue
        old_text, new_text = _text(old), _text(new)
        if old_text is None or new_text is None or rel.endswith((".bin", ".eep")):
            detail = _binary_detail(old, new) if old_text is None or new_text is None or rel.endswith(".bin") \
                else _udiff(old_text, new_text, f"base_out/{rel}", f"new_out/{rel}")
            result.different.append(Finding(rel, "different (compared byte for byte)", detail))
            continue
        if not rel.endswith(TEXT_SUFFIXES):  # ERROR, CRASH and anything unforeseen: exact text
            result.different.append(Finding(rel, "different (compared as exact text)",
                                            _udiff(old_text, new_text, f"base_out/{rel}", f"new_out/{rel}")))
            continue
        norm, stats = normalise(new_text, old_text, struct_fields)
        if norm == old_text:
            result.normalised += 1
            result.stats.add(stats)
        else:
            result.different.append(Finding(rel, "different after normalisation",
                                            _udiff(old_text, norm, f"base_out/{rel}", f"new_out/{rel} (normalised)")))
    return result


# ------------------------------------------------------------------------------ workers (subprocess)
def _check_imported_from(tree: Path) -> str:
    import nnmodel

    where = Path(nnmodel.__file__).resolve()
    if not where.is_relative_to(tree.resolve()):
        raise SystemExit(f"nnmodel was imported from {where}, not from the tree {tree}")
    return str(where.parent)


def worker_make(args: dict[str, Any]) -> dict[str, Any]:
    """With the base's code: write the model files and list the base's (target, storage) pairs."""
    import importlib
    import inspect
    import types

    import numpy as np

    tree, models, n = Path(args["tree"]), Path(args["models"]), int(args["random"])
    where = _check_imported_from(tree)
    from nnmodel import fileformat
    targets = importlib.import_module("nnmodel.targets")  # the base's: TARGETS up to 0.1, PROFILES since
    profiles = getattr(targets, "TARGETS", None) or targets.PROFILES

    try:
        import pytest  # noqa: F401  (tests/conftest.py imports it)
    except ImportError:  # a stand-in for conftest's decorators
        stub = types.ModuleType("pytest")

        def fixture(*a: Any, **k: Any) -> Any:
            return a[0] if a and callable(a[0]) and not k else (lambda f: f)

        stub.fixture = fixture  # type: ignore[attr-defined]
        sys.modules["pytest"] = stub
    helpers = []
    skipped: list[str] = []
    for name in ("randmodels", "conftest"):
        try:
            helpers.append(importlib.import_module(name))
        except Exception as e:
            skipped.append(f"tests/{name}.py not importable: {type(e).__name__}: {e}")

    def helper(name: str, kwargs: dict[str, Any]) -> Callable[..., Any] | None:
        for module in helpers:
            fn = getattr(module, name, None)
            if callable(fn) and all(k in inspect.signature(fn).parameters for k in kwargs):
                return fn
        return None

    made: list[dict[str, str]] = []

    def add(stem: str, family: str, build: Callable[[], Any]) -> None:
        path = models / f"{stem}.nnm"
        if path.exists():
            raise SystemExit(f"two models named {path.name}")
        try:
            fileformat.save(build(), path)
        except Exception as e:
            skipped.append(f"{stem}: {type(e).__name__}: {e}")
            return
        made.append({"file": path.name, "family": family})

    for src in sorted((tree / "models").glob("*.nnm")):
        shutil.copyfile(src, models / src.name)
        made.append({"file": src.name, "family": "shipped"})
    for prefix, name, kwargs in RANDOM_FAMILIES:
        family = f"{name}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"
        fn = helper(name, {"name": None, **kwargs})
        if fn is None:
            skipped.append(f"family {prefix}: {family} not in the base's tests/")
            continue
        for seed in range(n):
            add(f"{prefix}{seed}", family, functools.partial(
                lambda f, s, stem, kw: f(np.random.default_rng(s), name=stem, **kw),
                fn, seed, f"{prefix}{seed}", kwargs))
    for stem, name, kwargs in FIXED_MODELS:
        fn = helper(name, {"name": None, **kwargs})
        if fn is None:
            skipped.append(f"{stem}: {name}({kwargs}) not in the base's tests/")
            continue
        add(stem, "fixed", functools.partial(fn, name=stem, **kwargs))
    pairs = [[t, s] for t, profile in profiles.items() for s in profile.storages]
    return {"nnmodel": where, "models": made, "skipped": skipped, "pairs": pairs}


def worker_compile(args: dict[str, Any]) -> dict[str, Any]:
    """One side's compile loop: every model file x every pair, refusals written to ERROR."""
    import traceback

    tree, models, out = Path(args["tree"]), Path(args["models"]), Path(args["out"])
    where = _check_imported_from(tree)
    from nnmodel import fileformat
    from nnmodel.codegen import compile_model
    from nnmodel.errors import NNModelError

    counts = {"compiled": 0, "refused": 0, "crashed": 0}
    for path in sorted(models.glob("*.nnm")):
        for target, storage in args["pairs"]:
            out_dir = out / path.stem / f"{target}-{storage}"
            try:  # a fresh load per pair: no compile sees what an earlier one may have changed
                compile_model(fileformat.load(path), target=target, storage=storage, out_dir=out_dir,
                              source=path.name)
                counts["compiled"] += 1
            except NNModelError as e:
                out_dir.mkdir(parents=True, exist_ok=True)
                (out_dir / "ERROR").write_text(f"{e}\n")
                counts["refused"] += 1
            except Exception as e:
                out_dir.mkdir(parents=True, exist_ok=True)
                (out_dir / "CRASH").write_text(f"{type(e).__name__}: {e}\n")
                counts["crashed"] += 1
                if counts["crashed"] <= 3:
                    print(f"{path.name} {target}/{storage}:", file=sys.stderr)
                    traceback.print_exc()
    return {"nnmodel": where, **counts}


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"make": worker_make, "compile": worker_compile}


# ------------------------------------------------------------------------------------ orchestration
def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True).stdout.strip()


def extract(commit: str, dest: Path) -> None:
    """git archive COMMIT | tar -x -C dest"""
    dest.mkdir(parents=True)
    archive = subprocess.Popen(["git", "-C", str(REPO), "archive", commit], stdout=subprocess.PIPE)
    tar = subprocess.Popen(["tar", "-x", "-C", str(dest)], stdin=archive.stdout, stderr=subprocess.PIPE)
    assert archive.stdout is not None
    archive.stdout.close()  # tar holds the only read end: git sees it close if tar stops early
    _, err = tar.communicate()
    if archive.wait() or tar.returncode:
        raise SystemExit(f"git archive {commit} | tar -x failed: {err.decode(errors='replace')}")


class Side:
    """A worker subprocess on one tree: PYTHONPATH is that tree (and, for the base, its tests/)."""

    def __init__(self, label: str, tree: Path, mode: str, args: dict[str, Any], tmp: Path, tests: bool = False):
        self.label, self.result_path = label, tmp / f"{label}-{mode}.json"
        self.log_path = tmp / f"{label}-{mode}.log"
        paths = [str(tree)] + ([str(tree / "tests")] if tests else [])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths), PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0")
        payload = json.dumps({**args, "tree": str(tree), "result": str(self.result_path)})
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", mode, payload]
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def result(self) -> dict[str, Any]:
        code = self.proc.wait()
        self.log.close()
        log = self.log_path.read_text(errors="replace")
        if code or not self.result_path.is_file():
            tail = "\n".join(log.splitlines()[-30:])
            raise SystemExit(f"the {self.label} side failed (exit {code}); its output:\n{tail}")
        if log.strip():
            print(f"{self.label} side said:\n" + "\n".join("  " + x for x in log.splitlines()[-15:]))
        return json.loads(self.result_path.read_text())


@contextlib.contextmanager
def workspace(keep: str | None) -> Iterator[Path]:
    if keep is None:
        with tempfile.TemporaryDirectory(prefix="compare_generated.") as tmp:
            yield Path(tmp)
        return
    path = Path(keep).resolve()
    if path.exists() and any(path.iterdir()):
        raise SystemExit(f"--keep {path}: exists and is not empty; give a new or empty folder")
    path.mkdir(parents=True, exist_ok=True)
    yield path


def report(cmp: Comparison, n_models: int, n_pairs: int) -> bool:
    ok = not cmp.different and not cmp.missing
    print(f"compared {cmp.files} files ({n_models} models x {n_pairs} target/storage = {n_models * n_pairs} "
          f"compiles, {cmp.refusals} refusals): {cmp.byte_identical} byte-identical, {cmp.normalised} identical "
          f"apart from guard/comment/param-struct/runtime-include lines, {len(cmp.different)} different, "
          f"{len(cmp.missing)} missing")
    s = cmp.stats
    print(f"  byte-identical: {cmp.byte_identical}")
    print(f"  identical after normalisation: {cmp.normalised} (dropped {s.guard} guard, {s.comment} comment and "
          f"{s.blank} blank lines, rewrote {s.params} param-struct lines after substituting {s.bindings} named "
          f"structs, replaced {s.includes} runtime include runs)")
    print(f"  different: {len(cmp.different)}")
    print(f"  missing (on one side only): {len(cmp.missing)}")
    if s.unchecked:
        print(f"  note: {s.unchecked} designated literals of structs not found in lib/**/*.h: field order unchecked")
    if cmp.crashes:
        print(f"  warning: {cmp.crashes} CRASH files (an exception other than NNModelError)")
    findings = cmp.different + cmp.missing
    for f in findings[:MAX_REPORTED]:
        print(f"\n{f.path}: {f.what}")
        for line in f.detail:
            print(f"    {line}")
    if len(findings) > MAX_REPORTED:
        print(f"\n... and {len(findings) - MAX_REPORTED} more different/missing files")
    return ok


def run(base: str, n_random: int, keep: str | None, new_tree: str | None) -> int:
    start = time.monotonic()
    commit = git("rev-parse", "--verify", f"{base}^{{commit}}")
    new_root = Path(new_tree).resolve() if new_tree else REPO
    if not (new_root / "nnmodel" / "__init__.py").is_file():
        raise SystemExit(f"{new_root}: no nnmodel package there")
    with workspace(keep) as tmp:
        base_tree, models = tmp / "base", tmp / "models"
        extract(commit, base_tree)
        models.mkdir()
        made = Side("base", base_tree, "make", {"models": str(models), "random": n_random}, tmp, tests=True).result()
        for line in made["skipped"]:
            print(f"warning: not built: {line}")
        pairs = made["pairs"]
        common = {"models": str(models), "pairs": pairs}
        sides = [Side("base", base_tree, "compile", {**common, "out": str(tmp / "base_out")}, tmp, tests=True),
                 Side("new", new_root, "compile", {**common, "out": str(tmp / "new_out")}, tmp)]
        for side in sides:  # both finish before either's failure ends the run (and removes their folder)
            side.proc.wait()
        old_counts, new_counts = (side.result() for side in sides)
        families: dict[str, int] = {}
        for m in made["models"]:
            families[m["family"]] = families.get(m["family"], 0) + 1
        print(f"base {commit[:12]} ({made['nnmodel']}) vs new {new_counts['nnmodel']}")
        print("models: " + ", ".join(f"{k} {v}" for k, v in families.items()))
        print("pairs: " + " ".join(f"{t}/{s}" for t, s in pairs))
        print(f"base compiled {old_counts['compiled']}, refused {old_counts['refused']}, crashed "
              f"{old_counts['crashed']}; new compiled {new_counts['compiled']}, refused {new_counts['refused']}, "
              f"crashed {new_counts['crashed']}")
        cmp = compare_trees(tmp / "base_out", tmp / "new_out", struct_fields_of(new_root))
        ok = report(cmp, len(made["models"]), len(pairs))
        if keep:
            print(f"kept {tmp}")
    print(f"{'OK' if ok else 'FAILED'} in {time.monotonic() - start:.1f} s")
    return 0 if ok else 1


# --------------------------------------------------------------------------------------- self-test
def self_test() -> int:
    """Rules a-c on fixed strings, and the changes they must not hide."""
    fields = {"nnrt_conv_out_params_t": ["buf", "x", "rq", "lo", "hi"], "nnrt_requant_t": ["mult", "shift"]}
    old_lines = [
        '#include "nnrt_kernels.h"',
        "",
        "/* kept: the old file has it */",
        "static void run(void)",
        "{",
        "    nnrt_conv_out(run1, 0u, W(1u), W(2u), -128, 127, (int8_t *)out);",
        "    nnrt_bias_s16(acc, W(477u), 10u, 1u, 2u);",
        "}",
        "",
    ]
    old = "\n".join(old_lines)
    guard = ["#if !defined(NNRT_API_VERSION) || NNRT_API_VERSION != 2",
             '#error "lib/nnrt is not the runtime this code was generated for"', "#endif", ""]
    new_lines = ['#include "nnrt_kernels.h"', "", *guard, "/* kept: the old file has it */",
                 "static void run(void)", "{", "    /* layer 0: conv 3x3 1->6 relu */",
                 ("    nnrt_conv_out(&(const nnrt_conv_out_params_t){.buf = run1, .x = 0u, "
                  ".rq = {.mult = W(1u), .shift = W(2u)}, .lo = -128, .hi = 127}, (int8_t *)out);"),
                 "    nnrt_bias_s16(acc, W(477u), 10u, 1u, 2u);", "}", ""]
    multi = new_lines[:10] + ["    nnrt_conv_out(&(const nnrt_conv_out_params_t){",
                             "        .buf = run1, .x = 0u,",
                             "        .rq = (nnrt_requant_t){W(1u), W(2u)},",
                             "        .lo = -128, .hi = 127,", "    }, (int8_t *)out);"] + new_lines[11:]
    macro_old = "#define M(x) \\\n    (x)\n"
    cases: list[tuple[str, str, bool, str]] = [  # (what, new text, identical expected, old text)
        ("a+b+c on one line", "\n".join(new_lines), True, old),
        ("c spread over lines, nested cast literal, trailing comma", "\n".join(multi), True, old),
        ("a: token line alone", old.replace('"\n\n', '"\n#define NNRT_API_VERSION_SEEN 1\n\n', 1), True, old),
        ("a: guard with a blank line each side, between lines the old file has adjacent",
         "\n".join(old_lines[:3] + ["", *guard] + old_lines[3:]), True, old),
        ("b: a comment the old file has, once more",
         old.replace("{\n", "{\n/* kept: the old file has it */\n"), False, old),
        ("c: another argument value", "\n".join(new_lines).replace(".lo = -128", ".lo = -127"), False, old),
        ("c: an argument missing", "\n".join(new_lines).replace(".x = 0u, ", ""), False, old),
        ("c: designators out of declaration order", "\n".join(new_lines).replace(
            ".buf = run1, .x = 0u", ".x = run1, .buf = 0u"), False, old),
        ("c: nested literal's fields swapped", "\n".join(new_lines).replace(
            ".mult = W(1u), .shift = W(2u)", ".shift = W(2u), .mult = W(1u)"), False, old),
        ("not a params line: braces stay",
         old.replace("    nnrt_bias", "    {nnrt_bias").replace("2u);", "2u);}"), False, old),
        ("guard block with code inside is not dropped whole",
         "\n".join(new_lines).replace("#error", "int x; //"), False, old),
        ("blank line added away from any dropped line", old.replace("{\n", "{\n\n", 1), False, old),
        ("blank line after a backslash line stays", "#define M(x) \\\n\n/* new */\n    (x)\n", False, macro_old),
        ("the same without the blank line", "#define M(x) \\\n/* new */\n    (x)\n", True, macro_old),
        ("c: a struct bound to a name, used by address", "\n".join(new_lines).replace(
            "    nnrt_conv_out(&(const nnrt_conv_out_params_t){.buf = run1, .x = 0u, "
            ".rq = {.mult = W(1u), .shift = W(2u)}, .lo = -128, .hi = 127}, (int8_t *)out);",
            "    const nnrt_conv_out_params_t o = {.buf = run1, .x = 0u, .rq = {.mult = W(1u), .shift = W(2u)}, "
            ".lo = -128, .hi = 127};\n    nnrt_conv_out(&o, (int8_t *)out);"), True, old),
        ("c: a bound struct with another value", "\n".join(new_lines).replace(
            "    nnrt_conv_out(&(const nnrt_conv_out_params_t){.buf = run1, .x = 0u, "
            ".rq = {.mult = W(1u), .shift = W(2u)}, .lo = -128, .hi = 127}, (int8_t *)out);",
            "    const nnrt_conv_out_params_t o = {.buf = run1, .x = 0u, .rq = {.mult = W(1u), .shift = W(2u)}, "
            ".lo = -127, .hi = 127};\n    nnrt_conv_out(&o, (int8_t *)out);"), False, old),
        ("d: one header per operator for the old umbrella header", "\n".join(new_lines).replace(
            '#include "nnrt_kernels.h"', '#include "nnrt/storage.h"\n#include "nnrt/ops/dense.h"'), True, old),
        ("d: a runtime include elsewhere is not a replacement", "\n".join(new_lines).replace(
            '#include "nnrt_kernels.h"', '#include "nnrt/storage.h"') + '\n#include "nnrt/ops/dense.h"', False, old),
    ]
    failed = 0
    for name, new, expect, old_text in cases:
        norm, stats = normalise(new, old_text, fields)
        if (norm == old_text) != expect:
            failed += 1
            print(f"FAIL {name}: expected {'identical' if expect else 'different'}")
            print("\n".join(_udiff(old_text, norm, "old", "normalised new")))
        else:
            print(f"ok   {name} ({'identical' if expect else 'different'}; {stats})")
    struct_fields = struct_fields_of(REPO)
    print(f"{len(struct_fields)} struct names found in {REPO}/lib/**/*.h")
    print("self-test " + ("passed" if not failed else f"FAILED: {failed} case(s)"))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default=DEFAULT_BASE, help=f"base commit (default {DEFAULT_BASE})")
    parser.add_argument("--random", type=int, default=DEFAULT_RANDOM, metavar="N",
                        help=f"random models per family, seeds 0..N-1 (default {DEFAULT_RANDOM})")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR (new or empty) and keep it")
    parser.add_argument("--self-test", action="store_true", help="check the normalisation rules on fixed strings")
    parser.add_argument("--new-tree", metavar="DIR", help=argparse.SUPPRESS)  # new side from DIR, not this checkout
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("payload", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        payload = json.loads(args.payload)
        result = WORKERS[args.worker](payload)
        Path(payload["result"]).write_text(json.dumps(result))
        return 0
    if args.self_test:
        return self_test()
    if args.random < 0:
        parser.error("--random must be >= 0")
    return run(args.base, args.random, args.keep, args.new_tree)


if __name__ == "__main__":
    sys.exit(main())
