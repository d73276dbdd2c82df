"""FWI quality per step, keras-seismic against deepwave: the same marine model and survey,
the same optimizer, steps, box and water mask; each package inverts data it modelled
itself in the true model.

Model: ``ks.datasets.faulted`` on 200 x 140 cells at 25 m (5 km x 3.5 km, water on top);
10 surface shots, 200 receivers, 4 Hz Ricker, 3 s. Start: the true model smoothed over
300 m below the water. Optimizer: Adam with 10 m/s steps and epsilon 1e-20, 50 steps in
batches of 2 shots (always in the same order), the box 1450-4700 m/s, no update in the
water.

    .venv/bin/python benchmarks/fwi_quality.py [--steps 50] [--width 40] [--figure F]

keras-seismic keeps its trainable model in float64 (see layers.VelocityModel); the
deepwave run is repeated with Adam on a float64 copy of its model, for the same reason.

Prints the model error (relative L2 below the water) and the data misfit (relative to the
start) after every epoch for both, and the time of each run.
"""
import argparse
import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SHAPE, SPACING, NSHOTS, NREC, F0, DURATION = (200, 140), 25.0, 10, 200, 4.0, 3.0
LEARNING_RATE, BATCH, VMIN, VMAX = 10.0, 2, 1450.0, 4700.0


def marine_problem():
    import keras_seismic as ks
    grid, true = ks.datasets.faulted(shape=SHAPE, spacing=SPACING, seed=0)
    survey = ks.datasets.surface_survey(grid, nshots=NSHOTS, nrec=NREC, f0=F0,
                                        duration=DURATION)
    start = ks.datasets.smooth(true, 300.0, grid=grid, water_velocity=1500.0)
    mask = ks.datasets.water_mask(start)
    return grid, survey, true, start, mask


def model_error(vp, true, mask):
    below = mask > 0
    return float(np.linalg.norm((vp - true)[below]) / np.linalg.norm(true[below]))


def batches(steps):
    order = np.arange(NSHOTS).reshape(-1, BATCH)
    return [order[i % len(order)] for i in range(steps)]


def ours(steps, width):
    """Model errors after each step, the misfit of each step's batch, the misfits of all
    shots at the start and the end, and the seconds the steps took."""
    import keras
    import keras_seismic as ks
    grid, survey, true, start, mask = marine_problem()
    prop = ks.AcousticPropagator(grid, survey, space_order=8, absorbing_width=width)
    observed = prop.forward(true)
    model = ks.models.FWI(prop, start, VMIN, VMAX, mask=mask)
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE, epsilon=1e-20))
    errors, losses = [model_error(start, true, mask)], []
    began = time.perf_counter()
    for shots in batches(steps):
        losses.append(float(model.train_on_batch(shots, observed[shots])))
        errors.append(model_error(model.velocity, true, mask))
    seconds = time.perf_counter() - began
    misfit = [0.5 * float(np.sum((prop.forward(v) - observed) ** 2))
              for v in (start, model.velocity)]
    return errors, losses, misfit, seconds


def theirs(steps, width, adam_dtype="float32"):
    """The same with ``deepwave.scalar`` (PML of ``width`` cells, accuracy 8), with Adam
    on the float32 model, or on a float64 copy of it (``adam_dtype="float64"``, as
    keras-seismic's FWI keeps its model) that is cast to float32 for each solve."""
    import deepwave
    import torch
    torch.set_num_threads(os.cpu_count() or 1)
    grid, survey, true, start, mask = marine_problem()
    index = lambda x: torch.tensor(np.rint(x / SPACING).astype(np.int64))  # noqa: E731
    sources = index(survey.sources)                          # (shots, 1, 2)
    receivers = index(np.broadcast_to(survey.receivers, (NSHOTS, NREC, 2)))
    wavelets = torch.tensor(survey.wavelet)                  # (shots, 1, nt)

    def model(v, shots):
        return deepwave.scalar(v, SPACING, survey.dt, source_amplitudes=wavelets[shots],
                               source_locations=sources[shots],
                               receiver_locations=receivers[shots], accuracy=8,
                               pml_width=width, pml_freq=F0).receiver_amplitudes

    with torch.no_grad():
        observed = model(torch.tensor(true), np.arange(NSHOTS))
    v = torch.tensor(start.astype(adam_dtype), requires_grad=True)
    frozen = torch.tensor(mask.astype(adam_dtype))
    optimizer = torch.optim.Adam([v], lr=LEARNING_RATE, eps=1e-20)
    errors, losses = [model_error(start, true, mask)], []
    began = time.perf_counter()
    for shots in batches(steps):
        optimizer.zero_grad()
        loss = 0.5 * ((model(v.float(), shots) - observed[shots]) ** 2).sum()
        losses.append(loss.item())
        loss.backward()
        v.grad *= frozen
        optimizer.step()
        with torch.no_grad():
            v.clamp_(VMIN, VMAX)
        errors.append(model_error(v.detach().float().numpy(), true, mask))
    seconds = time.perf_counter() - began
    with torch.no_grad():
        misfit = [0.5 * float(((model(torch.tensor(m), np.arange(NSHOTS)) - observed) ** 2)
                              .sum()) for m in (start, v.detach().float().numpy())]
    return errors, losses, misfit, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--width", type=int, nargs="+", default=[40],
                        help="absorbing cells (ours) and PML cells (deepwave)")
    parser.add_argument("--figure", help="write the model-error curves to this PNG")
    parser.add_argument("--only", choices=("keras-seismic", "deepwave"),
                        help="run one package only")
    args = parser.parse_args(argv)
    runs = (("keras-seismic", ours), ("deepwave", theirs),
            ("deepwave, Adam in float64", lambda steps, width: theirs(steps, width,
                                                                     "float64")))
    curves = {}
    for width in args.width:
        for name, run in runs:
            if args.only not in (None, name.split(",")[0]):
                continue
            errors, losses, misfit, seconds = run(args.steps, width)
            label = f"{name}, {width} cells"
            curves[label] = errors, losses
            print(f"{label:38s} model error {errors[0]:.4f} -> {errors[-1]:.4f} "
                  f"(x{errors[-1] / errors[0]:.3f}); misfit x{misfit[1] / misfit[0]:.3f}; "
                  f"{seconds:.0f} s", flush=True)
            print("    after each epoch: " + " ".join(
                f"{e:.4f}" for e in errors[::NSHOTS // BATCH]), flush=True)
    if args.figure:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
        period = NSHOTS // BATCH   # the batches repeat: compare each with its first time
        for label, (errors, losses) in curves.items():
            left.plot(np.array(errors) / errors[0], label=label)
            losses = np.array(losses)
            right.semilogy(losses / np.resize(losses[:period], len(losses)), label=label)
        left.set_xlabel("step (batch of 2 shots)")
        left.set_ylabel("model error / start")
        right.set_xlabel("step (batch of 2 shots)")
        right.set_ylabel("batch misfit / its first")
        left.legend()
        fig.tight_layout()
        fig.savefig(args.figure, dpi=120)


if __name__ == "__main__":
    main()
