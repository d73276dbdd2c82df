"""Where the wave propagates: a regular Cartesian grid (the physical model, without the
absorbing layer)."""
import numpy as np

from . import checks

__all__ = ["Grid"]


class Grid:
    """A regular 2-D or 3-D grid of cells.

    Axis order is (x, z) in 2-D and (x, y, z) in 3-D; depth is the last axis.

    Args:
        shape: number of grid points along each axis, e.g. ``(nx, nz)``; each >= 3.
        spacing: distance between grid points along each axis in metres, each > 0.
        origin: coordinates of the first grid point in metres. Defaults to zeros.

    Example:
        >>> grid = Grid(shape=(101, 51), spacing=(10.0, 10.0))
        >>> grid.extent
        (1000.0, 500.0)
    """

    def __init__(self, shape, spacing, origin=None):
        shape = _per_axis(shape, "shape", None, "whole numbers of points")
        if len(shape) not in (2, 3):
            raise ValueError(f"Grid shape must have 2 or 3 axes (x, z) or (x, y, z); got {shape}")
        shape = tuple(checks.whole(n, f"Grid shape {shape}: each axis", low=3)
                      for n in shape)
        spacing = tuple(checks.number(h, f"Grid spacing {spacing!r}: each axis", low=0,
                                      unit="metres")
                        for h in _per_axis(spacing, "spacing", len(shape), "lengths"))
        origin = (0.0,) * len(shape) if origin is None else tuple(
            checks.number(o, f"Grid origin {origin!r}: each axis", unit="metres")
            for o in _per_axis(origin, "origin", len(shape), "coordinates"))
        self.shape = shape
        self.spacing = spacing
        self.origin = origin

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def extent(self):
        """Length of the grid along each axis in metres."""
        return tuple((n - 1) * h for n, h in zip(self.shape, self.spacing))

    @property
    def cell_volume(self):
        """Volume (area in 2-D) of one cell in m^ndim."""
        return float(np.prod(self.spacing))

    def contains(self, points):
        """Boolean mask of the points (..., ndim) in metres that lie inside the grid."""
        points = np.asarray(points, dtype=np.float64)
        lo = np.asarray(self.origin)
        hi = lo + np.asarray(self.extent)
        tol = 1e-6 * np.asarray(self.spacing)
        return np.all((points >= lo - tol) & (points <= hi + tol), axis=-1)

    def get_config(self):
        return {"shape": list(self.shape), "spacing": list(self.spacing),
                "origin": list(self.origin)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, Grid) and self.get_config() == other.get_config()

    def __repr__(self):
        return f"Grid(shape={self.shape}, spacing={self.spacing}, origin={self.origin})"


def _per_axis(value, name, ndim, what):
    """``value`` as a tuple of ``ndim`` items (any number if None), one an axis."""
    items = tuple(value) if np.ndim(value) == 1 else None
    if items is None or ndim is not None and len(items) != ndim:
        count = "" if ndim is None else f"{ndim} "
        raise ValueError(f"Grid {name} must be {count}{what}, one an axis; got {value!r}")
    return items
