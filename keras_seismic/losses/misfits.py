"""The misfits: Keras losses that compare predicted seismic data with the observed data.

Their signal processing (trace normalisation, envelopes, the low-pass filter) is in
:mod:`keras_seismic.losses.signal`; the package docstring describes the shapes, reductions
and dtypes they share.
"""
import math

import keras
import tensorflow as tf

from .. import checks
from .signal import analytic_power, lowpass, normalize_traces, tiny

__all__ = ["L2Misfit", "NormalizedMisfit", "StudentTMisfit", "EnvelopeMisfit",
           "FilteredMisfit"]


def _float_dtype(dtype):
    """The computation dtype of a misfit: float64 if asked for, else float32."""
    if dtype is None:
        name = keras.config.floatx()
    elif isinstance(dtype, keras.DTypePolicy):
        name = dtype.compute_dtype
    else:
        try:
            name = keras.dtype_policies.get(dtype).compute_dtype
        except (ValueError, TypeError):
            name = keras.backend.standardize_dtype(dtype)
    return "float64" if name == "float64" else "float32"


class _Misfit(keras.losses.Loss):
    """Shared machinery: casting, channel-axis removal, shape validation, config."""

    def __init__(self, reduction="sum", name=None, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=_float_dtype(dtype))

    def _prepare(self, y_true, y_pred):
        """Both inputs as ``self.dtype`` tensors of shape (batch, nt, nrec)."""
        y_true = tf.cast(tf.convert_to_tensor(y_true), self.dtype)
        y_pred = tf.cast(tf.convert_to_tensor(y_pred), self.dtype)
        shapes = (y_true.shape, y_pred.shape)

        def gather(x):
            if x.shape.rank == 4 and x.shape[-1] == 1:
                x = tf.squeeze(x, axis=-1)
            if x.shape.rank != 3:
                raise ValueError(
                    f"{type(self).__name__}: data must have shape (batch, nt, nrec) or "
                    f"(batch, nt, nrec, 1); got y_true shape {_fmt(shapes[0])} and y_pred "
                    f"shape {_fmt(shapes[1])}")
            return x

        y_true, y_pred = gather(y_true), gather(y_pred)
        if not y_true.shape.is_compatible_with(y_pred.shape):
            raise ValueError(
                f"{type(self).__name__}: y_true and y_pred must have the same shape; got "
                f"y_true shape {_fmt(shapes[0])} and y_pred shape {_fmt(shapes[1])}")
        return y_true, y_pred

    def call(self, y_true, y_pred):
        y_true, y_pred = self._prepare(y_true, y_pred)
        return self._per_shot(y_true, y_pred)

    def _per_shot(self, y_true, y_pred):
        raise NotImplementedError

    def get_config(self):
        config = super().get_config()
        config["dtype"] = self.dtype
        return config


def _fmt(shape):
    return tuple(shape.as_list()) if shape.rank is not None else "<unknown rank>"


@keras.saving.register_keras_serializable(package="keras_seismic")
class L2Misfit(_Misfit):
    """Least-squares misfit of each shot.

    ``misfit_s = 0.5 * sum_{t, r} (y_pred[s, t, r] - y_true[s, t, r])**2``

    Its gradient with respect to ``y_pred`` is the residual ``y_pred - y_true``, the adjoint
    source of classical full-waveform inversion.

    Args:
        reduction: how the misfits of the shots of a batch are combined; ``"sum"`` (default)
            or any other Keras reduction.
        name: name of the loss; defaults to ``"l2_misfit"``.
        dtype: ``"float64"`` for double precision; anything else computes in float32.

    Shapes:
        ``y_true``, ``y_pred``: ``(batch, nt, nrec)`` or ``(batch, nt, nrec, 1)``.
        ``call`` returns ``(batch,)``; calling the loss returns the reduced value.

    Example:
        >>> model.compile(optimizer="adam", loss=ks.losses.L2Misfit())
    """

    def _per_shot(self, y_true, y_pred):
        return 0.5 * tf.reduce_sum(tf.square(y_pred - y_true), axis=(1, 2))


@keras.saving.register_keras_serializable(package="keras_seismic")
class NormalizedMisfit(_Misfit):
    """Trace-normalised least-squares misfit: compares waveforms, not amplitudes.

    Each receiver trace of each gather is divided by its L2 norm over time,

    ``d_hat[s, :, r] = d[s, :, r] / sqrt(|d[s, :, r]|**2 + delta_s**2)``,
    ``delta_s = epsilon * max_r |d[s, :, r]|``,

    (computed separately for ``y_true`` and ``y_pred``), and
    ``misfit_s = 0.5 * sum_{t, r} (pred_hat - true_hat)**2``.

    Scaling a predicted gather by any positive factor leaves the misfit unchanged, so an
    unknown source amplitude does not matter. ``delta_s`` keeps zero traces at zero instead
    of NaN and mutes traces much weaker than the strongest one. An all-zero predicted gather
    has no direction: its misfit is finite but its gradient is huge, so do not start a
    normalised inversion from zero data.

    Args:
        epsilon: the stabilisation relative to the largest trace norm of the gather (> 0,
            default ``1e-3``).
        reduction: ``"sum"`` (default) or any other Keras reduction.
        name: name of the loss; defaults to ``"normalized_misfit"``.
        dtype: ``"float64"`` for double precision; anything else computes in float32.

    Shapes:
        ``y_true``, ``y_pred``: ``(batch, nt, nrec)`` or ``(batch, nt, nrec, 1)``.
        ``call`` returns ``(batch,)``.

    Example:
        >>> model.compile(optimizer="adam", loss=ks.losses.NormalizedMisfit(epsilon=1e-3))
    """

    def __init__(self, epsilon=1e-3, reduction="sum", name=None, dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        self.epsilon = checks.number(epsilon, "NormalizedMisfit: epsilon", low=0)

    def _per_shot(self, y_true, y_pred):
        residual = (normalize_traces(y_pred, self.epsilon)
                    - normalize_traces(y_true, self.epsilon))
        return 0.5 * tf.reduce_sum(tf.square(residual), axis=(1, 2))

    def get_config(self):
        config = super().get_config()
        config["epsilon"] = self.epsilon
        return config


@keras.saving.register_keras_serializable(package="keras_seismic")
class StudentTMisfit(_Misfit):
    """Robust misfit from the Student's t distribution: large residuals (outliers, noise
    bursts, dead or mis-scaled traces) count logarithmically, not quadratically.

    ``misfit_s = (k + 1) / 2 * sum_{t, r} log(1 + r[s, t, r]**2 / k)``,
    ``r = y_pred - y_true``.

    For small residuals it equals ``(k + 1) / k`` times :class:`L2Misfit`; the smaller ``k``
    (the number of degrees of freedom), the more robust. Residuals are in data units, so scale
    the data to residuals of order one.

    Args:
        k: degrees of freedom, > 0 (default ``2.0``).
        reduction: ``"sum"`` (default) or any other Keras reduction.
        name: name of the loss; defaults to ``"student_t_misfit"``.
        dtype: ``"float64"`` for double precision; anything else computes in float32.

    Shapes:
        ``y_true``, ``y_pred``: ``(batch, nt, nrec)`` or ``(batch, nt, nrec, 1)``.
        ``call`` returns ``(batch,)``.

    Raises:
        ValueError: if ``k`` is not a positive finite number.

    Example:
        >>> model.compile(optimizer="adam", loss=ks.losses.StudentTMisfit(k=2.0))
    """

    def __init__(self, k=2.0, reduction="sum", name=None, dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        self.k = checks.number(k, "StudentTMisfit: k", low=0)

    def _per_shot(self, y_true, y_pred):
        residual = y_pred - y_true
        return (0.5 * (self.k + 1.0)) * tf.reduce_sum(
            tf.math.log1p(tf.square(residual) / self.k), axis=(1, 2))

    def get_config(self):
        config = super().get_config()
        config["k"] = self.k
        return config


@keras.saving.register_keras_serializable(package="keras_seismic")
class EnvelopeMisfit(_Misfit):
    """Least-squares misfit of the trace envelopes (instantaneous amplitudes).

    The envelope of a trace is the modulus of its analytic signal ``d + i H[d]``, with ``H``
    the Hilbert transform along time (by FFT, differentiable). It is smoothed at zero:

    ``env = sqrt(d**2 + H[d]**2 + delta_s**2) - delta_s``,
    ``delta_s = epsilon * max_{t, r} |d_obs + i H[d_obs]|``

    (one ``delta_s`` a shot from the observed data, used for both envelopes), and
    ``misfit_s = 0.5 * sum_{t, r} (env_pred - env_true)**2``.

    The envelope varies more slowly than the waveform, so this misfit is less prone to cycle
    skipping and carries the low-wavenumber part of the model.

    Args:
        epsilon: smoothing relative to the peak observed envelope of the shot (> 0, default
            ``1e-3``).
        reduction: ``"sum"`` (default) or any other Keras reduction.
        name: name of the loss; defaults to ``"envelope_misfit"``.
        dtype: ``"float64"`` for double precision; anything else computes in float32.

    Shapes:
        ``y_true``, ``y_pred``: ``(batch, nt, nrec)`` or ``(batch, nt, nrec, 1)``.
        ``call`` returns ``(batch,)``.

    Example:
        >>> model.compile(optimizer="adam", loss=ks.losses.EnvelopeMisfit())
    """

    def __init__(self, epsilon=1e-3, reduction="sum", name=None, dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        self.epsilon = checks.number(epsilon, "EnvelopeMisfit: epsilon", low=0)

    def _per_shot(self, y_true, y_pred):
        power_true = analytic_power(y_true)
        power_pred = analytic_power(y_pred)
        delta2 = (self.epsilon ** 2 * tf.reduce_max(power_true, axis=(1, 2), keepdims=True)
                  + tiny(y_true.dtype.as_numpy_dtype))
        delta = tf.sqrt(delta2)
        env_true = tf.sqrt(power_true + delta2) - delta
        env_pred = tf.sqrt(power_pred + delta2) - delta
        return 0.5 * tf.reduce_sum(tf.square(env_pred - env_true), axis=(1, 2))

    def get_config(self):
        config = super().get_config()
        config["epsilon"] = self.epsilon
        return config


@keras.saving.register_keras_serializable(package="keras_seismic")
class FilteredMisfit(_Misfit):
    """A misfit of low-passed data, for multiscale (low-to-high frequency) inversion.

    Both ``y_true`` and ``y_pred`` are low-passed along time (axis 1) by a zero-phase
    Butterworth filter, then compared by ``misfit``:

    ``misfit_s = misfit(F y_true, F y_pred)_s``,  ``F = ifft |H(f)|**2 fft``,

    where ``H`` is the response of ``scipy.signal.butter(order, cutoff, fs=1/dt)``;
    ``|H|**2`` is the response of that filter run forwards and backwards (as
    ``scipy.signal.sosfiltfilt``), real, so the filter shifts no phase. It is applied by
    multiplying the rFFT in TensorFlow, so the loss is differentiable; since ``F`` is
    symmetric, the adjoint source is ``F`` applied to the adjoint source of ``misfit``.
    Each trace is zero-padded in time until the filter's impulse response has decayed to
    1e-6 of its peak (at most 16 trace lengths), so nothing wraps around in time.

    The cutoff lives in a non-trainable ``tf.Variable``: setting :attr:`cutoff` (for
    example from :class:`keras_seismic.callbacks.MultiscaleSchedule`) changes the loss of a
    running ``fit`` without retracing it. A cutoff of ``None``, or at or above the Nyquist
    frequency ``0.5 / dt``, switches the filter off: the loss is then exactly ``misfit``.

    Args:
        misfit: the misfit of the filtered data: a :class:`keras.losses.Loss` whose
            ``call`` gives one value a shot (all misfits of this module), or its serialized
            config. Defaults to :class:`L2Misfit`. Its own reduction is not used.
        dt: time sampling of the data in seconds (the survey's ``dt``).
        cutoff: corner frequency in Hz (where ``|H|**2 = 1/2``), or None for no filtering.
        order: order of the Butterworth filter (a whole number >= 1, default 6); the
            forward-backward response falls by ``12 * order`` dB an octave.
        reduction: ``"sum"`` (default) or any other Keras reduction.
        name: name of the loss; defaults to ``"filtered_misfit"``.
        dtype: ``"float64"`` for double precision; by default that of ``misfit``.

    Shapes:
        ``y_true``, ``y_pred``: ``(batch, nt, nrec)`` or ``(batch, nt, nrec, 1)``.
        ``call`` returns ``(batch,)``.

    Raises:
        ValueError: if ``dt`` is missing or not positive, ``cutoff`` is not positive, or
            ``order`` is not a whole number >= 1.
        TypeError: if ``misfit`` is not a loss.

    Example:
        >>> loss = ks.losses.FilteredMisfit(dt=survey.dt, cutoff=4.0)
        >>> model.compile(optimizer="adam", loss=loss)
        >>> model.fit(shots, observed, epochs=5)
        >>> loss.cutoff = 8.0            # or use callbacks.MultiscaleSchedule
        >>> model.fit(shots, observed, epochs=5)
    """

    def __init__(self, misfit=None, dt=None, cutoff=None, order=6, reduction="sum",
                 name=None, dtype=None):
        if misfit is None:
            misfit = L2Misfit(dtype=dtype)
        elif isinstance(misfit, dict):
            misfit = keras.saving.deserialize_keras_object(misfit)
        elif isinstance(misfit, str):
            misfit = keras.losses.get(misfit)
        if not callable(misfit):
            raise TypeError(f"FilteredMisfit: misfit must be a keras loss; got "
                            f"{type(misfit).__name__}")
        if dtype is None and isinstance(misfit, _Misfit):
            dtype = misfit.dtype
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        if dt is None:
            raise ValueError("FilteredMisfit: give the time sampling dt of the data in "
                             "seconds (the survey's dt)")
        self.misfit = misfit
        self.dt = checks.number(dt, "FilteredMisfit: dt", low=0)
        self.order = checks.whole(order, "FilteredMisfit: order", low=1)
        with tf.init_scope():        # a plain eager variable, even if built inside a graph
            self._cutoff = tf.Variable(self._check_cutoff(cutoff), trainable=False,
                                       dtype=tf.float64, name="cutoff")

    @property
    def nyquist(self):
        """The Nyquist frequency ``0.5 / dt`` in Hz."""
        return 0.5 / self.dt

    @staticmethod
    def _check_cutoff(cutoff):
        if cutoff is None:
            return math.inf
        return checks.number(cutoff, "FilteredMisfit: cutoff", low=0)

    @property
    def cutoff(self):
        """The corner frequency in Hz, or None if the data are not filtered. Settable,
        also during ``fit`` (no retracing)."""
        value = float(self._cutoff.numpy())
        return None if math.isinf(value) else value

    @cutoff.setter
    def cutoff(self, value):
        self._cutoff.assign(self._check_cutoff(value))

    @property
    def cutoff_variable(self):
        """The non-trainable float64 ``tf.Variable`` that holds the cutoff (``inf`` for
        none)."""
        return self._cutoff

    @property
    def filtering(self):
        """Whether the current cutoff filters the data (it is below Nyquist)."""
        return self.cutoff is not None and self.cutoff < self.nyquist

    def _active(self):
        return self._cutoff < self.nyquist

    def lowpass(self, data):
        """The data low-passed as this loss sees them (the identity when not filtering).

        Args:
            data: ``(batch, nt, nrec)`` or ``(batch, nt, nrec, 1)`` array or tensor.

        Returns:
            A tensor of the same shape, in the loss's dtype.
        """
        data = tf.cast(tf.convert_to_tensor(data), self.dtype)
        channel = data.shape.rank == 4 and data.shape[-1] == 1
        traces = tf.squeeze(data, -1) if channel else data
        if traces.shape.rank != 3:
            raise ValueError(f"FilteredMisfit.lowpass: data must have shape (batch, nt, nrec) "
                             f"or (batch, nt, nrec, 1); got {_fmt(data.shape)}")
        filtered = tf.cond(self._active(),
                           lambda: lowpass(traces, self.dt, self._cutoff, self.order),
                           lambda: traces)
        return filtered[..., None] if channel else filtered

    def _per_shot(self, y_true, y_pred):
        cutoff = self._cutoff

        def filtered():
            return (lowpass(y_true, self.dt, cutoff, self.order),
                    lowpass(y_pred, self.dt, cutoff, self.order))

        y_true, y_pred = tf.cond(self._active(), filtered, lambda: (y_true, y_pred))
        if isinstance(self.misfit, keras.losses.Loss):
            inner_dtype = self.misfit.dtype
            values = self.misfit.call(tf.cast(y_true, inner_dtype),
                                      tf.cast(y_pred, inner_dtype))
        else:
            values = self.misfit(y_true, y_pred)
        return tf.cast(values, self.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(misfit=keras.saving.serialize_keras_object(self.misfit), dt=self.dt,
                      cutoff=self.cutoff, order=self.order)
        return config
