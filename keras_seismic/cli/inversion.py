"""The inversion the ``demo`` and ``fwi`` commands run: multiscale FWI with ``model.fit``
(:class:`keras_seismic.models.FWI`, Adam, a filtered misfit, the snapshot and multiscale
callbacks), measured before and after, its outputs written to a folder.

TensorFlow is imported by the first inversion, not with the command line.
"""
import importlib
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from .report import _inversion_figures, _timed


def _import_tensorflow_quietly():
    """Import TensorFlow and list its devices without its C++ start-up lines (CUDA
    probing, CPU features): most are written to the process's stderr before any log
    setting of TensorFlow applies, and the failed CUDA probe of a machine without a GPU
    is an error, which TF_CPP_MIN_LOG_LEVEL=2 lets through, printed when the devices are
    first listed. So the file descriptor is lent to a temporary file for both and the
    lines dropped, or shown with the error if either fails."""
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as lines:
        os.dup2(lines.fileno(), 2)
        try:
            importlib.import_module("tensorflow").config.list_physical_devices()
        except BaseException:
            os.dup2(saved, 2)
            lines.seek(0)
            sys.stderr.write(lines.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _make_misfit(name):
    from .. import losses
    return {"l2": losses.L2Misfit, "normalized": losses.NormalizedMisfit,
            "envelope": losses.EnvelopeMisfit, "student_t": losses.StudentTMisfit}[name]()


def _invert(prop, observed, start, *, vmin, vmax, mask, out, epochs, batch_size,
            learning_rate=None, learning_rate_decay=1.0, adam_epsilon=1e-20, cutoffs=None,
            epochs_per_stage=None, filter_order=6, misfit="l2", true_vp=None,
            snapshot_every=1, shuffle=True, seed=None, verbose=2, fields=None, bounds=None):
    """Run ``model.fit`` FWI and write its outputs to ``out``; returns a summary dict.

    ``start`` is the starting velocity, or a model dict of ``prop``'s fields, of which
    ``fields`` are inverted (default all) within ``bounds`` (those other than vp). Without
    ``learning_rate`` (m/s, about Adam's step), the default of ``FWI.compile`` applies;
    the learning rate decays exponentially to ``learning_rate * learning_rate_decay`` at
    the last step.
    """
    _import_tensorflow_quietly()
    import keras

    from .. import losses, models

    out = Path(out)   # created and checked writable by the caller, before its own work
    if seed is not None:
        keras.utils.set_random_seed(int(seed))
    model = models.FWI(prop, start, vmin=vmin, vmax=vmax, mask=mask, fields=fields,
                       bounds=bounds)
    start_vp = start["vp"] if isinstance(start, dict) else start
    loss = losses.FilteredMisfit(_make_misfit(misfit), dt=prop.survey.dt,
                                 cutoff=cutoffs[0] if cutoffs else None, order=filter_order)
    if learning_rate is None:
        learning_rate = model.default_learning_rate()
    learning_rate = float(learning_rate)
    steps = epochs * math.ceil(prop.survey.nshots / batch_size)
    model.compile(optimizer=_adam(learning_rate, learning_rate_decay, steps, adam_epsilon),
                  loss=loss)
    snapshots = _snapshots(out, snapshot_every, true_vp, prop.grid)
    fit_callbacks = _fit_callbacks(out, cutoffs, epochs_per_stage, snapshots, verbose)

    timings = {}
    with _timed(timings, "inversion"):
        history = model.fit(np.arange(prop.survey.nshots), observed, batch_size=batch_size,
                            epochs=epochs, shuffle=shuffle, verbose=verbose,
                            callbacks=fit_callbacks)
    velocities = {"true": true_vp, "initial": start_vp, "inverted": model.velocity}
    estimate = model.estimate
    with _timed(timings, "evaluation"):
        predicted = (prop.forward(start), prop.forward(estimate))
        misfits = _misfits(observed, predicted, loss, misfit)
    with _timed(timings, "outputs"):
        files = _write_models(out, velocities)
        for name in (n for n in model.fields if n != "vp"):  # vp: inverted.npy
            files[f"inverted_{name}"] = out / f"inverted_{name}.npy"
            np.save(files[f"inverted_{name}"], estimate[name])
        files.update(_inversion_figures(out, prop, observed, velocities, predicted,
                                        loss.cutoff, history.history, (vmin, vmax)))

    result = {
        "misfit": misfits,
        "inversion": {"epochs": epochs, "batch_size": batch_size, "optimizer": "Adam",
                      "learning_rate": learning_rate,
                      "learning_rate_final": learning_rate * learning_rate_decay,
                      "misfit": misfit,
                      "multiscale_cutoffs_hz": cutoffs or None,
                      "epochs_per_stage": epochs_per_stage, "filter_order": filter_order,
                      "vmin": vmin, "vmax": vmax, "water_mask": mask is not None,
                      "physics": prop.physics.name, "fields": list(model.fields),
                      "bounds": {k: list(v) for k, v in model.bounds.items()},
                      "shuffle": shuffle, "seed": seed},
        "timings": timings, "files": files, "inverted": velocities["inverted"],
        "history": {k: [float(x) for x in v] for k, v in history.history.items()},
    }
    if true_vp is not None:
        result["model_error"] = _model_error(snapshots, start_vp, velocities["inverted"])
    return result


def _adam(learning_rate, decay, steps, epsilon):
    """Adam whose learning rate decays exponentially over ``steps`` to ``learning_rate *
    decay``: large steps while the model is far off, small ones to settle at the end.
    Data amplitudes (and so gradients) can be anything: a negligible ``epsilon`` keeps
    Adam's steps about the learning rate in size, as in FWI.compile's default."""
    import keras

    schedule = learning_rate
    if decay != 1.0:
        schedule = keras.optimizers.schedules.ExponentialDecay(
            learning_rate, decay_steps=steps, decay_rate=float(decay))
    return keras.optimizers.Adam(schedule, epsilon=epsilon)


def _snapshots(out, every, true_vp, grid):
    """The callback that saves the model to ``out/snapshots`` every ``every`` epochs and
    measures its error against ``true_vp`` (if given)."""
    from .. import callbacks

    return callbacks.VelocitySnapshot(out / "snapshots", every=every, true_vp=true_vp,
                                      grid=grid)


def _fit_callbacks(out, cutoffs, epochs_per_stage, snapshots, verbose):
    """The multiscale schedule (with ``cutoffs``), the snapshots and ``history.csv``, in
    that order: the last reads the log entries of the others."""
    import keras

    from .. import callbacks

    schedule = []
    if cutoffs:
        schedule = [callbacks.MultiscaleSchedule(cutoffs, epochs_per_stage=epochs_per_stage,
                                                 verbose=1 if verbose else 0)]
    return schedule + [snapshots, keras.callbacks.CSVLogger(str(out / "history.csv"))]


def _misfits(observed, predicted, loss, misfit):
    """Misfits of the starting and inverted models (``predicted``: their data) over all
    shots, measured twice: with the loss as it ended (the last cutoff) and on the
    full-band data."""
    import keras

    full = _make_misfit(misfit)

    def value(fn, data):
        return float(keras.ops.convert_to_numpy(fn(observed, data)))

    start, end = predicted
    misfits = {"measured_with": f"{misfit} misfit summed over all shots",
               "cutoff_hz": loss.cutoff,
               "initial": value(loss, start), "final": value(loss, end),
               "full_band_initial": value(full, start), "full_band_final": value(full, end)}
    misfits["reduction"] = 1.0 - misfits["final"] / misfits["initial"]
    misfits["full_band_reduction"] = 1.0 - misfits["full_band_final"] / \
        misfits["full_band_initial"]
    return misfits


def _write_models(out, models):
    """``history.csv`` (written by the fit) and the models as ``.npy``; ``{name: path}``."""
    files = {"history": out / "history.csv", "inverted_model": out / "inverted.npy",
             "initial_model": out / "initial.npy"}
    np.save(files["inverted_model"], models["inverted"])
    np.save(files["initial_model"], np.asarray(models["initial"], np.float32))
    if models["true"] is not None:
        files["true_model"] = out / "true.npy"
        np.save(files["true_model"], np.asarray(models["true"], np.float32))
    return files


def _model_error(snapshots, start, inverted):
    before, after = snapshots.model_error(start), snapshots.model_error(inverted)
    return {"definition": "||vp - true|| / ||true|| (relative L2)", "initial": before,
            "final": after, "relative_reduction": 1.0 - after / before}
