"""The JUDI4Flux demo in Keras: ``predict(x) = W * (J x) + b``.

``J`` is the Born operator (a Keras layer), ``W`` and ``b`` a dense layer's weights. One
gradient step gives gradients with respect to ``W``, ``b`` and the image ``x``.

Run: ``python examples/born_dense.py``.
"""
import keras
import numpy as np
import tensorflow as tf

import keras_seismic as ks
from common import small_survey


def main(nshots=2):
    prop, vp = small_survey(nshots=nshots)
    vp0 = ks.datasets.smooth(vp, 3)
    shots = tf.range(nshots)
    x = tf.Variable(np.random.default_rng(0).standard_normal((nshots, *vp.shape)).astype(
        np.float32))
    born = ks.layers.Born(prop, vp0)
    dense = keras.layers.Dense(prop.survey.nrec)  # W acts on the receiver axis
    target = tf.random.normal((nshots, *prop.data_shape))
    with tf.GradientTape() as tape:
        y = dense(born([x, shots]))
        loss = tf.reduce_sum((y - target) ** 2)
    W, b = dense.kernel, dense.bias
    g_W, g_b, g_x = tape.gradient(loss, [W, b, x])
    norms = {name: float(tf.norm(g)) for name, g in (("W", g_W), ("b", g_b), ("x", g_x))}
    print("loss", float(loss), "gradient norms", norms)
    return norms


if __name__ == "__main__":
    main()
