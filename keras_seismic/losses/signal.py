"""The signal processing of the misfits, in differentiable TensorFlow: trace normalisation,
the squared envelope (by the Hilbert transform) and the zero-phase Butterworth low-pass.

Data are ``(batch, nt, nrec)`` tensors: axis 1 is time, sampled every ``dt`` seconds.
"""
import math

import numpy as np
import tensorflow as tf

# The padding makes the filter's impulse response decay to exp(-_DECAY_NEPERS) (1e-6) of
# its peak before it could wrap around the circular FFT convolution.
_DECAY_NEPERS = math.log(1e6)
_MAX_PAD_FACTOR = 16          # ... but the padding never exceeds 16 trace lengths


def tiny(dtype):
    """Smallest normal number of ``dtype``: the floor that keeps square roots away from 0."""
    return tf.constant(np.finfo(dtype).tiny, dtype=dtype)


def normalize_traces(x, epsilon):
    """Each trace (axis 1 is time) divided by ``sqrt(|trace|^2 + delta^2)`` with
    ``delta = epsilon * max |trace|`` over the gather, so that zero traces stay zero."""
    power = tf.reduce_sum(tf.square(x), axis=1, keepdims=True)                # (b, 1, nrec)
    delta2 = epsilon ** 2 * tf.reduce_max(power, axis=2, keepdims=True)       # (b, 1, 1)
    return x * tf.math.rsqrt(power + delta2 + tiny(x.dtype.as_numpy_dtype))


def _complex(x):
    """A real tensor as complex. ``tf.complex`` rather than ``tf.cast``: the gradient of a
    cast back to real makes TensorFlow warn that it discards the imaginary part."""
    return tf.complex(x, tf.zeros_like(x))


def analytic_power(x):
    """Squared envelope ``x**2 + H[x]**2`` of each trace of ``x`` (batch, nt, nrec), with
    ``H`` the Hilbert transform along time (axis 1) computed by FFT, as in
    ``scipy.signal.hilbert`` (no padding). Differentiable TensorFlow."""
    x = tf.convert_to_tensor(x)
    traces = tf.transpose(x, (0, 2, 1))                                # time innermost
    nt = tf.shape(traces)[-1]
    # Spectral weights of the analytic signal: 1 at zero (and Nyquist for even nt),
    # 2 at positive and 0 at negative frequencies.
    index = tf.range(nt)
    weights = tf.where(index == 0, 1.0, 0.0)
    weights = tf.where((index > 0) & (2 * index < nt), 2.0, weights)
    weights = tf.where(2 * index == nt, 1.0, weights)
    spectrum = tf.signal.fft(_complex(traces))
    analytic = tf.signal.ifft(spectrum * _complex(tf.cast(weights, x.dtype)))
    hilbert = tf.math.imag(analytic)
    power = tf.square(traces) + tf.square(hilbert)
    return tf.transpose(power, (0, 2, 1))


def _butterworth_power(nfft, dt, cutoff, order):
    """``|H(f)|**2`` (float64, ``nfft // 2 + 1`` rFFT bins) of the digital Butterworth
    low-pass ``scipy.signal.butter(order, cutoff, fs=1/dt)``.

    The bilinear transform with pre-warping gives, exactly,
    ``|H(f)|**2 = 1 / (1 + (tan(pi f dt) / tan(pi cutoff dt))**(2 order))``,
    the squared magnitude of ``scipy.signal.sosfreqz`` of that design; computing it in
    TensorFlow lets ``cutoff`` be a variable read by a traced graph."""
    freqs = tf.range(nfft // 2 + 1, dtype=tf.float64) / (tf.cast(nfft, tf.float64) * dt)
    ratio = tf.tan(math.pi * dt * freqs) / tf.tan(math.pi * dt * cutoff)
    return 1.0 / (1.0 + tf.pow(tf.square(ratio), float(order)))   # inf at Nyquist -> 0


def lowpass(x, dt, cutoff, order):
    """Zero-phase Butterworth low-pass of ``x`` (batch, nt, nrec) along axis 1: the rFFT of
    each zero-padded trace times ``|H(f)|**2`` (the response of the filter run forwards and
    backwards, as ``scipy.signal.sosfiltfilt``), cropped back to ``nt`` samples.
    ``cutoff`` is a float64 scalar tensor with ``0 < cutoff < 0.5 / dt``. Differentiable;
    the operator is linear and self-adjoint."""
    traces = tf.transpose(x, (0, 2, 1))                                    # time innermost
    nt = tf.shape(traces)[-1]
    # The slowest pole of |H|^2 decays as exp(-2 pi sin(pi / 4N) f_band t), with f_band the
    # distance of the cutoff from 0 or from Nyquist (the narrower band rings longer).
    band = tf.minimum(cutoff, 0.5 / dt - cutoff)
    decay = _DECAY_NEPERS / (2.0 * math.pi * math.sin(math.pi / (4.0 * order)) * band * dt)
    max_pad = tf.cast(_MAX_PAD_FACTOR * nt, tf.float64)
    pad = tf.cast(tf.math.ceil(tf.clip_by_value(decay, 1.0, max_pad)), tf.int32)
    nfft = nt + pad
    power = _complex(tf.cast(_butterworth_power(nfft, dt, cutoff, order), x.dtype))
    spectrum = tf.signal.rfft(traces, fft_length=[nfft]) * power
    filtered = tf.signal.irfft(spectrum, fft_length=[nfft])[..., :nt]
    filtered = tf.ensure_shape(filtered, traces.shape)
    return tf.transpose(filtered, (0, 2, 1))
