"""nnmodel's PlatformIO hook: regenerates the model's C from the env's custom_nnmodel_* options.

It runs as the nnmodel library's build.extraScript (library.json), so a project needs only

    lib_deps = nnmodel=<git URL, registry name or symlink://path>
    custom_nnmodel_model = models/net.nnm

or as a project script (`extra_scripts = pre:<path printed by nnmodel hook-path>`). It loads the
nnmodel package it sits in (this file's ../), whatever the Python running PlatformIO has installed,
and needs only numpy there (and, for a model imported from ONNX or Keras, that format's reader:
onnx or h5py): when one is missing it installs it into that Python, or fails with one line giving
the command to run. Everything else is nnmodel.prebuild.scons_prebuild.
"""
import importlib
import importlib.util
import inspect
import os
import site
import subprocess
import sys

Import("env")  # noqa: F821 - SCons

try:
    Import("pio_lib_builder")  # noqa: F821 - exported to a library's build.extraScript only
    LIBRARY = True
except Exception:  # SCons raises UserError for a name nobody exported
    LIBRARY = False

# SConscripts run without __file__; the code object knows where this file is.
PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(inspect.currentframe().f_code.co_filename)))
NUMPY = "numpy>=1.22"


def _fail(message):
    sys.stderr.write(f"[nnmodel] error: {message}\n")
    env.Exit(1)  # noqa: F821


# What an imported model's format needs besides numpy (the reader's package), by file suffix.
READERS = {".onnx": ("onnx", "onnx>=1.14"), ".keras": ("h5py", "h5py>=3.8"), ".h5": ("h5py", "h5py>=3.8"),
           ".hdf5": ("h5py", "h5py>=3.8")}


def _ensure(module, requirement):
    """Import-able `module`, else pip-installed into PlatformIO's Python, else one line to run."""
    if importlib.util.find_spec(module) is not None:
        return
    python = env.subst("$PYTHONEXE") or sys.executable  # noqa: F821 - PlatformIO's own Python
    command = [python, "-m", "pip", "install", "--disable-pip-version-check", requirement]
    print(f"[nnmodel] {module} is missing from PlatformIO's Python; installing it: {' '.join(command)}")
    proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    importlib.invalidate_caches()
    for folder in site.getsitepackages() + [site.getusersitepackages()]:  # a folder pip just made
        if os.path.isdir(folder) and folder not in sys.path:
            site.addsitedir(folder)
    if proc.returncode != 0 or importlib.util.find_spec(module) is None:
        lines = [x.strip() for x in proc.stdout.splitlines() if x.strip()]
        why = lines[-1][:160] if lines else f"exit {proc.returncode}"
        _fail(f"{module} is missing from PlatformIO's Python and pip could not install it ({why}); "
              f'run: "{python}" -m pip install "{requirement}"')


def _readers_needed():
    """The reader packages the env's custom_nnmodel_model files need (framework files are imported)."""
    try:
        models = env.GetProjectOption("custom_nnmodel_model", "")  # noqa: F821
    except Exception:  # no such option: nothing to import
        return []
    suffixes = {os.path.splitext(m.split("@")[0].strip())[1].lower() for m in models.replace(",", "\n").splitlines()}
    return sorted({READERS[x] for x in suffixes if x in READERS})


def _load_nnmodel():
    """The nnmodel package beside this hook, even if another one is installed in this Python."""
    loaded = sys.modules.get("nnmodel")
    if loaded is not None and os.path.dirname(os.path.abspath(loaded.__file__)) == PACKAGE:
        return
    for name in [m for m in sys.modules if m == "nnmodel" or m.startswith("nnmodel.")]:
        del sys.modules[name]
    spec = importlib.util.spec_from_file_location("nnmodel", os.path.join(PACKAGE, "__init__.py"),
                                                  submodule_search_locations=[PACKAGE])
    module = importlib.util.module_from_spec(spec)
    sys.modules["nnmodel"] = module
    spec.loader.exec_module(module)


_ensure("numpy", NUMPY)
for _module, _requirement in _readers_needed():
    _ensure(_module, _requirement)
try:
    _load_nnmodel()
except ImportError as exc:
    _fail(f"cannot load nnmodel from {PACKAGE} ({exc}); reinstall the nnmodel library")

from nnmodel import __version__  # noqa: E402
from nnmodel.prebuild import scons_prebuild  # noqa: E402

print(f"nnmodel {__version__} ({'library' if LIBRARY else 'project script'}) from {PACKAGE}")
scons_prebuild(env, library=LIBRARY)  # noqa: F821
