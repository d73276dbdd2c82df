"""Shot throughput of AcousticPropagator on a Dask LocalCluster with 1, 2 and 4 workers.

Every configuration uses the whole machine: ``workers x OpenMP threads = cores`` (at least
one thread a worker, so 4 workers on fewer than 4 cores oversubscribe, and the table says
so). Each row starts a fresh LocalCluster of process workers (one Dask thread each, Devito
on ``cores // workers`` OpenMP threads), runs one warm-up call (operator builds), then
times ``--repeat`` calls of the job over all shots and reports the fastest (the least
disturbed by other processes: multi-threaded solves slow down many times over when another
process takes a core, so run it on an idle machine; the load average is printed):

* ``forward``: ``prop.forward(vp)``;
* ``gradient``: ``prop.born_adjoint(vp, residual)``: forward runs that keep their
  wavefields on the workers, adjoint runs there, and a tree sum of the per-shot gradients.

shots/s = shots / fastest time; efficiency = (shots/s) / (shots/s of 1 worker) (1.0 is
perfect: the same cores do the same work). The ``in process`` row is the default executor
in this process with every core, for reference. ``load``: the 1-minute load average
before the row.

Usage: ``python benchmarks/dask_scaling.py [--shots 8] [--shape 201 101] [--nt 501]
[--repeat 5] [--workers 1 2 4]``
"""
import argparse
import os
import sys
import time
import warnings

CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
# This process's Devito uses every core for the in-process row (set before importing it).
os.environ["OMP_NUM_THREADS"] = str(CORES)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("DEVITO_LOGGING", "ERROR")

import numpy as np  # noqa: E402


def problem(args):
    import keras_seismic as ks
    nx, nz = args.shape
    grid = ks.Grid((nx, nz), (10.0, 10.0))
    dt = 0.002
    wavelet = ks.ricker(10.0, dt, args.nt)
    xs = np.linspace(0.1, 0.9, args.shots) * (nx - 1) * 10.0
    sources = np.stack([xs, np.full(args.shots, 20.0)], axis=1)
    receivers = np.stack([np.arange(nx) * 10.0, np.full(nx, 20.0)], axis=1)
    survey = ks.Survey(sources, receivers, dt, args.nt, wavelet)
    vp = (1500.0 + 2000.0 * np.linspace(0, 1, nz)[None, :] * np.ones((nx, 1))
          ).astype(np.float32)
    return grid, survey, vp


def time_jobs(prop, vp, residual, repeat):
    """Fastest seconds of each job over ``repeat`` calls, after a warm-up call of each."""
    jobs = {"forward": lambda: prop.forward(vp),
            "gradient": lambda: prop.born_adjoint(vp, residual)}
    out = {}
    for name, job in jobs.items():
        job()
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            job()
            times.append(time.perf_counter() - start)
        out[name] = min(times)
    return out


def _load():
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--shape", type=int, nargs=2, default=(201, 101))
    parser.add_argument("--nt", type=int, default=501)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()

    import logging
    import keras_seismic as ks
    from keras_seismic.distributed import DaskExecutor, InProcessExecutor, local_client

    grid, survey, vp = problem(args)
    residual = np.random.default_rng(0).standard_normal(survey.data_shape).astype(
        np.float32)
    rows = []
    prop = ks.AcousticPropagator(grid, survey, space_order=8, absorbing_width=40,
                                 executor=InProcessExecutor(progress=None))
    rows.append(("in process", 1, CORES, _load(), time_jobs(prop, vp, residual,
                                                             args.repeat)))
    for workers in args.workers:
        threads = max(1, CORES // workers)
        load = _load()
        client = local_client(workers, threads, dashboard_address=":0",
                              silence_logs=logging.ERROR)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # oversubscription is reported below
                executor = DaskExecutor(client)
            prop = ks.AcousticPropagator(grid, survey, space_order=8, absorbing_width=40,
                                         executor=executor)
            rows.append((f"dask {workers}w", workers, threads, load,
                         time_jobs(prop, vp, residual, args.repeat)))
        finally:
            client.close()
            client.cluster.close()

    print(f"\n{args.shots} shots, {args.shape[0]}x{args.shape[1]} cells (+40 absorbing), "
          f"nt={args.nt}, space order 8; {CORES} cores; fastest of {args.repeat} calls; "
          f"load average {_load():.1f} at the end\n")
    header = (f"| {'executor':<10} | workers | OMP threads | load | forward shots/s | "
              f"efficiency | gradient shots/s | efficiency |")
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    base = next((r[4] for r in rows if r[1] == 1 and r[0].startswith("dask")), None)
    for name, workers, threads, load, times in rows:
        cells = []
        for job in ("forward", "gradient"):
            rate = args.shots / times[job]
            eff = "" if base is None else f"{rate / (args.shots / base[job]):.2f}"
            cells += [f"{rate:>15.2f}", f"{eff:>10}"]
        over = " *" if workers * threads > CORES else ""
        print(f"| {name:<10} | {workers:>7} | {threads:>9}{over:2} | {load:>4.1f} | "
              f"{cells[0]} | {cells[1]} | {cells[2]:>16} | {cells[3]} |")
    if any(w * t > CORES for _, w, t, _, _ in rows):
        print("\n* more threads than cores: the workers share cores (oversubscribed)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
