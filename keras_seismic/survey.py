"""Who fires and who listens: source and receiver positions, the time axis and the
wavelets of an acquisition."""
import numpy as np

from . import checks

__all__ = ["Survey"]


def _positions(name, value, nshots=None):
    """Positions as float64 (nshots, npoints, ndim); a 2-D input is one point a shot
    (sources) or shared by all shots (receivers, ``nshots`` given)."""
    value = checks.finite_array(value, f"Survey: {name} (metres)", np.float64, argument=name)
    if value.ndim == 2 and nshots is None:
        value = value[:, None, :]
    elif value.ndim == 2:
        value = np.broadcast_to(value, (nshots,) + value.shape)
    if value.ndim != 3 or value.shape[-1] not in (2, 3) or 0 in value.shape:
        raise checks.ArgumentError(name, f"Survey: {name} must have shape (n, ndim) or "
                                   f"(nshots, n, ndim) with ndim 2 or 3; got shape "
                                   f"{value.shape}")
    return value


def _mask(value, shape):
    """The receiver mask as bool ``shape``; None means all True."""
    if value is None:
        return np.ones(shape, dtype=bool)
    fault = lambda message: checks.ArgumentError(  # noqa: E731
        "receiver_mask", f"Survey: receiver_mask {message}")
    mask = np.asarray(value)
    if mask.dtype != bool:
        if mask.dtype.kind not in "iuf" or not np.all((mask == 0) | (mask == 1)):
            raise fault(f"must be booleans (True for a live trace) of shape (nshots, nrec) "
                        f"= {shape}; got {value!r:.80}")
        mask = mask.astype(bool)
    if mask.shape != shape:
        raise fault(f"must have shape (nshots, nrec) = {shape}; got {mask.shape}")
    empty = np.nonzero(~mask.any(axis=1))[0]
    if empty.size:
        raise fault(f"leaves shot {int(empty[0])} without any live receiver; drop that "
                    f"shot instead")
    return mask.copy()


def _coordinates(value, nshots, nrec, ndim):
    """The map coordinates of a projected 2-D survey, checked, as float64 arrays."""
    if value is None:
        return None
    if ndim != 2 or not isinstance(value, dict) or set(value) != {"sources", "receivers"}:
        raise ValueError("Survey: coordinates are for 2-D surveys only: a dict with "
                         "'sources' (nshots, 2) and 'receivers' (nshots, nrec, 2) map x, y")
    out = {k: np.asarray(v, dtype=np.float64) for k, v in value.items()}
    for name, shape in (("sources", (nshots, 2)), ("receivers", (nshots, nrec, 2))):
        if out[name].shape != shape or not np.all(np.isfinite(out[name])):
            raise ValueError(f"Survey: coordinates[{name!r}] must be finite, of shape "
                             f"{shape}; got shape {out[name].shape}")
    return out


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
            shot, or ``(nshots, nsrc, nt)`` one a source, sampled on the same time axis as
            the data (from ``t0``).
        t0: time of the first sample of the data and the wavelets in seconds, relative to
            the shot instant (SEG-Y DelayRecordingTime). The wavefield is at rest before
            it, so a wavelet must hold the whole source signature after ``t0``.
        receiver_mask: bool ``(nshots, nrec)``, False for the padding of a shot with fewer
            receivers than ``nrec`` (or a trace to leave out). Such traces count in no
            misfit, gradient, figure or written file. None means every trace is live.
        coordinates: for a 2-D survey projected from a crooked line, the map coordinates
            the positions came from: ``{"sources": (nshots, 2), "receivers": (nshots,
            nrec, 2)}`` of (x, y) in metres; written back by ``ks.io.write_shots``.

    Attributes:
        sources: float64 ``(nshots, nsrc, ndim)``.
        receivers: float64 ``(nshots, nrec, ndim)``.
        wavelet: float32 ``(nshots, nsrc, nt)``.
        t0: float seconds.
        receiver_mask: bool ``(nshots, nrec)``.
        coordinates: None or the dict above (float64 arrays).

    Example:
        >>> src = [[500.0, 20.0], [1000.0, 20.0]]
        >>> rec = [[x, 10.0] for x in range(0, 2001, 20)]
        >>> survey = Survey(src, rec, dt=0.002, nt=751, wavelet=ricker(10.0, 0.002, 751))
        >>> survey.nshots, survey.nrec
        (2, 101)
    """

    def __init__(self, sources, receivers, dt, nt, wavelet, t0=0.0, receiver_mask=None,
                 coordinates=None):
        self.t0 = checks.number(t0, "Survey: t0", unit="seconds")
        self.dt = checks.number(dt, "Survey: dt", low=0, unit="seconds")
        self.nt = checks.whole(nt, "Survey: nt", low=2, what="a whole number of samples")
        self.sources = _positions("sources", sources)
        self.receivers = _positions("receivers", receivers, nshots=self.nshots)
        if self.receivers.shape[0] != self.nshots:
            raise checks.ArgumentError("receivers", f"Survey: receivers have "
                                       f"{self.receivers.shape[0]} shots but sources have "
                                       f"{self.nshots}")
        if self.receivers.shape[-1] != self.ndim:
            raise checks.ArgumentError("receivers", f"Survey: sources are {self.ndim}-D but "
                                       f"receivers are {self.receivers.shape[-1]}-D")
        wavelet = checks.finite_array(wavelet, "Survey: the wavelet", argument="wavelet")
        if wavelet.shape[-1:] != (self.nt,):
            raise checks.ArgumentError("wavelet", f"Survey: the wavelet must have "
                                       f"nt={self.nt} samples on its last axis; got shape "
                                       f"{wavelet.shape}")
        if wavelet.ndim == 2 and wavelet.shape[0] == self.nshots:
            wavelet = wavelet[:, None, :]
        expected = (self.nshots, self.nsrc, self.nt)
        try:
            wavelet = np.broadcast_to(wavelet, expected).copy()
        except ValueError:
            raise checks.ArgumentError("wavelet", f"Survey: wavelet shape {wavelet.shape} "
                                       f"fits none of (nt,), (nshots, nt) or (nshots, nsrc, "
                                       f"nt) = {expected}") from None
        silent = np.nonzero(~wavelet.any(axis=(1, 2)))[0]
        if silent.size:
            raise checks.ArgumentError("wavelet", f"Survey: the wavelet of shot "
                                                  f"{int(silent[0])} is zero everywhere: "
                                                  f"that shot would record nothing")
        self.wavelet = wavelet
        self.receiver_mask = _mask(receiver_mask, (self.nshots, self.nrec))
        self.coordinates = _coordinates(coordinates, self.nshots, self.nrec, self.ndim)

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
        """The time axis in seconds, ``(nt,)``, from ``t0``."""
        return self.t0 + np.arange(self.nt) * self.dt

    @property
    def duration(self):
        return (self.nt - 1) * self.dt

    @property
    def masked(self):
        """Whether some traces are padding (``receiver_mask`` not all True)."""
        return not bool(self.receiver_mask.all())

    @property
    def data_shape(self):
        return (self.nshots, self.nt, self.nrec)

    def replace(self, **changes):
        """A new Survey with some of the constructor's arguments changed, e.g.
        ``survey.replace(wavelet=w)`` or ``survey.replace(receiver_mask=mask)``."""
        arguments = {"sources": self.sources, "receivers": self.receivers, "dt": self.dt,
                     "nt": self.nt, "wavelet": self.wavelet, "t0": self.t0,
                     "receiver_mask": self.receiver_mask, "coordinates": self.coordinates}
        unknown = set(changes) - set(arguments)
        if unknown:
            raise TypeError(f"Survey.replace: unknown arguments {sorted(unknown)}; expected "
                            f"some of {sorted(arguments)}")
        return Survey(**{**arguments, **changes})

    def get_config(self):
        return {"sources": self.sources.tolist(), "receivers": self.receivers.tolist(),
                "dt": self.dt, "nt": self.nt, "wavelet": self.wavelet.tolist(), "t0": self.t0,
                "receiver_mask": self.receiver_mask.tolist(),
                "coordinates": None if self.coordinates is None else
                {k: v.tolist() for k, v in self.coordinates.items()}}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return (f"Survey(nshots={self.nshots}, nsrc={self.nsrc}, nrec={self.nrec}, "
                f"dt={self.dt}, nt={self.nt}"
                + (f", t0={self.t0}" if self.t0 else "")
                + (f", {int((~self.receiver_mask).sum())} masked traces" if self.masked
                   else "") + ")")
