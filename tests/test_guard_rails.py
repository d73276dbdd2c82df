"""Guard rails for field runs: positions on a free surface, data whose scale is far from
the modelled data's."""
import warnings

import numpy as np
import pytest
import tensorflow as tf

import keras_seismic as ks
from helpers import assert_warned_at, smooth_random


def problem(source_depth, receiver_depth, free_surface=True):
    grid = ks.Grid((40, 30), (10.0, 10.0))
    dt, nt = 0.002, 151
    survey = ks.Survey([[150.0, source_depth], [250.0, source_depth]],
                       [[x, receiver_depth] for x in np.linspace(5.0, 385.0, 10)], dt, nt,
                       ks.ricker(15.0, dt, nt))
    return ks.AcousticPropagator(grid, survey, space_order=4, absorbing_width=10,
                                 free_surface=free_surface)


def test_sources_and_receivers_on_a_free_surface_are_moved_one_cell_down_with_a_warning():
    vp = np.full((40, 30), 2000.0, np.float32)
    with pytest.warns(UserWarning) as caught:
        prop = problem(0.0, 10.0)
    assert_warned_at(caught, __file__)
    messages = [str(w.message) for w in caught]
    assert any("2 source positions lie on the free surface (z = 0 m)" in m and
               "fire nothing" in m and "z = 10 m" in m for m in messages)
    assert prop.survey.sources[0, 0, 1] == 0.0                   # the survey is unchanged
    data = prop.forward(vp)
    assert np.abs(data).max() > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        below = problem(10.0, 10.0)
        problem(0.0, 0.0, free_surface=False)        # no free surface: nothing to move
    np.testing.assert_array_equal(data, below.forward(vp))
    # receivers there would record the surface's zero pressure: moved too
    with pytest.warns(UserWarning, match="20 receiver positions lie on the free surface.*"
                                         "record nothing.*z = 10 m"):
        on_surface = problem(10.0, 0.0)
    np.testing.assert_array_equal(on_surface.forward(vp), below.forward(vp))


def fwi(loss=None):
    prop = problem(20.0, 10.0, free_surface=False)
    vp = (2000.0 + 200.0 * smooth_random(prop.grid.shape)).astype(np.float32)
    model = ks.models.FWI(prop, vp, 1500.0, 3000.0)
    model.compile(loss=loss)
    return prop, vp, model


def test_fwi_warns_before_training_when_the_scales_differ_by_orders_of_magnitude():
    prop, vp, model = fwi()
    observed = 1.6e4 * prop.forward(vp * 1.02)
    with pytest.warns(UserWarning, match=r"FWI: the observed data are 1\.6\de\+04 times.*"
                                         r"estimate_wavelet.*NormalizedMisfit") as caught:
        model.fit(np.arange(2), observed, epochs=1, batch_size=2, verbose=0)
    assert_warned_at(caught, __file__)
    _, _, streamed = fwi()
    dataset = tf.data.Dataset.from_tensor_slices((np.arange(2), observed)).batch(2)
    with pytest.warns(UserWarning, match=r"FWI: the observed data are 1\.6\de\+04 times") \
            as caught:
        streamed.fit(dataset, epochs=1, verbose=0)
    # Keras's own "shuffle=True ... will be ignored" is not passed on to the user.
    assert [str(w.message) for w in caught if "shuffle" in str(w.message)] == []
    _, _, normalised = fwi(ks.losses.NormalizedMisfit())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        normalised.fit(np.arange(2), observed, epochs=1, batch_size=2, verbose=0)
    ratio, rms, _ = ks.models.amplitude_ratio(prop, vp, 1, observed[1] / 1.6e4)
    assert 0.5 < ratio < 2 and ks.models.scale_warning(ratio, rms, rms, 1) is None
