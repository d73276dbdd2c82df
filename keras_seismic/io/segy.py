"""SEG-Y files as they come: byte order, sample format and sample count, read through
segyio, with the checks that turn any failure into a ``ValueError`` naming the file.

A file whose headers give the wrong sample count (acquisition systems write the planned
record length, then cut the traces) cannot be opened by segyio, which trusts the binary
header. :func:`open_segy` finds the count the traces really hold from the file size and
the positions of the trace headers, warns naming both, and then reads the traces and
headers straight from a memory map.
"""
import contextlib
import os
import warnings

import numpy as np
import segyio

from .. import checks

__all__ = ["SegyTraces", "open_segy", "create_segy", "readable", "writable",
           "apply_scalar", "scaled", "sample_interval", "text_header"]

_TF = segyio.TraceField
_BF = segyio.BinField
_TEXT, _BINARY, _TRACE_HEADER = 3200, 400, 240
_INT32 = 2 ** 31 - 1
# The sample formats segyio decodes, as numpy types for the memory-mapped path (IBM
# floats, code 1, go through segyio.tools.native there).
_NUMPY_FORMATS = {1: "u4", 2: "i4", 3: "i2", 5: "f4", 6: "f8", 8: "i1", 9: "i8", 10: "u4",
                  11: "u2", 12: "u8", 16: "u1"}
#: Bytes a sample of each SEG-Y sample format code that segyio reads.
SAMPLE_BYTES = {code: np.dtype(t).itemsize for code, t in _NUMPY_FORMATS.items()}
# Standard codes segyio does not decode (it would read them as IBM floats).
_UNDECODED = {4: "fixed point with gain", 7: "3-byte signed integers",
              15: "3-byte unsigned integers"}
_BYTE_ORDER_CONSTANT = 16909060          # SEG-Y rev 2, bytes 3297-3300: 0x01020304
_LARGEST_COUNT = 65535                   # samples a trace in a SEG-Y rev 1 header
# Offset in a trace header of its sample count's 2 bytes, then the interval's 2.
_COUNT_AT = int(_TF.TRACE_SAMPLE_COUNT) - 1
# Trace-header field sizes in bytes, from segyio's positions: the fields tile the header.
_POSITIONS = sorted({int(f) for f in _TF.enums()})
_FIELD_BYTES = dict(zip(_POSITIONS, np.diff(_POSITIONS + [_TRACE_HEADER + 1])))


def readable(path):
    """``path`` as a str; FileNotFoundError if it does not exist."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise ValueError(f"{path}: is not a regular file")
    return path


def writable(path):
    """``path`` as a str; FileNotFoundError if its folder does not exist."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{path}: the folder {folder} does not exist")
    return path


def apply_scalar(values, scalars):
    """SEG-Y scalar convention: negative = divide by ``|scalar|``, positive = multiply,
    0 = 1. Returns float64."""
    values = np.asarray(values, dtype=np.float64)
    scalars = np.asarray(scalars, dtype=np.float64)
    factor = np.where(scalars < 0, 1.0 / np.where(scalars < 0, -scalars, 1.0),
                      np.where(scalars > 0, scalars, 1.0))
    return values * factor


def scaled(path, what, metres, scalars=(-1000,)):
    """``(ints, scalar)``: metres as int64 header values under the finest of ``scalars``
    (SEG-Y convention, -1000 = millimetres) that keeps them in the int32 header range;
    ValueError naming ``what`` if none does."""
    metres = np.asarray(metres, dtype=np.float64)
    for scalar in scalars:
        values = np.round(metres * (-scalar if scalar < 0 else 1.0 / scalar))
        if not np.any(np.abs(values) > _INT32):
            return values.astype(np.int64), scalar
    coarsest = scalars[-1]
    raise ValueError(f"{path}: {what} exceed the SEG-Y header range of "
                     f"+-{_INT32 / (-coarsest if coarsest < 0 else 1.0 / coarsest):.0f} m")


def sample_interval(path, trace_interval, binary_interval):
    """The sample interval in the raw header unit (microseconds, or millimetres for a
    depth model), or 0 if the file does not record it. ValueError if the binary header
    and the first trace header disagree."""
    found = {int(v) for v in (binary_interval, trace_interval) if v > 0}
    if len(found) > 1:
        raise ValueError(f"{path}: the binary header gives a sample interval of "
                         f"{binary_interval} but the first trace header gives {trace_interval}")
    return found.pop() if found else 0


def text_header(lines):
    """The 3200-byte textual header holding ``lines`` (76 characters each at most)."""
    return segyio.tools.create_text_header({i + 1: line[:76] for i, line in enumerate(lines)})


def create_segy(path, ntraces, nsamples, interval, text, sample_format=5):
    """An open, new big-endian SEG-Y file (IEEE float32 samples by default) with the
    binary header filled in. ``interval`` goes to the sample-interval fields as is
    (microseconds for time data)."""
    spec = segyio.spec()
    spec.format = sample_format
    spec.samples = np.arange(nsamples, dtype=np.float64) * (interval / 1000.0)
    spec.tracecount = ntraces
    spec.endian = "big"
    f = segyio.create(path, spec)
    f.text[0] = text
    f.bin.update({_BF.Interval: interval, _BF.IntervalOriginal: interval,
                  _BF.Samples: nsamples, _BF.SamplesOriginal: nsamples,
                  _BF.Format: sample_format, _BF.MeasurementSystem: 1,
                  _BF.SEGYRevision: 0x0100})
    return f


class SegyTraces:
    """The traces of an open SEG-Y file, read through segyio or a memory map.

    Attributes:
        path: the file.
        endian: ``"big"`` or ``"little"``.
        format: the SEG-Y sample format code.
        ntraces, nsamples: the traces and the samples a trace the file holds.
        interval: the binary header's sample interval (microseconds; 0 if unset).
        measurement: the binary header's MeasurementSystem (1 metres, 2 feet, 0 unset).
    """

    def __init__(self, path, endian, layout, handle=None, memmap=None):
        self.path, self.endian = path, endian
        self.format, self.nsamples, self.ntraces, self.interval, self.measurement = layout
        self._segy, self._map = handle, memmap

    def headers(self, fields, start=0, stop=None):
        """``{field: int64 (n,)}`` of the traces ``start:stop`` (all by default)."""
        stop = self.ntraces if stop is None else stop
        if self._segy is not None:
            return {f: np.asarray(self._segy.attributes(f)[start:stop], dtype=np.int64)
                    for f in fields}
        raw = self._map[start:stop]["header"]
        prefix = ">" if self.endian == "big" else "<"
        out = {}
        for f in fields:
            size = _FIELD_BYTES[int(f)]
            cell = raw[:, int(f) - 1:int(f) - 1 + size]
            out[f] = np.ascontiguousarray(cell).view(f"{prefix}i{size}")[:, 0].astype(np.int64)
        return out

    def traces(self, start=0, stop=None):
        """Samples of the traces ``start:stop`` as float32 ``(n, nsamples)``."""
        stop = self.ntraces if stop is None else stop
        if self._segy is not None:
            out = np.asarray(self._segy.trace.raw[start:stop], dtype=np.float32)
            return out.reshape(stop - start, self.nsamples)
        raw = np.ascontiguousarray(self._map[start:stop]["samples"])
        if self.format == 1:
            if self.endian == "little":  # segyio decodes IBM floats in big-endian order
                raw = raw.reshape(-1, 4)[:, ::-1].copy()
            return segyio.tools.native(raw.reshape(-1), format=1).reshape(
                stop - start, self.nsamples).astype(np.float32)
        prefix = ">" if self.endian == "big" else "<"
        return raw.view(prefix + _NUMPY_FORMATS[self.format]).reshape(
            stop - start, self.nsamples).astype(np.float32)


@contextlib.contextmanager
def open_segy(path, endian=None):
    """Open a SEG-Y file for reading, whatever its byte order and header sample count.

    Args:
        path: the file.
        endian: ``"big"``, ``"little"`` or None to detect it: from the SEG-Y rev 2 byte
            order constant if present, else from the sample format code, which reads as a
            known code in one byte order only.

    Yields:
        a :class:`SegyTraces`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a readable SEG-Y file (truncated, unknown sample format, traces
            of no consistent length); the message names the file.
    """
    path = readable(path)
    if endian is not None and endian not in ("big", "little"):
        raise ValueError(f"{path}: endian must be 'big', 'little' or None (detect); got "
                         f"{endian!r}")
    size = os.path.getsize(path)
    if size < _TEXT + _BINARY + _TRACE_HEADER:
        raise ValueError(f"{path}: not a SEG-Y file or truncated: it has {size} bytes, fewer "
                         f"than the 3600-byte file header and one 240-byte trace header")
    with open(path, "rb") as f:
        head = f.read(_TEXT + _BINARY + _TRACE_HEADER)
    endian = endian or _byte_order(head)
    layout, trace0 = _layout(path, head, size, endian)
    if layout[1] == _binary(head, _BF.Samples, endian):
        handle = _segyio_open(path, endian)
        try:
            yield SegyTraces(path, endian, layout, handle=handle)
        finally:
            handle.close()
        return
    fmt, nsamples, ntraces = layout[:3]
    dtype = np.dtype([("header", "u1", _TRACE_HEADER),
                      ("samples", "u1", nsamples * SAMPLE_BYTES[fmt])])
    yield SegyTraces(path, endian, layout,
                     memmap=np.memmap(path, dtype=dtype, mode="r", offset=trace0,
                                      shape=(ntraces,)))


def _binary(head, field, endian, size=2):
    """A binary-header field (``field`` is its 1-based byte position in the file)."""
    start = int(field) - 1
    return int.from_bytes(head[start:start + size], endian, signed=True)


def _byte_order(head):
    constant = _TEXT + 96  # bytes 3297-3300
    for order in ("big", "little"):
        if int.from_bytes(head[constant:constant + 4], order) == _BYTE_ORDER_CONSTANT:
            return order
    known = set(SAMPLE_BYTES) | set(_UNDECODED)
    if _binary(head, _BF.Format, "big") in known:
        return "big"
    return "little" if _binary(head, _BF.Format, "little") in known else "big"


def _layout(path, head, size, endian):
    """``((format, nsamples, ntraces, interval, measurement), trace0)``: the sample count
    the traces hold, with a warning if a header says otherwise."""
    fmt = _binary(head, _BF.Format, endian)
    if fmt in _UNDECODED:
        raise ValueError(f"{path}: its samples are in SEG-Y format {fmt} ({_UNDECODED[fmt]}), "
                         f"which segyio does not decode; convert the file to IEEE or IBM "
                         f"floats first")
    if fmt not in SAMPLE_BYTES:
        raise ValueError(f"{path}: not a readable SEG-Y file; the binary header has an "
                         f"unknown sample format code {fmt} (in {endian}-endian byte order; "
                         f"known codes {sorted(SAMPLE_BYTES)})")
    extended = max(_binary(head, _BF.ExtendedHeaders, endian), 0)
    trace0 = _TEXT + _BINARY + _TEXT * extended
    bps, body = SAMPLE_BYTES[fmt], size - trace0
    with open(path, "rb") as f:
        f.seek(trace0)
        signature = f.read(_TRACE_HEADER)[_COUNT_AT:_COUNT_AT + 4]
    stated = {"the binary header's Samples": _binary(head, _BF.Samples, endian),
              "the first trace header's TRACE_SAMPLE_COUNT":
                  int.from_bytes(signature[:2], endian, signed=True)}
    nsamples = _sample_count(path, trace0, body, bps, stated, signature)
    wrong = {k: v for k, v in stated.items() if v != nsamples and v != 0}
    if wrong:
        checks.warn(f"{path}: {' and '.join(f'{k} = {v}' for k, v in wrong.items())}, but "
                    f"the traces hold {nsamples} samples (from the file size and the "
                    f"positions of the trace headers); reading {nsamples} samples a trace")
    ntraces = body // (_TRACE_HEADER + nsamples * bps)
    layout = (fmt, nsamples, ntraces, _binary(head, _BF.Interval, endian),
              _binary(head, _BF.MeasurementSystem, endian))
    return layout, trace0


def _sample_count(path, trace0, body, bps, stated, signature):
    """The samples a trace holds: the first count ``stated`` by the headers that tiles the
    ``body`` bytes of traces and whose trace headers repeat the first one's ``signature``
    (sample count and interval), else the smallest count that does."""
    def fits(n):
        return n > 0 and body >= _TRACE_HEADER + n * bps and \
            body % (_TRACE_HEADER + n * bps) == 0

    with open(path, "rb") as f:
        def repeats(n):
            """Whether the headers of the traces of n samples repeat the first one's
            sample count and interval (a wrong n lands in sample data)."""
            count = body // (_TRACE_HEADER + n * bps)
            for k in sorted({1, 2, 3, count // 2, count - 1} - {0}):
                if k >= count:
                    continue
                f.seek(trace0 + k * (_TRACE_HEADER + n * bps) + _COUNT_AT)
                if f.read(4) != signature:
                    return False
            return True

        declared = [n for n in dict.fromkeys(stated.values()) if fits(n) and repeats(n)]
        if declared:
            return declared[0]
        found = [n for n in range(1, min(_LARGEST_COUNT, body // bps) + 1)
                 if fits(n) and body // (_TRACE_HEADER + n * bps) >= 2 and repeats(n)]
    if not found:
        raise ValueError(f"{path}: not a readable SEG-Y file; it may be truncated or "
                         f"corrupt: its {body} bytes of traces fit no sample count "
                         f"({', '.join(f'{k} = {v}' for k, v in stated.items())}, {bps} "
                         f"bytes a sample)")
    return found[0]


def _segyio_open(path, endian):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return segyio.open(path, "r", ignore_geometry=True, endian=endian)
    except Exception as err:     # segyio raises RuntimeError, OSError, IndexError, ...
        raise ValueError(f"{path}: not a readable SEG-Y file; it may be truncated or corrupt "
                         f"({type(err).__name__}: {err})") from None
