"""Tests of SEG-Y and numpy file input/output."""
import os

import numpy as np
import pytest
import segyio

from helpers import assert_warned_at
from keras_seismic import datasets, io
from keras_seismic.grid import Grid
from keras_seismic.survey import Survey
from keras_seismic.wavelets import ricker

TF = segyio.TraceField
MM = 0.5e-3 + 1e-9       # positions are stored to the millimetre


def _survey_2d(nshots=3, nrec=7, nt=50, dt=0.002):
    rng = np.random.default_rng(1)
    sources = np.stack([rng.uniform(0, 1000, nshots), rng.uniform(5, 20, nshots)], axis=-1)
    receivers = np.stack([np.linspace(12.3456, 987.6543, nrec), np.full(nrec, 7.5)], axis=-1)
    return Survey(sources, receivers, dt=dt, nt=nt, wavelet=ricker(15.0, dt, nt))


def _data(survey, seed=0):
    return np.random.default_rng(seed).standard_normal(survey.data_shape).astype(np.float32)


@pytest.fixture
def shot_file(tmp_path):
    survey = _survey_2d()
    data = _data(survey)
    path = tmp_path / "shots.sgy"
    io.write_shots(path, data, survey)
    return path, data, survey


# ----------------------------------------------------------------------------- shots

def test_shots_round_trip_2d(shot_file):
    path, data, survey = shot_file
    wavelet = ricker(15.0, survey.dt, survey.nt)
    data2, survey2 = io.read_shots(path, wavelet=wavelet)
    assert data2.dtype == np.float32 and data2.shape == (3, 50, 7)
    np.testing.assert_array_equal(data2, data)
    assert survey2.dt == pytest.approx(0.002, abs=1e-12) and survey2.nt == 50
    assert survey2.ndim == 2 and survey2.nsrc == 1
    np.testing.assert_allclose(survey2.sources, survey.sources, atol=MM, rtol=0)
    np.testing.assert_allclose(survey2.receivers, survey.receivers, atol=MM, rtol=0)
    np.testing.assert_array_equal(survey2.wavelet[:, 0], np.tile(wavelet, (3, 1)))


def test_shots_headers_follow_the_documented_convention(shot_file):
    path, _, survey = shot_file
    with segyio.open(str(path), ignore_geometry=True) as f:
        assert f.tracecount == 21
        assert f.bin[segyio.BinField.Interval] == 2000
        assert f.bin[segyio.BinField.Samples] == 50
        assert f.bin[segyio.BinField.Format] == 5
        assert f.bin[segyio.BinField.Traces] == 7
        h = f.header[9]                        # shot 2, receiver 3
        assert h[TF.FieldRecord] == 2 and h[TF.TraceNumber] == 3
        assert h[TF.SourceGroupScalar] == -1000 and h[TF.ElevationScalar] == -1000
        assert h[TF.SourceX] == round(survey.sources[1, 0, 0] * 1000)
        assert h[TF.SourceY] == 0 and h[TF.GroupY] == 0
        assert h[TF.SourceDepth] == round(survey.sources[1, 0, 1] * 1000)
        assert h[TF.GroupX] == round(survey.receivers[1, 2, 0] * 1000)
        assert h[TF.ReceiverGroupElevation] == -7500
        assert h[TF.TRACE_SAMPLE_INTERVAL] == 2000 and h[TF.TRACE_SAMPLE_COUNT] == 50
        assert h[TF.offset] == round(survey.receivers[1, 2, 0] - survey.sources[1, 0, 0])


def test_shots_round_trip_3d_with_per_shot_receivers(tmp_path):
    grid, _ = datasets.layered(shape=(11, 9, 13), spacing=(10.0, 12.5, 5.0))
    base = datasets.surface_survey(grid, nshots=2, nrec=(3, 2), f0=12.0, duration=0.2)
    receivers = base.receivers.copy()
    receivers[1, :, 2] += 2.5                   # shot 2 has deeper receivers
    survey = Survey(base.sources, receivers, base.dt, base.nt, base.wavelet[:, 0])
    data = _data(survey, seed=4)
    path = tmp_path / "shots3d.segy"
    io.write_shots(path, data, survey)
    data2, survey2 = io.read_shots(path, f0=12.0, ndim=3)
    np.testing.assert_array_equal(data2, data)
    assert survey2.ndim == 3 and survey2.nrec == 6
    np.testing.assert_allclose(survey2.sources, survey.sources, atol=MM, rtol=0)
    np.testing.assert_allclose(survey2.receivers, survey.receivers, atol=MM, rtol=0)
    np.testing.assert_allclose(survey2.wavelet[0, 0], ricker(12.0, survey.dt, survey.nt))
    # a 3-D file with y coordinates cannot silently be read as 2-D
    with pytest.raises(ValueError, match="ndim=3"):
        io.read_shots(path, f0=12.0)


def test_read_shots_groups_by_field_record_and_applies_scalars(tmp_path):
    """A file written by hand with segyio: shots out of order, scalar +10 / -100."""
    path = str(tmp_path / "foreign.sgy")
    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount = 5, np.arange(4) * 4.0, 4
    records = [7, 3, 7, 3]
    numbers = [2, 1, 1, 2]
    with segyio.create(path, spec) as f:
        f.bin.update({segyio.BinField.Interval: 4000})
        for i in range(4):
            f.header[i] = {TF.FieldRecord: records[i], TF.TraceNumber: numbers[i],
                           TF.SourceX: 10 * records[i], TF.GroupX: 100 + numbers[i],
                           TF.SourceGroupScalar: 10, TF.SourceDepth: 250,
                           TF.ReceiverGroupElevation: -300, TF.ElevationScalar: -100,
                           TF.TRACE_SAMPLE_INTERVAL: 4000}
            f.trace[i] = np.full(4, 10 * records[i] + numbers[i], dtype=np.float32)
    data, survey = io.read_shots(path, f0=8.0)
    assert survey.dt == pytest.approx(0.004) and survey.nt == 4
    np.testing.assert_array_equal(data[:, 0, :], [[31, 32], [71, 72]])
    np.testing.assert_allclose(survey.sources[:, 0], [[300.0, 2.5], [700.0, 2.5]])
    np.testing.assert_allclose(survey.receivers[0], [[1010.0, 3.0], [1020.0, 3.0]])


def test_write_shots_rejects_simultaneous_sources(tmp_path):
    sources = np.zeros((2, 2, 2)) + [[[100.0, 10.0], [300.0, 10.0]]]
    survey = Survey(sources, [[0.0, 5.0], [50.0, 5.0]], dt=0.002, nt=10, wavelet=np.ones(10))
    with pytest.raises(ValueError, match="simultaneous"):
        io.write_shots(tmp_path / "sim.sgy", np.zeros(survey.data_shape, np.float32), survey)
    assert not os.path.exists(tmp_path / "sim.sgy")


@pytest.mark.parametrize("problem", ["shape", "nan", "dt"])
def test_write_shots_bad_input(tmp_path, problem):
    survey = _survey_2d()
    data = _data(survey)
    match = {"shape": "shape", "nan": "NaN", "dt": "microseconds"}[problem]
    if problem == "shape":
        data = data[:, :, :-1]
    elif problem == "nan":
        data[1, 2, 3] = np.nan
    else:
        survey = _survey_2d(dt=0.0012345)
        data = _data(survey)
    with pytest.raises(ValueError, match=match):
        io.write_shots(tmp_path / "bad.sgy", data, survey)


def test_read_shots_needs_a_wavelet_of_nt_samples(shot_file):
    path, _, survey = shot_file
    with pytest.raises(ValueError, match="wavelet"):
        io.read_shots(path)
    with pytest.raises(ValueError, match="nt=50") as info:
        io.read_shots(path, wavelet=np.ones(49))
    assert str(path) in str(info.value)
    # one wavelet a shot is fine
    _, survey2 = io.read_shots(path, wavelet=np.ones((3, 50)))
    assert survey2.wavelet.shape == (3, 1, 50)


def test_read_shots_truncated_mid_trace(shot_file, tmp_path):
    path, _, _ = shot_file
    raw = path.read_bytes()
    cut = tmp_path / "cut.sgy"
    for size in (len(raw) - 7, 3600 + 240 + 10, 3700, 100, 0):
        cut.write_bytes(raw[:size])
        with pytest.raises(ValueError, match="cut.sgy"):
            io.read_shots(cut, f0=10.0)


def test_read_shots_truncated_between_traces_names_the_short_shot(shot_file, tmp_path):
    path, data, _ = shot_file
    raw = path.read_bytes()
    trace_bytes = 240 + 50 * 4
    cut = tmp_path / "cut.sgy"
    cut.write_bytes(raw[:len(raw) - 2 * trace_bytes])         # shot 3 lost 2 receivers
    with pytest.warns(UserWarning, match="cut.sgy.*FieldRecord 3: 5 of 7.*cut short") \
            as caught:
        data2, survey = io.read_shots(cut, f0=10.0)
    assert_warned_at(caught, __file__)
    assert survey.receiver_mask[:2].all() and survey.receiver_mask[2].tolist() == \
        [True] * 5 + [False] * 2
    np.testing.assert_array_equal(data2[2, :, :5], data[2, :, :5])
    assert not data2[2, :, 5:].any()


def test_read_garbage_and_missing_files(tmp_path):
    garbage = tmp_path / "garbage.sgy"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, np.uint8).tobytes())
    with pytest.raises(ValueError, match="garbage.sgy.*SEG-Y"):
        io.read_shots(garbage, f0=10.0)
    with pytest.raises(ValueError, match="garbage.sgy"):
        io.read_velocity(garbage, spacing=(10.0, 10.0))
    text = tmp_path / "notes.sgy"
    text.write_text("this is not seismic\n" * 500)
    with pytest.raises(ValueError, match="notes.sgy"):
        io.read_shots(text, f0=10.0)
    with pytest.raises(FileNotFoundError, match="missing.sgy"):
        io.read_shots(tmp_path / "missing.sgy", f0=10.0)
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        io.read_velocity(tmp_path / "missing.npy", spacing=(1.0, 1.0))


# ----------------------------------------------------------------------------- velocity

@pytest.mark.parametrize("ext", ["npz", "sgy", "segy"])
@pytest.mark.parametrize("shape", [(23, 17), (9, 6, 11)])
def test_velocity_round_trip_self_describing(tmp_path, ext, shape):
    spacing = (10.0, 7.5, 2.5)[-len(shape):] if len(shape) == 3 else (12.5, 4.0)
    origin = (100.0, -50.0, 30.0)[-len(shape):] if len(shape) == 3 else (250.0, 10.0)
    grid = Grid(shape, spacing, origin)
    vp = np.random.default_rng(2).uniform(1500, 4500, shape).astype(np.float32)
    path = tmp_path / f"model.{ext}"
    io.write_velocity(path, vp, grid)
    grid2, vp2 = io.read_velocity(path)
    assert grid2 == grid
    assert vp2.dtype == np.float32
    np.testing.assert_array_equal(vp2, vp)


def test_velocity_round_trip_npy_needs_spacing(tmp_path):
    grid, vp = datasets.faulted(shape=(40, 25), spacing=(20.0, 8.0))
    path = tmp_path / "model.npy"
    io.write_velocity(path, vp, grid)
    with pytest.raises(ValueError, match="spacing"):
        io.read_velocity(path)
    grid2, vp2 = io.read_velocity(path, spacing=(20.0, 8.0), shape=(40, 25))
    assert grid2 == grid
    np.testing.assert_array_equal(vp2, vp)
    with pytest.raises(ValueError, match=r"\(40, 25\).*\(25, 40\)"):
        io.read_velocity(path, spacing=(20.0, 8.0), shape=(25, 40))


def test_velocity_segy_layout_and_explicit_spacing(tmp_path):
    grid = Grid((4, 3, 5), (10.0, 20.0, 2.5), origin=(0.0, 0.0, 12.0))
    vp = (1500 + np.arange(60, dtype=np.float32)).reshape(4, 3, 5)
    path = tmp_path / "v.sgy"
    io.write_velocity(path, vp, grid)
    with segyio.open(str(path), ignore_geometry=True) as f:
        assert f.tracecount == 12 and len(f.samples) == 5
        np.testing.assert_array_equal(f.trace[5], vp[1, 2])      # x-major: ix * ny + iy
        assert f.header[5][TF.INLINE_3D] == 2 and f.header[5][TF.CROSSLINE_3D] == 3
        assert f.header[5][TF.CDP_X] == 10000 and f.header[5][TF.CDP_Y] == 40000
        assert f.header[5][TF.ReceiverGroupElevation] == -12000
        assert f.bin[segyio.BinField.Interval] == 2500            # dz in millimetres
    # the spacing argument takes precedence over the headers
    grid2, vp2 = io.read_velocity(path, spacing=(1.0, 2.0, 3.0))
    assert grid2.spacing == (1.0, 2.0, 3.0) and grid2.origin == (0.0, 0.0, 12.0)
    np.testing.assert_array_equal(vp2, vp)
    # a different layout can be imposed with shape=
    grid3, vp3 = io.read_velocity(path, shape=(12, 5), spacing=(1.0, 1.0))
    assert grid3.shape == (12, 5)
    np.testing.assert_array_equal(vp3, vp.reshape(12, 5))
    with pytest.raises(ValueError, match="do not fill"):
        io.read_velocity(path, shape=(5, 3, 5), spacing=1.0)


def test_velocity_segy_without_spacing_in_headers(tmp_path):
    grid = Grid((6, 8), (10.0, 40.0))                   # 40 m does not fit the int16 field
    vp = np.full((6, 8), 2000.0, np.float32)
    path = tmp_path / "coarse.sgy"
    with pytest.warns(UserWarning, match="spacing") as caught:
        io.write_velocity(path, vp, grid)
    assert_warned_at(caught, __file__)
    with pytest.raises(ValueError, match="coarse.sgy.*spacing"):
        io.read_velocity(path)
    assert io.read_velocity(path, spacing=(10.0, 40.0))[0] == grid


def test_read_velocity_nan_and_nonpositive(tmp_path):
    vp = np.full((5, 4), 2000.0, np.float32)
    vp[2, 3] = np.nan
    np.save(tmp_path / "nan.npy", vp)
    with pytest.raises(ValueError, match=r"nan.npy.*NaN.*\(2, 3\)"):
        io.read_velocity(tmp_path / "nan.npy", spacing=(1.0, 1.0))
    np.savez(tmp_path / "neg.npz", vp=-np.ones((5, 4)), spacing=[1.0, 1.0])
    with pytest.raises(ValueError, match="neg.npz.*positive"):
        io.read_velocity(tmp_path / "neg.npz")
    # NaN inside a SEG-Y file
    grid = Grid((5, 4), (1.0, 1.0))
    good = np.full((5, 4), 2000.0, np.float32)
    io.write_velocity(tmp_path / "v.sgy", good, grid)
    with segyio.open(str(tmp_path / "v.sgy"), "r+", ignore_geometry=True) as f:
        f.trace[1] = np.array([2000.0, np.nan, 2000.0, 2000.0], np.float32)
    with pytest.raises(ValueError, match="v.sgy.*NaN"):
        io.read_velocity(tmp_path / "v.sgy")


def test_read_velocity_bad_files(tmp_path):
    (tmp_path / "junk.npy").write_bytes(b"not a numpy file at all")
    with pytest.raises(ValueError, match="junk.npy"):
        io.read_velocity(tmp_path / "junk.npy", spacing=(1.0, 1.0))
    np.savez(tmp_path / "novp.npz", velocity=np.ones((4, 4)))
    with pytest.raises(ValueError, match="novp.npz.*'vp'"):
        io.read_velocity(tmp_path / "novp.npz", spacing=(1.0, 1.0))
    np.save(tmp_path / "flat.npy", np.ones(10))
    with pytest.raises(ValueError, match="flat.npy.*2-D"):
        io.read_velocity(tmp_path / "flat.npy", spacing=(1.0, 1.0))
    grid = Grid((6, 5), (10.0, 10.0))
    io.write_velocity(tmp_path / "v.sgy", np.full((6, 5), 2500.0, np.float32), grid)
    raw = (tmp_path / "v.sgy").read_bytes()
    (tmp_path / "cut.sgy").write_bytes(raw[:-3])
    with pytest.raises(ValueError, match="cut.sgy.*truncated"):
        io.read_velocity(tmp_path / "cut.sgy")


def test_write_velocity_bad_input(tmp_path):
    grid = Grid((6, 5), (10.0, 10.0))
    vp = np.full((6, 5), 2500.0, np.float32)
    with pytest.raises(ValueError, match="shape"):
        io.write_velocity(tmp_path / "v.npz", vp[:, :4], grid)
    bad = vp.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        io.write_velocity(tmp_path / "v.npz", bad, grid)
    with pytest.raises(ValueError, match="extension"):
        io.write_velocity(tmp_path / "v.txt", vp, grid)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        io.write_velocity(tmp_path / "nowhere" / "v.npy", vp, grid)
