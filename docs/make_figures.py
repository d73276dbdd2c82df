"""Make the figures of the documentation (docs/img/*.png) from small runs of the examples.

Run from the repository root: ``.venv/bin/python docs/make_figures.py`` (a few minutes on
two cores). Every figure is drawn with :mod:`keras_seismic.plotting`.
"""
import os
import sys

import numpy as np

import keras_seismic as ks
from keras_seismic import plotting

HERE = os.path.dirname(os.path.abspath(__file__))
IMG = os.path.join(HERE, "img")
DPI = 72

sys.path.insert(0, os.path.join(HERE, "..", "examples"))
from common import small_survey  # noqa: E402
import fwi_model_fit  # noqa: E402


def save(fig, name):
    path = plotting.save_figure(fig, os.path.join(IMG, name), dpi=DPI)
    print(f"{path}: {os.path.getsize(path) / 1024:.0f} kB")


def fwi_figures(shape=(120, 50), nshots=6, epochs=10):
    """What examples/fwi_model_fit.py does, with its figures."""
    out = fwi_model_fit.run(shape, nshots, epochs, verbose=0)
    grid, survey, true, observed = out["grid"], out["survey"], out["true"], out["observed"]
    start, model, history = out["start"], out["model"], out["history"]
    save(plotting.plot_velocity(true, grid, title="faulted model (true)"), "faulted.png")
    save(plotting.plot_shot(observed[nshots // 2], survey.dt, survey.receivers[nshots // 2],
                            title=f"observed shot {nshots // 2}"), "shot.png")
    save(plotting.plot_comparison(grid, true=true, initial=start, inverted=model.velocity),
         "fwi_comparison.png")
    save(plotting.plot_history(history), "fwi_history.png")


def migration_figure(nshots=4):
    """The Born/Migration pair of examples/born_dense.py: migrate the data scattered by the
    layered model's interfaces in a smooth background."""
    import tensorflow as tf

    prop, vp = small_survey(nshots=nshots)
    vp0 = ks.datasets.smooth(vp, 3)
    shots = tf.range(nshots)
    dvp = tf.constant(np.broadcast_to(vp - vp0, (nshots, *vp.shape)))
    data = ks.layers.Born(prop, vp0)([dvp, shots])
    images = ks.layers.Migration(prop, vp0)([data, shots])
    image = np.sum(images.numpy(), axis=0)
    # A depth gain z^2 balances the image against the strong shallow source footprint.
    depth = np.arange(vp.shape[-1]) * prop.grid.spacing[-1]
    save(plotting.plot_image(image * depth**2, prop.grid,
                             title="migration of Born data, 4 shots, gain z\u00b2"),
         "migration.png")


if __name__ == "__main__":
    fwi_figures()
    migration_figure()
