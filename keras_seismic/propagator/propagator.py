"""``AcousticPropagator``: the wave-equation operators of a survey on numpy arrays.

It owns everything between the physical description (grid, survey, velocity in m/s) and the
kernels (padded grid, squared slowness, internal time step): input validation, the time
axis, the linear resampling between the survey's ``dt`` and the internal step (and its exact
adjoint), the padding of the model, and the loop over shots.
"""
import math
import warnings

import numpy as np

from .local import InProcessExecutor
from ..grid import Grid
from ..physics import Padding, Source, Target, WaveSolver, stencil_sum
from .resampling import linear_interpolation
from ..survey import Survey
from ..wavelets import highest_frequency

__all__ = ["AcousticPropagator", "ForwardState"]

# Fraction of the CFL limit used as internal time step.
_COURANT = 0.9
# Samples per period of the highest significant frequency kept for the gradient.
_SAMPLES_PER_PERIOD = 4
_STORAGE = ("subsampled", "full", "checkpointing")


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


class AcousticPropagator:
    """Constant-density acoustic wave-equation modeling of a survey.

    Physics: ``m u_tt - lap(u) = sum_s delta(x - x_s) w_s(t)`` with ``m = 1/vp^2``; receivers
    record the pressure ``u``. A damping layer of ``absorbing_width`` cells surrounds the
    grid (not its top when ``free_surface``). The internal time step is set from the CFL
    limit of the velocity of each call, so a faster model never makes a run unstable.

    Args:
        grid: the physical :class:`Grid`.
        survey: the :class:`Survey`; its positions must lie inside ``grid``.
        space_order: even finite-difference order from 2 to 16.
        absorbing_width: number of absorbing cells on each side (>= 0).
        free_surface: pressure-free top boundary at z = grid.origin[-1].
        executor: where shots run: None (this process, one after the other) or a
            :class:`keras_seismic.distributed.DaskExecutor`.
        storage: forward wavefield kept for gradients: ``"subsampled"`` (default, at
            4 samples per period of the wavelet's highest significant frequency),
            ``"full"`` (every internal step; exact discrete adjoint, more memory) or
            ``"checkpointing"`` (nothing: the gradient recomputes the forward field from
            about sqrt(steps) checkpoints with pyrevolve; exact, least memory, slowest).
        platform, language, compiler: where Devito's kernels run (see the GPU page of the
            docs): e.g. ``platform="nvidiaX", language="openacc", compiler="nvc"`` for an
            NVIDIA GPU with the NVIDIA HPC SDK, or ``language="openmp"`` with a GPU
            platform for OpenMP offloading. None (default) leaves each to Devito's
            configuration: ``DEVITO_PLATFORM``, ``DEVITO_LANGUAGE``, ``DEVITO_ARCH``, or
            the CPU it finds with OpenMP and gcc.

    Shapes: velocity ``grid.shape`` (or one a shot, ``(n, *grid.shape)``), in m/s; data
    ``(n, nt, nrec)`` for the ``n`` shots asked for (all when ``shots=None``).

    Example:
        >>> prop = AcousticPropagator(grid, survey, space_order=8)
        >>> data = prop.forward(vp)                       # (nshots, nt, nrec)
        >>> grad = prop.born_adjoint(vp, data - observed)  # grid.shape
    """

    # Sent to Dask workers as its config, and built once a worker (see distributed.py).
    cached_on_workers = True

    def __init__(self, grid, survey, space_order=8, absorbing_width=40, free_surface=False,
                 executor=None, storage="subsampled", platform=None, language=None,
                 compiler=None):
        if not isinstance(grid, Grid):
            raise TypeError(f"grid must be a keras_seismic.Grid; got {type(grid).__name__}")
        if not isinstance(survey, Survey):
            raise TypeError(f"survey must be a keras_seismic.Survey; got "
                            f"{type(survey).__name__}")
        if survey.ndim != grid.ndim:
            raise ValueError(f"the survey is {survey.ndim}-D but the grid is {grid.ndim}-D")
        if int(space_order) != space_order or space_order % 2 or not 2 <= space_order <= 16:
            raise ValueError(f"space_order must be an even number from 2 to 16; got "
                             f"{space_order}")
        if int(absorbing_width) != absorbing_width or absorbing_width < 0:
            raise ValueError(f"absorbing_width must be a whole number of cells >= 0; got "
                             f"{absorbing_width}")
        if storage not in _STORAGE:
            raise ValueError(f"storage must be one of {_STORAGE}; got {storage!r}")
        for name, points in (("source", survey.sources), ("receiver", survey.receivers)):
            outside = ~grid.contains(points)
            if outside.any():
                shot, i = np.argwhere(outside)[0]
                raise ValueError(
                    f"{name} {i} of shot {shot} at {points[shot, i].tolist()} m lies outside "
                    f"the grid, which spans {grid.origin} to "
                    f"{tuple(o + e for o, e in zip(grid.origin, grid.extent))} m")
        self.grid, self.survey = grid, survey
        self.space_order, self.absorbing_width = int(space_order), int(absorbing_width)
        self.free_surface, self.storage = bool(free_surface), storage
        self.target = Target(platform, language, compiler)
        self.executor = executor if executor is not None else InProcessExecutor()
        self._setup()

    def _setup(self):
        self.padding = Padding(self.grid.shape, self.absorbing_width, self.space_order,
                               self.free_surface)
        self._damp = self.padding.damping(self.grid.spacing)
        self._solver = WaveSolver(self.grid.ndim, self.grid.spacing, self.space_order,
                                  self.padding.surface_index if self.free_surface else None,
                                  self.target)
        self._fmax = highest_frequency(self.survey.wavelet, self.survey.dt)
        # Positions in the padded frame, as the solver wants them.
        shift = np.asarray(self.grid.origin) - np.asarray(self.padding.lower) * \
            np.asarray(self.grid.spacing)
        self._src_coords = self.survey.sources - shift
        self._rec_coords = self.survey.receivers - shift

    # -- serialisation (a propagator is sent to Dask workers and saved with Keras models) --
    def get_config(self):
        return {"grid": self.grid.get_config(), "survey": self.survey.get_config(),
                "space_order": self.space_order, "absorbing_width": self.absorbing_width,
                "free_surface": self.free_surface, "storage": self.storage,
                **self.target.operator_options}

    @classmethod
    def from_config(cls, config, executor=None):
        config = dict(config)
        grid = Grid.from_config(config.pop("grid"))
        survey = Survey.from_config(config.pop("survey"))
        return cls(grid, survey, executor=executor, **config)

    def __getstate__(self):
        return {"config": self.get_config()}

    def __setstate__(self, state):
        other = AcousticPropagator.from_config(state["config"])
        self.__dict__.update(other.__dict__)

    @property
    def nshots(self):
        return self.survey.nshots

    @property
    def data_shape(self):
        return self.survey.data_shape[1:]

    # -- validation ------------------------------------------------------------------------
    def check_shots(self, shots):
        """Shot indices as int64 (n,); None means all shots."""
        if shots is None:
            return np.arange(self.nshots)
        array = np.asarray(shots)
        if array.dtype.kind not in "iu" and not (
                array.dtype.kind == "f" and np.all(array == np.round(array))):
            raise ValueError(f"shots must be whole-number shot indices; got {shots!r}")
        array = np.atleast_1d(array).astype(np.int64)
        if array.ndim != 1 or array.size == 0:
            raise ValueError(f"shots must be a non-empty 1-D list of indices; got shape "
                             f"{np.shape(shots)}")
        bad = array[(array < 0) | (array >= self.nshots)]
        if bad.size:
            raise ValueError(f"shot index {int(bad[0])} is out of range: the survey has "
                             f"{self.nshots} shots (0 to {self.nshots - 1})")
        return array

    def check_velocity(self, vp, n=None, name="velocity"):
        """Velocity as float32, shape grid.shape or (n, *grid.shape), finite and > 0."""
        vp = _as_float32(vp, name)
        if vp.shape != self.grid.shape and vp.shape != (n, *self.grid.shape):
            expected = f"{self.grid.shape}" + ("" if n is None else
                                                f" or {(n, *self.grid.shape)}")
            raise ValueError(f"{name} has shape {vp.shape}; expected {expected} (the grid "
                             f"shape, or one model a shot)")
        if not np.all(np.isfinite(vp)):
            raise ValueError(f"{name} contains NaN or infinite values")
        if vp.min() <= 0:
            raise ValueError(f"{name} must be positive (m/s); its minimum is {vp.min()}")
        self._check_dispersion(vp)
        return vp

    def _check_dispersion(self, vp):
        if self._fmax <= 0:
            return
        ppw = vp.min() / self._fmax / max(self.grid.spacing)
        if ppw < 1:
            # Below one point a wavelength the grid cannot hold the wave at all: the run
            # would give noise, not a result. Velocities in km/s are the usual cause.
            hint = " Velocities are in m/s: is this model in km/s?" if vp.max() < 20 else ""
            raise ValueError(
                f"velocity gives {ppw:.2g} grid points per minimum wavelength (vmin "
                f"{vp.min():g} m/s, highest significant frequency {self._fmax:.1f} Hz, "
                f"spacing {max(self.grid.spacing)} m); at least 1 is needed, 3 or more for "
                f"accurate results.{hint}")
        if ppw < 3:
            warnings.warn(
                f"only {ppw:.2f} grid points per minimum wavelength (vmin {vp.min():.0f} m/s, "
                f"highest significant frequency {self._fmax:.1f} Hz, spacing "
                f"{max(self.grid.spacing)} m): expect numerical dispersion; use at least 3, "
                f"a finer grid or a lower frequency", stacklevel=3)

    def check_data(self, data, n, name="data"):
        data = _as_float32(data, name)
        expected = (n, *self.data_shape)
        if data.shape != expected:
            raise ValueError(f"{name} has shape {data.shape}; expected {expected} "
                             f"(shots, nt, nrec)")
        if not np.all(np.isfinite(data)):
            raise ValueError(f"{name} contains NaN or infinite values")
        return data

    def check_wavelet(self, wavelet, shots):
        """Source wavelets (n, nsrc, nt): the survey's, or ``wavelet`` broadcast to that."""
        if wavelet is None:
            return self.survey.wavelet[shots]
        wavelet = _as_float32(wavelet, "wavelet")
        expected = (len(shots), self.survey.nsrc, self.survey.nt)
        if wavelet.ndim == 2 and wavelet.shape[0] == len(shots):
            wavelet = wavelet[:, None, :]
        try:
            return np.broadcast_to(wavelet, expected)
        except ValueError:
            raise ValueError(f"wavelet has shape {wavelet.shape}; expected (nt,), (n, nt) or "
                             f"(n, nsrc, nt) = {expected}") from None

    def check_weights(self, weights, n):
        weights = _as_float32(weights, "weights")
        if weights.shape != (n, *self.grid.shape):
            raise ValueError(f"weights has shape {weights.shape}; expected "
                             f"{(n, *self.grid.shape)} (one source distribution a shot)")
        if not np.all(np.isfinite(weights)):
            raise ValueError("weights contains NaN or infinite values")
        return weights

    # -- time axis ---------------------------------------------------------------------
    def time_steps(self, vp):
        """Internal time axis for velocity ``vp``: ``(dt, nsteps)``, the largest step under
        the CFL limit (and no larger than the survey's ``dt``) that spans the record in a
        whole number of steps."""
        vmax = float(np.max(vp))
        eig = stencil_sum(self.space_order) * sum(1.0 / h**2 for h in self.grid.spacing)
        dt_cfl = _COURANT * 2.0 / (vmax * math.sqrt(eig))
        duration = self.survey.duration
        nsteps = max(self.survey.nt, math.ceil(duration / dt_cfl - 1e-9) + 1)
        return duration / (nsteps - 1), nsteps

    def save_factor(self, dt):
        """What a forward run keeps for the gradient: every ``f``-th internal step (an
        int), or ``"checkpoint"``."""
        if self.storage == "checkpointing":
            return "checkpoint"
        if self.storage == "full" or self._fmax <= 0:
            return 1
        return max(1, int(1.0 / (_SAMPLES_PER_PERIOD * self._fmax * dt)))

    # -- public operators (survey time axis, physical grid) --------------------------------
    def forward(self, vp, shots=None, wavelet=None):
        """Nonlinear modeling ``F(vp)``.

        Args:
            vp: velocity in m/s, ``grid.shape`` or one a shot ``(n, *grid.shape)``.
            shots: shot indices (n,), default all.
            wavelet: optional source wavelets replacing the survey's, ``(nt,)``, ``(n, nt)``
                or ``(n, nsrc, nt)``.

        Returns:
            float32 data ``(n, nt, nrec)``.
        """
        data, _ = self.forward_with_state(vp, shots, wavelet=wavelet, keep=False)
        return data

    def forward_with_state(self, vp, shots=None, wavelet=None, weights=None, keep=True):
        """Forward modeling that also keeps what the gradient needs.

        With ``weights`` ``(n, *grid.shape)`` the source is extended: shot ``s`` fires
        ``weights[s](x) * wavelet_s(t)`` (the first source's wavelet of the shot).

        Returns:
            ``(data, state)``: data ``(n, nt, nrec)`` and a :class:`ForwardState`
            (None when ``keep=False``).
        """
        shots = self.check_shots(shots)
        vp = self.check_velocity(vp, len(shots))
        wavelet = self.check_wavelet(wavelet, shots)
        if weights is not None:
            weights = self.check_weights(weights, len(shots))
        model = _Model(self, vp)
        items = [(i, s, wavelet[i], None if weights is None else weights[i])
                 for i, s in enumerate(shots)]
        results = self.executor.map(_forward_task, (model, keep), items)
        data = np.stack([r[0] for r in results])
        state = ForwardState(model, shots, wavelet, [r[1] for r in results], weights) \
            if keep else None
        return data, state

    def gradient(self, state, residual, wavelet=False, reduce=True):
        """Adjoint of the linearisation at a :class:`ForwardState`, applied to ``residual``.

        Args:
            state: from :meth:`forward_with_state`.
            residual: ``(n, nt, nrec)``, e.g. the data residual.
            wavelet: also return the gradient with respect to the source wavelets
                (point sources) or the extended source weights.
            reduce: sum the velocity gradient over shots (``grid.shape``); else one per
                shot ``(n, *grid.shape)``.

        Returns:
            the velocity gradient (m/s)^-1 per unit of the residual product, and with
            ``wavelet=True`` a tuple ``(velocity_gradient, source_gradient)``.
        """
        residual = self.check_data(residual, len(state.shots), "residual")
        source = "weights" if state.weights is not None else "wavelet" if wavelet else None
        items = [(i, s, residual[i], state.stored[i], state.wavelet[i])
                 for i, s in enumerate(state.shots)]
        # With reduce, the per-shot gradients may stay on the workers and be summed there.
        results = self.executor.map(_gradient_task, (state.model, source), items,
                                    remote=(0,) if reduce else ())
        grad = self.executor.sum([r[0] for r in results]) if reduce else \
            np.stack([r[0] for r in results])
        if not wavelet:
            return grad
        return grad, np.stack([r[1] for r in results])

    def born(self, vp0, dvp, shots=None):
        """Linearised (Born) modeling ``J dvp`` = dF/dvp at ``vp0`` applied to ``dvp``.

        Args:
            vp0: background velocity in m/s, ``grid.shape`` or ``(n, *grid.shape)``.
            dvp: velocity perturbation in m/s, ``grid.shape`` or ``(n, *grid.shape)``.

        Returns:
            float32 data ``(n, nt, nrec)``.
        """
        shots = self.check_shots(shots)
        vp0 = self.check_velocity(vp0, len(shots), "background velocity")
        dvp = _as_float32(dvp, "velocity perturbation")
        if dvp.shape not in (self.grid.shape, (len(shots), *self.grid.shape)):
            raise ValueError(f"velocity perturbation has shape {dvp.shape}; expected "
                             f"{self.grid.shape} or {(len(shots), *self.grid.shape)}")
        if not np.all(np.isfinite(dvp)):
            raise ValueError("velocity perturbation contains NaN or infinite values")
        items = [(i, s) for i, s in enumerate(shots)]
        return np.stack(self.executor.map(_born_task, (_Model(self, vp0), dvp), items))

    def born_adjoint(self, vp0, data, shots=None, reduce=True):
        """Adjoint Born (migration, the FWI gradient) ``J^T data``, summed over the shots.

        ``born_adjoint(vp, forward(vp) - d)`` is the gradient of ``0.5||forward(vp) - d||^2``
        with respect to vp.

        Returns:
            float32 ``grid.shape`` (or ``(n, *grid.shape)`` with ``reduce=False``).
        """
        shots = self.check_shots(shots)
        data = self.check_data(data, len(shots))
        _, state = self.forward_with_state(vp0, shots)
        try:
            return self.gradient(state, data, reduce=reduce)
        finally:
            state.release()

    def illumination(self, vp, shots=None):
        """Source illumination ``sum_shots sum_t u(x, t)^2`` (grid.shape), the diagonal
        pseudo-Hessian used to precondition gradients; computed from a forward run with
        the stored (subsampled) wavefield, shot by shot where the shots run (on Dask, the
        workers sum it)."""
        if self.storage == "checkpointing":
            raise ValueError("illumination needs a stored wavefield: use storage="
                             "'subsampled' or 'full'")
        shots = self.check_shots(shots)
        vp = self.check_velocity(vp, len(shots))
        wavelet = self.check_wavelet(None, shots)
        items = [(i, s, wavelet[i], None) for i, s in enumerate(shots)]
        results = self.executor.map(_illumination_task, (_Model(self, vp), True), items,
                                    remote=(0,))
        return self.executor.sum([r[0] for r in results]).astype(np.float32)

    def extended_forward(self, vp, weights, shots=None):
        """Extended-source modeling: shot ``s`` fires the distributed source
        ``weights[s](x) * wavelet_s(t)`` (a density: amplitude per unit volume).

        Args:
            vp: velocity in m/s, ``grid.shape`` or ``(n, *grid.shape)``.
            weights: ``(n, *grid.shape)``.

        Returns:
            float32 data ``(n, nt, nrec)``.
        """
        data, _ = self.forward_with_state(vp, shots, weights=_as_float32(weights, "weights"),
                                          keep=False)
        return data

    def wavelet_adjoint(self, vp, data, shots=None):
        """Adjoint of forward modeling with respect to the source wavelets (modeling is
        linear in them): the adjoint field at the sources, resampled to the survey's axis.

        Returns:
            float32 ``(n, nsrc, nt)``.
        """
        shots = self.check_shots(shots)
        vp = self.check_velocity(vp, len(shots))
        data = self.check_data(data, len(shots))
        items = [(i, s, data[i], None, None) for i, s in enumerate(shots)]
        results = self.executor.map(_gradient_task, (_Model(self, vp), "wavelet"), items)
        return np.stack([r[1] for r in results])

    def extended_adjoint(self, vp, data, shots=None):
        """Adjoint of :meth:`extended_forward` with respect to the weights.

        Returns:
            float32 ``(n, *grid.shape)``.
        """
        shots = self.check_shots(shots)
        vp = self.check_velocity(vp, len(shots))
        data = self.check_data(data, len(shots))
        wavelet = self.survey.wavelet[shots]
        items = [(i, s, data[i], None, wavelet[i]) for i, s in enumerate(shots)]
        results = self.executor.map(_gradient_task, (_Model(self, vp), "weights"), items)
        return np.stack([r[1] for r in results])

    # -- one shot (these run wherever the executor puts them) ----------------------------
    def _resampling(self, nsteps):
        """Linear interpolation ``(to_internal, to_survey)`` between the survey's axis and
        an internal axis of ``nsteps`` steps over the same record: (nsteps, nt) and
        (nt, nsteps) :class:`LinearInterpolation` matrices; their transposes are the
        adjoints."""
        return (linear_interpolation(self.survey.nt, nsteps),
                linear_interpolation(nsteps, self.survey.nt))

    def _point_source(self, wavelet, nsteps):
        """Right-hand side samples (N, nsrc) of the point sources of a shot: the wavelets
        (nsrc, nt) resampled to the internal axis, divided by the cell volume (a delta)."""
        to_internal, _ = self._resampling(nsteps)
        return (to_internal @ wavelet.T / self.grid.cell_volume).astype(np.float32)


def _as_float32(value, name):
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a numeric array; got {type(value).__name__}") \
            from None
    return array


class _Model:
    """The velocity of one call, as the solver wants it: squared slowness on the padded
    grid and the internal time axis of each shot. A velocity shared by all shots is padded
    once (and sent to each worker once)."""

    def __init__(self, prop, vp):
        self.prop, self.vp = prop, vp
        self.shared = vp.ndim == prop.grid.ndim
        self._padded = self._pad(vp) if self.shared else None

    def _pad(self, v):
        return self.prop.padding.pad(1.0 / v.astype(np.float32) ** 2).astype(np.float32)

    def shot(self, i):
        """``(m, vp, (dt, nsteps))`` of the i-th shot of the call. Each shot's time step comes
        from its own velocity, so a sample never depends on the rest of its batch."""
        v = self.vp if self.shared else self.vp[i]
        m = self._padded if self.shared else self._pad(v)
        return m, v, self.prop.time_steps(v)


def _forward_task(shared, item):
    model, keep = shared
    i, shot, wavelet, weights = item
    prop = model.prop
    m, _, (dt, nsteps) = model.shot(i)
    to_internal, to_survey = prop._resampling(nsteps)
    factor = prop.save_factor(dt) if keep else None
    if weights is None:
        source = Source(prop._src_coords[shot], prop._point_source(wavelet, nsteps))
    else:
        source = Source(weights=prop.padding.pad(weights, mode="constant"),
                        wavelet=(to_internal @ wavelet[0]).astype(np.float32))
    data, stored = prop._solver.forward(m, prop._damp, dt, prop._rec_coords[shot], source,
                                        save=factor)
    return (to_survey @ data).astype(np.float32), stored


def _illumination_task(shared, item):
    """``sum_t u^2`` of a shot (grid.shape, float64), from its stored forward wavefield."""
    _, stored = _forward_task(shared, item)
    try:
        energy = np.square(np.asarray(stored.function.data, np.float64)).sum(axis=0)
        return shared[0].prop.padding.crop(energy) * stored.factor, None
    finally:
        stored.release()


def _gradient_task(shared, item):
    """Velocity gradient (and, by ``source``, the wavelet or weights gradient) of a shot."""
    model, source = shared
    i, shot, residual, stored, wavelet = item
    prop = model.prop
    m, v, (dt, nsteps) = model.shot(i)
    to_internal, to_survey = prop._resampling(nsteps)
    kwargs = {}
    if source == "wavelet":
        kwargs["src_coords"] = prop._src_coords[shot]
    elif source == "weights":
        kwargs["wavelet"] = (to_internal @ wavelet[0]).astype(np.float32)
    out = prop._solver.adjoint(m, prop._damp, dt, prop._rec_coords[shot],
                               (to_survey.T @ residual).astype(np.float32), stored=stored,
                               **kwargs)
    grad = None
    if stored is not None:
        # dm = -2 dvp / vp^3, and the model's edge values fill the absorbing layer.
        grad = (prop.padding.pad_adjoint(out["image"]) * (-2.0 / v.astype(np.float64) ** 3)
                ).astype(np.float32)
    if source == "wavelet":
        return grad, ((to_internal.T @ out["sources"]).T / prop.grid.cell_volume
                      ).astype(np.float32)
    if source == "weights":
        return grad, prop.padding.crop(out["weights"]).astype(np.float32)
    return grad, None


def _born_task(shared, item):
    model, dvp = shared
    i, shot = item
    prop = model.prop
    m, v, (dt, nsteps) = model.shot(i)
    dv = dvp if dvp.ndim == prop.grid.ndim else dvp[i]
    dm = prop.padding.pad(-2.0 * dv / v.astype(np.float64) ** 3).astype(np.float32)
    rhs = prop._point_source(prop.survey.wavelet[shot], nsteps)
    data = prop._solver.born(m, prop._damp, dt, prop._rec_coords[shot],
                             prop._src_coords[shot], rhs, dm)
    return (prop._resampling(nsteps)[1] @ data).astype(np.float32)
