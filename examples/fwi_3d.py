"""A small 3-D FWI with ``model.fit``: a spherical inclusion ("camembert") recovered from
shots at the surface recorded by receivers near the bottom of the model, with the
gradient's forward wavefield stored subsampled in time (or recomputed with
checkpointing), so memory stays bounded.

Waves that pass through the inclusion (a transmission geometry, as in a survey recorded
in a deep horizontal well) carry its travel-time delay, which FWI turns into a smooth
velocity update. Surface receivers would see only the weak reflections from its edges.

Run: ``python examples/fwi_3d.py [--storage checkpointing]``.
"""
import argparse

import keras
import numpy as np

import keras_seismic as ks


def main(n=30, nshots=4, epochs=16, storage="subsampled", f0=12.0, step=60.0):
    grid, true = ks.datasets.camembert(shape=(n, n, n), spacing=15.0, background=2000.0,
                                       inclusion=2300.0)
    depth = grid.extent[-1] - 2 * grid.spacing[-1]
    survey = ks.datasets.surface_survey(grid, nshots=nshots, nrec=8, f0=f0, duration=0.6,
                                        receiver_depth=depth)
    prop = ks.AcousticPropagator(grid, survey, space_order=4, absorbing_width=10,
                                 storage=storage)
    observed = prop.forward(true)
    start = np.full(grid.shape, 2000.0, np.float32)
    # One forward run of the starting model gives both the memory a shot stores and the
    # first gradient, which sets the step size below.
    predicted, state = prop.forward_with_state(start)
    stored_mb = state.nbytes / nshots / 2**20
    gradient = prop.gradient(state, predicted - observed)
    state.release()
    # No update next to the sources and receivers (their footprint dominates early
    # gradients), and gradient descent whose first step is at most ``step`` m/s: unlike
    # Adam, it keeps the gradient's shape, so weakly constrained cells barely move.
    mask = np.ones(grid.shape, np.float32)
    mask[..., :4] = mask[..., -4:] = 0.0
    model = ks.models.FWI(prop, start, vmin=1800.0, vmax=2600.0, mask=mask)
    model.compile(optimizer=keras.optimizers.SGD(float(step / np.abs(gradient * mask).max())))
    history = model.fit(np.arange(nshots), observed, batch_size=nshots, epochs=epochs,
                        verbose=2)
    error = lambda v: float(np.linalg.norm(v - true) / np.linalg.norm(true))  # noqa: E731
    # How much of the inclusion's anomaly is still missing (1 at the start, 0 if found).
    inside = true > start
    missing = float(np.linalg.norm((model.velocity - true)[inside])
                    / np.linalg.norm((true - start)[inside]))
    result = {"misfit_reduction": history.history["loss"][0] / history.history["loss"][-1],
              "model_error_start": error(start), "model_error_end": error(model.velocity),
              "inclusion_anomaly_missing": missing,
              "stored_wavefield_mb_per_shot": stored_mb, "storage": storage}
    print(result)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--storage", default="subsampled",
                        choices=["subsampled", "full", "checkpointing"])
    main(storage=parser.parse_args().storage)
