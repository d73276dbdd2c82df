"""Running the kernels on numpy arrays: the operator cache, reusable buffers, and the pool of
stored forward wavefields.

Everything here works on the *padded* grid and the *internal* time axis; coordinates are in
metres from the padded grid's first point. The propagator translates.
"""
import math
import os
import threading
import weakref
from collections import Counter

import numpy as np
from devito import DevitoCheckpoint, Grid, TimeFunction

from . import fields as kernels
from .registry import get
from .target import Target

# Devito's OpenMP uses every core for one solve; two such solves at once slow each other
# down 20-30x, so this process runs one at a time (shots in parallel go to Dask workers).
CORES = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1))
_RUN_LOCK = threading.RLock()
# Building operators concurrently fails in Devito 4.8.
_BUILD_LOCK = threading.Lock()
_OPERATORS = {}
BUILDS = Counter()  # operator builds by kind: tests use it to prove that nothing rebuilds


def _operator(key, build, target):
    """The compiled operator for ``key``, built (under the lock) on first use only."""
    op = _OPERATORS.get(key)
    if op is None:
        with _BUILD_LOCK:
            op = _OPERATORS.get(key)
            if op is None:
                try:
                    op = build()
                    op.cfunction  # compile now, under the lock
                except Exception as err:  # a missing GPU compiler, say: name the target
                    raise RuntimeError(f"could not build the {key[0]} kernel for {target}: "
                                       f"{err}{target.hint}") from err
                _OPERATORS[key] = op
                BUILDS[key[0]] += 1
    return op


def _wavefields(op):
    """``(name, time_order)`` of the wavefields, memory variables and scratch fields that
    operator ``op`` computes (cached on it): all but the stored copies and sparse points."""
    found = getattr(op, "_wavefield_names", None)
    if found is None:
        found = op._wavefield_names = tuple(
            (p.name, p.time_order) for p in op.parameters
            if isinstance(p, TimeFunction) and p.save is None and not p.is_SparseFunction)
    return found


def _known(op, args):
    """The arguments among ``args`` that operator ``op`` takes (their names are cached on
    it)."""
    names = getattr(op, "_argument_names", None)
    if names is None:
        names = op._argument_names = {p.name for p in op.parameters}
    return {k: v for k, v in args.items() if k in names}


class StoredWavefield:
    """The forward wavefields of one shot kept for a gradient (those the physics' imaging
    conditions read, ``functions``), every ``factor``-th internal step. Hand it to
    :meth:`WaveSolver.adjoint`; :meth:`release` returns its memory to the pool, and so
    does dropping the last reference to it. A copy made by pickling (to another process)
    owns its memory and has no pool."""

    def __init__(self, functions, factor, pool=None):
        self.functions, self.factor = tuple(functions), factor
        # weakref.finalize, not __del__: the finalizer holds the buffers, so the buffers are
        # never garbage themselves. A __del__ that handed them back to the pool could run in
        # the same garbage-collection pass (a wavefield caught in a reference cycle, say a
        # traceback's) as the finaliser of the buffers' own data, which frees it: the pool
        # would then hand out freed memory, and the heap corruption abort the process later,
        # in whichever thread next collected garbage.
        self._finalizer = None
        if pool is not None:
            self._finalizer = weakref.finalize(self, pool.put, self.functions)
            self._finalizer.atexit = False

    @property
    def nbytes(self):
        return sum(f.data.nbytes for f in self.functions)

    def release(self):
        if self._finalizer is not None:
            self._finalizer()  # runs once, however often it is called
        self.functions = ()

    def __getstate__(self):
        return {"functions": self.functions, "factor": self.factor}

    def __setstate__(self, state):
        self.__init__(state["functions"], state["factor"])


class Source:
    """What one shot fires, on the padded grid and the internal time axis: point sources
    at ``coords`` (nsrc, ndim) with right-hand-side ``samples`` (N, nsrc), or the extended
    source ``weights(x) * wavelet(t)``, weights (padded shape) and wavelet (N,)."""

    def __init__(self, coords=None, samples=None, weights=None, wavelet=None):
        self.coords, self.samples, self.weights, self.wavelet = coords, samples, weights, \
            wavelet

    @property
    def extended(self):
        return self.weights is not None

    @property
    def nsteps(self):
        return len(self.wavelet) if self.extended else len(self.samples)


class Recompute:
    """Kept instead of a wavefield under checkpointing: the shot's source, from which the
    gradient recomputes the forward field (pyrevolve)."""

    nbytes = 0

    def __init__(self, source):
        self.source = source

    def release(self):
        pass


class _StepCheckpoint(DevitoCheckpoint):
    """The state pyrevolve saves before step ``t``: the time slots that iteration ``t`` of
    our kernels reads, ``u[t]`` and ``u[t-1]`` of a wavefield, ``r[t]`` of a memory
    variable (Devito's own class saves ``t+1`` and ``t``, for kernels that start one step
    later)."""

    def get_data(self, timestep):
        return [f._data[(timestep - i) % f.time_size] for f in self.objects
                for i in range(f.time_order)]


class _Pool:
    """Idle stored-wavefield buffers, reused so that training does not allocate (and page
    in) a full-size buffer at every step. At most ``keep`` idle buffers are held in all,
    the oldest dropped first, so buffers of sizes no longer used do not pile up."""

    def __init__(self, keep=4):
        # Re-entrant: a dropped wavefield's finaliser may run (garbage collection) in the
        # middle of take() or put() on the same thread.
        self._free, self._lock, self._keep = [], threading.RLock(), keep

    def take(self, key, make):
        with self._lock:
            for i, (k, functions) in enumerate(self._free):
                if k == key:
                    del self._free[i]
                    return functions
        return make()

    def put(self, functions):
        """Take back stored fields; their key is as :meth:`WaveSolver._stored` makes it."""
        f = functions[0]
        key = (tuple(g.name for g in functions), f.shape, f.dimensions[0].factor,
               f.space_order)
        with self._lock:
            self._free.append((key, functions))
            del self._free[:-self._keep]


class WaveSolver:
    """One-shot runs of a wave equation's kernels for a fixed configuration.

    Media are dicts of the equation's kernel fields on the padded grid (for acoustics
    ``{"m": squared slowness}``), float32; ``damp`` is the absorbing layer's damping.

    Args:
        ndim: 2 or 3.
        spacing: grid spacing in metres, one per axis.
        space_order: even finite-difference order.
        surface: z index of the free surface in the padded grid, or None.
        target: the :class:`Target` (platform, language, compiler) of the operators;
            None for Devito's configuration.
        physics: the name of the wave equation (see registry.py).
    """

    _pool = _Pool()

    def __init__(self, ndim, spacing, space_order, surface, target=None,
                 physics="acoustic"):
        self.equation = get(physics, ndim)
        self.ndim, self.spacing = ndim, tuple(float(h) for h in spacing)
        self.space_order, self.surface = int(space_order), surface
        self.target = target if target is not None else Target()
        self._grids, self._buffers, self._views = {}, {}, {}

    # -- cached devito objects ------------------------------------------------------------
    def _config(self, kind, *flags):
        return (kind, flags, self.equation.name, self.ndim, self.space_order, self.spacing,
                "float32", self.surface, self.target.key)

    def _op(self, kind, *flags):
        builders = {"forward": self.equation.forward_operator,
                    "born": self.equation.born_operator,
                    "adjoint": self.equation.adjoint_operator}
        # A tiny template grid: operators run on grids of any shape with the same spacing.
        template = self._grid((self.space_order + 4,) * self.ndim)
        return _operator(self._config(kind, *flags),
                         lambda: builders[kind](template, self.space_order, self.surface,
                                                *flags, **self.target.operator_options),
                         self.target)

    def _grid(self, shape):
        if shape not in self._grids:
            extent = tuple((n - 1) * h for n, h in zip(shape, self.spacing))
            self._grids[shape] = Grid(shape=shape, extent=extent, dtype=np.float32)
        return self._grids[shape]

    def _buffer(self, make, name, shape, *sizes, tag=""):
        """A reusable Devito object ``make(grid, ..., name, *sizes)``, zeroed."""
        key = (name, tag, shape) + sizes
        if key not in self._buffers:
            grid = self._grid(shape)
            if make in (kernels.wavefield, kernels.parameter):
                buf = make(grid, self.space_order, name, *sizes)
            else:
                buf = make(grid, name, *sizes)
            self._buffers[key] = buf
            # Plain numpy views of its memory: indexing Devito's own Data objects costs
            # some 0.3 ms a call, 4 ms over the ten a solve makes (7% of a 0.06 s solve).
            self._views[id(buf)] = np.asarray(buf.data)
            self._views[id(buf), "halo"] = np.asarray(buf.data_with_halo)
            if make is kernels.sparse:
                self._views[id(buf), "coordinates"] = np.asarray(buf.coordinates.data)
        buf = self._buffers[key]
        self._views[id(buf), "halo"][...] = 0.0
        return buf

    def values(self, buf, part=None):
        """The numpy view of a buffer's data (or of its ``part``: "coordinates")."""
        return self._views[id(buf) if part is None else (id(buf), part)]

    def _points(self, name, shape, coords, values, nsteps, tag=""):
        """A sparse function with ``coords`` (npoint, ndim) and, if given, ``values``
        (nsteps, npoint) in its first ``nsteps`` slots (one extra, zero, slot at the end);
        ``tag`` asks for a second buffer of the same name."""
        sf = self._buffer(kernels.sparse, name, shape, len(coords), nsteps + 1, tag=tag)
        self.values(sf, "coordinates")[:] = coords
        if values is not None:
            self.values(sf)[:nsteps] = values
        return sf

    def _field(self, name, value, halo=False):
        """The parameter buffer ``name`` holding ``value`` (padded shape); with ``halo``,
        the edge values fill its halo too, as if the padded grid went on (the stencil of
        a point near the edge then sees the medium it is in)."""
        f = self._buffer(kernels.parameter, name, value.shape)
        if halo:
            view = self.values(f, "halo")
            width = [((h - n) // 2,) * 2 for h, n in zip(view.shape, value.shape)]
            view[:] = np.pad(value, width, mode="edge")
        else:
            self.values(f)[:] = value
        return f

    def _media(self, media, damp):
        args = {name: self._field(name, value, halo=True) for name, value in media.items()}
        args["damp"] = self._field("damp", damp, halo=True)
        return args

    def _complete(self, op, args, shape):
        """``args`` with a zeroed buffer for each wavefield of ``op`` not in it, and the
        fields of the time step's coefficients, which ``op`` computes (see Mass)."""
        for name, order in _wavefields(op):
            if name not in args:
                args[name] = self._buffer(kernels.wavefield, name, shape, order)
        for name in kernels.Mass.COEFFICIENTS + self.equation.coefficients:
            if name not in args:
                args[name] = self._buffer(kernels.parameter, name, shape)
        return args

    def _run(self, op, nsteps, dt, **args):
        # Media an operator does not read (e.g. the solved rows, which only the density
        # imaging uses) are left out: Devito refuses arguments it does not know.
        with _RUN_LOCK:
            self._complete(op, args, args["damp"].shape)
            op.apply(time_m=0, time_M=nsteps, dt=dt, **_known(op, args))

    # -- the operators -------------------------------------------------------------------
    def _forward_args(self, media, damp, rec_coords, source, rec_tag=""):
        shape, nsteps = damp.shape, source.nsteps
        args = self._media(media, damp)
        args["rec"] = self._points("rec", shape, rec_coords, None, nsteps, rec_tag)
        if source.extended:
            args["weights"] = self._field("weights", source.weights)
            args["wavelet"] = self._buffer(kernels.trace, "wavelet", shape, nsteps + 1)
            self.values(args["wavelet"])[:nsteps] = source.wavelet
        else:
            args["src"] = self._points("src", shape, source.coords, source.samples, nsteps)
        return args

    def forward(self, media, damp, dt, rec_coords, source, save=None):
        """Nonlinear modeling of one shot.

        Args:
            media, damp: the kernel fields and the damping (padded shape).
            dt: internal time step (s).
            rec_coords: (nrec, ndim) receiver positions.
            source: the shot's :class:`Source`.
            save: what to keep for a gradient: None, a factor f (every f-th step of the
                wavefield), or ``"checkpoint"`` (nothing: the gradient recomputes the
                forward field with pyrevolve checkpointing).

        Returns:
            ``(rec, stored)``: (N, nrec) receiver samples and what was kept (or None).
        """
        nsteps = source.nsteps
        with _RUN_LOCK:
            args = self._forward_args(media, damp, rec_coords, source)
            stored = None
            if save == "checkpoint":
                stored = Recompute(source)
            elif save:
                stored = self._stored(damp.shape, nsteps, save)
                args.update({f.name: f for f in stored.functions})
                args[kernels.SAVE_DIM + "f"] = save
            self._run(self._op("forward", save not in (None, "checkpoint"),
                               source.extended), nsteps, dt, **args)
            return self.values(args["rec"])[:nsteps].copy(), stored

    def born(self, media, damp, dt, rec_coords, src_coords, src, perturbation):
        """Linearised data (N, nrec) for a perturbation of kernel fields,
        ``{"d" + field: padded array}`` (e.g. ``{"dm": ...}``); a field left out is not
        perturbed. One operator serves every subset (each variant would take seconds to
        build), so an unperturbed field costs its share of the run."""
        nsteps, shape = len(src), damp.shape
        fields = self.equation.kernel_fields(self.equation.linearised)
        with _RUN_LOCK:
            args = self._media(media, damp)
            args.update({"d" + f: self._buffer(kernels.parameter, "d" + f, shape)
                         for f in fields})
            args.update({name: self._field(name, value)
                         for name, value in perturbation.items()})
            args["src"] = self._points("src", shape, src_coords, src, nsteps)
            args["rec"] = self._points("rec", shape, rec_coords, None, nsteps)
            self._run(self._op("born"), nsteps, dt, **args)
            return self.values(args["rec"])[:nsteps].copy()

    def adjoint(self, media, damp, dt, rec_coords, data, stored=None, src_coords=None,
                wavelet=None, fields=("m",)):
        """Adjoint modeling of one shot: ``data`` (N, nrec) injected at the receivers.

        Args:
            stored: what the shot's forward run kept (a StoredWavefield or a Recompute);
                if given, returns the image ``d<data, J dk>/d(dk)`` of each kernel field
                ``k`` of ``fields`` on the padded grid (exact for full storage and for
                checkpointing).
            src_coords: (nsrc, ndim): if given, returns the adjoint field at the sources,
                (N, nsrc): the transpose of point-source injection.
            wavelet: (N,): if given, returns the correlation of the adjoint field with
                it on the padded grid: the transpose of the extended source.

        Returns:
            dict with keys among ``images`` (a dict by kernel field), ``sources``,
            ``weights``.
        """
        nsteps, shape = len(data), damp.shape
        sources, extended = src_coords is not None, wavelet is not None
        image = None if stored is None or not fields else \
            "wavefield" if isinstance(stored, Recompute) else "stored"
        fields = tuple(fields) if image else ()
        with _RUN_LOCK:
            args = self._media(media, damp)
            args["rec"] = self._points("rec", shape, rec_coords, data, nsteps)
            scratch = self.equation.scratch if fields else ()
            for name in ["grad_" + f for f in fields] + list(scratch):
                args[name] = self._buffer(kernels.parameter, name, shape)
            if image == "stored":
                if not stored.functions:
                    raise ValueError("the stored wavefield was already released")
                args.update({f.name: f for f in stored.functions})
                args[kernels.SAVE_DIM + "f"] = stored.factor
            if sources:
                args["srcadj"] = self._points("srcadj", shape, src_coords, None, nsteps)
            if extended:
                args["wadj"] = self._buffer(kernels.parameter, "wadj", shape)
                args["wavelet"] = self._buffer(kernels.trace, "wavelet", shape, nsteps + 1)
                self.values(args["wavelet"])[:nsteps] = wavelet
            adjoint = self._op("adjoint", image, sources, extended, fields)
            if image == "wavefield":
                self._revolve(adjoint, args, media, damp, dt, rec_coords, stored.source)
            else:
                self._run(adjoint, nsteps, dt, **args)
            out = {}
            if image:
                factor = np.float32(1 if image == "wavefield" else stored.factor)
                out["images"] = {f: self.values(args["grad_" + f]) * factor for f in fields}
            if sources:
                out["sources"] = self.values(args["srcadj"])[:nsteps].copy()
            if extended:
                out["weights"] = self.values(args["wadj"]).copy()
            return out

    def _revolve(self, adjoint, adjoint_args, media, damp, dt, rec_coords, source):
        """Run ``adjoint`` while pyrevolve recomputes the forward field from ~sqrt(N)
        checkpoints, so memory does not grow with the number of time steps."""
        from devito import CheckpointOperator, Revolver

        nsteps = source.nsteps
        # The forward run records into its own receiver buffer: the adjoint's holds data.
        forward_args = self._forward_args(media, damp, rec_coords, source, rec_tag="replay")
        # Explicit time bounds: pyrevolve's step i must be Devito's iteration i.
        bounds = dict(dt=dt, time_m=0, time_M=nsteps)
        forward_op = self._op("forward", False, source.extended)
        self._complete(forward_op, forward_args, damp.shape)
        state = [forward_args[name] for name, order in _wavefields(forward_op) if order]
        forward = CheckpointOperator(forward_op, **bounds, **_known(forward_op, forward_args))
        # The adjoint reads the forward wavefields that the forward replay computes.
        adjoint_args.update({f.name: f for f in state})
        self._complete(adjoint, adjoint_args, damp.shape)
        reverse = CheckpointOperator(adjoint, **bounds, **_known(adjoint, adjoint_args))
        ncheckpoints = max(2, math.ceil(math.sqrt(nsteps + 1)))
        revolver = Revolver(_StepCheckpoint(state), forward, reverse, ncheckpoints,
                            nsteps + 1)
        revolver.apply_forward()
        revolver.apply_reverse()

    def _stored(self, shape, nsteps, factor):
        # Devito addresses steps 0..nsteps, i.e. save slots 0..ceil(nsteps / factor).
        nsave = -(-nsteps // factor) + 1
        halo = self.space_order if self.equation.stored_halo else 0
        names = self.equation.stored
        functions = self._pool.take(
            (tuple(n + "save" for n in names), (nsave,) + shape, factor, halo),
            lambda: kernels.stored_fields(self._grid(shape), names, nsave, factor, halo))
        return StoredWavefield(functions, factor, self._pool)
