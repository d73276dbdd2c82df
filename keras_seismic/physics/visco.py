"""Visco-acoustics: constant-density acoustics with a standard linear solid (SLS), from
``vp`` and the quality factor ``qp``.

Equations. The modulus relaxes with one SLS mechanism, ``M(w) = (1 + i w tau_e) / (1 + i
w tau_s)`` (relative to the relaxed modulus), carried by a memory variable ``r``::

    m u_tt + eta u_t = k lap(u) + r + source
    r_t = -(r + j lap(u)) / tau_s

with ``m = 1/vp^2``, ``k = (tau_e / tau_s) / g`` and ``j = (tau_e / tau_s - 1) / g``. The
relaxation times put the minimum of ``Q(w) = (1 + w^2 tau_e tau_s) / (w (tau_e - tau_s))``
at the wavelet's peak frequency ``f0``, where it equals ``qp``::

    tau_s = (sqrt(1 + 1/qp^2) - 1/qp) / (2 pi f0)
    tau_e = (sqrt(1 + 1/qp^2) + 1/qp) / (2 pi f0)

Over an octave either side of ``f0`` one mechanism keeps ``Q`` within 25% of ``qp``
(within 14% from ``0.6 f0`` to ``1.5 f0``). The factor ``g = 1 / Re(M(2 pi f0)^-1/2)^2``
makes ``vp`` the phase velocity at ``f0``. A very large ``qp`` gives ``k = 1``, ``j = 0``:
the acoustic wave equation.

Discretisation. ``u`` steps as in acoustics. ``r`` lives at half steps and steps by the
trapezoidal rule on its decay, ``r[n+1/2] = a r[n-1/2] - b lap(u[n])`` with ``a = (1 -
dt/(2 tau_s)) / (1 + dt/(2 tau_s))`` and ``b = j (dt / tau_s) / (1 + dt/(2 tau_s))``, and
the step of ``u`` reads its mean ``(r[n-1/2] + r[n+1/2]) / 2``, centred in time (the
decay itself is stable for any step). (Reading ``r[n-1/2]`` alone lags the memory by half
a step, which measured Q 6-8% low.) The time step allows for the unrelaxed speed ``vp sqrt(k)``.

Adjoint. The adjoint kernels step the exact transpose of this recursion, memory variable
included: with ``v`` the adjoint of ``u`` and ``s`` that of ``r``::

    (m/dt^2 + eta/(2 dt)) v[n-1] = lap(k v[n] - b s[n]) + 2 m/dt^2 v[n]
                                   - (m/dt^2 - eta/(2 dt)) v[n+1] + data
    s[n-1] = a s[n] + (v[n] + v[n-1]) / 2

so the dot test holds to rounding with every storage mode and a free surface (``k``, ``b``
and ``a`` are mirrored above the surface, as the transposed Laplacian reads them there).

Linearisation. Born modeling and gradients exist for ``vp`` (``qp`` is held fixed): ``dm``
scatters ``-dm u_tt`` and the imaging condition is ``-sum_t u v_tt``, as in acoustics.
"""
import numpy as np
from devito import Eq, Inc, Operator

from .acoustic import VP, SquaredSlowness
from .equation import Parameter, WaveEquation
from .fields import (Mass, free_surface, parameter, point_sources, sources, sparse,
                     stored_field, time_step, trace, wavefield)

QP = Parameter("qp", "dimensionless", (1.0, np.inf), 100.0, "unrelaxed",
               "P-wave quality factor")


class SolidMass(Mass):
    """The :class:`Mass` and the memory update's coefficients of the run's time step,
    ``a`` (``decay``) and ``b`` (``coupling``), computed from ``j`` and ``1 / tau_s``
    before the time loop rather than at every point and step. Both are read only at a
    point or where the adjoint memory variable, zero in the halo, multiplies them."""

    #: Names of the memory update's coefficient fields; the solver allocates them.
    MEMORY = ("decay", "coupling")

    def __init__(self, grid, space_order):
        super().__init__(grid, space_order)
        names = ("strength", "rate") + self.MEMORY
        self.strength, self.rate, self.decay, self.coupling = (
            parameter(grid, space_order, name) for name in names)

    @property
    def equations(self):
        half = self.m.grid.stepping_dim.spacing * self.rate / 2
        return super().equations + [
            Eq(self.decay, (1 - half) / (1 + half)),
            Eq(self.coupling, self.strength * 2 * half / (1 + half))]


def _media(grid, space_order):
    """The :class:`SolidMass`, ``k``, and the memory update's coefficients."""
    mass = SolidMass(grid, space_order)
    return mass, parameter(grid, space_order, "unrelaxed"), mass.decay, mass.coupling


def _step(u, r, mass, unrelaxed, decay, coupling, forward, source=0):
    """One step of the memory variable (held at half steps), then of the field, which
    reads its mean over the step."""
    lap = u.laplace
    return [Eq(r.forward, decay * r - coupling * lap),
            time_step(u, mass, unrelaxed * lap + (r + r.forward) / 2, forward, source)]


def forward_operator(grid, space_order, surface, save, extended, **target):
    """Nonlinear modeling with point sources (``src``) or, if ``extended``, the distributed
    source ``weights(x) * wavelet(t)``; records ``rec``; optionally stores ``usave``."""
    mass, unrelaxed, decay, coupling = _media(grid, space_order)
    u, r = wavefield(grid, space_order, "u"), wavefield(grid, space_order, "r", 1)
    rec = sparse(grid, "rec")
    source, inject = sources(grid, space_order, extended)
    eqs = mass.equations + _step(u, r, mass, unrelaxed, decay, coupling, True, source)
    eqs += inject([u], mass)
    eqs += free_surface(u, True, surface)
    eqs += rec.interpolate(expr=u)
    if save:
        eqs += [Eq(stored_field(grid), u)]
    return Operator(eqs, name="forward", **target)


def born_operator(grid, space_order, surface, **target):
    """Linearised modeling for a perturbation ``dm``: the background field and memory
    variable and their perturbations, advanced together."""
    mass, unrelaxed, decay, coupling = _media(grid, space_order)
    dm = parameter(grid, space_order, "dm")
    u, r = wavefield(grid, space_order, "u"), wavefield(grid, space_order, "r", 1)
    du, dr = wavefield(grid, space_order, "du"), wavefield(grid, space_order, "dr", 1)
    rec = sparse(grid, "rec")
    eqs = mass.equations + _step(u, r, mass, unrelaxed, decay, coupling, True)
    eqs += point_sources(grid, [u], mass)
    eqs += free_surface(u, True, surface)
    eqs += _step(du, dr, mass, unrelaxed, decay, coupling, True, -dm * u.dt2)
    eqs += free_surface(du, True, surface)
    eqs += rec.interpolate(expr=du)
    return Operator(eqs, name="born", **target)


def adjoint_operator(grid, space_order, surface, image, sources, extended, fields=("m",),
                     **target):
    """The transpose of the forward recursion, memory variable included (see the module's
    docstring). Optional outputs as for acoustics: ``grad_m`` (``image``), ``srcadj`` and
    ``wadj``."""
    mass, unrelaxed, decay, coupling = _media(grid, space_order)
    v, s = wavefield(grid, space_order, "v"), wavefield(grid, space_order, "s", 1)
    rec = sparse(grid, "rec")
    eqs = mass.equations + [
        time_step(v, mass, (unrelaxed * v - coupling * s).laplace, False)]
    eqs += rec.inject(field=v.backward, expr=rec * mass.inverse)
    eqs += free_surface(v, False, surface)
    # Last: it reads the new v, data and surface included.
    eqs += [Eq(s.backward, decay * s + (v + v.backward) / 2)]
    if image and "m" in fields:
        u = stored_field(grid) if image == "stored" else wavefield(grid, space_order, "u")
        eqs += [Inc(parameter(grid, space_order, "grad_m"), -u * v.dt2)]
    if sources:
        eqs += sparse(grid, "srcadj").interpolate(expr=v)
    if extended:
        eqs += [Inc(parameter(grid, space_order, "wadj"), trace(grid, "wavelet") * v)]
    return Operator(eqs, name="adjoint", **target)


def relaxation(qp, frequency):
    """``(k, j, 1 / tau_s)`` of quality factors ``qp`` (float64 arrays) at ``frequency``
    (Hz): see the module's docstring. In real arithmetic (complex powers cost 5 ms on
    401 x 201 cells, three times a call): with ``a = w tau_s`` and ``b = w tau_e``, for
    which ``a b = 1``, ``M^-1/2`` is the root of ``z = (1 + i a) / (1 + i b)``, whose real
    part is ``sqrt((|z| + Re z) / 2)``, with ``|z|^2 = (1 + a^2) / (1 + b^2)`` and
    ``Re z = 2 / (1 + b^2)``."""
    inverse = 1.0 / np.asarray(qp, np.float64)
    root = np.sqrt(1.0 + inverse**2)
    a, b = root - inverse, root + inverse
    size = np.sqrt((1.0 + a**2) / (1.0 + b**2))
    g = 2.0 / (size + 2.0 / (1.0 + b**2))   # 1 / Re(M^-1/2)^2
    ratio = b / a                           # tau_e / tau_s
    return ratio / g, (ratio - 1.0) / g, 2.0 * np.pi * frequency / a


class Visco(SquaredSlowness, WaveEquation):
    """Visco-acoustics with one standard linear solid; parameters ``vp`` (m/s, the phase
    velocity at the wavelet's peak frequency) and ``qp`` (dimensionless). Linearised in
    ``vp`` only."""

    name = "visco-acoustic"
    parameters = (VP, QP)
    fixed = ("qp",)
    coefficients = SolidMass.MEMORY
    forward_operator = staticmethod(forward_operator)
    born_operator = staticmethod(born_operator)
    adjoint_operator = staticmethod(adjoint_operator)

    def media(self, model, padding, spacing, frequency):
        if frequency <= 0:
            raise ValueError("visco-acoustic modeling sets Q at the wavelet's peak "
                             "frequency, but the wavelet is zero")
        unrelaxed, strength, rate = relaxation(model["qp"], frequency)
        media = {"m": self._pad(padding, self.to_kernel("vp", model["vp"]), "vp")}
        # The transposed Laplacian reads them across a free surface: mirrored.
        for name, value in (("unrelaxed", unrelaxed), ("strength", strength),
                            ("rate", rate)):
            media[name] = padding.pad(value, mirror=True).astype(np.float32)
        return media

    def speeds(self, model):
        unrelaxed = relaxation(model["qp"], 1.0)[0]  # k does not depend on the frequency
        vp = np.asarray(model["vp"], np.float64)
        return float(vp.min()), float((vp * np.sqrt(unrelaxed)).max())

    def stability(self, model, space_order):
        return float(np.max(model["vp"]) / self.speeds(model)[1])
