"""The wave-equation core: exact adjoints, gradients, analytic solutions, caching, errors."""
import warnings

import numpy as np
import pytest
from scipy import ndimage

import keras_seismic as ks
from keras_seismic.physics import solver
from analytic import green_2d, green_3d, ricker_function
from helpers import CASES, assert_adjoint, dot, small_problem, smooth_random

RNG = np.random.default_rng()  # seeded for each test by conftest.py


@pytest.mark.parametrize("ndim,free_surface", CASES)
def test_born_adjoint_dot_test(ndim, free_surface):
    prop, vp = small_problem(ndim, free_surface)
    dvp = smooth_random(prop.grid.shape, 30.0)
    assert_adjoint(dvp, prop.born(vp, dvp), lambda data: prop.born_adjoint(vp, data))


@pytest.mark.parametrize("ndim,free_surface", CASES)
def test_extended_source_dot_test(ndim, free_surface):
    prop, vp = small_problem(ndim, free_surface)
    weights = RNG.standard_normal((prop.nshots, *prop.grid.shape)).astype(np.float32)
    assert_adjoint(weights, prop.extended_forward(vp, weights),
                   lambda data: prop.extended_adjoint(vp, data))


@pytest.mark.parametrize("ndim,free_surface", CASES)
def test_forward_adjoint_dot_test(ndim, free_surface):
    """Forward modeling is linear in the wavelets; its adjoint is the wavelet gradient."""
    prop, vp = small_problem(ndim, free_surface, nsrc=2)
    wavelet = RNG.standard_normal((prop.nshots, 2, prop.survey.nt)).astype(np.float32)
    modelled, state = prop.forward_with_state(vp, wavelet=wavelet)
    assert_adjoint(wavelet, modelled,
                   lambda data: prop.gradient(state, data, wavelet=True)[1])


@pytest.mark.parametrize("reduce", [True, False])
def test_born_adjoint_holds_one_stored_wavefield_at_a_time(monkeypatch, reduce):
    """Migrating many shots keeps one shot's wavefield at a time, not one a shot (which ran
    out of memory on a few hundred shots), and images them as forward + gradient do."""
    two, vp = small_problem()
    sources = np.array([[x, 25.0] for x in np.linspace(40.0, 350.0, 6)])
    survey = ks.Survey(sources, two.survey.receivers[0], two.survey.dt, two.survey.nt,
                       two.survey.wavelet[0, 0])
    prop = ks.AcousticPropagator(two.grid, survey, space_order=8, absorbing_width=10)
    data = RNG.standard_normal((prop.nshots, *prop.data_shape)).astype(np.float32)
    live, most = [0], [0]
    stored = solver.WaveSolver._stored

    def counted(self, *args):
        kept = stored(self, *args)
        live[0] += 1
        most[0] = max(most[0], live[0])
        release = kept.release

        def released():
            live[0] -= kept.functions != ()
            release()

        kept.release = released
        return kept

    monkeypatch.setattr(solver.WaveSolver, "_stored", counted)
    image = prop.born_adjoint(vp, data, reduce=reduce)
    assert most[0] == 1 and live[0] == 0
    _, state = prop.forward_with_state(vp)
    assert most[0] == 6  # the check counts: a forward of 6 shots keeps 6
    expected = prop.gradient(state, data, reduce=reduce)
    state.release()
    assert image.shape == expected.shape
    np.testing.assert_allclose(image, expected, rtol=0, atol=1e-6 * np.abs(expected).max())


def misfit(prop, vp, observed):
    return 0.5 * np.sum((prop.forward(vp).astype(np.float64) - observed) ** 2)


@pytest.mark.parametrize("storage", ["full", "subsampled"])
def test_taylor_gradient(storage):
    prop, vp = small_problem(storage=storage)
    true = vp.copy()
    true[15:25, 10:20] += 150.0
    observed = prop.forward(true)
    residual = prop.forward(vp) - observed
    grad = prop.born_adjoint(vp, residual)
    # Along the (smoothed) true anomaly: deterministic, and not orthogonal to the gradient.
    dvp = (0.1 * ndimage.gaussian_filter(true - vp, 2.0)).astype(np.float32)
    f0 = misfit(prop, vp, observed)
    first, second = [], []
    for h in (1.0, 0.5, 0.25):
        fh = misfit(prop, vp + h * dvp, observed)
        first.append(abs(fh - f0))
        second.append(abs(fh - f0 - h * dot(grad, dvp)))
    first, second = np.array(first), np.array(second)
    # The first-order error falls as h, the second-order one as h^2.
    assert np.all(np.isclose(first[:-1] / first[1:], 2.0, rtol=0.25)), first
    assert np.all(second[:-1] / second[1:] > 3.5), second
    assert np.all(second < first)


def test_born_matches_finite_differences():
    prop, vp = small_problem()
    dvp = smooth_random(vp.shape, 10.0)
    born = prop.born(vp, dvp)
    fd = (prop.forward(vp + dvp).astype(np.float64) - prop.forward(vp - dvp)) / 2.0
    assert np.linalg.norm(born - fd) / np.linalg.norm(fd) < 1e-2


def test_subsampled_gradient_is_close_and_smaller():
    full, vp = small_problem(storage="full")
    sub, _ = small_problem(storage="subsampled")
    true = vp.copy()
    true[15:25, 10:20] += 150.0
    residual = full.forward(vp) - full.forward(true)
    g_full, g_sub = full.born_adjoint(vp, residual), sub.born_adjoint(vp, residual)
    assert np.linalg.norm(g_full - g_sub) / np.linalg.norm(g_full) < 1e-2
    _, state_full = full.forward_with_state(vp)
    _, state_sub = sub.forward_with_state(vp)
    factor = sub.save_factor(sub.time_steps(vp)[0])
    assert factor >= 2
    assert state_sub.nbytes * (factor - 0.5) < state_full.nbytes


@pytest.mark.parametrize("free_surface", [False, True])
def test_checkpointing_gradient_is_exact(free_surface):
    """pyrevolve recomputes the forward field: same gradients as full storage, nothing
    stored by the forward run."""
    full, vp = small_problem(storage="full", free_surface=free_surface)
    ckpt, _ = small_problem(storage="checkpointing", free_surface=free_surface)
    data = RNG.standard_normal((2, *full.data_shape)).astype(np.float32)
    weights = RNG.standard_normal((2, *vp.shape)).astype(np.float32)
    for kwargs in ({}, {"weights": weights}):
        _, state_full = full.forward_with_state(vp, **kwargs)
        _, state_ckpt = ckpt.forward_with_state(vp, **kwargs)
        assert state_ckpt.nbytes == 0 < state_full.nbytes
        reference = full.gradient(state_full, data, wavelet=True)
        for a, b in zip(ckpt.gradient(state_ckpt, data, wavelet=True), reference):
            assert np.linalg.norm(a - b) / np.linalg.norm(b) < 1e-5
    # Illumination needs the stored field: refused at once, before any solve.
    with pytest.raises(ValueError, match="illumination needs a stored wavefield"):
        ckpt.illumination(np.full_like(vp, np.nan))


def _analytic_setup(ndim):
    c, f0, h = 2000.0, 10.0, 10.0
    n = 121 if ndim == 2 else 61
    grid = ks.Grid((n,) * ndim, (h,) * ndim)
    mid = (n // 2) * h
    dt, duration = 0.001, 0.6 if ndim == 2 else 0.35
    nt = int(round(duration / dt)) + 1
    distances = np.array([150.0, 200.0, 250.0])
    rec = [[mid + d] + [mid] * (ndim - 1) for d in distances]
    survey = ks.Survey([[mid] * ndim], rec, dt, nt, ks.ricker(f0, dt, nt))
    prop = ks.AcousticPropagator(grid, survey, space_order=8,
                                 absorbing_width=30 if ndim == 2 else 20)
    return prop, c, distances, ricker_function(f0, 1.5 / f0)


@pytest.mark.parametrize("ndim", [2, 3])
def test_constant_velocity_matches_analytic_solution(ndim):
    """Absolute amplitudes: a point source is a true delta."""
    prop, c, distances, wavelet = _analytic_setup(ndim)
    data = prop.forward(np.full(prop.grid.shape, c, np.float32))[0]
    green = green_2d if ndim == 2 else green_3d
    for j, r in enumerate(distances):
        reference = green(wavelet, r, c, prop.survey.time)
        error = np.linalg.norm(data[:, j] - reference) / np.linalg.norm(reference)
        assert error < 0.02, (r, error)


def test_free_surface_matches_image_source_solution():
    """With a free surface the field is the direct wave minus that of a mirror source."""
    c, f0, h, n = 2000.0, 10.0, 10.0, 121
    grid = ks.Grid((n, 81), (h, h))
    dt, nt = 0.001, 601
    src = [[600.0, 100.0]]
    offsets = np.array([150.0, 250.0])
    rec = [[600.0 + x, 50.0] for x in offsets] + [[600.0, 1.0], [600.0, 10.0]]
    survey = ks.Survey(src, rec, dt, nt, ks.ricker(f0, dt, nt))
    prop = ks.AcousticPropagator(grid, survey, space_order=8, absorbing_width=30,
                                 free_surface=True)
    data = prop.forward(np.full(grid.shape, c, np.float32))[0]
    wavelet = ricker_function(f0, 1.5 / f0)
    for j, x in enumerate(offsets):
        direct, mirror = np.hypot(x, 50.0), np.hypot(x, 150.0)
        reference = green_2d(wavelet, direct, c, survey.time) - \
            green_2d(wavelet, mirror, c, survey.time)
        error = np.linalg.norm(data[:, j] - reference) / np.linalg.norm(reference)
        assert error < 0.02, (x, error)
    # pressure-free surface: a tenth of a cell below it, the field is a tenth of the first
    # row's (linear interpolation from the zero on the surface)
    near, first = data[:, -2].astype(np.float64), data[:, -1]
    assert abs(np.dot(near, first) / np.dot(first, first) - 0.1) < 1e-3


def test_operators_are_built_once():
    prop, vp = small_problem()
    prop.forward(vp)
    prop.born_adjoint(vp, np.ones((prop.nshots, *prop.data_shape), np.float32))
    builds = solver.BUILDS.copy()
    # Another grid size, number of steps, positions, velocity and number of receivers.
    grid = ks.Grid((52, 37), (10.0, 10.0))
    survey = ks.Survey([[100.0, 30.0]], [[x, 20.0] for x in range(10, 500, 35)], 0.0015,
                       333, ks.ricker(12.0, 0.0015, 333))
    other = ks.AcousticPropagator(grid, survey, space_order=8, absorbing_width=7,
                                  storage="full")
    vp2 = np.full(grid.shape, 2600.0, np.float32)
    data = other.forward(vp2)
    other.born_adjoint(vp2, data)
    prop.forward(vp * 1.3)
    assert solver.BUILDS == builds
    assert np.abs(data).max() > 0


@pytest.mark.parametrize("space_order", [2, 4, 12, 16])
def test_space_orders_run_and_agree(space_order):
    reference, vp = small_problem(space_order=8)
    prop, _ = small_problem(space_order=space_order)
    d, d8 = prop.forward(vp), reference.forward(vp)
    assert np.all(np.isfinite(d))
    tolerance = 0.3 if space_order == 2 else 0.05
    assert np.linalg.norm(d - d8) / np.linalg.norm(d8) < tolerance


def test_faster_velocity_stays_stable():
    prop, vp = small_problem()
    dt_slow, _ = prop.time_steps(vp)
    fast = vp * 2.5
    dt_fast, _ = prop.time_steps(fast)
    assert dt_fast < dt_slow
    data = prop.forward(fast)
    assert np.all(np.isfinite(data)) and np.abs(data).max() < 1e3 * np.abs(
        prop.forward(vp)).max()


# -- bad input ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def prop_vp():
    return small_problem()


@pytest.mark.parametrize("bad,match", [
    (lambda vp: vp * np.nan, "NaN"),
    (lambda vp: vp * np.inf, "infinite"),
    (lambda vp: -vp, "positive"),
    (lambda vp: vp * 0, "positive"),
    (lambda vp: vp[:-1], "shape"),
    (lambda vp: np.stack([vp] * 3), "shape"),
])
def test_bad_velocity(prop_vp, bad, match):
    prop, vp = prop_vp
    with pytest.raises(ValueError, match=match):
        prop.forward(bad(vp))


def test_bad_data_and_shots(prop_vp):
    prop, vp = prop_vp
    with pytest.raises(ValueError, match="shape"):
        prop.born_adjoint(vp, np.zeros((2, 10, 12), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        prop.born_adjoint(vp, np.full((2, *prop.data_shape), np.nan, np.float32))
    with pytest.raises(ValueError, match="out of range"):
        prop.forward(vp, shots=[0, 2])
    with pytest.raises(ValueError, match="out of range"):
        prop.forward(vp, shots=-1)
    with pytest.raises(ValueError, match="whole-number"):
        prop.forward(vp, shots=[0.5])
    with pytest.raises(ValueError, match="wavelet"):
        prop.forward(vp, wavelet=np.zeros(7, np.float32))
    with pytest.raises(TypeError, match="numeric"):
        prop.forward("fast")


def test_velocity_in_km_per_s_is_refused_with_a_hint(prop_vp):
    """Below one grid point a wavelength a run gives noise: refused, naming units."""
    prop, vp = prop_vp
    with pytest.raises(ValueError, match="points per minimum wavelength.*km/s"):
        prop.forward(vp / 1000.0)
    with warnings.catch_warnings(record=True) as caught:  # 1 to 3 points: a warning
        warnings.simplefilter("always")
        prop.forward(vp / 3.0, shots=[0])
    assert any("dispersion" in str(w.message) for w in caught)


def test_a_spurious_fast_velocity_is_refused_before_any_solve(prop_vp):
    """One cell of 1e9 m/s (a misread sample) would need some 1e8 steps and gigabytes."""
    prop, vp = prop_vp
    fast = vp.copy()
    fast[3, 4] = 1e9
    with pytest.raises(ValueError, match=r"1e\+09 m/s \(at index \(3, 4\)\).*spurious"):
        prop.forward(fast)


@pytest.mark.parametrize("sources, wavelet, match", [
    ("abc", np.ones(10), "sources .*numeric array"),
    ([[1.0, 2.0], [3.0]], np.ones(10), "sources .*numeric array"),     # ragged
    ([[1.0, np.nan]], np.ones(10), "sources .*NaN"),
    ([[1.0, 2.0]], np.zeros(10), "wavelet of shot 0 is zero everywhere"),
    ([[1.0, 2.0]], ["x"] * 10, "wavelet must be a numeric array"),
])
def test_a_bad_survey_names_its_argument(sources, wavelet, match):
    with pytest.raises(ks.checks.ArgumentError, match=match) as caught:
        ks.Survey(sources, [[5.0, 2.0]], 0.002, 10, wavelet)
    assert caught.value.argument == ("sources" if "sources" in match else "wavelet")


def test_a_ricker_wavelet_that_would_be_all_zeros_is_refused():
    with pytest.raises(ValueError, match="peak at delay=0.15 s .* every sample is 0"):
        ks.ricker(10.0, 0.002, 200, t0=1.0)
    with pytest.raises(ValueError, match="delay must be a finite number"):
        ks.ricker(10.0, 0.002, 200, delay=float("nan"))


def test_bad_configuration():
    grid = ks.Grid((30, 20), (10.0, 10.0))
    w = ks.ricker(10.0, 0.002, 100)
    good = ks.Survey([[100.0, 20.0]], [[50.0, 10.0]], 0.002, 100, w)
    with pytest.raises(ValueError, match="outside the grid"):
        ks.AcousticPropagator(grid, ks.Survey([[400.0, 20.0]], [[50.0, 10.0]], 0.002, 100, w))
    with pytest.raises(ValueError, match="outside the grid"):
        ks.AcousticPropagator(grid, ks.Survey([[100.0, 20.0]], [[50.0, -1.0]], 0.002, 100, w))
    for order in (3, 0, 18):
        with pytest.raises(ValueError, match="space_order"):
            ks.AcousticPropagator(grid, good, space_order=order)
    with pytest.raises(ValueError, match="nt=100"):
        ks.Survey([[100.0, 20.0]], [[50.0, 10.0]], 0.002, 100, w[:-1])
    with pytest.raises(ValueError, match="storage"):
        ks.AcousticPropagator(grid, good, storage="everything")
    with pytest.raises(ValueError, match="3-D"):
        ks.AcousticPropagator(ks.Grid((10, 10, 10), (10.0,) * 3), good)
    with pytest.raises(ValueError, match="spacing"):
        ks.Grid((30, 20), (10.0, -1.0))
    with pytest.raises(ValueError, match="spacing must be 2 lengths, one an axis"):
        ks.Grid((30, 20), 10.0)
    with pytest.raises(ValueError, match="origin .* must be a number of metres; got 'x'"):
        ks.Grid((30, 20), (10.0, 10.0), (0.0, "x"))
    with pytest.raises(TypeError, match="executor must be an executor"):
        ks.AcousticPropagator(grid, good, executor="dask")


@pytest.mark.parametrize("physics,fields", [
    ("acoustic", "vp (m/s)"),
    ("acoustic-density", "vp (m/s), rho (kg/m^3)"),
    ("visco-acoustic", "vp (m/s), qp (dimensionless)"),
])
def test_repr_says_what_the_propagator_models(physics, fields):
    grid = ks.Grid((30, 20), (10.0, 10.0))
    survey = ks.Survey([[100.0, 20.0]], [[50.0, 10.0]], 0.002, 100, ks.ricker(10.0, 0.002, 100))
    text = repr(ks.Propagator(grid, survey, physics=physics, free_surface=True))
    assert text.startswith(f"Propagator(physics={physics!r}: {fields}; receivers record "
                           f"pressure; {grid!r}; {survey!r}; space_order=8"), text
    assert "free_surface=True, storage='subsampled')" in text


def test_too_few_points_per_wavelength_warns():
    grid = ks.Grid((30, 20), (50.0, 50.0))
    # About 1.2 points a wavelength: enough to run, too few to be accurate.
    survey = ks.Survey([[500.0, 100.0]], [[300.0, 50.0]], 0.002, 400,
                       ks.ricker(8.0, 0.002, 400))
    prop = ks.AcousticPropagator(grid, survey, absorbing_width=5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prop.forward(np.full(grid.shape, 1500.0, np.float32))
    messages = [str(w.message) for w in caught if "wavelength" in str(w.message)]
    assert messages and "1500" in messages[0] and "50.0 m" in messages[0]
