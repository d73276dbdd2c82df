"""Loop-unrolled least-squares RTM from single noisy simultaneous-source records.

A physics-augmented network: each of ``K`` unrolled iterations sees the current image
``x`` and the preconditioned gradient ``P J^T (J x - d)`` of the data misfit, computed by
the wave-equation layers (``J`` is ``ks.layers.Born``, ``J^T`` is
``ks.layers.Migration``), and a small U-Net turns them into an update::

    x <- x - CNN_k([x, P J^T (J x - d), memory_k, depth, x-position])

The experiment (:func:`main`), scaled from a 15 km x 4.5 km marine section to a 4 km x
2 km one on 200 x 100 cells of 20 m:

- **Sections** (:func:`thrust_section`): folded sedimentary layers under 250 m of water,
  cut by one or two thrust faults; the layer velocities follow one compaction trend with
  random contrasts of up to +-200 m/s. Each seed gives another section.
- **True image** (:func:`images_of`): the section, band-limited by a one-cell Gaussian,
  minus its 75 m Gaussian smoothing (the water kept sharp): layers, faults and dipping
  reflectors, as a velocity perturbation in m/s, in the band that the data resolve.
- **Background** (:func:`area_background`): one for the whole area, the mean of the
  training sections' 300 m smoothings. The **true model** (:func:`true_models`) is that
  background, off by a smooth random error of 1% RMS (as a tomographic velocity is), plus
  the true image.
- **Data**: one record per image, in which all 16 sources fire at once with Gaussian
  random weights. The data are modelled *nonlinearly* in the true model, minus the
  background's (so they hold the background's error, transmission effects and
  multiples, which Born modelling about the background has not), plus band-limited
  noise of half their RMS. Each source's data are modelled once per model; a record is
  their weighted sum (the wave equation is linear in its source), so training draws a
  new encoding and new noise for every image in every epoch (``tf.data``) for free.
- **Preconditioner** ``P`` (:func:`preconditioner`), the same for every method.
- **Baselines**, at the same number of PDE solves as the network (``K`` migrations and
  ``K - 1`` Born modellings; the baselines get ``K`` and ``K``): RTM best scaled to the
  true image, LS-RTM by preconditioned steepest descent with exact line search, and
  preconditioned CGLS.
- **Training** (:func:`main`): each iteration's CNN in turn on inputs cached by the
  propagator (:func:`pretrain_iterations`), then the whole network through the PDE
  layers with ``model.fit``.
- **Held-out images** come from seeds the network never saw.

Run: ``python examples/loop_unrolled_lsrtm.py [--figure out/lsrtm.png] [--save net.keras]``
"""
import argparse
import os
import tempfile
import time
import types

import keras
import numpy as np
import tensorflow as tf
from scipy import ndimage, signal

import keras_seismic as ks

WATER_VELOCITY = 1500.0


# ----------------------------------------------------------------------------- the models
def thrust_section(grid, seed, water_depth=250.0, contrast=200.0):
    """A random thrust-faulted section under a flat sea floor, velocity in m/s.

    Folded layers 40-160 m thick (in depth before folding) whose velocities follow the
    trend ``1650 + 0.75 (depth below the sea floor)`` m/s, each with a random contrast of
    up to ``contrast`` m/s; then one or two thrust faults (dipping 25-45 degrees) whose
    hanging walls have slid up the fault plane by 100-300 m. The sediments are
    band-limited by a one-cell Gaussian.

    Returns:
        float32 ``grid.shape``.
    """
    rng = np.random.default_rng(seed)
    x, z = (np.arange(n) * d for n, d in zip(grid.shape, grid.spacing))
    xx, zz = np.meshgrid(x, z, indexing="ij")
    width, depth = x[-1], z[-1]
    # Undo the faults (the youngest structures): a hanging-wall point goes back down the
    # fault plane to where it was deposited.
    for _ in range(rng.integers(1, 3)):
        dip, side = np.deg2rad(rng.uniform(25.0, 45.0)), rng.choice([-1.0, 1.0])
        x_mid, slip = rng.uniform(0.25, 0.75) * width, rng.uniform(100.0, 300.0)
        plane = x_mid + side * (zz - 0.6 * depth) / np.tan(dip)
        hanging = side * (xx - plane) > 0
        xx = np.where(hanging, xx + side * slip * np.cos(dip), xx)
        zz = np.where(hanging, zz + slip * np.sin(dip), zz)
    # Then the folds: a regional dip and two undulations that grow with depth.
    fold = rng.uniform(-0.08, 0.08) * xx
    for _ in range(2):
        wavelength, amplitude = rng.uniform(0.5, 1.5) * width, rng.uniform(20.0, 80.0)
        fold += amplitude * (0.3 + zz / depth) * np.sin(2 * np.pi * xx / wavelength
                                                       + rng.uniform(0, 2 * np.pi))
    stratigraphic = zz - fold - water_depth
    tops = np.cumsum(rng.uniform(40.0, 160.0, size=200)) - 600.0
    below = np.clip(tops + 0.5 * np.diff(tops, append=tops[-1]), 0.0, None)
    velocity = 1650.0 + 0.75 * below + rng.uniform(-contrast, contrast, size=tops.size)
    vp = velocity[np.searchsorted(tops, stratigraphic)]
    vp = ndimage.gaussian_filter(vp, 1.0, mode="nearest")
    vp[:, z < water_depth] = WATER_VELOCITY
    return vp.astype(np.float32)


def images_of(grid, sections, resolved=75.0):
    """True images: each section minus its ``resolved`` m Gaussian smoothing, the water
    kept sharp; float32 ``(n, *grid.shape)`` in m/s."""
    return np.stack([vp - ks.datasets.smooth(vp, resolved, grid=grid,
                                             water_velocity=WATER_VELOCITY)
                     for vp in sections])


def area_background(grid, sections, kinematic=300.0):
    """The area's background velocity: the mean of the sections' ``kinematic`` m
    Gaussian smoothings (water kept), float32 ``grid.shape``."""
    return np.mean([ks.datasets.smooth(vp, kinematic, grid=grid,
                                       water_velocity=WATER_VELOCITY)
                    for vp in sections], axis=0).astype(np.float32)


def true_models(background, images, seeds, error=0.01, correlation=500.0, spacing=20.0):
    """The true models: the background, off by a smooth random error of ``error`` RMS
    (relative, correlated over ``correlation`` m, none in the water) as a tomographic
    velocity is, plus each image; float32 ``(n, *grid.shape)`` in m/s."""
    water = ks.datasets.water_mask(background)
    models = []
    for seed, image in zip(seeds, images):
        field = ndimage.gaussian_filter(np.random.default_rng(seed).standard_normal(
            background.shape), correlation / spacing, mode="wrap")
        field = (field - field.mean()) / field.std()
        models.append(background * (1.0 + error * water * field) + image)
    return np.stack(models).astype(np.float32)


# ----------------------------------------------------------------------------- the data
def surveys(grid, nsrc=16, f0=7.0, duration=2.0, dt=0.004):
    """The propagators' surveys: every source alone (one shot each, for modelling the
    data once), and all of them in one shot (the simultaneous record, whose wavelets
    each sample replaces with its own encoding)."""
    nt = int(round(duration / dt)) + 1
    width = grid.extent[0]
    sources = np.stack([np.linspace(0.05, 0.95, nsrc) * width,
                        np.full(nsrc, 2 * grid.spacing[1])], 1)
    receivers = np.stack([np.arange(grid.shape[0]) * grid.spacing[0],
                          np.full(grid.shape[0], grid.spacing[1])], 1)
    wavelet = ks.ricker(f0, dt, nt)
    single = ks.Survey(sources, receivers, dt, nt, wavelet)
    simultaneous = ks.Survey(sources[None], receivers, dt, nt, wavelet)
    return single, simultaneous


def source_data(prop, models, background):
    """Each source's scattered data in each model, nonlinear: ``F(model) - F(background)``,
    float32 ``(nmodels, nsrc, nt, nrec)``."""
    sources = np.arange(prop.nshots)
    direct = prop.forward(background, sources)
    # One call for every model and source, which shows one progress bar.
    data = prop.forward(np.repeat(models, prop.nshots, axis=0),
                        np.tile(sources, len(models)))
    return data.reshape(len(models), prop.nshots, *prop.data_shape) - direct


def preconditioner(prop, background, reference=2000.0):
    """The diagonal of the Gauss-Newton Hessian in velocity, inverted, as a fixed
    preconditioner ``P`` for every method: ``(v / reference)^6`` (Born data scale as
    ``2 / v^3`` times the velocity perturbation, so ``J^T J`` as its square) over the
    illumination of all the sources (the expected illumination of an encoded shot whose
    weights have unit variance), stabilised at 0.1% of its peak, and 0 in the water.

    Returns:
        float32 ``grid.shape``, of peak 1.
    """
    illumination = prop.illumination(background)
    weights = ks.datasets.water_mask(background) * (background / reference) ** 6 / (
        illumination / illumination.max() + 1e-3)
    return (weights / weights.max()).astype(np.float32)


class Encoder:
    """Simultaneous-source records: random source weights, the weighted sum of each
    source's data, and band-limited noise of ``noise`` times the record's RMS."""

    def __init__(self, survey, noise=0.5, band=(3.0, 20.0), seed=0):
        self.wavelet, self.noise = survey.wavelet[0], noise
        self.rng = np.random.default_rng(seed)
        self.band = signal.butter(4, band, "bandpass", fs=1.0 / survey.dt, output="sos")

    def __call__(self, per_source):
        """``(record, wavelets)``: float32 ``(nt, nrec)`` and ``(nsrc, nt)``."""
        weights = self.rng.standard_normal(per_source.shape[0]).astype(np.float32)
        record = np.tensordot(weights, per_source, axes=1)
        noise = signal.sosfiltfilt(self.band, self.rng.standard_normal(record.shape),
                                   axis=0)
        record = record + noise * self.noise * np.std(record) / np.std(noise)
        return record.astype(np.float32), weights[:, None] * self.wavelet


def training_pipeline(per_source, images, encoder, batch_size, seed=0):
    """``tf.data`` of ``((record, shot, wavelets), image)`` batches: the images in a new
    order, each with a new random encoding and new noise, every epoch."""
    rng = np.random.default_rng(seed)
    nt, nrec = per_source.shape[2:]
    nsrc, nx, nz = per_source.shape[1], *images.shape[1:]

    def examples():
        for i in rng.permutation(len(images)):
            record, wavelets = encoder(per_source[i])
            yield (record[..., None], np.int64(0), wavelets), images[i][..., None]

    signature = ((tf.TensorSpec((nt, nrec, 1), tf.float32), tf.TensorSpec((), tf.int64),
                  tf.TensorSpec((nsrc, nt), tf.float32)),
                 tf.TensorSpec((nx, nz, 1), tf.float32))
    dataset = tf.data.Dataset.from_generator(examples, output_signature=signature)
    return dataset.apply(tf.data.experimental.assert_cardinality(len(images))).batch(
        batch_size).prefetch(1)


def encoded(per_source, encoder, encodings=1):
    """``encodings`` encoded records of each model, model by model: records
    ``(n * encodings, nt, nrec)`` and wavelets ``(n * encodings, nsrc, nt)``."""
    records, wavelets = zip(*(encoder(p) for p in per_source for _ in range(encodings)))
    return np.stack(records), np.stack(wavelets)


# ----------------------------------------------------------------------------- the network
@keras.saving.register_keras_serializable(package="examples")
class Coordinates(keras.layers.Layer):
    """Appends the normalised x and depth of each cell as two channels, so that the
    convolutions can learn corrections that vary across the section (illumination)."""

    def call(self, features):
        shape = keras.ops.shape(features)
        x = keras.ops.linspace(-1.0, 1.0, shape[1])[:, None] * keras.ops.ones((1, shape[2]))
        z = keras.ops.ones((shape[1], 1)) * keras.ops.linspace(-1.0, 1.0, shape[2])[None]
        grid = keras.ops.stack([x, z], axis=-1)[None] * keras.ops.ones((shape[0], 1, 1, 1))
        return keras.ops.concatenate([features, keras.ops.cast(grid, features.dtype)], -1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 2)


@keras.saving.register_keras_serializable(package="examples")
class Weighting(keras.layers.Layer):
    """Multiplies ``(batch, *grid.shape, channels)`` by a fixed ``grid.shape`` field (the
    preconditioner, or the water mask), kept as a non-trainable weight."""

    def __init__(self, field=None, shape=None, **kwargs):
        super().__init__(**kwargs)
        self.field_shape = tuple(np.shape(field) if field is not None else shape)
        self._initial = field

    def build(self, input_shape):
        initial = "zeros" if self._initial is None else \
            keras.initializers.Constant(self._initial)
        self.field = self.add_weight(name="field", shape=self.field_shape,
                                     initializer=initial, trainable=False)

    def call(self, x):
        return x * keras.ops.cast(self.field, x.dtype)[..., None]

    def get_config(self):
        return {**super().get_config(), "shape": list(self.field_shape)}


def _conv(filters, name, **kwargs):
    return keras.layers.Conv2D(filters, 3, padding="same", name=name, **kwargs)


def update_model(shape, channels, filters, memory, name, levels=3):
    """One iteration's CNN, a U-Net: features ``(*shape, channels)`` ->
    ``[update (*shape, 1), memory (*shape, memory)]``, or the update alone if ``memory``
    is 0 (the last iteration).

    Two 3 x 3 convolutions at every scale, and ``levels`` halvings of the grid, each
    scale below the first with ``2 * filters`` channels: three halvings give a receptive
    field of 61 cells (1.2 km at 20 m).
    """
    features = keras.Input((*shape, channels))
    x = _conv(filters, "a1", activation="relu")(Coordinates()(features))
    skips = [_conv(filters, "a2", activation="relu")(x)]
    for level in range(1, levels + 1):
        x = _conv(2 * filters, f"down{level}", strides=2, activation="relu")(skips[-1])
        skips.append(_conv(2 * filters, f"conv{level}", activation="relu")(x))
    x = skips.pop()
    for level in reversed(range(levels)):
        skip, x = skips[level], keras.layers.UpSampling2D()(x)
        # A strided convolution rounds an odd size up: crop the extra cell.
        excess = [x.shape[i] - skip.shape[i] for i in (1, 2)]
        if any(excess):
            x = keras.layers.Cropping2D(((0, excess[0]), (0, excess[1])))(x)
        x = _conv(filters if level == 0 else 2 * filters, f"up{level}",
                  activation="relu")(keras.layers.Concatenate()([skip, x]))
    # Zero-initialised: training starts from the zero update.
    update = _conv(1, "update", kernel_initializer="zeros")(x)
    outputs = [update, _conv(memory, "memory", activation="tanh")(x)] if memory else update
    return keras.Model(features, outputs, name=name)


def unrolled_network(prop, background, preconditioner, iterations=4, filters=16, memory=4,
                     image_scale=100.0, gradient_scale=1.0):
    """The Keras model ``[record, shot, wavelets] -> image`` (m/s).

    Args:
        prop: the propagator of the simultaneous survey (one shot of every source).
        background: velocity ``grid.shape`` in m/s that Born and Migration linearise about.
        preconditioner: ``grid.shape``, applied to every gradient (see
            :func:`preconditioner`); the updates vanish where it does (the water).
        iterations: unrolled iterations ``K``.
        filters: channels of the U-Nets' finest scale (the coarser ones have twice).
        memory: channels of the memory passed from one iteration to the next.
        image_scale: m/s per unit of the image the CNNs see and update.
        gradient_scale: factor bringing ``P J^T d`` to order one (from the training data).
    """
    shape, nsrc, nt = prop.grid.shape, prop.survey.nsrc, prop.survey.nt
    record = keras.Input((*prop.data_shape, 1), name="record")
    shot = keras.Input((), dtype="int64", name="shot")
    wavelets = keras.Input((nsrc, nt), name="wavelets")
    born = ks.layers.Born(prop, background, name="born")
    migration = ks.layers.Migration(prop, background, name="migration")
    water = (preconditioner > 0).astype(np.float32)
    image = state = None
    for k in range(iterations):
        # J x - d, with J 0 = 0 at the first iteration (a Born solve saved).
        residual = keras.layers.Rescaling(-1.0)(record) if image is None else \
            keras.layers.Subtract()([born([image, shot, wavelets]), record])
        gradient = Weighting(gradient_scale * preconditioner)(
            migration([residual, shot, wavelets]))
        features = gradient if image is None else keras.layers.Concatenate()(
            [keras.layers.Rescaling(1.0 / image_scale)(image), gradient, state])
        block = update_model(shape, 1 if k == 0 else 2 + memory, filters,
                             memory if k < iterations - 1 else 0, f"iteration{k}")
        update, state = block(features) if k < iterations - 1 else (block(features), None)
        update = Weighting(image_scale * water)(update)
        image = keras.layers.Rescaling(-1.0)(update) if image is None else \
            keras.layers.Subtract()([image, update])
    return keras.Model([record, shot, wavelets], image, name="loop_unrolled_lsrtm")


def fit_update(block, features, targets, epochs, batch_size, learning_rate, verbose):
    """Fits one iteration's CNN alone to the updates ``targets`` (``(n, *grid, 1)``) of
    its ``features`` (``(n, *grid, channels)``), as the network scales both. Each epoch
    sees every example and its mirror image in x: the survey is symmetric about the
    section's centre, so a mirrored pair is another example of the same physics. Returns
    the loss of each epoch."""
    update = keras.Model(block.inputs, block.outputs[0] if len(block.outputs) > 1
                         else block.outputs)
    features = np.concatenate([features, features[:, ::-1]])
    targets = np.concatenate([targets, targets[:, ::-1]])
    schedule = keras.optimizers.schedules.CosineDecay(
        learning_rate, epochs * -(-len(targets) // batch_size))
    update.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse")
    return update.fit(features, targets, batch_size=batch_size, epochs=epochs,
                      verbose=verbose).history["loss"]


def pretrain_iterations(network, prop, background, preconditioner, records, wavelets,
                        migrated, images, scales, epochs, batch_size, learning_rate,
                        verbose, encodings=1):
    """The first stage of training: each iteration's CNN in turn, greedily, on cached
    inputs, so that every CNN sees every image many times before the whole network is
    trained through the physics.

    Iteration ``k``'s CNN is fitted (:func:`fit_update`) to the update that takes its
    image ``x_k`` to the true one, from its features ``[x_k, P J^T (J x_k - d), memory]``
    as the network computes them. The first iteration learns from all the ``encodings``
    records of each training model (``(n * encodings, nt, nrec)``, with their
    ``wavelets``), as learned post-processing of RTM: no PDE solve beyond the first
    migrations. Each later one learns from one record of each model, since its inputs
    cost a Born modelling and a migration each.

    Args:
        migrated: the first iteration's preconditioned gradients ``P J^T (-d)`` of the
            records, ``(n * encodings, *grid)``.
        images: the true images ``(n, *grid)``, m/s.
        scales: ``(image_scale, gradient_scale)`` of :func:`unrolled_network`.

    Returns:
        ``(losses, images)``: the last epoch's loss of each iteration's CNN, and the
        network's images ``(n, *grid)`` of the first record of each model, m/s.
    """
    image_scale, gradient_scale = scales
    iterations = sum(layer.name.startswith("iteration") for layer in network.layers)
    shots, water = np.zeros(len(records), int), (preconditioner > 0).astype(np.float32)
    true, gradient = np.repeat(images, encodings, axis=0), gradient_scale * migrated
    x, state, losses = np.zeros_like(true), None, []
    for k in range(iterations):
        features = gradient[..., None] if k == 0 else np.concatenate(
            [x[..., None] / image_scale, gradient[..., None], state], axis=-1)
        block = network.get_layer(f"iteration{k}")
        # The network's next image is x - image_scale * water * update.
        losses.append(fit_update(block, features, (x - true)[..., None] / image_scale,
                                 epochs, batch_size, learning_rate, verbose)[-1])
        if k == 0:
            keep = slice(None, None, encodings)
            records, wavelets, shots, true, x, features = (
                a[keep] for a in (records, wavelets, shots, true, x, features))
        update = block.predict(features, verbose=0)
        if k == iterations - 1:
            return losses, x - image_scale * water * update[..., 0]
        update, state = update
        x = x - image_scale * water * update[..., 0]
        residual = prop.born(background, x, shots, wavelet=wavelets) - records
        gradient = gradient_scale * preconditioner * migrate(prop, background, residual,
                                                             wavelets)


# ----------------------------------------------------------------------------- baselines
def migrate(prop, background, records, wavelets, chunk=16):
    """``J^T d`` of each encoded record ``(n, nt, nrec)`` with its wavelets, ``(n, *grid)``:
    ``chunk`` records at a time, since each holds its stored wavefield until imaged."""
    return np.concatenate([
        prop.born_adjoint(background, records[i:i + chunk],
                          np.zeros(len(records[i:i + chunk]), int), reduce=False,
                          wavelet=wavelets[i:i + chunk])
        for i in range(0, len(records), chunk)])


def rtm(prop, background, preconditioner, records, wavelets, true):
    """RTM ``P J^T d`` (preconditioned, zero in the water), each image scaled to fit the
    true one best (least squares)."""
    images = preconditioner * migrate(prop, background, records, wavelets)
    scale = np.sum(images * true, axis=(1, 2)) / np.sum(images * images, axis=(1, 2))
    return images * scale[:, None, None]


def lsrtm(prop, background, preconditioner, records, wavelets, iterations,
          method="steepest descent"):
    """LS-RTM of each record from the zero image: ``iterations`` steps of preconditioned
    steepest descent with the exact line search, or of preconditioned CGLS; each step
    costs one migration and one Born modelling."""
    shots = np.zeros(len(records), int)
    J = lambda x: prop.born(background, x, shots, wavelet=wavelets)  # noqa: E731
    JT = lambda r: migrate(prop, background, r, wavelets)  # noqa: E731
    norm2 = lambda a: np.sum(np.asarray(a, np.float64) ** 2,  # noqa: E731
                             axis=tuple(range(1, a.ndim)))
    expand = lambda a: a.reshape(-1, 1, 1).astype(np.float32)  # noqa: E731
    image = np.zeros((len(records), *prop.grid.shape), np.float32)
    residual = records.astype(np.float32)                      # d - J x
    gradient = JT(residual)                                    # minus the misfit's
    direction = preconditioner * gradient
    gamma = np.sum(gradient * direction, axis=(1, 2))
    for k in range(iterations):
        jd = J(direction)
        alpha = expand(gamma / np.maximum(norm2(jd), 1e-30))
        image, residual = image + alpha * direction, residual - alpha * jd
        if k == iterations - 1:
            break
        gradient = JT(residual)
        steepest = preconditioner * gradient
        gamma, previous = np.sum(gradient * steepest, axis=(1, 2)), gamma
        direction = steepest if method != "cgls" else \
            steepest + expand(gamma / np.maximum(previous, 1e-30)) * direction
    return image


# ----------------------------------------------------------------------------- metrics
def relative_error(estimate, true):
    """``||estimate - true|| / ||true||`` over a set of images."""
    return float(np.linalg.norm(estimate - true) / np.linalg.norm(true))


def snr_db(estimate, true):
    """Signal-to-noise ratio ``20 log10(||true|| / ||estimate - true||)``, dB."""
    return float(-20.0 * np.log10(relative_error(estimate, true)))


def ssim(estimate, true):
    """Mean structural similarity (``tf.image.ssim``) over the images, on the true
    images' range."""
    span = float(true.max() - true.min())
    return float(tf.reduce_mean(tf.image.ssim(
        tf.constant(estimate[..., None], tf.float32),
        tf.constant(true[..., None], tf.float32),
        max_val=span, filter_size=7)))


def figure(path, grid, true, panels, history):
    """The true image and each method's side by side on one colour scale, and the
    training curve."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    extent = [0.0, grid.extent[0], grid.extent[-1], 0.0]
    clip = float(np.percentile(np.abs(true), 99.5))
    fig, axes = plt.subplots(1, len(panels) + 2, figsize=(4.2 * (len(panels) + 2), 2.8),
                             gridspec_kw={"width_ratios": [1] * (len(panels) + 1) + [0.8]})
    for ax, (title, image) in zip(axes, [("true image", true), *panels.items()]):
        shown = ax.imshow(image.T, cmap="gray", vmin=-clip, vmax=clip, extent=extent,
                          aspect="auto")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("x (m)")
    axes[0].set_ylabel("depth (m)")
    fig.colorbar(shown, ax=axes[len(panels)], label="velocity perturbation (m/s)")
    axes[-1].plot(np.arange(1, len(history) + 1), history, "k.-")
    axes[-1].set_xlabel("epoch")
    axes[-1].set_ylabel("training loss (MSE, (m/s)^2)")
    axes[-1].set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------- main
def experiment(shape, spacing, ntrain, ntest, nsrc, f0, duration, noise, seed,
               space_order=8, absorbing_width=30):
    """The experiment's models and data: ``ntrain + ntest`` random sections (the
    background from the first ``ntrain``), and each source's data in each.

    Returns:
        A namespace of ``prop`` (the simultaneous survey's propagator), ``background``
        (m/s, ``grid.shape``), ``weighting`` (the preconditioner, ``grid.shape``),
        ``images`` (the true images, ``(n, *grid.shape)``, m/s), ``per_source`` (each
        source's data, ``(n, nsrc, nt, nrec)``) and ``encoder`` (an :class:`Encoder`).
    """
    grid = ks.Grid(shape, (spacing, spacing))
    single, simultaneous = surveys(grid, nsrc, f0, duration)
    options = dict(space_order=space_order, absorbing_width=absorbing_width)
    modelling = ks.AcousticPropagator(grid, single, **options)
    seeds = 1000 * seed + np.arange(ntrain + ntest)
    sections = [thrust_section(grid, s) for s in seeds]
    images = images_of(grid, sections)
    background = area_background(grid, sections[:ntrain])
    models = true_models(background, images, seeds + 100000, spacing=spacing)
    return types.SimpleNamespace(
        prop=ks.AcousticPropagator(grid, simultaneous, **options), background=background,
        weighting=preconditioner(modelling, background), images=images,
        per_source=source_data(modelling, models, background),
        encoder=Encoder(simultaneous, noise, seed=seed))


def main(shape=(200, 100), spacing=20.0, ntrain=192, ntest=16, iterations=4, epochs=4,
         pretrain_epochs=8, encodings=4, filters=16, batch_size=2, learning_rate=2e-3,
         tuning_rate=1e-3, nsrc=16, f0=7.0, duration=2.0, noise=0.5, seed=0, path=None,
         figure_path=None, verbose=2):
    """Train the network on ``ntrain`` random models, evaluate it on ``ntest`` others.

    Training has two stages. First each iteration's CNN in turn, greedily, on cached
    inputs (:func:`pretrain_iterations`, ``pretrain_epochs`` each, Adam from
    ``learning_rate``): the first on ``encodings`` records of each training model, the
    later ones on one. Then the whole network, through the physics, with ``model.fit``
    (``epochs``, Adam from ``tuning_rate``, a new encoding and new noise for every image
    in every epoch).

    Returns:
        ``(errors, history)``: the held-out relative L2 image errors of ``rtm``,
        ``lsrtm_gradient_descent``, ``lsrtm_cgls``, ``loop_unrolled`` and
        ``loop_unrolled_first_stage`` (the network before its second stage), and the
        loss of each epoch of the whole network's training ((m/s)^2).
    """
    start = time.perf_counter()
    data = experiment(shape, spacing, ntrain, ntest, nsrc, f0, duration, noise, seed)
    prop, background, weighting, images, per_source, encoder = (
        data.prop, data.background, data.weighting, data.images, data.per_source,
        data.encoder)
    grid, train, test = prop.grid, slice(0, ntrain), slice(ntrain, ntrain + ntest)
    print(f"data of {ntrain + ntest} models x {nsrc} sources: "
          f"{time.perf_counter() - start:.0f} s")

    # The first iteration's inputs, P J^T (-d), of a few encodings of each training model.
    records, wavelets = encoded(per_source[train], encoder, encodings)
    rtm_images = weighting * migrate(prop, background, -records, wavelets)
    gradient_scale, image_scale = 1.0 / float(rtm_images.std()), float(images[train].std())
    network = unrolled_network(prop, background, weighting, iterations, filters,
                               image_scale=image_scale, gradient_scale=gradient_scale)
    clock = time.perf_counter()
    if pretrain_epochs:
        pretrain_iterations(network, prop, background, weighting, records, wavelets,
                            rtm_images, images[train], (image_scale, gradient_scale),
                            pretrain_epochs, 2 * batch_size, learning_rate, verbose,
                            encodings)
    pretrained = time.perf_counter() - clock
    records, wavelets = encoded(per_source[test], encoder)
    inputs = [records[..., None], np.zeros(ntest, np.int64), wavelets]
    first_stage = network.predict(inputs, verbose=0)[..., 0]
    clock, history = time.perf_counter(), []
    if epochs:
        schedule = keras.optimizers.schedules.CosineDecay(
            tuning_rate, epochs * -(-ntrain // batch_size))
        network.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse")
        history = network.fit(training_pipeline(per_source[train], images[train], encoder,
                                                batch_size, seed),
                              epochs=epochs, shuffle=False, verbose=verbose).history["loss"]
    trained = time.perf_counter() - clock

    with tempfile.TemporaryDirectory() as folder:
        saved = path or os.path.join(folder, "loop_unrolled_lsrtm.keras")
        network.save(saved)
        network = keras.models.load_model(saved)
    learned = network.predict(inputs, verbose=0)[..., 0]
    true = images[test]
    estimates = {
        "rtm": rtm(prop, background, weighting, records, wavelets, true),
        "lsrtm_gradient_descent": lsrtm(prop, background, weighting, records, wavelets,
                                        iterations),
        "lsrtm_cgls": lsrtm(prop, background, weighting, records, wavelets, iterations,
                            "cgls"),
        "loop_unrolled_first_stage": first_stage, "loop_unrolled": learned}
    errors = {name: relative_error(x, true) for name, x in estimates.items()}
    print(f"held-out images: {ntest}; {iterations} iterations; first stage "
          f"{pretrained:.0f} s, whole network {trained:.0f} s; total "
          f"{time.perf_counter() - start:.0f} s")
    for name, x in estimates.items():
        print(f"  {name:26s} relative error {errors[name]:.3f}  "
              f"SNR {snr_db(x, true):5.2f} dB  SSIM {ssim(x, true):.3f}")
    if figure_path:
        figure(figure_path, grid, true[0],
               {"RTM": estimates["rtm"][0],
                f"LS-RTM ({iterations} steepest-descent steps)":
                    estimates["lsrtm_gradient_descent"][0],
                f"loop-unrolled LS-RTM ({iterations} iterations)": learned[0]}, history)
    return errors, history


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--figure", help="write the comparison figure to this PNG")
    parser.add_argument("--save", help="keep the trained network in this .keras file")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--ntrain", type=int, default=192)
    args = parser.parse_args()
    main(epochs=args.epochs, ntrain=args.ntrain, path=args.save, figure_path=args.figure)
