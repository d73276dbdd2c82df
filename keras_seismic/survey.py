"""Who fires and who listens: source and receiver positions, the time axis and the
wavelets of an acquisition."""
import numpy as np

from . import checks

__all__ = ["Survey"]


def _positions(name, value, nshots=None):
    """Positions as float64 (nshots, npoints, ndim); a 2-D input is one point a shot
    (sources) or shared by all shots (receivers, ``nshots`` given)."""
    value = np.asarray(value, dtype=np.float64)
    if value.ndim == 2 and nshots is None:
        value = value[:, None, :]
    elif value.ndim == 2:
        value = np.broadcast_to(value, (nshots,) + value.shape)
    if value.ndim != 3 or value.shape[-1] not in (2, 3) or 0 in value.shape:
        raise ValueError(f"Survey: {name} must have shape (n, ndim) or (nshots, n, ndim) with "
                         f"ndim 2 or 3; got shape {value.shape}")
    if not np.all(np.isfinite(value)):
        raise ValueError(f"Survey: {name} coordinates must be finite numbers of metres")
    return value


class Survey:
    """The acquisition: sources, receivers, time axis and source wavelets of every shot.

    Args:
        sources: source positions in metres, ``(nshots, ndim)`` for one point source a shot
            or ``(nshots, nsrc, ndim)`` for ``nsrc`` simultaneous sources a shot.
        receivers: receiver positions in metres, ``(nrec, ndim)`` shared by all shots or
            ``(nshots, nrec, ndim)``.
        dt: time sampling of the wavelets and the data in seconds.
        nt: number of time samples; the record length is ``(nt - 1) * dt``.
        wavelet: source time functions, ``(nt,)`` for all sources, ``(nshots, nt)`` one a
            shot, or ``(nshots, nsrc, nt)`` one a source.

    Attributes:
        sources: float64 ``(nshots, nsrc, ndim)``.
        receivers: float64 ``(nshots, nrec, ndim)``.
        wavelet: float32 ``(nshots, nsrc, nt)``.

    Example:
        >>> src = [[500.0, 20.0], [1000.0, 20.0]]
        >>> rec = [[x, 10.0] for x in range(0, 2001, 20)]
        >>> survey = Survey(src, rec, dt=0.002, nt=751, wavelet=ricker(10.0, 0.002, 751))
        >>> survey.nshots, survey.nrec
        (2, 101)
    """

    def __init__(self, sources, receivers, dt, nt, wavelet):
        self.dt = checks.number(dt, "Survey: dt", low=0, unit="seconds")
        self.nt = checks.whole(nt, "Survey: nt", low=2, what="a whole number of samples")
        self.sources = _positions("sources", sources)
        self.receivers = _positions("receivers", receivers, nshots=self.nshots)
        if self.receivers.shape[0] != self.nshots:
            raise ValueError(f"Survey: receivers have {self.receivers.shape[0]} shots but "
                             f"sources have {self.nshots}")
        if self.receivers.shape[-1] != self.ndim:
            raise ValueError(f"Survey: sources are {self.ndim}-D but receivers are "
                             f"{self.receivers.shape[-1]}-D")
        wavelet = np.asarray(wavelet, dtype=np.float32)
        if wavelet.shape[-1:] != (self.nt,):
            raise ValueError(f"Survey: the wavelet must have nt={self.nt} samples on its last "
                             f"axis; got shape {wavelet.shape}")
        if wavelet.ndim == 2 and wavelet.shape[0] == self.nshots:
            wavelet = wavelet[:, None, :]
        expected = (self.nshots, self.nsrc, self.nt)
        try:
            wavelet = np.broadcast_to(wavelet, expected).copy()
        except ValueError:
            raise ValueError(f"Survey: wavelet shape {wavelet.shape} fits none of (nt,), "
                             f"(nshots, nt) or (nshots, nsrc, nt) = {expected}") from None
        if not np.all(np.isfinite(wavelet)):
            raise ValueError("Survey: the wavelet contains NaN or infinite values")
        self.wavelet = wavelet

    @property
    def nshots(self):
        return self.sources.shape[0]

    @property
    def nsrc(self):
        """Number of simultaneous sources a shot."""
        return self.sources.shape[1]

    @property
    def nrec(self):
        return self.receivers.shape[1]

    @property
    def ndim(self):
        return self.sources.shape[-1]

    @property
    def time(self):
        """The time axis in seconds, ``(nt,)``."""
        return np.arange(self.nt) * self.dt

    @property
    def duration(self):
        return (self.nt - 1) * self.dt

    @property
    def data_shape(self):
        return (self.nshots, self.nt, self.nrec)

    def get_config(self):
        return {"sources": self.sources.tolist(), "receivers": self.receivers.tolist(),
                "dt": self.dt, "nt": self.nt, "wavelet": self.wavelet.tolist()}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return (f"Survey(nshots={self.nshots}, nsrc={self.nsrc}, nrec={self.nrec}, "
                f"dt={self.dt}, nt={self.nt})")
