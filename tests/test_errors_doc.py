"""docs/errors.md cannot fall behind: every user-facing error message raised in nnmodel/ is catalogued.

Scans the source for NNModelError(...), the loader's r.fail(field, what), device ProtocolError(...)
and the ValueErrors whose text reaches users (the overflow proof, the JSON hooks), and checks that
the longest fixed fragment of each message appears in the catalogue.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CALLS = {"NNModelError", "fail", "ProtocolError"}
# ValueErrors users read: wrapped by check_model()/export, or inside "header: invalid JSON (...)"
VALUE_ERROR_FILES = {"nnmodel/quant.py", "nnmodel/proof.py", "nnmodel/fileformat.py"}
MIN_FRAGMENT = 8  # shorter fixed text (": ", ".kind") says nothing on its own


def _fragments(node: ast.AST) -> list[str]:
    """The fixed text pieces of a message expression (f-string parts, concatenations)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.Constant)]
    if isinstance(node, ast.BinOp):
        return _fragments(node.left) + _fragments(node.right)
    return []


def _norm(text: str) -> str:
    return " ".join(text.split())


def messages() -> list[tuple[str, str]]:
    """(file:line, the message's most distinctive fixed fragment) for every raise site."""
    out = []
    for path in sorted((REPO / "nnmodel").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            if name not in CALLS and not (name == "ValueError" and rel in VALUE_ERROR_FILES):
                continue
            pieces = [_norm(p).strip(" :;,") for a in node.args[:2] for p in _fragments(a)]
            best = max(pieces, key=len, default="")
            if len(best) >= MIN_FRAGMENT:
                out.append((f"{rel}:{node.lineno}", best))
    return out


def test_every_error_message_is_in_the_catalogue() -> None:
    doc = _norm((REPO / "docs" / "errors.md").read_text())
    found = messages()
    assert len(found) > 150, "the scan should see the whole package"
    missing = [f"{where}: {fragment!r}" for where, fragment in found if fragment not in doc]
    assert not missing, "docs/errors.md lacks:\n" + "\n".join(missing)


def test_runtime_statuses_and_protocol_codes_are_in_the_catalogue() -> None:
    doc = (REPO / "docs" / "errors.md").read_text()
    header = (REPO / "lib" / "nnrt" / "include" / "nnrt.h").read_text()
    statuses = re.findall(r"\b(NNRT_ERR_[A-Z]+)\b", header)
    assert statuses and all(s in doc for s in statuses), statuses
    codes = re.findall(r"^\| `([a-z_]+)` \|", (REPO / "docs" / "serial-protocol.md").read_text(), re.M)
    assert codes and all(f"`{c}`" in doc for c in codes), codes
    for line in ("nnmodel: error: ", "[nnmodel] error: ", "nnmodel: interrupted"):
        assert line in doc
