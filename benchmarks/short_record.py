"""Per-call cost of the Keras layer on a short record, against a bare Devito operator.

A 0.06 s solve shows every fixed cost of a call (checks, padding, resampling, argument
building, TensorFlow's py_function), so this benchmark times, in one process and with
interleaved calls, so that a slow or busy spell of the machine hits every row alike:

- ``bare Devito``: a forward operator written with Devito's own API on the propagator's
  padded grid and internal time axis (``Operator.apply`` alone);
- ``layer forward``: ``ks.layers.Modeling(prop)`` eager, ``training=False``;
- ``layer train step``: forward with the stored wavefield, L2 misfit, ``tape.gradient``;
- ``propagator forward + gradient``: ``forward_with_state`` + ``gradient`` in numpy.

Then each other physics (variable density, TTI, visco-acoustic) against constant-density
acoustics on the same record (forward and training step), and an epoch of
``ks.models.FWI.fit`` on the built-in faulted model (200 x 80 cells, 16 shots, batch 4)
against the propagator's own forward and gradient of the same batches, also interleaved.

Problem: 401 x 201 cells at 10 m, space order 8, 40 absorbing cells, 1.5 s at 2 ms, a
two-layer model of 2000 and 2500 m/s, 401 receivers at 20 m depth, one source.

    .venv/bin/python benchmarks/short_record.py [--repeat 7] [--only tti]
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


def _two_layers(vp, upper, lower):
    """A field of ``vp``'s shape: ``upper`` above the velocity's interface, ``lower``
    below."""
    field = np.where(np.arange(vp.shape[1]) < vp.shape[1] // 2, upper, lower)
    return np.ascontiguousarray(np.broadcast_to(field, vp.shape), np.float32)


#: The fields besides vp of each physics' row, above and below the interface.
ROWS = {
    "acoustic-density": {"rho": (1800.0, 2300.0)},
    "tti": {"epsilon": (0.1, 0.2), "delta": (0.05, 0.1), "theta": (0.0, 0.35)},
    "visco-acoustic": {"qp": (100.0, 50.0)},
}


def physics_row(repeat, physics):
    """A physics on the short record, its other fields two-layered too (``ROWS``),
    against constant-density acoustics: forward and training step (forward with the
    stored wavefield, and the gradients of every linearised field), timed interleaved."""
    import keras_seismic as ks

    acoustic, vp = two_layer_problem()
    other = ks.Propagator(acoustic.grid, acoustic.survey, physics=physics,
                          space_order=acoustic.space_order,
                          absorbing_width=acoustic.absorbing_width)
    model = {"vp": vp, **{k: _two_layers(vp, *v) for k, v in ROWS[physics].items()}}
    observed = {"acoustic": acoustic.forward(vp * 1.01),
                physics: other.forward(dict(model, vp=vp * 1.01))}

    def step(prop, m, fields=None):
        data, state = prop.forward_with_state(m)
        prop.gradient(state, data - observed[prop.physics.name], fields=fields)
        state.release()

    nothing = lambda: None  # noqa: E731
    calls = {"acoustic forward": (nothing, lambda: acoustic.forward(vp)),
             "acoustic step": (nothing, lambda: step(acoustic, vp)),
             f"{physics} forward": (nothing, lambda: other.forward(model)),
             f"{physics} step": (nothing, lambda: step(other, model))}
    if len(other.physics.linearised) > 1:
        calls[f"{physics} step, vp only"] = (nothing, lambda: step(other, model, "vp"))
    medians = interleaved(calls, repeat)
    print(f"{physics}: {acoustic.grid.shape} cells, {acoustic.time_steps(vp)[1]} / "
          f"{other.time_steps(model)[1]} internal steps (acoustic / {physics}), median of "
          f"{repeat}")
    for name, (seconds, apply) in medians.items():
        print(f"  {name:32s} {seconds * 1e3:8.1f} ms  {100 * (1 - apply / seconds):4.1f}% "
              f"outside Operator.apply")
    wall = {name: seconds for name, (seconds, _) in medians.items()}
    targets = {"forward": "   (target <= 1.9)", "step": "   (target <= 2.3)"} \
        if physics == "acoustic-density" else {"forward": "", "step": ""}
    print(f"  forward / acoustic forward       "
          f"{wall[f'{physics} forward'] / wall['acoustic forward']:6.3f}{targets['forward']}")
    print(f"  step / acoustic step             "
          f"{wall[f'{physics} step'] / wall['acoustic step']:6.3f}")
    print(f"  step / forward                   "
          f"{wall[f'{physics} step'] / wall[f'{physics} forward']:6.3f}{targets['step']}")
    if f"{physics} step, vp only" in wall:
        print(f"  vp-only step / forward           "
              f"{wall[f'{physics} step, vp only'] / wall[f'{physics} forward']:6.3f}")
    print(f"  acoustic step / acoustic forward "
          f"{wall['acoustic step'] / wall['acoustic forward']:6.3f}")


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
    parser.add_argument("--only", choices=("short", *ROWS, "fit"),
                        help="run one part alone")
    args = parser.parse_args(argv)
    if args.only in (None, "short"):
        short_record(args.repeat)
    for physics in ROWS:
        if args.only in (None, physics):
            physics_row(args.repeat, physics)
    if args.only in (None, "fit"):
        fit_epoch(args.epochs)


if __name__ == "__main__":
    main()
