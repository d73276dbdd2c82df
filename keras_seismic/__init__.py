"""keras-seismic: seismic wave-equation layers for TensorFlow/Keras.

Devito generates the finite-difference kernels; keras_seismic wraps them as Keras layers
whose backward pass is the adjoint PDE solve, for FWI and least-squares RTM with
``model.fit``. See DESIGN.md for units, axes and shapes.
"""
from .grid import Grid
from .survey import Survey
from .wavelets import ricker
from .propagator import AcousticPropagator
from . import (callbacks, constraints, datasets, distributed, io, layers, losses, models,
               ops, optimizers, plotting)

__version__ = "0.1.0"
__all__ = ["Grid", "Survey", "ricker", "AcousticPropagator", "callbacks", "constraints",
           "datasets",
           "distributed", "io", "layers", "losses", "models", "ops", "optimizers",
           "plotting"]
