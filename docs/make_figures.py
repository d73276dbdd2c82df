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


def snapshot(physics, model, grid, time=0.3, f0=15.0, step=2):
    """The pressure at ``time`` (s) of a point source at the centre of ``grid``: recorded
    by receivers on every ``step``-th grid point, the last sample of each."""
    dt = 0.001
    nt = int(round(time / dt)) + 1
    centre = [0.5 * e for e in grid.extent]
    axes = [np.arange(0, n, step) * h for n, h in zip(grid.shape, grid.spacing)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    survey = ks.Survey([centre], points.reshape(-1, grid.ndim), dt, nt,
                       ks.ricker(f0, dt, nt, delay=1.0 / f0))
    prop = ks.Propagator(grid, survey, physics=physics, absorbing_width=40)
    field = prop.forward(model)[0, -1].reshape(points.shape[:-1])
    return field, ks.Grid(field.shape, tuple(step * h for h in grid.spacing))


def wavefront_figures():
    """Wavefront snapshots of a point source in a tilted TTI medium and in a medium with a
    low-Q half (right)."""
    grid = ks.Grid((201, 201), (5.0, 5.0))
    full = lambda value: np.full(grid.shape, value, np.float32)  # noqa: E731
    tti = {"vp": full(2000.0), "epsilon": full(0.25), "delta": full(0.1),
           "theta": full(np.deg2rad(30.0))}
    field, coarse = snapshot("tti", tti, grid)
    save(plotting.plot_image(field, coarse, title="TTI: epsilon 0.25, delta 0.1, tilt 30°"
                             ", at 0.3 s"), "tti_wavefront.png")
    qp = full(1e4)
    qp[grid.shape[0] // 2:] = 20.0
    field, coarse = snapshot("visco-acoustic", {"vp": full(2000.0), "qp": qp}, grid)
    save(plotting.plot_image(field, coarse, title="visco-acoustic: Q 10000 (left), 20 "
                             "(right), at 0.3 s"), "visco_wavefront.png")


if __name__ == "__main__":
    fwi_figures()
    migration_figure()
    wavefront_figures()
