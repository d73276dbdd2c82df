"""How a call's shared data travel to the workers: each propagator in it as its config,
rebuilt once a worker and kept in that worker's cache (with its compiled operators)."""
import hashlib
import io
import pickle
import threading
import weakref
from collections import Counter, OrderedDict

__all__ = ["CACHE_STATS"]

_PROPAGATORS = OrderedDict()  # (class, config digest) -> propagator, on each process
_PROPAGATOR_LOCK = threading.Lock()
_MAX_PROPAGATORS = 8
CACHE_STATS = Counter()  # "hits" / "misses" of that cache: tests use it


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
