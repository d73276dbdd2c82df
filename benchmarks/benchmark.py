"""Speed and memory of keras_seismic's AcousticPropagator on one 2-D shot, against Devito.

The problem: 401 x 201 cells at 10 m, space order 8, 40 absorbing cells on each side, 1.5 s of
data at dt = 2 ms (nt = 751), a 10 Hz Ricker wavelet, one source at (2000 m, 20 m), 401
receivers at 20 m depth (one every grid point in x), and a float32 velocity that grows
linearly with depth from 1500 to 3500 m/s. ``--small`` runs a 101 x 51 version for smoke runs.

Rows (one shot each):

* ``forward``        ``prop.forward(vp)``;
* ``gradient``       ``prop.born_adjoint(vp, residual)``: forward with the wavefield stored
                     every few steps (default ``storage="subsampled"``), then the adjoint;
* ``gradient full``  the same with ``storage="full"`` (every internal step stored);
* ``bare Devito``    a forward operator written here with Devito's own API on the same padded
                     grid, internal ``dt`` and number of steps (from ``prop.time_steps``);
                     built once, and only ``Operator.apply`` is timed;
* ``layer forward``  ``ks.layers.Modeling(prop)([vp, shots], training=False)``, eager;
* ``layer train step`` one training step through the layer: ``tf.GradientTape`` around the
                     layer (``training=True``, forward with the stored wavefield) and the
                     misfit 0.5 * sum((d - d_obs)^2), then ``tape.gradient`` (the adjoint);
* ``deepwave forward`` / ``deepwave train step``: ``deepwave.scalar`` (PyTorch, CPU, float32)
                     on the same cells, source and receivers (grid indices), internal ``dt``
                     and number of steps, space order 8 and a PML as wide as our damping
                     layer (the absorbing physics differ); the train step is forward +
                     ``loss.backward()`` of the same misfit with respect to v.

``--3d`` runs the same rows on a 120^3-cell 3-D problem (20 absorbing cells, 0.5 s, a line
of 120 receivers along x through the source at 20 m depth); ``--3d --small`` on 40^3.

Each row runs in a fresh Python process with a fresh Devito compilation cache, so that its
first call really compiles and its memory is not mixed with the other rows'. The row does
one warm-up call (reported as "first call": code generation + C compilation + run + first
allocation) and then ``--repeat`` timed calls; the table shows their median. For each row:

* Mpts/s: grid-point updates per second = padded points x internal steps x wave solves / time
  (a gradient is two solves, forward and adjoint);
* in apply / in C: the share of the time spent inside ``devito.Operator.apply`` (Devito's
  Python argument handling + the compiled kernel) and inside the compiled kernel alone (the
  sum of the sections of Devito's performance summary). The rest is keras_seismic's Python
  work: validation, padding, resampling, buffer set-up and copies;
* peak memory: the high-water mark of the process's resident set size (RSS) during a call
  minus its RSS just before it, in MiB, for the first call and for the worst timed call;
* others CPU: the share of the machine's CPU that other processes used while the row ran.
  OpenMP kernels that use every core slow down many times over when anything else runs, so
  a row with more than a few % is not to be trusted (a warning is printed at the end).

Usage: ``python benchmarks/benchmark.py [--repeat N] [--small] [--3d]``
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback

# Devito reads these when it is imported (keras_seismic sets the same defaults: plain C
# on one thread, OpenMP on more), so that the bare operator runs as the package's do.
os.environ.setdefault("DEVITO_LANGUAGE",
                      "C" if os.environ.get("OMP_NUM_THREADS", "").strip() == "1" else "openmp")
os.environ.setdefault("DEVITO_LOGGING", "WARNING")

import numpy as np  # noqa: E402

ROWS = ("forward", "gradient", "gradient full", "bare Devito", "layer forward",
        "layer train step", "deepwave forward", "deepwave train step")
PROBLEMS = {
    "full": dict(shape=(401, 201), source=(2000.0, 20.0)),
    "small": dict(shape=(101, 51), source=(500.0, 20.0)),
    # 3-D: 0.5 s of data, 20 absorbing cells, one line of receivers along x through the
    # source (at y = the source's y, 20 m depth), one every grid point.
    "3d": dict(shape=(120, 120, 120), source=(600.0, 600.0, 20.0), absorbing=20, nt=251),
    "3d-small": dict(shape=(40, 40, 40), source=(200.0, 200.0, 20.0), absorbing=20, nt=251),
}
COMMON = dict(spacing=10.0, space_order=8, absorbing=40, dt=0.002, nt=751, f0=10.0,
              rec_depth=20.0, vmin=1500.0, vmax=3500.0)


# -- the problem -----------------------------------------------------------------------------
def make_problem(size, storage="subsampled"):
    """``(prop, vp)`` of the benchmark problem."""
    import keras_seismic as ks

    cfg = dict(COMMON, **PROBLEMS[size])
    shape = cfg["shape"]
    nx, nz = shape[0], shape[-1]
    h = cfg["spacing"]
    grid = ks.Grid(shape=shape, spacing=(h,) * len(shape))
    # One receiver a grid point along x, at the source's y (3-D) and rec_depth.
    receivers = np.stack([np.arange(nx) * h]
                         + [np.full(nx, y) for y in cfg["source"][1:-1]]
                         + [np.full(nx, cfg["rec_depth"])], axis=1)
    wavelet = ks.ricker(cfg["f0"], cfg["dt"], cfg["nt"])
    survey = ks.Survey([cfg["source"]], receivers, cfg["dt"], cfg["nt"], wavelet)
    prop = ks.AcousticPropagator(grid, survey, space_order=cfg["space_order"],
                                 absorbing_width=cfg["absorbing"], storage=storage)
    depth_profile = np.linspace(cfg["vmin"], cfg["vmax"], nz, dtype=np.float32)
    vp = np.ascontiguousarray(np.broadcast_to(depth_profile, shape))
    return prop, vp


def internal_axis(prop, vp):
    """``(dt, steps)`` of the propagator's internal time axis for ``vp``."""
    return prop.time_steps(vp)


# -- memory ------------------------------------------------------------------------------------
def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def rss_bytes():
    try:
        import psutil
        return psutil.Process().memory_info().rss
    except ImportError:
        return _status_kib("VmRSS") * 1024


def _reset_high_water_mark():
    """Reset VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class PeakRSS:
    """Peak RSS during a ``with`` block minus the RSS at its start (``.mib``). Uses the
    kernel's high-water mark, reset at entry; where that cannot be reset, samples the RSS
    every 2 ms from a thread."""

    method = None

    def __enter__(self):
        self.start = rss_bytes()
        self._sampler = None
        if _reset_high_water_mark():
            PeakRSS.method = "VmHWM (reset through /proc/self/clear_refs)"
        else:
            PeakRSS.method = "RSS sampled every 2 ms"
            self._peak, self._stop = self.start, threading.Event()
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.002):
            self._peak = max(self._peak, rss_bytes())

    def __exit__(self, *exc):
        if self._sampler is None:
            peak = _status_kib("VmHWM") * 1024
        else:
            self._stop.set()
            self._sampler.join()
            peak = max(self._peak, rss_bytes())
        self.mib = max(peak - self.start, 0) / 2**20


# -- time inside Devito ------------------------------------------------------------------------
class ApplyClock:
    """Wraps ``devito.Operator.apply`` to add up the wall time spent in it (``.apply``) and
    the time its compiled kernel reports (``.kernel``)."""

    def __init__(self):
        from devito import Operator
        self.apply = self.kernel = 0.0
        original, clock = Operator.apply, self

        def timed_apply(op, **kwargs):
            start = time.perf_counter()
            summary = original(op, **kwargs)
            clock.apply += time.perf_counter() - start
            clock.kernel += sum(entry.time for entry in summary.values())
            return summary

        Operator.apply = timed_apply

    def reset(self):
        self.apply = self.kernel = 0.0


# -- the rows ------------------------------------------------------------------------------
def keras_seismic_row(name, size):
    """``(run, solves, prop, vp)``: a call of the propagator for row ``name``."""
    storage = "full" if name == "gradient full" else "subsampled"
    prop, vp = make_problem(size, storage)
    if name == "forward":
        return (lambda: prop.forward(vp)), 1, prop, vp
    rng = np.random.default_rng(0)
    residual = rng.standard_normal((1, *prop.data_shape)).astype(np.float32)
    return (lambda: prop.born_adjoint(vp, residual)), 2, prop, vp


def layer_row(name, size):
    """``(run, solves, prop, vp)``: a call of ``ks.layers.Modeling`` (eager) for row ``name``:
    a forward with ``training=False``, or a training step (forward with the stored
    wavefield, misfit 0.5 * sum((d - d_obs)^2), ``tape.gradient``: the adjoint)."""
    import tensorflow as tf
    import keras_seismic as ks

    prop, vp = make_problem(size)
    layer = ks.layers.Modeling(prop)
    shots = tf.constant([0], tf.int64)
    if name == "layer forward":
        vp_t = tf.constant(vp[None])
        return (lambda: layer([vp_t, shots], training=False).numpy()), 1, prop, vp
    vp_var = tf.Variable(vp)
    # The observed data do not change the cost; random data keep the residual non-trivial.
    d_obs = tf.constant(np.random.default_rng(0).standard_normal(
        (1, *prop.data_shape)).astype(np.float32) * 1e-3)

    def step():
        with tf.GradientTape() as tape:
            vp_b = tf.broadcast_to(vp_var[None], (1, *vp.shape))
            d = layer([vp_b, shots], training=True)
            loss = 0.5 * tf.reduce_sum(tf.square(d - d_obs))
        return tape.gradient(loss, vp_var).numpy()

    return step, 2, prop, vp


def deepwave_gradient_interval(prop, dt, steps):
    """``(interval, nt)`` for deepwave's train step: ``model_gradient_sampling_interval``
    equal to our storage subsampling factor, and the step count rounded up to a multiple
    of it (deepwave requires one; at most ``interval - 1`` extra steps)."""
    factor = prop.save_factor(dt)
    return factor, -(-steps // factor) * factor


class DeepwaveRow:
    """``deepwave.scalar`` on the same grid (cells), source and receivers (grid indices),
    internal ``dt`` and number of steps as the propagator, with a PML of the same width
    (deepwave's PML is not our damping layer, so the data differ at the boundary), space
    order 8, float32 on the CPU with ``torch.set_num_threads(nproc)``."""

    def __init__(self, name, size):
        import torch
        import deepwave

        torch.set_num_threads(os.cpu_count() or 1)
        self.torch, self.deepwave = torch, deepwave
        self.prop, self.vp = prop, vp = make_problem(size)
        self.train = name == "deepwave train step"
        self.dt, self.steps = dt, steps = internal_axis(prop, vp)
        survey, h = prop.survey, prop.grid.spacing
        wavelet = prop._resampling(steps)[0] @ survey.wavelet[0, 0]
        self.amplitudes = torch.tensor(np.asarray(wavelet, np.float32))[None, None]
        origin = np.asarray(prop.grid.origin)
        index = lambda x: torch.tensor(np.rint((x - origin) / h).astype(np.int64))[None]
        self.src, self.rec = index(survey.sources[0]), index(survey.receivers[0])
        self.interval, self.nt = deepwave_gradient_interval(prop, dt, steps) \
            if self.train else (1, steps)
        self.factor = prop.save_factor(dt)
        # deepwave's CFL check (Courant number vmax dt sqrt(sum 1/h^2), default 0.6) would
        # otherwise split each of our steps in two; allow our (stable) step instead.
        self.courant = 1.001 * float(vp.max()) * dt * np.sqrt(sum(1.0 / hh**2 for hh in h))
        self.v = torch.tensor(vp, requires_grad=self.train)
        self.d_obs = torch.tensor(np.random.default_rng(0).standard_normal(
            (1, survey.nrec, self.nt)).astype(np.float32) * 1e-3)  # (shot, rec, t)

    def _scalar(self):
        return self.deepwave.scalar(
            self.v, float(self.prop.grid.spacing[0]), self.dt,
            source_amplitudes=self.amplitudes, source_locations=self.src,
            receiver_locations=self.rec, accuracy=8,
            pml_width=self.prop.absorbing_width, pml_freq=float(COMMON["f0"]),
            courant_number=self.courant, nt=self.nt,
            model_gradient_sampling_interval=self.interval if self.train else 1)

    def run(self):
        if not self.train:
            with self.torch.no_grad():
                out = self._scalar()
            self.info = out.info
            return out.receiver_amplitudes
        self.v.grad = None
        out = self._scalar()
        self.info = out.info
        loss = 0.5 * ((out.receiver_amplitudes - self.d_obs) ** 2).sum()
        loss.backward()
        return self.v.grad


def bare_devito_forward(prop, vp):
    """A plain Devito forward operator on the propagator's padded grid and time axis.

    Returns ``(op, fields, dt, steps)``; run it with ``op.apply(time_m=0,
    time_M=steps - 1, dt=dt)`` after zeroing ``fields["u"]``."""
    from devito import (Function, Grid, Operator, SparseTimeFunction, TimeFunction, Eq,
                        solve)

    pad, h, so = prop.padding, prop.grid.spacing, prop.space_order
    dt, steps = internal_axis(prop, vp)
    shape = pad.padded_shape
    origin = tuple(-lo * hh for lo, hh in zip(pad.lower, h))
    grid = Grid(shape=shape, extent=tuple((n - 1) * hh for n, hh in zip(shape, h)),
                origin=origin, dtype=np.float32)

    m = Function(name="m", grid=grid, space_order=so)
    m.data[:] = np.pad(1.0 / vp**2, list(zip(pad.lower, pad.upper)), mode="edge")
    damp = Function(name="damp", grid=grid, space_order=so)
    damp.data[:] = pad.damping(h)  # the propagator's absorbing profile, for equal physics
    u = TimeFunction(name="u", grid=grid, time_order=2, space_order=so)

    survey = prop.survey
    src = SparseTimeFunction(name="src", grid=grid, npoint=1, nt=steps,
                             coordinates=survey.sources[0])
    fine_t = np.arange(steps) * dt
    coarse_t = np.arange(survey.nt) * survey.dt
    src.data[:, 0] = np.interp(fine_t, coarse_t, survey.wavelet[0, 0]) / np.prod(h)
    rec = SparseTimeFunction(name="rec", grid=grid, npoint=survey.nrec, nt=steps,
                             coordinates=survey.receivers[0])

    pde = m * u.dt2 - u.laplace + damp * u.dtc
    stencil = Eq(u.forward, solve(pde, u.forward))
    # The source term q enters the update as q * dt^2 / m (no damping at the source).
    inject = src.inject(field=u.forward, expr=src * grid.stepping_dim.spacing**2 / m)
    record = rec.interpolate(expr=u)
    op = Operator([stencil] + inject + record, name="bare_forward")
    return op, dict(u=u, rec=rec), dt, steps


class BareDevitoRow:
    """The bare Devito row: ``build()`` makes the operator (part of the first call),
    ``prepare()`` zeroes the wavefield (untimed), ``run()`` applies the operator."""

    def __init__(self, size):
        self.prop, self.vp = make_problem(size)

    def build(self):
        self.op, self.fields, self.dt, self.steps = bare_devito_forward(self.prop, self.vp)

    def prepare(self):
        self.fields["u"].data_with_halo[:] = 0.0

    def run(self):
        self.op.apply(time_m=0, time_M=self.steps - 1, dt=self.dt)

    def data_difference(self):
        """Max relative difference between this operator's and the propagator's data."""
        _, to_survey = self.prop._resampling(self.steps)
        ours = to_survey @ np.asarray(self.fields["rec"].data[:self.steps])
        theirs = self.prop.forward(self.vp)[0]
        return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


def measure(run, repeat, clock, prepare=None, build=None):
    """Warm-up (``build`` + first ``run``) then ``repeat`` timed runs: a dict of times,
    time shares inside Devito and peak memory."""
    prepare = prepare or (lambda: None)
    with PeakRSS() as first_mem:
        start = time.perf_counter()
        if build:
            build()
        prepare()
        run()
        first = time.perf_counter() - start
    times, peaks, clock_apply, clock_kernel = [], [], [], []
    for _ in range(repeat):
        prepare()
        clock.reset()
        with PeakRSS() as mem:
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        peaks.append(mem.mib)
        clock_apply.append(clock.apply / times[-1])
        clock_kernel.append(clock.kernel / times[-1])
    return dict(first=first, median=statistics.median(times), times=times,
                in_apply=statistics.median(clock_apply),
                in_kernel=statistics.median(clock_kernel),
                mem_first=first_mem.mib, mem_steady=max(peaks),
                mem_method=PeakRSS.method)


def run_row(name, size, repeat):
    """Everything about one row, as a JSON-able dict (runs in its own process)."""
    import keras_seismic  # noqa: F401  (sets Devito's environment before devito loads)
    clock = ApplyClock()
    extra = {}
    if name == "bare Devito":
        row = BareDevitoRow(size)
        prop, vp, solves = row.prop, row.vp, 1
        result = measure(row.run, repeat, clock, row.prepare, row.build)
        # Sanity check: the same physics as the propagator, so the same data.
        extra["data_rel_diff"] = row.data_difference()
    elif name.startswith("layer"):
        run, solves, prop, vp = layer_row(name, size)
        result = measure(run, repeat, clock)
    elif name.startswith("deepwave"):
        row = DeepwaveRow(name, size)
        prop, vp, solves = row.prop, row.vp, 1 + row.train
        result = measure(row.run, repeat, clock)
        result["in_apply"] = result["in_kernel"] = None  # not Devito
        info = row.info
        extra.update(dw_step_ratio=info.step_ratio, dw_courant=float(info.courant_number),
                     dw_interval=row.interval, save_factor=row.factor, dw_nt=row.nt,
                     dw_version=row.deepwave.__version__,
                     dw_backend=f"{info.backend}/{info.backward_backend}",
                     torch_threads=row.torch.get_num_threads())
    else:
        run, solves, prop, vp = keras_seismic_row(name, size)
        result = measure(run, repeat, clock)
        if solves == 2:  # what the gradient stores, from one more (untimed) forward
            _, state = prop.forward_with_state(vp)
            extra["stored_mib"] = state.nbytes / 2**20
            extra["save_factor"] = state.stored[0].factor
            state.release()
    dt, steps = internal_axis(prop, vp)
    points = int(np.prod(prop.padding.padded_shape))
    result.update(extra, solves=solves, points=points, steps=steps, dt=dt,
                  shape=prop.padding.padded_shape,
                  mpts=points * steps * solves / result["median"] / 1e6)
    return result


# -- the parent: one process a row, then the table ----------------------------------------
def machine_busy_seconds():
    """CPU seconds the whole machine has spent busy since boot (Linux), or None."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def machine_busy_fraction(seconds=1.0):
    """Share of the machine's CPU in use over the next ``seconds``, or None."""
    busy0 = machine_busy_seconds()
    time.sleep(seconds)
    busy1 = machine_busy_seconds()
    if busy0 is None:
        return None
    return (busy1 - busy0) / (seconds * (os.cpu_count() or 1))


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def size_flags(size):
    return {"full": [], "small": ["--small"], "3d": ["--3d"],
            "3d-small": ["--3d", "--small"]}[size]


def set_3d_cells(n):
    """Use an n^3-cell 3-D problem (source at the centre in x and y, 20 m deep)."""
    c = (n // 2) * COMMON["spacing"]
    PROBLEMS["3d"].update(shape=(n, n, n), source=(c, c, 20.0))


def run_in_subprocess(name, size, repeat):
    """Run one row in a fresh interpreter with an empty Devito cache; its result dict, with
    ``others``: the share of the machine's CPU that other processes used meanwhile."""
    cache = tempfile.mkdtemp(prefix="ks-bench-")
    env = dict(os.environ, TMPDIR=cache)
    cmd = [sys.executable, os.path.abspath(__file__), "--row", name, "--repeat",
           str(repeat)] + size_flags(size) + (
               ["--cells", str(PROBLEMS["3d"]["shape"][0])] if size == "3d" else [])
    busy0, ours0, wall0 = machine_busy_seconds(), children_cpu_seconds(), time.time()
    try:
        out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, check=True)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    busy1, ours1, wall1 = machine_busy_seconds(), children_cpu_seconds(), time.time()
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    result = json.loads(lines[-1][len("RESULT "):])
    if busy0 is not None:
        others = (busy1 - busy0) - (ours1 - ours0)
        result["others"] = max(others, 0.0) / ((wall1 - wall0) * (os.cpu_count() or 1))
    return result


def machine_header(size, repeat):
    import devito
    from devito import configuration

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    omp = os.environ.get("OMP_NUM_THREADS")
    compiler = configuration["compiler"]
    cfg = dict(COMMON, **PROBLEMS[size])
    load = os.getloadavg()
    busy_now = machine_busy_fraction()
    try:
        import deepwave
        import torch
        others = f"deepwave {deepwave.__version__}, torch {torch.__version__}"
    except ImportError:
        others = "deepwave not installed"
    return "\n".join([
        f"keras_seismic benchmark ({size}): {'x'.join(map(str, cfg['shape']))} cells at "
        f"{cfg['spacing']:g} m, space order {cfg['space_order']}, {cfg['absorbing']} "
        f"absorbing cells, nt={cfg['nt']} at dt={cfg['dt'] * 1e3:g} ms, {cfg['f0']:g} Hz "
        f"Ricker, vp {cfg['vmin']:g}-{cfg['vmax']:g} m/s, 1 shot",
        f"machine: nproc={os.cpu_count()}, CPU {cpu}, OMP_NUM_THREADS="
        f"{omp if omp else 'unset (keras_seismic sets it to nproc)'}, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, CPU busy before the start: "
        + ("n/a" if busy_now is None else f"{busy_now:.0%}"),
        f"devito {devito.__version__}, language {configuration['language']}, compiler "
        f"{compiler.cc} {compiler.version}, platform {configuration['platform']}; "
        f"{others}",
        f"timing: median of {repeat} calls after one warm-up call; each row in a fresh "
        f"process with an empty Devito cache",
    ])


def format_table(results):
    head = (f"{'row':<19} {'first call':>10} {'median':>8} {'solves':>6} {'Mpts/s':>8} "
            f"{'in apply':>8} {'in C':>6} {'peak MiB':>9} {'peak MiB':>9} {'others':>6}")
    sub = f"{'':<19} {'s':>10} {'s':>8} {'':>6} {'':>8} {'':>8} {'':>6} " \
          f"{'1st call':>9} {'timed':>9} {'CPU':>6}"
    lines = [head, sub, "-" * len(head)]
    for name, r in results.items():
        if "error" in r:
            lines.append(f"{name:<19} FAILED: {r['error'][:200]}")
            continue
        others = f"{r['others']:.0%}" if "others" in r else "n/a"
        in_apply = "n/a" if r["in_apply"] is None else f"{r['in_apply']:.1%}"
        in_kernel = "n/a" if r["in_kernel"] is None else f"{r['in_kernel']:.1%}"
        lines.append(
            f"{name:<19} {r['first']:>10.2f} {r['median']:>8.3f} {r['solves']:>6d} "
            f"{r['mpts']:>8.0f} {in_apply:>8} {in_kernel:>6} "
            f"{r['mem_first']:>9.1f} {r['mem_steady']:>9.1f} {others:>6}")
    return "\n".join(lines)


def format_notes(results):
    results = {name: r for name, r in results.items() if "error" not in r}
    if not results:
        return "no row ran"
    some = next(iter(results.values()))
    notes = [
        f"padded grid {'x'.join(map(str, some['shape']))} = {some['points']} points, "
        f"internal dt {some['dt'] * 1e3:.4g} ms, {some['steps']} steps; "
        f"Mpts/s = points x steps x solves / median",
        f"peak MiB: resident-set high-water mark during a call minus the RSS just before it; "
        f"method: {some['mem_method']}",
        "others CPU: share of the machine's CPU used by other processes while the row ran "
        "(anything above a few % makes OpenMP timings unreliable)",
    ]
    for name in ("gradient", "gradient full"):
        if name in results:
            r = results[name]
            notes.append(f"{name}: wavefield stored every {r['save_factor']} step(s), "
                         f"{r['stored_mib']:.1f} MiB")
    for name in ("deepwave forward", "deepwave train step"):
        if name in results:
            r = results[name]
            notes.append(
                f"{name}: deepwave {r['dw_version']} ({r['dw_backend']} backend), "
                f"torch threads {r['torch_threads']}, same internal dt and steps "
                f"(step_ratio {r['dw_step_ratio']}, Courant number {r['dw_courant']:.3f}), "
                f"a PML of the same width (not our damping layer: the "
                f"boundary physics differ)" + (
                    "" if r["solves"] == 1 else
                    f", model_gradient_sampling_interval {r['dw_interval']} (= our "
                    f"subsampling factor {r['save_factor']}), {r['dw_nt']} steps (deepwave "
                    f"needs a multiple of the interval)"))
    if "bare Devito" in results:
        notes.append(f"bare Devito vs propagator forward data: max relative difference "
                     f"{results['bare Devito']['data_rel_diff']:.1e}")
    return "\n".join(notes)


def format_ratios(results):
    results = {name: r for name, r in results.items() if "error" not in r}

    def ratio(a, b):
        return results[a]["median"] / results[b]["median"]

    rows = [("propagator forward / bare Devito forward", "forward", "bare Devito", 1.1),
            ("gradient / forward", "gradient", "forward", 2.5),
            ("full-storage gradient / forward", "gradient full", "forward", None),
            ("layer forward / bare Devito forward", "layer forward", "bare Devito", 1.1),
            ("layer train step / layer forward", "layer train step", "layer forward", 2.5),
            ("layer forward / deepwave forward", "layer forward", "deepwave forward", None),
            ("layer train step / deepwave train step", "layer train step",
             "deepwave train step", 0.5)]
    lines = []
    for label, a, b, target in rows:
        if a in results and b in results:
            value = ratio(a, b)
            verdict = "" if target is None else \
                f"  (target <= {target}: {'met' if value <= target else 'MISSED'})"
            lines.append(f"{label:<42} {value:5.2f}{verdict}")
        else:
            lines.append(f"{label:<42}   n/a  (a row failed)")
    others = max((r.get("others", 0.0) for r in results.values()), default=0.0)
    if others > 0.05:
        lines.append(f"WARNING: other processes used up to {others:.0%} of the CPU during "
                     f"the rows; rerun on an idle machine before trusting these numbers")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed calls a row (default 3)")
    parser.add_argument("--small", action="store_true",
                        help="quick variant: 101x51 (2-D) or 40^3 (3-D)")
    parser.add_argument("--3d", dest="three_d", action="store_true",
                        help="3-D problem: 120^3 cells, 20 absorbing cells, 0.5 s")
    parser.add_argument("--cells", type=int, help="--3d with N^3 cells instead of 120^3")
    parser.add_argument("--row", choices=ROWS, help=argparse.SUPPRESS)  # internal
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.cells:
        set_3d_cells(args.cells)
    size = ("3d-small" if args.small else "3d") if args.three_d else \
        ("small" if args.small else "full")

    if args.row:  # child process: one row, result (or its error) on stdout
        try:
            result = run_row(args.row, size, args.repeat)
        except Exception as error:  # a failing row must not hide the others
            traceback.print_exc()
            result = {"error": f"{type(error).__name__}: {error}"}
        print("RESULT " + json.dumps(result), flush=True)
        return

    print(machine_header(size, args.repeat), flush=True)
    results = {}
    for name in ROWS:
        print(f"  running {name} ...", file=sys.stderr, flush=True)
        results[name] = run_in_subprocess(name, size, args.repeat)
    print()
    print(format_table(results))
    print()
    print(format_notes(results))
    print()
    print(format_ratios(results))


if __name__ == "__main__":
    main()
