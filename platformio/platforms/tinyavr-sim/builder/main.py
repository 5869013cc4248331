"""tinyavr-sim: ATtiny firmware with the system avr-gcc, run in simavr.

Outputs firmware.elf/.hex/.eep plus `simavr_run` (platformio/sim/simavr_run.c
built with the host gcc and -lsimavr). `exec` runs the firmware in it with
the env's test_testing_command when set (one source of truth), else a default.
"""

import os
import sys

from SCons.Script import Builder, Default, DefaultEnvironment

env = DefaultEnvironment()
platform_dir = env.PioPlatform().get_dir()
# Used in place from the repo (symlink:// in platformio.ini), so ../../sim exists.
harness_src = os.path.realpath(os.path.join(platform_dir, "..", "..", "sim", "simavr_run.c"))
if not os.path.isfile(harness_src):
    sys.stderr.write(f"tinyavr-sim: {harness_src} missing; use platform = symlink://...\n")
    env.Exit(1)
f_cpu = env.subst("$BOARD_F_CPU").rstrip("L")

env.Replace(
    AR="avr-gcc-ar", AS="avr-gcc", CC="avr-gcc", CXX="avr-g++", GDB="avr-gdb",
    OBJCOPY="avr-objcopy", RANLIB="avr-gcc-ranlib", SIZETOOL="avr-size",
    ARFLAGS=["rc"], PROGNAME="firmware", PROGSUFFIX=".elf",
    # sysv sizes like the official atmelavr: .eeprom must not count as RAM/flash
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPROGREGEXP=r"^(?:\.text|\.data|\.bootloader)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.noinit)\s+(\d+).*",
    SIZEPRINTCMD="$SIZETOOL -C --mcu=$BOARD_MCU $SOURCES",
)
mcu = ["-mmcu=$BOARD_MCU"]
env.Append(
    ASFLAGS=mcu + ["-x", "assembler-with-cpp"],
    CCFLAGS=mcu + ["-Os", "-ffunction-sections", "-fdata-sections"],
    CPPDEFINES=[("F_CPU", "$BOARD_F_CPU")],
    CPPPATH=[os.path.join(platform_dir, "include")],
    # .mmcu at its own address, else simavr 1.6 loads .data wrongly.
    LINKFLAGS=mcu + ["-Os", "-Wl,--gc-sections", "-Wl,--section-start=.mmcu=0x910000"],
    BUILDERS={
        "ElfToHex": Builder(suffix=".hex", action=env.VerboseAction(
            "$OBJCOPY -O ihex -R .eeprom $SOURCE $TARGET", "Building $TARGET")),
        "ElfToEep": Builder(suffix=".eep", action=env.VerboseAction(
            "$OBJCOPY -O ihex -j .eeprom --set-section-flags=.eeprom=alloc,load "
            "--change-section-lma .eeprom=0 --no-change-warnings $SOURCE $TARGET",
            "Building $TARGET")),
    },
)

elf = env.BuildProgram()
env.AddPostAction(elf, "$SIZETOOL -C --mcu=$BOARD_MCU $TARGET")  # $SOURCES = objects here
images = [env.ElfToHex(os.path.join("$BUILD_DIR", "firmware"), elf),
          env.ElfToEep(os.path.join("$BUILD_DIR", "firmware"), elf)]
# Host tool: a plain Command so none of the AVR flags leak into it.
harness = env.Command(
    os.path.join("$BUILD_DIR", "simavr_run"), harness_src,
    env.VerboseAction("gcc -std=c99 -O2 -Wall -Wextra -Werror -o $TARGET $SOURCE -lsimavr",
                      "Building simulator harness $TARGET"))

run_cmd = env.GetProjectOption("test_testing_command", None) or [
    os.path.join("$BUILD_DIR", "simavr_run"), "-m", "$BOARD_MCU", "-f", f_cpu,
    os.path.join("$BUILD_DIR", "firmware.elf")]
# Platform targets show up in VS Code's Project Tasks. [[...]]: one command.
env.AddPlatformTarget("exec", [elf, harness], env.VerboseAction([run_cmd], "Running in simavr"),
                      "Run in simavr")
env.AddPlatformTarget("size", elf, env.VerboseAction("$SIZEPRINTCMD", "AVR memory usage"),
                      "Program Size")

Default([elf] + images + [harness])
