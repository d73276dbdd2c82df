"""The acoustic wave equation in Devito's language, one short function per operator.

Physics: ``m u_tt - lap(u) + eta u_t = q`` with ``m = 1/vp^2``. Conventions shared by all
operators (``N`` internal steps, time index ``t``):

* forward: iteration ``t`` computes ``u[t+1]``, injects source sample ``t`` into it and
  records ``u[t]`` at the receivers;
* adjoint: iteration ``t`` computes ``v[t-1]``, which holds the adjoint field of physical
  step ``t``; this one-step shift lines ``v.dt2`` at ``t`` up with the forward field
  ``u[t]`` in the imaging condition, so a subsampled ``u`` is read at stored steps only.
"""
from devito import (ConditionalDimension, Eq, Function, Inc, Operator, SparseTimeFunction,
                    TimeFunction, solve)

# Devito names of the symbols every operator shares; workspaces must use the same names.
SAVE_DIM = "tsave"


def _wave_update(u, m, damp, forward, source=0):
    """One explicit step of ``m u_tt - lap(u) + eta u_t = source``, forward or (for the
    adjoint) backward in time; the damping term flips sign so that the backward step is
    the exact transpose of the forward one. The damping term must be centred in time
    (Devito's ``u.dt`` is one-sided) for that transpose to hold."""
    damping = damp * u.dtc if forward else -damp * u.dtc
    pde = m * u.dt2 - u.laplace + damping - source
    target = u.forward if forward else u.backward
    return Eq(target, solve(pde, target))


def _inverse_mass(m, damp):
    """``1 / (m/dt^2 + eta/(2 dt))``: the factor that turns a right-hand side sample into
    an update of the field, used so that injections match the in-equation source term."""
    dt = m.grid.stepping_dim.spacing
    return 1 / (m / dt**2 + damp / (2 * dt))


def _free_surface(u, forward, surface):
    """Pressure-free top: ``u = 0`` on the surface row and ``u(-z) = -u(z)`` in the mirror
    rows above it, so the Laplacian seen by the interior stays symmetric."""
    if surface is None:
        return []
    t = u.grid.stepping_dim
    *horizontal, z = u.dimensions[1:]
    step = t + 1 if forward else t - 1
    row = lambda k: u[(step, *horizontal, k)]  # noqa: E731
    return [Eq(row(surface), 0)] + [Eq(row(surface - k), -row(surface + k))
                                   for k in range(1, surface + 1)]


def stored_field(grid, nsave=2, factor=4):
    """Subsampled copy of the forward field, ``usave[t // f] = u[t]`` where ``t % f == 0``;
    ``f`` is the run-time argument ``tsavef``, so changing it never recompiles (Devito
    checks sizes against the ``factor`` of the field passed at run time)."""
    tsave = ConditionalDimension(SAVE_DIM, parent=grid.time_dim, factor=factor)
    return TimeFunction(name="usave", grid=grid, time_order=0, space_order=0,
                        save=nsave, time_dim=tsave)


def wavefield(grid, space_order, name):
    return TimeFunction(name=name, grid=grid, time_order=2, space_order=space_order)


def parameter(grid, space_order, name):
    """A field that is read (``m``, ``damp``, ``dm``, ``weights``) or accumulated into
    (``grad``, ``wadj``); ``m`` and ``damp`` are read around the sparse points, so they
    need a halo."""
    halo = space_order if name in ("m", "damp") else 0
    return Function(name=name, grid=grid, space_order=halo)


def sparse(grid, name, npoint=1, nt=2):
    return SparseTimeFunction(name=name, grid=grid, npoint=npoint, nt=nt)


def trace(grid, name, nt=2):
    """A function of time alone, such as the extended source's wavelet."""
    return Function(name=name, dimensions=(grid.time_dim,), shape=(nt,))


def forward_operator(grid, space_order, surface, save, extended, **target):
    """Nonlinear modeling with point sources (``src``) or, if ``extended``, the distributed
    source ``weights(x) * wavelet(t)``; records ``rec``; optionally stores ``usave``."""
    m, damp = parameter(grid, space_order, "m"), parameter(grid, space_order, "damp")
    u, rec = wavefield(grid, space_order, "u"), sparse(grid, "rec")
    if extended:
        source = parameter(grid, space_order, "weights") * trace(grid, "wavelet")
        eqs = [_wave_update(u, m, damp, True, source)]
    else:
        src = sparse(grid, "src")
        eqs = [_wave_update(u, m, damp, True)]
        eqs += src.inject(field=u.forward, expr=src * _inverse_mass(m, damp))
    eqs += _free_surface(u, True, surface)
    eqs += rec.interpolate(expr=u)
    if save:
        eqs += [Eq(stored_field(grid), u)]
    return Operator(eqs, name="forward", **target)


def born_operator(grid, space_order, surface, **target):
    """Linearised (Born) modeling: the background field ``u`` and its first-order
    perturbation ``du`` for a slowness-squared perturbation ``dm``, advanced together; the
    scattering source ``-dm * u_tt`` uses the same discrete second derivative as the
    forward scheme, so ``du`` is the exact derivative of the discrete forward."""
    m, damp = parameter(grid, space_order, "m"), parameter(grid, space_order, "damp")
    dm = parameter(grid, space_order, "dm")
    u, du = wavefield(grid, space_order, "u"), wavefield(grid, space_order, "du")
    src, rec = sparse(grid, "src"), sparse(grid, "rec")
    eqs = [_wave_update(u, m, damp, True)]
    eqs += src.inject(field=u.forward, expr=src * _inverse_mass(m, damp))
    eqs += _free_surface(u, True, surface)
    eqs += [_wave_update(du, m, damp, True, -dm * u.dt2)]
    eqs += _free_surface(du, True, surface)
    eqs += rec.interpolate(expr=du)
    return Operator(eqs, name="born", **target)


def adjoint_operator(grid, space_order, surface, image, sources, extended, **target):
    """Adjoint modeling: receiver data ``rec`` injected backwards in time. Optional outputs:
    ``grad`` (``image``), the imaging condition ``-sum_t u[t] * v_tt`` = d(misfit)/dm, with
    the forward field read from the subsampled store ``usave`` (``image="stored"``) or from
    the live forward field ``u`` that checkpointing recomputes (``image="wavefield"``);
    ``srcadj`` (``sources``), the field at the source positions; ``wadj`` (``extended``),
    the field correlated with the extended source's wavelet."""
    m, damp = parameter(grid, space_order, "m"), parameter(grid, space_order, "damp")
    v, rec = wavefield(grid, space_order, "v"), sparse(grid, "rec")
    eqs = [_wave_update(v, m, damp, False)]
    eqs += rec.inject(field=v.backward, expr=rec * _inverse_mass(m, damp))
    eqs += _free_surface(v, False, surface)
    if image:
        u = stored_field(grid) if image == "stored" else wavefield(grid, space_order, "u")
        eqs += [Inc(parameter(grid, space_order, "grad"), -u * v.dt2)]
    if sources:
        eqs += sparse(grid, "srcadj").interpolate(expr=v)
    if extended:
        eqs += [Inc(parameter(grid, space_order, "wadj"), trace(grid, "wavelet") * v)]
    return Operator(eqs, name="adjoint", **target)
