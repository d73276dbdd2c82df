"""Loop-unrolled least-squares RTM: a physics-augmented network.

Each of ``K`` unrolled iterations updates the image with a small CNN that sees the current
image and the gradient of the data misfit, computed by the wave-equation layers::

    x <- x - CNN_k([x, J^T (J x - d)])

``J`` is Born modeling about a smooth background (``ks.layers.Born``) and ``J^T`` its
adjoint (``ks.layers.Migration``). The network is trained on pairs of random reflectivity
images and their simultaneous-source Born data (every source of the survey fires at once
with random polarity). On held-out pairs it is compared with RTM (``J^T d``, best scaled)
and with LS-RTM by gradient descent (exact line search) for the same number of PDE solves.

Run: ``python examples/loop_unrolled_lsrtm.py``.
"""
import keras
import numpy as np

import keras_seismic as ks


def simultaneous_survey(grid, nsrc=4, nexamples=16, f0=12.0, duration=0.5, seed=0):
    """One 'shot' per training example, each firing all ``nsrc`` surface sources at once
    with random polarity."""
    rng = np.random.default_rng(seed)
    dt = 0.002
    nt = int(round(duration / dt)) + 1
    x = np.linspace(0.1, 0.9, nsrc) * grid.extent[0]
    sources = np.stack([np.stack([x, np.full(nsrc, 2 * grid.spacing[1])], 1)] * nexamples)
    receivers = np.stack([np.linspace(0, grid.extent[0], grid.shape[0]),
                          np.full(grid.shape[0], grid.spacing[1])], 1)
    polarity = rng.choice([-1.0, 1.0], size=(nexamples, nsrc, 1))
    wavelet = polarity * ks.ricker(f0, dt, nt)
    return ks.Survey(sources, receivers, dt, nt, wavelet)


def random_reflectivity(shape, n, seed=0):
    """Images (n, nx, nz) in m/s with a few dipping reflectors each."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, *shape), np.float32)
    x = np.arange(shape[0])
    for image in images:
        for _ in range(rng.integers(2, 4)):
            depth = rng.uniform(0.3, 0.9) * shape[1] + rng.uniform(-0.1, 0.1) * (
                x - shape[0] / 2)
            z = np.clip(np.round(depth).astype(int), 0, shape[1] - 1)
            image[x, z] += rng.uniform(-200.0, 200.0)
    return images


def unrolled_network(prop, vp0, iterations=3, filters=8):
    """Keras model ``[data, shots] -> image``, ``iterations`` unrolled updates."""
    data = keras.Input(shape=prop.data_shape, name="data")
    shots = keras.Input(shape=(), dtype="int64", name="shots")
    born = ks.layers.Born(prop, vp0)
    migration = ks.layers.Migration(prop, vp0)
    image = keras.ops.zeros_like(migration([data, shots]))[..., None]
    for k in range(iterations):
        gradient = migration([born([image, shots])[..., 0] - data, shots])[..., None]
        # Scale the gradient to order one so the CNN sees comparable inputs.
        gradient = gradient / (keras.ops.max(keras.ops.abs(gradient), axis=(1, 2, 3),
                                             keepdims=True) + 1e-12)
        features = keras.layers.Concatenate()([image, gradient])
        hidden = keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                                     name=f"cnn{k}_a")(features)
        # Zero-initialised so that training starts from the zero image.
        update = keras.layers.Conv2D(1, 3, padding="same", kernel_initializer="zeros",
                                     name=f"cnn{k}_b")(hidden)
        image = image - 100.0 * update
    return keras.Model([data, shots], image[..., 0])


def gradient_descent_lsrtm(prop, vp0, data, shots, iterations):
    """Plain LS-RTM: steepest descent with the exact step for a quadratic misfit; each
    iteration costs the same PDE solves as one unrolled iteration (plus one Born)."""
    image = np.zeros((len(shots), *prop.grid.shape), np.float32)
    for _ in range(iterations):
        residual = np.stack([prop.born(vp0, image[i], [s])[0] for i, s in enumerate(shots)]) \
            - data
        gradient = prop.born_adjoint(vp0, residual, shots, reduce=False)
        for i, s in enumerate(shots):
            jg = prop.born(vp0, gradient[i], [s])[0]
            step = np.sum(gradient[i] ** 2) / max(np.sum(jg.astype(np.float64) ** 2), 1e-30)
            image[i] -= np.float32(step) * gradient[i]
    return image


def relative_error(estimate, true):
    return float(np.linalg.norm(estimate - true) / np.linalg.norm(true))


def main(shape=(60, 30), ntrain=12, ntest=4, iterations=3, epochs=15, seed=0):
    grid, vp = ks.datasets.layered(shape=shape, spacing=10.0,
                                   velocities=(1800.0, 2200.0, 2600.0))
    vp0 = ks.datasets.smooth(vp, 40.0, grid=grid)
    survey = simultaneous_survey(grid, nexamples=ntrain + ntest, seed=seed)
    prop = ks.AcousticPropagator(grid, survey, space_order=8, absorbing_width=20)
    images = random_reflectivity(shape, ntrain + ntest, seed)
    shots = np.arange(ntrain + ntest)
    data = prop.born(vp0, images, shots)
    train, test = shots[:ntrain], shots[ntrain:]

    network = unrolled_network(prop, vp0, iterations)
    network.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    history = network.fit([data[train], train], images[train], batch_size=4, epochs=epochs,
                          verbose=2).history["loss"]
    learned = network.predict([data[test], test], verbose=0)

    rtm = prop.born_adjoint(vp0, data[test], test, reduce=False)
    rtm_scaled = np.stack([r * np.sum(r * t) / np.sum(r * r)
                           for r, t in zip(rtm, images[test])])
    lsrtm = gradient_descent_lsrtm(prop, vp0, data[test], test, iterations)
    errors = {"rtm": relative_error(rtm_scaled, images[test]),
              "lsrtm_gradient_descent": relative_error(lsrtm, images[test]),
              "loop_unrolled": relative_error(learned, images[test])}
    print(f"held-out relative image error after {iterations} iterations:", errors)
    return errors, history


if __name__ == "__main__":
    main()
