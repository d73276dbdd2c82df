"""Shots on a Dask cluster: :class:`DaskExecutor` runs one task a shot on a
``dask.distributed`` cluster, under the executor protocol of
:mod:`keras_seismic.propagator.local` (which also holds the default, in-process executor,
re-exported here).

The package: :mod:`~keras_seismic.distributed.dask` (the executor and a local cluster),
:mod:`~keras_seismic.distributed.remote` (a call under way, the handles of values left on
the workers, and recovery from lost workers), :mod:`~keras_seismic.distributed.worker`
(what runs on the workers) and :mod:`~keras_seismic.distributed.shipping` (how the
propagators travel, and the workers' cache of them).
"""
from ..propagator.local import InProcessExecutor, Progress
from . import shipping, worker
from .dask import DaskExecutor, local_client
from .remote import RECOVERY, PendingMap, RemoteResult
from .shipping import CACHE_STATS

__all__ = ["InProcessExecutor", "DaskExecutor", "PendingMap", "RemoteResult", "local_client",
           "Progress", "RECOVERY", "CACHE_STATS"]

# The worker side that tests/test_distributed.py runs in this process, by the names it has
# always had here.
_Shared, _apply, _Held, _Lost = shipping._Shared, worker._apply, worker._Held, worker._Lost
