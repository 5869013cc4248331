"""This repository's own envs run the nnmodel hook as a project pre-script (see README):

    extra_scripts = pre:extra_scripts/nnmodel_prebuild.py

The hook itself is nnmodel/pio/nnmodel_hook.py, the library's build.extraScript; a user project
needs only `lib_deps = nnmodel=...` (README, "Using nnmodel in your PlatformIO project").
"""
import inspect
import os

Import("env")  # noqa: F821 - provided by SCons

HERE = os.path.dirname(os.path.abspath(inspect.currentframe().f_code.co_filename))
SConscript(os.path.join(HERE, "..", "nnmodel", "pio", "nnmodel_hook.py"), exports="env")  # noqa: F821
