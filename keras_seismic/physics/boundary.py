"""The absorbing boundary: how a physical model is padded with a damping layer (and, with a
free surface, with the mirror rows above the surface)."""
import numpy as np

# Reflection coefficient the damping profile is designed for, and the wave speed it is tuned
# to. The damping does not depend on the model, so it has no part in the gradient.
_REFLECTION = 1e-4
_REFERENCE_SPEED = 2000.0


class Padding:
    """Geometry of the padded computational grid around a physical grid.

    Args:
        shape: physical grid shape.
        width: number of absorbing cells on each side (not on top with a free surface).
        space_order: finite-difference order.
        free_surface: whether the top (z = 0) is a pressure-free surface.
        reach: with a free surface, the number of mirror rows put above it so that the
            stencil sees ``u(-z) = -u(z)``: as many as the physics' spatial operator reaches
            (default ``space_order // 2``, one centred Laplacian).
    """

    def __init__(self, shape, width, space_order, free_surface, reach=None):
        self.shape = tuple(shape)
        ndim = len(self.shape)
        self.lower = [width] * ndim
        self.upper = [width] * ndim
        self.free_surface, self.space_order = free_surface, space_order
        if free_surface:
            self.lower[-1] = space_order // 2 if reach is None else reach
        self.width = width

    @property
    def surface_index(self):
        """Index of the free surface along z in the padded grid."""
        return self.lower[-1]

    @property
    def padded_shape(self):
        return tuple(n + lo + hi for n, lo, hi in zip(self.shape, self.lower, self.upper))

    @property
    def interior(self):
        """Slices of the padded grid that hold the physical grid."""
        return tuple(slice(lo, lo + n) for n, lo in zip(self.shape, self.lower))

    def pad(self, field, mode="edge", mirror=False):
        """Extend a physical field (..., *shape) onto the padded grid.

        Args:
            mode: ``np.pad`` mode of every side ("edge": the edge values fill the
                absorbing layer; "constant": zeros).
            mirror: above a free surface, mirror the field about the surface row instead,
                as a field read by the stencil across the surface must be for the
                stencil to stay symmetric; ``"odd"`` mirrors it with its sign flipped
                (a component of a direction, which the reflection turns over), and so
                zeroes it on the surface row, the mirror's axis.
        """
        lead = [(0, 0)] * (np.ndim(field) - len(self.shape))
        padded = np.pad(field, lead + list(zip(self.lower, self.upper)), mode=mode)
        if mirror and self.free_surface:
            s = self.surface_index
            sign = -1.0 if mirror == "odd" else 1.0
            for k in range(1, s + 1):
                padded[..., s - k] = sign * padded[..., s + k]
            if mirror == "odd":
                padded[..., s] = 0.0
        return padded

    def pad_adjoint(self, padded, mirror=False):
        """Adjoint of ``pad(mode="edge", mirror=mirror)``: fold every padded cell back onto
        the cell it copies. Without ``mirror``, the rows above a free surface are
        overwritten by the solver, so they do not depend on the model and contribute
        nothing."""
        out = np.array(padded, dtype=np.float64)
        if self.free_surface:
            s = self.surface_index
            if mirror:
                for k in range(1, s + 1):
                    out[..., s + k] += out[..., s - k]
            out[..., :s] = 0.0
        nlead = out.ndim - len(self.shape)
        for axis, (lo, hi) in enumerate(zip(self.lower, self.upper)):
            ax = nlead + axis
            n = out.shape[ax]
            first = [slice(None)] * out.ndim
            last = [slice(None)] * out.ndim
            first[ax], last[ax] = lo, n - hi - 1
            out[tuple(first)] += np.take(out, range(lo), axis=ax).sum(axis=ax)
            out[tuple(last)] += np.take(out, range(n - hi, n), axis=ax).sum(axis=ax)
            keep = [slice(None)] * out.ndim
            keep[ax] = slice(lo, n - hi)
            out = out[tuple(keep)]
        return out

    def crop(self, padded):
        """The physical part of a padded field (..., *padded_shape)."""
        return padded[(Ellipsis,) + self.interior]

    def damping(self, spacing):
        """Damping coefficient ``eta`` (s/m^2) on the padded grid: zero inside, growing
        quadratically over the absorbing layer."""
        eta = np.zeros(self.padded_shape, dtype=np.float32)
        for axis, (h, lo, hi) in enumerate(zip(spacing, self.lower, self.upper)):
            n = self.padded_shape[axis]
            depth = np.zeros(n)
            if lo and not (self.free_surface and axis == len(spacing) - 1):
                depth[:lo] = np.arange(lo, 0, -1) / lo
            if hi:
                depth[n - hi:] = np.arange(1, hi + 1) / hi
            thickness = max(self.width, 1) * h
            # Classical sponge: eta/m = 3 c log(1/R) / (2 L) (d/L)^2, written for m = 1/c^2.
            profile = 1.5 * np.log(1.0 / _REFLECTION) / (thickness * _REFERENCE_SPEED) * depth**2
            shape = [1] * len(spacing)
            shape[axis] = n
            eta += profile.reshape(shape).astype(np.float32)
        return eta
