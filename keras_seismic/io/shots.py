"""Shot records in SEG-Y: :func:`write_shots` and :func:`read_shots` (see the package
docstring for the header fields and their conventions)."""
import contextlib
import os
import types
import warnings

import numpy as np
import segyio

from .. import checks
from ..survey import Survey
from ..wavelets import ricker
from . import geometry
from .segy import (apply_scalar, create_segy, open_segy, sample_interval,
                   scaled, text_header, writable)

__all__ = ["write_shots", "read_shots", "shot_dataset", "COORDINATE_SCALAR"]

#: Scalar written to SourceGroupScalar and ElevationScalar: positions kept to the
#: millimetre (coarser for x, y beyond +-2147 km: map coordinates such as UTM northings).
COORDINATE_SCALAR = -1000
_XY_SCALARS = (COORDINATE_SCALAR, -100, -10, 1)
_INT32 = 2 ** 31 - 1
_INT16 = 2 ** 15 - 1
_TF = segyio.TraceField
# TraceIdentificationCode values of recorded seismic data (0 = unknown, as many writers
# leave it); the others are dead, dummy or auxiliary (time break, sweep, uphole, ...).
_SEISMIC = (0, 1)
_TRACE_KINDS = {-1: "other", 2: "dead", 3: "dummy", 4: "time break", 5: "uphole",
                6: "sweep", 7: "timing", 8: "water break"}
# Scalars for DelayRecordingTime (milliseconds, int16), finest last.
_DELAY_SCALARS = (1, -10, -100, -1000)
_FIELDS = [_TF.FieldRecord, _TF.TraceNumber, _TF.TraceIdentificationCode,
           _TF.DelayRecordingTime, _TF.ScalarTraceHeader, _TF.TRACE_SAMPLE_INTERVAL,
           *geometry.FIELDS]


def _delay_header(path, t0):
    """``(DelayRecordingTime, ScalarTraceHeader)`` holding ``t0`` seconds exactly."""
    for scalar in _DELAY_SCALARS:
        value = t0 * 1000.0 * (abs(scalar) if scalar < 0 else 1.0)
        if abs(value - round(value)) < 1e-6 and abs(round(value)) <= _INT16:
            return int(round(value)), scalar
    raise ValueError(f"{path}: t0={t0} s is not a whole number of microseconds within "
                     f"+-{_INT16} of its unit (DelayRecordingTime is a 16-bit count of "
                     f"milliseconds, 0.1, 0.01 or 0.001 ms)")


def write_shots(path, data, survey):
    """Write shot records and their geometry to a SEG-Y file.

    One trace per live (shot, receiver), shot-major: the padded traces of a masked survey
    (``survey.receiver_mask`` False) are left out, so the file holds the original traces.
    The header fields are listed in the package docstring (positions to the millimetre,
    dt in microseconds, t0 in DelayRecordingTime). The wavelet is not stored.

    Args:
        path: file to create (overwritten if it exists), e.g. ``"shots.sgy"``.
        data: float32 ``(nshots, nt, nrec)`` = ``survey.data_shape``; its padded traces
            are not read.
        survey: the :class:`keras_seismic.survey.Survey` of the data. It must have one
            source a shot (SEG-Y has one source position a trace); ``survey.dt`` must be a
            whole number of microseconds (<= 32767) and ``survey.nt`` <= 32767. The map
            coordinates of a projected 2-D line (``survey.coordinates``) go to the x and y
            headers.

    Raises:
        ValueError: wrong data shape, NaN data in a live trace, simultaneous sources, or a
            geometry or time axis SEG-Y cannot hold.

    Example:
        >>> from keras_seismic import datasets
        >>> grid, vp = datasets.layered()
        >>> survey = datasets.surface_survey(grid, nshots=2)
        >>> write_shots("shots.sgy", np.zeros(survey.data_shape, "float32"), survey)
    """
    path = writable(path)
    live, dt_us = _check_writable(path, data, survey)
    delay, delay_scalar = _delay_header(path, survey.t0)
    g = _trace_geometry(path, survey)
    nshots, nt, nrec = survey.nshots, survey.nt, survey.nrec
    text = text_header([
        "keras_seismic shot records",
        f"{nshots} shots x {nrec} receivers, {nt} samples, dt {dt_us} us, {survey.ndim}-D",
        "IEEE float32 samples (format 5); one trace per (shot, receiver), shot-major",
        "FieldRecord = shot (1-based), TraceNumber = receiver in the shot (1-based)",
        f"SourceX/Y, GroupX/Y: metres x {-g.xy_scalar if g.xy_scalar < 0 else 1}, "
        f"SourceGroupScalar = {g.xy_scalar}",
        "SourceDepth = source depth, ReceiverGroupElevation = -receiver depth,",
        "  metres x 1000, ElevationScalar = -1000; depth z is positive downwards",
        "TRACE_SAMPLE_INTERVAL / binary Interval: dt in microseconds",
        "DelayRecordingTime: time of the first sample in ms (ScalarTraceHeader)",
        f"{int(live.sum())} live traces; padded receivers of uneven shots left out",
    ])
    traces = np.ascontiguousarray(np.transpose(data, (0, 2, 1)), dtype=np.float32)
    with create_segy(path, int(live.sum()), nt, dt_us, text) as f:
        f.bin.update({segyio.BinField.Traces: int(live.sum(axis=1).max())})
        i = 0
        for s in range(nshots):
            for r in np.nonzero(live[s])[0]:
                f.header[i] = {
                    _TF.TRACE_SEQUENCE_LINE: i + 1, _TF.TRACE_SEQUENCE_FILE: i + 1,
                    _TF.FieldRecord: s + 1, _TF.EnergySourcePoint: s + 1,
                    _TF.TraceNumber: r + 1, _TF.TraceIdentificationCode: 1,
                    _TF.SourceX: g.sx[s], _TF.SourceY: g.sy[s], _TF.GroupX: g.gx[s, r],
                    _TF.GroupY: g.gy[s, r], _TF.SourceGroupScalar: g.xy_scalar,
                    _TF.SourceDepth: g.sz[s], _TF.ReceiverGroupElevation: -g.gz[s, r],
                    _TF.ElevationScalar: COORDINATE_SCALAR, _TF.offset: g.offset[s, r],
                    _TF.CoordinateUnits: 1, _TF.DelayRecordingTime: delay,
                    _TF.ScalarTraceHeader: delay_scalar,
                    _TF.TRACE_SAMPLE_INTERVAL: dt_us, _TF.TRACE_SAMPLE_COUNT: nt,
                }
                f.trace[i] = traces[s, r]
                i += 1


def _check_writable(path, data, survey):
    """The live traces ``(nshots, nrec)`` and dt in microseconds of data SEG-Y can hold;
    raises for anything it cannot."""
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
    live = survey.receiver_mask
    if not np.all(np.isfinite(data.transpose(0, 2, 1)[live])):
        raise ValueError(f"{path}: data contains NaN or infinite values")
    dt_us = survey.dt * 1e6
    if abs(dt_us - round(dt_us)) > 1e-3 or not 1 <= round(dt_us) <= _INT16:
        raise ValueError(f"{path}: dt={survey.dt} s is not a whole number of microseconds "
                         f"between 1 and {_INT16}, which SEG-Y needs")
    if survey.nt > _INT16:
        raise ValueError(f"{path}: nt={survey.nt} samples; SEG-Y trace headers hold at most "
                         f"{_INT16}")
    return live, int(round(dt_us))


def _trace_geometry(path, survey):
    """The scaled header integers of the positions: ``sx, sy, sz`` (nshots,), ``gx, gy,
    gz, offset`` (nshots, nrec) and the x, y scalar ``xy_scalar``."""
    nshots, nrec, ndim = survey.nshots, survey.nrec, survey.ndim
    src = survey.sources[:, 0, :]                             # (nshots, ndim)
    rec = survey.receivers                                    # (nshots, nrec, ndim)
    if survey.coordinates is not None:
        src_xy, rec_xy = survey.coordinates["sources"], survey.coordinates["receivers"]
    elif ndim == 3:
        src_xy, rec_xy = src[:, :2], rec[..., :2]
    else:
        src_xy = np.stack([src[:, 0], np.zeros(nshots)], axis=-1)
        rec_xy = np.stack([rec[..., 0], np.zeros((nshots, nrec))], axis=-1)
    g = types.SimpleNamespace()
    xy, g.xy_scalar = scaled(path, "x, y coordinates",
                             np.concatenate([src_xy, rec_xy.reshape(-1, 2)]), _XY_SCALARS)
    (g.sx, g.sy) = xy[:nshots].T
    (g.gx, g.gy) = xy[nshots:].reshape(nshots, nrec, 2).transpose(2, 0, 1)
    g.sz = scaled(path, "source depths", src[:, -1])[0]
    g.gz = scaled(path, "receiver depths", rec[..., -1])[0]
    # Signed by the receiver's side along x, as field geometries sign offsets.
    along = rec[..., 0] - src[:, None, 0]
    offset = np.round(np.sign(along + (along == 0))
                      * np.linalg.norm(rec_xy - src_xy[:, None, :], axis=-1))
    g.offset = np.clip(offset.astype(np.int64), -_INT32, _INT32)
    return g


def read_shots(path, wavelet=None, f0=None, ndim=2, endian=None, elevation="elevation",
               sources=None, receivers=None, grid=None):
    """Read shot records and their geometry from a SEG-Y file, as field files come.

    Traces are grouped into shots by FieldRecord and ordered by TraceNumber. The reader
    takes the sample count the traces really hold when the headers disagree, detects the
    byte order, reads every sample format segyio reads, drops dead and auxiliary traces
    (TraceIdentificationCode other than 0 or 1), pads shots with fewer receivers to the
    largest (``survey.receiver_mask``), and turns DelayRecordingTime into ``survey.t0``.
    Each of these says what it did in a warning. The position conventions are in the
    package docstring.

    Args:
        path: the SEG-Y file.
        wavelet: the source wavelet, ``(nt,)`` or ``(nshots, nt)``, on the file's time
            axis (from ``t0``); SEG-Y does not store it.
        f0: if ``wavelet`` is None, the peak frequency in Hz of a Ricker wavelet
            ``ricker(f0, dt, nt, t0=t0)`` (peak 1.5 / f0 after the shot) to use instead.
        ndim: 2 for (x, z) positions (a crooked line is projected onto its best-fitting
            straight line) or 3 for (x, y, z).
        endian: ``"big"``, ``"little"`` or None to detect the byte order.
        elevation: ``"elevation"`` (SEG-Y: elevations positive up) or ``"depth"`` (the
            elevation fields hold depths, positive down, as JUDI writes them).
        sources: optional source positions in metres ``(nshots, ndim)``, in place of the
            headers' (for files without coordinates).
        receivers: optional receiver positions in metres, ``(nrec, ndim)`` or
            ``(nshots, nrec, ndim)`` (``nrec`` the receivers of the largest shot), or
            ``"offset"`` (2-D): each receiver at its source's x plus the trace's offset
            header, at the headers' depth.
        grid: optional :class:`~keras_seismic.grid.Grid` of the model: positions outside
            it are reported.

    Returns:
        ``(data, survey)``: float32 data ``(nshots, nt, nrec)`` (0 in padded traces) and a
        :class:`keras_seismic.survey.Survey` with sources ``(nshots, 1, ndim)`` and
        receivers ``(nshots, nrec, ndim)`` in metres (depth z positive down), dt and t0 in
        seconds, and the receiver mask.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not readable SEG-Y (truncated, corrupt), has no usable
            coordinates (and none were given), has geographic coordinates, sources that
            move within a shot, headers that disagree on dt or t0, NaN values, no wavelet
            or f0, or a wavelet without nt samples.

    Example:
        >>> data, survey = read_shots("shots.sgy", f0=10.0)
        >>> data.shape == survey.data_shape
        True
    """
    path = os.fspath(path)
    with open_segy(path, endian) as f:
        survey, rows, shot, slot = _scan(f, wavelet, f0, ndim, elevation, sources, receivers,
                                         grid)
        traces = f.traces()[rows]
    if not np.all(np.isfinite(traces)):
        raise ValueError(f"{path}: the traces contain NaN or infinite values")
    data = np.zeros((survey.nshots, survey.nrec, survey.nt), dtype=np.float32)
    data[shot, slot] = traces
    return np.ascontiguousarray(data.transpose(0, 2, 1)), survey


def shot_dataset(path, batch_size=1, shuffle=False, seed=None, wavelet=None, f0=None,
                 ndim=2, endian=None, elevation="elevation", sources=None, receivers=None,
                 grid=None):
    """Stream the shots of a SEG-Y file into ``model.fit``: a ``tf.data.Dataset`` that
    reads a batch of shots at a time, so that a survey larger than memory never has to
    be held whole.

    The headers are read once, here, as :func:`read_shots` reads them (the same options,
    warnings and errors); the traces of each batch are read from the file as the dataset
    is iterated, each epoch anew.

    Args:
        path: the SEG-Y file.
        batch_size: shots a batch.
        shuffle: draw the shots in a new random order each epoch.
        seed: seed of that order.
        wavelet, f0, ndim, endian, elevation, sources, receivers, grid: as for
            :func:`read_shots`.

    Returns:
        ``(dataset, survey)``: the dataset yields ``(shots, data)``: int64 shot indices
        ``(batch,)`` and float32 records ``(batch, nt, nrec)`` (0 in padded traces), what
        ``model.fit(dataset)`` of :class:`~keras_seismic.models.FWI` wants; the survey is
        :func:`read_shots`'.

    Example:
        >>> dataset, survey = ks.io.shot_dataset("line.sgy", batch_size=4, f0=8.0)
        >>> prop = ks.AcousticPropagator(grid, survey)
        >>> ks.models.FWI(prop, vp0, 1450.0, 4700.0).fit(dataset, epochs=10)
    """
    import tensorflow as tf      # the rest of ks.io works without TensorFlow

    path = os.fspath(path)
    batch_size = checks.whole(batch_size, f"{path}: batch_size", low=1)
    with open_segy(path, endian) as f:
        survey, rows, shot, slot = _scan(f, wavelet, f0, ndim, elevation, sources, receivers,
                                         grid)
    nrec, nt = survey.nrec, survey.nt
    traces_of = [np.nonzero(shot == s)[0] for s in range(survey.nshots)]
    order = np.random.default_rng(seed)

    def batches():
        with contextlib.ExitStack() as stack:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")    # the scan has reported the file's quirks
                f = stack.enter_context(open_segy(path, endian))
            ids = order.permutation(survey.nshots) if shuffle else np.arange(survey.nshots)
            for start in range(0, survey.nshots, batch_size):
                batch = ids[start:start + batch_size]
                out = np.zeros((len(batch), nrec, nt), dtype=np.float32)
                for k, s in enumerate(batch):
                    own = rows[traces_of[s]]
                    block = f.traces(int(own.min()), int(own.max()) + 1)[own - own.min()]
                    if not np.all(np.isfinite(block)):
                        raise ValueError(f"{path}: the traces of shot {s} contain NaN or "
                                         f"infinite values")
                    out[k, slot[traces_of[s]]] = block
                yield batch.astype(np.int64), out.transpose(0, 2, 1)

    signature = (tf.TensorSpec((None,), tf.int64), tf.TensorSpec((None, nt, nrec), tf.float32))
    dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
    # Keras counts an extra optimizer step at the end of a dataset of unknown length,
    # which changes Adam's bias correction: tell it how many batches there are.
    nbatches = -(-survey.nshots // batch_size)
    return dataset.apply(tf.data.experimental.assert_cardinality(nbatches)), survey


def _scan(f, wavelet, f0, ndim, elevation, sources, receivers, grid):
    """The survey of an open file from its headers, and where its traces go:
    ``(survey, rows, shot, slot)``, the file indices of the seismic traces and the shot
    and receiver slot of each."""
    path = f.path
    if ndim not in (2, 3):
        raise ValueError(f"{path}: ndim must be 2 for (x, z) or 3 for (x, y, z); got {ndim!r}")
    if wavelet is None and f0 is None:
        raise ValueError(f"{path}: SEG-Y files do not store the source wavelet; pass "
                         f"wavelet=(nt,) array or f0= (Hz) for a Ricker wavelet")
    h = f.headers(_FIELDS)
    nt = f.nsamples
    keep = _seismic_traces(path, h[_TF.TraceIdentificationCode])
    h = {k: v[keep] for k, v in h.items()}
    dt = _dt(path, h[_TF.TRACE_SAMPLE_INTERVAL], f.interval)
    t0 = _first_time(path, h)
    layout = _shot_layout(path, h[_TF.FieldRecord], h[_TF.TraceNumber])
    src, rec, coordinates = _positions(f, h, layout, ndim, elevation, sources, receivers)
    geometry.warn_misplaced(path, src, rec, layout.mask, elevation, grid)

    wavelet = _ricker_after(path, f0, dt, nt, t0) if wavelet is None else \
        _given_wavelet(path, wavelet, nt)
    try:
        survey = Survey(sources=src, receivers=rec, dt=dt, nt=nt, wavelet=wavelet, t0=t0,
                        receiver_mask=layout.mask, coordinates=coordinates)
    except ValueError as err:
        raise checks.ArgumentError(getattr(err, "argument", None), f"{path}: {err}") from None
    return survey, np.nonzero(keep)[0], layout.shot, layout.slot


class _Layout:
    """Where a file's traces go: the shot and receiver slot of each, the ``mask`` of the
    slots that hold a trace, and the first trace of each shot (whose values fill a shot's
    padding slots)."""

    def __init__(self, shot, slot, nshots, nrec):
        self.shot, self.slot, self.shape = shot, slot, (nshots, nrec)
        self.first = np.unique(shot, return_index=True)[1]
        self.mask = np.zeros(self.shape, dtype=bool)
        self.mask[shot, slot] = True

    def gather(self, values):
        """Per-trace values -> ``(nshots, nrec, ...)``."""
        out = np.empty(self.shape + values.shape[1:], dtype=np.float64)
        out[...] = values[self.first][:, None]
        out[self.shot, self.slot] = values
        return out


def _positions(f, h, layout, ndim, elevation, sources, receivers):
    """``(sources (nshots, ndim), receivers (nshots, nrec, ndim), coordinates)`` in metres,
    from the headers ``h`` unless given; a crooked 2-D line is projected onto its best
    straight line, and ``coordinates`` then keeps the original (x, y) (else None)."""
    path, shot, first = f.path, layout.shot, layout.first
    nshots, nrec = layout.shape
    factor = geometry.unit_factor(path, f.measurement)
    sx, sy, gx, gy = geometry.horizontal(path, h, factor)
    sz, gz = geometry.depths(path, h, factor, elevation)
    _check_one_source(path, h[_TF.FieldRecord], shot, first, np.stack([sx, sy, sz], -1))
    coordinates = None
    if sources is None:
        geometry.check_usable(path, ("sources", "SourceX", "SourceY"), sx, sy, nshots)
    if receivers is None:
        geometry.check_usable(path, ("receivers", "GroupX", "GroupY"), gx, gy, len(gx))
    crooked = ndim == 2 and (np.any(sy) or np.any(gy))
    if crooked and (sources is not None or receivers is not None):
        raise ValueError(f"{path}: SourceY/GroupY are not all 0, so the line must be "
                         f"projected, which needs the sources and the receivers from the "
                         f"headers; give both sources= and receivers=, or neither")
    if crooked:
        coordinates = {"sources": np.stack([sx, sy], -1)[first],
                       "receivers": layout.gather(np.stack([gx, gy], -1))}
        sx, gx = geometry.project_line(path, coordinates["sources"],
                                       np.stack([gx, gy], -1))
        sx = sx[shot]
    header_src = np.stack([sx, sy, sz] if ndim == 3 else [sx, sz], -1)[first]
    src = header_src if sources is None else _given(path, "sources", sources,
                                                    (nshots, ndim))
    if isinstance(receivers, str):
        if receivers != "offset" or ndim != 2:
            raise checks.ArgumentError("receivers", f"{path}: receivers must be an array "
                                       f"of positions, or 'offset' in 2-D; got "
                                       f"{receivers!r} with ndim={ndim}")
        gx = src[shot, 0] + factor * h[_TF.offset]
        receivers = None
    rec = layout.gather(np.stack([gx, gy, gz] if ndim == 3 else [gx, gz], -1))
    if receivers is not None:
        rec = _given(path, "receivers", receivers, (nshots, nrec, ndim))
    return src, rec, coordinates


def _seismic_traces(path, codes):
    """Bool (ntraces,): the traces to keep (seismic data); a warning lists the others."""
    keep = np.isin(codes, _SEISMIC)
    if not keep.any():
        raise ValueError(f"{path}: no trace is seismic data: TraceIdentificationCode is "
                         f"{sorted(set(codes.tolist()))[:5]} (1 = seismic, 0 = unknown)")
    if not keep.all():
        kinds, counts = np.unique(codes[~keep], return_counts=True)
        listed = ", ".join(f"{n} x {k} ({_TRACE_KINDS.get(int(k), 'auxiliary')})"
                           for k, n in zip(kinds, counts))
        checks.warn(f"{path}: dropped {int((~keep).sum())} traces that are not seismic "
                    f"data by their TraceIdentificationCode: {listed}")
    return keep


def _dt(path, trace_intervals, binary_interval):
    """dt in seconds; ValueError if the headers do not give it or disagree."""
    interval = sample_interval(path, trace_intervals[0], binary_interval)
    if not interval:
        raise ValueError(f"{path}: neither the binary header (Interval = {binary_interval}) "
                         f"nor the first trace header (TRACE_SAMPLE_INTERVAL = "
                         f"{int(trace_intervals[0])}) gives a positive sample interval in "
                         f"microseconds")
    return interval * 1e-6


def _first_time(path, h):
    """t0 in seconds from DelayRecordingTime (ms, ScalarTraceHeader applied)."""
    t0 = apply_scalar(h[_TF.DelayRecordingTime], h[_TF.ScalarTraceHeader]) / 1000.0
    if np.ptp(t0) > 1e-9:
        i = int(np.argmax(t0 != t0[0]))
        raise ValueError(f"{path}: the traces start at different times: DelayRecordingTime "
                         f"gives {t0[0] * 1e3:g} ms for the first trace but {t0[i] * 1e3:g} "
                         f"ms for trace {i + 1}; keras_seismic needs one time axis")
    return float(t0[0])


def _shot_layout(path, records, numbers):
    """The :class:`_Layout` of the traces: each one's shot index and receiver slot.

    The slot is TraceNumber - 1 when the TraceNumbers of each shot are distinct, from 1
    to at most twice the traces of the largest shot (channel numbers: a dropped channel
    leaves its slot masked), else the rank by TraceNumber within the shot (station
    numbers and the like).
    """
    ids, shot = np.unique(records, return_inverse=True)
    counts = np.bincount(shot)
    nshots, nrec = ids.size, int(counts.max())
    distinct = np.unique(np.stack([shot, numbers]), axis=1).shape[1] == len(shot)
    channels = distinct and numbers.min() >= 1 and numbers.max() <= 2 * nrec
    if channels:
        nrec = int(numbers.max())
        slot = numbers - 1
    else:
        order = np.lexsort((np.arange(len(shot)), numbers, shot))
        slot = np.empty(len(shot), dtype=np.int64)
        slot[order] = np.arange(len(shot)) - np.repeat(np.cumsum(counts) - counts, counts)
    if np.any(counts != nrec):
        odd = ", ".join(f"FieldRecord {s}: {c}" for s, c in zip(ids, counts) if c != nrec)
        checks.warn(f"{path}: the shots have different numbers of receivers ({odd} of "
                    f"{nrec}); each is padded to {nrec}, and survey.receiver_mask is "
                    f"False for the padding (if the file was cut short, its last shot is "
                    f"incomplete)")
    return _Layout(shot, slot, nshots, nrec)


def _check_one_source(path, records, shot, first, positions):
    """ValueError if the traces of a shot disagree on its source position."""
    moved = np.linalg.norm(positions - positions[first][shot], axis=-1) > 0.5
    if moved.any():
        i = int(np.argmax(moved))
        raise ValueError(f"{path}: the traces of FieldRecord {records[i]} have different "
                         f"source positions (SourceX/SourceY/SourceDepth); a shot needs one "
                         f"source. Is the file sorted by something else than shots?")


def _given(path, name, value, shape):
    """A position argument as float64 ``shape`` (receivers may omit the shot axis)."""
    receivers = name == "receivers"
    expected = f"{shape[1:]} or {shape}" if receivers else f"{shape}"
    fault = lambda detail: checks.ArgumentError(  # noqa: E731
        name, f"{path}: {name} must be finite positions in metres of shape {expected} (the "
              f"file has {shape[0]} shots" + (f" and at most {shape[1]} receivers a shot"
                                              if receivers else "") + f"); {detail}")
    try:
        array = checks.finite_array(value, name, np.float64)
    except (TypeError, ValueError) as err:
        raise fault(str(err).replace(name, "it", 1)) from None
    if receivers and array.shape == shape[1:]:
        array = np.broadcast_to(array, shape)
    if array.shape != shape:
        raise fault(f"got shape {array.shape}")
    return array


def _given_wavelet(path, wavelet, nt):
    """The ``wavelet`` argument as float32 ``(..., nt)`` for a file of ``nt`` samples."""
    wavelet = checks.finite_array(wavelet, f"{path}: wavelet", argument="wavelet")
    if wavelet.ndim == 0 or wavelet.shape[-1] != nt:
        raise checks.ArgumentError("wavelet", f"{path}: the wavelet has shape "
                                   f"{wavelet.shape} but the file has nt={nt} samples a "
                                   f"trace; its last axis must have {nt} samples")
    return wavelet


def _ricker_after(path, f0, dt, nt, t0):
    """``ricker(f0, dt, nt, t0=t0)``, with a warning if part of it fires before ``t0``
    (the wavefield is at rest until the first sample, so that part is lost)."""
    wavelet = ricker(f0, dt, nt, t0=t0)
    if t0 > 0:
        before = ricker(f0, dt, int(np.ceil(t0 / dt)) + 1)
        if np.abs(before).max() > 1e-2:
            checks.warn(f"{path}: the record starts t0 = {t0:g} s after the shot, but the "
                        f"Ricker wavelet (peak at {1.5 / f0:g} s) starts before it; the "
                        f"modelled data miss that part of the source. Pass a wavelet= on "
                        f"the record's time axis (e.g. estimated from the data)")
    return wavelet
