"""Files: shot records and velocity models in SEG-Y (through segyio) and numpy formats.

Shot records (:func:`write_shots`, :func:`read_shots`)
    One SEG-Y trace per (shot, receiver), shot-major, samples as IEEE float32 (format 5),
    big-endian. Trace headers used:

    ============================  =========================================================
    FieldRecord                   shot number, 1-based (also EnergySourcePoint)
    TraceNumber                   receiver number within the shot, 1-based
    TRACE_SEQUENCE_LINE / _FILE   trace number within the file, 1-based
    SourceX, SourceY              source x, y in metres times 1000 (SourceGroupScalar)
    GroupX, GroupY                receiver x, y in metres times 1000 (SourceGroupScalar)
    SourceGroupScalar             -1000 (segyio/SEG-Y convention: negative = divide)
    SourceDepth                   source depth (z, positive down) in metres times 1000
    ReceiverGroupElevation        minus the receiver depth (an elevation, positive up),
                                  in metres times 1000
    ElevationScalar               -1000, applies to SourceDepth and ReceiverGroupElevation
    offset                        signed horizontal source-receiver distance, whole metres
                                  (informative only; not read back)
    TRACE_SAMPLE_INTERVAL         dt in microseconds
    TRACE_SAMPLE_COUNT            nt
    ============================  =========================================================

    The binary header holds Interval (dt in microseconds), Samples (nt), Format (5), Traces
    (receivers a shot) and MeasurementSystem (1 = metres). In 2-D, positions are (x, z)
    and SourceY = GroupY = 0; in 3-D they are (x, y, z). Coordinates are thus kept to the
    millimetre and must lie within +-2147 km; dt must be a whole number of microseconds up
    to 32767 and nt at most 32767.

Velocity models (:func:`write_velocity`, :func:`read_velocity`)
    ``.npy``: the float32 array only (reading needs ``spacing``). ``.npz``: arrays ``vp``,
    ``spacing`` and ``origin``. ``.sgy`` / ``.segy``: one trace per vertical column (the
    depth axis is the trace), x-major in 3-D (trace ``ix * ny + iy``), with the depth
    spacing dz in millimetres in the sample-interval fields (the "microseconds" of a
    time-domain file), INLINE_3D = ix + 1, CROSSLINE_3D = iy + 1, CDP_X / CDP_Y = column
    position times 1000 (SourceGroupScalar -1000) and ReceiverGroupElevation = minus the
    depth of the first sample times 1000 (ElevationScalar -1000).

Every reader raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the
file for anything unreadable (truncated, not SEG-Y, NaN values, wrong shapes).
"""
import os
import warnings

import numpy as np
import segyio

from .grid import Grid
from .survey import Survey
from .wavelets import ricker

__all__ = ["write_shots", "read_shots", "write_velocity", "read_velocity"]

#: Scalar written to SourceGroupScalar and ElevationScalar: positions kept to the millimetre.
COORDINATE_SCALAR = -1000
_SCALE = 1000.0                       # stored integer = metres * _SCALE
_INT32 = 2 ** 31 - 1
_INT16 = 2 ** 15 - 1
_FORMAT_IEEE_FLOAT = 5
_MEASUREMENT_METRES = 1
_SEGY_EXTENSIONS = (".sgy", ".segy")
_TF = segyio.TraceField
_BF = segyio.BinField


# ----------------------------------------------------------------------------- helpers

def _readable(path):
    """``path`` as a str; FileNotFoundError if it does not exist."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise ValueError(f"{path}: is not a regular file")
    return path


def _writable(path):
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{path}: the folder {folder} does not exist")
    return path


def _extension(path):
    return os.path.splitext(path)[1].lower()


def _scaled_ints(path, what, metres):
    """Metres -> int32 millimetres for headers scaled by COORDINATE_SCALAR."""
    values = np.round(np.asarray(metres, dtype=np.float64) * _SCALE)
    if np.any(np.abs(values) > _INT32):
        raise ValueError(f"{path}: {what} exceed the SEG-Y header range of +-{_INT32 / _SCALE:.0f}"
                         f" m at millimetre precision")
    return values.astype(np.int64)


def _apply_scalar(values, scalars):
    """segyio/SEG-Y scalar convention: negative = divide by |scalar|, positive = multiply,
    0 = 1."""
    values = np.asarray(values, dtype=np.float64)
    scalars = np.asarray(scalars, dtype=np.float64)
    factor = np.where(scalars < 0, 1.0 / np.where(scalars < 0, -scalars, 1.0),
                      np.where(scalars > 0, scalars, 1.0))
    return values * factor


def _text_header(lines):
    return segyio.tools.create_text_header({i + 1: line[:76] for i, line in enumerate(lines)})


def _create_segy(path, ntraces, nsamples, interval, text):
    """An open, new big-endian IEEE-float SEG-Y file with the binary header filled in.
    ``interval`` goes to the sample-interval fields as is (microseconds for time data)."""
    spec = segyio.spec()
    spec.format = _FORMAT_IEEE_FLOAT
    spec.samples = np.arange(nsamples, dtype=np.float64) * (interval / 1000.0)
    spec.tracecount = ntraces
    spec.endian = "big"
    f = segyio.create(path, spec)
    f.text[0] = text
    f.bin.update({_BF.Interval: interval, _BF.IntervalOriginal: interval,
                  _BF.Samples: nsamples, _BF.SamplesOriginal: nsamples,
                  _BF.Format: _FORMAT_IEEE_FLOAT, _BF.MeasurementSystem: _MEASUREMENT_METRES,
                  _BF.SEGYRevision: 0x0100})
    return f


def _read_segy(path, fields):
    """Read a whole SEG-Y file: (traces float32 (ntraces, nsamples), {field: int64 array},
    binary-header interval). Any failure of segyio becomes a ValueError naming the file."""
    path = _readable(path)
    size = os.path.getsize(path)
    if size < 3600 + 240:
        raise ValueError(f"{path}: not a SEG-Y file or truncated: it has {size} bytes, fewer "
                         f"than the 3600-byte file header and one 240-byte trace header")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with segyio.open(path, "r", ignore_geometry=True) as f:
                nsamples, ntraces = len(f.samples), f.tracecount
                if nsamples == 0 or ntraces == 0:
                    raise ValueError("it holds no samples or no traces")
                traces = np.asarray(f.trace.raw[:], dtype=np.float32).reshape(ntraces, nsamples)
                headers = {field: np.asarray(f.attributes(field)[:], dtype=np.int64)
                           for field in fields}
                interval = int(f.bin[_BF.Interval])
    except FileNotFoundError:
        raise
    except Exception as err:     # segyio raises RuntimeError, OSError, IndexError, ...
        raise ValueError(f"{path}: not a readable SEG-Y file; it may be truncated or corrupt "
                         f"({type(err).__name__}: {err})") from None
    for warning in caught:
        if "format" in str(warning.message).lower():
            raise ValueError(f"{path}: not a readable SEG-Y file; the binary header has an "
                             f"unknown sample format ({warning.message})")
    counts = headers.get(_TF.TRACE_SAMPLE_COUNT)
    if counts is not None:
        bad = np.nonzero((counts != 0) & (counts != nsamples))[0]
        if bad.size:
            raise ValueError(f"{path}: trace {bad[0] + 1} has {counts[bad[0]]} samples in its "
                             f"header but the file header says {nsamples}; traces of "
                             f"different lengths are not supported")
    return traces, headers, interval


def _sample_interval(path, headers, binary_interval):
    """The sample interval in the raw header unit (microseconds / millimetres), or 0 if the
    file does not record it. ValueError if the binary and trace headers disagree."""
    trace_interval = int(headers[_TF.TRACE_SAMPLE_INTERVAL][0])
    found = {v for v in (binary_interval, trace_interval) if v > 0}
    if len(found) > 1:
        raise ValueError(f"{path}: the binary header gives a sample interval of "
                         f"{binary_interval} but the first trace header gives {trace_interval}")
    return found.pop() if found else 0


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


# ----------------------------------------------------------------------------- shots

def write_shots(path, data, survey):
    """Write shot records and their geometry to a SEG-Y file.

    One trace per (shot, receiver), shot-major; the header fields are listed in the
    module docstring (positions to the millimetre, dt in microseconds). The wavelet is not
    stored.

    Args:
        path: file to create (overwritten if it exists), e.g. ``"shots.sgy"``.
        data: float32 ``(nshots, nt, nrec)`` = ``survey.data_shape``.
        survey: the :class:`keras_seismic.survey.Survey` of the data. It must have one
            source a shot (SEG-Y has one source position a trace); ``survey.dt`` must be a
            whole number of microseconds (<= 32767) and ``survey.nt`` <= 32767.

    Raises:
        ValueError: wrong data shape, NaN data, simultaneous sources, or a geometry or time
            axis SEG-Y cannot hold.

    Example:
        >>> from keras_seismic import datasets
        >>> grid, vp = datasets.layered()
        >>> survey = datasets.surface_survey(grid, nshots=2)
        >>> write_shots("shots.sgy", np.zeros(survey.data_shape, "float32"), survey)
    """
    path = _writable(path)
    if not isinstance(survey, Survey):
        raise ValueError(f"{path}: survey must be a keras_seismic Survey; got "
                         f"{type(survey).__name__}")
    if survey.nsrc != 1:
        raise ValueError(f"{path}: the survey has {survey.nsrc} simultaneous sources a shot, "
                         f"but a SEG-Y trace holds one source position; write one shot per "
                         f"source instead")
    data = np.asarray(data)
    if data.shape != survey.data_shape:
        raise ValueError(f"{path}: data must have shape (nshots, nt, nrec) = "
                         f"{survey.data_shape}; got {data.shape}")
    if not np.all(np.isfinite(data)):
        raise ValueError(f"{path}: data contains NaN or infinite values")
    dt_us = survey.dt * 1e6
    if abs(dt_us - round(dt_us)) > 1e-3 or not 1 <= round(dt_us) <= _INT16:
        raise ValueError(f"{path}: dt={survey.dt} s is not a whole number of microseconds "
                         f"between 1 and {_INT16}, which SEG-Y needs")
    dt_us = int(round(dt_us))
    if survey.nt > _INT16:
        raise ValueError(f"{path}: nt={survey.nt} samples; SEG-Y trace headers hold at most "
                         f"{_INT16}")

    nshots, nt, nrec, ndim = survey.nshots, survey.nt, survey.nrec, survey.ndim
    src = survey.sources[:, 0, :]                             # (nshots, ndim)
    rec = survey.receivers                                    # (nshots, nrec, ndim)
    zeros = np.zeros(nshots)
    sx = _scaled_ints(path, "source x coordinates", src[:, 0])
    sy = _scaled_ints(path, "source y coordinates", src[:, 1] if ndim == 3 else zeros)
    sz = _scaled_ints(path, "source depths", src[:, -1])
    gx = _scaled_ints(path, "receiver x coordinates", rec[..., 0])
    gy = _scaled_ints(path, "receiver y coordinates",
                      rec[..., 1] if ndim == 3 else np.zeros((nshots, nrec)))
    gz = _scaled_ints(path, "receiver depths", rec[..., -1])
    horizontal = rec[..., :-1] - src[:, None, :-1]
    offset = np.round(np.sign(horizontal[..., 0] + (horizontal[..., 0] == 0))
                      * np.linalg.norm(horizontal, axis=-1)).astype(np.int64)
    offset = np.clip(offset, -_INT32, _INT32)

    text = _text_header([
        "keras_seismic shot records",
        f"{nshots} shots x {nrec} receivers, {nt} samples, dt {dt_us} us, {ndim}-D",
        "IEEE float32 samples (format 5); one trace per (shot, receiver), shot-major",
        "FieldRecord = shot (1-based), TraceNumber = receiver in the shot (1-based)",
        "SourceX/Y, GroupX/Y: metres x 1000, SourceGroupScalar = -1000",
        "SourceDepth = source depth, ReceiverGroupElevation = -receiver depth,",
        "  metres x 1000, ElevationScalar = -1000; depth z is positive downwards",
        "TRACE_SAMPLE_INTERVAL / binary Interval: dt in microseconds",
    ])
    traces = np.ascontiguousarray(np.transpose(data, (0, 2, 1)), dtype=np.float32)
    with _create_segy(path, nshots * nrec, nt, dt_us, text) as f:
        f.bin.update({_BF.Traces: nrec})
        for s in range(nshots):
            for r in range(nrec):
                i = s * nrec + r
                f.header[i] = {
                    _TF.TRACE_SEQUENCE_LINE: i + 1, _TF.TRACE_SEQUENCE_FILE: i + 1,
                    _TF.FieldRecord: s + 1, _TF.EnergySourcePoint: s + 1,
                    _TF.TraceNumber: r + 1, _TF.TraceIdentificationCode: 1,
                    _TF.SourceX: sx[s], _TF.SourceY: sy[s], _TF.GroupX: gx[s, r],
                    _TF.GroupY: gy[s, r], _TF.SourceGroupScalar: COORDINATE_SCALAR,
                    _TF.SourceDepth: sz[s], _TF.ReceiverGroupElevation: -gz[s, r],
                    _TF.ElevationScalar: COORDINATE_SCALAR, _TF.offset: offset[s, r],
                    _TF.CoordinateUnits: 1,
                    _TF.TRACE_SAMPLE_INTERVAL: dt_us, _TF.TRACE_SAMPLE_COUNT: nt,
                }
                f.trace[i] = traces[s, r]


def read_shots(path, wavelet=None, f0=None, ndim=2):
    """Read shot records and their geometry from a SEG-Y file.

    Traces are grouped into shots by FieldRecord (shots in increasing FieldRecord order,
    receivers in increasing TraceNumber order, ties in file order). The coordinate scalars
    are applied (negative = divide), dt and nt come from the headers. The source position
    of a shot is taken from its first trace. See the module docstring for the fields.

    Args:
        path: a SEG-Y file, e.g. one written by :func:`write_shots`.
        wavelet: source wavelet, ``(nt,)`` or ``(nshots, nt)``, on the file's time axis.
            SEG-Y does not store it.
        f0: if ``wavelet`` is None, the peak frequency in Hz of a Ricker wavelet
            ``ricker(f0, dt, nt)`` to use instead.
        ndim: 2 for (x, z) positions (the file must then have SourceY = GroupY = 0) or 3 for
            (x, y, z).

    Returns:
        ``(data, survey)``: float32 data ``(nshots, nt, nrec)`` and a
        :class:`keras_seismic.survey.Survey` with sources ``(nshots, 1, ndim)`` and
        receivers ``(nshots, nrec, ndim)`` in metres (depth z positive down), dt in seconds.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not readable SEG-Y (truncated, corrupt), shots have different
            numbers of receivers, headers disagree on dt or nt, the data has NaN values, no
            wavelet or f0 was given, or the wavelet does not have nt samples.

    Example:
        >>> data, survey = read_shots("shots.sgy", f0=10.0)
        >>> data.shape == survey.data_shape
        True
    """
    path = os.fspath(path)
    if ndim not in (2, 3):
        raise ValueError(f"{path}: ndim must be 2 for (x, z) or 3 for (x, y, z); got {ndim!r}")
    if wavelet is None and f0 is None:
        raise ValueError(f"{path}: SEG-Y files do not store the source wavelet; pass "
                         f"wavelet=(nt,) array or f0= (Hz) for a Ricker wavelet")
    fields = [_TF.FieldRecord, _TF.TraceNumber, _TF.SourceX, _TF.SourceY, _TF.GroupX,
              _TF.GroupY, _TF.SourceGroupScalar, _TF.SourceDepth, _TF.ReceiverGroupElevation,
              _TF.ElevationScalar, _TF.TRACE_SAMPLE_INTERVAL, _TF.TRACE_SAMPLE_COUNT]
    traces, h, binary_interval = _read_segy(path, fields)
    ntraces, nt = traces.shape
    dt_us = _sample_interval(path, h, binary_interval)
    if dt_us <= 0:
        raise ValueError(f"{path}: neither the binary header (Interval = {binary_interval}) "
                         f"nor the first trace header (TRACE_SAMPLE_INTERVAL = "
                         f"{int(h[_TF.TRACE_SAMPLE_INTERVAL][0])}) gives a positive sample "
                         f"interval in microseconds")
    dt = dt_us * 1e-6

    records = h[_TF.FieldRecord]
    order = np.lexsort((np.arange(ntraces), h[_TF.TraceNumber], records))
    shot_ids, counts = np.unique(records, return_counts=True)
    if np.any(counts != counts[0]):
        usual = np.bincount(counts).argmax()
        odd = ", ".join(f"FieldRecord {s}: {c}" for s, c in zip(shot_ids, counts) if c != usual)
        raise ValueError(f"{path}: all shots must have the same number of receivers; most "
                         f"have {usual} traces but {odd}. The file may be truncated.")
    nshots, nrec = shot_ids.size, int(counts[0])

    data = np.ascontiguousarray(
        traces[order].reshape(nshots, nrec, nt).transpose(0, 2, 1), dtype=np.float32)
    if not np.all(np.isfinite(data)):
        raise ValueError(f"{path}: the traces contain NaN or infinite values")

    def field(name, scalar):
        return _apply_scalar(h[name], h[scalar])[order].reshape(nshots, nrec)

    sx, sy = field(_TF.SourceX, _TF.SourceGroupScalar), field(_TF.SourceY, _TF.SourceGroupScalar)
    gx, gy = field(_TF.GroupX, _TF.SourceGroupScalar), field(_TF.GroupY, _TF.SourceGroupScalar)
    sz = field(_TF.SourceDepth, _TF.ElevationScalar)
    gz = 0.0 - field(_TF.ReceiverGroupElevation, _TF.ElevationScalar)
    if ndim == 2 and (np.any(sy != 0) or np.any(gy != 0)):
        raise ValueError(f"{path}: the traces have non-zero SourceY/GroupY; read them with "
                         f"ndim=3 (or project the positions onto a line first)")
    if ndim == 2:
        sources = np.stack([sx[:, 0], sz[:, 0]], axis=-1)
        receivers = np.stack([gx, gz], axis=-1)
    else:
        sources = np.stack([sx[:, 0], sy[:, 0], sz[:, 0]], axis=-1)
        receivers = np.stack([gx, gy, gz], axis=-1)

    if wavelet is not None:
        wavelet = np.asarray(wavelet, dtype=np.float32)
        if wavelet.ndim == 0 or wavelet.shape[-1] != nt:
            raise ValueError(f"{path}: the wavelet has shape {wavelet.shape} but the file has "
                             f"nt={nt} samples a trace; its last axis must have {nt} samples")
    else:
        wavelet = ricker(f0, dt, nt)
    try:
        survey = Survey(sources=sources, receivers=receivers, dt=dt, nt=nt, wavelet=wavelet)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    return data, survey


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
    path = _writable(path)
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
        warnings.warn(f"{path}: dz={dz} m is not a whole number of millimetres up to "
                      f"{_INT16}; the file does not record it and read_velocity will need "
                      f"spacing=", stacklevel=3)
    ix, iy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    ix, iy = ix.ravel(), iy.ravel()
    x = _scaled_ints(path, "x coordinates", grid.origin[0] + ix * grid.spacing[0])
    y = _scaled_ints(path, "y coordinates",
                     grid.origin[1] + iy * grid.spacing[1] if grid.ndim == 3 else 0.0 * iy)
    top = _scaled_ints(path, "the depth of the top", grid.origin[-1])
    columns = np.ascontiguousarray(vp.reshape(nx * ny, nz), dtype=np.float32)
    text = _text_header([
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
    with _create_segy(path, nx * ny, nz, interval, text) as f:
        for i in range(nx * ny):
            f.header[i] = {
                _TF.TRACE_SEQUENCE_LINE: i + 1, _TF.TRACE_SEQUENCE_FILE: i + 1,
                _TF.CDP: i + 1, _TF.INLINE_3D: ix[i] + 1, _TF.CROSSLINE_3D: iy[i] + 1,
                _TF.CDP_X: x[i], _TF.CDP_Y: y[i], _TF.SourceGroupScalar: COORDINATE_SCALAR,
                _TF.ReceiverGroupElevation: -top, _TF.ElevationScalar: COORDINATE_SCALAR,
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
    path = _readable(path)
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
    traces, h, binary_interval = _read_segy(path, fields)
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

    x = _apply_scalar(h[_TF.CDP_X], h[_TF.SourceGroupScalar])
    y = _apply_scalar(h[_TF.CDP_Y], h[_TF.SourceGroupScalar])
    top = 0.0 - _apply_scalar(h[_TF.ReceiverGroupElevation], h[_TF.ElevationScalar])
    spacing = _spacing_argument(path, spacing, ndim)
    if spacing is None:
        nx = shape[0]
        ny = shape[1] if ndim == 3 else 1
        dx = (x[(nx - 1) * ny] - x[0]) / (nx - 1)
        dy = (y[ny - 1] - y[0]) / (ny - 1) if ndim == 3 else None
        dz = _sample_interval(path, h, binary_interval) / _SCALE
        spacing = (dx, dz) if ndim == 2 else (dx, dy, dz)
        if not all(np.isfinite(d) and d > 0 for d in spacing):
            raise ValueError(f"{path}: the headers do not give a positive grid spacing "
                             f"(found {spacing} m from CDP_X/CDP_Y and the sample interval); "
                             f"pass spacing= in metres")
    origin = (x[0], top[0]) if ndim == 2 else (x[0], y[0], top[0])
    return _make_grid(path, shape, spacing, origin), vp
