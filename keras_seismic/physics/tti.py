"""Pseudo-acoustic tilted transverse isotropy (TTI): a qP wave in a medium with a tilted
symmetry axis, from ``vp`` (the velocity along the axis) and Thomsen's ``epsilon`` and
``delta``; ``theta`` tilts the axis from the vertical (and ``phi`` turns it in 3-D).

Equations. Two fields, ``p`` (recorded) and ``q``, obey::

    m p_tt + eta p_t = (1 + 2 epsilon) H_h p + sqrt(1 + 2 delta) H_v q + source
    m q_tt + eta q_t = sqrt(1 + 2 delta) H_h p + H_v q                 + source

with ``m = 1/vp^2``, ``H_v`` the second derivative along the symmetry axis ``n`` and
``H_h = lap - H_v`` the rest of the Laplacian. A plane wave gives the qP phase velocity
``vp`` along the axis and ``vp sqrt(1 + 2 epsilon)`` across it, and ``delta`` sets the
curvature near the axis. With ``epsilon = delta = 0`` both equations are the same, ``p =
q``, and the system is the acoustic wave equation: the same Laplacian stencil, so the
propagator reproduces the acoustic one to rounding.

Why this form, and why its adjoint is exact. In matrix form the system is ``m U_tt = A H
U``: ``A = [[1 + 2 epsilon, sqrt(1 + 2 delta)], [sqrt(1 + 2 delta), 1]]`` acts pointwise,
and ``H = diag(H_h, H_v)`` holds the derivatives. ``H_v`` is written as a product of first
derivatives and their transposes, ``H_v = -D^T D`` with ``D = n . grad`` (centred first
derivatives, ``D^T = -sum_i d_i (n_i .)``), and ``H_h = lap - H_v``: both are symmetric
matrices for any tilt field, and both are negative semi-definite (``D^T D`` is bounded by
``-lap``: the squared symbol of a centred first derivative never exceeds that of the
second derivative of the same order). The kernels step this system; the adjoint kernels
step its exact transpose ``m V_tt = H A V`` (``A`` applied first, then ``H``), so the
discrete adjoint is the transpose of the discrete forward to rounding, in any medium, with
every storage mode and a free surface. The price is that the system is not self-adjoint:
the adjoint is a second operator, not the forward run backwards.

Known artefacts, and how they are handled.

* Where ``epsilon != delta`` the system also carries a slow shear-like mode: a point
  source inside such a medium radiates the well-known "diamond". Sources in an isotropic
  or elliptic (``epsilon = delta``) region, such as the water layer of marine data, do not
  excite it; keep ``epsilon = delta`` around the sources otherwise. Interfaces convert a
  little energy into it. Around such a source there is also grid-scale checkerboard
  noise: centred first derivatives do not see the grid's shortest wavelengths, so
  ``D^T D`` barely couples them.
* ``epsilon < delta`` makes ``A`` indefinite and the system unstable: :meth:`TTI.check`
  refuses it with a ValueError.
* With a free surface, the horizontal components of the axis are mirrored with their sign
  flipped (so the reflection keeps the operator symmetric) and vanish on the surface row,
  where the pressure is zero.

Linearisation. Born modeling and gradients exist for ``vp`` only (``epsilon``, ``delta``,
``theta`` and ``phi`` are held fixed): a perturbation ``dm`` scatters ``-dm p_tt`` and
``-dm q_tt``, and the imaging condition is ``-sum_t (p v_tt + q w_tt)`` with ``(v, w)``
the adjoint fields.

Cost. Each time step applies one Laplacian and two axis derivatives ``D`` with their
transposes, through scratch fields, to two wavefields, and the gradient stores both
fields (see the benchmarks for the measured cost).
"""
import numpy as np
from devito import Eq, Inc, Operator

from .acoustic import VP, SquaredSlowness
from .equation import Parameter, WaveEquation
from .fields import (Mass, free_surface, parameter, point_sources, sources, sparse,
                     stored_fields, time_step, trace, wavefield)

EPSILON = Parameter("epsilon", "dimensionless", (-0.5, 1.0), 0.0, "horizontal",
                    "Thomsen epsilon")
DELTA = Parameter("delta", "dimensionless", (-0.5, 1.0), 0.0, "coupling",
                  "Thomsen delta")
THETA = Parameter("theta", "rad", (-np.pi, np.pi), 0.0, "axis",
                  "tilt of the symmetry axis from the vertical")
PHI = Parameter("phi", "rad", (-np.pi, np.pi), 0.0, "axis",
                "azimuth of the symmetry axis")


def _media(grid, space_order):
    """The :class:`Mass`, ``1 + 2 epsilon``, ``sqrt(1 + 2 delta)`` and the components of
    the symmetry axis, one per dimension."""
    horizontal, coupling = (parameter(grid, space_order, name)
                            for name in ("horizontal", "coupling"))
    axis = [parameter(grid, space_order, f"axis{i}") for i in range(grid.dim)]
    return Mass(grid, space_order), horizontal, coupling, axis


def axis_derivative(expr, name, grid, space_order, axis):
    """``H_v expr = -D^T D expr`` for ``D = n . grad``: the equations that put ``n_i D
    expr`` in the scratch fields ``g<name><i>``, one a dimension, and the expression of
    ``H_v expr`` that reads them around each point (so that no expression is a product of
    two stencils). Keeping the products ``n_i D expr``, not ``D expr`` alone, spares the
    transposed derivative a product at each of its taps: a third of a step's arithmetic."""
    dims = grid.dimensions
    along = sum(n * expr.diff(d) for n, d in zip(axis, dims))
    scratch = [wavefield(grid, space_order, f"g{name}{i}", 0) for i in range(len(dims))]
    return [Eq(g, n * along) for g, n in zip(scratch, axis)], \
        sum(g.diff(d) for g, d in zip(scratch, dims))


def stiffness(p, q, names, grid, space_order, horizontal, coupling, axis):
    """The scratch equations and the right-hand sides ``A H U`` of the two fields."""
    along_p, hv_p = axis_derivative(p, names[0], grid, space_order, axis)
    along_q, hv_q = axis_derivative(q, names[1], grid, space_order, axis)
    hh_p = p.laplace - hv_p
    return along_p + along_q, (horizontal * hh_p + coupling * hv_q,
                               coupling * hh_p + hv_q)


def forward_operator(grid, space_order, surface, save, extended, **target):
    """Nonlinear modeling with point sources (``src``) or, if ``extended``, the distributed
    source ``weights(x) * wavelet(t)``, fired into both fields; records ``p`` (``rec``);
    optionally stores ``usave`` and ``qsave``."""
    mass, horizontal, coupling, axis = _media(grid, space_order)
    p, q = wavefield(grid, space_order, "u"), wavefield(grid, space_order, "q")
    rec = sparse(grid, "rec")
    scratch, (rhs_p, rhs_q) = stiffness(p, q, ("u", "q"), grid, space_order, horizontal,
                                        coupling, axis)
    source, inject = sources(grid, space_order, extended)
    eqs = mass.equations + scratch
    eqs += [time_step(p, mass, rhs_p, True, source),
            time_step(q, mass, rhs_q, True, source)]
    eqs += inject([p, q], mass)
    eqs += free_surface(p, True, surface) + free_surface(q, True, surface)
    eqs += rec.interpolate(expr=p)
    if save:
        eqs += [Eq(stored, field) for stored, field in
                zip(stored_fields(grid, ("u", "q")), (p, q))]
    return Operator(eqs, name="forward", **target)


def born_operator(grid, space_order, surface, **target):
    """Linearised modeling for a perturbation ``dm``: the background fields and their
    perturbations, advanced together; records ``dp``."""
    mass, horizontal, coupling, axis = _media(grid, space_order)
    dm = parameter(grid, space_order, "dm")
    p, q = wavefield(grid, space_order, "u"), wavefield(grid, space_order, "q")
    dp, dq = wavefield(grid, space_order, "du"), wavefield(grid, space_order, "dq")
    rec = sparse(grid, "rec")
    media = (grid, space_order, horizontal, coupling, axis)
    scratch, (rhs_p, rhs_q) = stiffness(p, q, ("u", "q"), *media)
    scratch_d, (rhs_dp, rhs_dq) = stiffness(dp, dq, ("du", "dq"), *media)
    eqs = mass.equations + scratch + scratch_d
    eqs += [time_step(p, mass, rhs_p, True), time_step(q, mass, rhs_q, True)]
    eqs += point_sources(grid, [p, q], mass)
    eqs += [time_step(dp, mass, rhs_dp, True, -dm * p.dt2),
            time_step(dq, mass, rhs_dq, True, -dm * q.dt2)]
    for field in (p, q, dp, dq):
        eqs += free_surface(field, True, surface)
    eqs += rec.interpolate(expr=dp)
    return Operator(eqs, name="born", **target)


def adjoint_operator(grid, space_order, surface, image, sources, extended, fields=("m",),
                     **target):
    """The transpose of the forward recursion: receiver data injected into ``v`` (the
    adjoint of ``p``) backwards in time, with ``w`` the adjoint of ``q``; ``A`` acts before
    the derivatives. Optional outputs as for acoustics: ``grad_m`` (``image``, from
    ``usave``/``qsave`` or the recomputed ``u``/``q``), ``srcadj`` and ``wadj``."""
    mass, horizontal, coupling, axis = _media(grid, space_order)
    v, w = wavefield(grid, space_order, "v"), wavefield(grid, space_order, "w")
    rec = sparse(grid, "rec")
    first = horizontal * v + coupling * w
    second = coupling * v + w
    along_first, hv_first = axis_derivative(first, "v", grid, space_order, axis)
    along_second, hv_second = axis_derivative(second, "w", grid, space_order, axis)
    eqs = mass.equations + along_first + along_second
    eqs += [time_step(v, mass, first.laplace - hv_first, False),
            time_step(w, mass, hv_second, False)]
    eqs += rec.inject(field=v.backward, expr=rec * mass.inverse)
    eqs += free_surface(v, False, surface) + free_surface(w, False, surface)
    if image and "m" in fields:
        p, q = stored_fields(grid, ("u", "q")) if image == "stored" else \
            (wavefield(grid, space_order, "u"), wavefield(grid, space_order, "q"))
        eqs += [Inc(parameter(grid, space_order, "grad_m"), -(p * v.dt2 + q * w.dt2))]
    if sources:
        eqs += sparse(grid, "srcadj").interpolate(expr=v + w)
    if extended:
        eqs += [Inc(parameter(grid, space_order, "wadj"), trace(grid, "wavelet") * (v + w))]
    return Operator(eqs, name="adjoint", **target)


class TTI(SquaredSlowness, WaveEquation):
    """Pseudo-acoustic TTI; parameters ``vp`` (m/s, along the symmetry axis),
    ``epsilon``, ``delta`` (dimensionless), ``theta`` (rad, tilt from the vertical) and in
    3-D ``phi`` (rad, azimuth from x). Linearised in ``vp`` only."""

    name = "tti"
    stored = ("u", "q")
    forward_operator = staticmethod(forward_operator)
    born_operator = staticmethod(born_operator)
    adjoint_operator = staticmethod(adjoint_operator)

    @property
    def parameters(self):
        return (VP, EPSILON, DELTA, THETA) + ((PHI,) if self.ndim == 3 else ())

    @property
    def fixed(self):
        return self.names[1:]

    def reach(self, space_order):
        return space_order  # D^T D: two first derivatives of half-width space_order / 2

    def axis(self, model):
        """The unit symmetry axis ``(n_x, [n_y,] n_z)`` of a model (physical grid)."""
        theta = np.asarray(model["theta"], np.float64)
        if self.ndim == 2:
            return np.sin(theta), np.cos(theta)
        phi = np.asarray(model["phi"], np.float64)
        return np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)

    def media(self, model, padding, spacing, frequency):
        *horizontal_axis, vertical_axis = self.axis(model)
        media = {"m": self._pad(padding, self.to_kernel("vp", model["vp"]), "vp"),
                 "horizontal": padding.pad(1.0 + 2.0 * model["epsilon"], mirror=True),
                 "coupling": padding.pad(np.sqrt(1.0 + 2.0 * model["delta"]), mirror=True)}
        # Mirrored so that the reflection about a free surface maps D to -D.
        for i, component in enumerate(horizontal_axis):
            media[f"axis{i}"] = padding.pad(component, mirror="odd")
        media[f"axis{self.ndim - 1}"] = padding.pad(vertical_axis, mirror=True)
        return {k: v.astype(np.float32) for k, v in media.items()}

    def check(self, model, space_order):
        gap = np.asarray(model["epsilon"], np.float64) - model["delta"]
        if gap.min() < 0:
            where = np.unravel_index(np.argmin(gap), gap.shape)
            raise ValueError(
                f"epsilon < delta (by {-gap.min():.3g} at cell {tuple(map(int, where))}): "
                f"the pseudo-acoustic TTI system is unstable there; use epsilon >= delta "
                f"(see keras_seismic.physics.tti)")

    def speeds(self, model):
        vp = np.asarray(model["vp"], np.float64)
        across = vp * np.sqrt(1.0 + 2.0 * np.asarray(model["epsilon"], np.float64))
        return float(np.minimum(vp, across).min()), float(np.maximum(vp, across).max())

    def stability(self, model, space_order):
        # The propagator sizes the step for max(vp); the fastest direction is faster.
        return float(np.max(model["vp"]) / self.speeds(model)[1])
