"""nnmodel-native: build and run C programs/tests on the host.

The compiler is $CC when set (as nnmodel's Python side does), else gcc.
Targets: default = build `program`; `exec` (and `upload`) runs it with
$PROGRAM_ARGS (`pio run -t exec -a ARG`); `size` prints its size.
"""

import os

from SCons.Script import COMMAND_LINE_TARGETS, Default, DefaultEnvironment

env = DefaultEnvironment()

# PlatformIO's generic tools picked `cc`; let the gcc tools choose again,
# honouring $CC/$CXX. env.Tool() re-initialises the C flags: keep the
# project's, and re-add the compile-database hooks it replaced.
saved = {k: list(env.get(k, [])) for k in ("CFLAGS", "CXXFLAGS")}
for var in ("CC", "CXX"):
    if var in env:
        del env[var]
    if os.environ.get(var):
        env[var] = os.environ[var]
env.Tool("gcc")
env.Tool("g++")
env.Append(**saved)
if "compiledb" in COMMAND_LINE_TARGETS:
    env.Tool("compilation_db")
env.Append(CPPPATH=[os.path.join(env.PioPlatform().get_dir(), "include")])

program = env.BuildProgram()

# Platform targets show up in VS Code's Project Tasks.
run = env.VerboseAction("$SOURCE $PROGRAM_ARGS", "Executing $SOURCE")
env.AddPlatformTarget("exec", program, run, "Execute")
env.AddPlatformTarget("upload", program, run, "Upload (= Execute)")
env.AddPlatformTarget("size", program, env.VerboseAction("size $SOURCE", "Program size"),
                      "Program Size")

Default([program])
