"""Keras layers for the wave equation.

Each layer wraps one op of :mod:`keras_seismic.ops`: the forward pass is a PDE solve and
the backward pass its adjoint. The leading axis of every input is the batch, and the
integer ``shots`` input says which survey shot each sample models. Fields (velocity,
images, weights) are ``(batch, *grid.shape)`` and data ``(batch, nt, nrec)``; either may
carry a trailing channel axis of size 1 (as Conv2D layers like), and the output then has
one too. Layers compute in float32 whatever the dtype policy.

A layer takes its inputs as one list, ``Modeling(prop)([vp, shots])``, or as separate
arguments, ``Modeling(prop)(vp, shots)``, in the functional API, in ``fit`` and after
saving and loading alike.
"""
import keras
import numpy as np
import tensorflow as tf

try:  # is a gradient tape recording? (private API; without it, assume one may be)
    from tensorflow.python.eager.record import could_possibly_record
except ImportError:  # pragma: no cover
    def could_possibly_record():
        return True

from . import checks, ops
from .propagator import Propagator, from_config

__all__ = ["Modeling", "Born", "Migration", "ExtendedSourceModeling",
           "ExtendedSourceAdjoint", "VelocityModel", "check_backend"]

_register = keras.saving.register_keras_serializable(package="keras_seismic")


def check_backend():
    """Raise a clear error unless Keras runs on TensorFlow, the only supported backend."""
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ValueError(
            f"keras_seismic layers need the TensorFlow backend, but Keras is using "
            f"{backend!r}. Set KERAS_BACKEND=tensorflow before importing keras.")


def _propagator(prop):
    if isinstance(prop, dict):
        return from_config(prop)
    if not isinstance(prop, Propagator):
        raise TypeError(f"expected a keras_seismic Propagator (or AcousticPropagator); got "
                        f"{type(prop).__name__}")
    return prop


def _first(prop, fields):
    """The first of the propagator's parameters among the keys of ``fields``."""
    return next(n for n in prop.parameters if n in fields)


def _batch(model):
    """The batch size of a model input (its first field's)."""
    field = model if not isinstance(model, dict) else next(iter(model.values()))
    return field.shape[0]


class _WaveLayer(keras.layers.Layer):
    """What the wave-equation layers share: the propagator, float32 compute, no XLA (a
    py_function cannot be compiled), shape checks and the optional channel axis."""

    def __init__(self, propagator, **kwargs):
        check_backend()
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.propagator = _propagator(propagator)
        self.supports_jit = False

    # Whether the first input is a field (grid.shape) mapped to data (nt, nrec), or the
    # reverse; sets the output shape.
    maps_data_to_field = False
    # Whether that field may have a batch axis of 1, one field shared by every sample
    # (the shots, second input, then give the batch).
    shares_field = False

    @property
    def _field_shape(self):
        return self.propagator.grid.shape

    @property
    def _data_shape(self):
        return self.propagator.data_shape

    # The names of the call's inputs, in order (for messages); the last ``optional`` of
    # them may be left out.
    input_names = ("field", "shots")
    optional = 0

    def _unpack(self, inputs, rest):
        """The call's inputs as a list, whether they came as one list ``inputs`` (Keras's
        usual form) or as separate arguments ``inputs, *rest``; checks their number."""
        names = self.input_names
        usage = (f"{type(self).__name__}(...)({', '.join(names)}) or "
                 f"{type(self).__name__}(...)([{', '.join(names)}])")
        if isinstance(inputs, (list, tuple)):
            if any(r is not None for r in rest):
                raise ValueError(f"{self.name}: give the inputs either as one list or as "
                                 f"separate arguments, not both: {usage}")
            values = list(inputs)
        else:
            values = [inputs, *rest]
            while len(values) > len(names) - self.optional and values[-1] is None:
                values.pop()
        required = len(names) - self.optional
        if not required <= len(values) <= len(names) or any(v is None for v in values):
            given = sum(v is not None for v in values)
            extra = f" (and optionally {', '.join(names[required:])})" if self.optional else ""
            raise ValueError(f"{self.name}: expected the inputs {', '.join(names[:required])}"
                             f"{extra}; got {given} of them. Call it as {usage}")
        return values + [None] * (len(names) - len(values))

    def compute_output_shape(self, inputs_shape, shots_shape=None):
        shots_at = self.input_names.index("shots")
        if shots_shape is None:  # the list form: the shapes of all inputs
            inputs_shape, shots_shape = inputs_shape[0], inputs_shape[shots_at]
        if isinstance(inputs_shape, dict):  # a model of named fields: its first field's
            inputs_shape = inputs_shape[_first(self.propagator, inputs_shape)]
        shape = tuple(inputs_shape)
        source, target = (self._data_shape, self._field_shape) if self.maps_data_to_field \
            else (self._field_shape, self._data_shape)
        channel = len(shape) == len(source) + 2
        batch = tuple(shots_shape)[0] if self.shares_field and shape[0] == 1 else shape[0]
        output = (batch, *target) + ((1,) if channel else ())
        return self._as_model({n: output for n in self._output_fields}) \
            if self.maps_data_to_field else output

    # The fields a data-to-field layer returns; one field is returned bare.
    _output_fields = ()

    def _as_model(self, fields):
        return next(iter(fields.values())) if len(self.propagator.parameters) == 1 else fields

    def _model(self, model, name):
        """A model input (one tensor, or a dict keyed by the propagator's parameters)
        without channel axes, and whether it had them; checks the shapes and keys."""
        prop = self.propagator
        if not isinstance(model, dict):
            if len(prop.parameters) > 1:
                raise ValueError(f"{self.name}: physics {prop.physics.name!r} has the "
                                 f"fields {prop.parameters}: give the {name} as a dict of "
                                 f"them")
            return self._strip(model, self._field_shape, name)
        if set(model) != set(prop.parameters):
            raise ValueError(f"{self.name}: the {name} has the fields {tuple(model)}; "
                             f"expected {prop.parameters}")
        stripped = {n: self._strip(model[n], self._field_shape, f"{name} {n!r}")
                    for n in prop.parameters}
        return {n: x for n, (x, _) in stripped.items()}, stripped[prop.parameters[0]][1]

    def _strip(self, x, expected, name):
        """``x`` without its channel axis, and whether it had one; checks the shape."""
        try:
            x = tf.cast(x, tf.float32)
        except (TypeError, ValueError, tf.errors.UnimplementedError) as err:
            raise ValueError(f"{self.name}: {name} cannot be cast to float32: {err}") from err
        shape = tuple(x.shape[1:])
        channel = len(shape) == len(expected) + 1 and shape[-1] == 1
        if channel:
            shape = shape[:-1]
        if len(shape) != len(expected) or any(
                s is not None and s != e for s, e in zip(shape, expected)):
            raise ValueError(f"{self.name}: {name} has shape {tuple(x.shape)}; expected "
                             f"(batch, *{expected}) with an optional trailing channel axis "
                             f"of size 1")
        return (x[..., 0] if channel else x), channel

    def _shots(self, shots, batch):
        """``shots`` as int64 ``(batch,)``, checked; a shared field (batch 1) takes any
        number of shots."""
        if self.shares_field and batch == 1:
            batch = None
        shots = tf.convert_to_tensor(shots)
        if not (shots.dtype.is_floating or shots.dtype.is_integer):
            raise ValueError(f"{self.name}: shots must be integer shot indices; got dtype "
                             f"{shots.dtype}")
        whole = f"{self.name}: shots must be whole-number shot indices"
        if tf.executing_eagerly():  # the propagator's own check, in the layer's name
            try:
                values = self.propagator.check_shots(tf.reshape(shots, [-1]).numpy())
            except ValueError as err:
                raise ValueError(f"{self.name}: {err}") from None
            if batch is not None and values.size != batch:
                raise ValueError(f"{self.name}: {values.size} shot indices for a batch of "
                                 f"{batch}")
            return tf.constant(values, tf.int64)
        assertions = []
        if shots.dtype.is_floating:
            assertions.append(tf.debugging.assert_equal(shots, tf.round(shots),
                                                        message=whole))
        with tf.control_dependencies(assertions):
            shots = tf.reshape(tf.cast(shots, tf.int64), [-1])
        message = f"{self.name}: shot index out of range [0, {self.propagator.nshots})"
        with tf.control_dependencies([
                tf.debugging.assert_non_negative(shots, message=message),
                tf.debugging.assert_less(shots, tf.constant(self.propagator.nshots, tf.int64),
                                         message=message)]):
            return tf.identity(shots)

    def _wavelet(self, wavelet):
        """Optional source wavelets as float32 ``(batch, nsrc, nt)``, shape-checked."""
        if wavelet is None:
            return None
        wavelet = tf.cast(wavelet, tf.float32)
        expected = (self.propagator.survey.nsrc, self.propagator.survey.nt)
        if tuple(wavelet.shape[1:]) != expected:
            raise ValueError(f"{self.name}: wavelet has shape {tuple(wavelet.shape)}; "
                             f"expected (batch, *{expected})")
        return wavelet

    @staticmethod
    def _restore(y, channel):
        return y[..., None] if channel else y

    @staticmethod
    def _keep(training):
        """Store forward wavefields only when a gradient may follow: while training, or
        when called eagerly under a recording gradient tape."""
        if training is not None:
            return bool(training)
        return tf.executing_eagerly() and could_possibly_record()

    def get_config(self):
        config = super().get_config()
        config["propagator"] = self.propagator.get_config()
        return config


class _ModelLayer(_WaveLayer):
    """A layer that solves in a model it takes as an input, with or without the gradient
    with respect to it (``velocity_gradient``), and only of some ``fields``."""

    def __init__(self, propagator, velocity_gradient=True, fields=None, **kwargs):
        super().__init__(propagator, **kwargs)
        self.velocity_gradient = bool(velocity_gradient)
        self.fields = None if fields is None else self.propagator.check_fields(fields)

    def get_config(self):
        return {**super().get_config(), "velocity_gradient": self.velocity_gradient,
                "fields": None if self.fields is None else list(self.fields)}


@_register
class Modeling(_ModelLayer):
    """Nonlinear wave-equation modeling: model -> shot data.

    Gradients flow to every field of the model (the FWI gradient, an adjoint solve) and,
    if given, to the source wavelets (source estimation).

    Args:
        propagator: a :class:`~keras_seismic.Propagator` (or AcousticPropagator).
        velocity_gradient: whether to compute the gradient with respect to the model (it
            costs the storage of the forward wavefield and the imaging); set False for
            source estimation in a fixed model.
        fields: the names of the fields whose gradients to compute (default every field
            the physics linearises; the others get zeros), e.g. ``("vp",)`` when the
            density is known.

    Call args:
        inputs: ``[model, shots]`` or ``[model, shots, wavelet]`` (or the same as separate
            arguments, ``layer(model, shots)``): the model, one tensor
            ``(batch, *grid.shape[, 1])`` (velocity in m/s for acoustics) or a dict of them
            keyed by ``propagator.parameters``; shot indices ``(batch,)``; wavelets
            ``(batch, nsrc, nt)``. A model with a batch of 1 is one model for every shot of
            the batch (as in FWI): its gradient is the sum over the shots, added up on the
            workers when the shots run on Dask.
        training: store the forward wavefield for the gradient (default: when eager).

    Returns:
        data ``(batch, nt, nrec[, 1])``.

    Example:
        >>> vp = ks.layers.VelocityModel(initial_vp)(shots)
        >>> data = ks.layers.Modeling(prop)([vp, shots])
        >>> data = ks.layers.Modeling(density_prop)([{"vp": vp, "rho": rho}, shots])
    """

    shares_field = True
    input_names = ("model", "shots", "wavelet")
    optional = 1

    def call(self, inputs, shots=None, wavelet=None, training=None):
        model, shots, wavelet = self._unpack(inputs, (shots, wavelet))
        model, channel = self._model(model, "model")
        shots, wavelet = self._shots(shots, _batch(model)), self._wavelet(wavelet)
        data = ops.modeling(self.propagator, model, shots, wavelet, self._keep(training),
                            self.velocity_gradient, self.fields)
        return self._restore(data, channel)


class _FixedBackground(_WaveLayer):
    """A layer linearised about a fixed background model ``model0`` (one array for a
    one-parameter physics, else a dict keyed by the propagator's parameters), kept as
    non-trainable weights ``<name>0`` (saved with the model's weights, not in its
    config)."""

    def __init__(self, propagator, model0=None, **kwargs):
        if model0 is None:  # the old keyword of the acoustic layers
            model0 = kwargs.pop("vp0", None)
        super().__init__(propagator, **kwargs)
        if model0 is not None:
            model0 = self.propagator.check_model(model0, name="background model")
        self._initial_model0 = model0

    def build(self, input_shape=None):
        self.background = {}
        for name in self.propagator.parameters:
            init = "zeros" if self._initial_model0 is None else \
                keras.initializers.Constant(self._initial_model0[name])
            self.background[name] = self.add_weight(name=f"{name}0", shape=self._field_shape,
                                                    initializer=init, trainable=False)
        self.built = True

    @property
    def model0(self):
        """The background: one tensor for a one-parameter physics, else a dict."""
        return self._as_model(self.background)


@_register
class Born(_FixedBackground):
    """Linearised (Born) modeling about a background ``model0``: model perturbation ->
    data. Its gradient is migration.

    Args:
        propagator: a Propagator.
        model0: background model: velocity in m/s ``grid.shape`` for acoustics, or a dict
            of fields keyed by ``propagator.parameters``.

    Call args:
        inputs: ``[dmodel, shots]`` or ``[dmodel, shots, wavelet]`` (or
            ``layer(dmodel, shots)``): the perturbation, one tensor
            ``(batch, *grid.shape[, 1])`` (of the first field, vp) or a dict of them for
            any subset of the fields, and shot indices ``(batch,)``. A perturbation with a
            batch of 1 is one image for every shot of the batch (as in LS-RTM): its
            gradient is the migration summed over the shots. The optional wavelets
            ``(batch, nsrc, nt)`` replace the shots' source wavelets, e.g. a random
            simultaneous-source encoding drawn for each sample; they get no gradient.

    Returns:
        linearised data ``(batch, nt, nrec[, 1])``.

    Example:
        >>> born = ks.layers.Born(prop, vp0)
        >>> data = born([image, shots])              # (batch, nt, nrec)
        >>> data = born([image, shots, encoded])     # each sample's own wavelets
    """

    shares_field = True
    input_names = ("model perturbation", "shots", "wavelet")
    optional = 1

    def call(self, inputs, shots=None, wavelet=None):
        dmodel, shots, wavelet = self._unpack(inputs, (shots, wavelet))
        if isinstance(dmodel, dict):
            if not dmodel:
                raise ValueError(f"{self.name}: the model perturbation is an empty dict; "
                                 f"give one or more of {self.propagator.physics.linearised}")
            dmodel = {n: self._strip(dmodel[n], self._field_shape, f"perturbation {n!r}")
                      for n in dmodel}
            channel = next(iter(dmodel.values()))[1]
            dmodel = {n: x for n, (x, _) in dmodel.items()}
        else:
            dmodel, channel = self._strip(dmodel, self._field_shape, "model perturbation")
        try:
            data = ops.born(self.propagator, self.model0, dmodel,
                            self._shots(shots, _batch(dmodel)), self._wavelet(wavelet))
        except ValueError as err:
            raise ValueError(f"{self.name}: {err}") from None
        return self._restore(data, channel)


@_register
class Migration(_FixedBackground):
    """Migration (adjoint Born) about a background ``model0``: data -> image of each
    sample. Its gradient is Born modeling.

    Call args:
        inputs: ``[data, shots]`` or ``[data, shots, wavelet]`` (or
            ``layer(data, shots)``): data ``(batch, nt, nrec[, 1])``, shots ``(batch,)``
            and optional wavelets ``(batch, nsrc, nt)`` replacing the shots' source
            wavelets (as in :class:`Born`; they get no gradient).

    Returns:
        the image of each field, ``(batch, *grid.shape[, 1])`` (the field's units per unit
        data squared): one tensor for a one-parameter physics, else a dict.

    Example:
        >>> image = ks.layers.Migration(prop, vp0)([residual, shots])
    """

    maps_data_to_field = True
    input_names = ("data", "shots", "wavelet")
    optional = 1

    @property
    def _output_fields(self):
        return self.propagator.physics.linearised

    def call(self, inputs, shots=None, wavelet=None):
        data, shots, wavelet = self._unpack(inputs, (shots, wavelet))
        data, channel = self._strip(data, self._data_shape, "data")
        image = ops.migration(self.propagator, self.model0, data,
                              self._shots(shots, data.shape[0]),
                              wavelet=self._wavelet(wavelet))
        if isinstance(image, dict):
            return {n: self._restore(x, channel) for n, x in image.items()}
        return self._restore(image, channel)


@_register
class ExtendedSourceModeling(_ModelLayer):
    """Extended-source modeling: each sample fires the distributed source
    ``weights(x) * wavelet(t)`` (the shot's first wavelet) in its model.

    Args:
        propagator: a Propagator.
        velocity_gradient: whether to compute the gradient with respect to the model
            (costs the storage of the forward wavefield and the imaging); False when the
            model is fixed.
        fields: the names of the fields whose gradients to compute (default all).

    Call args:
        inputs: ``[weights, model, shots]`` (or ``layer(weights, model, shots)``): weights
            ``(batch, *grid.shape[, 1])`` (amplitude per unit volume), the model (a tensor
            ``(batch, *grid.shape[, 1])``, velocity in m/s, or a dict of them), shots
            ``(batch,)``.

    Returns:
        data ``(batch, nt, nrec[, 1])``; gradients flow to the weights and the model.
    """

    input_names = ("weights", "model", "shots")

    def call(self, inputs, model=None, shots=None, training=None):
        weights, model, shots = self._unpack(inputs, (model, shots))
        weights, channel = self._strip(weights, self._field_shape, "weights")
        model, _ = self._model(model, "model")
        data = ops.extended_modeling(self.propagator, weights, model,
                                     self._shots(shots, weights.shape[0]),
                                     self._keep(training), self.velocity_gradient,
                                     self.fields)
        return self._restore(data, channel)


@_register
class ExtendedSourceAdjoint(ExtendedSourceModeling):
    """Adjoint of extended-source modeling: data -> source weights of each sample.

    Call args:
        inputs: ``[data, model, shots]`` (or ``layer(data, model, shots)``): data
            ``(batch, nt, nrec[, 1])``, the model (as for
            :class:`ExtendedSourceModeling`), shots ``(batch,)``.

    Returns:
        weights ``(batch, *grid.shape[, 1])``; gradients flow to the data and the model.
    """

    maps_data_to_field = True
    input_names = ("data", "model", "shots")
    _output_fields = ("weights",)

    def _as_model(self, fields):
        return fields["weights"]

    def call(self, inputs, model=None, shots=None, training=None):
        data, model, shots = self._unpack(inputs, (model, shots))
        data, channel = self._strip(data, self._data_shape, "data")
        model, _ = self._model(model, "model")
        weights = ops.extended_adjoint(self.propagator, data, model,
                                       self._shots(shots, data.shape[0]),
                                       self.velocity_gradient, self.fields)
        return self._restore(weights, channel)


@_register
class VelocityModel(keras.layers.Layer):
    """A trainable velocity model (or any trainable field, such as an image), the same for
    every sample of the batch.

    Args:
        initial_vp: starting velocity in m/s, ``grid.shape``.
        constraint: optional Keras constraint, e.g. :class:`keras_seismic.constraints.Box`.
        mask: optional ``grid.shape`` array; the model is not updated where it is 0 (e.g. a
            water layer), and partly where it is between 0 and 1.
        shape: the model shape, needed only when ``initial_vp`` is None (loading).
        shared: return the model once, with a batch axis of 1, rather than a copy for
            each sample. A :class:`Modeling` or :class:`Born` layer takes it as one model
            for every shot of its batch and returns its gradient summed over the shots,
            added up on the workers when the shots run on Dask (FWI and LSRTM do this).

    Call args:
        shots: shot indices ``(batch,)`` (only their number is used).

    Returns:
        velocity ``(batch, *grid.shape)``, or ``(1, *grid.shape)`` if ``shared``; its
        gradient is summed over the batch.

    Example:
        >>> velocity = VelocityModel(vp0, constraint=ks.constraints.Box(1450.0, 3000.0),
        ...                          shared=True)
        >>> data = Modeling(prop)([velocity(shots), shots])
    """

    def __init__(self, initial_vp=None, constraint=None, mask=None, shape=None, shared=False,
                 **kwargs):
        check_backend()
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        if initial_vp is not None:
            initial_vp = checks.finite_array(initial_vp, "VelocityModel: initial_vp")
            shape = initial_vp.shape
        if shape is None:
            raise ValueError("VelocityModel: give initial_vp (or shape when loading)")
        self.model_shape = tuple(int(n) for n in shape)
        self.shared = bool(shared)
        self._initial_vp = initial_vp
        self.constraint = keras.constraints.get(constraint)
        self.mask = None if mask is None else checks.field(
            mask, "VelocityModel: mask", [self.model_shape], "the model's shape")
        if self.mask is not None and not np.all((self.mask >= 0) & (self.mask <= 1)):
            raise ValueError(f"VelocityModel: mask must lie from 0 (fixed) to 1 (updated); "
                             f"its values span [{self.mask.min():g}, {self.mask.max():g}]")

    def build(self, input_shape=None):
        init = "ones" if self._initial_vp is None else \
            keras.initializers.Constant(self._initial_vp)
        # float64, though the wave equation runs in float32: Adam's second moment
        # (1 - beta2) g^2 of a weakly illuminated cell (|g| < 4e-18) is below float32's
        # smallest normal number, which TensorFlow flushes to zero, and the step of such a
        # cell is then lr * g / epsilon: hundreds of times the learning rate with the
        # negligible epsilon that misfits of any scale need.
        self.velocity = self.add_weight(name="velocity", shape=self.model_shape,
                                        initializer=init, constraint=self.constraint,
                                        dtype="float64")
        self.built = True

    def call(self, shots):
        vp = tf.cast(tf.convert_to_tensor(self.velocity), tf.float32)
        if self.mask is not None:
            # Same value, but no gradient where the mask is 0.
            vp = self.mask * vp + (1.0 - self.mask) * tf.stop_gradient(vp)
        if self.shared:
            return vp[None]
        batch = tf.shape(tf.reshape(shots, [-1]))[0]
        return tf.broadcast_to(vp[None], tf.concat([[batch], self.model_shape], 0))

    def compute_output_shape(self, input_shape):
        return (1 if self.shared else input_shape[0], *self.model_shape)

    def get_config(self):
        return {**super().get_config(), "shape": list(self.model_shape),
                "shared": self.shared,
                "constraint": keras.constraints.serialize(self.constraint),
                "mask": None if self.mask is None else self.mask.tolist()}
