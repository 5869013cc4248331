"""nnmodel: trained neural networks → integer-only C for microcontrollers, regenerated in the build."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import NNModelError

__version__ = "0.2.0"
__all__ = ["RNN", "Activation", "Dense", "InputSpec", "Model", "NNModelError", "__version__", "load", "save"]

if TYPE_CHECKING:
    from .fileformat import load, save
    from .model import RNN, Activation, Dense, InputSpec, Model

# Loaded on first use (PEP 562): `import nnmodel.cli` must not import numpy, because the console
# script imports it before main() can turn a Ctrl-C into one line.
_LAZY = {"load": "fileformat", "save": "fileformat", "RNN": "model", "Activation": "model", "Dense": "model",
         "InputSpec": "model", "Model": "model"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'nnmodel' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value
