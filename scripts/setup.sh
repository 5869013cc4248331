#!/usr/bin/env bash
# Prepare this checkout: Debian packages (when we may install them) and a venv with pinned packages.
# Usage: scripts/setup.sh [demo|test]   demo: host compiler only; test (default): also the AVR, RV32
# and Cortex-M toolchains and simulators (about 2.5 GB). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="gcc python3-venv"
if [ "${1:-test}" = test ]; then
  APT_PACKAGES="$APT_PACKAGES gcc-avr avr-libc binutils-avr simavr libsimavr-dev gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc"
  # the attiny85 envs' upload commands on an emulated chip (tests/test_upload.py)
  APT_PACKAGES="$APT_PACKAGES avrdude"
  # Cortex-M4 in QEMU mps2-an386 (env cortexm4_sim, nnmodel.sim.cortexm) and the Cortex-M0+/M4 compile checks
  APT_PACKAGES="$APT_PACKAGES gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
  # the draw-a-digit browser test (tests/test_demo_browser.py): headless Chromium, its driver, a font
  APT_PACKAGES="$APT_PACKAGES chromium chromium-driver fonts-liberation"
  # the ESP8266 (Xtensa LX106) compile check of tests/test_targets.py
  APT_PACKAGES="$APT_PACKAGES gcc-xtensa-lx106"
fi
# The pinned Python packages are pyproject.toml's extras: pio (the main job), test (everything else).
EXTRA=pio
[ "${1:-test}" = test ] && EXTRA=test

missing=""
for pkg in $APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo"; else SUDO="none"; fi
  if [ "$SUDO" = none ]; then
    echo "[setup] missing Debian packages; run:  sudo apt-get update && sudo apt-get install -y$missing"
  else
    echo "[setup] installing Debian packages:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  python3 -m venv .venv
fi
installed=$(cat .venv/.nnmodel-installed 2>/dev/null || true)  # the extra installed last: pio or test
if [ pyproject.toml -nt .venv/.nnmodel-installed ] || { [ "$EXTRA" = test ] && [ "$installed" != test ]; } \
   || ! .venv/bin/python -c "import nnmodel, numpy, platformio" 2>/dev/null; then
  echo "[setup] installing nnmodel and its pinned [$EXTRA] tools into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -e ".[$EXTRA]"
  echo "$EXTRA" > .venv/.nnmodel-installed
fi

# PlatformIO: a project-local core dir holding our offline stand-ins (platformio/README.md).
PLATFORMIO_CORE_DIR="${PLATFORMIO_CORE_DIR:-$PWD/.pio-core}" .venv/bin/python platformio/setup_offline.py >/dev/null
