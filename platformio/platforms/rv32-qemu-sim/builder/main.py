"""rv32-qemu-sim: bare-metal RV32IMC (ESP32-C3's ISA) with picolibc, run in QEMU.

Flags follow shared/notes/platformio-offline.md: -misa-spec=2.2 so csrr
assembles (…_zicsr would make multilib pick rv64), semihosting crt0 so stdio
reaches the host and main's return value becomes QEMU's exit status. `exec`
runs the env's test_testing_command when set (one source of truth), else a
default; both wrap QEMU in `timeout`, so a hang ends with exit 124.
"""

import os

from SCons.Script import Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()
tc = "riscv64-unknown-elf-"

env.Replace(
    AR=tc + "gcc-ar", AS=tc + "gcc", CC=tc + "gcc", CXX=tc + "g++",
    OBJCOPY=tc + "objcopy", RANLIB=tc + "gcc-ranlib", SIZETOOL=tc + "size",
    ARFLAGS=["rc"], PROGNAME="firmware", PROGSUFFIX=".elf",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
)
arch = ["-march=" + board.get("build.march"), "-mabi=" + board.get("build.mabi"),
        "-misa-spec=2.2", "--specs=picolibc.specs"]
memory = ["-Wl,--defsym=__{}={}".format(name, board.get("build." + key)) for name, key in (
    ("flash", "flash_origin"), ("flash_size", "flash_size"),
    ("ram", "ram_origin"), ("ram_size", "ram_size"))]
env.Append(
    ASFLAGS=arch + ["-x", "assembler-with-cpp"],
    CCFLAGS=arch + ["-Os", "-ffunction-sections", "-fdata-sections"],
    CPPPATH=[os.path.join(env.PioPlatform().get_dir(), "include")],
    LINKFLAGS=arch + ["-Os", "--oslib=semihost", "--crt0=semihost", "-Wl,--gc-sections"] + memory,
)

elf = env.BuildProgram()

run_cmd = env.GetProjectOption("test_testing_command", None) or [
    "timeout", "--kill-after=5", "120",
    "qemu-system-riscv32", "-machine", "virt", "-nographic", "-bios", "none",
    "-icount", "shift=0", "-semihosting-config", "enable=on,target=native",
    "-kernel", os.path.join("$BUILD_DIR", "firmware.elf")]
# Platform targets show up in VS Code's Project Tasks. [[...]]: one command.
env.AddPlatformTarget("exec", elf, env.VerboseAction([run_cmd], "Running in QEMU"), "Run in QEMU")
env.AddPlatformTarget("size", elf, env.VerboseAction("$SIZEPRINTCMD", "Program size"),
                      "Program Size")

Default([elf])
