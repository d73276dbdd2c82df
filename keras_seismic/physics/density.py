"""Variable-density acoustics: ``m u_tt - rho div(b grad u) + eta u_t = q``, with
``m = 1/vp^2`` and the buoyancy ``b = 1/rho``; a constant density gives constant-density
acoustics exactly.

Discretisation. Written for the buoyancy, the equation is symmetric::

    b m u_tt + b eta u_t - S u = b q,    S = div(b grad .)

and ``S`` is discretised as a symmetric matrix, so that the adjoint stays the exact
transpose. It is the centred stencil of the Laplacian, ``f'' = sum_j c_j (f[+j] - 2f +
f[-j]) / h^2``, read as fluxes between points ``j`` cells apart, each weighted by the
geometric mean ``s[i] s[i+-j]`` of the buoyancy at its two ends, ``s = sqrt(b)``::

    (S u)[i] = sum_axes sum_j c_j / h^2 [s[i] s[i+j] (u[i+j] - u[i])
                                       + s[i] s[i-j] (u[i-j] - u[i])]
             = s lap(s u) - s lap(s) u

A flux between two points enters both their rows with opposite signs: ``S`` is a weighted
graph Laplacian, symmetric for any buoyancy, and with a constant one it is the
constant-density stencil itself (not the wider square of a staggered first derivative).
The second form costs one Laplacian, of ``s u``, and a product: the kernels step
``m u_tt + eta u_t - (lap(s u) / s - kappa u) = q``, the rows divided by ``b``, with
``kappa = lap(s) / s`` computed once a call. So the adjoint injects ``rho`` times the data
and multiplies what it returns by ``b``. Each operator folds ``1/s`` and ``kappa`` into the
step's inverse mass before its time loop (``weight`` and ``potential``), so that a step
reads two coefficient fields fewer.

Limits. The stencil's weights alternate in sign, so a density that jumps by a large
factor from cell to cell can make ``S`` indefinite, and the run unstable at any time step.
Eigenvalue scans of the 1-D operator (space orders 4 to 16; random, periodic and
two-valued densities) found it definite for density ratios up to 6 between points within
the stencil's reach; :meth:`Density.check` refuses ratios above 5. A ratio ``r`` also
stiffens the stencil, by up to ``(sqrt(r) + 1/sqrt(r)) / 2`` (1.06 for ``r = 2``), and the
time step shrinks by its square root (:meth:`Density.stability`).

Linearisation. A perturbation ``ds`` of ``s`` changes ``S`` by ``ds lap(s u) + s lap(ds u)
- (ds lap(s) + s lap(ds)) u`` and ``b`` by ``2 s ds``; with the discrete equation
``m u_tt + eta u_t - q = rho S u`` it scatters ``(lap(ds u) - lap(ds) u - ds rho S u) / s``.
Its imaging condition is the transpose, ``u lap(s v) - v lap(s u) + s kappa u v -
lap(s u v)`` summed over time. A perturbation of ``m`` scatters ``-dm u_tt``, as in
constant-density acoustics.
"""
import numpy as np
from devito import Eq, Inc, Operator

from .acoustic import VP
from .equation import Parameter, WaveEquation
from .fields import (Mass, free_surface, laplacian, parameter, point_sources, sources,
                     sparse, stored_field, time_step, trace, wavefield)

RHO = Parameter("rho", "kg/m^3", (0.0, np.inf), 1000.0, "s", "density")
#: The largest ratio of densities within the stencil's reach that the kernels accept.
MAX_CONTRAST = 5.0


class FoldedMass(Mass):
    """The :class:`Mass` with the stiffness's coefficients folded in before the time loop:
    ``weight = inverse / s`` and ``potential = inverse * kappa``."""

    #: Names of the folded coefficients' fields; the solver allocates them.
    FOLDED = ("weight", "potential")

    def __init__(self, grid, space_order, rs, kappa):
        super().__init__(grid, space_order)
        self.rs, self.kappa = rs, kappa
        self.weight, self.potential = (parameter(grid, space_order, name)
                                       for name in self.FOLDED)

    @property
    def equations(self):
        return super().equations + [Eq(self.weight, self.inverse * self.rs),
                                    Eq(self.potential, self.inverse * self.kappa)]

    def stiffness(self, u, s):
        """``inverse * rho S u``, for :func:`time_step`'s ``scaled``."""
        return self.weight * (s * u).laplace - self.potential * u


def _media(grid, space_order):
    """The :class:`FoldedMass`, ``s = rho^-1/2``, ``rs = 1/s`` and ``kappa = lap(s) /
    s``."""
    s, rs, kappa = (parameter(grid, space_order, name) for name in ("s", "rs", "kappa"))
    return FoldedMass(grid, space_order, rs, kappa), s, rs, kappa


def stiffness(u, s, rs, kappa):
    """``rho S u = lap(s u) / s - kappa u``: the spatial operator of a row divided by
    ``b``."""
    return rs * (s * u).laplace - kappa * u


def forward_operator(grid, space_order, surface, save, extended, **target):
    """Nonlinear modeling with point sources (``src``) or the extended source
    ``weights(x) * wavelet(t)``; records ``rec``; optionally stores ``usave``, with a halo,
    for the density's imaging condition."""
    mass, s, rs, kappa = _media(grid, space_order)
    u, rec = wavefield(grid, space_order, "u"), sparse(grid, "rec")
    source, inject = sources(grid, space_order, extended)
    eqs = mass.equations + [time_step(u, mass, 0, True, source, mass.stiffness(u, s))]
    eqs += inject([u], mass)
    eqs += free_surface(u, True, surface)
    eqs += rec.interpolate(expr=u)
    if save:
        eqs += [Eq(stored_field(grid, space_order=space_order), u)]
    return Operator(eqs, name="forward", **target)


def born_operator(grid, space_order, surface, **target):
    """Linearised modeling for perturbations ``dm`` and ``ds`` (with ``lap_ds``, the
    Laplacian of ``ds``): the background field ``u`` and its perturbation ``du``, advanced
    together."""
    mass, s, rs, kappa = _media(grid, space_order)
    dm, ds, lap_ds = (parameter(grid, space_order, n) for n in ("dm", "ds", "lap_ds"))
    u, du = wavefield(grid, space_order, "u"), wavefield(grid, space_order, "du")
    rec = sparse(grid, "rec")
    background = stiffness(u, s, rs, kappa)
    scattering = -dm * u.dt2 + rs * ((ds * u).laplace - lap_ds * u - ds * background)
    eqs = mass.equations + [time_step(u, mass, 0, True, scaled=mass.stiffness(u, s))]
    eqs += point_sources(grid, [u], mass)
    eqs += free_surface(u, True, surface)
    eqs += [time_step(du, mass, scattering, True, scaled=mass.stiffness(du, s))]
    eqs += free_surface(du, True, surface)
    eqs += rec.interpolate(expr=du)
    return Operator(eqs, name="born", **target)


def adjoint_operator(grid, space_order, surface, image, sources, extended,
                     fields=("m", "s"), **target):
    """Adjoint modeling: ``rho`` times the receiver data injected backwards in time.
    Optional outputs: the images ``grad_m`` and ``grad_s`` of ``fields`` (``image``: the
    forward field from the store, ``"stored"``, or recomputed, ``"wavefield"``), the field
    at the sources (``srcadj``) and its correlation with the extended source's wavelet
    (``wadj``), each times ``b``."""
    mass, s, rs, kappa = _media(grid, space_order)
    v, rec = wavefield(grid, space_order, "v"), sparse(grid, "rec")
    b = s * s
    eqs = mass.equations + [time_step(v, mass, 0, False, scaled=mass.stiffness(v, s))]
    eqs += rec.inject(field=v.backward, expr=rec * rs * rs * mass.inverse)
    eqs += free_surface(v, False, surface)
    if image:
        u = stored_field(grid, space_order=space_order) if image == "stored" else \
            wavefield(grid, space_order, "u")
        if "m" in fields:
            eqs += [Inc(parameter(grid, space_order, "grad_m"), -b * u * v.dt2)]
        if "s" in fields:
            # Above a free surface v holds the mirror image of the field below, not the
            # adjoint of an equation: only the rows that are solved take part.
            z = v if surface is None else v * parameter(grid, space_order, "solved")
            eqs += _density_image(parameter(grid, space_order, "grad_s"), u, z, s, kappa,
                                  parameter(grid, space_order, "uz") if image == "stored"
                                  else None)
    if sources:
        eqs += sparse(grid, "srcadj").interpolate(expr=v * b)
    if extended:
        eqs += [Inc(parameter(grid, space_order, "wadj"), trace(grid, "wavelet") * v * b)]
    return Operator(eqs, name="adjoint", **target)


def _density_image(grad_s, u, z, s, kappa, uz=None):
    """The equations of the image of ``s``, ``sum_t u lap(s z) - z lap(s u) + s kappa u z
    - lap(s u z)``. Its last two terms are linear in the product ``u z``: given ``uz``, the
    time loop only adds the product up in it, and they are applied once, to the sum, after
    the loop (which saves a Laplacian a stored step). Without it (a forward field that
    checkpointing recomputes, for which the adjoint runs in pieces) every step applies
    them."""
    correlation = u * (s * z).laplace - z * (s * u).laplace
    if uz is None:
        return [Inc(grad_s, correlation + s * kappa * u * z - (s * u * z).laplace)]
    return [Inc(grad_s, correlation), Inc(uz, u * z),
            Inc(grad_s, s * kappa * uz - (s * uz).laplace)]


class Density(WaveEquation):
    """Variable-density acoustics; parameters ``vp`` (m/s) and ``rho`` (kg/m^3)."""

    name = "acoustic-density"
    parameters = (VP, RHO)
    stored_halo = True
    scratch = ("uz",)
    coefficients = FoldedMass.FOLDED
    forward_operator = staticmethod(forward_operator)
    born_operator = staticmethod(born_operator)
    adjoint_operator = staticmethod(adjoint_operator)

    def to_kernel(self, name, value):
        value = np.asarray(value, np.float32)
        return 1.0 / value**2 if name == "vp" else 1.0 / np.sqrt(value)

    def derivative(self, name, value):
        value = np.asarray(value, np.float64)
        return -2.0 / value**3 if name == "vp" else -0.5 / value**1.5

    def mirrored(self, name):
        return name == "rho"  # the fluxes read the buoyancy across a free surface

    def media(self, model, padding, spacing, frequency):
        media = super().media(model, padding, spacing, frequency)
        s = media["s"]
        media["rs"] = (1.0 / s.astype(np.float64)).astype(np.float32)
        # Its halo holds the edge values, as the kernels' s has.
        media["kappa"] = (laplacian(s, spacing, padding.space_order, "edge") / s
                          ).astype(np.float32)
        if padding.free_surface:  # 1 where the equation is solved, 0 above the surface
            media["solved"] = np.ones(padding.padded_shape, np.float32)
            media["solved"][..., :padding.surface_index + 1] = 0.0
        return media

    def perturbation(self, model, dmodel, padding, spacing):
        out = super().perturbation(model, dmodel, padding, spacing)
        # Zero without a density perturbation: the Born kernel reads it in any case. Its
        # halo is zero, as the kernels read the perturbation's.
        ds = out.get("ds", np.zeros(padding.padded_shape, np.float32))
        out["lap_ds"] = laplacian(ds, spacing, padding.space_order,
                                  "constant").astype(np.float32)
        return out

    def contrast(self, rho, space_order):
        """The largest ratio of two densities at most ``space_order / 2`` cells apart
        along an axis."""
        log = np.log(np.asarray(rho, np.float64))
        worst = 0.0
        for axis in range(log.ndim):
            moved = np.moveaxis(log, axis, 0)
            for j in range(1, min(space_order // 2, moved.shape[0] - 1) + 1):
                worst = max(worst, float(np.max(np.abs(moved[j:] - moved[:-j]))))
        return float(np.exp(worst))

    def check(self, model, space_order):
        ratio = self.contrast(model["rho"], space_order)
        if ratio > MAX_CONTRAST:
            raise ValueError(
                f"rho changes by a factor of {ratio:.3g} within {space_order // 2} cells; "
                f"the variable-density stencil is stable for factors up to "
                f"{MAX_CONTRAST:g} (see keras_seismic.physics.density): smooth the density "
                f"or refine the grid")

    def stability(self, model, space_order):
        root = np.sqrt(self.contrast(model["rho"], space_order))
        return float(1.0 / np.sqrt((root + 1.0 / root) / 2.0))
