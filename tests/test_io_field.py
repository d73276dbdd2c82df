"""SEG-Y files as field surveys and other packages write them, made here with segyio: each
is read correctly or refused with a message that says what to do."""
import warnings

import numpy as np
import pytest
import segyio

from helpers import assert_warned_at
from keras_seismic import io
from keras_seismic.grid import Grid
from keras_seismic.survey import Survey
from keras_seismic.wavelets import ricker

TF = segyio.TraceField
BF = segyio.BinField


def make_file(path, traces, headers, fmt=5, endian="big", dt_us=4000, binary=None):
    """A SEG-Y file of ``traces`` (ntraces, ns) with one header dict a trace."""
    spec = segyio.spec()
    spec.format, spec.endian = fmt, endian
    spec.samples = np.arange(traces.shape[1]) * dt_us / 1000.0
    spec.tracecount = len(traces)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # segyio: float -> int samples
        with segyio.create(str(path), spec) as f:
            f.bin.update({BF.Interval: dt_us, **(binary or {})})
            for i, (trace, header) in enumerate(zip(traces, headers)):
                f.header[i] = {TF.TRACE_SAMPLE_INTERVAL: dt_us,
                               TF.TRACE_SAMPLE_COUNT: traces.shape[1], **header}
                f.trace[i] = trace
    return str(path)


def line_headers(nshots=2, nrec=4, extra=None):
    """Headers of a plain 2-D line: shots at x = 100 s + 50, receivers at 25 m spacing."""
    return [{TF.FieldRecord: s + 1, TF.TraceNumber: r + 1, TF.SourceX: 100 * s + 50,
             TF.GroupX: 25 * r, TF.SourceDepth: 5, TF.ReceiverGroupElevation: -2,
             TF.TraceIdentificationCode: 1, **(extra or {})}
            for s in range(nshots) for r in range(nrec)]


def traces_of(ntraces, ns, seed=0):
    """Samples IBM floats hold exactly (multiples of 1/16 below 2**20)."""
    rng = np.random.default_rng(seed)
    return (rng.integers(-4000, 4000, (ntraces, ns)) / 16.0).astype(np.float32)


def read_quietly(path, **kwargs):
    """``(read_shots(path, f0=10, **kwargs), messages)``; every warning must point at
    this file, the caller of read_shots, not at the library."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = io.read_shots(path, f0=10.0, **kwargs)
    assert_warned_at(caught, __file__)
    return out, [str(w.message) for w in caught]


# ----------------------------------------------------------------------------- samples

def test_trace_headers_disagreeing_with_the_data_warn_and_read_the_data(tmp_path):
    traces = traces_of(8, 60)
    headers = [{**h, TF.TRACE_SAMPLE_COUNT: 150} for h in line_headers()]
    path = make_file(tmp_path / "marine.sgy", traces, headers, fmt=1)
    with pytest.warns(UserWarning, match="TRACE_SAMPLE_COUNT = 150.*hold 60 samples") as caught:
        data, survey = io.read_shots(path, f0=10.0)
    assert_warned_at(caught, __file__)
    assert survey.nt == 60
    np.testing.assert_array_equal(data, traces.reshape(2, 4, 60).transpose(0, 2, 1))


@pytest.mark.parametrize("fmt", [1, 5])
def test_binary_and_trace_headers_both_wrong_are_read_from_the_file_size(tmp_path, fmt):
    """The marine case: every header says 1500 samples, the traces hold 600 (here 150 and
    60): segyio cannot open it, the memory-mapped path reads it."""
    traces = traces_of(8, 60, seed=1)
    headers = [{**h, TF.TRACE_SAMPLE_COUNT: 150} for h in line_headers()]
    path = make_file(tmp_path / "marine.sgy", traces, headers, fmt=fmt)
    raw = bytearray(open(path, "rb").read())
    raw[3220:3222] = (150).to_bytes(2, "big")          # binary header Samples
    open(path, "wb").write(raw)
    with pytest.raises(RuntimeError):                     # as segyio sees it
        segyio.open(path, ignore_geometry=True)
    with pytest.warns(UserWarning, match="binary header's Samples = 150 and the first trace "
                                         "header's TRACE_SAMPLE_COUNT = 150.*hold 60") as caught:
        data, survey = io.read_shots(path, f0=10.0)
    assert_warned_at(caught, __file__)
    assert survey.nt == 60
    np.testing.assert_array_equal(data, traces.reshape(2, 4, 60).transpose(0, 2, 1))
    np.testing.assert_allclose(survey.sources[:, 0], [[50.0, 5.0], [150.0, 5.0]])


def test_little_endian_is_detected_or_taken_as_an_option(tmp_path):
    traces = traces_of(8, 30, seed=2)
    path = make_file(tmp_path / "little.sgy", traces, line_headers(), endian="little")
    expected = traces.reshape(2, 4, 30).transpose(0, 2, 1)
    for endian in (None, "little"):
        data, survey = io.read_shots(path, f0=10.0, endian=endian)
        np.testing.assert_array_equal(data, expected)
        assert survey.dt == pytest.approx(0.004)
        np.testing.assert_allclose(survey.receivers[0, :, 0], [0, 25, 50, 75])
    with pytest.raises(ValueError, match="little.sgy.*format"):
        io.read_shots(path, f0=10.0, endian="big")
    with pytest.raises(ValueError, match="endian must be"):
        io.read_shots(path, f0=10.0, endian="middle")


@pytest.mark.parametrize("fmt", [1, 2, 3, 5, 6, 8, 9, 10, 11, 12, 16])
@pytest.mark.parametrize("endian", ["big", "little"])
def test_every_sample_format_segyio_reads(tmp_path, fmt, endian):
    traces = np.arange(8 * 12, dtype=np.float32).reshape(8, 12)   # fits even one byte
    path = make_file(tmp_path / "f.sgy", traces, line_headers(), fmt=fmt, endian=endian)
    data, _ = io.read_shots(path, f0=10.0)
    assert data.dtype == np.float32
    np.testing.assert_array_equal(data, traces.reshape(2, 4, 12).transpose(0, 2, 1))


@pytest.mark.parametrize("fmt", [4, 7, 15])
def test_formats_segyio_cannot_decode_are_refused(tmp_path, fmt):
    path = make_file(tmp_path / "f.sgy", np.zeros((8, 12), np.float32), line_headers(),
                     fmt=5)
    raw = bytearray(open(path, "rb").read())
    raw[3224:3226] = fmt.to_bytes(2, "big")
    open(path, "wb").write(raw)
    with pytest.raises(ValueError, match=f"format {fmt} .*does not decode"):
        io.read_shots(path, f0=10.0)


# ----------------------------------------------------------------------------- geometry

def test_elevation_conventions_marine_source_below_a_negative_surface(tmp_path):
    """SourceDepth 0, SourceSurfaceElevation -6 m: the source is 6 m deep."""
    headers = line_headers(extra={TF.SourceDepth: 0, TF.SourceSurfaceElevation: -600,
                              TF.ReceiverGroupElevation: -800, TF.ElevationScalar: -100})
    path = make_file(tmp_path / "marine.sgy", traces_of(8, 20), headers)
    (_, survey), messages = read_quietly(path)
    assert messages == []
    np.testing.assert_allclose(survey.sources[:, 0, 1], 6.0)
    np.testing.assert_allclose(survey.receivers[..., 1], 8.0)


def test_depths_stored_as_positive_elevations_warn_and_have_an_option(tmp_path):
    """As JUDI writes them: source 20 m in SourceSurfaceElevation, receivers 50 m."""
    headers = line_headers(extra={TF.SourceDepth: 0, TF.SourceSurfaceElevation: 20,
                              TF.ReceiverGroupElevation: 50})
    path = make_file(tmp_path / "judi.sgy", traces_of(8, 20), headers)
    (_, survey), messages = read_quietly(path)
    assert survey.receivers[0, 0, 1] == -50.0 and survey.sources[0, 0, 1] == -20.0
    assert len(messages) == 2
    assert "sources lie above the datum" in messages[0]
    assert "SourceDepth - SourceSurfaceElevation" in messages[0]
    assert "-ReceiverGroupElevation" in messages[1] and "elevation='depth'" in messages[1]
    (_, survey), messages = read_quietly(path, elevation="depth")
    assert messages == []
    np.testing.assert_allclose(survey.sources[:, 0, 1], 20.0)
    np.testing.assert_allclose(survey.receivers[..., 1], 50.0)
    with pytest.raises(ValueError, match="elevation must be"):
        io.read_shots(path, f0=10.0, elevation="height")


def test_positions_outside_the_model_are_reported(tmp_path):
    path = make_file(tmp_path / "line.sgy", traces_of(8, 20), line_headers())
    grid = Grid((11, 5), (10.0, 10.0))           # 0-100 m: the shot at 150 m is outside
    (_, survey), messages = read_quietly(path, grid=grid)
    assert messages == ["%s: 1 of the 2 sources lie outside the model (from (0, 0) to "
                        "(100, 40) m), e.g. at (150, 5); check the coordinates (SourceX/"
                        "GroupX, and the depth SourceDepth - SourceSurfaceElevation), the "
                        "elevation= option, or the grid's origin" % path]
    _, messages = read_quietly(path, grid=Grid((21, 5), (10.0, 10.0)))
    assert messages == []


# The file's auxiliary trace is dropped with a warning at every read; read_quietly checks it.
@pytest.mark.filterwarnings("ignore:.*dropped 1 traces that are not seismic data")
def test_no_coordinates_is_refused_then_given_by_hand_or_by_offsets(tmp_path):
    """The land vibroseis case: every coordinate 0, auxiliary traces first."""
    headers = [{TF.FieldRecord: 1, TF.TraceNumber: r + 1, TF.offset: 10 * r - 20,
                TF.TraceIdentificationCode: 1} for r in range(5)]
    aux = [{TF.FieldRecord: 1, TF.TraceNumber: 0, TF.TraceIdentificationCode: 6}]
    traces = traces_of(6, 20)
    path = make_file(tmp_path / "vibro.sgy", traces, aux + headers)
    with pytest.raises(ValueError, match="GroupX and GroupY are 0 in every trace") as info:
        io.read_shots(path, f0=10.0)
    for hint in ("sources=", "receivers=", "receivers='offset'"):
        assert hint in str(info.value)
    (data, survey), messages = read_quietly(path, sources=[[500.0, 2.0]],
                                            receivers="offset")
    assert any("dropped 1 traces" in m and "sweep" in m for m in messages)
    np.testing.assert_allclose(survey.receivers[0, :, 0], [480, 490, 500, 510, 520])
    np.testing.assert_array_equal(data[0], traces[1:].T)
    rec = np.stack([np.arange(5) * 7.0, np.full(5, 1.0)], axis=-1)
    _, survey = io.read_shots(path, f0=10.0, sources=[[3.0, 2.0]], receivers=rec)
    np.testing.assert_allclose(survey.receivers[0], rec)
    with pytest.raises(ValueError, match=r"receivers must be finite positions.*\(5, 2\)"):
        io.read_shots(path, f0=10.0, sources=[[3.0, 2.0]], receivers=rec[:3])
    for sources, got in ((5.0, r"got shape \(\)"), (np.zeros((5, 2)), r"got shape \(5, 2\)"),
                         ([[np.nan, 2.0]], "it contains NaN")):
        with pytest.raises(ValueError, match=r"sources must be finite positions in metres "
                                             r"of shape \(1, 2\) \(the file has 1 shots\); "
                                             + got):
            io.read_shots(path, f0=10.0, sources=sources, receivers=rec)


def test_auxiliary_and_dead_traces_are_dropped_with_a_note(tmp_path):
    headers = line_headers()
    headers[1] = {**headers[1], TF.TraceIdentificationCode: 2}     # dead
    headers[6] = {**headers[6], TF.TraceIdentificationCode: 4}     # time break
    traces = traces_of(8, 20)
    path = make_file(tmp_path / "aux.sgy", traces, headers)
    (data, survey), messages = read_quietly(path)
    assert any("dropped 2 traces" in m and "1 x 2 (dead)" in m and "1 x 4 (time break)" in m
               for m in messages)
    assert survey.receiver_mask.tolist() == [[True, False, True, True],
                                             [True, True, False, True]]
    np.testing.assert_array_equal(data[0, :, 2], traces[2])
    assert not data[0, :, 1].any()


@pytest.mark.parametrize("delay,scalar,t0", [(40, 0, 0.04), (-1005, -10, -0.1005)])
def test_delay_recording_time_becomes_t0(tmp_path, delay, scalar, t0):
    headers = line_headers(extra={TF.DelayRecordingTime: delay, TF.ScalarTraceHeader: scalar})
    path = make_file(tmp_path / "delay.sgy", traces_of(8, 50), headers, dt_us=2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # t0 > 0 cuts the Ricker's onset
        _, survey = io.read_shots(path, f0=15.0)
    assert survey.t0 == pytest.approx(t0)
    np.testing.assert_allclose(survey.time[:2], [t0, t0 + 0.002])
    np.testing.assert_array_equal(survey.wavelet[0, 0], ricker(15.0, 0.002, 50, t0=t0))
    headers[3] = {**headers[3], TF.DelayRecordingTime: delay + 4}
    path = make_file(tmp_path / "mixed.sgy", traces_of(8, 50), headers, dt_us=2000)
    with pytest.raises(ValueError, match="start at different times.*trace 4"):
        io.read_shots(path, f0=15.0)


def test_a_delay_after_the_ricker_onset_is_reported(tmp_path):
    headers = line_headers(extra={TF.DelayRecordingTime: 100})
    path = make_file(tmp_path / "late.sgy", traces_of(8, 50), headers, dt_us=2000)
    with pytest.warns(UserWarning, match="starts t0 = 0.1 s after the shot") as caught:
        io.read_shots(path, f0=15.0)
    assert_warned_at(caught, __file__)


def test_uneven_shots_are_padded_with_a_mask(tmp_path):
    """A rolling spread: 4, 3 and (a dropped channel 2) 3 receivers."""
    headers = line_headers(nshots=1) + \
        [{TF.FieldRecord: 2, TF.TraceNumber: r + 1, TF.SourceX: 300, TF.GroupX: 25 * r + 300}
         for r in range(3)] + \
        [{TF.FieldRecord: 3, TF.TraceNumber: r, TF.SourceX: 400, TF.GroupX: 25 * r + 400}
         for r in (1, 3, 4)]
    traces = traces_of(10, 20)
    path = make_file(tmp_path / "uneven.sgy", traces, headers)
    with pytest.warns(UserWarning, match="FieldRecord 2: 3, FieldRecord 3: 3 of 4") as caught:
        data, survey = io.read_shots(path, f0=10.0)
    assert_warned_at(caught, __file__)
    assert survey.receiver_mask.tolist() == [[True] * 4, [True] * 3 + [False],
                                             [True, False, True, True]]
    np.testing.assert_array_equal(data[2, :, 3], traces[9])
    assert not data[1, :, 3].any() and not data[2, :, 1].any()
    np.testing.assert_allclose(survey.receivers[2, [0, 2, 3], 0], [425, 475, 500])


def test_a_crooked_line_is_projected_and_its_map_coordinates_written_back(tmp_path):
    """A line at azimuth 60 degrees in UTM coordinates, receivers wiggling 2 m off it."""
    direction = np.array([np.sin(np.radians(60)), np.cos(np.radians(60))])
    normal = np.array([-direction[1], direction[0]])
    origin = np.array([500000.0, 6200000.0])
    along = np.arange(6) * 20.0
    wiggle = np.array([0.0, 2.0, -2.0, -2.0, 2.0, 0.0])   # the best fit is the line
    rec = origin + along[:, None] * direction + wiggle[:, None] * normal
    src = origin + np.array([30.0, 70.0])[:, None] * direction
    headers = [{TF.FieldRecord: s + 1, TF.TraceNumber: r + 1,
                TF.SourceX: int(round(src[s, 0] * 100)), TF.SourceY: int(round(src[s, 1] * 100)),
                TF.GroupX: int(round(rec[r, 0] * 100)), TF.GroupY: int(round(rec[r, 1] * 100)),
                TF.SourceGroupScalar: -100, TF.SourceDepth: 3, TF.ReceiverGroupElevation: -1}
               for s in range(2) for r in range(6)]
    traces = traces_of(12, 20)
    path = make_file(tmp_path / "crooked.sgy", traces, headers)
    with pytest.warns(UserWarning,
                      match=r"azimuth 60.0 degrees.*off the line is (2\.0\d|1\.99) m") as caught:
        data, survey = io.read_shots(path, f0=10.0)
    assert_warned_at(caught, __file__)
    # distances along the line are kept (to the wiggle's projection)
    np.testing.assert_allclose(survey.receivers[0, :, 0] - survey.receivers[0, 0, 0], along,
                               atol=0.02)
    np.testing.assert_allclose(survey.sources[:, 0, 0] - survey.receivers[0, 0, 0],
                               [30.0, 70.0], atol=0.02)
    assert survey.receivers[..., 0].min() >= 0.0
    np.testing.assert_allclose(survey.coordinates["receivers"][1], rec, atol=0.006)
    out = tmp_path / "written.sgy"
    io.write_shots(out, data, survey)
    with segyio.open(str(out), ignore_geometry=True) as f:
        written = np.stack([f.attributes(TF.GroupX)[:], f.attributes(TF.GroupY)[:]], -1)
        assert set(f.attributes(TF.SourceGroupScalar)[:]) == {-100}   # UTM in centimetres
    np.testing.assert_allclose(written[6:] / 100.0, rec, atol=0.006)
    with pytest.warns(UserWarning, match="projected") as caught:
        data2, survey2 = io.read_shots(out, f0=10.0)
    assert_warned_at(caught, __file__)
    np.testing.assert_array_equal(data2, data)
    np.testing.assert_allclose(survey2.receivers, survey.receivers, atol=2e-3)


def test_a_shot_whose_traces_disagree_on_the_source_is_refused(tmp_path):
    headers = line_headers()
    headers[2] = {**headers[2], TF.SourceX: 75}
    path = make_file(tmp_path / "cdp.sgy", traces_of(8, 20), headers)
    with pytest.raises(ValueError, match="FieldRecord 1 have different source positions"):
        io.read_shots(path, f0=10.0)


# ----------------------------------------------------------------------------- round trip

def test_round_trip_keeps_data_geometry_t0_and_mask(tmp_path):
    rng = np.random.default_rng(5)
    nt, dt = 40, 0.002
    sources = [[100.0, 10.0], [220.0, 12.5], [340.0, 10.0]]
    receivers = np.stack([np.stack([np.arange(5) * 30.0 + 60 * s, np.full(5, 4.0 + s)], -1)
                          for s in range(3)])
    mask = np.array([[True] * 5, [True, True, False, True, False], [True] * 3 + [False] * 2])
    survey = Survey(sources, receivers, dt, nt, ricker(12.0, dt, nt, t0=-0.05), t0=-0.05,
                    receiver_mask=mask)
    data = rng.standard_normal(survey.data_shape).astype(np.float32)
    data.transpose(0, 2, 1)[~mask] = np.nan            # padding is never read
    path = tmp_path / "masked.sgy"
    io.write_shots(path, data, survey)
    with segyio.open(str(path), ignore_geometry=True) as f:
        assert f.tracecount == int(mask.sum())
    with pytest.warns(UserWarning, match="different numbers of receivers") as caught:
        data2, survey2 = io.read_shots(path, wavelet=survey.wavelet[0, 0])
    assert_warned_at(caught, __file__)
    assert survey2.t0 == pytest.approx(-0.05)
    np.testing.assert_array_equal(survey2.receiver_mask, mask)
    live = mask[:, None, :].repeat(nt, axis=1)
    np.testing.assert_array_equal(data2[live], data[live])
    assert not data2[~live].any()
    np.testing.assert_allclose(survey2.sources, survey.sources, atol=6e-4)
    np.testing.assert_allclose(survey2.receivers[mask], survey.receivers[mask], atol=6e-4)
