"""What several test files share: a small heterogeneous problem and the dot test.

Every random draw here comes from the generator ``RNG``, which conftest.py seeds afresh
for each test, or from a generator seeded by the caller: no test's numbers depend on
which tests ran before it.
"""
import numpy as np
from scipy import ndimage

import keras_seismic as ks

RNG = np.random.default_rng()  # seeded for each test by conftest.py

# (ndim, free_surface) of the dot tests.
CASES = [(2, False), (2, True), (3, False), (3, True)]


def small_problem(ndim=2, free_surface=False, storage="full", space_order=8, nshots=2,
                  nsrc=1, seed=0, physics="acoustic"):
    """A heterogeneous model on a small grid, with ``nshots`` shots of ``nsrc`` sources;
    the velocity is drawn from its own generator of ``seed``. With a ``physics`` other
    than "acoustic", the propagator is a ``ks.Propagator`` of it."""
    shape = (40, 30) if ndim == 2 else (20, 18, 16)
    grid = ks.Grid(shape, (10.0,) * ndim)
    nt, dt = 201 if ndim == 2 else 121, 0.002
    ext = grid.extent
    src = np.array([[[ext[0] * (0.3 + 0.4 * s) + 13.0 * j] + [e / 2 for e in ext[1:-1]]
                     + [25.0 + 5 * j] for j in range(nsrc)] for s in range(nshots)])
    rec = np.array([[x] + [e / 3 for e in ext[1:-1]] + [15.0]
                    for x in np.linspace(5.0, ext[0] - 5.0, 12)])
    wavelet = np.stack([[ks.ricker(15.0 + j, dt, nt, delay=0.08) for j in range(nsrc)]
                        for _ in range(nshots)])
    survey = ks.Survey(src if nsrc > 1 else src[:, 0], rec, dt, nt, wavelet)
    options = dict(space_order=space_order, absorbing_width=10, free_surface=free_surface,
                   storage=storage)
    prop = ks.AcousticPropagator(grid, survey, **options) if physics == "acoustic" else \
        ks.Propagator(grid, survey, physics=physics, **options)
    rng = np.random.default_rng(seed)
    vp = 2000.0 + 600.0 * ndimage.gaussian_filter(rng.random(shape), 2)
    return prop, vp.astype(np.float32)


def random_density(shape, seed=1):
    """A smooth random density (kg/m^3) from 1500 to about 2500, from its own generator."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.random(shape), 2)
    field = (field - field.min()) / (field.max() - field.min())
    return (1500.0 + 1000.0 * field).astype(np.float32)


def _smooth(shape, seed):
    """A smooth random field from 0 to 1, from its own generator."""
    field = ndimage.gaussian_filter(np.random.default_rng(seed).random(shape), 3)
    return (field - field.min()) / (field.max() - field.min())


def tti_fields(shape, seed=2):
    """Smooth random anisotropy: epsilon 0.1 to 0.3, delta half of it, a tilt from -40 to
    40 degrees (and any azimuth in 3-D)."""
    epsilon = 0.1 + 0.2 * _smooth(shape, seed)
    fields = {"epsilon": epsilon, "delta": 0.5 * epsilon,
              "theta": np.deg2rad(80.0) * (_smooth(shape, seed + 1) - 0.5)}
    if len(shape) == 3:
        fields["phi"] = np.pi * _smooth(shape, seed + 2)
    return {k: v.astype(np.float32) for k, v in fields.items()}


def visco_fields(shape, seed=2):
    """A smooth random quality factor from 20 to 100."""
    return {"qp": (20.0 + 80.0 * _smooth(shape, seed)).astype(np.float32)}


def misfit(prop, model, observed):
    return 0.5 * np.sum((prop.forward(model).astype(np.float64) - observed) ** 2)


def assert_taylor(prop, model, true, field):
    """Taylor test of the gradient of the L2 misfit with respect to ``field``, in a
    direction towards ``true``: first-order remainders halve, second-order ones quarter.
    Returns the gradient (a dict)."""
    observed = prop.forward(true)
    grad = prop.born_adjoint(model, prop.forward(model) - observed)
    grad = grad if isinstance(grad, dict) else {prop.parameters[0]: grad}
    direction = (0.1 * ndimage.gaussian_filter(true[field] - model[field], 2.0)
                 ).astype(np.float32)
    f0 = misfit(prop, model, observed)
    first, second = [], []
    for h in (1.0, 0.5, 0.25):
        fh = misfit(prop, dict(model, **{field: model[field] + h * direction}), observed)
        first.append(abs(fh - f0))
        second.append(abs(fh - f0 - h * dot(grad[field], direction)))
    first, second = np.array(first), np.array(second)
    assert np.all(np.isclose(first[:-1] / first[1:], 2.0, rtol=0.25)), first
    assert np.all(second[:-1] / second[1:] > 3.5), second
    return grad


def smooth_random(shape, scale=1.0):
    return (scale * ndimage.gaussian_filter(RNG.standard_normal(shape), 1.5)).astype(
        np.float32)


def relative_mismatch(a, b):
    return abs(a - b) / max(abs(a), abs(b))


def dot(a, b):
    return float(np.sum(np.asarray(a, np.float64) * np.asarray(b, np.float64)))


def noisy(modelled):
    """``modelled`` data plus as much random noise: the data of the dot tests. With noise
    alone, <A x, d> sums terms that cancel to a fraction of a percent of their size, and a
    dot test would measure float32 round-off (and OpenMP's summation order) rather than
    the adjoint."""
    noise = RNG.standard_normal(modelled.shape)
    return (modelled + noise * np.linalg.norm(modelled) / np.linalg.norm(noise)).astype(
        np.float32)


def assert_adjoint(x, modelled, adjoint, tol=1e-5):
    """Dot test of an operator ``A`` with ``modelled = A x``: <A x, d> = <x, A^T d> for
    ``d = noisy(modelled)``, ``adjoint(d) = A^T d``."""
    data = noisy(modelled)
    lhs, rhs = dot(modelled, data), dot(x, adjoint(data))
    assert relative_mismatch(lhs, rhs) < tol, (lhs, rhs)


def assert_warned_at(caught, path):
    """Every warning ``caught`` points at ``path``: the file that called the library, not
    the library itself (a ``stacklevel`` one frame short names a line of the library)."""
    assert all(w.filename == path for w in caught), [
        f"{w.filename}:{w.lineno}: {w.message}" for w in caught]
