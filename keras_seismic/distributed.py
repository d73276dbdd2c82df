"""Where shots run: in this process, one after the other (default), or on a Dask cluster.

An executor has one method, ``map(function, shared, items)``, that returns
``[function(shared, item) for item in items]`` in order. ``shared`` holds what every shot
needs (the propagator, the velocity) and is sent to each worker once per call.
"""
import sys
import time

__all__ = ["InProcessExecutor"]


class InProcessExecutor:
    """Runs shots in this process, one at a time (each solve already uses every core).

    Args:
        progress: show a progress bar on stderr for calls of at least this many shots
            (None: never).
    """

    def __init__(self, progress=8):
        self.progress = progress

    def map(self, function, shared, items):
        items = list(items)
        bar = _Progress(len(items)) if self.progress and len(items) >= self.progress \
            else None
        results = []
        for item in items:
            results.append(function(shared, item))
            if bar:
                bar.update(len(results))
        return results


class _Progress:
    """A one-line progress bar in the style of Keras's Progbar."""

    def __init__(self, total, width=30, stream=sys.stderr):
        self.total, self.width, self.stream, self.start = total, width, stream, time.time()

    def update(self, done):
        filled = int(self.width * done / self.total)
        bar = "=" * max(filled - 1, 0) + (">" if filled < self.width else "=")
        elapsed = time.time() - self.start
        eta = elapsed / done * (self.total - done)
        self.stream.write(f"\r{done}/{self.total} shots [{bar:<{self.width}}] "
                          f"{elapsed:.0f}s elapsed, ETA {eta:.0f}s")
        if done == self.total:
            self.stream.write("\n")
        self.stream.flush()
