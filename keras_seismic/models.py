"""Ready-made Keras models for full-waveform inversion and least-squares RTM.

Both map shot indices to predicted data, so ``model.fit(shots, observed_data)`` inverts;
both compile with sensible defaults (Adam, :class:`~keras_seismic.losses.L2Misfit`).
"""
import keras
import numpy as np
import tensorflow as tf

from . import checks
from .constraints import Box
from .layers import Born, Modeling, VelocityModel, _propagator
from .losses import FilteredMisfit, L2Misfit, NormalizedMisfit

__all__ = ["FWI", "LSRTM", "amplitude_ratio", "scale_warning"]

_register = keras.saving.register_keras_serializable(package="keras_seismic")


#: Stands for the starting model of an inversion model being loaded: its weights hold it.
_FROM_WEIGHTS = object()


def _given(model, name, what):
    """``model``, or None when it comes from the weights; refuses a model left out."""
    if model is None:
        raise ValueError(f"{name}: give the {what}: a velocity in m/s of grid.shape, or "
                         f"a dict of the fields of prop.parameters")
    return None if model is _FROM_WEIGHTS else model


class _Inversion(keras.Model):
    """Compile defaults shared by the inversion models."""

    #: The argument of the starting (or background) model, which a saved model's weights
    #: bring when it is loaded.
    _START = None

    @classmethod
    def from_config(cls, config):
        return cls(**{cls._START: _FROM_WEIGHTS, **config})

    def default_learning_rate(self):
        """The learning rate of the Adam that ``compile()`` makes when given no optimizer,
        in m/s (Adam's steps are about the learning rate in size)."""
        raise NotImplementedError

    def compile(self, optimizer=None, loss=None, **kwargs):
        # Misfit gradients scale with the data's amplitude (tiny for point sources in 3-D):
        # a negligible epsilon keeps Adam's steps about the learning rate in size anyway.
        optimizer = optimizer or keras.optimizers.Adam(self.default_learning_rate(),
                                                       epsilon=1e-20)
        super().compile(optimizer=optimizer, loss=loss or L2Misfit(), **kwargs)

    def get_compile_config(self):
        return None  # compiled again by the user (or with the defaults) after loading

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss, with the padded traces of a masked survey
        (``survey.receiver_mask`` False) set to 0 in both the observed and the predicted
        data, so that whatever the observed data hold there counts in no misfit."""
        survey = self.prop.survey
        if survey.masked and y is not None and y_pred is not None:
            shots = keras.ops.reshape(keras.ops.cast(x, "int32"), (-1,))
            live = keras.ops.take(keras.ops.convert_to_tensor(survey.receiver_mask), shots,
                                  axis=0)[:, None, :]
            if len(y_pred.shape) == 4:
                live = live[..., None]
            y = y * keras.ops.cast(live, y.dtype)
            y_pred = y_pred * keras.ops.cast(live, y_pred.dtype)
        return super().compute_loss(x, y, y_pred, sample_weight, training)

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, **kwargs):
        """``keras.Model.fit``, with the shot indices ``x`` and the observed data ``y``
        checked before the first solve when they are arrays (the values of a
        ``tf.data.Dataset`` or generator are not checked ahead: only the layers' own shot
        checks apply to them). FWI also models the first shot in the starting model (of
        the arrays, or of the first batch of a ``tf.data.Dataset`` of ``(shots, data)``)
        and warns, before its first training step, when the observed data are an order of
        magnitude or more larger or smaller (unless the misfit is normalised).

        Arrays are fed as batches of a ``tf.data.Dataset`` without tf.data's autotuning
        (see :func:`_batches`), shuffled every epoch unless ``shuffle=False``, as Keras
        feeds arrays; with ``validation_split``, ``sample_weight``, ``class_weight``,
        ``steps_per_epoch`` or ``shuffle="batch"``, Keras feeds them itself. A
        ``tf.data.Dataset`` is fed as it is: shuffle it yourself.

        Raises:
            ValueError: shots that are not whole numbers or out of range, or observed data
                of the wrong shape or with NaN or infinite values.
        """
        if _is_array(x):
            shots = self.prop.check_shots(np.asarray(x).reshape(-1))
            if _is_array(y):
                observed = self.prop.check_data(y, len(shots), name="observed data (y)")
                self._check_scale(int(shots[0]), observed[0])
                if not validation_split and shuffle != "batch" and all(
                        kwargs.get(k) is None
                        for k in ("sample_weight", "class_weight", "steps_per_epoch")):
                    x, y = _batches(shots, observed, batch_size or 32, shuffle), None
                    batch_size, shuffle = None, False
        elif isinstance(x, tf.data.Dataset) and y is None:
            first = next(iter(x.take(1)), None)     # one batch, read once more
            if isinstance(first, tuple) and len(first) == 2:
                shots = np.reshape(first[0].numpy(), -1)
                observed = first[1].numpy()
                if shots.size and observed.shape[1:] == self.prop.data_shape:
                    self._check_scale(int(self.prop.check_shots(shots)[0]), observed[0])
            # Keras feeds a Dataset as it is, and warns on every fit that its default
            # shuffle=True is ignored.
            shuffle = False
        return super().fit(x, y, batch_size, epochs, verbose, callbacks, validation_split,
                           validation_data, shuffle, **kwargs)

    def _check_scale(self, shot, observed):
        """Warn before training when ``observed`` (nt, nrec), the data of ``shot``, and
        the data the model predicts differ in scale by an order of magnitude or more."""


#: Observed and modelled data whose RMS differ by this factor or more get a warning.
SCALE_WARNING = 10.0


def amplitude_ratio(prop, model, shot, observed):
    """How many times larger the observed data of a shot are than the data ``model``
    predicts, in RMS over the shot's live traces; inf if the model predicts zeros.

    Args:
        prop: the Propagator; model: its model (an array or a dict of fields); shot: the
            shot index; observed: that shot's observed data ``(nt, nrec)``.

    Returns:
        ``(ratio, observed_rms, modelled_rms)`` as floats.
    """
    live = prop.survey.receiver_mask[shot]
    modelled = prop.forward(model, shots=[shot])[0][:, live]
    rms_obs = float(np.sqrt(np.mean(np.square(np.asarray(observed, np.float64)[:, live]))))
    rms_mod = float(np.sqrt(np.mean(np.square(modelled.astype(np.float64)))))
    return (rms_obs / rms_mod if rms_mod > 0 else np.inf), rms_obs, rms_mod


def scale_warning(ratio, observed_rms, modelled_rms, shot):
    """The warning text for an ``amplitude_ratio`` at least :data:`SCALE_WARNING` away
    from 1, else None."""
    if 1.0 / SCALE_WARNING < ratio < SCALE_WARNING:
        return None
    if not np.isfinite(ratio):
        return (f"the starting model predicts zero data for shot {shot} (are the sources "
                f"or receivers on a free surface, or the wavelet zero?)")
    return (f"the observed data are {ratio:.3g} times the data the starting model predicts "
            f"(RMS {observed_rms:.3g} against {modelled_rms:.3g} on shot {shot}): an "
            f"amplitude-sensitive misfit would fit the scale rather than the model. Scale "
            f"the wavelet to the data (ks.preprocessing.estimate_wavelet) or use a "
            f"normalised misfit (ks.losses.NormalizedMisfit)")


def _batches(shots, observed, batch_size, shuffle):
    """``(shots, observed)`` as a ``tf.data.Dataset`` of batches, reshuffled every epoch if
    ``shuffle``. Its autotuning is off: Keras's own pipeline for arrays autotunes, and the
    start of an epoch then waited for tf.data's tuning threads, some 1.3 s every other
    epoch (as long as the epoch itself on a small survey)."""
    data = tf.data.Dataset.from_tensor_slices((shots, observed))
    if shuffle:
        data = data.shuffle(len(shots), reshuffle_each_iteration=True)
    options = tf.data.Options()
    options.autotune.enabled = False
    return data.batch(batch_size).with_options(options)


def _is_array(value):
    """Whether ``value`` holds its values (an array, list or tensor), as opposed to a
    dataset or generator that yields them."""
    return isinstance(value, (np.ndarray, list, tuple)) or keras.ops.is_tensor(value)


@_register
class FWI(_Inversion):
    """Full-waveform inversion: a trainable model followed by modeling.

    Args:
        prop: the :class:`~keras_seismic.Propagator` of the survey (or its config).
        initial_vp: the starting model: velocity in m/s, ``grid.shape``, for acoustics, or
            a dict of fields keyed by ``prop.parameters`` (e.g. ``{"vp": vp, "rho": rho}``).
        vmin, vmax: bounds of the velocity (m/s), kept by a
            :class:`~keras_seismic.constraints.Box` constraint.
        mask: optional ``grid.shape``: no update where 0 (e.g. the water layer).
        precondition: optional gradient preconditioning, as in JUDI: ``"depth"`` scales
            the gradient by ``(z / z_max) ** depth_power`` (boosting deep, weakly
            illuminated parts), ``"illumination"`` divides it by the source illumination
            ``sum_t u^2`` of the initial model. Both keep the mask and are normalised to a
            maximum of 1; they matter most for SGD and L-BFGS (Adam rescales per cell).
        depth_power: exponent of the depth preconditioner.
        fields: the names of the fields to invert (default all that the physics
            linearises: every field, or ``vp`` alone for ``"tti"`` and
            ``"visco-acoustic"``); the others stay as in the initial model.
        bounds: ``{name: (low, high)}``: the bounds of each inverted field other than vp
            (whose bounds are vmin and vmax), in its unit; required for every one.

    Call args:
        shots: shot indices ``(batch,)``.

    Returns:
        predicted data ``(batch, nt, nrec)``.

    Example:
        >>> model = ks.models.FWI(prop, smooth_vp, 1450.0, 4700.0)
        >>> model.compile()
        >>> model.fit(np.arange(prop.nshots), observed, batch_size=4, epochs=10)
        >>> model.velocity  # numpy grid.shape
        >>> joint = ks.models.FWI(density_prop, {"vp": vp0, "rho": rho0}, 1450.0, 4700.0,
        ...                       bounds={"rho": (1000.0, 2600.0)})
        >>> joint.estimate["rho"]  # numpy grid.shape
    """

    _START = "initial_vp"

    def __init__(self, prop, initial_vp=None, vmin=None, vmax=None, mask=None,
                 precondition=None, depth_power=1.0, fields=None, bounds=None, **kwargs):
        super().__init__(**kwargs)
        self.prop = _propagator(prop)
        names = self.prop.parameters
        self.fields = self.prop.check_fields(fields)
        initial = _given(initial_vp, "FWI", "starting model initial_vp")
        initial = None if initial is None else \
            self.prop.check_model(initial, name="initial model")
        self.bounds = _bounds(self.prop, self.fields, vmin, vmax, bounds, initial)
        self.vmin, self.vmax = self.bounds.get("vp", (vmin, vmax))
        if precondition is not None:
            if initial is None:
                raise ValueError("FWI: preconditioning needs the initial model")
            mask = _preconditioner(self.prop, initial, precondition, depth_power, mask)
        # One field for every shot of a batch: its gradient is summed over the shots where
        # they ran (on the workers, with Dask), not sent back one per shot.
        self.field_models = {}
        for name in names:
            inverted = name in self.fields
            layer = VelocityModel(
                None if initial is None else initial[name],
                constraint=Box(*self.bounds[name]) if inverted else None,
                mask=mask if inverted else None, shape=self.prop.grid.shape, shared=True,
                trainable=inverted, name="velocity_model" if name == "vp" else f"{name}_model")
            layer.build()
            self.field_models[name] = layer
        self.velocity_model = self.field_models[names[0]]
        self.modeling = Modeling(self.prop, fields=self.fields, name="modeling")
        self.built = True  # every weight exists: .velocity and BackupAndRestore work at once
        self._mean_vp = float(np.mean(initial["vp"])) if initial is not None else 2000.0

    def default_learning_rate(self):
        # Adam's steps are about the learning rate in size: 0.2% of the mean velocity a
        # step (about 4 m/s at 2000 m/s); larger steps oscillate on small problems.
        return 0.002 * self._mean_vp

    def _check_scale(self, shot, observed):
        optimizer = getattr(self, "optimizer", None)
        if optimizer is not None and int(optimizer.iterations) > 0:
            return               # trained already: no longer the starting model
        loss = getattr(self, "loss", None)
        inner = loss.misfit if isinstance(loss, FilteredMisfit) else loss
        if isinstance(inner, NormalizedMisfit):
            return               # the misfit does not see the scale
        model = self.estimate
        message = scale_warning(*amplitude_ratio(
            self.prop, model if len(model) > 1 else model["vp"], shot, observed), shot)
        if message:
            checks.warn(f"FWI: {message}")

    def call(self, shots, training=None):
        model = {name: layer(shots) for name, layer in self.field_models.items()}
        if len(model) == 1:
            (model,) = model.values()
        return self.modeling([model, shots], training=training)

    @property
    def velocity(self):
        """The current velocity model, numpy ``grid.shape`` in m/s."""
        return self.estimate["vp"]

    @property
    def estimate(self):
        """The current model: ``{name: numpy grid.shape}`` of every field, inverted or
        not, in its unit."""
        return {name: layer.velocity.numpy().astype(np.float32)
                for name, layer in self.field_models.items()}

    def get_config(self):
        mask = self.velocity_model.mask
        return {**super().get_config(), "prop": self.prop.get_config(), "vmin": self.vmin,
                "vmax": self.vmax, "mask": None if mask is None else mask.tolist(),
                "fields": list(self.fields),
                "bounds": {k: list(v) for k, v in self.bounds.items() if k != "vp"}}


def _bounds(prop, fields, vmin, vmax, bounds, initial):
    """``{name: (low, high)}`` of every inverted field, checked against the physics'
    bounds of the field and against the ``initial`` model (if any), which the first step
    would otherwise clip without a word."""
    bounds = dict(bounds or {})
    if "vp" in fields:
        if vmin is None or vmax is None:
            raise ValueError("FWI: give the velocity bounds vmin and vmax (m/s)")
        bounds["vp"] = (vmin, vmax)
    missing = [name for name in fields if name not in bounds]
    if missing:
        raise ValueError(f"FWI: give the bounds of every inverted field: bounds="
                         f"{{name: (low, high)}} for {tuple(missing)}")
    unknown = [name for name in bounds if name not in fields]
    if unknown:
        raise ValueError(f"FWI: bounds given for {tuple(unknown)}, which are not inverted "
                         f"(fields={fields})")
    out = {}
    for name in fields:
        low, high = (checks.number(b, f"FWI: the bounds of {name!r}") for b in bounds[name])
        parameter = prop.physics.parameter(name)
        least, most = parameter.bounds
        if not least < low < high <= most:
            raise ValueError(f"FWI: the bounds of {name!r} must be (low, high) with "
                             f"{least:g} < low < high <= {most:g} ({parameter.unit}); got "
                             f"{bounds[name]}")
        if initial is not None and (initial[name].min() < low or initial[name].max() > high):
            raise ValueError(f"FWI: the initial model's {name!r} spans "
                             f"[{initial[name].min():g}, {initial[name].max():g}] "
                             f"{parameter.unit}, outside its bounds [{low:g}, {high:g}], "
                             f"which the first step would clip it to: widen the bounds or "
                             f"clip the initial model")
        out[name] = (low, high)
    return out


def _preconditioner(prop, model, kind, depth_power, mask):
    """Gradient scaling (grid.shape, max 1) for ``kind`` "depth" or "illumination"."""
    grid = prop.grid
    if kind == "depth":
        z = grid.origin[-1] + np.arange(grid.shape[-1]) * grid.spacing[-1]
        depth = (z - z.min() + grid.spacing[-1]) / (z.max() - z.min() + grid.spacing[-1])
        scale = np.broadcast_to(depth ** float(depth_power), grid.shape)
    elif kind == "illumination":
        light = prop.illumination(model).astype(np.float64)
        scale = 1.0 / (light + 1e-3 * light.max())
    else:
        raise ValueError(f"FWI: precondition must be None, 'depth' or 'illumination'; got "
                         f"{kind!r}")
    if mask is not None:
        scale = scale * np.asarray(mask, np.float64)
    return (scale / scale.max()).astype(np.float32)


@_register
class LSRTM(_Inversion):
    """Least-squares reverse-time migration: a trainable image (velocity perturbation,
    m/s) followed by Born modeling in the fixed background ``vp0``.

    Args:
        prop: the Propagator of the survey (or its config).
        vp0: the background model: velocity in m/s ``grid.shape`` for acoustics, or a
            dict of fields keyed by ``prop.parameters``; the image perturbs the velocity.
        mask: optional ``grid.shape``: the image stays 0 where 0.
        learning_rate: Adam's learning rate when ``compile()`` is given no optimizer, in
            m/s of the image a step (None: 1 m/s).

    Returns:
        predicted linearised data ``(batch, nt, nrec)``; ``.image`` the current image.
    """

    _START = "vp0"

    def __init__(self, prop, vp0=None, mask=None, learning_rate=None, **kwargs):
        super().__init__(**kwargs)
        self.prop = _propagator(prop)
        shape = self.prop.grid.shape
        self.reflectivity = VelocityModel(np.zeros(shape, np.float32), mask=mask,
                                          shared=True, name="image")
        self.reflectivity.build()
        self.born_layer = Born(self.prop, _given(vp0, "LSRTM", "background model vp0"),
                               name="born")
        self.born_layer.build()
        self.built = True
        self.learning_rate = None if learning_rate is None else checks.number(
            learning_rate, "LSRTM learning_rate", 0, unit="m/s")

    def default_learning_rate(self):
        return 1.0 if self.learning_rate is None else self.learning_rate

    def call(self, shots, training=None):
        return self.born_layer([self.reflectivity(shots), shots])

    @property
    def image(self):
        """The current image (velocity perturbation, m/s), numpy ``grid.shape``."""
        return self.reflectivity.velocity.numpy().astype(np.float32)

    def get_config(self):
        mask = self.reflectivity.mask
        return {**super().get_config(), "prop": self.prop.get_config(),
                "mask": None if mask is None else mask.tolist(),
                "learning_rate": self.learning_rate}
