"""Constant-density acoustics: ``m u_tt - lap(u) + eta u_t = q``, ``m = 1/vp^2``.

One shot on the padded grid and the internal time step ``dt`` is the recursion::

    a u[n+1] - B u[n] + C u[n-1] = q[n]
    a = m/dt^2 + eta/(2 dt),  B = 2 m/dt^2 + L,  C = m/dt^2 - eta/(2 dt)

with ``L`` the symmetric centred Laplacian and ``eta`` the damping of the absorbing layer.
Every block is symmetric, so the adjoint is the same recursion run backwards in time; the
operators here are exact transposes of each other (see fields.py for the time indexing).
"""
import numpy as np
from devito import Eq, Inc, Operator

from .equation import Parameter, WaveEquation
from .fields import (Mass, free_surface, parameter, point_sources, sources, sparse,
                     stored_field, time_step, trace, wavefield)

VP = Parameter("vp", "m/s", (0.0, np.inf), 2000.0, "m", "P-wave velocity")


def forward_operator(grid, space_order, surface, save, extended, **target):
    """Nonlinear modeling with point sources (``src``) or, if ``extended``, the distributed
    source ``weights(x) * wavelet(t)``; records ``rec``; optionally stores ``usave``."""
    mass = Mass(grid, space_order)
    u, rec = wavefield(grid, space_order, "u"), sparse(grid, "rec")
    source, inject = sources(grid, space_order, extended)
    eqs = mass.equations + [time_step(u, mass, u.laplace, True, source)] + inject([u], mass)
    eqs += free_surface(u, True, surface)
    eqs += rec.interpolate(expr=u)
    if save:
        eqs += [Eq(stored_field(grid), u)]
    return Operator(eqs, name="forward", **target)


def born_operator(grid, space_order, surface, **target):
    """Linearised (Born) modeling: the background field ``u`` and its first-order
    perturbation ``du`` for a squared-slowness perturbation ``dm``, advanced together; the
    scattering source ``-dm * u_tt`` uses the same discrete second derivative as the
    forward scheme, so ``du`` is the exact derivative of the discrete forward."""
    mass, dm = Mass(grid, space_order), parameter(grid, space_order, "dm")
    u, du = wavefield(grid, space_order, "u"), wavefield(grid, space_order, "du")
    rec = sparse(grid, "rec")
    eqs = mass.equations + [time_step(u, mass, u.laplace, True)]
    eqs += point_sources(grid, [u], mass)
    eqs += free_surface(u, True, surface)
    eqs += [time_step(du, mass, du.laplace, True, -dm * u.dt2)]
    eqs += free_surface(du, True, surface)
    eqs += rec.interpolate(expr=du)
    return Operator(eqs, name="born", **target)


def adjoint_operator(grid, space_order, surface, image, sources, extended, fields=("m",),
                     **target):
    """Adjoint modeling: receiver data ``rec`` injected backwards in time. Optional outputs:
    ``grad_m`` (``image``), the imaging condition ``-sum_t u[t] * v_tt`` = d(misfit)/dm,
    with the forward field read from the subsampled store ``usave`` (``image="stored"``)
    or from the live forward field ``u`` that checkpointing recomputes
    (``image="wavefield"``); ``srcadj`` (``sources``), the field at the source positions;
    ``wadj`` (``extended``), the field correlated with the extended source's wavelet."""
    mass = Mass(grid, space_order)
    v, rec = wavefield(grid, space_order, "v"), sparse(grid, "rec")
    eqs = mass.equations + [time_step(v, mass, v.laplace, False)]
    eqs += rec.inject(field=v.backward, expr=rec * mass.inverse)
    eqs += free_surface(v, False, surface)
    if image and "m" in fields:
        u = stored_field(grid) if image == "stored" else wavefield(grid, space_order, "u")
        eqs += [Inc(parameter(grid, space_order, "grad_m"), -u * v.dt2)]
    if sources:
        eqs += sparse(grid, "srcadj").interpolate(expr=v)
    if extended:
        eqs += [Inc(parameter(grid, space_order, "wadj"), trace(grid, "wavelet") * v)]
    return Operator(eqs, name="adjoint", **target)


class SquaredSlowness:
    """The kernel field of a physics linearised in ``vp`` alone: ``m = 1/vp^2``."""

    def to_kernel(self, name, value):
        return 1.0 / np.asarray(value, np.float32) ** 2

    def derivative(self, name, value):
        return -2.0 / np.asarray(value, np.float64) ** 3


class Acoustic(SquaredSlowness, WaveEquation):
    """Constant-density acoustics; its one parameter is ``vp`` (m/s)."""

    name = "acoustic"
    parameters = (VP,)
    forward_operator = staticmethod(forward_operator)
    born_operator = staticmethod(born_operator)
    adjoint_operator = staticmethod(adjoint_operator)
