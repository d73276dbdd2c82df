"""Pseudo-acoustic TTI: the isotropic limit, the VTI traveltimes along and across the
symmetry axis, exact adjoints in tilted heterogeneous media, the vp gradient, every
storage mode, bad models; in Keras, the layers, FWI of vp with the anisotropy fixed, and a
VTI inversion that places an anomaly an isotropic one mislocates.

Building a TTI kernel takes Devito some 10 s, so the tests share few configurations: 2-D
without a free surface and 3-D with one (the kernels of each dimension with and without
differ only in the surface's rows)."""
import keras
import numpy as np
import pytest
from scipy import ndimage

import fixed_fields
import keras_seismic as ks
from helpers import small_problem, tti_fields

PHYSICS = "tti"
CASES = [(2, False), (3, True)]


def tti_problem(ndim=2, free_surface=False, storage="full"):
    """A small heterogeneous problem; order 4 in 3-D, whose kernels take Devito half as
    long to build."""
    prop, vp = small_problem(ndim, free_surface, storage, space_order=8 if ndim == 2 else 4,
                             physics=PHYSICS)
    return prop, {"vp": vp, **tti_fields(vp.shape)}


def test_isotropic_tti_is_acoustics():
    """epsilon = delta = theta = 0 gives the acoustic data: both fields obey the acoustic
    equation, with the same Laplacian; what differs is round-off, summed over the steps
    (seen: 3e-5 of the peak, and 1.5e-5 with a free surface)."""
    prop, model = tti_problem()
    acoustic, vp = small_problem()
    isotropic = {k: np.zeros_like(v) for k, v in model.items()}
    isotropic["vp"] = vp
    data = prop.forward(isotropic)
    expected = acoustic.forward(vp)
    assert np.abs(data - expected).max() < 1e-4 * np.abs(expected).max()


def direct_wave_velocities(theta):
    """Velocities (m/s) along x and along z of the direct wave of a point source in a
    homogeneous medium with vp = 2000 m/s, epsilon = 0.2, delta = 0.1 and tilt ``theta``:
    the distance between two receivers on a line through the source over the delay
    between their traces (cross-correlation, refined by a parabola). The receivers are 4
    and 8 wavelengths away: nearer, the near field biases the delay (seen: 1.3% along
    the axis at 1.5 and 3.5 wavelengths, where delta shapes the wavefront)."""
    h, dt, nt = 10.0, 0.001, 751
    grid = ks.Grid((241, 241), (h, h))
    centre = 1200.0
    offsets = (500.0, 1100.0)
    rec = [[centre + d, centre] for d in offsets] + [[centre, centre + d] for d in offsets]
    survey = ks.Survey([[centre, centre]], rec, dt, nt, ks.ricker(15.0, dt, nt))
    prop = ks.Propagator(grid, survey, physics=PHYSICS, absorbing_width=30)
    full = lambda value: np.full(grid.shape, value, np.float32)  # noqa: E731
    data = prop.forward({"vp": full(2000.0), "epsilon": full(0.2), "delta": full(0.1),
                         "theta": full(theta)})[0].astype(np.float64)
    velocities = []
    for near, far in ((0, 1), (2, 3)):
        xcorr = np.correlate(data[:, far], data[:, near], mode="full")
        k = int(np.argmax(xcorr))
        a, b, c = xcorr[k - 1:k + 2]
        lag = (k - (nt - 1) + 0.5 * (a - c) / (a - 2 * b + c)) * dt
        velocities.append((offsets[1] - offsets[0]) / lag)
    return velocities


@pytest.mark.parametrize("theta", [0.0, np.pi / 2])
def test_vti_traveltimes_along_and_across_the_axis(theta):
    """VTI: vp along the (vertical) axis, vp sqrt(1 + 2 epsilon) across it, within 1%;
    with the axis turned horizontal (theta = 90 degrees) the two swap."""
    vx, vz = direct_wave_velocities(theta)
    along, across = (vz, vx) if theta == 0 else (vx, vz)
    assert abs(along / 2000.0 - 1) < 0.01, (vx, vz)
    assert abs(across / along / np.sqrt(1.4) - 1) < 0.01, (vx, vz)


@pytest.mark.parametrize("ndim,free_surface", CASES)
def test_born_dot_test_in_a_tilted_heterogeneous_medium(ndim, free_surface):
    fixed_fields.check_born_dot_test(*tti_problem(ndim, free_surface))


def test_extended_source_and_wavelet_dot_tests():
    fixed_fields.check_source_dot_tests(*tti_problem())


def test_taylor_gradient_of_the_velocity():
    fixed_fields.check_taylor(*tti_problem())


def test_every_storage_mode_gives_the_gradient():
    fixed_fields.check_storage_modes(tti_problem)


@pytest.mark.parametrize("change,match", [
    (lambda m: dict(m, delta=m["epsilon"] + 0.05), "epsilon < delta .* unstable"),
    (lambda m: dict(m, epsilon=m["epsilon"] + 2.0), r"'epsilon'.*must be in \(-0.5, 1\]"),
    (lambda m: {k: v for k, v in m.items() if k != "theta"},
     r"missing 'theta': tilt of the symmetry axis from the vertical in rad, typically 0\)"),
])
def test_bad_models_are_refused(change, match):
    prop, model = tti_problem()
    with pytest.raises(ValueError, match=match):
        prop.forward(change(model))


def test_only_the_velocity_is_linearised():
    prop, model = tti_problem()
    assert prop.parameters == ("vp", "epsilon", "delta", "theta")
    assert tti_problem(3)[0].parameters == ("vp", "epsilon", "delta", "theta", "phi")
    with pytest.raises(ValueError, match="holds .*'epsilon'.* fixed"):
        prop.born(model, {"epsilon": model["epsilon"]})
    with pytest.raises(ValueError, match="holds .*'theta'.* fixed"):
        prop.born_adjoint(model, np.zeros((2, *prop.data_shape), np.float32),
                          fields=("vp", "theta"))


def test_keras_layers_differentiate_the_velocity():
    prop, model = tti_problem()
    fixed_fields.check_modeling_layer(prop, model)
    fixed_fields.check_born_and_migration_layers(prop, model)


def test_fit_and_lbfgs_invert_the_velocity_with_the_anisotropy_fixed(tmp_path):
    fixed_fields.check_fit_and_lbfgs(*tti_problem(), tmp_path)


def test_vti_fit_recovers_an_anomaly_that_an_isotropic_fit_mislocates():
    """Transmission through a VTI medium (epsilon 0.15, delta 0.05) with a +150 m/s
    anomaly, from shots on the top and left edges to receivers on the bottom and right:
    FWI with the anisotropy known puts the update in the anomaly; an isotropic FWI of the
    same data spends it on the faster horizontal paths and peaks outside the anomaly.
    Seen (12 epochs): VTI misfit x0.13, error x0.77, update 91 m/s inside against 14
    outside, peak at the anomaly's centre; isotropic misfit x0.55, error x3.4, 110 m/s
    inside against 102 outside, peak 9 cells off."""
    grid = ks.Grid((50, 50), (10.0, 10.0))
    dt, nt = 0.001, 501
    edge = np.linspace(100.0, 400.0, 4)
    far = np.linspace(20.0, 480.0, 16)
    survey = ks.Survey([[x, 20.0] for x in edge] + [[20.0, z] for z in edge],
                       [[x, 480.0] for x in far] + [[480.0, z] for z in far], dt, nt,
                       ks.ricker(15.0, dt, nt))
    full = lambda value: np.full(grid.shape, value, np.float32)  # noqa: E731
    anisotropy = {"epsilon": full(0.15), "delta": full(0.05), "theta": full(0.0)}
    box = (slice(20, 30), slice(20, 30))
    true = full(2000.0)
    true[box] += 150.0
    vti = ks.Propagator(grid, survey, physics="tti", absorbing_width=20)
    observed = vti.forward({"vp": true, **anisotropy})
    outside = np.ones(grid.shape, bool)
    outside[box] = False
    for prop, start in ((vti, {"vp": full(2000.0), **anisotropy}),
                        (ks.Propagator(grid, survey, absorbing_width=20), full(2000.0))):
        model = ks.models.FWI(prop, start, 1500.0, 3000.0)
        model.compile(optimizer=keras.optimizers.Adam(10.0, epsilon=1e-20))
        model.fit(np.arange(8), observed, batch_size=8, epochs=12, verbose=0)
        update = model.velocity - 2000.0
        peak = np.unravel_index(np.argmax(ndimage.gaussian_filter(update, 2)), grid.shape)
        inside = all(s.start <= i < s.stop for s, i in zip(box, peak))
        contrast = update[box].mean() / np.abs(update[outside]).mean()
        error = fixed_fields.relative_error(model.velocity, true) / \
            fixed_fields.relative_error(full(2000.0), true)
        if prop is vti:
            assert inside and contrast > 4 and error < 0.9, (peak, contrast, error)
        else:
            assert not inside and contrast < 2 and error > 1, (peak, contrast, error)
