"""The in-process executor, which a propagator uses unless it is given another, and what
every executor shares: the handle of a result left on a worker, the float64 sum of result
parts, and the progress bar.

The executor protocol, which :class:`~keras_seismic.Propagator` calls:

``map(function, shared, items, remote=())``
    ``[function(shared, item) for item in items]``, in the order of ``items``. ``shared``
    holds what every shot needs (the propagator, the model) and is sent to each worker once
    per call. A distributed executor may leave parts of a (tuple) result on the worker that
    computed them: every stored forward wavefield (anything with ``release()`` and
    ``nbytes``, such as :class:`~keras_seismic.physics.StoredWavefield`) and the parts at
    the positions listed in ``remote``. It returns a :class:`Handle` in their place. A
    handle passed back inside an item of a later ``map`` is replaced, on the worker, by the
    value it stands for, and that task runs where the value lives.
``sum(parts)``
    the sum of result parts (numpy arrays or handles), accumulated in float64 and returned
    as a numpy array of the parts' dtype. A distributed executor adds handles on the
    workers, in pairs (a tree), and moves only the total.
"""
import sys
import time

import numpy as np

__all__ = ["Handle", "InProcessExecutor", "Progress", "sum_local"]


class Handle:
    """A result that stays where it was computed; :meth:`result` fetches its value."""

    def result(self):
        raise NotImplementedError


class InProcessExecutor:
    """Runs shots in this process, one at a time (each solve already uses every core).

    Args:
        progress: show a progress bar on stderr for calls of at least this many shots
            (None: never).
    """

    def __init__(self, progress=8):
        self.progress = progress

    def map(self, function, shared, items, remote=()):
        """``[function(shared, item) for item in items]``.

        Args:
            function: ``function(shared, item) -> result``.
            shared: what every item needs.
            items: one item a shot; an item that is a tuple may hold :class:`Handle`
                objects (results left where they were computed), which are fetched first.
            remote: ignored (everything stays in this process).

        Returns:
            the list of results, in the order of ``items``.
        """
        items = list(items)
        bar = Progress(len(items)) if self.progress and len(items) >= self.progress \
            else None
        results = []
        for item in items:
            if isinstance(item, tuple) and any(isinstance(x, Handle) for x in item):
                item = tuple(x.result() if isinstance(x, Handle) else x for x in item)
            results.append(function(shared, item))
            if bar:
                bar.update(len(results))
        return results

    def sum(self, parts):
        """Sum of ``parts`` (arrays of one shape), accumulated in float64.

        Args:
            parts: a non-empty list of arrays, or of :class:`Handle` objects (results
                left where they were computed).

        Returns:
            numpy array of the parts' dtype.
        """
        return sum_local([p.result() if isinstance(p, Handle) else p for p in parts])


def sum_local(parts):
    if not parts:
        raise ValueError("sum of no parts")
    arrays = [np.asarray(p) for p in parts]
    total = np.zeros(arrays[0].shape, np.float64)
    for a in arrays:
        total += a
    return total.astype(np.result_type(*arrays))


class Progress:
    """A one-line progress bar in the style of Keras's Progbar. Like Progbar, it redraws
    only on a terminal; into a log file or pipe it writes just the final line."""

    def __init__(self, total, width=30, stream=None):
        self.total, self.width, self.start = total, width, time.time()
        self.stream = stream or sys.stderr
        self.dynamic = hasattr(self.stream, "isatty") and self.stream.isatty()

    def update(self, done):
        if not (self.dynamic or done == self.total):
            return
        filled = int(self.width * done / self.total)
        bar = "=" * max(filled - 1, 0) + (">" if filled < self.width else "=")
        elapsed = time.time() - self.start
        eta = elapsed / done * (self.total - done)
        redraw = "\r" if self.dynamic else ""
        self.stream.write(f"{redraw}{done}/{self.total} shots "
                          f"[{bar:<{self.width}}] {elapsed:.0f}s elapsed, ETA {eta:.0f}s")
        if done == self.total:
            self.stream.write("\n")
        self.stream.flush()
