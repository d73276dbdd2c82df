"""Visco-acoustics: the lossless limit, Q measured by spectral ratios, exact adjoints with
the memory variable, the vp gradient, every storage mode, bad models; in Keras, the
layers, and FWI of vp with Q fixed.

As for TTI, the tests share few kernel configurations: 2-D without a free surface and 3-D
with one."""
import numpy as np
import pytest

import fixed_fields
import keras_seismic as ks
from helpers import small_problem, visco_fields

PHYSICS = "visco-acoustic"
CASES = [(2, False), (3, True)]


def visco_problem(ndim=2, free_surface=False, storage="full"):
    """A small heterogeneous problem; order 4 in 3-D, whose kernels take Devito half as
    long to build."""
    prop, vp = small_problem(ndim, free_surface, storage, space_order=8 if ndim == 2 else 4,
                             physics=PHYSICS)
    return prop, {"vp": vp, **visco_fields(vp.shape)}


def test_a_very_large_q_is_acoustics():
    prop, model = visco_problem()
    acoustic, vp = small_problem()
    data = prop.forward({"vp": vp, "qp": np.full_like(vp, 1e6)})
    expected = acoustic.forward(vp)
    assert np.abs(data - expected).max() < 1e-4 * np.abs(expected).max()


def spectral_ratio_q(qp):
    """Q from the decay of the direct wave between offsets of 300 and 900 m in a
    homogeneous medium (vp = 2000 m/s, a 15 Hz Ricker), relative to the lossless run: the
    slope of ``log(A(f, far) / A(f, near))`` against frequency is ``-pi (t_far - t_near)
    / Q`` over the band where the wavelet's spectrum exceeds half its peak."""
    h, dt, nt, vp = 10.0, 0.001, 801, 2000.0
    grid = ks.Grid((141, 81), (h, h))
    offsets = np.array([300.0, 900.0])
    survey = ks.Survey([[200.0, 400.0]], [[200.0 + d, 400.0] for d in offsets], dt, nt,
                       ks.ricker(15.0, dt, nt))
    prop = ks.Propagator(grid, survey, physics=PHYSICS, absorbing_width=40)
    velocity = np.full(grid.shape, vp, np.float32)
    spectra = []
    for q in (qp, 1e6):
        trace = prop.forward({"vp": velocity, "qp": np.full_like(velocity, q)})[0]
        spectra.append(np.abs(np.fft.rfft(trace.astype(np.float64), n=4096, axis=0)))
    frequencies = np.fft.rfftfreq(4096, dt)
    lossy, lossless = spectra
    band = lossless[:, 0] > 0.5 * lossless[:, 0].max()
    ratio = np.log(lossy[band, 1] / lossy[band, 0] / (lossless[band, 1] / lossless[band, 0]))
    slope = np.polyfit(frequencies[band], ratio, 1)[0]
    return -np.pi * (offsets[1] - offsets[0]) / vp / slope


@pytest.mark.parametrize("qp", [20.0, 50.0])
def test_spectral_ratios_give_the_model_q(qp):
    assert abs(spectral_ratio_q(qp) / qp - 1) < 0.15


@pytest.mark.parametrize("ndim,free_surface", CASES)
def test_born_dot_test_in_an_attenuating_heterogeneous_medium(ndim, free_surface):
    fixed_fields.check_born_dot_test(*visco_problem(ndim, free_surface))


def test_extended_source_and_wavelet_dot_tests():
    fixed_fields.check_source_dot_tests(*visco_problem())


def test_taylor_gradient_of_the_velocity():
    fixed_fields.check_taylor(*visco_problem())


def test_every_storage_mode_gives_the_gradient():
    fixed_fields.check_storage_modes(visco_problem)


@pytest.mark.parametrize("change,match", [
    (lambda m: dict(m, qp=0.5 * np.ones_like(m["qp"])), "'qp'.*must be > 1"),
    (lambda m: dict(m, qp=m["qp"] * np.nan), "'qp'.*NaN"),
    (lambda m: {"vp": m["vp"]}, r"missing 'qp': .*quality factor, typically 100\)"),
])
def test_bad_models_are_refused(change, match):
    prop, model = visco_problem()
    with pytest.raises(ValueError, match=match):
        prop.forward(change(model))
    with pytest.raises(ValueError, match="holds .*'qp'.* fixed"):
        prop.born(model, {"qp": model["qp"]})


def test_keras_layers_differentiate_the_velocity():
    prop, model = visco_problem()
    fixed_fields.check_modeling_layer(prop, model)
    fixed_fields.check_born_and_migration_layers(prop, model)


def test_fit_and_lbfgs_invert_the_velocity_with_q_fixed(tmp_path):
    fixed_fields.check_fit_and_lbfgs(*visco_problem(), tmp_path)
