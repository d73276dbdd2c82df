"""Checks of a physics linearised in vp alone, its other fields fixed (tti,
visco-acoustic): dot tests of Born and of the sources, the Taylor test of the gradient,
every storage mode; in Keras, the layers differentiate the velocity and give the fixed
fields zeros, and FWI inverts vp alone, by fit and by L-BFGS, and saves and loads. Each
physics' test file runs them, so that they reuse the kernels it has built."""
import keras
import numpy as np
import tensorflow as tf

import helpers
from helpers import assert_adjoint, assert_taylor, smooth_random
from keras_seismic import layers, models, optimizers

SHOTS = tf.constant([1, 0], tf.int64)
ANOMALY = (slice(15, 25), slice(10, 20))  # of the velocity


def relative_error(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b))


def check_born_dot_test(prop, model):
    dvp = smooth_random(prop.grid.shape, 100.0)
    assert_adjoint(dvp, prop.born(model, {"vp": dvp}),
                   lambda d: prop.born_adjoint(model, d)["vp"], tol=1e-4)


def check_source_dot_tests(prop, model):
    """The extended source's adjoint and the wavelet's."""
    weights = smooth_random((prop.nshots, *prop.grid.shape))
    assert_adjoint(weights, prop.extended_forward(model, weights),
                   lambda d: prop.extended_adjoint(model, d), tol=1e-4)
    assert_adjoint(prop.survey.wavelet, prop.forward(model),
                   lambda d: prop.wavelet_adjoint(model, d), tol=1e-4)


def check_taylor(prop, model):
    true = dict(model, vp=model["vp"].copy())
    true["vp"][ANOMALY] += 200.0
    grad = assert_taylor(prop, model, true, "vp")
    assert set(grad) == {"vp"}  # the other fields are held fixed


def check_storage_modes(problem):
    """``problem(storage=...)`` gives ``(prop, model)``: checkpointing recomputes every
    field of the forward state exactly; subsampled storage is close."""
    full, model = problem()
    true = dict(model, vp=model["vp"] + 100.0)
    data = full.forward(model) - full.forward(true)
    reference = full.born_adjoint(model, data)["vp"]
    for storage, tol in (("checkpointing", 1e-5), ("subsampled", 0.05)):
        grad = problem(storage=storage)[0].born_adjoint(model, data)["vp"]
        assert relative_error(grad, reference) < tol, storage


def check_modeling_layer(prop, model):
    """The layer's velocity gradient is the propagator's; the fixed fields get zeros."""
    batch = {k: tf.constant(np.stack([v, v])) for k, v in model.items()}
    dy = helpers.RNG.standard_normal((2, *prop.data_shape)).astype(np.float32)
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


def check_born_and_migration_layers(prop, model):
    dvp = helpers.RNG.standard_normal((2, *prop.grid.shape)).astype(np.float32)
    data = layers.Born(prop, model)([{"vp": dvp}, SHOTS]).numpy()
    assert relative_error(data, prop.born(model, {"vp": dvp}, SHOTS.numpy())) < 1e-5
    image = layers.Migration(prop, model)([data, SHOTS])
    expected = prop.born_adjoint(model, data, SHOTS.numpy(), reduce=False)["vp"]
    assert set(image) == {"vp"} and relative_error(image["vp"], expected) < 1e-4


def check_fit_and_lbfgs(prop, start, tmp_path):
    """FWI inverts vp with the other fields fixed, by fit and by L-BFGS, and saves and
    loads."""
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
