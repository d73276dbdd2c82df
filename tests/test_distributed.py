"""Shots on a Dask cluster: same numbers as in this process, operators built once a worker,
stored wavefields kept (and gradients computed and summed) on the workers, and nothing lost
when a worker dies."""
import io
import logging
import os
import pickle
import signal
import time
import warnings

import numpy as np
import pytest

import keras_seismic as ks
from keras_seismic import distributed
from keras_seismic.distributed import DaskExecutor, InProcessExecutor, RemoteResult
from helpers import small_problem

dask = pytest.importorskip("dask")
dask_distributed = pytest.importorskip("dask.distributed")

RNG = np.random.default_rng()  # seeded for each test by conftest.py
NSHOTS = 4


def two_workers():
    """A client of a new local cluster: two process workers, each running Devito on one
    OpenMP thread (2 cores in all). Dask's memory manager runs often, so that extra copies
    of data go soon."""
    with dask.config.set({"distributed.scheduler.active-memory-manager.interval": "0.2s"}):
        cluster = dask_distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True,
            env={"OMP_NUM_THREADS": "1"}, dashboard_address=":0",
            silence_logs=logging.CRITICAL)
    client = dask_distributed.Client(cluster)
    client.wait_for_workers(2, timeout=120)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def client():
    yield from two_workers()


@pytest.fixture
def doomed_client():
    """A cluster of its own, for a test that kills one of its workers. No later test then
    waits for the nanny to start a new worker: on a busy machine the new worker can fail
    to start in time, and Dask's nanny then gives up for good (seen in 2 of 6 full runs
    on a loaded machine)."""
    yield from two_workers()


def four_shots(storage="subsampled"):
    """The small test problem with four shots spread along the surface."""
    prop, vp = small_problem(storage=storage)
    survey = prop.survey
    sources = np.array([[60.0 + 90.0 * s, 25.0] for s in range(NSHOTS)])
    survey = ks.Survey(sources, survey.receivers[0], survey.dt, survey.nt,
                       survey.wavelet[0, 0])
    return ks.AcousticPropagator(prop.grid, survey, space_order=8, absorbing_width=10,
                                 storage=storage), vp


@pytest.fixture(scope="module")
def problem(client):
    local, vp = four_shots()
    # (progress: the bar on stderr runs too.)
    remote = ks.AcousticPropagator.from_config(local.get_config(),
                                               executor=DaskExecutor(client, progress=4))
    return local, remote, vp


def close(a, b, tol=1e-5):
    """Equal to float32 round-off, relative to the largest value."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    return np.abs(a - b).max() <= tol * np.abs(b).max()


def tasks(stream, prefix):
    """The tasks of a ``get_task_stream`` record whose key starts with ``prefix``, by the
    rest of their key (the shot, for per-shot tasks)."""
    keys = [r["key"] for r in stream.data]
    return {key[1:] if len(key) > 2 else key[1]: r for key, r in zip(keys, stream.data)
            if isinstance(key, tuple) and key[0].startswith(prefix)}


def kill(client, address):
    """SIGKILL the worker process at ``address`` (of a ``doomed_client``)."""
    pid = client.run(os.getpid, workers=[address])[address]
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 30
    while address in client.nthreads() and time.time() < deadline:
        time.sleep(0.02)  # until the scheduler knows


def all_operators(prop, vp, data, weights):
    """Every operator of the propagator once, as a dict of arrays."""
    _, state = prop.forward_with_state(vp)
    grad, wavelet_grad = prop.gradient(state, data, wavelet=True)
    state.release()
    return {"forward": prop.forward(vp),
            "forward per shot": prop.forward(np.stack([vp, vp * 1.02, vp, vp * 0.98])),
            "born": prop.born(vp, 20.0 * weights[0]),
            "born_adjoint": prop.born_adjoint(vp, data),
            "born_adjoint per shot": prop.born_adjoint(vp, data, reduce=False),
            "extended_forward": prop.extended_forward(vp, weights),
            "extended_adjoint": prop.extended_adjoint(vp, data),
            "gradient": grad, "wavelet gradient": wavelet_grad,
            "illumination": prop.illumination(vp)}


def test_in_process_protocol():
    """The executor protocol in this process: ``remote`` is ignored, ``sum`` adds in
    float64 and returns the parts' dtype."""
    executor = InProcessExecutor()
    results = executor.map(lambda shared, item: (shared * item, item), 2, [1, 2, 3],
                           remote=(0,))
    assert results == [(2, 1), (4, 2), (6, 3)]
    parts = [np.full(3, 1e8, np.float32), np.ones(3, np.float32), np.full(3, -1e8,
                                                                         np.float32)]
    total = executor.sum(parts)
    assert total.dtype == np.float32 and np.array_equal(total, np.ones(3))


@pytest.mark.parametrize("terminal", [True, False])
def test_progress_bar_redraws_only_on_a_terminal(terminal):
    """On a terminal the bar redraws in place; in a log file it is one final line, not
    one carriage-return-joined line of every update."""
    class Stream(io.StringIO):
        def isatty(self):
            return terminal

    stream = Stream()
    bar = distributed.Progress(4, stream=stream)
    for done in range(1, 5):
        bar.update(done)
    text = stream.getvalue()
    assert text.endswith("\n") and text.count("4/4 shots") == 1
    assert text.count("\r") == (4 if terminal else 0)
    assert ("1/4 shots" in text) == terminal


def test_workers_run_devito_on_one_thread(client):
    executor = DaskExecutor(client)
    info = executor.worker_info()
    assert len(info) == 2
    assert all(entry["omp_num_threads"] == 1 for entry in info.values())
    # The warning depends on the CPUs this run may use (one, under taskset -c 0).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (asked, cpus), = executor.check_workers().values()
    assert (asked, cpus) == (2, len(os.sched_getaffinity(0)))
    assert any("slow each other down" in str(w.message) for w in caught) == (asked > cpus)


@pytest.fixture(scope="module")
def remote_run(problem):
    """Random data and weights, and every operator run once on the cluster with them
    (after which every worker has built what it needs)."""
    local, remote, vp = problem
    rng = np.random.default_rng(99)  # a module fixture: set up before conftest seeds RNG
    data = rng.standard_normal((NSHOTS, *local.data_shape)).astype(np.float32)
    weights = rng.standard_normal((NSHOTS, *local.grid.shape)).astype(np.float32)
    return data, weights, all_operators(remote, vp, data, weights)


def test_same_results_as_in_process(problem, remote_run):
    local, _, vp = problem
    data, weights, got = remote_run
    expected = all_operators(local, vp, data, weights)
    for name in expected:
        assert close(got[name], expected[name]), name


def test_operators_and_propagators_built_once_per_worker(problem, remote_run, client):
    from keras_seismic.physics import solver
    _, remote, vp = problem
    data, weights, _ = remote_run
    builds = client.run(lambda: dict(solver.BUILDS))
    cache = client.run(lambda: dict(distributed.CACHE_STATS))
    all_operators(remote, vp, data, weights)
    assert client.run(lambda: dict(solver.BUILDS)) == builds
    after = client.run(lambda: dict(distributed.CACHE_STATS))
    for address, stats in after.items():
        # Every call reused the worker's propagator: one build per worker, ever.
        assert stats["misses"] == 1, stats
        assert stats["hits"] > cache[address].get("hits", 0)


def test_state_stays_on_its_worker_and_gradients_are_summed_there(problem, client):
    local, remote, vp = problem
    data = RNG.standard_normal((NSHOTS, *local.data_shape)).astype(np.float32)
    with dask_distributed.get_task_stream(client) as stream:
        _, state = remote.forward_with_state(vp)
        assert all(isinstance(s, RemoteResult) for s in state.stored)
        assert state.nbytes > NSHOTS * np.prod(local.grid.shape) * 4
        holders = [s.where() for s in state.stored]
        assert all(len(h) == 1 for h in holders), holders
        grad = remote.gradient(state, data)
    state.release()
    assert all(s.released for s in state.stored)
    _, reference_state = local.forward_with_state(vp)
    assert close(grad, local.gradient(reference_state, data))

    forward, gradient = tasks(stream, "forward_task-"), tasks(stream, "gradient_task-")
    assert sorted(forward) == sorted(gradient) == list(range(NSHOTS))
    for shot in range(NSHOTS):
        # The gradient ran where the shot's wavefield was.
        assert gradient[shot]["worker"] == forward[shot]["worker"] == holders[shot][0]
    # No worker received a stored wavefield of this call from another. (The log holds
    # every transfer since the worker started: an earlier test's calls do not count.)
    moved = client.run(lambda dask_worker: [
        key for entry in dask_worker.transfer_incoming_log for key in entry["keys"]])
    keys = {record["key"] for record in forward.values()}
    assert not [key for keys_in in moved.values() for key in keys_in if key in keys], moved
    # The per-shot gradients were added by a tree of NSHOTS - 1 pairwise sums.
    assert len(tasks(stream, "sum-")) == NSHOTS - 1


def test_fwi_training_sums_the_gradient_on_the_workers(client):
    """In ``model.fit``, FWI's one velocity serves the whole batch, so the shots' gradients
    are added up by the tree of sums on the workers; only the sum comes back."""
    local, vp = four_shots()
    observed = local.forward(vp * 1.02)
    prop = ks.AcousticPropagator.from_config(local.get_config(),
                                             executor=DaskExecutor(client))
    model = ks.models.FWI(prop, vp, 1500.0, 3500.0)
    model.compile()
    with dask_distributed.get_task_stream(client) as stream:
        model.fit(np.arange(NSHOTS), observed, batch_size=NSHOTS, epochs=1, verbose=0)
    assert sorted(tasks(stream, "gradient_task-")) == list(range(NSHOTS))
    assert len(tasks(stream, "sum-")) == NSHOTS - 1
    assert np.abs(model.velocity - vp).max() > 0


def test_stored_wavefield_survives_a_move_between_workers(problem):
    """What Dask does if it ever moves a held wavefield (work stealing, spilling): the
    copy gives the same gradient; a wavefield that cannot be pickled is recomputed."""
    local, _, vp = problem
    from keras_seismic.propagator.shots import (ShotModel as _Model, forward_task as _forward_task,
                                                gradient_task as _gradient_task)
    data = RNG.standard_normal((1, *local.data_shape)).astype(np.float32)
    _, state = local.forward_with_state(vp, [2])
    expected = local.gradient(state, data)
    fwd_shared = distributed._Shared((_Model(local, vp), True))
    item = (0, 2, local.survey.wavelet[2], None)
    held = distributed._apply(_forward_task, fwd_shared, item, {}, ())
    moved = pickle.loads(pickle.dumps(held))
    assert isinstance(moved[1], distributed._Held)
    grad_shared = distributed._Shared((_Model(local, vp), None))
    grad_item = (0, 2, data[0], None, local.survey.wavelet[2])
    recipe = (_forward_task, fwd_shared, item)
    for result in (held, moved, (held[0], distributed._Lost())):
        out = distributed._apply(_gradient_task, grad_shared, grad_item,
                                 {3: (result, 1, recipe)}, ())
        assert close(out[0][0], expected)  # the gradient of each field: here vp alone


def on(client, local):
    """The propagator ``local`` with its shots on ``client``'s workers."""
    return ks.AcousticPropagator.from_config(local.get_config(),
                                             executor=DaskExecutor(client))


def test_worker_lost_between_forward_and_gradient(problem, doomed_client):
    local, _, vp = problem
    client, remote = doomed_client, on(doomed_client, local)
    data = RNG.standard_normal((NSHOTS, *local.data_shape)).astype(np.float32)
    _, state = remote.forward_with_state(vp)
    dead = state.stored[0].where()[0]
    kill(client, dead)
    grad, wavelet_grad = remote.gradient(state, data, wavelet=True)
    # Shot 0's wavefield was computed again, on another worker.
    assert dead not in state.stored[0].where()
    _, reference = local.forward_with_state(vp)
    expected, expected_wavelet = local.gradient(reference, data, wavelet=True)
    assert close(grad, expected) and close(wavelet_grad, expected_wavelet)


def test_lost_inputs_are_submitted_again(problem, doomed_client):
    """Dask keeps one copy of a call's shared data once the call is over; if the worker
    holding it dies with some of the stored wavefields, Dask cannot recompute those, and
    the executor submits their forward runs again."""
    local, _, vp = problem
    client, remote = doomed_client, on(doomed_client, local)
    data = RNG.standard_normal((NSHOTS, *local.data_shape)).astype(np.float32)
    _, state = remote.forward_with_state(vp)
    shared = state.stored[0]._shot.shared
    deadline = time.time() + 20
    while len(client.who_has([shared])[shared.key]) > 1 and time.time() < deadline:
        time.sleep(0.1)  # until Dask's memory manager drops the extra copies
    [holder] = client.who_has([shared])[shared.key]
    assert any(holder in s.where() for s in state.stored)
    before = distributed.RECOVERY["tasks resubmitted"]
    kill(client, holder)
    grad = remote.gradient(state, data)
    assert distributed.RECOVERY["tasks resubmitted"] > before
    _, reference = local.forward_with_state(vp)
    assert close(grad, local.gradient(reference, data))


class _KillDuringGradient(DaskExecutor):
    """Kills the worker that holds a training step's wavefields right after that step's
    gradient tasks were submitted."""

    def __init__(self, client, at_call):
        super().__init__(client)
        self.calls, self.at_call, self.killed = 0, at_call, False

    def submit(self, function, shared, items, remote=()):
        items = list(items)
        pending = super().submit(function, shared, items, remote)
        self.calls += 1
        handles = [x for item in items for x in item if isinstance(x, RemoteResult)]
        if self.calls >= self.at_call and handles and not self.killed:
            kill(self.client, handles[0].where()[0])
            self.killed = True
        return pending


def test_fwi_training_same_losses_and_survives_a_lost_worker(doomed_client):
    import keras
    local, vp = four_shots()
    true = vp.copy()
    true[15:25, 10:20] += 150.0
    observed = local.forward(true)

    def train(executor):
        keras.utils.set_random_seed(0)
        prop = ks.AcousticPropagator.from_config(local.get_config(), executor=executor)
        model = ks.models.FWI(prop, vp, 1500.0, 3500.0)
        model.compile()
        losses = []
        record = keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs: losses.append(float(logs["loss"])))
        model.fit(np.arange(NSHOTS), observed, batch_size=2, epochs=2, shuffle=False,
                  verbose=0, callbacks=[record])
        return np.array(losses), model.velocity

    expected_losses, expected_vp = train(None)
    # Running means over each epoch (2 steps): the second epoch fits better.
    assert len(expected_losses) == 4 and expected_losses[3] < expected_losses[1]
    client = doomed_client
    losses, velocity = train(DaskExecutor(client))
    assert close(losses, expected_losses) and close(velocity, expected_vp)
    # Each step is 2 calls (forward, gradient): kill during the gradient of step 2.
    killer = _KillDuringGradient(client, at_call=4)
    losses, velocity = train(killer)
    assert killer.killed
    assert close(losses, expected_losses) and close(velocity, expected_vp)


def test_released_state_is_refused(problem):
    local, remote, vp = problem
    _, state = remote.forward_with_state(vp, [0])
    state.release()
    with pytest.raises(ValueError, match="released"):
        remote.gradient(state, np.zeros((1, *local.data_shape), np.float32))
