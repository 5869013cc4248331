"""Add up the suites' reports (pytest JUnit XML, PlatformIO JSON, static checks) into one `N passed, N failed` line.

A suite that ran zero tests counts as a failure: PlatformIO reports a silent test program as
SKIPPED with exit code 0, and an empty pytest run must not pass either.
"""
from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def pytest_counts(path: Path) -> tuple[int, int, int]:
    root = ET.parse(path).getroot()
    suite = root.find("testsuite") if root.tag == "testsuites" else root
    if suite is None:
        raise ValueError(f"{path}: no testsuite element")
    total, skipped = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
    failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    return total - failed - skipped, failed, skipped


def pio_counts(path: Path) -> list[tuple[str, int, int, int]]:
    """One row per suite that ran in a `pio test --json-output-path` report.

    Suites left out by -e, test_filter or test_ignore have no timestamp and are not rows.
    """
    rows = []
    for suite in json.loads(path.read_text()).get("test_suites", []):
        if not suite.get("timestamp"):
            continue
        cases = suite.get("test_cases", [])
        passed = sum(c.get("status") == "PASSED" for c in cases)
        failed = sum(c.get("status") in ("FAILED", "ERRORED") for c in cases)
        if suite.get("status") in ("FAILED", "ERRORED") and not failed:
            failed = 1  # the program crashed, hung or did not build
        rows.append((f"{suite.get('env_name')}:{suite.get('test_name')}", passed, failed,
                     sum(c.get("status") == "SKIPPED" for c in cases)))
    return rows


def main(folder: str) -> int:
    rows: list[tuple[str, int, int, int]] = []
    for path in sorted(Path(folder).glob("*.xml")):
        rows.append((path.stem, *pytest_counts(path)))
    for path in sorted(Path(folder).glob("*.json")):
        rows.extend(pio_counts(path))
    for path in sorted(Path(folder).glob("*.check")):  # a static check (ruff, mypy): "1 0" passed, "0 1" failed
        p, f = map(int, path.read_text().split())
        rows.append((path.stem, p, f, 0))
    empty = [name for name, p, f, _ in rows if p + f == 0]
    for name, p, f, s in rows:
        print(f"  {name}: {p} passed, {f} failed" + (f", {s} skipped" if s else "")
              + ("  <- ran no test" if name in empty else ""))
    passed = sum(r[1] for r in rows)
    failed = sum(r[2] for r in rows) + len(empty)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and rows else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
