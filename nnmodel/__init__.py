"""nnmodel: trained neural networks → integer-only C for microcontrollers, regenerated in the build."""
from .errors import NNModelError
from .fileformat import load, save
from .model import RNN, Activation, Dense, InputSpec, Model

__version__ = "0.2.0"
__all__ = ["RNN", "Activation", "Dense", "InputSpec", "Model", "NNModelError", "__version__", "load", "save"]
