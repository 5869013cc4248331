"""cortexm-qemu-sim: bare-metal Cortex-M4 with newlib semihosting, run in QEMU mps2-an386.

Debian's arm-none-eabi-gcc + libnewlib-arm-none-eabi: --specs=rdimon.specs links librdimon
(stdio, exit status through semihosting) and -nostartfiles replaces its crt0 with
startup/nnsim_startup.c (vector table, .data copy, .bss zero) and ldscripts/mps2_an386.ld, the
board's memory map. `exec` runs the env's test_testing_command when set (one source of truth),
else a default; both wrap QEMU in `timeout`, so a hang ends with exit 124. -icount shift=7 makes
instruction counts exact (include/nnsim.h explains why 7, not 0).
"""

import os

from SCons.Script import Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()
platform_dir = env.PioPlatform().get_dir()
tc = "arm-none-eabi-"

env.Replace(
    AR=tc + "gcc-ar", AS=tc + "gcc", CC=tc + "gcc", CXX=tc + "g++",
    OBJCOPY=tc + "objcopy", RANLIB=tc + "gcc-ranlib", SIZETOOL=tc + "size",
    ARFLAGS=["rc"], PROGNAME="firmware", PROGSUFFIX=".elf",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
    LDSCRIPT_PATH=os.path.join(platform_dir, "ldscripts", board.get("build.ldscript")),
)
arch = ["-mcpu=" + board.get("build.cpu"), "-mthumb"]
env.Append(
    ASFLAGS=arch + ["-x", "assembler-with-cpp"],
    CCFLAGS=arch + ["-Os", "-ffunction-sections", "-fdata-sections"],
    CPPPATH=[os.path.join(platform_dir, "include")],
    LINKFLAGS=arch + ["-Os", "--specs=rdimon.specs", "-nostartfiles", "-Wl,--gc-sections"],
)
# The startup code is part of every program, as a framework's would be.
env.BuildSources(os.path.join("$BUILD_DIR", "nnsim_startup"), os.path.join(platform_dir, "startup"))

elf = env.BuildProgram()

run_cmd = env.GetProjectOption("test_testing_command", None) or [
    "timeout", "--kill-after=5", "120",
    "qemu-system-arm", "-machine", "mps2-an386", "-nographic", "-icount", "shift=7",
    "-semihosting-config", "enable=on,target=native",
    "-kernel", os.path.join("$BUILD_DIR", "firmware.elf")]
# Platform targets show up in VS Code's Project Tasks. [[...]]: one command.
env.AddPlatformTarget("exec", elf, env.VerboseAction([run_cmd], "Running in QEMU"), "Run in QEMU")
env.AddPlatformTarget("size", elf, env.VerboseAction("$SIZEPRINTCMD", "Program size"),
                      "Program Size")

Default([elf])
