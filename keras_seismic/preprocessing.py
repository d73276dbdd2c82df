"""Preparing field data for FWI: band-pass, top mute, time window and trace normalisation
as ``tf.data`` steps; offset selection; source-wavelet estimation.

A step maps the ``(shots, data)`` elements of a ``tf.data.Dataset`` (shot indices
``(batch,)`` and records ``(batch, nt, nrec)``, as :func:`keras_seismic.io.shot_dataset`
yields them), or arrays with :meth:`Step.apply`::

    steps = [ks.preprocessing.BandPass(survey.dt, 3.0, 12.0),
             ks.preprocessing.TopMute(survey, velocity=1480.0, shift=-0.05)]
    dataset = ks.io.shot_dataset("line.sgy", f0=8.0, batch_size=4)
    for step in steps:
        dataset = dataset.map(step)
    observed = ks.preprocessing.apply(steps, observed)        # or on arrays

Padded traces (``survey.receiver_mask`` False) hold zeros and stay zero in every step.
"""
import numpy as np
import tensorflow as tf
from scipy import signal

from . import checks
from .survey import Survey

__all__ = ["Step", "BandPass", "TopMute", "TimeWindow", "TraceNormalization", "apply",
           "select_offsets", "estimate_wavelet", "offsets"]


class Step:
    """A preparation step: ``step.apply(data, shots)`` on arrays, ``step(shots, data)``
    as a ``tf.data`` map function (through ``tf.numpy_function``)."""

    def apply(self, data, shots=None):
        """The step on float32 ``data`` ``(n, nt, nrec)`` of the survey's ``shots``
        (``(n,)`` indices, None for all shots in order); returns float32, same shape."""
        raise NotImplementedError

    def __call__(self, shots, data):
        def run(s, d):
            return self.apply(d, s).astype(np.float32)

        out = tf.numpy_function(run, [shots, data], tf.float32, stateful=False)
        out.set_shape(data.shape)
        return shots, out

    def _records(self, data, shots=None, nshots=None):
        """``data`` as float32 (n, nt, nrec) and ``shots`` as indices, checked."""
        data = checks.finite_array(data, f"{type(self).__name__}: data")
        if data.ndim != 3:
            raise ValueError(f"{type(self).__name__}: data must be (n, nt, nrec) shot "
                             f"records; got shape {data.shape}")
        if nshots is None:
            return data, None
        shots = checks.shots(np.arange(len(data)) if shots is None else
                             np.reshape(shots, -1), nshots)
        if len(shots) != len(data):
            raise ValueError(f"{type(self).__name__}: {len(shots)} shot indices for "
                             f"{len(data)} records")
        return data, shots


def apply(steps, data, shots=None):
    """Apply ``steps`` in order to arrays ``data`` ``(n, nt, nrec)`` of ``shots``."""
    for step in steps:
        data = step.apply(data, shots)
    return data


class BandPass(Step):
    """Zero-phase Butterworth band-pass (scipy ``sosfiltfilt``) along time.

    Args:
        dt: time sampling in seconds.
        low, high: corner frequencies in Hz; None for no low cut (a low-pass) or no high
            cut (a high-pass).
        order: filter order (applied forwards and backwards, so twice).
    """

    def __init__(self, dt, low=None, high=None, order=4):
        self.dt = checks.number(dt, "BandPass: dt", low=0, unit="seconds")
        nyquist = 0.5 / self.dt
        if low is None and high is None:
            raise ValueError("BandPass: give low= and/or high= corner frequencies in Hz")
        self.low = None if low is None else checks.number(
            low, "BandPass: low", low=0, high=nyquist, unit="Hz")
        self.high = None if high is None else checks.number(
            high, "BandPass: high", low=self.low or 0, high=nyquist, unit="Hz")
        self.order = checks.whole(order, "BandPass: order", low=1, high=12)
        band = [f for f in (self.low, self.high) if f is not None]
        kind = "bandpass" if len(band) == 2 else "highpass" if self.low else "lowpass"
        self._sos = signal.butter(self.order, band if len(band) == 2 else band[0], kind,
                                  fs=1.0 / self.dt, output="sos")

    def apply(self, data, shots=None):
        data, _ = self._records(data)
        try:
            return signal.sosfiltfilt(self._sos, data, axis=1).astype(np.float32)
        except ValueError as err:
            raise ValueError(f"BandPass: {data.shape[1]} samples are too few for an "
                             f"order-{self.order} filter ({err})") from None

    def survey(self, survey, taper=0.05):
        """``survey`` with its wavelets filtered alike, to model data filtered by this
        step. Their ends are tapered (see :func:`estimate_wavelet`)."""
        survey = _survey(survey, "BandPass.survey")
        wavelets = self.apply(survey.wavelet.reshape(-1, survey.nt, 1))[..., 0]
        return survey.replace(wavelet=_taper_ends(wavelets, taper).reshape(
            survey.wavelet.shape))


def offsets(survey, shots=None):
    """Horizontal source-receiver distances in metres, ``(n, nrec)`` for ``shots``."""
    shots = checks.shots(shots, survey.nshots)
    horizontal = survey.receivers[shots, :, :-1] - survey.sources[shots, :1, :-1]
    return np.linalg.norm(horizontal, axis=-1)


def _ramp(time, start, width):
    """0 before ``start - width``, 1 after ``start``, a half-cosine between."""
    if width <= 0:
        return (time >= start).astype(np.float32)
    x = np.clip((time - start + width) / width, 0.0, 1.0)
    return (0.5 - 0.5 * np.cos(np.pi * x)).astype(np.float32)


class TopMute(Step):
    """Zero each trace above its first break, predicted by a linear moveout
    ``t = offset / velocity + shift`` (in the survey's time, from the shot).

    Args:
        survey: the :class:`~keras_seismic.survey.Survey` of the data (time axis, offsets).
        velocity: apparent velocity of the first arrivals in m/s (e.g. the water velocity
            or the near-surface velocity).
        shift: time added to the moveout in seconds (negative keeps some samples before
            the break, e.g. half a wavelet).
        taper: length of the half-cosine ramp up to the mute time, in seconds.
    """

    def __init__(self, survey, velocity, shift=0.0, taper=0.0):
        self.survey = _survey(survey, "TopMute")
        self.velocity = checks.number(velocity, "TopMute: velocity", low=0, unit="m/s")
        self.shift = checks.number(shift, "TopMute: shift", unit="seconds")
        self.taper = checks.number(taper, "TopMute: taper", low=0, unit="seconds",
                                   strict=False)

    def apply(self, data, shots=None):
        data, shots = self._records(data, shots, self.survey.nshots)
        start = offsets(self.survey, shots) / self.velocity + self.shift      # (n, nrec)
        weights = _ramp(self.survey.time[None, :, None], start[:, None, :], self.taper)
        return data * weights


class TimeWindow(Step):
    """Keep the samples from ``tmin`` to ``tmax`` seconds (the survey's time, from the
    shot), with half-cosine ramps of ``taper`` seconds inside the window."""

    def __init__(self, survey, tmin=None, tmax=None, taper=0.0):
        self.survey = _survey(survey, "TimeWindow")
        time = self.survey.time
        self.tmin = time[0] if tmin is None else checks.number(tmin, "TimeWindow: tmin",
                                                               unit="seconds")
        self.tmax = time[-1] if tmax is None else checks.number(
            tmax, "TimeWindow: tmax", low=self.tmin, unit="seconds")
        self.taper = checks.number(taper, "TimeWindow: taper", low=0, unit="seconds",
                                   strict=False)

    def apply(self, data, shots=None):
        data, _ = self._records(data)
        time = self.survey.time
        weights = _ramp(time, self.tmin + self.taper, self.taper) * \
            _ramp(-time, -(self.tmax - self.taper), self.taper)
        return data * weights[None, :, None]


class TraceNormalization(Step):
    """Each trace divided by its RMS amplitude (zero traces stay zero): equalises
    amplitudes for a normalised misfit."""

    def apply(self, data, shots=None):
        data, _ = self._records(data)
        rms = np.sqrt(np.mean(np.square(data, dtype=np.float64), axis=1, keepdims=True))
        return np.where(rms > 0, data / np.where(rms > 0, rms, 1.0), 0.0).astype(np.float32)


def select_offsets(survey, min_offset=0.0, max_offset=np.inf):
    """The survey with only the traces whose source-receiver offset lies in
    ``[min_offset, max_offset]`` metres live: the others are masked
    (``receiver_mask`` False), so they count in no misfit or gradient.

    Raises:
        ValueError: bad bounds, or a shot left without any trace.
    """
    survey = _survey(survey, "select_offsets")
    low = checks.number(min_offset, "select_offsets: min_offset", low=0, unit="m",
                        strict=False)
    high = max_offset if max_offset == np.inf else checks.number(
        max_offset, "select_offsets: max_offset", low=low, unit="m", strict=False)
    distance = offsets(survey)
    mask = survey.receiver_mask & (distance >= low) & (distance <= high)
    empty = np.nonzero(~mask.any(axis=1))[0]
    if empty.size:
        raise ValueError(f"select_offsets: shot {int(empty[0])} has no trace with an offset "
                         f"from {low:g} to {high:g} m (its offsets span "
                         f"{distance[empty[0]].min():.0f} to {distance[empty[0]].max():.0f} m)")
    return survey.replace(receiver_mask=mask)


def estimate_wavelet(prop, model, observed, shots=None, epsilon=1e-3, taper=0.05):
    """The source wavelet that best explains ``observed`` data in ``model``: a
    least-squares (Wiener) matching filter, frequency by frequency.

    The data are linear in the wavelet: ``d = G * w``. Modelling with the survey's
    wavelet ``w0`` gives ``d0 = G * w0``; the filter ``F(f) = sum conj(D0) Dobs / (sum
    |D0|^2 + delta)`` over all shots and live traces minimises ``||Dobs - F D0||^2`` (with
    ``delta = epsilon^2 * max sum |D0|^2``, a water level), and the wavelet is ``F * w0``.
    It is recovered where ``w0`` has energy (above ``epsilon`` times its peak spectrum;
    0 elsewhere): start from a ``w0`` whose band covers the data's.

    Args:
        prop: the :class:`~keras_seismic.Propagator` of the survey; its wavelet is
            ``w0``, the same for every shot used, one source a shot.
        model: the (starting) model: a velocity array or a dict of fields.
        observed: observed data ``(n, nt, nrec)`` of ``shots``.
        shots: shot indices (None for all).
        epsilon: relative water level of the deconvolution.
        taper: fraction of the samples at each end of the wavelet brought smoothly to 0
            by a half-cosine.

    Returns:
        float32 ``(nt,)``: the wavelet on the survey's time axis (from ``t0``).

    Example:
        >>> wavelet = ks.preprocessing.estimate_wavelet(prop, vp0, observed)
        >>> prop = ks.AcousticPropagator(grid, survey.replace(wavelet=wavelet))
    """
    survey = prop.survey
    shots = checks.shots(shots, survey.nshots)
    observed = prop.check_data(observed, len(shots), name="estimate_wavelet: observed")
    epsilon = checks.number(epsilon, "estimate_wavelet: epsilon", low=0)
    w0 = survey.wavelet[shots]
    if survey.nsrc != 1 or np.any(w0 != w0[:1]):
        raise ValueError("estimate_wavelet: the survey's wavelet must be one wavelet, the "
                         "same for every shot used, with one source a shot")
    live = survey.receiver_mask[shots][:, None, :]
    modelled = prop.forward(model, shots=shots)
    nfft = 2 ** int(np.ceil(np.log2(2 * survey.nt)))          # no circular wrap-around
    d0 = np.fft.rfft(modelled.astype(np.float64) * live, nfft, axis=1)
    dobs = np.fft.rfft(observed.astype(np.float64) * live, nfft, axis=1)
    numerator = np.sum(np.conj(d0) * dobs, axis=(0, 2))
    power = np.sum(np.abs(d0) ** 2, axis=(0, 2))
    if not power.max() > 0:
        raise ValueError("estimate_wavelet: the model predicts zero data in these shots")
    matching = numerator / (power + epsilon ** 2 * power.max())
    spectrum = np.fft.rfft(w0[0, 0].astype(np.float64), nfft)
    # Outside the band of w0 the filter divides noise by noise: keep the estimate there
    # at 0, so that it has no more bandwidth than w0 (the grid was chosen for w0's).
    matching[np.abs(spectrum) < epsilon * np.abs(spectrum).max()] = 0.0
    return _taper_ends(np.fft.irfft(matching * spectrum, nfft)[:survey.nt], taper)


def _taper_ends(wavelets, fraction):
    """``wavelets`` (..., nt) as float32, their first and last ``fraction`` of samples
    brought to 0 by half-cosines. A filtered wavelet rarely ends at 0 (a zero-phase
    filter spreads it before its onset), and a jump at either end would fire every
    frequency up to Nyquist."""
    fraction = checks.number(fraction, "taper", low=0, high=0.5, strict=False)
    wavelets = np.array(wavelets, dtype=np.float64)
    n = max(2, int(round(fraction * wavelets.shape[-1])))
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)
    wavelets[..., :n] *= ramp
    wavelets[..., -n:] *= ramp[::-1]
    return wavelets.astype(np.float32)


def _survey(survey, name):
    if not isinstance(survey, Survey):
        raise TypeError(f"{name}: survey must be a keras_seismic Survey; got "
                        f"{type(survey).__name__}")
    return survey
