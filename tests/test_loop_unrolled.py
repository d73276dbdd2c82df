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
