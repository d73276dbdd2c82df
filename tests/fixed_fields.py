"""Keras checks for a physics that holds fields fixed (tti, visco-acoustic): the layers
differentiate the velocity and give the fixed fields zeros; FWI inverts vp alone, by fit
and by L-BFGS, and saves and loads. Each physics' test file runs them, so that they reuse
the kernels it has built."""
import keras
import numpy as np
import tensorflow as tf

import helpers
from keras_seismic import layers, models, optimizers

SHOTS = tf.constant([1, 0], tf.int64)
ANOMALY = (slice(15, 25), slice(10, 20))  # of the velocity, +150 m/s


def relative_error(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b))


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
