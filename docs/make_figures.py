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


def save(fig, name):
    path = plotting.save_figure(fig, os.path.join(IMG, name), dpi=DPI)
    print(f"{path}: {os.path.getsize(path) / 1024:.0f} kB")


def fwi_figures(shape=(120, 50), nshots=6, epochs=10):
    """What examples/fwi_model_fit.py does, with its figures."""
    grid, true = ks.datasets.faulted(shape=shape, spacing=10.0)
    survey = ks.datasets.surface_survey(grid, nshots=nshots, f0=10.0, duration=0.8)
    prop = ks.AcousticPropagator(grid, survey, space_order=8, absorbing_width=20)
    observed = prop.forward(true)
    start = ks.datasets.smooth(true, 60.0, grid=grid, water_velocity=1500.0)
    model = ks.models.FWI(prop, start, vmin=1450.0, vmax=float(true.max()) + 100.0,
                          mask=ks.datasets.water_mask(start))
    model.compile()
    history = model.fit(np.arange(nshots), observed, batch_size=2, epochs=epochs,
                        shuffle=True, verbose=0)
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
