"""Velocity models in numpy (``.npy``, ``.npz``) and SEG-Y files: :func:`write_velocity`
and :func:`read_velocity` (the layouts are in the package docstring)."""
import os

import numpy as np
import segyio

from .. import checks
from ..grid import Grid
from .segy import (apply_scalar, create_segy, open_segy, readable,
                   sample_interval, scaled, text_header, writable)

__all__ = ["write_velocity", "read_velocity"]

_SCALE = 1000.0                       # stored integer = metres * _SCALE
_INT16 = 2 ** 15 - 1
_SEGY_EXTENSIONS = (".sgy", ".segy")
_TF = segyio.TraceField


def _extension(path):
    return os.path.splitext(path)[1].lower()


def _check_velocity(path, vp):
    if vp.ndim not in (2, 3):
        raise ValueError(f"{path}: the velocity must be 2-D (nx, nz) or 3-D (nx, ny, nz); got "
                         f"shape {vp.shape}")
    if not np.issubdtype(vp.dtype, np.number) or np.issubdtype(vp.dtype, np.complexfloating):
        raise ValueError(f"{path}: the velocity must be real numbers; got dtype {vp.dtype}")
    nan = ~np.isfinite(vp)
    if nan.any():
        where = tuple(int(i) for i in np.argwhere(nan)[0])
        raise ValueError(f"{path}: the velocity has {int(nan.sum())} NaN or infinite values "
                         f"(the first at index {where})")
    if np.any(vp <= 0):
        raise ValueError(f"{path}: the velocity must be positive (m/s); its minimum is "
                         f"{float(vp.min())}")
    return vp.astype(np.float32)


def _spacing_argument(path, spacing, ndim):
    if spacing is None:
        return None
    spacing = tuple(float(h) for h in np.atleast_1d(spacing))
    if len(spacing) == 1:
        spacing = spacing * ndim
    if len(spacing) != ndim:
        raise ValueError(f"{path}: spacing must have {ndim} values for a {ndim}-D model; got "
                         f"{spacing}")
    return spacing


def _make_grid(path, shape, spacing, origin):
    try:
        return Grid(shape=shape, spacing=spacing, origin=origin)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


# ----------------------------------------------------------------------------- velocity

def write_velocity(path, vp, grid):
    """Write a velocity model; the format follows the file extension.

    * ``.npy``: the float32 array alone (:func:`read_velocity` then needs ``spacing``).
    * ``.npz``: arrays ``vp`` (float32), ``spacing`` and ``origin`` (metres).
    * ``.sgy`` / ``.segy``: one trace per vertical column, x-major (see the module
      docstring). The depth spacing is stored in millimetres in the sample-interval fields
      when it is a whole number of millimetres up to 32767 (32.767 m); otherwise 0 is
      stored, a warning is issued and reading needs ``spacing``.

    Args:
        path: file to create (overwritten if it exists).
        vp: velocity in m/s of shape ``grid.shape``, finite and positive.
        grid: its :class:`keras_seismic.grid.Grid`.

    Example:
        >>> from keras_seismic import datasets
        >>> grid, vp = datasets.camembert()
        >>> write_velocity("camembert.sgy", vp, grid)
    """
    path = writable(path)
    if not isinstance(grid, Grid):
        raise ValueError(f"{path}: grid must be a keras_seismic Grid; got {type(grid).__name__}")
    vp = _check_velocity(path, np.asarray(vp))
    if vp.shape != tuple(grid.shape):
        raise ValueError(f"{path}: vp has shape {vp.shape} but the grid has shape {grid.shape}")
    ext = _extension(path)
    if ext == ".npy":
        np.save(path, vp)
    elif ext == ".npz":
        np.savez(path, vp=vp, spacing=np.asarray(grid.spacing, dtype=np.float64),
                 origin=np.asarray(grid.origin, dtype=np.float64))
    elif ext in _SEGY_EXTENSIONS:
        _write_velocity_segy(path, vp, grid)
    else:
        raise ValueError(f"{path}: unknown velocity file extension {ext!r}; use .npy, .npz, "
                         f".sgy or .segy")


def _write_velocity_segy(path, vp, grid):
    nz, dz = grid.shape[-1], grid.spacing[-1]
    nx = grid.shape[0]
    ny = grid.shape[1] if grid.ndim == 3 else 1
    dz_mm = dz * _SCALE
    if abs(dz_mm - round(dz_mm)) <= 1e-6 * dz_mm and 1 <= round(dz_mm) <= _INT16:
        interval = int(round(dz_mm))
    else:
        interval = 0
        checks.warn(f"{path}: dz={dz} m is not a whole number of millimetres up to "
                    f"{_INT16}; the file does not record it and read_velocity will need "
                    f"spacing=")
    ix, iy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    ix, iy = ix.ravel(), iy.ravel()
    x = scaled(path, "x coordinates", grid.origin[0] + ix * grid.spacing[0])[0]
    y = scaled(path, "y coordinates",
               grid.origin[1] + iy * grid.spacing[1] if grid.ndim == 3 else 0.0 * iy)[0]
    top = scaled(path, "the depth of the top", grid.origin[-1])[0]
    columns = np.ascontiguousarray(vp.reshape(nx * ny, nz), dtype=np.float32)
    text = text_header([
        "keras_seismic velocity model, P-wave velocity in m/s",
        f"{grid.ndim}-D grid shape {grid.shape}, spacing {grid.spacing} m",
        f"origin {grid.origin} m",
        "One trace per vertical column, x-major (trace = ix * ny + iy)",
        "Sample interval = depth spacing dz in millimetres (0 if not whole mm)",
        "INLINE_3D = ix + 1, CROSSLINE_3D = iy + 1",
        "CDP_X/CDP_Y = column x/y in metres x 1000, SourceGroupScalar = -1000",
        "ReceiverGroupElevation = -(depth of the first sample) in metres x 1000,",
        "  ElevationScalar = -1000",
    ])
    with create_segy(path, nx * ny, nz, interval, text) as f:
        for i in range(nx * ny):
            f.header[i] = {
                _TF.TRACE_SEQUENCE_LINE: i + 1, _TF.TRACE_SEQUENCE_FILE: i + 1,
                _TF.CDP: i + 1, _TF.INLINE_3D: ix[i] + 1, _TF.CROSSLINE_3D: iy[i] + 1,
                _TF.CDP_X: x[i], _TF.CDP_Y: y[i], _TF.SourceGroupScalar: -1000,
                _TF.ReceiverGroupElevation: -top, _TF.ElevationScalar: -1000,
                _TF.CoordinateUnits: 1,
                _TF.TRACE_SAMPLE_INTERVAL: interval, _TF.TRACE_SAMPLE_COUNT: nz,
            }
            f.trace[i] = columns[i]


def read_velocity(path, shape=None, spacing=None):
    """Read a velocity model written by :func:`write_velocity` (or a compatible file).

    * ``.npy``: ``spacing`` is required; the origin is 0.
    * ``.npz``: arrays ``vp`` and ``spacing`` (and optionally ``origin``, else 0).
    * anything else is read as SEG-Y, one trace per vertical column. The layout comes from
      ``shape`` if given, else from INLINE_3D / CROSSLINE_3D headers that form a regular
      x-major grid (3-D if more than one crossline), else it is 2-D ``(ntraces, nsamples)``.
      Without ``spacing``, dx (and dy) come from the CDP_X (CDP_Y) coordinates and dz from
      the sample interval read as millimetres; the origin comes from the first trace.

    Args:
        path: the file.
        shape: expected grid shape ``(nx, nz)`` or ``(nx, ny, nz)``; a ValueError is raised
            if the file's model has another shape. For SEG-Y it also sets the layout of the
            traces.
        spacing: grid spacing in metres, one value or one per axis. Takes precedence over
            any spacing stored in the file.

    Returns:
        ``(grid, vp)``: a :class:`keras_seismic.grid.Grid` and the float32 velocity in m/s
        of shape ``grid.shape``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable or truncated file, missing spacing, wrong shape, NaN,
            infinite or non-positive velocities.

    Example:
        >>> grid, vp = read_velocity("camembert.sgy")
        >>> vp.shape == grid.shape
        True
    """
    path = readable(path)
    if shape is not None:
        try:
            shape = tuple(int(n) for n in shape)
        except (TypeError, ValueError):
            raise ValueError(f"{path}: shape must be a tuple of whole numbers; got "
                             f"{shape!r}") from None
        if len(shape) not in (2, 3):
            raise ValueError(f"{path}: shape must be (nx, nz) or (nx, ny, nz); got {shape}")
    ext = _extension(path)
    if ext in (".npy", ".npz"):
        vp, stored_spacing, origin = _load_numpy(path, ext)
        vp = _check_velocity(path, vp)
        if shape is not None and vp.shape != shape:
            raise ValueError(f"{path}: the model has shape {vp.shape}, expected {shape}")
        spacing = _spacing_argument(path, spacing, vp.ndim) or stored_spacing
        if spacing is None:
            raise ValueError(f"{path}: a .npy file stores no grid spacing; pass spacing=(dx, "
                             f"dz) in metres")
        origin = (0.0,) * vp.ndim if origin is None else origin
        return _make_grid(path, vp.shape, spacing, origin), vp
    return _read_velocity_segy(path, shape, spacing)


def _load_numpy(path, ext):
    """(vp, spacing or None, origin or None) from a .npy or .npz file."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return loaded, None, None
        with loaded:
            if "vp" not in loaded.files:
                raise ValueError(f"the archive has arrays {sorted(loaded.files)} but no 'vp'")
            vp = np.asarray(loaded["vp"])
            spacing = loaded["spacing"] if "spacing" in loaded.files else None
            origin = loaded["origin"] if "origin" in loaded.files else None
    except Exception as err:
        raise ValueError(f"{path}: not a readable numpy {ext} file ({err})") from None
    try:
        spacing = None if spacing is None else tuple(float(h) for h in np.ravel(spacing))
        origin = None if origin is None else tuple(float(o) for o in np.ravel(origin))
    except (TypeError, ValueError):
        raise ValueError(f"{path}: 'spacing' and 'origin' must be numbers of metres") from None
    return vp, spacing, origin


def _read_velocity_segy(path, shape, spacing):
    fields = [_TF.INLINE_3D, _TF.CROSSLINE_3D, _TF.CDP_X, _TF.CDP_Y, _TF.SourceGroupScalar,
              _TF.ReceiverGroupElevation, _TF.ElevationScalar, _TF.TRACE_SAMPLE_INTERVAL,
              _TF.TRACE_SAMPLE_COUNT]
    with open_segy(path) as f:
        traces, h, binary_interval = f.traces(), f.headers(fields), f.interval
    ntraces, nz = traces.shape
    if shape is not None:
        if shape[-1] != nz or int(np.prod(shape[:-1])) != ntraces:
            raise ValueError(f"{path}: the file has {ntraces} traces of {nz} samples, which "
                             f"do not fill shape {shape} (needs {int(np.prod(shape[:-1]))} "
                             f"traces of {shape[-1]} samples)")
    else:
        shape = (ntraces, nz)
        il, xl = h[_TF.INLINE_3D], h[_TF.CROSSLINE_3D]
        if il.min() >= 1 and xl.min() >= 1:
            nx, ny = int(il.max()), int(xl.max())
            regular = (nx * ny == ntraces
                       and np.array_equal(il, np.repeat(np.arange(1, nx + 1), ny))
                       and np.array_equal(xl, np.tile(np.arange(1, ny + 1), nx)))
            if regular and ny > 1:
                shape = (nx, ny, nz)
    ndim = len(shape)
    vp = _check_velocity(path, traces.reshape(shape))

    x = apply_scalar(h[_TF.CDP_X], h[_TF.SourceGroupScalar])
    y = apply_scalar(h[_TF.CDP_Y], h[_TF.SourceGroupScalar])
    top = 0.0 - apply_scalar(h[_TF.ReceiverGroupElevation], h[_TF.ElevationScalar])
    spacing = _spacing_argument(path, spacing, ndim)
    if spacing is None:
        nx = shape[0]
        ny = shape[1] if ndim == 3 else 1
        dx = (x[(nx - 1) * ny] - x[0]) / (nx - 1)
        dy = (y[ny - 1] - y[0]) / (ny - 1) if ndim == 3 else None
        dz = sample_interval(path, h[_TF.TRACE_SAMPLE_INTERVAL][0], binary_interval) / _SCALE
        spacing = (dx, dz) if ndim == 2 else (dx, dy, dz)
        if not all(np.isfinite(d) and d > 0 for d in spacing):
            raise ValueError(f"{path}: the headers do not give a positive grid spacing "
                             f"(found {spacing} m from CDP_X/CDP_Y and the sample interval); "
                             f"pass spacing= in metres")
    origin = (x[0], top[0]) if ndim == 2 else (x[0], y[0], top[0])
    return _make_grid(path, shape, spacing, origin), vp
