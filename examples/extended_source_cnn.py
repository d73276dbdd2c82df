"""A CNN around an extended-source PDE layer: ``Conv2D -> ExtendedSourceModeling(x, vp) ->
Conv2D``, with gradients with respect to both conv kernels and the velocity.

Run: ``python examples/extended_source_cnn.py``.
"""
import keras
import tensorflow as tf

import keras_seismic as ks
from common import small_survey


def main(nshots=2):
    prop, vp = small_survey(nshots=nshots)
    shots = tf.range(nshots)
    x = tf.random.normal((nshots, *vp.shape, 1))
    velocity = ks.layers.VelocityModel(vp)
    conv_in = keras.layers.Conv2D(1, 3, padding="same")
    pde = ks.layers.ExtendedSourceModeling(prop)
    conv_out = keras.layers.Conv2D(1, 3, padding="same")
    with tf.GradientTape() as tape:
        weights = conv_in(x)                                   # (batch, nx, nz, 1)
        data = pde([weights, velocity(shots), shots])           # (batch, nt, nrec, 1)
        y = conv_out(data)
        loss = tf.reduce_sum(y ** 2)
    variables = {"conv_in": conv_in.kernel, "conv_out": conv_out.kernel,
                 "velocity": velocity.velocity}
    grads = tape.gradient(loss, list(variables.values()))
    norms = {name: float(tf.norm(g)) for name, g in zip(variables, grads)}
    print("loss", float(loss), "gradient norms", norms)
    return norms


if __name__ == "__main__":
    main()
