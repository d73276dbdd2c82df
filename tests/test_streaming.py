"""Shots streamed from a SEG-Y file into model.fit with tf.data."""
import time
import tracemalloc

import numpy as np
import pytest

import keras_seismic as ks
from helpers import assert_warned_at, smooth_random


def small_line(nshots=4, nrec=12, nt=151, dt=0.002, mask=None):
    grid = ks.Grid((40, 30), (10.0, 10.0))
    survey = ks.Survey([[60.0 + 90.0 * s, 20.0] for s in range(nshots)],
                       [[x, 10.0] for x in np.linspace(5.0, 385.0, nrec)], dt, nt,
                       ks.ricker(12.0, dt, nt), receiver_mask=mask)
    return grid, survey


def test_streamed_fit_equals_the_in_memory_fit(tmp_path):
    mask = np.ones((4, 12), bool)
    mask[1, 8:] = mask[3, :2] = False                       # uneven shots
    grid, survey = small_line(mask=mask)
    true = (2000.0 + 250.0 * smooth_random(grid.shape)).astype(np.float32)
    prop = ks.AcousticPropagator(grid, survey, space_order=4, absorbing_width=10)
    path = tmp_path / "line.sgy"
    ks.io.write_shots(path, prop.forward(true), survey)
    with pytest.warns(UserWarning, match="different numbers of receivers") as caught:
        observed, read = ks.io.read_shots(path, wavelet=survey.wavelet[0, 0])
    assert_warned_at(caught, __file__)
    with pytest.warns(UserWarning, match="different numbers of receivers") as caught:
        dataset, streamed = ks.io.shot_dataset(path, batch_size=2,
                                               wavelet=survey.wavelet[0, 0])
    assert_warned_at(caught, __file__)
    np.testing.assert_array_equal(streamed.receiver_mask, read.receiver_mask)
    batches = list(dataset)
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), observed)
    assert [b[0].numpy().tolist() for b in batches] == [[0, 1], [2, 3]]

    start = np.full(grid.shape, float(true.mean()), np.float32)
    velocities = []
    for inputs in ((np.arange(4), observed), (dataset,)):
        prop = ks.AcousticPropagator(grid, read, space_order=4, absorbing_width=10)
        model = ks.models.FWI(prop, start, 1500.0, 3000.0)
        model.compile()
        model.fit(*inputs, **({"batch_size": 2} if len(inputs) == 2 else {}),
                  shuffle=False, epochs=2, verbose=0)
        velocities.append(model.velocity)
    assert np.abs(velocities[0] - start).max() > 1.0             # it moved
    np.testing.assert_allclose(velocities[1], velocities[0], rtol=0, atol=1e-3)


def test_streaming_memory_stays_flat(tmp_path):
    """200 shots of 30 traces of 500 samples (12 MB): streaming them in batches of 4
    allocates a few batches (0.24 MB each) at most, whatever the number of shots; reading
    them whole, the file."""
    nshots, nrec, nt = 200, 30, 500
    grid, survey = small_line(nshots=nshots, nrec=nrec, nt=nt)
    data = np.random.default_rng(0).standard_normal(survey.data_shape).astype(np.float32)
    path = tmp_path / "many.sgy"
    ks.io.write_shots(path, data, survey)
    dataset, _ = ks.io.shot_dataset(path, batch_size=4, f0=10.0, shuffle=True, seed=1)
    tracemalloc.start()
    try:
        began = time.perf_counter()
        seen = []
        for shots, batch in dataset:
            seen.extend(shots.numpy().tolist())
            np.testing.assert_array_equal(batch.numpy()[0], data[int(shots[0])])
        elapsed = time.perf_counter() - began
        _, streaming_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        ks.io.read_shots(path, f0=10.0)
        _, whole_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sorted(seen) == list(range(nshots)) and seen != sorted(seen)     # shuffled
    batch_bytes = 4 * nrec * nt * 4
    print(f"streamed {nshots} shots in {elapsed:.2f} s; peak {streaming_peak / 1e6:.2f} MB "
          f"streaming, {whole_peak / 1e6:.1f} MB reading whole; a batch is "
          f"{batch_bytes / 1e6:.2f} MB")
    assert whole_peak > data.nbytes
    assert streaming_peak < 8 * batch_bytes < whole_peak / 6
