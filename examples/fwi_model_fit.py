"""Full-waveform inversion with ``model.fit`` on the built-in faulted model, from a
smoothed start.

Run: ``python examples/fwi_model_fit.py``.
"""
import numpy as np

import keras_seismic as ks


def run(shape=(120, 50), nshots=6, epochs=10, f0=10.0, verbose=2):
    """The inversion; returns its pieces (grid, survey, true, start, observed, model,
    history) for printing or plotting."""
    grid, true = ks.datasets.faulted(shape=shape, spacing=10.0)
    survey = ks.datasets.surface_survey(grid, nshots=nshots, f0=f0, duration=0.8)
    prop = ks.AcousticPropagator(grid, survey, space_order=8, absorbing_width=20)
    observed = prop.forward(true)
    start = ks.datasets.smooth(true, 60.0, grid=grid, water_velocity=1500.0)
    model = ks.models.FWI(prop, start, vmin=1450.0, vmax=float(true.max()) + 100.0,
                          mask=ks.datasets.water_mask(start))
    model.compile()
    history = model.fit(np.arange(nshots), observed, batch_size=2, epochs=epochs,
                        shuffle=True, verbose=verbose)
    return dict(grid=grid, survey=survey, true=true, start=start, observed=observed,
                model=model, history=history)


def main(shape=(120, 50), nshots=6, epochs=10, f0=10.0):
    out = run(shape, nshots, epochs, f0)
    true, start, history, model = out["true"], out["start"], out["history"], out["model"]
    error = lambda v: float(np.linalg.norm(v - true) / np.linalg.norm(true))  # noqa: E731
    result = {"misfit_reduction": history.history["loss"][0] / history.history["loss"][-1],
              "model_error_start": error(start), "model_error_end": error(model.velocity)}
    print(result)
    return result


if __name__ == "__main__":
    main()
