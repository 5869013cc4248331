"""PlatformIO pre-build hook: regenerate the model C from custom_nnmodel_* options (see README).

    [env:myboard]
    extra_scripts = pre:extra_scripts/nnmodel_prebuild.py
    custom_nnmodel_model = models/mnist_rnn_attiny85.nnm

All logic lives in nnmodel.prebuild so the CLI, the tests and the build share one code path.
"""
import subprocess
import sys

Import("env")  # noqa: F821 - provided by SCons

sys.path.insert(0, env.subst("$PROJECT_DIR"))  # noqa: F821 - this checkout's nnmodel package


def _importable():
    try:
        import numpy  # noqa: F401

        import nnmodel.prebuild  # noqa: F401
    except ImportError as exc:
        return exc
    return None


problem = _importable()
if problem is not None:
    # PlatformIO's own Python (e.g. the VS Code extension's) may lack numpy: install it there.
    command = [sys.executable, "-m", "pip", "install", "numpy>=1.22"]
    print("[nnmodel] {} in PlatformIO's Python; running: {}".format(problem, " ".join(command)))
    if subprocess.call(command) != 0 or _importable() is not None:
        sys.stderr.write("[nnmodel] error: cannot import nnmodel/numpy; "
                         f'run: "{sys.executable}" -m pip install numpy\n')
        env.Exit(1)  # noqa: F821

from nnmodel.prebuild import scons_prebuild  # noqa: E402

scons_prebuild(env)  # noqa: F821
