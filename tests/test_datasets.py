"""Tests of the built-in velocity models, the FWI helpers and the default survey."""
import numpy as np
import pytest
from scipy import ndimage

from keras_seismic import datasets
from keras_seismic.grid import Grid
from keras_seismic.survey import Survey
from keras_seismic.wavelets import ricker

WATER, SALT = 1500.0, 4500.0


# ----------------------------------------------------------------------------- layered

def test_layered_default_shape_dtype_and_equal_layers():
    grid, vp = datasets.layered()
    assert isinstance(grid, Grid)
    assert grid.shape == (201, 101) and grid.spacing == (10.0, 10.0)
    assert vp.shape == grid.shape and vp.dtype == np.float32
    # laterally constant
    assert np.all(vp == vp[:1])
    profile = vp[0]
    values, counts = np.unique(profile, return_counts=True)
    np.testing.assert_array_equal(values, [1500.0, 2000.0, 2500.0, 3000.0])
    assert counts.max() - counts.min() <= 1
    assert np.all(np.diff(profile) >= 0)          # top to bottom in the given order


def test_layered_water_depth_and_3d():
    grid, vp = datasets.layered(shape=(11, 7, 40), spacing=(10.0, 20.0, 5.0),
                                velocities=(2000.0, 3000.0), water_depth=50.0)
    assert grid.shape == (11, 7, 40) and grid.spacing == (10.0, 20.0, 5.0)
    assert vp.shape == (11, 7, 40) and vp.dtype == np.float32
    profile = vp[3, 2]
    # depths 0..45 m (10 cells) are water, 50 m is rock
    assert np.all(profile[:10] == WATER) and profile[10] == 2000.0
    assert np.sum(profile == 2000.0) == 15 and np.sum(profile == 3000.0) == 15
    assert np.all(vp == profile)


@pytest.mark.parametrize("kwargs", [
    dict(shape=(10,)), dict(shape=(5, 5, 5, 5)), dict(shape=(2, 10)),
    dict(shape=(10, 10), spacing=(10.0, 10.0, 10.0)), dict(spacing=-5.0),
    dict(velocities=()), dict(velocities=(1500.0, -1.0)), dict(velocities=(np.nan,)),
    dict(water_depth=-10.0), dict(shape=(10, 10), water_depth=95.0),
    dict(shape=(10, 5), velocities=(1, 2, 3, 4, 5, 6)),
])
def test_layered_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="layered"):
        datasets.layered(**kwargs)


# ----------------------------------------------------------------------------- camembert

def test_camembert_2d_circle():
    grid, vp = datasets.camembert(shape=(101, 81), spacing=5.0, radius=100.0)
    assert vp.shape == (101, 81) and vp.dtype == np.float32
    assert set(np.unique(vp)) == {2500.0, 3000.0}
    assert vp[50, 40] == 3000.0 and vp[0, 0] == 2500.0
    # 20 cells radius: disc area ~ pi r^2 cells
    assert abs(np.sum(vp == 3000.0) - np.pi * 20 ** 2) < 0.03 * np.pi * 20 ** 2
    assert vp[50 + 20, 40] == 3000.0 and vp[50 + 21, 40] == 2500.0
    np.testing.assert_array_equal(vp, vp[::-1, ::-1])     # centred


def test_camembert_3d_sphere_default_radius():
    grid, vp = datasets.camembert(shape=(21, 21, 21), background=2000.0, inclusion=2200.0)
    radius_cells = 0.25 * 20
    assert vp.shape == (21, 21, 21)
    sphere = 4 / 3 * np.pi * radius_cells ** 3
    assert abs(np.sum(vp == 2200.0) - sphere) < 0.15 * sphere
    assert vp[10, 10, 10] == 2200.0 and vp[10, 10, 0] == 2000.0


@pytest.mark.parametrize("kwargs", [dict(radius=0.0), dict(radius=-3.0), dict(background=0.0),
                                    dict(inclusion=np.inf), dict(shape=(4,))])
def test_camembert_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="camembert"):
        datasets.camembert(**kwargs)


# ----------------------------------------------------------------------------- faulted

def _sediment(vp):
    return (vp != WATER) & (vp != SALT)


def _best_shift_fraction(faulted, unfaulted):
    """Fraction of the sediment cells changed by faulting that are explained by shifting the
    unfaulted model by (m cells along x, k cells down), maximised over (m, k)."""
    nx, nz = faulted.shape
    changed = (faulted != unfaulted) & _sediment(faulted) & _sediment(unfaulted)
    best = (0.0, None)
    for m in range(-8, 9):
        for k in range(0, 16):
            shifted = np.zeros_like(unfaulted)
            shifted[max(m, 0):nx - max(-m, 0), k:] = unfaulted[max(-m, 0):nx - max(m, 0), :nz - k]
            fraction = np.sum(changed & (faulted == shifted)) / max(changed.sum(), 1)
            if fraction > best[0]:
                best = (fraction, (m, k))
    return changed.sum() / _sediment(faulted).sum(), best


def test_faulted_default_model_is_plausible():
    grid, vp = datasets.faulted()
    nx, nz = grid.shape
    assert grid.shape == (301, 121) and vp.shape == (301, 121) and vp.dtype == np.float32
    # water on top, about 10% of the depth
    assert np.all(vp[:, 0] == WATER)
    water_rows = np.sum(vp == WATER, axis=1)
    assert 0.06 * nz < water_rows.mean() < 0.14 * nz
    # sediments between 1600 and 4000 m/s, faster with depth
    sediment = _sediment(vp)
    assert vp[sediment].min() >= 1600.0 and vp[sediment].max() <= 4000.0
    assert len(np.unique(vp[sediment])) >= 6
    rows = [np.median(vp[:, j][sediment[:, j]]) for j in range(nz) if sediment[:, j].any()]
    third = len(rows) // 3
    assert np.mean(rows[:third]) + 800 < np.mean(rows[-third:])
    # a single salt body, deeper than a quarter of the model, a few % of its area
    salt = vp == SALT
    assert 0.02 < salt.mean() < 0.2
    _, nbodies = ndimage.label(salt)
    assert nbodies == 1
    assert np.argwhere(salt)[:, 1].min() > 0.25 * nz
    assert set(np.unique(vp)) <= set(np.unique(vp[sediment])) | {WATER, SALT}


def test_faulted_is_deterministic_and_depends_on_seed():
    _, a = datasets.faulted(shape=(120, 60), seed=3)
    _, b = datasets.faulted(shape=(120, 60), seed=3)
    _, c = datasets.faulted(shape=(120, 60), seed=4)
    np.testing.assert_array_equal(a, b)
    assert np.mean(a != c) > 0.1


@pytest.mark.parametrize("seed", [0, 1, 5])
def test_faulted_faults_offset_layers(seed):
    shape = (201, 81)
    _, unfaulted = datasets.faulted(shape=shape, seed=seed, nfaults=0)
    _, one = datasets.faulted(shape=shape, seed=seed, nfaults=1)
    _, two = datasets.faulted(shape=shape, seed=seed, nfaults=2)
    # no fault: no change; the salt and water do not depend on the faults
    assert _best_shift_fraction(unfaulted, unfaulted)[0] == 0.0
    np.testing.assert_array_equal(one == SALT, unfaulted == SALT)
    np.testing.assert_array_equal(one == WATER, unfaulted == WATER)
    # one fault: a block of the layers moved down by >= 3 cells (4-8% of 800 m = 32-64 m)
    changed, (fraction, shift) = _best_shift_fraction(one, unfaulted)
    assert changed > 0.03
    assert fraction > 0.7
    assert 3 <= shift[1] <= 7
    # a second fault offsets yet more of the layers
    assert np.mean(two != one) > 0.01


def test_faulted_other_shapes_and_3d_extrusion():
    for shape, spacing in [((60, 120), 10.0), ((20, 20), (25.0, 10.0)), ((400, 50), 12.5)]:
        grid, vp = datasets.faulted(shape=shape, spacing=spacing, seed=2)
        assert vp.shape == shape and np.all(vp[:, 0] == WATER)
        assert np.isfinite(vp).all() and vp.min() >= WATER and vp.max() <= SALT
    grid3, vp3 = datasets.faulted(shape=(40, 5, 30), seed=1)
    _, vp2 = datasets.faulted(shape=(40, 30), seed=1)
    assert grid3.shape == (40, 5, 30)
    for iy in range(5):
        np.testing.assert_array_equal(vp3[:, iy, :], vp2)


@pytest.mark.parametrize("kwargs", [dict(shape=(19, 50)), dict(shape=(50, 10)), dict(seed=-1),
                                    dict(seed=1.5), dict(nfaults=3), dict(shape=(50,))])
def test_faulted_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="faulted"):
        datasets.faulted(**kwargs)


# ----------------------------------------------------------------------------- mask and smooth

def test_faulted_tti_axis_is_normal_to_the_layers():
    """Along a layer boundary (the fourth velocity change below the sea floor, without
    faults), the tilt follows the boundary's slope: theta = -atan(dz/dx). Seen:
    correlation 0.92, median difference 0.8 degrees on dips up to 5 degrees."""
    grid, model = datasets.faulted_tti(seed=0, nfaults=0)
    vp, theta = model["vp"], model["theta"]
    assert np.array_equal(vp, datasets.faulted(seed=0, nfaults=0)[1])
    columns = np.arange(10, grid.shape[0] - 10)
    boundary = np.array([np.nonzero(np.diff(vp[i]))[0][3] for i in columns])
    depth = ndimage.gaussian_filter1d(boundary * grid.spacing[1], 5)
    slope = -np.arctan(np.gradient(depth, grid.spacing[0]))
    tilt = theta[columns, boundary]
    assert np.corrcoef(slope, tilt)[0, 1] > 0.8
    assert np.median(np.abs(slope - tilt)) < 0.4 * np.abs(slope).max()
    water = vp == datasets.WATER_VELOCITY
    assert not model["epsilon"][water].any() and not model["theta"][water].any()
    assert np.all(model["epsilon"] >= model["delta"]) and model["epsilon"].max() > 0.1
    grid3, model3 = datasets.faulted_tti(shape=(40, 6, 30))
    assert set(model3) == {"vp", "epsilon", "delta", "theta", "phi"}
    assert model3["theta"].shape == grid3.shape


def test_faulted_visco_has_a_gas_cloud():
    grid, model = datasets.faulted_visco(gas_q=15.0)
    qp = model["qp"]
    cloud = (int(0.35 * (grid.shape[0] - 1)), int(0.4 * (grid.shape[1] - 1)))
    assert qp[cloud] == pytest.approx(15.0, rel=1e-5)
    assert qp[0, 0] == pytest.approx(1e4) and qp.min() == pytest.approx(15.0, rel=1e-5)
    with pytest.raises(ValueError, match="gas_q"):
        datasets.faulted_visco(gas_q=0.5)


def test_water_mask_only_connected_top_water():
    vp = np.full((6, 8), 2000.0, dtype=np.float32)
    vp[:, :2] = 1500.0
    vp[2, 2] = 1500.5            # within 1 m/s, connected to the water layer
    vp[4, 6] = 1500.0            # water velocity, but buried: not water
    mask = datasets.water_mask(vp)
    assert mask.dtype == np.float32 and mask.shape == vp.shape
    expected = np.ones_like(vp)
    expected[:, :2] = 0.0
    expected[2, 2] = 0.0
    np.testing.assert_array_equal(mask, expected)
    assert np.all(datasets.water_mask(np.full((5, 5), 2000.0)) == 1.0)


def test_water_mask_3d_layered():
    _, vp = datasets.layered(shape=(5, 4, 30), velocities=(2000.0, 2500.0), water_depth=100.0)
    mask = datasets.water_mask(vp)
    assert np.all(mask[..., :10] == 0) and np.all(mask[..., 10:] == 1)


def test_smooth_keeps_water_and_smooths_rock():
    grid, vp = datasets.faulted(shape=(120, 60), seed=0)
    out = datasets.smooth(vp, sigma=50.0, grid=grid, water_velocity=1500.0)
    assert out.dtype == np.float32 and out.shape == vp.shape
    water = datasets.water_mask(vp) == 0
    np.testing.assert_array_equal(out[water], vp[water])
    # rock is smoother: smaller vertical jumps, mean roughly kept
    rock = ~water
    assert np.abs(np.diff(out, axis=1)).max() < 0.5 * np.abs(np.diff(vp[:, 8:], axis=1)).max()
    assert abs(out[rock].mean() - vp[rock].mean()) < 50.0
    # without water_velocity the sea floor is smeared into the water
    smeared = datasets.smooth(vp, sigma=50.0, grid=grid)
    assert np.any(smeared[water] > 1501.0)


def test_smooth_sigma_units_cells_vs_metres():
    vp = np.zeros((41, 41))
    vp[20, 20] = 1.0
    in_cells = datasets.smooth(vp + 1000.0, sigma=2.0)
    grid = Grid(shape=(41, 41), spacing=(5.0, 5.0))
    in_metres = datasets.smooth(vp + 1000.0, sigma=10.0, grid=grid)
    np.testing.assert_allclose(in_cells, in_metres, rtol=0, atol=1e-4)
    # anisotropic sigma: only smooth along x
    only_x = datasets.smooth(vp + 1000.0, sigma=(2.0, 0.0))
    assert np.all(only_x[:, 19] == 1000.0) and only_x[22, 20] > 1000.0
    np.testing.assert_array_equal(datasets.smooth(vp, 0.0), vp.astype(np.float32))


@pytest.mark.parametrize("args", [
    (np.ones((5, 5)), -1.0), (np.ones((5, 5)), (1.0, 2.0, 3.0)), (np.ones(5), 1.0),
    (np.full((5, 5), np.nan), 1.0),
])
def test_smooth_bad_arguments(args):
    with pytest.raises(ValueError, match="smooth"):
        datasets.smooth(*args)


def test_smooth_grid_must_match():
    with pytest.raises(ValueError, match="shape"):
        datasets.smooth(np.ones((5, 5)), 1.0, grid=Grid((6, 5), (1.0, 1.0)))


# ----------------------------------------------------------------------------- survey

def test_surface_survey_defaults_2d():
    grid, _ = datasets.layered(shape=(201, 101))
    survey = datasets.surface_survey(grid)
    assert isinstance(survey, Survey)
    assert survey.nshots == 8 and survey.nsrc == 1 and survey.nrec == 201
    assert survey.dt == 0.002
    # 2 * 1000 m / 1500 m/s + 3 / 10 Hz = 1.6333 s
    assert survey.nt == 818
    assert survey.wavelet.shape == (8, 1, survey.nt)
    np.testing.assert_array_equal(survey.wavelet[3, 0], ricker(10.0, 0.002, survey.nt))
    np.testing.assert_allclose(survey.sources[:, 0, 0], 125.0 + 250.0 * np.arange(8))
    assert np.all(survey.sources[..., 1] == 20.0) and np.all(survey.receivers[..., 1] == 20.0)
    np.testing.assert_allclose(survey.receivers[0, :, 0], np.arange(201) * 10.0)
    assert np.all(grid.contains(survey.sources)) and np.all(grid.contains(survey.receivers))


def test_surface_survey_options_and_origin():
    grid = Grid(shape=(101, 51), spacing=(5.0, 5.0), origin=(1000.0, 200.0))
    survey = datasets.surface_survey(grid, nshots=1, nrec=11, f0=5.0, duration=1.0,
                                     source_depth=10.0, receiver_depth=0.0)
    assert survey.dt == 0.005 and survey.nt == 201
    np.testing.assert_allclose(survey.sources[0, 0], [1250.0, 210.0])
    np.testing.assert_allclose(survey.receivers[0, :, 0], np.linspace(1000.0, 1500.0, 11))
    np.testing.assert_allclose(survey.receivers[0, :, 1], 200.0)
    assert survey.wavelet.shape[-1] == survey.nt
    assert datasets.surface_survey(grid, f0=20.0).dt == 0.001
    assert datasets.surface_survey(grid, f0=10.0, dt=0.001, duration=0.5).nt == 501


def test_surface_survey_3d():
    grid, _ = datasets.layered(shape=(21, 11, 15))
    survey = datasets.surface_survey(grid, nshots=3)
    assert survey.ndim == 3 and survey.nrec == 21 * 11
    np.testing.assert_allclose(survey.sources[:, 0, 1], 50.0)
    np.testing.assert_allclose(survey.sources[:, 0, 2], 20.0)
    assert np.all(grid.contains(survey.sources)) and np.all(grid.contains(survey.receivers))
    patch = datasets.surface_survey(grid, nshots=2, nrec=(5, 3))
    assert patch.nrec == 15
    np.testing.assert_allclose(np.unique(patch.receivers[0, :, 1]), [0.0, 50.0, 100.0])
    assert datasets.surface_survey(grid, nrec=4).nrec == 16


@pytest.mark.parametrize("kwargs", [
    dict(nshots=0), dict(nshots=2.5), dict(nrec=0), dict(nrec=(3, 3)), dict(f0=0.0),
    dict(dt=-0.001), dict(duration=0.0), dict(source_depth=-1.0), dict(receiver_depth=1e4),
])
def test_surface_survey_bad_arguments(kwargs):
    grid, _ = datasets.layered(shape=(21, 11))
    with pytest.raises(ValueError, match="surface_survey"):
        datasets.surface_survey(grid, **kwargs)


def test_surface_survey_needs_a_grid():
    with pytest.raises(ValueError, match="Grid"):
        datasets.surface_survey((21, 11))
