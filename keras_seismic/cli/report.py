"""What the commands report: the figures they draw, ``metrics.json`` (the problem, the
machine, the timings) and the lines they print.

Figures use :mod:`keras_seismic.plotting`, imported when one is drawn, so that
``keras-seismic --help`` does not load matplotlib.
"""
import contextlib
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np


def _say(*args, **kwargs):
    print(*args, **kwargs, flush=True)


# -- metrics ---------------------------------------------------------------------------------

def _machine():
    """Where the run happened: cores, threads and the load at the time."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        load = None
    versions = {}
    for name in ("numpy", "tensorflow", "keras", "devito"):
        module = sys.modules.get(name)
        versions[name] = getattr(module, "__version__", None)
    return {"cpu_count": os.cpu_count(), "usable_cores": usable,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "load_average_1_5_15_min": load, "platform": platform.platform(),
            "python": platform.python_version(), "versions": versions}


@contextlib.contextmanager
def _timed(timings, name):
    """Sets ``timings[name]`` to the wall time of the block, in seconds."""
    t = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - t


def _process_seconds():
    """Seconds since this process started (Linux), or None."""
    try:
        with open("/proc/self/stat") as handle:
            start_ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
        return round(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 2)
    except (OSError, ValueError, IndexError):
        return None


def _problem(prop, model):
    """The size of the problem: grid, survey, time steps (of ``model``, whose fastest
    velocity sets them) and propagator settings."""
    grid, survey = prop.grid, prop.survey
    dt = prop.time_steps(model)[0]
    return {"grid_shape": list(grid.shape), "spacing_m": list(grid.spacing),
            "extent_m": [round(e, 3) for e in grid.extent], "cells": int(np.prod(grid.shape)),
            "nshots": survey.nshots, "nrec": survey.nrec, "nt": survey.nt, "dt_s": survey.dt,
            "record_length_s": round(survey.duration, 6),
            "internal_dt_s": dt, "internal_steps": int(round(survey.duration / dt)),
            "space_order": prop.space_order, "absorbing_width": prop.absorbing_width,
            "free_surface": prop.free_surface}


def _json_ready(value):
    """``value`` with paths as strings, numpy numbers as Python ones and non-finite
    numbers as None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, Path):
        return os.fspath(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _write_metrics(path, metrics):
    with open(path, "w") as handle:
        json.dump(_json_ready(metrics), handle, indent=2)
        handle.write("\n")


def _finish(out, result, metrics, started):
    """Round off timings, write metrics.json and print a summary."""
    timings = {k: round(v, 2) for k, v in result.pop("timings").items()}
    timings["total"] = round(time.perf_counter() - started, 2)
    timings["since_process_start"] = _process_seconds()
    metrics["wall_time_s"] = timings
    files = result.pop("files")
    files["metrics"] = Path(out) / "metrics.json"
    files["snapshots"] = Path(out) / "snapshots"
    metrics["files"] = {k: os.path.relpath(v, out) for k, v in files.items()}
    _write_metrics(files["metrics"], metrics)
    _print_summary(out, metrics)


def _print_summary(out, metrics):
    m = metrics["misfit"]
    band = "full band" if m["cutoff_hz"] is None else f"cutoff {m['cutoff_hz']:g} Hz"
    _say(f"\nmisfit ({band}): {m['initial']:.4g} -> "
         f"{m['final']:.4g} ({100 * m['reduction']:.1f}% lower)")
    if "model_error" in metrics:
        e = metrics["model_error"]
        _say(f"model error: {e['initial']:.4f} -> {e['final']:.4f} "
             f"({100 * e['relative_reduction']:.1f}% lower)")
    _say(f"wall time: {metrics['wall_time_s']['total']:.1f} s; outputs in {out}")


# -- figures ---------------------------------------------------------------------------------

def _inversion_figures(out, prop, observed, models, predicted, cutoff, history, bounds):
    """The figures of an inversion, written to ``out``; returns ``{name: path}``.

    Args:
        models: ``{"true", "initial", "inverted"}`` velocities (m/s), the true one or None.
        predicted: ``(data of the starting model, data of the inverted model)``.
        bounds: ``(vmin, vmax)`` of the colour scale of the models, m/s.
    """
    from .. import plotting

    vmin, vmax = bounds
    return {
        "comparison_figure": plotting.save_figure(
            plotting.plot_comparison(prop.grid, **models, vmin=vmin, vmax=vmax),
            out / "comparison.png"),
        "shot_figure": plotting.save_figure(
            _shot_figure(prop.survey, observed, *predicted, cutoff), out / "shot.png"),
        "history_figure": plotting.save_figure(_history_figure(history),
                                               out / "history.png"),
    }


def _shot_figure(survey, observed, predicted_start, predicted_end, cutoff):
    """The middle shot: observed data and the residuals of the starting and inverted
    models, on one colour scale."""
    import matplotlib.pyplot as plt

    from .. import plotting

    s = survey.nshots // 2
    receivers = survey.receivers[s]
    fig, axes = plt.subplots(1, 3, figsize=(15.0, 5.5), constrained_layout=True,
                             sharey=True)
    panels = [(observed[s], f"observed, shot {s + 1}/{survey.nshots}"),
              (observed[s] - predicted_start[s], "residual, starting model"),
              (observed[s] - predicted_end[s], "residual, inverted model")]
    limit = None
    for ax, (data, title) in zip(axes, panels):
        plotting.plot_shot(data, survey.dt, receivers=receivers, ax=ax, title=title,
                           mask=survey.receiver_mask[s], t0=survey.t0)
        image = ax.images[0] if ax.images else ax.collections[0]
        if limit is None:
            limit = image.get_clim()[1]
        image.set_clim(-limit, limit)
    band = "full band" if cutoff is None else f"inverted up to {cutoff:g} Hz"
    fig.suptitle(f"full-band data ({band})")
    return fig


def _history_figure(history):
    """Misfit (and model error, when known) against epoch, with the multiscale stages."""
    import matplotlib.pyplot as plt

    from .. import plotting

    has_error = "model_error" in history
    fig, axes = plt.subplots(1, 2 if has_error else 1, figsize=(11.0 if has_error else 6.0,
                                                                4.0),
                             constrained_layout=True, squeeze=False)
    plotting.plot_history({"loss": history["loss"]}, ax=axes[0, 0])
    axes[0, 0].set_title("misfit (at the cutoff of each epoch)")
    if has_error:
        plotting.plot_history({"model_error": history["model_error"]}, ax=axes[0, 1])
        axes[0, 1].set_yscale("linear")
        axes[0, 1].set_ylabel("relative model error")
        axes[0, 1].set_title("||vp - true|| / ||true||")
    _mark_stages(axes, history.get("cutoff"))
    return fig


def _mark_stages(axes, cutoff):
    """Dotted lines between the multiscale stages (``cutoff``: the cutoff of each epoch, Hz,
    ``inf`` for the full band) and their cutoffs in the misfit's title."""
    if not cutoff:
        return
    starts = [i for i in range(1, len(cutoff)) if cutoff[i] != cutoff[i - 1]]
    for ax in axes[0]:
        for i in starts:
            ax.axvline(i + 0.5, color="grey", linestyle=":", linewidth=1)
    labels = ", ".join("full" if math.isinf(c) else f"{c:g}" for c in dict.fromkeys(cutoff))
    axes[0, 0].set_title(f"misfit; cutoffs {labels} Hz")


def _model_figure(vp, grid, survey, data, path):
    """The velocity model with the sources, beside the middle shot; saved to ``path``."""
    import matplotlib.pyplot as plt

    from .. import plotting

    fig, axes = plt.subplots(1, 2, figsize=(13.0, 4.5), constrained_layout=True,
                             gridspec_kw={"width_ratios": [2.0, 1.0]})
    plotting.plot_velocity(vp, grid, ax=axes[0], title="velocity")
    axes[0].plot(survey.sources[:, 0, 0], survey.sources[:, 0, -1], "r*", markersize=8,
                 label="sources")
    axes[0].legend(loc="lower left")
    s = survey.nshots // 2
    plotting.plot_shot(data[s], survey.dt, receivers=survey.receivers[s], ax=axes[1],
                       title=f"shot {s + 1}/{survey.nshots}", mask=survey.receiver_mask[s],
                       t0=survey.t0)
    plotting.save_figure(fig, path)
