"""Simulator builds and benchmarks: tools of a checkout, apart from the compiler.

avr_firmware.py builds the ATtiny85 firmware of src/attiny85 with avr-gcc and runs it in simavr;
rv32.py builds the runtime and a model for RV32IMC (the ESP32-C3's instruction set) and runs it in
QEMU; cortexm.py does the same for a Cortex-M4 in QEMU mps2-an386; bench.py is `nnmodel bench`.
They need the Debian toolchains (scripts/setup.sh test), and the firmware and the Cortex-M4 build
need this repository's src/ and platformio/ (startup code, memory map, instruction counter);
compiling, verifying and evaluating models need none of it.
"""
