"""The wave equations by name: one line a physics."""
from .acoustic import Acoustic
from .density import Density

__all__ = ["PHYSICS", "get"]

PHYSICS = {equation.name: equation for equation in (Acoustic(), Density())}


def get(name):
    """The :class:`~keras_seismic.physics.equation.WaveEquation` called ``name``."""
    if name not in PHYSICS:
        raise ValueError(f"physics must be one of {sorted(PHYSICS)}; got {name!r}")
    return PHYSICS[name]
