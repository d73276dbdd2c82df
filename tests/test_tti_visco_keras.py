"""TTI and visco-acoustics in Keras: the layers take dict models and differentiate the
velocity; FWI inverts vp with the other fields fixed, by fit and by L-BFGS, saves and
loads; shots run on Dask; a VTI inversion places an anomaly that an isotropic one
mislocates."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage

import keras_seismic as ks
from keras_seismic import layers, models, optimizers
from keras_seismic.distributed import DaskExecutor, local_client
from keras_seismic.propagator import Propagator
from helpers import small_problem, tti_fields, visco_fields

RNG = np.random.default_rng()  # seeded for each test by conftest.py
SHOTS = tf.constant([1, 0], tf.int64)
FIELDS = {"tti": tti_fields, "visco-acoustic": visco_fields}
ANOMALY = (slice(15, 25), slice(10, 20))  # of the velocity, +150 m/s


@pytest.fixture(scope="module", params=sorted(FIELDS))
def problem(request):
    prop, vp = small_problem(storage="full", physics=request.param)
    return prop, {"vp": vp, **FIELDS[request.param](vp.shape)}


def relative_error(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b))


def test_modeling_differentiates_the_velocity(problem):
    """The layer's velocity gradient is the propagator's; the fixed fields get zeros."""
    prop, model = problem
    batch = {k: tf.constant(np.stack([v, v])) for k, v in model.items()}
    dy = RNG.standard_normal((2, *prop.data_shape)).astype(np.float32)
    with tf.GradientTape() as tape:
        tape.watch(list(batch.values()))
        loss = tf.reduce_sum(layers.Modeling(prop)([batch, SHOTS]) * dy)
    grads = dict(zip(batch, tape.gradient(loss, list(batch.values()))))
    for i, shot in enumerate(SHOTS.numpy()):
        reference = prop.born_adjoint(model, dy[i:i + 1], shots=[shot])["vp"]
        assert relative_error(grads["vp"][i], reference) < 1e-4
    assert np.abs(reference).max() > 0
    for name in prop.parameters[1:]:
        assert not np.any(grads[name])


def test_born_and_migration_layers(problem):
    prop, model = problem
    dvp = RNG.standard_normal((2, *prop.grid.shape)).astype(np.float32)
    data = layers.Born(prop, model)([{"vp": dvp}, SHOTS]).numpy()
    assert relative_error(data, prop.born(model, {"vp": dvp}, SHOTS.numpy())) < 1e-5
    image = layers.Migration(prop, model)([data, SHOTS])
    expected = prop.born_adjoint(model, data, SHOTS.numpy(), reduce=False)["vp"]
    assert set(image) == {"vp"} and relative_error(image["vp"], expected) < 1e-4


def test_fit_and_lbfgs_invert_the_velocity_with_the_other_fields_fixed(problem, tmp_path):
    prop, start = problem
    true = dict(start, vp=start["vp"].copy())
    true["vp"][ANOMALY] += 150.0
    observed = prop.forward(true)
    model = models.FWI(prop, start, 1500.0, 3500.0)
    assert model.fields == ("vp",)
    model.compile(optimizer=keras.optimizers.Adam(20.0, epsilon=1e-20))
    history = model.fit(np.arange(2), observed, batch_size=2, epochs=16, verbose=0)
    assert history.history["loss"][-1] < 0.3 * history.history["loss"][0]
    update = model.velocity - start["vp"]
    # Seen: the anomaly's mean update 1.7 times the mean absolute update (tti, whose
    # tilted anisotropy spreads two shots' updates), over 2 times (visco-acoustic).
    assert update[ANOMALY].mean() > 1.5 * np.abs(update).mean()
    for name in prop.parameters[1:]:
        assert np.array_equal(model.estimate[name], start[name])
    path = tmp_path / "fwi.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.prop.physics is prop.physics
    assert np.array_equal(loaded.velocity, model.velocity)
    again = models.FWI(prop, start, 1500.0, 3500.0)
    result = optimizers.lbfgs(again, np.arange(2), observed, max_iterations=3)
    assert result["loss"][-1] < 0.5 * result["loss"][0]


def test_shots_on_dask_give_the_same_gradient(problem):
    prop, model = problem
    data = RNG.standard_normal((2, *prop.data_shape)).astype(np.float32)
    expected = prop.born_adjoint(model, data)["vp"]
    with local_client(n_workers=1, omp_threads=2) as client:
        remote = Propagator.from_config(prop.get_config(), executor=DaskExecutor(client))
        grad = remote.born_adjoint(model, data)["vp"]
    assert relative_error(grad, expected) < 1e-5


def test_vti_fit_recovers_an_anomaly_that_an_isotropic_fit_mislocates():
    """Transmission through a VTI medium (epsilon 0.15, delta 0.05) with a +150 m/s
    anomaly, from shots on the top and left edges to receivers on the bottom and right:
    FWI with the anisotropy known puts the update in the anomaly; an isotropic FWI of the
    same data spends it on the faster horizontal paths and peaks outside the anomaly.
    Seen (12 epochs): VTI error x0.75, update 100 m/s inside against 14 outside, peak at
    the anomaly's centre; isotropic error x3.8, 128 inside against 115 outside, peak 10
    cells off."""
    grid = ks.Grid((50, 50), (10.0, 10.0))
    dt, nt = 0.001, 501
    edge = np.linspace(100.0, 400.0, 4)
    far = np.linspace(20.0, 480.0, 16)
    survey = ks.Survey([[x, 20.0] for x in edge] + [[20.0, z] for z in edge],
                       [[x, 480.0] for x in far] + [[480.0, z] for z in far], dt, nt,
                       ks.ricker(15.0, dt, nt))
    full = lambda value: np.full(grid.shape, value, np.float32)  # noqa: E731
    anisotropy = {"epsilon": full(0.15), "delta": full(0.05), "theta": full(0.0)}
    box = (slice(20, 30), slice(20, 30))
    true = full(2000.0)
    true[box] += 150.0
    vti = Propagator(grid, survey, physics="tti", absorbing_width=20)
    observed = vti.forward({"vp": true, **anisotropy})
    outside = np.ones(grid.shape, bool)
    outside[box] = False
    for prop, start in ((vti, {"vp": full(2000.0), **anisotropy}),
                        (Propagator(grid, survey, absorbing_width=20), full(2000.0))):
        model = models.FWI(prop, start, 1500.0, 3000.0)
        model.compile(optimizer=keras.optimizers.Adam(10.0, epsilon=1e-20))
        model.fit(np.arange(8), observed, batch_size=8, epochs=12, verbose=0)
        update = model.velocity - 2000.0
        peak = np.unravel_index(np.argmax(ndimage.gaussian_filter(update, 2)), grid.shape)
        inside = all(s.start <= i < s.stop for s, i in zip(box, peak))
        contrast = update[box].mean() / np.abs(update[outside]).mean()
        error = relative_error(model.velocity, true) / relative_error(full(2000.0), true)
        if prop is vti:
            assert inside and contrast > 4 and error < 0.9, (peak, contrast, error)
        else:
            assert not inside and contrast < 2 and error > 1, (peak, contrast, error)
