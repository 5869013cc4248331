#!/usr/bin/env bash
# Run every test suite: pytest (Python side) and the PlatformIO C suites. Sets up what it needs.
# Ends with "N passed, N failed"; exits non-zero on any failure or on a suite that ran no test.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || exit 1
reports=$(mktemp -d)
status=0

echo "== pytest"
.venv/bin/python -m pytest -p no:cacheprovider --junitxml="$reports/pytest.xml" "$@" || status=1

.venv/bin/python scripts/summarize.py "$reports" || status=1
exit $status
