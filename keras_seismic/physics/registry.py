"""The wave equations by name: one line a physics."""
import functools

from .acoustic import Acoustic
from .density import Density
from .tti import TTI
from .visco import Visco

__all__ = ["PHYSICS", "get"]

PHYSICS = {equation.name: equation for equation in (Acoustic, Density, TTI, Visco)}


@functools.lru_cache(maxsize=None)
def _equation(name, ndim):
    return PHYSICS[name](ndim)


def get(name, ndim=2):
    """The :class:`~keras_seismic.physics.equation.WaveEquation` called ``name``, in
    ``ndim`` dimensions."""
    if name not in PHYSICS:
        raise ValueError(f"physics must be one of {sorted(PHYSICS)}; got {name!r}")
    return _equation(name, ndim)
