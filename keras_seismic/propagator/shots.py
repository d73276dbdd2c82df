"""One shot of each operator: the tasks an executor runs, in this process or on a worker.

Each task is ``task(shared, item)``: ``shared`` holds the :class:`ShotModel` of the call
(sent to each worker once) and ``item`` the shot's own inputs. Results are numpy arrays
on the survey's time axis and the physical grid; a model gradient is one float32 array
``(nfields, *grid.shape)`` (the fields of ``ShotModel.gradients``, in order), so that an
executor sums it like any other array.
"""
import copy

import numpy as np

from ..physics import Source

__all__ = ["ShotModel", "born_adjoint_task", "born_task", "forward_task", "gradient_task",
           "illumination_task"]


class ShotModel:
    """The model of one call, as the kernels want it: the kernel fields on the padded grid
    and the internal time axis of each shot. A model shared by all shots (every field of
    the grid's shape) is prepared once (and sent to each worker once).

    Args:
        prop: the :class:`~keras_seismic.Propagator`.
        model: dict of float32 fields, each ``grid.shape`` or ``(n, *grid.shape)`` (a bare
            array is the field of a one-parameter physics).
        gradients: the names of the fields whose gradients the adjoint computes (default
            all of the physics' parameters).
    """

    def __init__(self, prop, model, gradients=None):
        if not isinstance(model, dict):
            model = {prop.parameters[0]: model}
        self.prop, self.model = prop, model
        self.gradients = tuple(prop.parameters if gradients is None else gradients)
        self.shared = all(v.ndim == prop.grid.ndim for v in model.values())
        self._prepared = self._prepare(model) if self.shared else None

    def with_gradients(self, names):
        """The same model, with the gradients of ``names`` asked for."""
        other = copy.copy(self)
        other.gradients = tuple(names)
        return other

    def fields(self, i):
        """The physical model of the i-th shot of the call."""
        return {name: v if v.ndim == self.prop.grid.ndim else v[i]
                for name, v in self.model.items()}

    def _prepare(self, fields):
        prop = self.prop
        return prop.physics.media(fields, prop.padding, prop.grid.spacing,
                                  prop.frequency), \
            prop.time_steps(fields)

    def shot(self, i):
        """``(media, fields, (dt, nsteps))`` of the i-th shot. Each shot's time step comes
        from its own model, so a sample never depends on the rest of its batch."""
        fields = self.fields(i)
        media, steps = self._prepared if self.shared else self._prepare(fields)
        return media, fields, steps


def forward_task(shared, item):
    """Data ``(nt, nrec)`` of a shot and what its gradient needs (or None)."""
    model, keep = shared
    i, shot, wavelet, weights = item
    prop = model.prop
    media, _, (dt, nsteps) = model.shot(i)
    to_internal, to_survey = prop._resampling(nsteps)
    factor = prop.save_factor(dt) if keep else None
    if weights is None:
        source = Source(prop._src_coords[shot], prop._point_source(wavelet, nsteps))
    else:
        source = Source(weights=prop.padding.pad(weights, mode="constant"),
                        wavelet=(to_internal @ wavelet[0]).astype(np.float32))
    data, stored = prop._solver.forward(media, prop._damp, dt, prop._rec_coords[shot],
                                        source, save=factor)
    return _live(prop, shot, to_survey @ data), stored


def _live(prop, shot, traces):
    """``traces`` (nt, nrec) of a shot as float32, 0 in its padded traces (the survey's
    ``receiver_mask`` False): they are no data, so they are never modelled and a residual
    in them reaches no gradient."""
    if prop.survey.masked:
        traces = traces * prop.survey.receiver_mask[shot]
    return traces.astype(np.float32, copy=False)


def illumination_task(shared, item):
    """``sum_t u^2`` of a shot (grid.shape, float64), from its stored forward wavefield
    (the one the receivers record)."""
    _, stored = forward_task(shared, item)
    try:
        energy = np.square(np.asarray(stored.functions[0].data, np.float64)).sum(axis=0)
        return shared[0].prop.padding.crop(energy) * stored.factor, None
    finally:
        stored.release()


def gradient_task(shared, item):
    """The model gradient of a shot ``(nfields, *grid.shape)`` (None without a stored
    forward run) and, by ``source``, the gradient of its wavelets (``"wavelet"``) or of its
    extended source's weights (``"weights"``)."""
    model, source = shared
    i, shot, residual, stored, wavelet = item
    prop, physics = model.prop, model.prop.physics
    media, fields, (dt, nsteps) = model.shot(i)
    to_internal, to_survey = prop._resampling(nsteps)
    kwargs = {}
    if source == "wavelet":
        kwargs["src_coords"] = prop._src_coords[shot]
    elif source == "weights":
        kwargs["wavelet"] = (to_internal @ wavelet[0]).astype(np.float32)
    out = prop._solver.adjoint(media, prop._damp, dt, prop._rec_coords[shot],
                               to_survey.T @ _live(prop, shot, residual), stored=stored,
                               fields=physics.kernel_fields(model.gradients), **kwargs)
    grad = None
    if stored is not None:
        grads = physics.gradient(fields, out["images"], prop.padding)
        grad = np.stack([grads[name] for name in model.gradients])
    if source == "wavelet":
        return grad, ((to_internal.T @ out["sources"]).T / prop.grid.cell_volume
                      ).astype(np.float32)
    if source == "weights":
        return grad, prop.padding.crop(out["weights"]).astype(np.float32)
    return grad, None


def born_adjoint_task(shared, item):
    """``J^T data`` of a shot ``(nfields, *grid.shape)``: its forward run, then at once its
    adjoint, so that a worker holds one stored wavefield at a time, however many shots a
    call images."""
    model, = shared
    i, shot, wavelet, data = item
    _, stored = forward_task((model, True), (i, shot, wavelet, None))
    try:
        return gradient_task((model, None), (i, shot, data, stored, wavelet))
    finally:
        stored.release()


def born_task(shared, item):
    """Linearised data ``(nt, nrec)`` of a shot for a perturbation of some fields."""
    model, dmodel = shared
    i, shot, wavelet = item
    prop = model.prop
    media, fields, (dt, nsteps) = model.shot(i)
    dfields = {name: d if d.ndim == prop.grid.ndim else d[i] for name, d in dmodel.items()}
    perturbation = prop.physics.perturbation(fields, dfields, prop.padding,
                                             prop.grid.spacing)
    rhs = prop._point_source(wavelet, nsteps)
    data = prop._solver.born(media, prop._damp, dt, prop._rec_coords[shot],
                             prop._src_coords[shot], rhs, perturbation)
    return _live(prop, shot, prop._resampling(nsteps)[1] @ data)
