"""The three commands: ``demo`` (the built-in problem), ``fwi`` (the user's SEG-Y shots) and
``model`` (shots modeled and written to SEG-Y). Each reads its settings, checks that the
files fit them (a :class:`~keras_seismic.cli.schema.ConfigError` names the field), runs
and reports.

The package's parts (the propagator with Devito, SEG-Y, the datasets) are imported by the
command that uses them, so that ``keras-seismic --help`` starts at once.
"""
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from .config import _SURVEY_KEYS, load_config, parse_fwi_config, parse_model_config
from .inversion import _import_tensorflow_quietly, _invert
from .report import _finish, _machine, _model_figure, _problem, _say, _timed
from .schema import ConfigError

__all__ = ["DEMO_SETTINGS", "run_demo", "run_fwi", "run_model"]


def _output_folder(out):
    """``out`` as a Path, created if need be and checked writable now, before any work
    whose results would then be lost."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        owner = f", which belongs to uid {out.stat().st_uid}" if out.is_dir() else ""
        raise OSError(f"cannot write to the output folder {out}{owner} as uid "
                      f"{os.getuid()}: {err.strerror}. Choose another folder, or make "
                      f"this one writable (in Docker: create it yourself before "
                      f"`docker run -v`, or add --user \"$(id -u):$(id -g)\")") from None
    return out


def _grid_from_file(field, spec):
    """(grid, vp) from a checked velocity-file spec; ConfigError naming ``field``."""
    from .. import io
    from ..grid import Grid
    try:
        grid, vp = io.read_velocity(spec["path"], spacing=spec["spacing"])
        if spec.get("origin") is not None:
            if len(spec["origin"]) != grid.ndim:
                raise ValueError(f"origin has {len(spec['origin'])} values for a "
                                 f"{grid.ndim}-D model")
            grid = Grid(grid.shape, grid.spacing, spec["origin"])
    except (ValueError, FileNotFoundError) as err:
        raise ConfigError((field, str(err))) from None
    return grid, vp


# -- demo -----------------------------------------------------------------------------------

#: The demo problems: the full run (under 10 minutes on 2 cores) and the quick one (tests).
DEMO_SETTINGS = {
    "full": dict(shape=(200, 80), spacing=10.0, seed=0, nshots=16, f0=8.0, sigma=200.0,
                 space_order=8, absorbing_width=20, cutoffs=[4.0, 6.0, 8.0],
                 epochs_per_stage=15, batch_size=4, learning_rate=30.0,
                 learning_rate_decay=0.2, vmin=1400.0,
                 vmax=4700.0, snapshot_every=5),
    "quick": dict(shape=(60, 25), spacing=15.0, seed=0, nshots=4, f0=8.0, sigma=150.0,
                  space_order=4, absorbing_width=10, cutoffs=[4.0, 8.0],
                  epochs_per_stage=3, batch_size=2, learning_rate=60.0,
                  learning_rate_decay=1.0, vmin=1400.0,
                  vmax=4700.0, snapshot_every=3),
}


def run_demo(out="out", quick=False, verbose=2, **overrides):
    """Multiscale FWI of the built-in faulted model; returns the metrics dict.

    ``overrides`` replace entries of :data:`DEMO_SETTINGS` (for experiments).
    """
    started = time.perf_counter()
    machine = _machine()
    s = {**DEMO_SETTINGS["quick" if quick else "full"], **overrides}
    out = _output_folder(out)
    _say(f"keras-seismic demo{' --quick' if quick else ''}: multiscale FWI of the faulted "
         f"model, {s['shape'][0]}x{s['shape'][1]} cells of {s['spacing']:g} m, "
         f"{s['nshots']} shots; outputs in {out}")
    timings = {}
    prop, true_vp, start, mask = _demo_problem(s)
    with _timed(timings, "observed_data"):
        observed = prop.forward(true_vp)
    result = _invert(prop, observed, start, vmin=s["vmin"], vmax=s["vmax"], mask=mask,
                     out=out, epochs=len(s["cutoffs"]) * s["epochs_per_stage"],
                     batch_size=s["batch_size"], learning_rate=s["learning_rate"],
                     learning_rate_decay=s["learning_rate_decay"],
                     adam_epsilon=s.get("adam_epsilon", 1e-20),
                     cutoffs=s["cutoffs"], epochs_per_stage=s["epochs_per_stage"],
                     true_vp=true_vp, snapshot_every=s["snapshot_every"], seed=0,
                     verbose=verbose)
    result["timings"] = {**timings, **result["timings"]}
    metrics = {"command": "demo --quick" if quick else "demo",
               **_demo_metrics(s, prop, true_vp, result), "machine": machine}
    _finish(out, result, metrics, started)
    return metrics


def _demo_metrics(s, prop, true_vp, result):
    """metrics.json of the demo of settings ``s``, without the command and the machine."""
    return {
        "model": {"dataset": "faulted", "seed": s["seed"],
                  "starting_model": f"faulted smoothed by a {s['sigma']:g} m Gaussian, water "
                                    f"layer kept and masked",
                  "observed_data": "modeled with the same propagator (no noise)",
                  "f0_hz": s["f0"], "wavelet": "Ricker"},
        "problem": _problem(prop, true_vp),
        "inversion": result["inversion"],
        "misfit": result["misfit"],
        "model_error": result["model_error"],
    }


def _demo_problem(s):
    """The propagator, true model, smoothed starting model and water mask of settings
    ``s``."""
    from .. import datasets
    from ..propagator import AcousticPropagator

    grid, true_vp = datasets.faulted(shape=s["shape"], spacing=s["spacing"], seed=s["seed"])
    survey = datasets.surface_survey(grid, nshots=s["nshots"], f0=s["f0"])
    prop = AcousticPropagator(grid, survey, space_order=s["space_order"],
                              absorbing_width=s["absorbing_width"])
    start = datasets.smooth(true_vp, s["sigma"], grid=grid,
                            water_velocity=datasets.WATER_VELOCITY)
    return prop, true_vp, start, datasets.water_mask(start)


# -- fwi ------------------------------------------------------------------------------------

def run_fwi(config_path, out=None, verbose=None):
    """The ``fwi`` command; returns the metrics dict. ConfigError for bad configs."""
    started = time.perf_counter()
    machine = _machine()
    config_path = Path(config_path)
    cfg = parse_fwi_config(load_config(config_path), base=config_path.parent.resolve(),
                           source=config_path)
    inv, opts = cfg["inversion"], cfg["output"]
    out = _output_folder(out if out is not None else opts["directory"])
    verbose = opts["verbose"] if verbose is None else verbose

    # The data's preparation runs in TensorFlow: import it now, without its start-up lines.
    _import_tensorflow_quietly()
    # Files: read, and check that they fit together. Problems name the config field.
    observed, survey = _read_shots(cfg["data"], config_path)
    grid, start = _grid_from_file("starting_model.path", cfg["starting_model"])
    true_vp = _read_true_model(cfg["true_model"], start, config_path)
    rho = _read_density(cfg["density"], start, inv, config_path)
    problems, vmin, vmax, mask = _fit_problems(inv, survey, grid, start)
    bounds = _density_bounds(inv, rho, problems)
    if problems:
        raise ConfigError(problems, config_path)
    prop = _fwi_propagator(grid, survey, cfg, config_path)
    model = _starting_model(prop, start, rho, cfg["parameters"], config_path)

    _say(f"keras-seismic fwi {config_path}: {survey.nshots} shots x {survey.nrec} receivers, "
         f"nt={survey.nt}, grid {grid.shape}; outputs in {out}")
    if cfg["data"]["estimate_wavelet"]:
        prop = _estimated_wavelet(prop, model, observed, cfg, config_path)
    result = _invert(prop, observed, model, vmin=vmin, vmax=vmax, mask=mask, out=out,
                     fields=inv["fields"], bounds=bounds,
                     epochs=inv["epochs"], batch_size=inv["batch_size"],
                     learning_rate=inv["learning_rate"],
                     learning_rate_decay=inv["learning_rate_decay"], cutoffs=inv["cutoffs"],
                     epochs_per_stage=inv["epochs_per_stage"],
                     filter_order=inv["filter_order"], misfit=inv["misfit"],
                     true_vp=true_vp, snapshot_every=opts["snapshot_every"],
                     shuffle=inv["shuffle"], seed=inv["seed"], verbose=verbose)
    metrics = _fwi_metrics(cfg, config_path, prop, model, result, true_vp is not None)
    metrics["machine"] = machine
    _finish(out, result, metrics, started)
    return metrics


def _read_shots(data, config_path):
    """(observed data, survey) of the SEG-Y shots, with the wavelet of the ``data``
    settings, prepared as ``data.preprocess`` says."""
    from .. import io

    wavelet = None
    if data["wavelet"] is not None:
        try:
            wavelet = np.load(data["wavelet"], allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ConfigError(("data.wavelet", f"{data['wavelet']}: not a readable .npy "
                                               f"array ({err})"), config_path) from None
    positions = {}
    for name in ("sources", "receivers"):
        if data[name] is None or data[name] == "offset":
            positions[name] = data[name]
            continue
        try:
            positions[name] = np.load(data[name], allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ConfigError((f"data.{name}", f"{data[name]}: not a readable .npy array "
                                               f"({err})"), config_path) from None
    try:
        observed, survey = io.read_shots(data["shots"], wavelet=wavelet, f0=data["f0"],
                                         endian=data["endian"], elevation=data["elevation"],
                                         **positions)
    except ValueError as err:
        # An argument the config gave is at fault, or else the file.
        argument = getattr(err, "argument", None)
        field = f"data.{argument}" if argument in ("wavelet", "sources", "receivers") \
            and data[argument] is not None else "data.shots"
        raise ConfigError((field, str(err)), config_path) from None
    return _prepare(data, observed, survey, config_path)


def _prepare(data, observed, survey, config_path):
    """The observed data and survey after the ``data.preprocess`` steps: offsets select
    the live traces, the band-pass filters the data and the wavelet alike, the mute,
    window and normalisation the data."""
    from .. import preprocessing as pp

    prep, done = data["preprocess"], []
    field = "data.preprocess"
    try:
        if prep["offsets"] is not None:
            field = "data.preprocess.offsets"
            survey = pp.select_offsets(survey, *prep["offsets"])
            observed = observed * survey.receiver_mask[:, None, :]
            done.append(f"offsets {prep['offsets'][0]:g} to {prep['offsets'][1]:g} m")
        steps = []
        if prep["bandpass"] is not None:
            field = "data.preprocess.bandpass"
            band = pp.BandPass(survey.dt, *prep["bandpass"])
            survey = band.survey(survey)
            steps.append(band)
            done.append(f"band-pass {prep['bandpass'][0]:g}-{prep['bandpass'][1]:g} Hz")
        if prep["mute_velocity"] is not None:
            field = "data.preprocess.mute_velocity"
            steps.append(pp.TopMute(survey, prep["mute_velocity"], prep["mute_shift"],
                                    prep["mute_taper"]))
            done.append(f"top mute at {prep['mute_velocity']:g} m/s")
        if prep["window"] is not None:
            field = "data.preprocess.window"
            steps.append(pp.TimeWindow(survey, *prep["window"]))
            done.append(f"window {prep['window'][0]:g}-{prep['window'][1]:g} s")
        if prep["normalize"]:
            steps.append(pp.TraceNormalization())
            done.append("trace normalisation")
        observed = pp.apply(steps, observed)
    except ValueError as err:
        raise ConfigError((field, str(err)), config_path) from None
    if done:
        _say(f"preprocessing: {', '.join(done)}")
    return observed, survey


def _estimated_wavelet(prop, model, observed, cfg, config_path):
    """The propagator with the wavelet estimated from the data in the starting model."""
    from .. import preprocessing

    try:
        wavelet = preprocessing.estimate_wavelet(prop, model, observed)
    except ValueError as err:
        raise ConfigError(("data.estimate_wavelet", str(err)), config_path) from None
    _say(f"estimated the source wavelet from the data (least-squares matching filter); its "
         f"peak is {float(np.abs(wavelet).max()):.3g}")
    return _fwi_propagator(prop.grid, prop.survey.replace(wavelet=wavelet), cfg,
                           config_path)


def _read_density(spec, start, inv, config_path):
    """The density of the starting model in kg/m^3 (None without a density section): read
    from its file, or from the starting velocity by Gardner's relation (water, if
    ``water_velocity`` is set, at 1000 kg/m^3)."""
    from .. import datasets

    if spec is None:
        return None
    if spec["relation"] == "gardner":
        return datasets.gardner(start, water_velocity=inv["water_velocity"])
    _, rho = _grid_from_file("density.path", spec)
    if rho.shape != start.shape:
        raise ConfigError(("density.path", f"the density has shape {rho.shape} but the "
                                           f"starting model has {start.shape}"), config_path)
    return rho


def _density_bounds(inv, rho, problems):
    """The bounds of the inverted fields besides vp: those of the config, and for the
    density by default 0.8 and 1.25 times the extremes of the starting one."""
    bounds = dict(inv["bounds"])
    inverted = inv["fields"] or (("vp",) if rho is None else ("vp", "rho"))
    if rho is None or "rho" not in inverted:
        if bounds:
            problems.append(("inversion.bounds", "bounds of fields that are not inverted"))
        return bounds
    low, high = float(rho.min()), float(rho.max())
    bounds.setdefault("rho", [round(0.8 * low, 1), round(1.25 * high, 1)])
    if low < bounds["rho"][0] or high > bounds["rho"][1]:
        problems.append(("inversion.bounds.rho",
                         f"the starting density spans {low:g} to {high:g} kg/m^3, outside "
                         f"the bounds {bounds['rho']}"))
    return bounds


def _starting_model(prop, start, rho, files, config_path):
    """The starting model of ``prop``'s physics: the velocity, the density (if any) and the
    other fields from the ``parameters`` files, checked as the propagator checks models."""
    needed = [name for name in prop.parameters if name not in ("vp", "rho")]
    missing = [name for name in needed if name not in files]
    unknown = [name for name in files if name not in needed]
    if missing or unknown or (rho is None) != ("rho" not in prop.parameters):
        raise ConfigError(("parameters", f"physics {prop.physics.name!r} has the fields "
                                         f"{prop.parameters}: give vp as starting_model, "
                                         f"rho as density, and {tuple(needed)} as parameters "
                                         f"files; got {tuple(files)}"
                                         + (" and a density" if rho is not None else "")),
                          config_path)
    model = {"vp": start, **({} if rho is None else {"rho": rho})}
    for name, path in files.items():
        try:
            model[name] = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ConfigError((f"parameters.{name}", f"{path}: not a readable .npy array "
                                                     f"({err})"), config_path) from None
    try:
        prop.check_model(model)
    except (TypeError, ValueError) as err:
        raise ConfigError(("parameters", str(err)), config_path) from None
    return model if len(model) > 1 else start


def _read_true_model(spec, start, config_path):
    """The true velocity (None without ``spec``), of the starting model's shape."""
    if spec is None:
        return None
    _, true_vp = _grid_from_file("true_model.path", spec)
    if true_vp.shape != start.shape:
        raise ConfigError(("true_model.path", f"the true model has shape {true_vp.shape} but "
                                              f"the starting model has {start.shape}"),
                          config_path)
    return true_vp


def _fit_problems(inv, survey, grid, start):
    """What the files say against the inversion settings: ``(problems, vmin, vmax,
    mask)``, the bounds (m/s) by default around the starting model and the water mask
    (or None)."""
    problems = []
    nyquist = 0.5 / survey.dt
    cutoffs = inv["cutoffs"]
    if cutoffs and any(c is not None and c >= nyquist for c in cutoffs):
        problems.append(("inversion.multiscale.cutoffs",
                         f"cutoffs must stay below the Nyquist frequency {nyquist:g} Hz of "
                         f"the data (dt = {survey.dt:g} s); got {cutoffs}"))
    vmin, vmax = _bounds(inv, start, problems)
    mask = _water_mask(inv, start, problems)
    if inv["batch_size"] > survey.nshots:
        problems.append(("inversion.batch_size", f"expected at most the number of shots "
                                                 f"({survey.nshots}); got {inv['batch_size']}"))
    if survey.ndim != grid.ndim:
        problems.append(("data.shots", f"the shots are {survey.ndim}-D but the starting model "
                                       f"is {grid.ndim}-D"))
    return problems, vmin, vmax, mask


def _bounds(inv, start, problems):
    """(vmin, vmax) in m/s, by default 0.9 and 1.2 times the extremes of the starting
    model, which they must contain; a problem appended to ``problems`` if not."""
    low, high = float(start.min()), float(start.max())
    vmin = inv["vmin"] if inv["vmin"] is not None else round(0.9 * low, 1)
    vmax = inv["vmax"] if inv["vmax"] is not None else round(1.2 * high, 1)
    if vmin >= vmax:
        problems.append(("inversion.vmin", f"expected a velocity below vmax={vmax:g} m/s; "
                                           f"got {vmin:g}"))
    elif low < vmin or high > vmax:
        field = "inversion.vmin" if low < vmin else "inversion.vmax"
        problems.append((field, f"the starting model spans {low:g} to {high:g} m/s, outside "
                                f"the bounds vmin={vmin:g}, vmax={vmax:g} m/s"))
    return vmin, vmax


def _water_mask(inv, start, problems):
    """The mask of the water layer of ``water_velocity`` (None without it); a problem
    appended to ``problems`` if the starting model has no such layer at the top."""
    if inv["water_velocity"] is None:
        return None
    from .. import datasets
    mask = datasets.water_mask(start, inv["water_velocity"])
    if mask.min() > 0:
        problems.append(("inversion.water_velocity",
                         f"no water layer of {inv['water_velocity']:g} m/s (+-1 m/s) at "
                         f"the top of the starting model; leave water_velocity out for "
                         f"no mask"))
    return mask


def _fwi_propagator(grid, survey, cfg, config_path):
    """The propagator of the inversion, of the physics of ``propagator.physics``; by default
    variable-density acoustics if the config has a density, constant-density otherwise."""
    from ..propagator import Propagator

    options = dict(cfg["propagator"])
    physics = options.pop("physics") or (
        "acoustic" if cfg["density"] is None else "acoustic-density")
    try:
        return Propagator(grid, survey, physics=physics, **options)
    except ValueError as err:
        raise ConfigError(("data.shots", f"{err} (the grid of the starting model "
                                         f"{cfg['starting_model']['path'].name})"),
                          config_path) from None


def _fwi_metrics(cfg, config_path, prop, model, result, has_true):
    """metrics.json of the ``fwi`` command, without the machine."""
    data = cfg["data"]
    metrics = {"command": "fwi", "config": os.fspath(config_path.resolve()),
               "inputs": {"shots": data["shots"],
                          "starting_model": cfg["starting_model"]["path"],
                          "true_model": cfg["true_model"]["path"] if has_true else None,
                          "wavelet": data["wavelet"] or f"Ricker {data['f0']:g} Hz"},
               "problem": _problem(prop, model), "inversion": result["inversion"],
               "misfit": result["misfit"]}
    if has_true:
        metrics["model_error"] = result["model_error"]
    return metrics


# -- model ----------------------------------------------------------------------------------

def run_model(config_path, out=None):
    """The ``model`` command: writes the shots (and optional files); returns a summary
    dict. With ``out``, relative output paths go there instead of next to the config."""
    from ..propagator import AcousticPropagator

    config_path = Path(config_path)
    cfg = parse_model_config(load_config(config_path), base=config_path.parent.resolve(),
                             source=config_path, out_base=out)
    grid, vp = _model_velocity(cfg["velocity"], config_path)
    survey = _model_survey(grid, cfg["survey"], config_path)
    prop = AcousticPropagator(grid, survey, **cfg["propagator"])
    try:
        prop.check_model(vp)  # before any solve, and in the config's words
    except ValueError as err:
        key = "velocity" if cfg["velocity"]["dataset"] else "velocity.path"
        raise ConfigError((key, str(err)), config_path) from None

    _say(f"keras-seismic model {config_path}: grid {grid.shape} at {grid.spacing} m, "
         f"{survey.nshots} shots x {survey.nrec} receivers, nt={survey.nt}, "
         f"dt={survey.dt:g} s")
    timings = {}
    with _timed(timings, "modeling"):
        data = prop.forward(vp)
    written = _write_model_outputs(cfg["output"], vp, grid, survey, data)
    _say(f"modeled in {timings['modeling']:.1f} s; wrote "
         + ", ".join(os.fspath(p) for p in written))
    return {"files": written, "data_shape": data.shape, "grid": grid, "survey": survey,
            "seconds": timings["modeling"]}


def _model_velocity(vel, config_path):
    """(grid, vp) of the built-in dataset or velocity file of the ``velocity`` settings."""
    from .. import datasets

    if vel["dataset"] is None:
        return _grid_from_file("velocity.path", vel)
    function = getattr(datasets, vel["dataset"])
    try:
        return function(shape=tuple(vel["shape"]), spacing=vel["spacing"], **vel["options"])
    except (ValueError, TypeError) as err:
        raise ConfigError(("velocity", str(err)), config_path) from None


def _model_survey(grid, sv, config_path):
    """The surface survey of the ``survey`` settings over ``grid``, with their wavelet."""
    from .. import datasets
    from ..survey import Survey

    try:
        survey = datasets.surface_survey(
            grid, nshots=sv["nshots"], nrec=sv["nrec"], f0=sv["f0"], duration=sv["duration"],
            dt=sv["dt"], source_depth=sv["source_depth"], receiver_depth=sv["receiver_depth"])
    except ValueError as err:
        message = str(err).removeprefix("surface_survey: ")
        field = next((f"survey.{k}" for k in _SURVEY_KEYS if message.startswith(k)), "survey")
        raise ConfigError((field, message), config_path) from None
    if sv["wavelet"] is None:
        return survey
    try:
        wavelet = np.load(sv["wavelet"], allow_pickle=False)
        return Survey(survey.sources, survey.receivers, survey.dt, survey.nt, wavelet)
    except (OSError, ValueError) as err:
        raise ConfigError(("survey.wavelet", f"{sv['wavelet']}: {err} (the survey has "
                                             f"nt={survey.nt}, dt={survey.dt:g} s)"),
                          config_path) from None


def _write_model_outputs(opts, vp, grid, survey, data):
    """The shots, and the velocity, smoothed starting model and figure if asked for;
    returns the paths written, in that order."""
    from .. import datasets, io

    st = opts["starting_model"]
    paths = [opts["shots"], opts["velocity"], st["path"] if st else None, opts["figure"]]
    for path in paths:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
    io.write_shots(opts["shots"], data, survey)
    if opts["velocity"] is not None:
        io.write_velocity(opts["velocity"], vp, grid)
    if st is not None:
        smooth = datasets.smooth(vp, st["sigma"], grid=grid,
                                 water_velocity=st["water_velocity"])
        io.write_velocity(st["path"], smooth, grid)
    if opts["figure"] is not None:
        _model_figure(vp, grid, survey, data, opts["figure"])
    return [path for path in paths if path is not None]
