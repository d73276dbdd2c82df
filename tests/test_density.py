"""Variable-density acoustics: the constant-density limit, the reflection coefficient of a
density contrast, exact adjoints and gradients of both fields, and bad models."""
import numpy as np
import pytest

import keras_seismic as ks
from helpers import (CASES, assert_adjoint, assert_taylor, dot, random_density, small_problem,
                     smooth_random)

RNG = np.random.default_rng()  # seeded for each test by conftest.py
PHYSICS = "acoustic-density"


def density_problem(ndim=2, free_surface=False, storage="full"):
    prop, vp = small_problem(ndim, free_surface, storage, physics=PHYSICS)
    return prop, {"vp": vp, "rho": random_density(vp.shape)}


def relative(a, b):
    return float(np.linalg.norm(np.asarray(a, np.float64) - b) / np.linalg.norm(b))


@pytest.mark.parametrize("ndim", [2, 3])
def test_constant_density_is_constant_density_acoustics(ndim):
    """A constant density gives the constant-density data and velocity gradient, to
    float32 round-off: the flux stencil is the Laplacian's stencil."""
    prop, model = density_problem(ndim)
    acoustic, vp = small_problem(ndim)
    model["rho"] = np.full_like(vp, 2300.0)
    data = prop.forward(model)
    expected = acoustic.forward(vp)
    assert np.abs(data - expected).max() < 1e-5 * np.abs(expected).max()
    residual = RNG.standard_normal(data.shape).astype(np.float32)
    grad = prop.born_adjoint(model, residual)["vp"]
    assert relative(grad, acoustic.born_adjoint(vp, residual)) < 1e-5


def _interface_problem():
    """Equal velocities, density 1000 above and 2500 below an interface halfway between
    two grid rows (where the fluxes jump), a source above it and receivers at the source's
    depth, at near-normal (4 degrees) and 45 degrees incidence."""
    h, v, zs, k = 5.0, 2000.0, 100.0, 50
    z_interface = (k + 0.5) * h
    grid = ks.Grid((161, 101), (h, h))
    dt, nt = 0.001, 451
    offsets = np.array([20.0, 2 * (z_interface - zs)])  # tan(angle) = offset / 2 / depth
    rec = [[400.0 + x, zs] for x in offsets]
    survey = ks.Survey([[400.0, zs]], rec, dt, nt, ks.ricker(15.0, dt, nt))
    prop = ks.Propagator(grid, survey, physics=PHYSICS, absorbing_width=40)
    vp = np.full(grid.shape, v, np.float32)
    rho = np.full(grid.shape, 1000.0, np.float32)
    layered = rho.copy()
    layered[:, k + 1:] = 2500.0
    mirror = ks.Survey([[400.0, 2 * z_interface - zs]], rec, dt, nt, survey.wavelet[0])
    image = ks.Propagator(grid, mirror, physics=PHYSICS, absorbing_width=40)
    return prop, image, vp, rho, layered


def test_density_interface_reflects_the_impedance_contrast_at_every_angle():
    """With equal velocities R = (rho2 - rho1) / (rho2 + rho1) at every angle, so the
    reflected field is R times the field of the mirrored (image) source."""
    prop, image, vp, rho, layered = _interface_problem()
    expected = (2500.0 - 1000.0) / (2500.0 + 1000.0)
    reflected = prop.forward({"vp": vp, "rho": layered})[0] - \
        prop.forward({"vp": vp, "rho": rho})[0]
    mirrored = image.forward({"vp": vp, "rho": rho})[0]
    for trace in range(2):
        r, m = reflected[:, trace].astype(np.float64), mirrored[:, trace]
        amplitude = dot(r, m) / dot(m, m)
        assert abs(amplitude / expected - 1) < 0.05, (trace, amplitude, expected)
        assert np.linalg.norm(r - amplitude * m) < 0.1 * np.linalg.norm(r)


@pytest.mark.parametrize("ndim,free_surface", CASES)
def test_born_dot_test_for_each_field_and_both(ndim, free_surface):
    prop, model = density_problem(ndim, free_surface)
    state_model = dict(model)
    scales = {"vp": 30.0, "rho": 30.0}
    for fields in (("vp",), ("rho",), ("vp", "rho")):
        dmodel = {k: smooth_random(prop.grid.shape, scales[k]) for k in fields}

        def adjoint(data):
            grads = prop.born_adjoint(state_model, data)
            return np.concatenate([grads[k].ravel() for k in fields])

        x = np.concatenate([dmodel[k].ravel() for k in fields])
        assert_adjoint(x, prop.born(model, dmodel), adjoint, tol=1e-4)


@pytest.mark.parametrize("ndim,free_surface", CASES)
def test_extended_source_dot_test(ndim, free_surface):
    prop, model = density_problem(ndim, free_surface)
    weights = RNG.standard_normal((prop.nshots, *prop.grid.shape)).astype(np.float32)
    assert_adjoint(weights, prop.extended_forward(model, weights),
                   lambda data: prop.extended_adjoint(model, data), tol=1e-4)


def test_wavelet_adjoint_dot_test():
    """Forward modeling is linear in the wavelets; the adjoint's source values carry the
    buoyancy."""
    prop, model = density_problem(free_surface=True)
    wavelet = RNG.standard_normal((prop.nshots, 1, prop.survey.nt)).astype(np.float32)
    assert_adjoint(wavelet, prop.forward(model, wavelet=wavelet),
                   lambda data: prop.wavelet_adjoint(model, data), tol=1e-4)


@pytest.mark.parametrize("field", ["vp", "rho"])
def test_taylor_gradient(field):
    prop, model = density_problem()
    true = {k: v.copy() for k, v in model.items()}
    true[field][15:25, 10:20] += 200.0
    grad = assert_taylor(prop, model, true, field)
    assert np.abs(grad["rho"]).max() > 0 and np.abs(grad["vp"]).max() > 0


def test_every_storage_mode_gives_the_gradients():
    """Checkpointing is exact; subsampled storage is close. With a free surface."""
    full, model = density_problem(free_surface=True, storage="full")
    true = {k: v.copy() for k, v in model.items()}
    true["vp"][15:25, 10:20] += 150.0
    true["rho"][20:30, 5:15] += 150.0
    # A residual of the wavelet's band: random noise would alias in subsampled storage.
    data = full.forward(model) - full.forward(true)
    reference = full.born_adjoint(model, data)
    for storage, tol in (("checkpointing", 1e-5), ("subsampled", 0.05)):
        other, _ = density_problem(free_surface=True, storage=storage)
        grads = other.born_adjoint(model, data)
        for k in ("vp", "rho"):
            assert relative(grads[k], reference[k]) < tol, (storage, k)


@pytest.mark.parametrize("change,match", [
    (lambda m: {"vp": m["vp"]}, "missing 'rho': density in kg/m\\^3, typically 1000"),
    (lambda m: dict(m, eta=m["vp"]), "unknown .*'eta'"),
    (lambda m: m["vp"], "give the model as a dict"),
    (lambda m: dict(m, rho=-m["rho"]), "'rho'.*must be positive"),
    (lambda m: dict(m, rho=0 * m["rho"]), "'rho'.*must be positive"),
    (lambda m: dict(m, rho=m["rho"][:-1]), "'rho'.*shape"),
    (lambda m: dict(m, rho=m["rho"] * np.nan), "'rho'.*NaN"),
    (lambda m: dict(m, rho=np.where(np.arange(40)[:, None] % 2, 1.0, 1000.0) * m["rho"]
                    ), "rho changes by a factor of .* within 4 cells"),
])
def test_bad_models_are_refused(change, match):
    prop, model = density_problem()
    with pytest.raises(ValueError, match=match):
        prop.forward(change(model))
    with pytest.raises(ValueError, match="subset of"):
        prop.born(model, {"eta": model["vp"]})
    with pytest.raises(ValueError, match="subset of"):
        prop.born_adjoint(model, np.zeros((2, *prop.data_shape), np.float32),
                          fields=("vp", "eta"))


def test_unknown_physics_is_refused():
    prop, _ = small_problem()
    with pytest.raises(ValueError, match="physics must be one of .*acoustic-density"):
        ks.Propagator(prop.grid, prop.survey, physics="elastic")


def test_parameters_and_config_round_trip():
    prop, model = density_problem()
    assert prop.parameters == ("vp", "rho")
    again = ks.propagator.from_config(prop.get_config())
    assert again.physics is prop.physics and again.parameters == prop.parameters
    assert "physics" not in small_problem()[0].get_config()  # acoustic configs unchanged
