"""The wave-equation physics: Devito kernels, their operators and cache, the absorbing
boundary. This package is the only place in keras_seismic that imports devito.

Discretisation (one shot, padded grid, internal time step ``dt``)::

    a u[n+1] - B u[n] + C u[n-1] = q[n]
    a = m/dt^2 + eta/(2 dt),  B = 2 m/dt^2 + L,  C = m/dt^2 - eta/(2 dt)

with ``L`` the symmetric finite-difference Laplacian and ``eta`` the damping of the
absorbing layer. Every block is symmetric, so the adjoint is the same recursion run
backwards in time; the kernels here are exact transposes of each other.
"""
import os

# Devito reads these when it is imported; one solve uses every core (see solver.CORES).
os.environ.setdefault("DEVITO_LANGUAGE", "openmp")
os.environ.setdefault("DEVITO_LOGGING", "WARNING")
os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))

from .boundary import Padding  # noqa: E402
from .solver import Recompute, Source, StoredWavefield, WaveSolver, stencil_sum  # noqa: E402
from .target import Target  # noqa: E402

__all__ = ["Padding", "Recompute", "Source", "StoredWavefield", "Target", "WaveSolver",
           "stencil_sum"]
