#!/usr/bin/env bash
# Run every test suite: ruff and mypy, pytest (Python side) and the PlatformIO C suites. Sets up what it needs.
# Ends with "N passed, N failed"; exits non-zero on any failure or on a suite that ran no test.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test || exit 1
reports=$(mktemp -d)
status=0

# Static checks, configured in pyproject.toml; each counts as one test in the summary.
check() {
  local name=$1; shift
  echo "== $name"
  if "$@"; then echo "1 0" > "$reports/$name.check"; else echo "0 1" > "$reports/$name.check"; status=1; fi
}
check ruff .venv/bin/ruff check nnmodel tests scripts extra_scripts platformio test lib
check mypy .venv/bin/mypy

echo "== pytest"
.venv/bin/python -m pytest -p no:cacheprovider --junitxml="$reports/pytest.xml" "$@" || status=1

# PlatformIO: a project-local core dir with our offline stand-ins (platformio/README.md).
export PLATFORMIO_CORE_DIR="${PLATFORMIO_CORE_DIR:-$PWD/.pio-core}"
export PLATFORMIO_SETTING_ENABLE_TELEMETRY=No PLATFORMIO_DISABLE_UPGRADE_CHECK=true
for env in native native_san native_onnx attiny85_sim attiny85_rnn_sim attiny85_gru_sim rv32imc_sim cortexm4_sim; do
  echo "== pio test -e $env"
  .venv/bin/pio test -e "$env" --json-output-path "$reports/pio-$env.json" || status=1
done

.venv/bin/python scripts/summarize.py "$reports" || status=1
exit $status
