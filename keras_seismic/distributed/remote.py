"""What the client holds of work on the cluster: a call under way (:class:`PendingMap`),
each shot's task and how it is submitted again when workers are lost, and the handles
(:class:`RemoteResult`) of the values left on the workers."""
import uuid
from collections import Counter

from ..propagator.local import Handle, Progress
from .shipping import _Shared
from .worker import _Slot, _value

__all__ = ["PendingMap", "RemoteResult", "RECOVERY"]

# What the Dask executor did to get past lost workers, in this (client) process:
# "scatter retries", "calls resubmitted", "tasks resubmitted", "shared data resent".
RECOVERY = Counter()


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
