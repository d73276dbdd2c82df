"""What a gradient needs from a forward run."""

__all__ = ["ForwardState"]


class ForwardState:
    """What a gradient needs from a forward run: the stored wavefield of each shot and the
    model, wavelets and sources it was run with. Free it with :meth:`release` (or drop
    it)."""

    def __init__(self, model, shots, wavelet, stored, weights=None):
        self.model, self.shots, self.wavelet, self.stored = model, shots, wavelet, stored
        self.weights = weights

    @property
    def nbytes(self):
        return sum(s.nbytes for s in self.stored)

    def release(self):
        for s in self.stored:
            s.release()
