"""lib/nnrt is nnmodel's runtime alone. An env that sets custom_nnmodel_* options needs the generator
too, which the nnmodel library (the repository root's library.json) or a project pre-script runs;
without either the options would be ignored in silence, so this says so and stops the build.
"""
Import("env")  # noqa: F821 - SCons

section = "env:" + env["PIOENV"]  # noqa: F821
wanted = [n for n in env.GetProjectConfig().options(section) if n.startswith("custom_nnmodel_")]  # noqa: F821
if wanted and not DefaultEnvironment().get("NNMODEL_HOOK_DONE"):  # noqa: F821 - set by nnmodel's hook
    import sys

    sys.stderr.write(f"[nnmodel] error: {wanted[0]} is set, but lib/nnrt is only nnmodel's runtime: depend on the "
                     "nnmodel library instead (lib_deps = nnmodel=symlink://<the nnmodel folder>, or its git URL)\n")
    env.Exit(1)  # noqa: F821
