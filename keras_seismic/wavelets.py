"""What is fired: source wavelets on the survey's time axis."""
import numpy as np

from . import checks

__all__ = ["ricker"]


def ricker(f0, dt, nt, delay=None, t0=0.0):
    """Ricker (Mexican-hat) wavelet, zero phase about ``delay``.

    Args:
        f0: peak frequency in Hz (> 0).
        dt: time sampling in seconds (> 0).
        nt: number of samples (>= 1).
        delay: time of the peak in seconds. Defaults to ``1.5 / f0`` so that the wavelet
            starts from (nearly) zero.
        t0: time of the first sample in seconds (a survey's ``t0``): the samples are at
            ``t0 + i * dt``, the peak stays at ``delay`` after time 0.

    Returns:
        float32 array of shape ``(nt,)`` with unit peak amplitude.

    Example:
        >>> w = ricker(f0=10.0, dt=0.002, nt=751)
        >>> int(w.argmax())
        75
    """
    f0 = checks.number(f0, "ricker: peak frequency f0", low=0, unit="Hz")
    dt = checks.number(dt, "ricker: dt", low=0, unit="seconds")
    nt = checks.whole(nt, "ricker: nt", low=1, what="a whole number of samples")
    delay = 1.5 / f0 if delay is None else checks.number(delay, "ricker: delay",
                                                         unit="seconds")
    t0 = checks.number(t0, "ricker: t0", unit="seconds")
    arg = (np.pi * f0 * (t0 + np.arange(nt) * dt - delay)) ** 2
    wavelet = ((1.0 - 2.0 * arg) * np.exp(-arg)).astype(np.float32)
    if not wavelet.any():
        raise ValueError(f"ricker: the peak at delay={delay:g} s is far outside the samples "
                         f"from t0={t0:g} s to {t0 + (nt - 1) * dt:g} s: every sample is 0")
    return wavelet


def _spectrum(wavelet, dt):
    """Frequencies (Hz) and the largest amplitude spectrum of the wavelets (..., nt)."""
    wavelet = np.asarray(wavelet, dtype=np.float64).reshape(-1, np.shape(wavelet)[-1])
    nfft = 4 * wavelet.shape[-1]
    spectrum = np.abs(np.fft.rfft(wavelet, n=nfft, axis=-1)).max(axis=0)
    return np.fft.rfftfreq(nfft, dt), spectrum


def highest_frequency(wavelet, dt, threshold=1e-3):
    """Highest frequency in Hz at which the amplitude spectrum of ``wavelet`` (..., nt)
    still reaches ``threshold`` times its peak; used to size grids and subsample storage."""
    frequencies, spectrum = _spectrum(wavelet, dt)
    if spectrum.max() == 0:
        return 0.0
    significant = np.nonzero(spectrum >= threshold * spectrum.max())[0]
    return float(frequencies[significant[-1]])


def peak_frequency(wavelet, dt):
    """Frequency in Hz of the peak of the amplitude spectrum of ``wavelet`` (..., nt), 0 for
    a zero wavelet; the reference frequency of attenuation models."""
    frequencies, spectrum = _spectrum(wavelet, dt)
    return float(frequencies[np.argmax(spectrum)]) if spectrum.max() > 0 else 0.0
