"""Tests of keras_seismic.callbacks (VelocitySnapshot, MultiscaleSchedule), of
losses.FilteredMisfit, and of the standard Keras callbacks (CSVLogger, EarlyStopping,
BackupAndRestore) with the inversion models.

The inversions are tiny (60 x 30 cells, 2 shots, 201 samples, a few epochs of one batch)."""
import csv
import math

import numpy as np
import pytest
import scipy.signal
from scipy import ndimage

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import keras_seismic as ks  # noqa: E402
from keras_seismic import callbacks, losses  # noqa: E402

DT, NT = 0.002, 201
RNG = np.random.default_rng()  # seeded for each test by conftest.py


# ------------------------------------------------------------------ a small FWI problem

@pytest.fixture(scope="module")
def problem():
    """Two shots over a two-layer model with a fast blob, and a smooth starting model."""
    shape = (60, 30)
    grid = ks.Grid(shape, (10.0, 10.0))
    ext = grid.extent
    src = np.array([[ext[0] * 0.3, 25.0], [ext[0] * 0.7, 25.0]])
    rec = np.array([[x, 15.0] for x in np.linspace(5.0, ext[0] - 5.0, 12)])
    survey = ks.Survey(src, rec, DT, NT, ks.ricker(15.0, DT, NT, delay=0.08))
    prop = ks.AcousticPropagator(grid, survey, space_order=8, absorbing_width=10,
                                 storage="full")
    x, z = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    true = np.where(z < 15, 2000.0, 2400.0) + 300.0 * np.exp(-((x - 30) ** 2 + (z - 10) ** 2)
                                                              / 20.0)
    true = ndimage.gaussian_filter(true, 1.0).astype(np.float32)
    start = ndimage.gaussian_filter(true, 6.0).astype(np.float32)
    observed = prop.forward(true)
    return {"prop": prop, "grid": grid, "true": true, "start": start, "observed": observed,
            "shots": np.arange(2)}


def fwi(problem, loss=None, optimizer=None, build=False):
    model = ks.models.FWI(problem["prop"], problem["start"], vmin=1500.0, vmax=3000.0)
    model.compile(optimizer=optimizer or keras.optimizers.Adam(20.0), loss=loss)
    if build:   # BackupAndRestore wants built models; calling builds the velocity weight
        model(np.zeros(1, np.int32))
    return model


def fit(model, problem, epochs, callbacks_=(), **kwargs):
    return model.fit(problem["shots"], problem["observed"], batch_size=2, epochs=epochs,
                     shuffle=False, verbose=0, callbacks=list(callbacks_), **kwargs)


def relative_error(v, true):
    return float(np.linalg.norm(v.astype(np.float64) - true) / np.linalg.norm(true))


class Interrupt(keras.callbacks.Callback):
    """Fails after the training step of ``epoch``: the model has moved on from the backup
    written at the end of the previous epoch."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch, self.current = epoch, None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch:
            raise RuntimeError("interrupted")


# ------------------------------------------------------------------ FilteredMisfit

def test_filtered_misfit_is_sosfiltfilt_of_scipy_butterworth():
    """The FFT filter is the scipy Butterworth design run forwards and backwards."""
    for nt, cutoff, order in [(301, 10.0, 6), (256, 37.0, 4), (255, 200.0, 2),
                              (301, 245.0, 6)]:
        data = np.zeros((2, nt, 3))
        data[:, nt // 3: 2 * nt // 3] = RNG.standard_normal((2, 2 * nt // 3 - nt // 3, 3))
        loss = losses.FilteredMisfit(dt=DT, cutoff=cutoff, order=order, dtype="float64")
        filtered = loss.lowpass(data).numpy()
        sos = scipy.signal.butter(order, cutoff, fs=1 / DT, output="sos")
        padded = np.concatenate([data, np.zeros((2, 20000, 3))], axis=1)  # no edge effects
        reference = scipy.signal.sosfiltfilt(sos, padded, axis=1, padtype=None)[:, :nt]
        assert np.abs(filtered - reference).max() < 1e-10 * np.abs(reference).max(), \
            (nt, cutoff, order)
        # a trailing channel axis is kept
        assert loss.lowpass(data[..., None]).shape == data.shape + (1,)


def test_filtered_misfit_removes_energy_above_cutoff():
    nt, cutoff = 1001, 15.0
    trace = ks.ricker(40.0, DT, nt, delay=1.0).astype(np.float64)      # broadband, centred
    data = np.stack([trace, 0.5 * trace], axis=-1)[None]                  # (1, nt, 2)
    filtered = losses.FilteredMisfit(dt=DT, cutoff=cutoff, dtype="float64").lowpass(data)
    freqs = np.fft.rfftfreq(8 * nt, DT)
    before = np.abs(np.fft.rfft(data[0], 8 * nt, axis=0)) ** 2
    after = np.abs(np.fft.rfft(filtered.numpy()[0], 8 * nt, axis=0)) ** 2
    high, low = freqs > 2 * cutoff, freqs < cutoff / 2
    assert after[high].sum() < 1e-3 * before[high].sum()       # 12 * 6 dB an octave
    assert before[high].sum() > 0.5 * before.sum()            # ... of most of the energy
    np.testing.assert_allclose(after[low].sum(), before[low].sum(), rtol=1e-3)
    expected = 1.0 / (1.0 + (np.tan(np.pi * freqs * DT) / np.tan(np.pi * cutoff * DT)) ** 12)
    band = before > 1e-6 * before.max()
    np.testing.assert_allclose(after[band], (expected[:, None] ** 2 * before)[band],
                               rtol=1e-5, atol=1e-9 * before.max())


@pytest.mark.parametrize("inner", [None, "normalized"])
def test_filtered_misfit_gradient_matches_finite_differences(inner):
    misfit = None if inner is None else losses.NormalizedMisfit(dtype="float64")
    loss = losses.FilteredMisfit(misfit, dt=DT, cutoff=25.0, dtype="float64")
    y_true = RNG.standard_normal((2, 151, 4))
    y_pred = RNG.standard_normal((2, 151, 4))
    variable = tf.Variable(y_pred)
    with tf.GradientTape() as tape:
        value = loss(y_true, variable)
    gradient = tape.gradient(value, variable).numpy()
    for _ in range(3):
        direction = RNG.standard_normal(y_pred.shape)
        h = 1e-4
        fd = (loss(y_true, y_pred + h * direction) - loss(y_true, y_pred - h * direction)
              ).numpy() / (2 * h)
        assert abs(fd - np.sum(gradient * direction)) < 1e-6 * abs(fd), (fd, inner)
    if inner is None:   # the adjoint source: the filter (self-adjoint) twice on the residual
        residual = loss.lowpass(y_pred).numpy() - loss.lowpass(y_true).numpy()
        np.testing.assert_allclose(gradient, loss.lowpass(residual).numpy(), atol=1e-10)


def test_filtered_misfit_without_filter_is_the_misfit():
    y_true = RNG.standard_normal((3, 64, 5)).astype(np.float32)
    y_pred = RNG.standard_normal((3, 64, 5)).astype(np.float32)
    expected = losses.L2Misfit()(y_true, y_pred).numpy()
    for cutoff in (None, 0.5 / DT, 1000.0):
        loss = losses.FilteredMisfit(dt=DT, cutoff=cutoff)
        assert not loss.filtering
        assert loss(y_true, y_pred).numpy() == expected
    loss = losses.FilteredMisfit(dt=DT, cutoff=20.0)
    assert loss.filtering and loss(y_true, y_pred).numpy() < 0.5 * expected
    assert loss.call(y_true, y_pred).shape == (3,)


def test_filtered_misfit_cutoff_changes_without_retracing():
    y_true = RNG.standard_normal((2, 100, 3)).astype(np.float32)
    y_pred = RNG.standard_normal((2, 100, 3)).astype(np.float32)
    loss = losses.FilteredMisfit(dt=DT, cutoff=10.0)
    traced = tf.function(lambda t, p: loss(t, p))
    for cutoff in (10.0, 30.0, 100.0, None, 5.0):
        loss.cutoff = cutoff
        assert loss.cutoff == cutoff
        eager = losses.FilteredMisfit(dt=DT, cutoff=cutoff)(y_true, y_pred).numpy()
        np.testing.assert_allclose(traced(y_true, y_pred).numpy(), eager, rtol=1e-6)
    assert traced.experimental_get_tracing_count() == 1
    assert not loss.cutoff_variable.trainable


def test_filtered_misfit_serialization():
    loss = losses.FilteredMisfit(losses.NormalizedMisfit(epsilon=1e-2), dt=0.004,
                                 cutoff=7.5, order=4, reduction="sum_over_batch_size")
    config = keras.saving.serialize_keras_object(loss)
    assert config["registered_name"] == "keras_seismic>FilteredMisfit"
    copy = keras.saving.deserialize_keras_object(config)
    assert isinstance(copy, losses.FilteredMisfit)
    assert isinstance(copy.misfit, losses.NormalizedMisfit) and copy.misfit.epsilon == 1e-2
    assert (copy.dt, copy.cutoff, copy.order, copy.reduction) == \
        (0.004, 7.5, 4, "sum_over_batch_size")
    y_true = RNG.standard_normal((2, 80, 3)).astype(np.float32)
    y_pred = RNG.standard_normal((2, 80, 3)).astype(np.float32)
    assert copy(y_true, y_pred).numpy() == pytest.approx(loss(y_true, y_pred).numpy())
    assert losses.FilteredMisfit.from_config(losses.FilteredMisfit(dt=DT).get_config()).cutoff \
        is None
    assert "FilteredMisfit" in losses.__all__


@pytest.mark.parametrize("kwargs,error", [
    ({}, ValueError), ({"dt": 0.0}, ValueError), ({"dt": DT, "cutoff": -1.0}, ValueError),
    ({"dt": DT, "cutoff": float("nan")}, ValueError), ({"dt": DT, "order": 0}, ValueError),
    ({"dt": DT, "order": 2.5}, ValueError), ({"dt": DT, "misfit": 3}, TypeError)])
def test_filtered_misfit_validation(kwargs, error):
    with pytest.raises(error):
        losses.FilteredMisfit(**kwargs)


def test_filtered_misfit_bad_cutoff_and_shapes():
    loss = losses.FilteredMisfit(dt=DT, cutoff=10.0)
    with pytest.raises(ValueError, match="cutoff"):
        loss.cutoff = 0.0
    assert loss.cutoff == 10.0
    with pytest.raises(ValueError, match="shape"):
        loss(np.zeros((2, 10, 3)), np.zeros((2, 11, 3)))
    with pytest.raises(ValueError, match="shape"):
        loss.lowpass(np.zeros((10, 3)))
    for order in (0, 2.5, float("inf"), float("nan"), True, "4"):
        with pytest.raises(ValueError, match="order must be a whole number >= 1"):
            losses.FilteredMisfit(dt=DT, cutoff=10.0, order=order)


# ------------------------------------------------------------------ VelocitySnapshot

def test_velocity_snapshot_and_csv_logger(problem, tmp_path):
    model = fwi(problem)
    snapshot = callbacks.VelocitySnapshot(tmp_path / "snap", every=2, true_vp=problem["true"])
    logger = keras.callbacks.CSVLogger(str(tmp_path / "history.csv"))
    history = fit(model, problem, 4, [snapshot, logger])

    names = sorted(p.name for p in (tmp_path / "snap").iterdir())
    assert names == ["velocity_0002.npy", "velocity_0002.png", "velocity_0004.npy",
                     "velocity_0004.png"]
    assert all(p.stat().st_size > 0 for p in snapshot.files) and len(snapshot.files) == 4
    np.testing.assert_array_equal(np.load(tmp_path / "snap" / "velocity_0004.npy"),
                                  model.velocity)
    assert not np.array_equal(np.load(tmp_path / "snap" / "velocity_0002.npy"), model.velocity)

    loss, error = history.history["loss"], history.history["model_error"]
    assert len(error) == 4 and loss[-1] < 0.8 * loss[0]                 # misfit decreases
    assert error[-1] == pytest.approx(relative_error(model.velocity, problem["true"]))
    assert error[-1] < error[0] < relative_error(problem["start"], problem["true"])

    with open(tmp_path / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    np.testing.assert_allclose([float(r["model_error"]) for r in rows], error, rtol=1e-6)
    np.testing.assert_allclose([float(r["loss"]) for r in rows], loss, rtol=1e-6)


def test_velocity_snapshot_lsrtm(problem, tmp_path):
    prop, start = problem["prop"], problem["start"]
    true_image = problem["true"] - start
    observed = prop.born(start, true_image)
    model = ks.models.LSRTM(prop, start)
    model.compile()
    snapshot = callbacks.VelocitySnapshot(tmp_path, true_vp=true_image)
    history = model.fit(problem["shots"], observed, batch_size=2, epochs=2, shuffle=False,
                        verbose=0, callbacks=[snapshot])
    assert snapshot.kind == "image"
    for name in ("image_0001.npy", "image_0001.png", "image_0002.npy", "image_0002.png"):
        assert (tmp_path / name).is_file(), name
    np.testing.assert_array_equal(np.load(tmp_path / "image_0002.npy"), model.image)
    error = history.history["model_error"]
    assert error[-1] == pytest.approx(relative_error(model.image, true_image))
    assert error[-1] < 1.0          # the zero image has error 1


def test_velocity_snapshot_validation(problem, tmp_path):
    with pytest.raises(ValueError, match="every"):
        callbacks.VelocitySnapshot(tmp_path, every=0)
    with pytest.raises(ValueError, match="zeros"):
        callbacks.VelocitySnapshot(tmp_path, true_vp=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="shape"):
        fit(fwi(problem), problem, 1,
            [callbacks.VelocitySnapshot(tmp_path, true_vp=np.ones((5, 5)))])
    dense = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    dense.compile("sgd", "mse")
    with pytest.raises(ValueError, match="velocity"):
        dense.fit(np.zeros((2, 2)), np.zeros((2, 1)), verbose=0,
                  callbacks=[callbacks.VelocitySnapshot(tmp_path)])
    snapshot = callbacks.VelocitySnapshot(tmp_path / "a", every=3, true_vp=np.ones((4, 4)),
                                          grid=problem["grid"])
    copy = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(snapshot))
    assert isinstance(copy, callbacks.VelocitySnapshot)
    assert (copy.every, copy.grid, copy.directory) == (3, problem["grid"], tmp_path / "a")
    np.testing.assert_array_equal(copy.true_vp, np.ones((4, 4)))


# ------------------------------------------------------------------ MultiscaleSchedule

class CountingL2(losses.L2Misfit):
    """L2Misfit that counts how often its graph is built (Python runs only when traced)."""
    calls = 0

    def _per_shot(self, y_true, y_pred):
        CountingL2.calls += 1
        return super()._per_shot(y_true, y_pred)


def test_multiscale_schedule_sets_the_loss_cutoff_during_fit(problem):
    """With a zero learning rate the model stays at the start, so each epoch's loss must be
    the misfit at that epoch's cutoff: the traced training step reads the variable."""
    loss = losses.FilteredMisfit(CountingL2(), dt=DT)
    model = fwi(problem, loss=loss, optimizer=keras.optimizers.SGD(0.0))
    schedule = callbacks.MultiscaleSchedule([5.0, 12.0, None], epochs_per_stage=[2, 1, 1])
    CountingL2.calls = 0
    history = fit(model, problem, 5, [schedule])
    assert history.history["cutoff"] == [5.0, 5.0, 12.0, math.inf, math.inf]
    assert loss.cutoff is None                                     # left at the last stage
    assert CountingL2.calls == 1                                   # traced once
    predicted = problem["prop"].forward(problem["start"])
    expected = [losses.FilteredMisfit(dt=DT, cutoff=c)(problem["observed"], predicted).numpy()
                for c in (5.0, 5.0, 12.0, None, None)]
    np.testing.assert_allclose(history.history["loss"], expected, rtol=1e-4)
    assert expected[0] < expected[2] < expected[3]
    np.testing.assert_array_equal(model.velocity, problem["start"])


def test_multiscale_schedule_stages_and_config():
    schedule = callbacks.MultiscaleSchedule([2.0, 4.0, 8.0], epochs_per_stage=3)
    assert schedule.boundaries == [3, 6]
    assert [schedule.cutoff_at(e) for e in range(10)] == [2.0] * 3 + [4.0] * 3 + [8.0] * 4
    schedule = callbacks.MultiscaleSchedule([2.0, 4.0, None], boundaries=[1, 5])
    assert [schedule.stage_at(e) for e in (0, 1, 4, 5, 99)] == [0, 1, 1, 2, 2]
    assert schedule.cutoff_at(5) is None
    copy = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(copy, callbacks.MultiscaleSchedule)
    assert (copy.cutoffs, copy.boundaries) == ([2.0, 4.0, None], [1, 5])


@pytest.mark.parametrize("args,kwargs,match", [
    (([],), {"epochs_per_stage": 1}, "non-empty"),
    (([4.0, 2.0],), {"epochs_per_stage": 1}, "increasing"),
    (([2.0, 2.0],), {"epochs_per_stage": 1}, "increasing"),
    (([-1.0, 2.0],), {"epochs_per_stage": 1}, "positive"),
    (([None, 2.0],), {"epochs_per_stage": 1}, "last"),
    ((["low"],), {"epochs_per_stage": 1}, "numbers"),
    (([2.0, 4.0],), {}, "exactly one"),
    (([2.0, 4.0],), {"epochs_per_stage": 2, "boundaries": [2]}, "exactly one"),
    (([2.0, 4.0],), {"epochs_per_stage": 0}, "epochs_per_stage"),
    (([2.0, 4.0],), {"epochs_per_stage": [1, 2, 3]}, "one number a stage"),
    (([2.0, 4.0, 8.0],), {"boundaries": [3]}, "len"),
    (([2.0, 4.0, 8.0],), {"boundaries": [3, 3]}, "increasing"),
    (([2.0, 4.0],), {"boundaries": [0]}, "boundaries"),
    (([2.0, 4.0],), {"epochs_per_stage": 1, "loss": losses.L2Misfit()}, "FilteredMisfit"),
])
def test_multiscale_schedule_validation(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        callbacks.MultiscaleSchedule(*args, **kwargs)


def test_multiscale_schedule_needs_a_filtered_misfit(problem):
    schedule = callbacks.MultiscaleSchedule([5.0, None], epochs_per_stage=1)
    with pytest.raises(ValueError, match="FilteredMisfit"):
        fit(fwi(problem), problem, 1, [schedule])                     # compiled with L2
    # Any cutoff at or above Nyquist, the last one too (it would filter nothing), is
    # refused before the first solve.
    for cutoffs in ([300.0, 400.0], [5.0, 400.0]):
        schedule = callbacks.MultiscaleSchedule(cutoffs, epochs_per_stage=1)
        model = fwi(problem, loss=losses.FilteredMisfit(dt=DT))
        with pytest.raises(ValueError, match="Nyquist"):
            fit(model, problem, 1, [schedule])
        assert np.array_equal(model.velocity, problem["start"])


# ------------------------------------------------------------------ standard Keras callbacks

def test_tensorboard_works_out_of_the_box(problem, tmp_path):
    """tensorboard is installed with the package: the callback writes its event files."""
    board = keras.callbacks.TensorBoard(log_dir=str(tmp_path / "logs"))
    history = fit(fwi(problem), problem, 2, [board])
    assert len(history.history["loss"]) == 2
    events = list((tmp_path / "logs").rglob("events.out.tfevents.*"))
    assert events and all(path.stat().st_size > 0 for path in events), events


def test_early_stopping_on_model_error_restores_best(problem, tmp_path):
    model = fwi(problem)
    snapshot = callbacks.VelocitySnapshot(tmp_path, true_vp=problem["true"])
    stop = keras.callbacks.EarlyStopping(monitor="model_error", mode="min", min_delta=1.0,
                                         patience=1,
                                         restore_best_weights=True)
    history = fit(model, problem, 10, [snapshot, stop])
    assert len(history.history["loss"]) == 2 and stop.stopped_epoch == 1
    # the best epoch is the first (no later epoch improves by min_delta): its model is back
    np.testing.assert_array_equal(model.velocity, np.load(tmp_path / "velocity_0001.npy"))
    assert not np.array_equal(model.velocity, np.load(tmp_path / "velocity_0002.npy"))


def test_backup_and_restore_resumes_to_the_same_model(problem, tmp_path):
    """A multiscale fit interrupted in epoch 2 and fitted again with the same backup
    directory ends where an uninterrupted fit ends: the velocity and Adam's state are
    restored from the end of epoch 1, and the schedule picks up the right stage."""
    def schedule():
        return callbacks.MultiscaleSchedule([8.0, None], boundaries=[3])

    def model():
        return fwi(problem, loss=losses.FilteredMisfit(dt=DT), build=True)

    reference = model()
    fit(reference, problem, 5, [schedule()])

    backup = str(tmp_path / "backup")
    resumed = model()
    with pytest.raises(RuntimeError, match="interrupted"):
        fit(resumed, problem, 5, [keras.callbacks.BackupAndRestore(backup), schedule(),
                                  Interrupt(2)])
    assert int(resumed.optimizer.iterations.numpy()) == 3          # one step past the backup
    assert (tmp_path / "backup" / "latest.weights.h5").is_file()

    history = fit(resumed, problem, 5, [keras.callbacks.BackupAndRestore(backup), schedule()])
    assert history.history["cutoff"] == [8.0, math.inf, math.inf]    # epochs 2, 3, 4 only
    assert int(resumed.optimizer.iterations.numpy()) == 5
    np.testing.assert_allclose(resumed.velocity, reference.velocity, rtol=1e-6, atol=1e-3)
    assert np.abs(resumed.velocity - problem["start"]).max() > 10.0   # it did invert
    assert not (tmp_path / "backup").exists()                         # removed when done
