"""Figures: velocity models, images, shot gathers, misfit histories and inversion results.

Every function returns the :class:`matplotlib.figure.Figure` it drew on and never calls
``plt.show``. Functions that draw one panel take an optional ``ax`` to draw into; otherwise
they make a new figure. Axes are in metres and seconds; depth increases downwards.

When there is no display (no ``DISPLAY`` / ``WAYLAND_DISPLAY`` on Linux) and neither pyplot nor
``MPLBACKEND`` has chosen a backend yet, the non-interactive Agg backend is selected.

Example:
    >>> fig = plot_velocity(vp, grid, title="initial model")
    >>> save_figure(fig, "out/initial.png")
"""
import csv
import os
import sys
from pathlib import Path

import matplotlib
import numpy as np

if (sys.platform.startswith("linux") and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("MPLBACKEND")
        and "matplotlib.pyplot" not in sys.modules):
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after the backend choice)
from matplotlib.ticker import MaxNLocator  # noqa: E402

__all__ = ["plot_velocity", "plot_image", "plot_shot", "plot_history", "plot_comparison",
           "save_figure"]

_AXIS_NAMES = {2: ("x", "z"), 3: ("x", "y", "z")}


# ----------------------------------------------------------------------------- helpers

def _as_model(name, array, grid):
    """``array`` as a float64 numpy array of ``grid.shape`` (a leading axis of length 1, as
    in a batch of one, is dropped)."""
    array = np.asarray(array, dtype=np.float64)
    shape = tuple(grid.shape)
    if array.shape == (1,) + shape:
        array = array[0]
    if array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape} but the grid has shape {shape}")
    return array


def _section(array, grid):
    """The (x, z) section to draw: the array itself in 2-D, the middle y slice in 3-D.
    Returns the section and a description of the slice (or None)."""
    if grid.ndim == 2:
        return array, None
    iy = grid.shape[1] // 2
    y = grid.origin[1] + iy * grid.spacing[1]
    return array[:, iy, :], f"y = {y:g} m"


def _extent(grid):
    """imshow extent (left, right, bottom, top) of an (x, z) section, cell-centred, depth
    increasing downwards."""
    x0, z0 = grid.origin[0], grid.origin[-1]
    dx, dz = grid.spacing[0], grid.spacing[-1]
    nx, nz = grid.shape[0], grid.shape[-1]
    return (x0 - dx / 2, x0 + (nx - 0.5) * dx, z0 + (nz - 0.5) * dz, z0 - dz / 2)


def _section_height(grid, width):
    """Figure height in inches that fits an (x, z) section drawn ``width`` inches wide at
    equal aspect, with room for labels."""
    x_extent = max(grid.shape[0] * grid.spacing[0], 1e-12)
    ratio = grid.shape[-1] * grid.spacing[-1] / x_extent
    return float(np.clip(width * ratio + 1.2, 2.5, 8.0))


def _new_axes(ax, figsize=(7.0, 4.0)):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, constrained_layout=True)
        return fig, ax
    return ax.figure, ax


def _label_section(ax):
    ax.set_xlabel("x (m)")
    ax.set_ylabel("depth z (m)")


def _check_clip(clip):
    try:
        clip = float(clip)
    except (TypeError, ValueError):
        raise ValueError(f"clip must be a percentile in (0, 100]; got {clip!r}") from None
    if not 0 < clip <= 100:
        raise ValueError(f"clip must be a percentile in (0, 100]; got {clip}")
    return clip


def _symmetric_limit(values, clip):
    """The clip-th percentile of |values| (ignoring NaN), or 1 if that is zero."""
    finite = np.abs(values[np.isfinite(values)])
    limit = float(np.percentile(finite, clip)) if finite.size else 0.0
    if limit == 0:
        limit = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    return limit


# ----------------------------------------------------------------------------- models

def plot_velocity(vp, grid, ax=None, title=None, vmin=None, vmax=None, cmap="viridis"):
    """Draw a velocity model, x across and depth down, with a colour bar in m/s.

    Args:
        vp: velocity in m/s, array of ``grid.shape`` (a 3-D model is drawn as its middle
            y slice).
        grid: the :class:`~keras_seismic.Grid` of the model.
        ax: matplotlib Axes to draw into; a new figure if None.
        title: panel title.
        vmin, vmax: colour scale limits in m/s; the model's range if None.
        cmap: colour map name.

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: if ``vp`` does not have the grid's shape.
    """
    vp = _as_model("vp", vp, grid)
    section, where = _section(vp, grid)
    fig, ax = _new_axes(ax, figsize=(7.0, _section_height(grid, 5.5)))
    image = ax.imshow(section.T, extent=_extent(grid), origin="upper", cmap=cmap,
                      vmin=vmin, vmax=vmax, interpolation="nearest", aspect="equal")
    _label_section(ax)
    if title is not None or where is not None:
        ax.set_title(title if title is not None else where)
    fig.colorbar(image, ax=ax, label="velocity (m/s)")
    return fig


def plot_image(image, grid, ax=None, title=None, clip=98, cmap="gray"):
    """Draw a migrated image or a model perturbation on a symmetric colour scale.

    The colour scale runs from ``-a`` to ``a`` with ``a`` the ``clip``-th percentile of the
    absolute values, so a few strong samples do not wash out the rest.

    Args:
        image: array of ``grid.shape`` (a 3-D image is drawn as its middle y slice).
        grid: the :class:`~keras_seismic.Grid` of the image.
        ax: matplotlib Axes to draw into; a new figure if None.
        title: panel title.
        clip: percentile in (0, 100] of |image| at which the colour scale saturates.
        cmap: a diverging or grey colour map (``"gray"``, ``"seismic"``, ...).

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: if ``image`` does not have the grid's shape, or ``clip`` is out of range.
    """
    image = _as_model("image", image, grid)
    clip = _check_clip(clip)
    section, where = _section(image, grid)
    limit = _symmetric_limit(section, clip)
    fig, ax = _new_axes(ax, figsize=(7.0, _section_height(grid, 5.5)))
    drawn = ax.imshow(section.T, extent=_extent(grid), origin="upper", cmap=cmap,
                      vmin=-limit, vmax=limit, interpolation="nearest", aspect="equal")
    _label_section(ax)
    if title is not None or where is not None:
        ax.set_title(title if title is not None else where)
    fig.colorbar(drawn, ax=ax, label="amplitude")
    return fig


# ----------------------------------------------------------------------------- data

def _receiver_axis(receivers, nrec):
    """Horizontal receiver coordinate to plot against: the first of x, y whose values are
    all distinct. Returns (coordinates, label) or (None, None) to fall back to the index."""
    receivers = np.asarray(receivers, dtype=np.float64)
    if receivers.ndim != 2 or receivers.shape[0] != nrec or receivers.shape[1] not in (2, 3):
        raise ValueError(f"receivers must have shape (nrec, ndim) = ({nrec}, 2 or 3) to match "
                         f"the gather; got shape {receivers.shape}")
    names = _AXIS_NAMES[receivers.shape[1]][:-1]
    for axis, name in enumerate(names):
        coordinate = receivers[:, axis]
        if np.unique(coordinate).size == nrec:
            return coordinate, f"receiver {name} (m)"
    return None, None


def _edges(centres):
    """Cell edges around sorted cell centres."""
    if centres.size == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    middle = 0.5 * (centres[1:] + centres[:-1])
    return np.concatenate([[2 * centres[0] - middle[0]], middle,
                           [2 * centres[-1] - middle[-1]]])


def plot_shot(data, dt, receivers=None, ax=None, title=None, clip=98, cmap="gray",
              mask=None, t0=0.0):
    """Draw one shot gather, time down in seconds and receivers across.

    Args:
        data: one gather ``(nt, nrec)`` (a trailing channel axis of length 1 is dropped).
        dt: time sampling in seconds.
        receivers: receiver positions ``(nrec, ndim)`` in metres; the gather is drawn against
            receiver x (or y when x values repeat, as on a line along y). If None, or if no
            horizontal coordinate separates the receivers, against the receiver index.
        ax: matplotlib Axes to draw into; a new figure if None.
        title: panel title.
        clip: percentile in (0, 100] of |data| at which the colour scale saturates.
        cmap: colour map name.
        mask: optional bool ``(nrec,)``, the shot's row of ``survey.receiver_mask``: the
            padded traces (False) are left out of the figure.
        t0: time of the first sample in seconds (``survey.t0``).

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: on a gather that is not 2-D, a non-positive ``dt``, receivers that do not
            match the gather, or ``clip`` out of range.
    """
    data = np.asarray(data, dtype=np.float64)
    if data.ndim == 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim != 2 or 0 in data.shape:
        raise ValueError(f"plot_shot draws one gather of shape (nt, nrec); got shape "
                         f"{data.shape} (select a shot first, e.g. data[0])")
    dt = float(dt)
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive number of seconds; got {dt}")
    clip = _check_clip(clip)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != data.shape[1:] or not mask.any():
            raise ValueError(f"mask must be {data.shape[1]} booleans, one a trace, with at "
                             f"least one True; got shape {mask.shape}")
        data = data[:, mask]
        receivers = None if receivers is None else np.asarray(receivers)[mask]
    t0 = float(t0)
    nt, nrec = data.shape
    limit = _symmetric_limit(data, clip)
    coordinate, label = (None, None) if receivers is None else _receiver_axis(receivers, nrec)
    t_edges = t0 + (np.arange(nt + 1) - 0.5) * dt
    fig, ax = _new_axes(ax, figsize=(6.0, 6.0))
    style = dict(cmap=cmap, vmin=-limit, vmax=limit)
    if coordinate is None:
        label = "receiver index"
        coordinate = np.arange(nrec, dtype=np.float64)
    order = np.argsort(coordinate, kind="stable")
    coordinate, data = coordinate[order], data[:, order]
    steps = np.diff(coordinate)
    if nrec == 1 or np.allclose(steps, steps[0], rtol=1e-6, atol=0):
        x_edges = _edges(coordinate)
        drawn = ax.imshow(data, extent=(x_edges[0], x_edges[-1], t_edges[-1], t_edges[0]),
                          origin="upper", aspect="auto", interpolation="nearest", **style)
    else:
        drawn = ax.pcolormesh(_edges(coordinate), t_edges, data, shading="flat",
                              rasterized=True, **style)
        ax.set_ylim(t_edges[-1], t_edges[0])
    ax.set_xlabel(label)
    ax.set_ylabel("time (s)")
    if title is not None:
        ax.set_title(title)
    fig.colorbar(drawn, ax=ax, label="amplitude")
    return fig


# ----------------------------------------------------------------------------- history

def _read_history_csv(path):
    """Columns of a CSV written by ``keras.callbacks.CSVLogger`` as a dict of float lists."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"history file {path} has no epochs")
    columns = {}
    for key in rows[0]:
        values = []
        for row in rows:
            try:
                values.append(float(row[key]))
            except (TypeError, ValueError):
                values.append(np.nan)
        columns[key] = values
    return columns


def plot_history(history, ax=None, keys=None):
    """Draw misfit against epoch on a logarithmic axis.

    Args:
        history: ``History.history`` (a dict of lists), a ``keras.callbacks.History``, or the
            path of a CSV file written by ``keras.callbacks.CSVLogger``.
        ax: matplotlib Axes to draw into; a new figure if None.
        keys: the entries to draw; by default every entry whose name contains ``"loss"`` or
            ``"misfit"`` (all entries but ``epoch`` if there is none), leaving out entries
            without a single finite value (CSVLogger's ``NA`` columns).

    Epochs are counted from 1, as in Keras's progress bar.

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: if the history is empty, a key is missing or the lengths disagree.
    """
    if isinstance(history, (str, os.PathLike)):
        history = _read_history_csv(history)
    elif hasattr(history, "history") and isinstance(history.history, dict):
        history = history.history
    if not isinstance(history, dict):
        raise ValueError("history must be a dict of lists, a keras History or the path of a "
                         f"CSVLogger file; got {type(history).__name__}")
    epochs = history.get("epoch")
    # CSVLogger writes "NA" for entries it never saw (val_loss without validation data)
    available = [key for key in history if key != "epoch"
                 and np.any(np.isfinite(np.asarray(history[key], dtype=np.float64)))]
    if keys is None:
        keys = [key for key in available if "loss" in key or "misfit" in key] or available
    elif isinstance(keys, str):
        keys = [keys]
    keys = list(keys)
    if not keys:
        raise ValueError("history has nothing to plot")
    missing = [key for key in keys if key not in history]
    if missing:
        raise ValueError(f"history has no {missing}; available: {available}")
    series = {key: np.asarray(history[key], dtype=np.float64).ravel() for key in keys}
    lengths = {key: values.size for key, values in series.items()}
    n = max(lengths.values())
    if n == 0:
        raise ValueError("history has no epochs")
    if epochs is not None and len(epochs) == n:
        epochs = np.asarray(epochs, dtype=np.float64) + 1
    else:
        epochs = np.arange(1, n + 1, dtype=np.float64)
    fig, ax = _new_axes(ax, figsize=(6.0, 4.0))
    positive = False
    for key, values in series.items():
        if values.size != n:
            raise ValueError(f"history entries have different lengths: {lengths}")
        ax.plot(epochs, values, marker="o" if n < 30 else None, markersize=3, label=key)
        positive |= bool(np.any(values[np.isfinite(values)] > 0))
    if positive:
        ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("misfit")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return fig


# ----------------------------------------------------------------------------- results

def plot_comparison(grid, true=None, initial=None, inverted=None, vmin=None, vmax=None,
                    cmap="viridis"):
    """Draw the true, initial and inverted velocity models side by side on one colour
    scale, and their vertical profiles at the middle x (and middle y in 3-D).

    Args:
        grid: the :class:`~keras_seismic.Grid` of the models.
        true, initial, inverted: velocity models in m/s of ``grid.shape``; missing ones are
            skipped, at least one is needed.
        vmin, vmax: shared colour scale in m/s; the range of all models if None.
        cmap: colour map name.

    Returns:
        The matplotlib Figure: one panel a model, titled ``"true"``, ``"initial"``,
        ``"inverted"``, a shared colour bar, and the profile panel.

    Raises:
        ValueError: if no model is given or one does not have the grid's shape.
    """
    models = {name: _as_model(f"{name} model", model, grid)
              for name, model in (("true", true), ("initial", initial), ("inverted", inverted))
              if model is not None}
    if not models:
        raise ValueError("plot_comparison needs at least one of true, initial, inverted")
    sections = {name: _section(model, grid)[0] for name, model in models.items()}
    finite = np.concatenate([s[np.isfinite(s)] for s in sections.values()])
    vmin = float(finite.min()) if vmin is None and finite.size else vmin
    vmax = float(finite.max()) if vmax is None and finite.size else vmax
    n = len(models)
    height = max(_section_height(grid, 3.6), 3.0)
    fig, axes = plt.subplots(1, n + 1, figsize=(4.0 * n + 3.0, height), constrained_layout=True,
                             gridspec_kw={"width_ratios": [3.0] * n + [1.5]})
    panels, profile_ax = axes[:n], axes[n]
    ix = grid.shape[0] // 2
    x_mid = grid.origin[0] + ix * grid.spacing[0]
    depth = grid.origin[-1] + np.arange(grid.shape[-1]) * grid.spacing[-1]
    styles = {"true": dict(color="k", linestyle="-"),
              "initial": dict(color="tab:blue", linestyle="--"),
              "inverted": dict(color="tab:red", linestyle="-")}
    drawn = None
    for ax, (name, section) in zip(panels, sections.items()):
        drawn = ax.imshow(section.T, extent=_extent(grid), origin="upper", cmap=cmap,
                          vmin=vmin, vmax=vmax, interpolation="nearest", aspect="equal")
        ax.axvline(x_mid, color="w", linewidth=0.8, linestyle=":")
        _label_section(ax)
        ax.set_title(name)
        profile_ax.plot(section[ix], depth, label=name, **styles[name])
    fig.colorbar(drawn, ax=list(panels), label="velocity (m/s)")
    where = f"x = {x_mid:g} m"
    if grid.ndim == 3:
        where += ", " + _section(next(iter(models.values())), grid)[1]
    profile_ax.set_title(f"profile at {where}")
    profile_ax.set_xlabel("velocity (m/s)")
    profile_ax.set_ylabel("depth z (m)")
    profile_ax.set_ylim(depth[-1], depth[0])
    profile_ax.grid(True, alpha=0.3)
    profile_ax.legend()
    return fig


def save_figure(fig, path, dpi=120):
    """Save ``fig`` to ``path`` (format from the extension; parent directories are made) and
    close it. Returns the path as a :class:`pathlib.Path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path
