"""``Propagator``: the wave-equation operators of a survey on numpy arrays, for any physics.

It owns everything between the physical description (grid, survey, a model of named
fields in SI units) and the kernels (padded grid, kernel fields, internal time step):
input validation, the time axis, the linear resampling between the survey's ``dt`` and the
internal step (and its exact adjoint), the padding of the model, and the loop over shots
(run by an executor, one task a shot: see shots.py). What is specific to a wave equation
comes from its physics plug-in (``keras_seismic.physics``).
"""
import math

import numpy as np

from .. import checks
from ..grid import Grid
from ..physics import Padding, Target, WaveSolver, get, stencil_sum
from ..survey import Survey
from ..wavelets import highest_frequency, peak_frequency
from .local import InProcessExecutor
from .resampling import linear_interpolation
from .shots import (ShotModel, born_adjoint_task, born_task, forward_task, gradient_task,
                    illumination_task)
from .state import ForwardState

__all__ = ["AcousticPropagator", "ForwardState", "Propagator", "from_config"]

# Fraction of the CFL limit used as internal time step.
_COURANT = 0.9
# Samples per period of the highest significant frequency kept for the gradient.
_SAMPLES_PER_PERIOD = 4
# More internal steps a record sample than this are refused (see time_steps).
_MAX_STEPS_PER_SAMPLE = 1000
_STORAGE = ("subsampled", "full", "checkpointing")


class Propagator:
    """Wave-equation modeling of a survey, for the wave equation named by ``physics``.

    A model is a dict of named float32 fields, one per name of :attr:`parameters`, each
    ``grid.shape`` (or one a shot, ``(n, *grid.shape)``), in SI units; a one-parameter
    physics also takes the bare array. Receivers record what the physics says (its
    ``records``: the pressure, for every physics so far). A damping layer of
    ``absorbing_width`` cells surrounds the grid (not its top when ``free_surface``). The
    internal time step is set from the stability limit of the model of each call, so a
    faster model never makes a run unstable.

    Args:
        grid: the physical :class:`Grid`.
        survey: the :class:`Survey`; its positions must lie inside ``grid``.
        physics: the wave equation: ``"acoustic"`` (constant density, ``("vp",)``),
            ``"acoustic-density"`` (``("vp", "rho")``: ``m u_tt - rho div(rho^-1 grad u)
            = q``), ``"tti"`` (pseudo-acoustic TTI, ``("vp", "epsilon", "delta",
            "theta")``, and ``"phi"`` in 3-D) or ``"visco-acoustic"`` (a standard linear
            solid, ``("vp", "qp")``); see ``keras_seismic.physics`` for each.
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
            the CPU it finds with OpenMP (plain C on one thread) and gcc.

    Shapes: data ``(n, nt, nrec)`` for the ``n`` shots asked for (all when
    ``shots=None``).

    Example:
        >>> prop = Propagator(grid, survey, physics="acoustic-density")
        >>> prop.parameters
        ('vp', 'rho')
        >>> data = prop.forward({"vp": vp, "rho": rho})             # (nshots, nt, nrec)
        >>> grads = prop.born_adjoint({"vp": vp, "rho": rho}, data - observed)
        >>> grads["rho"].shape == grid.shape
        True
    """

    # Sent to Dask workers as its config, and built once a worker (see distributed).
    cached_on_workers = True

    def __init__(self, grid, survey, physics="acoustic", space_order=8, absorbing_width=40,
                 free_surface=False, executor=None, storage="subsampled", platform=None,
                 language=None, compiler=None):
        if not isinstance(grid, Grid):
            raise TypeError(f"grid must be a keras_seismic.Grid; got {type(grid).__name__}")
        if not isinstance(survey, Survey):
            raise TypeError(f"survey must be a keras_seismic.Survey; got "
                            f"{type(survey).__name__}")
        if survey.ndim != grid.ndim:
            raise ValueError(f"the survey is {survey.ndim}-D but the grid is {grid.ndim}-D")
        self.physics = get(physics, grid.ndim)
        space_order = checks.whole(space_order, "space_order", 2, 16,
                                   what="an even number")
        if space_order % 2:
            raise ValueError(f"space_order must be an even number from 2 to 16; got "
                             f"{space_order}")
        self.space_order = space_order
        self.absorbing_width = checks.whole(absorbing_width, "absorbing_width", 0,
                                            what="a whole number of cells")
        self.storage = checks.choice(storage, "storage", _STORAGE)
        for name, points in (("source", survey.sources), ("receiver", survey.receivers)):
            outside = ~grid.contains(points)
            if outside.any():
                shot, i = np.argwhere(outside)[0]
                raise ValueError(
                    f"{name} {i} of shot {shot} at {points[shot, i].tolist()} m lies outside "
                    f"the grid, which spans {grid.origin} to "
                    f"{tuple(o + e for o, e in zip(grid.origin, grid.extent))} m")
        self.grid, self.survey = grid, survey
        self.free_surface = bool(free_surface)
        self.target = Target(platform, language, compiler)
        if executor is not None and not all(callable(getattr(executor, method, None))
                                            for method in ("map", "sum")):
            raise TypeError(f"executor must be an executor (keras_seismic.distributed: "
                            f"InProcessExecutor, DaskExecutor) or None; got {executor!r:.80}")
        self.executor = executor if executor is not None else InProcessExecutor()
        self._setup()

    def _setup(self):
        self.padding = Padding(self.grid.shape, self.absorbing_width, self.space_order,
                               self.free_surface, self.physics.reach(self.space_order))
        self._damp = self.padding.damping(self.grid.spacing)
        self._solver = WaveSolver(self.grid.ndim, self.grid.spacing, self.space_order,
                                  self.padding.surface_index if self.free_surface else None,
                                  self.target, self.physics.name)
        self._fmax = highest_frequency(self.survey.wavelet, self.survey.dt)
        #: The wavelet's peak frequency (Hz), where attenuation models set their Q.
        self.frequency = peak_frequency(self.survey.wavelet, self.survey.dt)
        # Positions in the padded frame, as the solver wants them.
        shift = np.asarray(self.grid.origin) - np.asarray(self.padding.lower) * \
            np.asarray(self.grid.spacing)
        self._src_coords = self._below_surface("source", self.survey.sources) - shift
        self._rec_coords = self._below_surface("receiver", self.survey.receivers) - shift

    def _below_surface(self, name, points):
        """``points`` (nshots, n, ndim) as the solver uses them. On a free surface (less
        than 1% of a cell below it) the pressure is 0: a source there would fire nothing
        and a receiver record nothing, so they are moved one cell down, with a warning.
        The survey itself is unchanged."""
        if not self.free_surface:
            return points
        top, dz = self.grid.origin[-1], self.grid.spacing[-1]
        on = points[..., -1] < top + 0.01 * dz
        if not on.any():
            return points
        verb = "fire" if name == "source" else "record"
        checks.warn(f"{int(on.sum())} {name} positions lie on the free surface (z = {top:g} "
                    f"m), where the pressure is 0 and they would {verb} nothing: the "
                    f"propagator moves them one cell down, to z = {top + dz:g} m. Give "
                    f"their true depth (for SEG-Y files, see ks.io.read_shots' "
                    f"elevation=) to silence this")
        points = points.copy()
        points[..., -1][on] = top + dz
        return points

    @property
    def parameters(self):
        """The names of the model's fields, in order, e.g. ``("vp", "rho")``."""
        return self.physics.names

    # -- serialisation (a propagator is sent to Dask workers and saved with Keras models) --
    def get_config(self):
        return {"grid": self.grid.get_config(), "survey": self.survey.get_config(),
                "physics": self.physics.name, "space_order": self.space_order,
                "absorbing_width": self.absorbing_width, "free_surface": self.free_surface,
                "storage": self.storage, **self.target.operator_options}

    @classmethod
    def from_config(cls, config, executor=None):
        config = dict(config)
        grid = Grid.from_config(config.pop("grid"))
        survey = Survey.from_config(config.pop("survey"))
        return cls(grid, survey, executor=executor, **config)

    def __getstate__(self):
        return {"config": self.get_config()}

    def __setstate__(self, state):
        other = type(self).from_config(state["config"])
        self.__dict__.update(other.__dict__)

    def __repr__(self):
        fields = ", ".join(f"{p.name} ({p.unit})" for p in self.physics.parameters)
        return (f"Propagator(physics={self.physics.name!r}: {fields}; receivers record "
                f"{self.physics.records}; {self.grid!r}; {self.survey!r}; "
                f"space_order={self.space_order}, absorbing_width={self.absorbing_width}, "
                f"free_surface={self.free_surface}, storage={self.storage!r})")

    @property
    def nshots(self):
        return self.survey.nshots

    @property
    def data_shape(self):
        return self.survey.data_shape[1:]

    # -- validation ------------------------------------------------------------------------
    def check_shots(self, shots):
        """Shot indices as int64 (n,); None means all shots."""
        return checks.shots(shots, self.nshots)

    def check_model(self, model, n=None, name="model"):
        """A model as a dict of float32 fields keyed by :attr:`parameters`.

        Args:
            model: a dict with one field per parameter (a one-parameter physics also takes
                the bare array), each ``grid.shape`` or ``(n, *grid.shape)``.
            n: the number of shots of the call (allows one field a shot).
            name: what the model is, for messages.

        Raises:
            ValueError: a missing or unknown field, a field of the wrong shape, a NaN or
                infinite value, a value outside its parameter's bounds, or a model the
                physics cannot run (see its ``check``).
            TypeError: a field that is not a numeric array.
        """
        model = self._as_dict(model, name)
        shapes = [self.grid.shape] + ([] if n is None else [(n, *self.grid.shape)])
        fields = {}
        for p in self.physics.parameters:
            label = p.description if len(self.parameters) == 1 and name == "model" else \
                f"{name} field {p.name!r} ({p.description})"
            value = checks.field(model[p.name], label, shapes,
                                 "the grid shape, or one model a shot")
            low, high = p.bounds
            if value.min() <= low or value.max() > high:
                bound = f"in ({low:g}, {high:g}]" if np.isfinite(high) else \
                    "positive" if low == 0 else f"> {low:g}"
                raise ValueError(f"{label} must be {bound} ({p.unit}); its minimum is "
                                 f"{value.min():g} and its maximum {value.max():g}")
            fields[p.name] = value
        for shot in self._shot_models(fields):
            self.physics.check(shot, self.space_order)
        self._check_dispersion(fields)
        self.time_steps(fields)
        return fields

    def _as_dict(self, model, name):
        if not isinstance(model, dict):
            if len(self.parameters) > 1:
                raise ValueError(f"{name}: physics {self.physics.name!r} has the fields "
                                 f"{self.parameters}: give the model as a dict of them")
            return {self.parameters[0]: model}
        missing = [p for p in self.parameters if p not in model]
        unknown = [k for k in model if k not in self.parameters]
        if missing or unknown:
            hints = [f"{p.name!r}: {p.description}"
                     + ("" if p.unit == "dimensionless" else f" in {p.unit}")
                     + f", typically {p.default:g}"
                     for p in self.physics.parameters if p.name in missing]
            raise ValueError(f"{name} has the fields {tuple(model)}; physics "
                             f"{self.physics.name!r} needs exactly {self.parameters}"
                             + (f" (missing {'; '.join(hints)})" if missing else "")
                             + (f" (unknown {tuple(unknown)})" if unknown else ""))
        return model

    def _shot_models(self, model):
        """The model of each shot (one, if every field is shared)."""
        n = max((v.shape[0] for v in model.values() if v.ndim > self.grid.ndim), default=0)
        if not n:
            return [model]
        return [{k: v if v.ndim == self.grid.ndim else v[i] for k, v in model.items()}
                for i in range(n)]

    def check_perturbation(self, dmodel, n, name="model perturbation"):
        """A perturbation of any subset of the linearised fields: a dict (or a bare array
        for a one-parameter physics) of finite float32 arrays, ``grid.shape`` or
        ``(n, *grid.shape)``."""
        if not isinstance(dmodel, dict):
            dmodel = self._as_dict(dmodel, name)
        self._check_linearised(tuple(dmodel), name)
        shapes = [self.grid.shape, (n, *self.grid.shape)]
        one = len(self.parameters) == 1
        return {k: checks.field(v, "velocity perturbation" if one else f"{name} {k!r}",
                                shapes, "the grid shape, or one a shot")
                for k, v in dmodel.items()}

    def check_fields(self, fields):
        """Names of fields whose gradients to compute, in the physics' order; None: all
        that the physics linearises."""
        if fields is None:
            return self.physics.linearised
        fields = (fields,) if isinstance(fields, str) else tuple(fields)
        self._check_linearised(fields, "fields")
        return tuple(p for p in self.parameters if p in fields)

    def _check_linearised(self, names, label):
        linearised = self.physics.linearised
        unknown = [k for k in names if k not in self.parameters]
        if unknown or not names:
            raise ValueError(f"{label} has the fields {tuple(names)}; expected a non-empty "
                             f"subset of {linearised}")
        fixed = [k for k in names if k not in linearised]
        if fixed:
            raise ValueError(f"{label}: physics {self.physics.name!r} holds {tuple(fixed)} "
                             f"fixed: Born modeling and gradients exist for {linearised} "
                             f"only")

    def _check_dispersion(self, model):
        if self._fmax <= 0:
            return
        vmin, vmax = self.physics.speeds(model)
        ppw = vmin / self._fmax / max(self.grid.spacing)
        if ppw < 1:
            # Below one point a wavelength the grid cannot hold the wave at all: the run
            # would give noise, not a result. Velocities in km/s are the usual cause.
            hint = " Velocities are in m/s: is this model in km/s?" if vmax < 20 else ""
            raise ValueError(
                f"velocity gives {ppw:.2g} grid points per minimum wavelength (vmin "
                f"{vmin:g} m/s, highest significant frequency {self._fmax:.1f} Hz, "
                f"spacing {max(self.grid.spacing)} m); at least 1 is needed, 3 or more for "
                f"accurate results.{hint}")
        if ppw < 3:
            checks.warn(
                f"only {ppw:.2f} grid points per minimum wavelength (vmin {vmin:.0f} m/s, "
                f"highest significant frequency {self._fmax:.1f} Hz, spacing "
                f"{max(self.grid.spacing)} m): expect numerical dispersion; use at least 3, "
                f"a finer grid or a lower frequency")

    def check_data(self, data, n, name="data"):
        return checks.field(data, name, [(n, *self.data_shape)], "shots, nt, nrec")

    def check_wavelet(self, wavelet, shots):
        """Source wavelets (n, nsrc, nt): the survey's, or ``wavelet`` broadcast to that."""
        if wavelet is None:
            return self.survey.wavelet[shots]
        wavelet = checks.finite_array(wavelet, "wavelet")
        expected = (len(shots), self.survey.nsrc, self.survey.nt)
        if wavelet.ndim == 2 and wavelet.shape[0] == len(shots):
            wavelet = wavelet[:, None, :]
        try:
            return np.broadcast_to(wavelet, expected)
        except ValueError:
            raise ValueError(f"wavelet has shape {wavelet.shape}; expected (nt,), (n, nt) or "
                             f"(n, nsrc, nt) = {expected}") from None

    def check_weights(self, weights, n):
        return checks.field(weights, "weights", [(n, *self.grid.shape)],
                            "one source distribution a shot")

    # -- time axis ---------------------------------------------------------------------
    def time_steps(self, model):
        """Internal time axis for a model (see :meth:`check_model`; its stability limit
        reads every field): ``(dt, nsteps)``, the largest step under the stability limit
        (and no larger than the survey's ``dt``) that spans the record in a whole number of
        steps.

        Raises:
            ValueError: a model that needs more than 1000 internal steps a record sample
                (a spurious fast value would take hours and gigabytes of buffers)."""
        model = self._as_dict(model, "model")
        vmax = float(np.max(model["vp"]))
        factor = min(self.physics.stability(shot, self.space_order)
                     for shot in self._shot_models(model))
        eig = stencil_sum(self.space_order) * sum(1.0 / h**2 for h in self.grid.spacing)
        dt_cfl = factor * _COURANT * 2.0 / (vmax * math.sqrt(eig))
        duration, nt = self.survey.duration, self.survey.nt
        nsteps = max(nt, math.ceil(duration / dt_cfl - 1e-9) + 1)
        if nsteps > _MAX_STEPS_PER_SAMPLE * nt:
            where = np.unravel_index(np.argmax(model["vp"]), np.shape(model["vp"]))
            raise ValueError(
                f"model: its fastest velocity, {vmax:g} m/s (at index {tuple(map(int, where))}"
                f"), needs {nsteps} internal time steps of {dt_cfl:.3g} s for the record's "
                f"{nt} samples, more than {_MAX_STEPS_PER_SAMPLE} a sample; velocities are "
                f"in m/s: is that value spurious?")
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
    def forward(self, model, shots=None, wavelet=None):
        """Nonlinear modeling ``F(model)``.

        Args:
            model: the model (see :meth:`check_model`), e.g. ``{"vp": vp}`` in m/s.
            shots: shot indices (n,), default all.
            wavelet: optional source wavelets replacing the survey's, ``(nt,)``, ``(n, nt)``
                or ``(n, nsrc, nt)``.

        Returns:
            float32 data ``(n, nt, nrec)``.
        """
        data, _ = self.forward_with_state(model, shots, wavelet=wavelet, keep=False)
        return data

    def forward_with_state(self, model, shots=None, wavelet=None, weights=None, keep=True):
        """Forward modeling that also keeps what the gradient needs.

        With ``weights`` ``(n, *grid.shape)`` the source is extended: shot ``s`` fires
        ``weights[s](x) * wavelet_s(t)`` (the first source's wavelet of the shot).

        Returns:
            ``(data, state)``: data ``(n, nt, nrec)`` and a :class:`ForwardState`
            (None when ``keep=False``).
        """
        shots = self.check_shots(shots)
        model = ShotModel(self, self.check_model(model, len(shots)))
        wavelet = self.check_wavelet(wavelet, shots)
        if weights is not None:
            weights = self.check_weights(weights, len(shots))
        items = [(i, s, wavelet[i], None if weights is None else weights[i])
                 for i, s in enumerate(shots)]
        results = self.executor.map(forward_task, (model, keep), items)
        data = np.stack([r[0] for r in results])
        state = ForwardState(model, shots, wavelet, [r[1] for r in results], weights) \
            if keep else None
        return data, state

    def gradient(self, state, residual, wavelet=False, reduce=True, fields=None):
        """Adjoint of the linearisation at a :class:`ForwardState`, applied to ``residual``.

        Args:
            state: from :meth:`forward_with_state`.
            residual: ``(n, nt, nrec)``, e.g. the data residual.
            wavelet: also return the gradient with respect to the source wavelets
                (point sources) or the extended source weights.
            reduce: sum the model gradient over shots (``grid.shape``); else one per shot
                ``(n, *grid.shape)``.
            fields: the names of the fields whose gradients to compute (default all that
                the physics linearises).

        Returns:
            the model gradient, per unit of the residual product and of each field's unit:
            a dict by field name (a bare array for a one-parameter physics); with
            ``wavelet=True``, a tuple ``(model_gradient, source_gradient)``.
        """
        residual = self.check_data(residual, len(state.shots), "residual")
        fields = self.check_fields(fields)
        source = "weights" if state.weights is not None else "wavelet" if wavelet else None
        items = [(i, s, residual[i], state.stored[i], state.wavelet[i])
                 for i, s in enumerate(state.shots)]
        # With reduce, the per-shot gradients may stay on the workers and be summed there.
        results = self.executor.map(gradient_task,
                                    (state.model.with_gradients(fields), source), items,
                                    remote=(0,) if reduce else ())
        grad = self._model_gradient(results, fields, reduce)
        if not wavelet:
            return grad
        return grad, np.stack([r[1] for r in results])

    def _model_gradient(self, results, fields, reduce):
        """The model gradient of ``fields`` from per-shot task results (first element
        ``(nfields, *grid.shape)``): summed over the shots, or one per shot."""
        grad = self.executor.sum([r[0] for r in results]) if reduce else \
            np.stack([r[0] for r in results], axis=1)
        return self._as_model_output(dict(zip(fields, grad)))

    def _as_model_output(self, fields):
        """A dict of fields as the physics returns it: bare for a one-parameter physics."""
        return fields[self.parameters[0]] if len(self.parameters) == 1 else fields

    def born(self, model, dmodel, shots=None, wavelet=None):
        """Linearised (Born) modeling ``J dmodel``: the derivative of :meth:`forward` at
        ``model`` applied to a perturbation of any subset of its fields.

        Args:
            model: the background model, e.g. ``{"vp": vp0, "rho": rho0}``.
            dmodel: a dict of perturbations (in the fields' units), each ``grid.shape`` or
                ``(n, *grid.shape)``; a bare array for a one-parameter physics.
            wavelet: optional source wavelets replacing the survey's, as in
                :meth:`forward` (e.g. a simultaneous-source encoding drawn per call).

        Returns:
            float32 data ``(n, nt, nrec)``.
        """
        shots = self.check_shots(shots)
        model = ShotModel(self, self.check_model(model, len(shots), "background model"))
        dmodel = self.check_perturbation(dmodel, len(shots))
        wavelet = self.check_wavelet(wavelet, shots)
        items = [(i, s, wavelet[i]) for i, s in enumerate(shots)]
        return np.stack(self.executor.map(born_task, (model, dmodel), items))

    def born_adjoint(self, model, data, shots=None, reduce=True, fields=None, wavelet=None):
        """Adjoint Born (migration, the FWI gradient) ``J^T data``, summed over the shots.

        ``born_adjoint(model, forward(model) - d)`` is the gradient of
        ``0.5||forward(model) - d||^2`` with respect to every field of the model.
        ``wavelet`` replaces the survey's source wavelets, as in :meth:`born`.

        Returns:
            a dict ``{name: float32 grid.shape}`` (or ``(n, *grid.shape)`` with
            ``reduce=False``) for the names of ``fields`` (default all); a bare array for
            a one-parameter physics.
        """
        shots = self.check_shots(shots)
        data = self.check_data(data, len(shots))
        fields = self.check_fields(fields)
        model = ShotModel(self, self.check_model(model, len(shots)), fields)
        wavelet = self.check_wavelet(wavelet, shots)
        # Each shot's task runs its forward and adjoint back to back: one stored
        # wavefield a worker at a time, not one a shot of the call.
        items = [(i, s, wavelet[i], data[i]) for i, s in enumerate(shots)]
        results = self.executor.map(born_adjoint_task, (model,), items,
                                    remote=(0,) if reduce else ())
        return self._model_gradient(results, fields, reduce)

    def illumination(self, model, shots=None):
        """Source illumination ``sum_shots sum_t u(x, t)^2`` (grid.shape), the diagonal
        pseudo-Hessian used to precondition gradients; computed from a forward run with
        the stored (subsampled) wavefield, shot by shot where the shots run (on Dask, the
        workers sum it)."""
        if self.storage == "checkpointing":
            raise ValueError("illumination needs a stored wavefield: use storage="
                             "'subsampled' or 'full'")
        shots = self.check_shots(shots)
        model = ShotModel(self, self.check_model(model, len(shots)))
        wavelet = self.check_wavelet(None, shots)
        items = [(i, s, wavelet[i], None) for i, s in enumerate(shots)]
        results = self.executor.map(illumination_task, (model, True), items, remote=(0,))
        return self.executor.sum([r[0] for r in results]).astype(np.float32)

    def extended_forward(self, model, weights, shots=None):
        """Extended-source modeling: shot ``s`` fires the distributed source
        ``weights[s](x) * wavelet_s(t)`` (a density: amplitude per unit volume).

        Args:
            model: the model.
            weights: ``(n, *grid.shape)``.

        Returns:
            float32 data ``(n, nt, nrec)``.
        """
        data, _ = self.forward_with_state(model, shots,
                                          weights=checks.finite_array(weights, "weights"),
                                          keep=False)
        return data

    def wavelet_adjoint(self, model, data, shots=None):
        """Adjoint of forward modeling with respect to the source wavelets (modeling is
        linear in them): the adjoint field at the sources, resampled to the survey's axis.

        Returns:
            float32 ``(n, nsrc, nt)``.
        """
        return self._adjoint(model, data, shots, "wavelet")

    def extended_adjoint(self, model, data, shots=None):
        """Adjoint of :meth:`extended_forward` with respect to the weights.

        Returns:
            float32 ``(n, *grid.shape)``.
        """
        return self._adjoint(model, data, shots, "weights")

    def _adjoint(self, model, data, shots, source):
        shots = self.check_shots(shots)
        model = ShotModel(self, self.check_model(model, len(shots)))
        data = self.check_data(data, len(shots))
        wavelet = self.survey.wavelet[shots]
        items = [(i, s, data[i], None, wavelet[i] if source == "weights" else None)
                 for i, s in enumerate(shots)]
        results = self.executor.map(gradient_task, (model, source), items)
        return np.stack([r[1] for r in results])

    # -- one shot's time axis and sources (used by the tasks, wherever they run) ----------
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


class AcousticPropagator(Propagator):
    """Constant-density acoustic modeling of a survey: ``Propagator(grid, survey,
    physics="acoustic", ...)``, with velocities (m/s) as bare arrays in and gradients as
    bare arrays out.

    Physics: ``m u_tt - lap(u) = sum_s delta(x - x_s) w_s(t)`` with ``m = 1/vp^2``.
    Arguments as :class:`Propagator`, without ``physics``.

    Example:
        >>> prop = AcousticPropagator(grid, survey, space_order=8)
        >>> data = prop.forward(vp)                       # (nshots, nt, nrec)
        >>> grad = prop.born_adjoint(vp, data - observed)  # grid.shape
    """

    def __init__(self, grid, survey, space_order=8, absorbing_width=40, free_surface=False,
                 executor=None, storage="subsampled", platform=None, language=None,
                 compiler=None):
        super().__init__(grid, survey, "acoustic", space_order, absorbing_width,
                         free_surface, executor, storage, platform, language, compiler)

    def get_config(self):
        config = super().get_config()
        del config["physics"]
        return config


def from_config(config, executor=None):
    """The propagator a config describes (one without ``physics`` is acoustic)."""
    cls = Propagator if "physics" in config else AcousticPropagator
    return cls.from_config(config, executor=executor)
