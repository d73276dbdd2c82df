"""Preparing field data: band-pass, mute, window, normalisation, offsets, wavelets."""
import numpy as np
import pytest
import tensorflow as tf

import keras_seismic as ks
from keras_seismic import preprocessing as pp
from helpers import smooth_random


def line(nshots=2, nrec=9, dt=0.004, nt=251, t0=0.0, mask=None):
    src = [[200.0 + 200.0 * s, 10.0] for s in range(nshots)]
    rec = [[x, 5.0] for x in np.linspace(0.0, 800.0, nrec)]
    return ks.Survey(src, rec, dt, nt, ks.ricker(10.0, dt, nt, t0=t0), t0=t0,
                     receiver_mask=mask)


def test_band_pass_keeps_the_band_and_runs_in_tf_data():
    survey = line()
    t = survey.time
    tones = {f: np.sin(2 * np.pi * f * t) for f in (1.5, 10.0, 45.0)}
    data = np.broadcast_to(sum(tones.values())[None, :, None], (2, survey.nt, 9)).astype(
        np.float32)
    step = pp.BandPass(survey.dt, 5.0, 20.0)
    out = step.apply(data)
    middle = slice(60, 190)                           # away from the edges
    for f, tone in tones.items():
        gain = np.dot(out[0, middle, 0], tone[middle]) / np.dot(tone[middle], tone[middle])
        assert (abs(gain - 1) < 0.02) if f == 10.0 else (abs(gain) < 0.05), (f, gain)
    dataset = tf.data.Dataset.from_tensor_slices((np.arange(2), data)).batch(2).map(step)
    (_, streamed), = list(dataset)
    np.testing.assert_allclose(streamed.numpy(), out, atol=1e-6)
    with pytest.raises(ValueError, match="high must be"):
        pp.BandPass(survey.dt, 5.0, 200.0)
    with pytest.raises(ValueError, match="give low= and/or high="):
        pp.BandPass(survey.dt)


def test_top_mute_and_time_window_follow_offsets_and_t0():
    survey = line(t0=-0.1)
    data = np.ones((2, survey.nt, 9), np.float32)
    out = pp.TopMute(survey, velocity=2000.0, shift=0.05).apply(data, shots=[1, 0])
    offset = pp.offsets(survey, [1, 0])                     # shot 1 first
    assert offset[0, 0] == 400.0 and offset[1, 0] == 200.0
    for i in range(2):
        for r in (0, 4, 8):
            first = np.argmax(out[i, :, r] > 0)
            assert survey.time[first] == pytest.approx(offset[i, r] / 2000.0 + 0.05,
                                                       abs=survey.dt)
    tapered = pp.TopMute(survey, 2000.0, taper=0.04).apply(data[:1], shots=[0])
    assert 0 < tapered[0, np.searchsorted(survey.time, 0.1 - 0.02), 0] < 1
    window = pp.TimeWindow(survey, tmin=0.0, tmax=0.5).apply(data)
    kept = (survey.time >= -1e-9) & (survey.time <= 0.5 + 1e-9)
    np.testing.assert_array_equal(window[0, :, 3], kept.astype(np.float32))
    with pytest.raises(ValueError, match="2 shot indices for 1 records"):
        pp.TopMute(survey, 2000.0).apply(data[:1], shots=[0, 1])


def test_trace_normalisation_keeps_zero_traces_zero():
    data = np.random.default_rng(0).standard_normal((2, 50, 4)).astype(np.float32) * 7.0
    data[1, :, 2] = 0.0
    out = pp.TraceNormalization().apply(data)
    rms = np.sqrt(np.mean(out.astype(np.float64) ** 2, axis=1))
    np.testing.assert_allclose(np.delete(rms.ravel(), 6), 1.0, rtol=1e-5)
    assert not out[1, :, 2].any()


def test_select_offsets_masks_the_other_traces():
    survey = line(mask=np.array([[True] * 8 + [False], [True] * 9]))
    near = pp.select_offsets(survey, max_offset=250.0)
    # offsets: shot 0 (x = 200 m) 200, 100, 0, 100, ...; shot 1 (x = 400 m) 400, 300, ...
    assert near.receiver_mask.astype(int).tolist() == [[1, 1, 1, 1, 1, 0, 0, 0, 0],
                                                       [0, 0, 1, 1, 1, 1, 1, 0, 0]]
    far = pp.select_offsets(survey, 150.0).receiver_mask
    assert far[0].astype(int).tolist() == [1, 0, 0, 0, 1, 1, 1, 1, 0]      # last: padding
    with pytest.raises(ValueError, match="shot 0 has no trace with an offset from 900"):
        pp.select_offsets(survey, 900.0)


def test_wavelet_estimation_recovers_a_known_wavelet():
    grid = ks.Grid((50, 30), (10.0, 10.0))
    dt, nt = 0.002, 301
    true = 2.5e3 * ks.ricker(9.0, dt, nt, delay=0.13)        # scale, phase and band off
    guess = ks.ricker(16.0, dt, nt, delay=0.07)
    src = [[150.0 + 200.0 * s, 20.0] for s in range(2)]
    rec = [[x, 10.0] for x in np.linspace(5.0, 485.0, 25)]
    vp = (2000.0 + 300.0 * smooth_random(grid.shape)).astype(np.float32)
    options = dict(space_order=4, absorbing_width=10)
    observed = ks.AcousticPropagator(grid, ks.Survey(src, rec, dt, nt, true),
                                     **options).forward(vp)
    prop = ks.AcousticPropagator(grid, ks.Survey(src, rec, dt, nt, guess), **options)
    exact = pp.estimate_wavelet(prop, vp, observed)
    error = np.linalg.norm(exact - true) / np.linalg.norm(true)
    assert error < 0.03, error                                      # measured 1.3%
    constant = np.full_like(vp, vp.mean())                         # a starting model
    rough = pp.estimate_wavelet(prop, constant, observed)
    error = np.linalg.norm(rough - true) / np.linalg.norm(true)
    assert error < 0.05, error
