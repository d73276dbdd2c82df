"""The wave-equation physics: one module a wave equation (``acoustic.py``,
``density.py``), the Devito symbols they share (``fields.py``), the plug-in protocol
(``equation.py``) and its registry, the absorbing boundary, and the solver that runs the
operators (their cache, buffers and stored wavefields). This package is the only place in
keras_seismic that imports devito.
"""
import os

# Devito reads these when it is imported; one solve uses every core (see solver.CORES).
# On one thread the kernels are plain C: OpenMP would only add the scheduling of every
# loop and atomic updates where sparse points inject (some 10% of an adjoint solve).
# Only unset ones are set (docs/concepts.md lists them), so a user's choice stands.
os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
os.environ.setdefault("DEVITO_LANGUAGE",
                      "C" if os.environ["OMP_NUM_THREADS"].strip() == "1" else "openmp")
os.environ.setdefault("DEVITO_LOGGING", "WARNING")

from .boundary import Padding  # noqa: E402
from .equation import Parameter, WaveEquation  # noqa: E402
from .fields import stencil_sum  # noqa: E402
from .registry import PHYSICS, get  # noqa: E402
from .solver import Recompute, Source, StoredWavefield, WaveSolver  # noqa: E402
from .target import Target  # noqa: E402

__all__ = ["PHYSICS", "Padding", "Parameter", "Recompute", "Source", "StoredWavefield",
           "Target", "WaveEquation", "WaveSolver", "get", "stencil_sum"]
