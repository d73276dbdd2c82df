"""The loop-unrolled LS-RTM example, scaled down (64 x 32 cells, 8 sources, 1 s, two
iterations): after training, the network beats RTM and LS-RTM by steepest descent at
equal PDE solves on held-out images; untrained, it does not."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))

import loop_unrolled_lsrtm  # noqa: E402

SMALL = dict(shape=(64, 32), nsrc=8, duration=1.0, ntrain=48, ntest=8, iterations=2,
             filters=8, pretrain_epochs=8, epochs=1, verbose=0)


def beats_the_baselines(errors):
    return errors["loop_unrolled"] < min(errors["rtm"], errors["lsrtm_gradient_descent"])


def test_the_trained_network_beats_rtm_and_lsrtm_on_held_out_images(tmp_path):
    errors, history = loop_unrolled_lsrtm.main(**SMALL, path=str(tmp_path / "net.keras"),
                                               figure_path=str(tmp_path / "figure.png"))
    assert set(errors) >= {"rtm", "lsrtm_gradient_descent", "loop_unrolled"}
    assert errors["lsrtm_gradient_descent"] < errors["rtm"] < 1.0, errors
    assert beats_the_baselines(errors), errors
    assert len(history) == 1 and np.isfinite(history[0])
    assert (tmp_path / "net.keras").stat().st_size > 0
    assert (tmp_path / "figure.png").stat().st_size > 0


def test_an_untrained_network_does_not():
    errors, history = loop_unrolled_lsrtm.main(**{**SMALL, "pretrain_epochs": 0,
                                                  "epochs": 0})
    assert history == []
    assert not beats_the_baselines(errors), errors


def test_the_first_stage_trains_each_iteration_on_the_inputs_the_network_computes():
    """pretrain_iterations builds each iteration's inputs outside the network, with the
    propagator: the images it ends with must be the network's own."""
    data = loop_unrolled_lsrtm.experiment((32, 16), 20.0, ntrain=3, ntest=0, nsrc=4,
                                          f0=7.0, duration=0.6, noise=0.5, seed=0,
                                          space_order=4, absorbing_width=10)
    prop, background, weighting = data.prop, data.background, data.weighting
    records, wavelets = loop_unrolled_lsrtm.encoded(data.per_source, data.encoder, 2)
    migrated = weighting * loop_unrolled_lsrtm.migrate(prop, background, -records, wavelets)
    scales = (float(data.images.std()), 1.0 / float(migrated.std()))
    network = loop_unrolled_lsrtm.unrolled_network(prop, background, weighting, 3, 4,
                                                   image_scale=scales[0],
                                                   gradient_scale=scales[1])
    losses, images = loop_unrolled_lsrtm.pretrain_iterations(
        network, prop, background, weighting, records, wavelets, migrated, data.images,
        scales, epochs=2, batch_size=2, learning_rate=1e-3, verbose=0, encodings=2)
    assert len(losses) == 3 and np.all(np.isfinite(losses))
    # The zero-initialised CNNs have been trained: the images are not all zero.
    assert np.abs(images).max() > 1e-3 * np.abs(data.images).max()
    predicted = network.predict([records[::2, ..., None], np.zeros(3, np.int64),
                                 wavelets[::2]], verbose=0)[..., 0]
    np.testing.assert_allclose(predicted, images, atol=1e-4 * np.abs(images).max())
