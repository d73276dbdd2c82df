"""keras-seismic: seismic wave-equation layers for TensorFlow/Keras.

Devito generates the finite-difference kernels; keras_seismic wraps them as Keras layers
whose backward pass is the adjoint PDE solve, for FWI and least-squares RTM with
``model.fit``. See DESIGN.md for units, axes and shapes.

Importing the package is cheap: the description (``Grid``, ``Survey``, ``ricker``) is
plain numpy, and every other part (the propagator with Devito, the Keras parts with
TensorFlow) is imported the first time it is used, e.g. by ``ks.layers``. It changes
nothing in the environment, with one addition: once Keras is imported, Keras knows the
names of the package's serializable classes, so that ``keras.models.load_model`` finds
them in a process that has only imported ``keras_seismic`` (see serializable.py).
"""
import importlib

import wrapt

from . import serializable
from .grid import Grid
from .survey import Survey
from .wavelets import ricker

__version__ = "0.1.0"

_SUBMODULES = ("callbacks", "constraints", "datasets", "distributed", "io", "layers",
               "losses", "models", "ops", "optimizers", "plotting", "preprocessing")
_NAMES = {"AcousticPropagator": "propagator", "Propagator": "propagator"}
__all__ = ["Grid", "Survey", "ricker", *_NAMES, *_SUBMODULES]

wrapt.register_post_import_hook(serializable.register, "keras")


def __getattr__(name):
    """The parts imported on first use (PEP 562)."""
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
