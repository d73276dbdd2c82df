"""What runs on the Dask workers: a shot's task, with the handles in its item resolved to
their values, the parts of its result that stay on the worker, and the tree sum's nodes."""
import os
import pickle
import socket

import numpy as np


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
