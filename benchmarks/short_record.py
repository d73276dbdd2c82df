"""Per-call cost of the Keras layer on a short record, against a bare Devito operator.

A 0.06 s solve shows every fixed cost of a call (checks, padding, resampling, argument
building, TensorFlow's py_function), so this benchmark times, in one process and with
interleaved calls, so that a slow or busy spell of the machine hits every row alike:

- ``bare Devito``: a forward operator written with Devito's own API on the propagator's
  padded grid and internal time axis (``Operator.apply`` alone);
- ``layer forward``: ``ks.layers.Modeling(prop)`` eager, ``training=False``;
- ``layer train step``: forward with the stored wavefield, L2 misfit, ``tape.gradient``;
- ``propagator forward + gradient``: ``forward_with_state`` + ``gradient`` in numpy.

Then variable-density acoustics against constant density on the same record (forward
and training step), and an epoch of ``ks.models.FWI.fit`` on the built-in faulted model (200 x 80 cells, 16
shots, batch 4) against the propagator's own forward and gradient of the same batches,
also interleaved.

Problem: 401 x 201 cells at 10 m, space order 8, 40 absorbing cells, 1.5 s at 2 ms, a
two-layer model of 2000 and 2500 m/s, 401 receivers at 20 m depth, one source.

    .venv/bin/python benchmarks/short_record.py [--repeat 7] [--only density]
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmark import ApplyClock, bare_devito_forward, make_problem  # noqa: E402


def two_layer_problem():
    """The benchmark's 401 x 201 problem with a 2000 / 2500 m/s two-layer model."""
    prop, vp = make_problem("full")
    vp = np.where(np.arange(vp.shape[1]) < vp.shape[1] // 2, 2000.0, 2500.0)
    return prop, np.ascontiguousarray(np.broadcast_to(vp, prop.grid.shape), np.float32)


def layer_calls(prop, vp):
    """``(forward, train_step)`` of ``ks.layers.Modeling`` on one shot."""
    import tensorflow as tf
    import keras_seismic as ks

    layer = ks.layers.Modeling(prop)
    shots = tf.constant([0], tf.int64)
    vp_tensor, vp_var = tf.constant(vp[None]), tf.Variable(vp[None])
    observed = tf.constant(prop.forward(vp * 1.01))

    def forward():
        return layer(vp_tensor, shots, training=False).numpy()

    def train_step():
        with tf.GradientTape() as tape:
            loss = 0.5 * tf.reduce_sum(tf.square(layer(vp_var, shots, training=True)
                                                 - observed))
        return tape.gradient(loss, vp_var).numpy()

    return forward, train_step, observed.numpy()


def interleaved(calls, repeat):
    """Median wall time of each named call and the median of its time inside
    ``Operator.apply``, the calls taking turns ``repeat`` times after one warm-up each."""
    clock = ApplyClock()
    times = {name: ([], []) for name in calls}
    for name, (prepare, run) in calls.items():
        prepare()
        run()
    for _ in range(repeat):
        for name, (prepare, run) in calls.items():
            prepare()
            clock.reset()
            start = time.perf_counter()
            run()
            times[name][0].append(time.perf_counter() - start)
            times[name][1].append(clock.apply)
    return {name: (statistics.median(wall), statistics.median(apply))
            for name, (wall, apply) in times.items()}


def short_record(repeat):
    prop, vp = two_layer_problem()
    op, fields, dt, steps = bare_devito_forward(prop, vp)
    # The propagator runs iterations 0..nsteps (one more than the bare operator's
    # 0..steps-1 on the same axis): the step counts differ by one in 750.
    ours = prop.time_steps(vp)[1] + 1
    forward, train_step, observed = layer_calls(prop, vp)

    def zero():
        fields["u"].data_with_halo[:] = 0.0

    def propagator_step():
        data, state = prop.forward_with_state(vp)
        prop.gradient(state, data - observed)
        state.release()

    nothing = lambda: None  # noqa: E731
    medians = interleaved({
        "bare Devito": (zero, lambda: op.apply(time_m=0, time_M=steps - 1, dt=dt)),
        "propagator forward": (nothing, lambda: prop.forward(vp)),
        "layer forward": (nothing, forward),
        "layer train step": (nothing, train_step),
        "propagator forward + gradient": (nothing, propagator_step)}, repeat)
    print(f"short record: {prop.grid.shape} cells, {ours} internal steps ({steps} in the "
          f"bare operator), median of {repeat}")
    for name, (seconds, apply) in medians.items():
        solves = 2 if "train" in name or "gradient" in name else 1
        points = np.prod(prop.padding.padded_shape) * (steps if name == "bare Devito"
                                                       else ours)
        print(f"  {name:32s} {seconds * 1e3:8.1f} ms  {points * solves / seconds / 1e6:7.0f}"
              f" Mpts/s  {100 * (1 - apply / seconds):4.1f}% outside Operator.apply")
    wall = {name: seconds for name, (seconds, _) in medians.items()}
    print(f"  layer forward / bare Devito      {wall['layer forward'] / wall['bare Devito']:6.3f}"
          f"   (target <= 1.05)")
    print(f"  layer train step / layer forward "
          f"{wall['layer train step'] / wall['layer forward']:6.3f}   (target <= 2.2)")
    print(f"  layer train step / propagator    "
          f"{wall['layer train step'] / wall['propagator forward + gradient']:6.3f}")


def density_row(repeat):
    """Variable-density acoustics on the short record (a two-layer density of 1800 and
    2300 kg/m^3 under the two velocities) against constant density: forward and training
    step (forward with the stored wavefield, and the gradients of both fields), timed
    interleaved."""
    import keras_seismic as ks

    acoustic, vp = two_layer_problem()
    density = ks.Propagator(acoustic.grid, acoustic.survey, physics="acoustic-density",
                            space_order=acoustic.space_order,
                            absorbing_width=acoustic.absorbing_width)
    rho = np.where(np.arange(vp.shape[1]) < vp.shape[1] // 2, 1800.0, 2300.0)
    model = {"vp": vp, "rho": np.ascontiguousarray(np.broadcast_to(rho, vp.shape),
                                                   np.float32)}
    observed = density.forward({k: v * 1.01 for k, v in model.items()})

    def step(prop, m, fields=None):
        data, state = prop.forward_with_state(m)
        prop.gradient(state, data - observed, fields=fields)
        state.release()

    nothing = lambda: None  # noqa: E731
    medians = interleaved({
        "constant density forward": (nothing, lambda: acoustic.forward(vp)),
        "constant density step": (nothing, lambda: step(acoustic, vp)),
        "variable density forward": (nothing, lambda: density.forward(model)),
        "variable density step": (nothing, lambda: step(density, model)),
        "variable density step, vp only": (nothing, lambda: step(density, model, "vp"))},
        repeat)
    steps = {"constant": acoustic.time_steps(vp)[1], "variable": density.time_steps(model)[1]}
    print(f"variable density: {acoustic.grid.shape} cells, {steps['constant']} / "
          f"{steps['variable']} internal steps (constant / variable), median of {repeat}")
    for name, (seconds, apply) in medians.items():
        print(f"  {name:32s} {seconds * 1e3:8.1f} ms  {100 * (1 - apply / seconds):4.1f}% "
              f"outside Operator.apply")
    wall = {name: seconds for name, (seconds, _) in medians.items()}
    print(f"  variable / constant forward      "
          f"{wall['variable density forward'] / wall['constant density forward']:6.3f}"
          f"   (target <= 1.9)")
    print(f"  variable step / variable forward "
          f"{wall['variable density step'] / wall['variable density forward']:6.3f}"
          f"   (target <= 2.3)")
    print(f"  vp-only step / variable forward  "
          f"{wall['variable density step, vp only'] / wall['variable density forward']:6.3f}")
    print(f"  constant step / constant forward "
          f"{wall['constant density step'] / wall['constant density forward']:6.3f}")


def fit_epoch(repeat):
    """An epoch of ``FWI.fit`` against the propagator's forward + gradient of the same
    batches."""
    import keras
    import keras_seismic as ks

    grid, true_vp = ks.datasets.faulted(shape=(200, 80), spacing=10.0)
    survey = ks.datasets.surface_survey(grid, nshots=16, f0=10.0, duration=1.0)
    prop = ks.AcousticPropagator(grid, survey, space_order=8, absorbing_width=40)
    observed = prop.forward(true_vp)
    start = ks.datasets.smooth(true_vp, 60.0, grid=grid, water_velocity=1500.0)
    model = ks.models.FWI(prop, start, vmin=1400.0, vmax=5000.0)
    model.compile(optimizer=keras.optimizers.SGD(0.0))   # the model stays where it is
    shots = np.arange(survey.nshots)

    def epoch():
        model.fit(shots, observed, batch_size=4, epochs=1, shuffle=False, verbose=0)

    def propagator():
        for batch in np.split(shots, 4):
            data, state = prop.forward_with_state(start, batch)
            prop.gradient(state, data - observed[batch])
            state.release()

    nothing = lambda: None  # noqa: E731
    medians = interleaved({"FWI.fit epoch": (nothing, epoch),
                           "propagator, same batches": (nothing, propagator)}, repeat)
    print(f"fit epoch: faulted {grid.shape}, 16 shots, batch 4, median of {repeat}")
    for name, (seconds, apply) in medians.items():
        print(f"  {name:32s} {seconds:8.3f} s   {100 * (1 - apply / seconds):4.1f}% outside "
              f"Operator.apply")
    ratio = medians["FWI.fit epoch"][0] / medians["propagator, same batches"][0]
    print(f"  fit epoch / propagator           {ratio:6.3f}   (target <= 1.05)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed calls a row")
    parser.add_argument("--epochs", type=int, default=3, help="timed fit epochs")
    parser.add_argument("--only", choices=("short", "density", "fit"),
                        help="run one part alone")
    args = parser.parse_args(argv)
    if args.only in (None, "short"):
        short_record(args.repeat)
    if args.only in (None, "density"):
        density_row(args.repeat)
    if args.only in (None, "fit"):
        fit_epoch(args.epochs)


if __name__ == "__main__":
    main()
