"""The Devito symbols every wave equation's kernels are made of: wavefields, parameter
fields, sparse points, the stored copy of the forward field, the free surface and the
source scaling. Operators find their run-time arguments by these names, so every physics
uses them.

Conventions shared by all kernels (``N`` internal steps, time index ``t``):

* forward: iteration ``t`` computes ``u[t+1]``, injects source sample ``t`` into it and
  records ``u[t]`` at the receivers;
* adjoint: iteration ``t`` computes ``v[t-1]``; ``v[t]`` then holds the adjoint variable of
  the equation that computed ``u[t+1]``, so the imaging conditions pair it with the
  forward field ``u[t]``, and a subsampled ``u`` is read at stored steps only.
"""
import functools
import math

import numpy as np
from scipy import ndimage
from devito import ConditionalDimension, Eq, Function, SparseTimeFunction, TimeFunction

# Name of the subsampled time dimension of the stored field; its run-time factor is
# passed as ``SAVE_DIM + "f"``.
SAVE_DIM = "tsave"


def second_derivative_weights(space_order):
    """Weights ``c_j`` (j = 1 .. space_order/2) of the centred second derivative of
    ``space_order`` on a unit grid: ``f'' = sum_j c_j (f[+j] - 2 f + f[-j])``."""
    k = space_order // 2
    j = np.arange(1, k + 1)
    fact = np.vectorize(math.factorial)
    return 2.0 * (-1.0) ** (j + 1) * math.factorial(k) ** 2 / (
        j**2 * fact(k - j) * fact(k + j))


def laplacian(field, spacing, space_order, mode):
    """The centred Laplacian of ``space_order`` of a padded field, in numpy (float64), as a
    kernel's ``f.laplace`` computes it when the field's halo holds ``np.pad(field,
    mode=mode)`` ("edge" for a medium, "constant", i.e. zeros, for a perturbation)."""
    weights = second_derivative_weights(space_order)
    taps = np.concatenate([weights[::-1], [-2.0 * weights.sum()], weights])
    boundary = {"edge": "nearest", "constant": "constant"}[mode]
    field = np.asarray(field, np.float64)
    return sum(ndimage.correlate1d(field, taps / h**2, axis=axis, mode=boundary)
               for axis, h in enumerate(spacing))


def stencil_sum(space_order):
    """Largest eigenvalue of the 1-D centred second-derivative stencil of ``space_order``
    on a unit grid (its symbol at the Nyquist wavenumber); sets the CFL limit."""
    weights = second_derivative_weights(space_order)
    j = np.arange(1, len(weights) + 1)
    return float(abs(-2.0 * weights.sum() + 2.0 * np.sum(weights * (-1.0) ** j)))


def wavefield(grid, space_order, name, time_order=2):
    """A field of the solution: a wavefield (``time_order=2``), a memory variable (1), or
    a scratch field a time step computes and reads (0). The solver allocates every one an
    operator uses and is not given, zeroed: they are never inputs."""
    return TimeFunction(name=name, grid=grid, time_order=time_order,
                        space_order=space_order)


def parameter(grid, space_order, name):
    """A field that is read (``m``, ``damp``, ``dm``, ``weights``) or accumulated into
    (``grad_m``, ``wadj``). Every one has a halo as wide as the stencil, because stencils
    and sparse points read parameters around a point."""
    return Function(name=name, grid=grid, space_order=space_order)


def sparse(grid, name, npoint=1, nt=2):
    return SparseTimeFunction(name=name, grid=grid, npoint=npoint, nt=nt)


def trace(grid, name, nt=2):
    """A function of time alone, such as the extended source's wavelet."""
    return Function(name=name, dimensions=(grid.time_dim,), shape=(nt,))


def stored_fields(grid, names=("u",), nsave=2, factor=4, space_order=0):
    """Subsampled copies of forward wavefields, ``usave[t // f] = u[t]`` where ``t % f ==
    0``, one for each name (``"u"`` gives ``usave``), on one subsampled time dimension;
    ``f`` is the run-time argument ``tsavef``, so changing it never recompiles (Devito
    checks sizes against the ``factor`` of the fields passed at run time). An imaging
    condition that takes spatial differences of them needs a halo (``space_order``)."""
    tsave = ConditionalDimension(SAVE_DIM, parent=grid.time_dim, factor=factor)
    return tuple(TimeFunction(name=name + "save", grid=grid, time_order=0,
                              space_order=space_order, save=nsave, time_dim=tsave)
                 for name in names)


def stored_field(grid, space_order=0):
    """The subsampled copy ``usave`` of the one forward wavefield ``u``."""
    return stored_fields(grid, space_order=space_order)[0]


def point_sources(grid, fields, mass):
    """The equations that inject the point sources ``src`` into the next time level of
    each of ``fields``, scaled as a source term of the equation is."""
    src = sparse(grid, "src")
    return [src.inject(field=f.forward, expr=src * mass.inverse) for f in fields]


def sources(grid, space_order, extended):
    """What a forward run fires, ``(term, inject)``: the source term of its equation (the
    extended source ``weights(x) * wavelet(t)``, else 0), and ``inject(fields, mass)``,
    the point sources' equations (none for an extended source)."""
    if extended:
        return parameter(grid, space_order, "weights") * trace(grid, "wavelet"), \
            lambda fields, mass: []
    return 0, functools.partial(point_sources, grid)


class Mass:
    """The time derivatives' coefficients of ``m u_tt + eta u_t``: the squared slowness
    ``m`` and the absorbing layer's damping ``eta`` (``damp``), read by the kernels as

    * ``inverse = 1 / (m/dt^2 + eta/(2 dt))``, which turns a right-hand side into an
      update of the field (so injections match the in-equation source term), and
    * ``lag = (m/dt^2 - eta/(2 dt)) * inverse``, the weight of the previous step.

    ``equations`` computes both once a run, in a loop before the time loop (``dt`` is a
    run-time argument), so that the step itself needs no division.
    """

    #: Names of the fields that hold the coefficients; the solver allocates them.
    COEFFICIENTS = ("rmass", "lag")

    def __init__(self, grid, space_order):
        self.m, self.damp = (parameter(grid, space_order, name) for name in ("m", "damp"))
        self.inverse, self.lag = (parameter(grid, space_order, name)
                                  for name in Mass.COEFFICIENTS)

    @property
    def equations(self):
        dt = self.m.grid.stepping_dim.spacing
        mass, friction = self.m / dt**2, self.damp / (2 * dt)
        return [Eq(self.inverse, 1 / (mass + friction)),
                Eq(self.lag, (mass - friction) * self.inverse)]


def free_surface(u, forward, surface):
    """Pressure-free top: ``u = 0`` on the surface row and ``u(-z) = -u(z)`` in the mirror
    rows above it, so that the stencil seen by the interior stays symmetric."""
    if surface is None:
        return []
    t = u.grid.stepping_dim
    *horizontal, z = u.dimensions[1:]
    step = t + 1 if forward else t - 1
    row = lambda k: u[(step, *horizontal, k)]  # noqa: E731
    return [Eq(row(surface), 0)] + [Eq(row(surface - k), -row(surface + k))
                                   for k in range(1, surface + 1)]


def time_step(u, mass, stiffness, forward, source=0, scaled=0):
    """One explicit step of ``m u_tt + eta u_t - stiffness = source``, forward or (for the
    adjoint) backward in time, where ``stiffness`` is the physics' spatial operator applied
    to ``u`` and ``mass`` the run's :class:`Mass`; ``scaled`` is any part of the right-hand
    side given already times ``inverse`` (a physics that folds its own coefficients into
    it, to read fewer fields a step). With ``u_tt`` and ``u_t`` centred in time, the step
    is::

        (m/dt^2 + eta/(2 dt)) u[next] = stiffness + source + 2 m/dt^2 u
                                        - (m/dt^2 - eta/(2 dt)) u[previous]

    computed as ``u[next] = u + lag (u - u[previous]) + inverse (stiffness + source) +
    scaled``. The damping term flips sign backward in time, so that the backward step is the exact
    transpose of the forward one (which needs ``u_t`` centred: Devito's ``u.dt`` is
    one-sided). Written out rather than left to sympy's ``solve``, which takes seconds on
    a long stencil."""
    target, previous = (u.forward, u.backward) if forward else (u.backward, u.forward)
    return Eq(target, u + mass.lag * (u - previous) + mass.inverse * (stiffness + source)
              + scaled)
