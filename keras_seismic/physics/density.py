"""Variable-density acoustics: ``m u_tt - rho div(b grad u) + eta u_t = q``, with
``m = 1/vp^2`` and the buoyancy ``b = 1/rho``; a constant density gives constant-density
acoustics exactly.

Discretisation. Written for the buoyancy, the equation is symmetric::

    b m u_tt + b eta u_t - S_b u = b q,    S_b = div(b grad .)

and ``S_b`` is discretised as a symmetric matrix, so that the adjoint stays the exact
transpose. It is the centred stencil of the Laplacian, ``f'' = sum_j c_j (f[+j] - 2f +
f[-j]) / h^2``, read as fluxes between points ``j`` cells apart, each weighted by the mean
buoyancy of its two ends::

    (S_b u)[i] = sum_axes sum_j c_j / (2 h^2) [(b[i] + b[i+j]) (u[i+j] - u[i])
                                             - (b[i] + b[i-j]) (u[i] - u[i-j])]

A flux between two points enters both their rows with opposite signs: ``S_b`` is a
weighted graph Laplacian, symmetric for any buoyancy, and with a constant one it is the
constant-density stencil exactly (not the wider square of a staggered first derivative).
The kernels step ``m u_tt + eta u_t - rho S_b u = q`` (the rows divided by ``b``), so the
adjoint injects ``rho`` times the data and multiplies what it returns by ``b``.

Limits. The stencil's weights alternate in sign, so a buoyancy that jumps by a large
factor from cell to cell can make ``S_b`` indefinite, and the run unstable at any time
step. Eigenvalue scans of the 1-D operator (every space order, random, periodic and
two-valued buoyancies) found it definite for density ratios up to 5 between points within
the stencil's reach; :meth:`Density.check` refuses larger ratios. Such a ratio also
stiffens the stencil, by up to ``(1 + r)^2 / (4 r)`` for a ratio ``r``, and the time step
shrinks by the square root of that (:meth:`Density.stability`).

Linearisation. With ``du`` the perturbation of ``u``, a perturbation ``db`` scatters
``rho S_db u - db rho (rho S_b u)`` (using the discrete equation ``m u_tt + eta u_t - q =
rho S_b u``), and its imaging condition is the transpose: the correlation of the adjoint
and forward fields' differences along every flux, minus ``v rho S_b u``.
"""
import numpy as np
from devito import Eq, Inc, Operator

from .acoustic import VP
from .equation import Parameter, WaveEquation
from .fields import (free_surface, inverse_mass, parameter, second_derivative_weights,
                     sparse, stored_field, time_step, trace, wavefield)

RHO = Parameter("rho", "kg/m^3", (0.0, np.inf), 1000.0, "b", "density")
#: The largest ratio of densities within the stencil's reach that the kernels accept.
MAX_CONTRAST = 5.0


def _fluxes(u, b, space_order):
    """The pairs ``(weight * b_edge, du)`` of every flux into a point: for each axis, each
    distance j and each side, the edge buoyancy ``(b + b[+-j]) / 2`` times the stencil
    weight ``c_j / h^2``, and the difference ``u[+-j] - u`` along it."""
    weights = second_derivative_weights(space_order)
    for d in u.space_dimensions:
        for j, c in enumerate(weights, 1):
            for side in (1, -1):
                shift = side * j * d.spacing
                yield c / (2 * d.spacing**2) * (b + b.shift(d, shift)), \
                    u.shift(d, shift) - u


def flux_divergence(u, b, space_order):
    """``S_b u``: the discrete ``div(b grad u)``."""
    return sum(w * du for w, du in _fluxes(u, b, space_order))


def flux_correlation(v, u, space_order):
    """``d<v, S_b u>/db`` pointwise: minus the product of the two fields' differences along
    every flux of a point, with the flux's weight without its buoyancy."""
    weights = second_derivative_weights(space_order)
    total = 0
    for d in u.space_dimensions:
        for j, c in enumerate(weights, 1):
            for side in (1, -1):
                shift = side * j * d.spacing
                total -= c / (2 * d.spacing**2) * (v.shift(d, shift) - v) * \
                    (u.shift(d, shift) - u)
    return total


def _media(grid, space_order):
    return tuple(parameter(grid, space_order, name) for name in ("m", "damp", "b", "rho"))


def forward_operator(grid, space_order, surface, save, extended, **target):
    """Nonlinear modeling with point sources (``src``) or the extended source
    ``weights(x) * wavelet(t)``; records ``rec``; optionally stores ``usave``, with a halo,
    for the density's imaging condition."""
    m, damp, b, rho = _media(grid, space_order)
    u, rec = wavefield(grid, space_order, "u"), sparse(grid, "rec")
    stiffness = rho * flux_divergence(u, b, space_order)
    if extended:
        source = parameter(grid, space_order, "weights") * trace(grid, "wavelet")
        eqs = [time_step(u, m, damp, stiffness, True, source)]
    else:
        src = sparse(grid, "src")
        eqs = [time_step(u, m, damp, stiffness, True)]
        eqs += src.inject(field=u.forward, expr=src * inverse_mass(m, damp))
    eqs += free_surface(u, True, surface)
    eqs += rec.interpolate(expr=u)
    if save:
        eqs += [Eq(stored_field(grid, space_order=space_order), u)]
    return Operator(eqs, name="forward", **target)


def born_operator(grid, space_order, surface, **target):
    """Linearised modeling for perturbations ``dm`` and ``db``: the background field ``u``
    and its perturbation ``du``, advanced together."""
    m, damp, b, rho = _media(grid, space_order)
    dm, db = parameter(grid, space_order, "dm"), parameter(grid, space_order, "db")
    u, du = wavefield(grid, space_order, "u"), wavefield(grid, space_order, "du")
    src, rec = sparse(grid, "src"), sparse(grid, "rec")
    stiffness = rho * flux_divergence(u, b, space_order)
    scattering = -dm * u.dt2 + rho * flux_divergence(u, db, space_order) - \
        db * rho * stiffness
    eqs = [time_step(u, m, damp, stiffness, True)]
    eqs += src.inject(field=u.forward, expr=src * inverse_mass(m, damp))
    eqs += free_surface(u, True, surface)
    eqs += [time_step(du, m, damp, rho * flux_divergence(du, b, space_order), True,
                      scattering)]
    eqs += free_surface(du, True, surface)
    eqs += rec.interpolate(expr=du)
    return Operator(eqs, name="born", **target)


def adjoint_operator(grid, space_order, surface, image, sources, extended,
                     fields=("m", "b"), **target):
    """Adjoint modeling: ``rho`` times the receiver data injected backwards in time.
    Optional outputs: the images ``grad_m`` and ``grad_b`` of ``fields`` (``image``: the
    forward field from the store, ``"stored"``, or recomputed, ``"wavefield"``), the field
    at the sources (``srcadj``) and its correlation with the extended source's wavelet
    (``wadj``), each times ``b``."""
    m, damp, b, rho = _media(grid, space_order)
    v, rec = wavefield(grid, space_order, "v"), sparse(grid, "rec")
    eqs = [time_step(v, m, damp, rho * flux_divergence(v, b, space_order), False)]
    eqs += rec.inject(field=v.backward, expr=rec * rho * inverse_mass(m, damp))
    eqs += free_surface(v, False, surface)
    if image:
        u = stored_field(grid, space_order=space_order) if image == "stored" else \
            wavefield(grid, space_order, "u")
        if "m" in fields:
            eqs += [Inc(parameter(grid, space_order, "grad_m"), -b * u * v.dt2)]
        if "b" in fields:
            # Above a free surface v holds the mirror image of the field below, not the
            # adjoint of an equation: only the rows that are solved take part.
            solved = v if surface is None else v * parameter(grid, space_order, "solved")
            eqs += [Inc(parameter(grid, space_order, "grad_b"),
                        flux_correlation(solved, u, space_order)
                        - solved * rho * flux_divergence(u, b, space_order))]
    if sources:
        eqs += sparse(grid, "srcadj").interpolate(expr=v * b)
    if extended:
        eqs += [Inc(parameter(grid, space_order, "wadj"), trace(grid, "wavelet") * v * b)]
    return Operator(eqs, name="adjoint", **target)


class Density(WaveEquation):
    """Variable-density acoustics; parameters ``vp`` (m/s) and ``rho`` (kg/m^3)."""

    name = "acoustic-density"
    parameters = (VP, RHO)
    stored_halo = True
    forward_operator = staticmethod(forward_operator)
    born_operator = staticmethod(born_operator)
    adjoint_operator = staticmethod(adjoint_operator)

    def to_kernel(self, name, value):
        value = np.asarray(value, np.float32)
        return 1.0 / value**2 if name == "vp" else 1.0 / value

    def derivative(self, name, value):
        value = np.asarray(value, np.float64)
        return -2.0 / value**3 if name == "vp" else -1.0 / value**2

    def mirrored(self, name):
        return name == "rho"  # the fluxes read the buoyancy across a free surface

    def media(self, model, padding):
        media = super().media(model, padding)
        media["rho"] = self._pad(padding, np.asarray(model["rho"], np.float32), "rho")
        if padding.free_surface:  # 1 where the equation is solved, 0 above the surface
            media["solved"] = np.ones(padding.padded_shape, np.float32)
            media["solved"][..., :padding.surface_index + 1] = 0.0
        return media

    def contrast(self, rho, space_order):
        """The largest ratio of two densities at most ``space_order / 2`` cells apart
        along an axis."""
        rho = np.asarray(rho, np.float64)
        worst = 1.0
        for axis in range(rho.ndim):
            for j in range(1, min(space_order // 2, rho.shape[axis] - 1) + 1):
                a = np.take(rho, range(j, rho.shape[axis]), axis=axis)
                c = np.take(rho, range(rho.shape[axis] - j), axis=axis)
                worst = max(worst, float(np.max(np.maximum(a / c, c / a))))
        return worst

    def check(self, model, space_order):
        ratio = self.contrast(model["rho"], space_order)
        if ratio > MAX_CONTRAST:
            raise ValueError(
                f"rho changes by a factor of {ratio:.3g} within {space_order // 2} cells; "
                f"the variable-density stencil is stable for factors up to "
                f"{MAX_CONTRAST:g} (see keras_seismic.physics.density): smooth the density "
                f"or refine the grid")

    def stability(self, model, space_order):
        ratio = self.contrast(model["rho"], space_order)
        return float(np.sqrt(4.0 * ratio / (1.0 + ratio) ** 2))
