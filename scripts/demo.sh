#!/usr/bin/env bash
# The main job: build the host firmware with the model regenerated from models/ by the pre-build,
# and classify the bundled sample digits. No dataset download.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh demo
export PLATFORMIO_CORE_DIR="${PLATFORMIO_CORE_DIR:-$PWD/.pio-core}"
export PLATFORMIO_SETTING_ENABLE_TELEMETRY=No PLATFORMIO_DISABLE_UPGRADE_CHECK=true
exec .venv/bin/pio run -e native -t exec
