"""Files: shot records and velocity models in SEG-Y (through segyio) and numpy formats.

Shot records (:func:`write_shots`, :func:`read_shots`, :func:`shot_dataset`)
    :func:`write_shots` writes one SEG-Y trace per live (shot, receiver), shot-major,
    samples as IEEE float32 (format 5), big-endian. :func:`read_shots` reads that and the
    files field surveys ship: any byte order and sample format, wrong header sample
    counts, auxiliary traces, recording delays, uneven shots, elevation conventions and
    crooked lines (see its docstring and :mod:`keras_seismic.io.geometry`). Trace
    headers written:

    ============================  =========================================================
    FieldRecord                   shot number, 1-based (also EnergySourcePoint)
    TraceNumber                   receiver number within the shot, 1-based
    TRACE_SEQUENCE_LINE / _FILE   trace number within the file, 1-based
    SourceX, SourceY              source x, y in metres times 1000 (SourceGroupScalar)
    GroupX, GroupY                receiver x, y in metres times 1000 (SourceGroupScalar)
    SourceGroupScalar             -1000 (segyio/SEG-Y convention: negative = divide)
    SourceDepth                   source depth (z, positive down) in metres times 1000
                                  (read: z = SourceDepth - SourceSurfaceElevation)
    ReceiverGroupElevation        minus the receiver depth (an elevation, positive up),
                                  in metres times 1000
    ElevationScalar               -1000, applies to SourceDepth, SourceSurfaceElevation
                                  and ReceiverGroupElevation
    DelayRecordingTime            t0, the time of the first sample, in milliseconds times
                                  ScalarTraceHeader (1, or -10 ... -1000 = divide)
    TraceIdentificationCode       1 (seismic data); on reading, traces other than 0 and
                                  1 (dead, auxiliary) are dropped
    offset                        signed horizontal source-receiver distance, whole metres
                                  (informative only; not read back)
    TRACE_SAMPLE_INTERVAL         dt in microseconds
    TRACE_SAMPLE_COUNT            nt
    ============================  =========================================================

    The binary header holds Interval (dt in microseconds), Samples (nt), Format (5), Traces
    (receivers a shot) and MeasurementSystem (1 = metres). In 2-D, positions are (x, z)
    and SourceY = GroupY = 0 (or the map coordinates of a projected crooked line); in
    3-D they are (x, y, z). Coordinates are thus kept to the
    millimetre and must lie within +-2147 km; dt must be a whole number of microseconds up
    to 32767 and nt at most 32767. The padded traces of uneven shots
    (``survey.receiver_mask`` False) are not written; TraceNumber keeps each trace's slot,
    so reading the file back gives the same mask.

Velocity models (:func:`write_velocity`, :func:`read_velocity`)
    ``.npy``: the float32 array only (reading needs ``spacing``). ``.npz``: arrays ``vp``,
    ``spacing`` and ``origin``. ``.sgy`` / ``.segy``: one trace per vertical column (the
    depth axis is the trace), x-major in 3-D (trace ``ix * ny + iy``), with the depth
    spacing dz in millimetres in the sample-interval fields (the "microseconds" of a
    time-domain file), INLINE_3D = ix + 1, CROSSLINE_3D = iy + 1, CDP_X / CDP_Y = column
    position times 1000 (SourceGroupScalar -1000) and ReceiverGroupElevation = minus the
    depth of the first sample times 1000 (ElevationScalar -1000).

:mod:`keras_seismic.io.segy` opens the files, :mod:`keras_seismic.io.geometry` turns
headers into positions. Every reader raises ``FileNotFoundError`` for a missing file and
``ValueError`` naming the file for anything unreadable (truncated, not SEG-Y, NaN values,
wrong shapes).
"""
from .shots import COORDINATE_SCALAR, read_shots, shot_dataset, write_shots
from .velocity import read_velocity, write_velocity

__all__ = ["write_shots", "read_shots", "shot_dataset", "write_velocity", "read_velocity",
           "COORDINATE_SCALAR"]
