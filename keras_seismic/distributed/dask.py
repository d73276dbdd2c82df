"""The Dask executor: one task a shot on a ``dask.distributed`` cluster, and a local
cluster whose workers share the machine's cores.

``import dask`` here is the Dask package (imports are absolute), not this module.
"""
import time
import uuid
from collections import defaultdict

import numpy as np

from .. import checks
from ..propagator.local import sum_local
from .remote import RECOVERY, PendingMap, RemoteResult, _detach, _handles, _Shot
from .shipping import _Shared
from .worker import _add, _apply, _light, _register_sizeof, _worker_info

__all__ = ["DaskExecutor", "local_client"]


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
            where = self._placement(refs, holders, workers, n)
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

    def _placement(self, refs, holders, workers, n):
        """The workers for the ``n``-th task of a call: those that hold the values it reads
        (``refs``, found in ``holders``), else the next one of ``workers`` in turn."""
        if refs:
            return sorted({w for future, _, _ in refs.values()
                           for w in holders.get(future.key, ())})
        return [workers[(self._turn + n) % len(workers)]] if workers else []

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
                checks.warn(
                    f"the {len(entries)} Dask worker(s) on {host} run Devito with {asked} "
                    f"OpenMP threads in all, on {cpus} CPUs: solves will slow each other "
                    f"down. Start one worker a node with OMP_NUM_THREADS=<cores>, or set "
                    f"OMP_NUM_THREADS=<cores / workers> in the workers' environment")
        return summary


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
