"""Shots on a Dask cluster: :class:`DaskExecutor` runs one task a shot on a
``dask.distributed`` cluster, under the executor protocol of
:mod:`keras_seismic.propagator.local` (which also holds the default, in-process executor,
re-exported here).
"""
import hashlib
import io
import os
import pickle
import socket
import threading
import time
import uuid
import warnings
import weakref
from collections import OrderedDict, Counter, defaultdict

import numpy as np

from .propagator.local import Handle, InProcessExecutor, Progress, sum_local

__all__ = ["InProcessExecutor", "DaskExecutor", "PendingMap", "RemoteResult", "local_client"]


# -- the Dask executor ---------------------------------------------------------------------
class DaskExecutor:
    """Runs shots on a Dask cluster, one task a shot.

    How a call runs:

    * ``shared`` (the propagator and the velocity model) is scattered once to one worker;
      every other worker fetches it from a peer when its first task of the call starts, so
      each worker receives it once a call. The propagator travels as its config, and each
      worker keeps the propagators it has rebuilt (keyed by config), so its compiled
      Devito operators and work buffers serve every later task and call.
    * The tasks of shots are spread round-robin over the workers (a loose restriction, so
      Dask may still move them, e.g. when a worker dies or idles).
    * Stored forward wavefields stay on the worker that computed them: the result holds a
      :class:`RemoteResult` instead. A task that reads one is placed on the worker that
      holds it. If that worker died, Dask runs the forward task again elsewhere; if even
      the data it was computed from is gone, this executor submits it again.
    * Summed gradients are added on the workers by a tree of pairwise sums.
    * A task that raises is retried ``retries`` times; a task lost with its worker is run
      again elsewhere (up to Dask's ``distributed.scheduler.allowed-failures`` deaths a
      task); a call whose inputs were lost with the workers holding them is submitted
      again (up to ``retries`` times).

    Each worker should give Devito its own cores: one worker a node with
    ``OMP_NUM_THREADS`` = cores of the node, or ``n`` workers a node with
    ``OMP_NUM_THREADS`` = cores / ``n``. Dask's nanny sets ``OMP_NUM_THREADS=1`` unless
    told otherwise. See ``docs/distributed.md`` and :func:`local_client`.

    Args:
        client: a ``dask.distributed.Client``.
        retries: how many times a task that raises, or a call whose inputs were lost, is
            tried again.
        progress: show a progress bar on stderr for calls of at least this many shots
            (None: never; the Dask dashboard shows the tasks too).
        check: warn at construction if the connected workers oversubscribe a host's cores
            (see :meth:`check_workers`).

    Example:
        >>> from dask.distributed import Client
        >>> client = Client("tcp://scheduler:8786")
        >>> prop = ks.AcousticPropagator(grid, survey, executor=DaskExecutor(client))
    """

    def __init__(self, client, retries=3, progress=None, check=True):
        if not hasattr(client, "submit") or not hasattr(client, "scatter"):
            raise TypeError(f"client must be a dask.distributed.Client; got "
                            f"{type(client).__name__}")
        if int(retries) != retries or retries < 0:
            raise ValueError(f"retries must be a whole number >= 0; got {retries}")
        self.client, self.retries, self.progress = client, int(retries), progress
        self._turn = 0  # where the round-robin of the next call starts
        _register_sizeof()
        if check:
            self.check_workers()

    def __repr__(self):
        return f"DaskExecutor({self.client!r}, retries={self.retries})"

    # -- the protocol ------------------------------------------------------------------
    def map(self, function, shared, items, remote=()):
        """``[function(shared, item) for item in items]``, one Dask task an item.

        Args:
            function: a module-level (importable) ``function(shared, item) -> result``.
            shared: what every item needs; sent to each worker once. Propagators inside it
                travel as their config and are rebuilt once a worker (cached).
            items: one item a shot (usually a tuple). :class:`RemoteResult` handles among
                the elements of a tuple item are replaced on the worker by the values they
                stand for; the task runs where those live.
            remote: positions of the parts of (tuple) results to leave on the workers.
                Stored wavefields always stay there.

        Returns:
            the list of results, in the order of ``items``, with a :class:`RemoteResult`
            in place of each part left on a worker.
        """
        items = list(items)
        return self._again(lambda: self.submit(function, shared, items, remote).result(),
                           _handles(items))

    def submit(self, function, shared, items, remote=()):
        """Start a :meth:`map` without waiting for it.

        Returns:
            a :class:`PendingMap`; its ``result()`` is what :meth:`map` returns.
        """
        client, items, remote = self.client, list(items), tuple(remote)
        token = uuid.uuid4().hex[:12]
        name = getattr(function, "__name__", "shot").strip("_") or "shot"
        shared_future = self._scatter(f"{name}-shared-{token}", _Shared(shared))
        workers = sorted(client.nthreads())
        handles = _handles(items)
        holders = client.who_has([h.future for h in handles]) if handles else {}
        shots = []
        for n, item in enumerate(items):
            plain, refs, keep = _detach(item)
            if refs:  # run where the values it reads are
                where = sorted({w for future, _, _ in refs.values()
                                for w in holders.get(future.key, ())})
            else:
                where = [workers[(self._turn + n) % len(workers)]] if workers else []
            main = client.submit(_apply, function, shared_future, plain, refs, remote,
                                 key=(f"{name}-{token}", n), retries=self.retries,
                                 workers=where or None, allow_other_workers=bool(where))
            light = client.submit(_light, main, key=(f"{name}-result-{token}", n),
                                  retries=self.retries)
            shots.append(_Shot(main, light, shared_future, keep,
                               (self, function, shared, item, remote), not refs))
        self._turn += len(items)
        bar = bool(self.progress) and len(items) >= self.progress
        return PendingMap(client, shots, bar)

    def sum(self, parts):
        """Sum of ``parts``: arrays of one shape, or handles to them on the workers.

        Handles are added on the workers by a tree of pairwise-sum tasks (each placed by
        Dask next to its inputs), accumulating in float64; only the total moves to this
        process.

        Args:
            parts: a non-empty list of numpy arrays and/or :class:`RemoteResult`.

        Returns:
            numpy array of the parts' dtype.
        """
        parts = list(parts)
        if not parts:
            raise ValueError("sum of no parts")
        handles = [p for p in parts if isinstance(p, RemoteResult)]
        if not handles:
            return sum_local(parts)
        dtype = np.result_type(*[p.dtype if isinstance(p, RemoteResult) else np.asarray(p)
                                 for p in parts])
        return self._again(lambda: self._tree_sum(parts, dtype), handles)

    def _tree_sum(self, parts, dtype):
        token = uuid.uuid4().hex[:12]
        level = [p._argument() if isinstance(p, RemoteResult) else np.asarray(p)
                 for p in parts]
        depth = 0
        while True:
            last = len(level) <= 2
            following = []
            for j in range(0, len(level), 2):
                pair = level[j:j + 2]
                if len(pair) == 1 and not last:
                    following.append(pair[0])  # the odd one out waits for the next level
                    continue
                following.append(self.client.submit(
                    _add, pair[0], pair[1] if len(pair) == 2 else None,
                    dtype if last else None, key=(f"sum-{token}", depth, j // 2),
                    retries=self.retries))
            level, depth = following, depth + 1
            if last:
                return level[0].result()

    # -- recovery ----------------------------------------------------------------------
    def _scatter(self, key, value):
        """Scatter to one worker (not ``broadcast``: Dask's replication waits forever for
        a worker that dies meanwhile); a worker that died but is not yet known as dead
        fails the scatter, which is then tried again."""
        for attempt in range(self.retries + 1):
            try:
                return self.client.scatter({key: value}, hash=False)[key]
            except (OSError, TimeoutError):
                if attempt == self.retries:
                    raise
                RECOVERY["scatter retries"] += 1
                time.sleep(0.5 * 2 ** attempt)

    def _again(self, run, handles):
        """``run()``, run again when Dask cancels it because data it needed was lost with
        the workers that held it: first the lost tasks behind ``handles`` are submitted
        again, and shared data they would need to be recomputed is sent again."""
        from concurrent.futures import CancelledError
        for attempt in range(self.retries + 1):
            try:
                return run()
            except CancelledError:
                if attempt == self.retries:
                    raise
                RECOVERY["calls resubmitted"] += 1
                time.sleep(0.1 * attempt)  # let the news of what was lost arrive
                sent = {}
                for handle in handles:
                    handle._recover(sent)

    # -- the workers --------------------------------------------------------------------
    def worker_info(self):
        """What each worker's Devito runs with.

        Returns:
            ``{address: {"host", "pid", "cpus", "omp_num_threads", "nthreads"}}``: host
            name, process id, CPUs the process may use, ``OMP_NUM_THREADS`` (None if
            unset: Devito then uses every physical core) and Dask threads.
        """
        info = self.client.run(_worker_info)
        nthreads = self.client.nthreads()
        for address, entry in info.items():
            entry["nthreads"] = nthreads.get(address)
        return info

    def check_workers(self):
        """Warn about hosts whose workers ask Devito for more threads than the host has
        CPUs (the solves then slow each other down many times over).

        Returns:
            ``{host: (threads asked for, cpus)}``.
        """
        hosts = defaultdict(list)
        for entry in self.worker_info().values():
            hosts[entry["host"]].append(entry)
        summary = {}
        for host, entries in hosts.items():
            cpus = entries[0]["cpus"]
            asked = sum(e["omp_num_threads"] or cpus for e in entries)
            summary[host] = (asked, cpus)
            if asked > cpus:
                warnings.warn(
                    f"the {len(entries)} Dask worker(s) on {host} run Devito with {asked} "
                    f"OpenMP threads in all, on {cpus} CPUs: solves will slow each other "
                    f"down. Start one worker a node with OMP_NUM_THREADS=<cores>, or set "
                    f"OMP_NUM_THREADS=<cores / workers> in the workers' environment",
                    stacklevel=3)
        return summary


class PendingMap:
    """A :meth:`DaskExecutor.submit` under way.

    Attributes:
        futures: the Dask futures of the shots' tasks, in item order.
    """

    def __init__(self, client, shots, progress=False):
        self._client, self._shots, self._progress = client, shots, progress

    @property
    def futures(self):
        return [s.main for s in self._shots]

    def result(self):
        """Wait for every shot.

        Returns:
            the results in item order, with a :class:`RemoteResult` in place of each part
            left on a worker.
        """
        lights = [s.light for s in self._shots]
        if self._progress:
            from dask.distributed import as_completed
            bar = Progress(len(lights))
            for done, _ in enumerate(as_completed(lights), 1):
                bar.update(done)
        results = []
        for shot, value in zip(self._shots, self._client.gather(lights)):
            shot.light = None
            if isinstance(value, tuple) and any(isinstance(x, _Slot) for x in value):
                value = tuple(RemoteResult(shot, i, x) if isinstance(x, _Slot) else x
                              for i, x in enumerate(value))
            results.append(value)
        # Parts nobody holds a handle to are freed on the workers from here on.
        self._shots = []
        return results


class _Shot:
    """One shot's task on the cluster.

    Attributes:
        main: the future of the task; its full result stays on the worker.
        light: the future of what goes back to the client (None once gathered).
        shared: the future of the call's shared data.
        keep: futures of the values (handles) the task read.
        source: ``(executor, function, shared, item, remote)`` to submit it again.
        portable: whether a worker may recompute it by itself (its item reads no handles).
    """

    __slots__ = ("main", "light", "shared", "keep", "source", "portable")

    def __init__(self, main, light, shared, keep, source, portable):
        self.main, self.light, self.shared, self.keep = main, light, shared, keep
        self.source, self.portable = source, portable

    def recipe(self):
        """What a worker needs to recompute the task: ``(function, shared future,
        item)``, or None."""
        if not self.portable:
            return None
        _, function, _, item, _ = self.source
        return (function, self.shared, item)

    def recover(self, sent):
        """Submit the task again if Dask cancelled it (its inputs were lost), or send its
        shared data again if only that was lost (``sent``: what this recovery has sent
        again so far, by old key)."""
        executor, function, shared, item, remote = self.source
        if self.main.status == "cancelled":
            for handle in _handles([item]):
                handle._recover(sent)
            new = executor.submit(function, shared, [item], remote)._shots[0]
            self.main, self.shared, self.keep = new.main, new.shared, new.keep
            RECOVERY["tasks resubmitted"] += 1
        elif self.shared.status == "cancelled":
            key = self.shared.key
            if key not in sent:
                sent[key] = executor._scatter(f"{key}-{uuid.uuid4().hex[:6]}",
                                              _Shared(shared))
                RECOVERY["shared data resent"] += 1
            self.shared = sent[key]


class RemoteResult(Handle):
    """A part of a shot's result left on the Dask worker that computed it: a stored
    forward wavefield, or a per-shot gradient waiting to be summed.

    Pass it back inside an item of :meth:`DaskExecutor.map` (the propagator does, e.g.
    with ``ForwardState.stored``): the task runs on the worker that holds the value and
    gets the value itself. The handle keeps alive the task's future and the futures it
    was computed from, so that Dask can recompute the value if its worker dies.
    :meth:`release` lets it go.

    Attributes:
        index: position of the part in the shot's result tuple.
        nbytes: size of the value on the worker, in bytes.
        shape, dtype: of the value, if it is an array (else None).
    """

    def __init__(self, shot, index, slot):
        self._shot, self.index = shot, index
        self.nbytes, self.shape, self.dtype = slot.nbytes, slot.shape, slot.dtype

    @property
    def released(self):
        return self._shot is None

    @property
    def future(self):
        """The Dask future of the shot's task (its result holds the value)."""
        self._check()
        return self._shot.main

    def where(self):
        """Addresses of the workers that hold the value now (empty while it is being
        computed again)."""
        main = self.future
        return list(main.client.who_has([main]).get(main.key, ()))

    def result(self):
        """Fetch the value into this process (a stored wavefield is copied).

        Returns:
            the value.
        """
        return _value((self.future.result(), self.index, None))

    def release(self):
        """Drop this handle's hold on the value; Dask frees it once nothing else needs
        it."""
        self._shot = None

    def _check(self):
        if self._shot is None:
            raise ValueError("the stored wavefield was already released (this "
                             "RemoteResult was released)")

    def _argument(self):
        """What a task gets to find the value: ``(future, index, recipe)``."""
        self._check()
        return (self._shot.main, self.index, self._shot.recipe())

    def _keep(self):
        self._check()
        return [self._shot.main, self._shot.shared] + self._shot.keep

    def _recover(self, sent):
        if self._shot is not None:
            self._shot.recover(sent)

    def __repr__(self):
        state = "released" if self.released else \
            f"{self._shot.main.key}, {self.nbytes / 2**20:.1f} MiB"
        return f"<RemoteResult part {self.index} of {state}>"


def _handles(items):
    """The RemoteResult handles among the elements of tuple (or list) items."""
    return [x for item in items if isinstance(item, (tuple, list)) for x in item
            if isinstance(x, RemoteResult)]


def _detach(item):
    """``item`` with its RemoteResult handles set to None, ``{position: argument}`` for
    them, and the futures they need kept alive."""
    if not isinstance(item, (tuple, list)):
        return item, {}, []
    item, refs, keep = list(item), {}, []
    for i, x in enumerate(item):
        if isinstance(x, RemoteResult):
            refs[i] = x._argument()
            keep += x._keep()
            item[i] = None
    return tuple(item), refs, keep


# -- what runs on the workers ----------------------------------------------------------
def _apply(function, shared, item, refs, remote):
    """One shot on a worker: ``function(shared, item)`` with the handles in ``item``
    resolved; stored wavefields and the ``remote`` parts of the result are wrapped so that
    they stay here."""
    _register_sizeof()
    if refs:
        item = list(item)
        for i, argument in refs.items():
            item[i] = _value(argument)
        item = tuple(item)
    result = function(shared.value, item)
    if not isinstance(result, tuple):
        return result
    return tuple(_Held(x) if x is not None and (i in remote or _is_state(x)) else x
                 for i, x in enumerate(result))


def _light(result):
    """The result with its held parts replaced by their descriptions: what goes back to
    the client."""
    if not isinstance(result, tuple):
        return result
    return tuple(x.slot() if isinstance(x, _Held) else x for x in result)


def _value(argument):
    """The value a handle stands for, from ``(result of its task, index, recipe)``."""
    result, index, recipe = argument
    part = result[index]
    if isinstance(part, _Held):
        return part.value
    if isinstance(part, _Lost):
        if recipe is None:
            raise RuntimeError("a value left on a worker could not be moved to this one "
                               "and cannot be recomputed here")
        # It could not be moved here: compute it again, on this worker.
        function, shared, item = recipe
        return function(shared.value, item)[index]
    return part


def _add(a, b, dtype):
    """A node of the tree sum: ``a + b`` in float64 (cast to ``dtype`` at the root)."""
    total = np.array(_operand(a), dtype=np.float64)
    if b is not None:
        total += _operand(b)
    return total.astype(dtype) if dtype is not None else total


def _operand(x):
    return _value(x) if isinstance(x, tuple) else x


def _is_state(x):
    """Whether a result part is a stored state (kept where it was computed)."""
    return not isinstance(x, np.ndarray) and hasattr(x, "release") and hasattr(x, "nbytes")


def _worker_info():
    omp = os.environ.get("OMP_NUM_THREADS")
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return {"host": socket.gethostname(), "pid": os.getpid(), "cpus": cpus,
            "omp_num_threads": int(omp) if omp and omp.isdigit() else None}


class _Slot:
    """Stands for a held part in what goes back to the client."""

    __slots__ = ("nbytes", "shape", "dtype")

    def __init__(self, nbytes, shape=None, dtype=None):
        self.nbytes, self.shape, self.dtype = nbytes, shape, dtype


class _Lost:
    """What a held value that could not be pickled becomes when Dask moves it to another
    worker (or spills it): the task that needs it computes it again there."""

    def __init__(self, nbytes=0):
        self.nbytes = nbytes


class _Held:
    """A result part that stays on its worker. Dask sees its real size (so it schedules
    the tasks that read it on that worker, and does not steal them lightly); if Dask moves
    it anyway, a stored wavefield is copied (the copy owns its memory)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    @property
    def nbytes(self):
        return int(getattr(self.value, "nbytes", 0) or 0)

    def slot(self):
        v = self.value
        shape, dtype = (v.shape, v.dtype) if isinstance(v, np.ndarray) else (None, None)
        return _Slot(self.nbytes, shape, dtype)

    def __reduce__(self):
        value = self.value
        if not _is_state(value):
            return _Held, (value,)
        try:  # a stored state pickles as a copy that owns its memory
            payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - anything unpicklable is recomputed instead
            return _Lost, (self.nbytes,)
        return _restore_state, (payload,)


def _restore_state(payload):
    return _Held(pickle.loads(payload))


_SIZEOF = []


def _register_sizeof():
    """Tell Dask how big held parts are (it otherwise sees a few bytes)."""
    if _SIZEOF:
        return
    from dask.sizeof import sizeof
    sizeof.register(_Held)(lambda held: held.nbytes + 64)
    _SIZEOF.append(True)


# -- shared data and the per-worker propagator cache -----------------------------------
_PROPAGATORS = OrderedDict()  # (class, config digest) -> propagator, on each process
_PROPAGATOR_LOCK = threading.Lock()
_MAX_PROPAGATORS = 8
CACHE_STATS = Counter()  # "hits" / "misses" of that cache: tests use it
# What the Dask executor did to get past lost workers, in this (client) process:
# "scatter retries", "calls resubmitted", "tasks resubmitted", "shared data resent".
RECOVERY = Counter()


class _Shared:
    """What every shot of a call needs. Pickled, each propagator in it becomes its config
    and a digest of it; unpickled on a worker, it becomes that worker's cached propagator
    of the same config, built on first use only (so are its Devito operators)."""

    def __init__(self, value):
        self.value = value

    def __reduce__(self):
        return _load_shared, (_dumps(self.value),)


class _Pickler(pickle.Pickler):
    """Pickles each propagator as ``(class, digest of its config, config)``. A propagator
    is any object whose class sets ``cached_on_workers = True`` and has ``get_config()``
    and ``from_config(config)`` (so this module need not import the propagator's)."""

    # A propagator does not change once made, and its config (the survey's arrays as
    # lists) is costly to build, pickle and hash: do it once a propagator, not every call.
    _configs = weakref.WeakKeyDictionary()

    def persistent_id(self, obj):
        if not getattr(type(obj), "cached_on_workers", False):
            return None
        if obj not in self._configs:
            config = pickle.dumps(obj.get_config(), protocol=pickle.HIGHEST_PROTOCOL)
            self._configs[obj] = (hashlib.sha256(config).hexdigest(), config)
        return ("propagator", type(obj), *self._configs[obj])


class _Unpickler(pickle.Unpickler):
    """Turns each pickled propagator into this process's cached one of that config."""

    def persistent_load(self, pid):
        kind, cls, digest, config = pid
        if kind != "propagator":
            raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")
        return _cached_propagator(cls, digest, config)


def _dumps(value):
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


def _load_shared(data):
    return _Shared(_Unpickler(io.BytesIO(data)).load())


def _cached_propagator(cls, digest, config):
    key = (cls, digest)
    with _PROPAGATOR_LOCK:
        prop = _PROPAGATORS.get(key)
        if prop is not None:
            _PROPAGATORS.move_to_end(key)
            CACHE_STATS["hits"] += 1
            return prop
        CACHE_STATS["misses"] += 1
        prop = cls.from_config(pickle.loads(config))
        _PROPAGATORS[key] = prop
        while len(_PROPAGATORS) > _MAX_PROPAGATORS:
            _PROPAGATORS.popitem(last=False)
        return prop


# -- a local cluster with the cores split between workers --------------------------------
def local_client(n_workers=None, omp_threads=None, **kwargs):
    """A ``dask.distributed.Client`` on a new ``LocalCluster`` of process workers, one
    Dask thread each, whose Devito solves share the machine's cores without
    oversubscribing them.

    Args:
        n_workers: number of workers (default: one).
        omp_threads: Devito (OpenMP) threads a worker (default: CPUs // workers, >= 1).
        **kwargs: passed to ``LocalCluster`` (e.g. ``dashboard_address=None``).

    Returns:
        the client; ``client.close(); client.cluster.close()`` ends both.
    """
    import dask
    from dask.distributed import Client, LocalCluster
    n_workers = int(n_workers or 1)
    cpus = _worker_info()["cpus"]
    omp_threads = int(omp_threads or max(1, cpus // n_workers))
    env = dict(kwargs.pop("env", {}) or {}, OMP_NUM_THREADS=str(omp_threads))
    kwargs.setdefault("threads_per_worker", 1)
    # Without this, a nanny sets OMP_NUM_THREADS=1 in *this* process too (when it is
    # unset here) each time it starts a worker; the workers get theirs from ``env``.
    with dask.config.set({"distributed.nanny.pre-spawn-environ.OMP_NUM_THREADS": None}):
        cluster = LocalCluster(n_workers=n_workers, processes=True, env=env, **kwargs)
    return Client(cluster)
