"""Survey.t0 (the time of the first sample) and Survey.receiver_mask (padded traces of
uneven shots) through modeling, adjoints, losses and the inversion models."""
import numpy as np
import pytest
import tensorflow as tf

import keras_seismic as ks
from helpers import assert_adjoint, smooth_random

RNG = np.random.default_rng()  # seeded for each test by conftest.py


def problem(t0=0.0, nt=201, dt=0.002, wavelet=None, mask=None, nshots=2):
    """A small 2-D model, 12 receivers; the wavelet peaks 0.08 s after the shot."""
    grid = ks.Grid((40, 30), (10.0, 10.0))
    src = [[120.0 + 150.0 * s, 25.0] for s in range(nshots)]
    rec = [[x, 15.0] for x in np.linspace(5.0, 385.0, 12)]
    if wavelet is None:
        wavelet = ks.ricker(15.0, dt, nt, delay=0.08, t0=t0)
    survey = ks.Survey(src, rec, dt, nt, wavelet, t0=t0, receiver_mask=mask)
    prop = ks.AcousticPropagator(grid, survey, space_order=4, absorbing_width=10,
                                 storage="full")
    vp = 2000.0 + 300.0 * smooth_random(grid.shape)
    return prop, vp.astype(np.float32)


# ----------------------------------------------------------------------------- t0

@pytest.mark.parametrize("shift", [-20, 20])
def test_a_record_from_t0_is_the_samples_of_a_record_from_0(shift):
    """dt = 1 ms is below the stability limit, so both records run on their own axis,
    unresampled: the record from t0 = shift * dt must be the samples of the one from 0."""
    dt, nt, n = 0.001, 301, abs(shift)
    first = min(shift, 0) * dt
    wavelet = ks.ricker(15.0, dt, nt + n, delay=0.08, t0=first)
    if shift > 0:
        wavelet[:n] = 0.0                   # the source is silent before the later t0
    early, vp = problem(t0=first, nt=nt + n, dt=dt, wavelet=wavelet)
    late, _ = problem(t0=first + n * dt, nt=nt, dt=dt, wavelet=wavelet[n:])
    assert early.time_steps(vp)[1] == early.survey.nt      # no resampling
    full, cut = early.forward(vp), late.forward(vp)
    assert np.abs(full).max() > 0
    np.testing.assert_allclose(cut, full[:, n:],
                               atol=1e-5 * np.abs(full).max(), rtol=0)


def test_dot_tests_hold_with_t0():
    prop, vp = problem(t0=-0.031, nt=101, dt=0.004)
    assert prop.time_steps(vp)[1] > prop.survey.nt           # resampled
    dvp = smooth_random(prop.grid.shape, 30.0)
    assert_adjoint(dvp, prop.born(vp, dvp), lambda data: prop.born_adjoint(vp, data))
    wavelet = RNG.standard_normal((prop.nshots, 1, prop.survey.nt)).astype(np.float32)
    modelled, state = prop.forward_with_state(vp, wavelet=wavelet)
    assert_adjoint(wavelet, modelled, lambda data: prop.gradient(state, data, wavelet=True)[1])


def test_t0_is_checked_and_kept_in_the_config():
    prop, _ = problem(t0=-0.05)
    assert ks.Survey.from_config(prop.survey.get_config()).t0 == -0.05
    np.testing.assert_allclose(prop.survey.time[[0, -1]], [-0.05, -0.05 + 0.4])
    with pytest.raises(ValueError, match="t0 must be a number of seconds"):
        problem(t0="late")


# ----------------------------------------------------------------------------- mask

MASK = np.array([[True] * 12, [True] * 9 + [False] * 3])


def garbage(data, mask=MASK):
    """``data`` with large random values in its padded traces."""
    out = np.array(data, dtype=np.float32)
    out.transpose(0, 2, 1)[~mask] = 1e3 * RNG.standard_normal((int((~mask).sum()),
                                                               data.shape[1]))
    return out


def test_padded_traces_are_not_modelled_and_reach_no_gradient():
    prop, vp = problem(mask=MASK)
    data = prop.forward(vp)
    assert not data[1, :, 9:].any() and np.abs(data[1, :, :9]).max() > 0
    residual = RNG.standard_normal(data.shape).astype(np.float32)
    np.testing.assert_array_equal(prop.born_adjoint(vp, garbage(residual)),
                                  prop.born_adjoint(vp, residual * MASK[:, None, :]))
    assert not prop.born(vp, smooth_random(prop.grid.shape, 30.0))[1, :, 9:].any()


def loss_and_gradient(model, shots, observed):
    with tf.GradientTape() as tape:
        predicted = model(shots)
        loss = model.compute_loss(x=shots, y=observed, y_pred=predicted)
    return float(loss), tape.gradient(loss, model.trainable_variables)[0].numpy()


@pytest.mark.parametrize("misfit", ["L2Misfit", "NormalizedMisfit", "StudentTMisfit",
                                    "EnvelopeMisfit", "FilteredMisfit"])
def test_garbage_in_a_masked_trace_changes_neither_misfit_nor_gradient(misfit):
    prop, vp = problem(mask=MASK)
    observed = prop.forward(vp * 1.05)
    loss = getattr(ks.losses, misfit)(**({"dt": prop.survey.dt, "cutoff": 20.0}
                                         if misfit == "FilteredMisfit" else {}))
    model = ks.models.FWI(prop, vp, 1500.0, 3000.0)
    model.compile(loss=loss)
    shots = np.arange(2)
    clean, clean_grad = loss_and_gradient(model, shots, observed)
    dirty, dirty_grad = loss_and_gradient(model, shots, garbage(observed))
    assert clean > 0 and np.abs(clean_grad).max() > 0
    assert dirty == clean
    np.testing.assert_array_equal(dirty_grad, clean_grad)


def test_lsrtm_respects_the_mask():
    prop, vp = problem(mask=MASK)
    observed = prop.born(vp, smooth_random(prop.grid.shape, 30.0))
    model = ks.models.LSRTM(prop, vp)
    model.compile()
    shots = np.arange(2)
    clean, clean_grad = loss_and_gradient(model, shots, observed)
    dirty, dirty_grad = loss_and_gradient(model, shots, garbage(observed))
    assert dirty == clean > 0
    np.testing.assert_array_equal(dirty_grad, clean_grad)


def test_bad_masks_are_refused():
    with pytest.raises(ValueError, match=r"receiver_mask must have shape \(nshots, nrec\)"):
        problem(mask=MASK[:, :5])
    with pytest.raises(ValueError, match="leaves shot 1 without any live receiver"):
        problem(mask=np.stack([MASK[0], ~MASK[0]]))
    with pytest.raises(ValueError, match="must be booleans"):
        problem(mask=MASK * 2)
