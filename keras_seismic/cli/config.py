"""The settings of the ``fwi`` and ``model`` commands: their configuration files (YAML or
TOML), the sections and fields each command accepts, and their checking into settings with
defaults filled in and paths resolved. ``docs/cli.md`` is the reference of the fields."""
from pathlib import Path

import yaml

from .schema import (_INVALID, ConfigError, _Boolean, _Checker, _Choice, _cutoffs, _describe,
                     _InputFile, _Integer, _Number, _Numbers, _OutputPath, _Subset, _unknown)

try:
    import tomllib
except ImportError:              # Python 3.10
    try:
        import tomli as tomllib
    except ImportError:
        tomllib = None

__all__ = ["load_config", "parse_fwi_config", "parse_model_config"]

_VELOCITY_EXTENSIONS = (".npy", ".npz", ".sgy", ".segy")
_SEGY_EXTENSIONS = (".sgy", ".segy")
_MISFITS = ("l2", "normalized", "envelope", "student_t")
_DATASETS = {  # built-in model -> the options its function takes besides shape and spacing
    "layered": ("velocities", "water_depth"),
    "camembert": ("background", "inclusion", "radius"),
    "faulted": ("seed", "nfaults"),
}
_WAVELET_FILE = _InputFile((".npy",), "a wavelet array (nt,) or (nshots, nt)")


def load_config(path):
    """Read a YAML (``.yaml``, ``.yml``) or TOML (``.toml``) file into a dict.

    Raises:
        ConfigError: the file is missing, has another extension, cannot be parsed, or its
            top level is not a mapping.
    """
    path = Path(path)
    field = "CONFIG"
    ext = path.suffix.lower()
    if ext not in (".yaml", ".yml", ".toml"):
        raise ConfigError((field, f"{path}: expected a .yaml, .yml or .toml file; got the "
                                  f"extension {ext or '(none)'!r}"))
    if not path.is_file():
        raise ConfigError((field, f"{path}: file not found"))
    if ext == ".toml" and tomllib is None:
        raise ConfigError((field, f"{path}: reading TOML needs Python >= 3.11 (or the tomli "
                                  f"package); use a YAML file instead"))
    raw = _read(path, ext, field)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError((field, f"{path}: the top level must be a mapping of sections; "
                                  f"got {type(raw).__name__}"))
    return raw


def _read(path, ext, field):
    """The parsed contents of a YAML or TOML file; ConfigError naming ``field`` if bad."""
    try:
        if ext == ".toml":
            with open(path, "rb") as handle:
                return tomllib.load(handle)
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except (yaml.YAMLError, UnicodeDecodeError, ValueError) as err:   # TOMLDecodeError too
        detail = " ".join(str(err).split())
        raise ConfigError((field, f"{path}: not valid {'TOML' if ext == '.toml' else 'YAML'}"
                                  f": {detail}")) from None


# -- sections shared by both commands ----------------------------------------------------

_VELOCITY_FILE_KEYS = ("path", "spacing", "origin")
_PROPAGATOR_KEYS = ("space_order", "absorbing_width", "free_surface", "platform", "language",
                    "compiler")


def _velocity_file(section):
    """{path, spacing, origin} of a velocity file section (checks the fields only)."""
    path = section.get("path", _InputFile(_VELOCITY_EXTENSIONS, "a velocity model"),
                       required=True)
    spacing = section.get("spacing", _Numbers((2, 3), scalar_ok=True, unit="m"))
    origin = section.get("origin", _Numbers((2, 3), positive=False, unit="m"))
    if path not in (None, _INVALID) and path.suffix.lower() == ".npy" and spacing is None:
        section.checker.error(section.field("spacing"),
                              "missing; a .npy file stores no grid spacing: give the "
                              "spacing in metres, e.g. [12.5, 12.5]")
    return {"path": path, "spacing": spacing, "origin": origin}


def _propagator_options(section, physics=False):
    """The propagator's options; with ``physics``, the wave equation too (fwi)."""
    from ..physics.target import Target, accepted   # where the kernels run (GPU docs)
    from ..physics.registry import PHYSICS
    options = {"space_order": section.get("space_order", _Integer(2, 16, even=True), 8),
               "absorbing_width": section.get("absorbing_width", _Integer(0, 1000), 40),
               "free_surface": section.get("free_surface", _Boolean(), False)}
    target = {setting: section.get(setting, _Choice(accepted(setting)))
              for setting in ("platform", "language", "compiler")}
    if _INVALID not in target.values():
        try:
            Target(**target)
        except ValueError as err:     # a GPU-only language on a CPU platform
            section.checker.error(section.field("language"), str(err))
    options.update({key: value for key, value in target.items() if value is not None})
    if physics:
        options["physics"] = section.get("physics", _Choice(tuple(PHYSICS)))
    return options


# -- fwi ------------------------------------------------------------------------------------

_FWI_SECTIONS = ("data", "starting_model", "density", "parameters", "true_model", "propagator",
                 "inversion", "output")
_DATA_KEYS = ("shots", "f0", "wavelet")
_DENSITY_KEYS = ("path", "spacing", "origin", "relation")
_RELATIONS = ("gardner",)
# What field files need besides the shots and the wavelet (docs/field-data.md).
_FIELD_DATA_KEYS = ("endian", "elevation", "sources", "receivers", "estimate_wavelet",
                    "preprocess")
_PREPROCESS_KEYS = ("bandpass", "mute_velocity", "mute_shift", "mute_taper", "window",
                    "offsets", "normalize")
_INVERSION_KEYS = ("epochs", "batch_size", "learning_rate", "learning_rate_decay", "vmin",
                   "vmax", "water_velocity", "misfit", "multiscale", "shuffle", "seed",
                   "fields", "bounds")
_FIELDS = ("vp", "rho")
_MULTISCALE_KEYS = ("cutoffs", "epochs_per_stage", "filter_order")
_OUTPUT_KEYS = ("directory", "snapshot_every", "verbose")


def parse_fwi_config(raw, base=".", source=None):
    """Check an ``fwi`` configuration (a dict, see ``docs/cli.md``) and return its
    settings with defaults filled in and paths resolved against ``base``.

    Raises:
        ConfigError: listing every bad field.
    """
    ck = _Checker(base, source)
    top = ck.section(raw, "", _FWI_SECTIONS)
    data = _data_settings(top.sub("data", _DATA_KEYS + _FIELD_DATA_KEYS, required=True))
    start = _velocity_file(top.sub("starting_model", _VELOCITY_FILE_KEYS, required=True))
    density = _density_settings(top.sub("density", _DENSITY_KEYS))
    parameters = _parameter_files(top, raw.get("parameters") if isinstance(raw, dict) else None)
    true_section = top.sub("true_model", _VELOCITY_FILE_KEYS)
    true = _velocity_file(true_section) if true_section.present else None
    prop = _propagator_options(top.sub("propagator", ("physics",) + _PROPAGATOR_KEYS),
                               physics=True)
    settings = _inversion_settings(top.sub("inversion", _INVERSION_KEYS), density)
    output = _fwi_output_settings(top.sub("output", _OUTPUT_KEYS))
    ck.raise_if_any()
    return {"data": data, "starting_model": start, "density": density,
            "parameters": parameters, "true_model": true, "propagator": prop,
            "inversion": settings, "output": output}


def _parameter_files(top, raw):
    """``{name: path}`` of the ``parameters`` section: the starting model's fields besides
    vp and rho (e.g. TTI's epsilon, delta, theta, or qp), each a .npy array of the starting
    model's shape in the field's SI unit. Which names the physics needs is checked with
    the propagator."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        return top.checker.error("parameters", f"expected a mapping of field names to .npy "
                                               f"files; got {_describe(raw)}")
    section = top.checker.section(raw, "parameters", tuple(raw))
    return {name: section.get(name, _InputFile((".npy",), f"the starting {name}"))
            for name in raw}


def _density_settings(section):
    """The density of the starting model (None without the section, for constant-density
    acoustics): a file (as a velocity file) or a relation from the starting velocity."""
    if not section.present:
        return None
    if section.has("path") == section.has("relation"):
        return section.checker.error(
            "density", "give exactly one of path (a density file in kg/m^3) and relation "
                       "(from the starting velocity: 'gardner')")
    if section.has("relation"):
        return {"relation": section.get("relation", _Choice(_RELATIONS)), "path": None}
    return {"relation": None, **_velocity_file(section)}


def _data_settings(data):
    """The observed shots and their wavelet: a Ricker of peak ``f0`` or a file."""
    ck = data.checker
    shots = data.get("shots", _InputFile(_SEGY_EXTENSIONS, "the SEG-Y file of the observed "
                                                           "shots"), required=data.present)
    f0 = data.get("f0", _Number(above=0.0, unit="Hz"))
    wavelet = data.get("wavelet", _WAVELET_FILE)
    if data.present and f0 is None and wavelet is None:
        ck.error("data.f0", "missing; SEG-Y does not store the source wavelet: give f0 (the "
                            "peak frequency in Hz of a Ricker wavelet) or wavelet (a .npy "
                            "file)")
    if f0 not in (None, _INVALID) and wavelet not in (None, _INVALID):
        ck.error("data.wavelet", "give either f0 or wavelet, not both")
    return {"shots": shots, "f0": f0, "wavelet": wavelet,
            "endian": data.get("endian", _Choice(("big", "little"))),
            "elevation": data.get("elevation", _Choice(("elevation", "depth")), "elevation"),
            "sources": data.get("sources", _POSITIONS),
            "receivers": "offset" if str(data.raw.get("receivers")).lower() == "offset"
            else data.get("receivers", _POSITIONS),
            "estimate_wavelet": data.get("estimate_wavelet", _Boolean(), False),
            "preprocess": _preprocess_settings(data.sub("preprocess", _PREPROCESS_KEYS))}


#: Positions given by hand (for files without coordinates), in metres.
_POSITIONS = _InputFile((".npy",), "positions in metres, (nshots, ndim) for sources or "
                                   "(nrec, ndim) / (nshots, nrec, ndim) for receivers")


def _preprocess_settings(prep):
    """The preparation of the observed data (each step None or False when not asked
    for); ``ks.preprocessing`` checks the values against the data."""
    settings = {
        "bandpass": prep.get("bandpass", _Numbers((2,), unit="Hz")),
        "mute_velocity": prep.get("mute_velocity", _Number(above=0.0, unit="m/s")),
        "mute_shift": prep.get("mute_shift", _Number(unit="s"), 0.0),
        "mute_taper": prep.get("mute_taper", _Number(minimum=0.0, unit="s"), 0.0),
        "window": prep.get("window", _Numbers((2,), positive=False, unit="s")),
        "offsets": prep.get("offsets", _Numbers((2,), positive=False, unit="m")),
        "normalize": prep.get("normalize", _Boolean(), False),
    }
    for key in ("bandpass", "window", "offsets"):
        pair = settings[key]
        if isinstance(pair, list) and not pair[0] < pair[1]:
            prep.checker.error(prep.field(key), f"expected [low, high] with low < high; got "
                                                f"{pair}")
    if settings["offsets"] not in (None, _INVALID) and settings["offsets"][0] < 0:
        prep.checker.error(prep.field("offsets"), f"offsets are distances >= 0 m; got "
                                                  f"{settings['offsets']}")
    return settings


def _inversion_settings(inv, density):
    """The optimisation, the inverted fields and their bounds, and the multiscale stages.
    Without a learning rate the model's own default applies (see ``FWI.compile``), and
    without ``fields`` FWI's (every field of the model)."""
    settings = {
        "batch_size": inv.get("batch_size", _Integer(1), 4),
        "learning_rate": inv.get("learning_rate", _Number(above=0.0, unit="m/s a step")),
        "learning_rate_decay": inv.get("learning_rate_decay", _Number(above=0.0, maximum=1.0),
                                       1.0),
        "vmin": inv.get("vmin", _Number(above=0.0, unit="m/s")),
        "vmax": inv.get("vmax", _Number(above=0.0, unit="m/s")),
        "water_velocity": inv.get("water_velocity", _Number(above=0.0, unit="m/s")),
        "misfit": inv.get("misfit", _Choice(_MISFITS), "l2"),
        "shuffle": inv.get("shuffle", _Boolean(), True),
        "seed": inv.get("seed", _Integer(0)),
        "fields": inv.get("fields", _Subset(_FIELDS)),
        "bounds": _field_bounds(inv),
    }
    if density is None and settings["fields"] not in (None, _INVALID) and \
            "rho" in settings["fields"]:
        inv.checker.error("inversion.fields", "'rho' is inverted only with a density: add "
                                              "a density section")
    vmin, vmax = settings["vmin"], settings["vmax"]
    if _INVALID not in (vmin, vmax) and None not in (vmin, vmax) and vmin >= vmax:
        inv.checker.error("inversion.vmax", f"expected a velocity above vmin={vmin:g} m/s; "
                                            f"got {vmax:g}")
    multiscale = _multiscale_settings(inv.sub("multiscale", _MULTISCALE_KEYS))
    settings.update(epochs=_epochs(inv, multiscale["epochs_per_stage"]), **multiscale)
    return settings


def _field_bounds(inv):
    """``{name: [low, high]}`` of inverted fields other than vp (whose bounds are vmin and
    vmax); by default around the starting model (see the fwi command)."""
    raw = inv.raw.get("bounds")
    if raw is None:
        return {}
    if not isinstance(raw, dict) or any(k not in _FIELDS[1:] for k in raw):
        return inv.checker.error("inversion.bounds", f"expected a mapping of {_FIELDS[1:]} "
                                                     f"to [low, high]; got {_describe(raw)}")
    bounds = {}
    for name, value in raw.items():
        pair = _Numbers((2,))(value, f"inversion.bounds.{name}", inv.checker)
        if pair is not _INVALID and pair[0] >= pair[1]:
            pair = inv.checker.error(f"inversion.bounds.{name}",
                                     f"expected [low, high] with low < high; got {value}")
        bounds[name] = pair
    return bounds


def _multiscale_settings(ms):
    """The cutoffs in Hz, the epochs of each stage and the order of the low-pass filter."""
    cutoffs = ms.get("cutoffs", _cutoffs, required=ms.present)
    per_stage = _epochs_per_stage(ms, cutoffs) if ms.present else None
    filter_order = ms.get("filter_order", _Integer(1, 20), 6)
    return {"cutoffs": cutoffs, "epochs_per_stage": per_stage, "filter_order": filter_order}


def _epochs_per_stage(ms, cutoffs):
    """One number of epochs a cutoff: a list of them, or one number for every stage."""
    known = cutoffs not in (None, _INVALID)
    raw = ms.raw.get("epochs_per_stage")
    if isinstance(raw, (list, tuple)):
        per_stage = ms.get("epochs_per_stage", _Numbers((len(raw),), whole=True))
        if known and per_stage is not _INVALID and len(per_stage) != len(cutoffs):
            return ms.checker.error(ms.field("epochs_per_stage"),
                                    f"expected one number of epochs a stage "
                                    f"({len(cutoffs)} cutoffs); got {len(per_stage)}")
        return per_stage
    per_stage = ms.get("epochs_per_stage", _Integer(1), required=True)
    if per_stage is not _INVALID and known:
        per_stage = [per_stage] * len(cutoffs)
    return per_stage


def _epochs(inv, per_stage):
    """The epochs of the inversion: by default those of the stages (or 10); given, enough
    for the last stage to run."""
    epochs = inv.get("epochs", _Integer(1))
    if epochs is None:
        return sum(per_stage) if isinstance(per_stage, list) else 10
    if isinstance(per_stage, list) and epochs is not _INVALID and \
            epochs <= sum(per_stage[:-1]):
        inv.checker.error("inversion.epochs", f"expected more than {sum(per_stage[:-1])} "
                                              f"epochs so that the last multiscale stage runs "
                                              f"(epochs_per_stage {per_stage}); got {epochs}")
    return epochs


def _fwi_output_settings(out):
    """The output directory (default ``out`` next to the configuration) and logging."""
    directory = out.get("directory", _OutputPath(what="the output directory"))
    return {"directory": directory if directory is not None else out.checker.base / "out",
            "snapshot_every": out.get("snapshot_every", _Integer(1), 1),
            "verbose": out.get("verbose", _Integer(0, 2), 2)}


# -- model ----------------------------------------------------------------------------------

_MODEL_SECTIONS = ("velocity", "survey", "propagator", "output")
_VELOCITY_KEYS = ("dataset", "shape", "spacing", "options", "path", "origin")
_SURVEY_KEYS = ("nshots", "nrec", "f0", "duration", "dt", "source_depth", "receiver_depth",
                "wavelet")
_MODEL_OUTPUT_KEYS = ("shots", "velocity", "figure", "starting_model")
_STARTING_KEYS = ("path", "sigma", "water_velocity")


def parse_model_config(raw, base=".", source=None, out_base=None):
    """Check a ``model`` configuration (a dict, see ``docs/cli.md``) and return its settings
    with defaults filled in, input paths resolved against ``base`` and output paths against
    ``out_base`` (default ``base``).

    Raises:
        ConfigError: listing every bad field.
    """
    ck = _Checker(base, source, out_base)
    top = ck.section(raw, "", _MODEL_SECTIONS)
    velocity = _velocity_settings(top.sub("velocity", _VELOCITY_KEYS, required=True))
    survey = _survey_settings(top.sub("survey", _SURVEY_KEYS))
    prop = _propagator_options(top.sub("propagator", _PROPAGATOR_KEYS))
    output = _model_output_settings(top.sub("output", _MODEL_OUTPUT_KEYS, required=True))
    ck.raise_if_any()
    return {"velocity": velocity, "survey": survey, "propagator": prop, "output": output}


def _velocity_settings(vel):
    """The velocity model: exactly one of a built-in dataset and a velocity file."""
    if not vel.present:
        return {"dataset": None, "path": None}
    if vel.has("dataset") == vel.has("path"):
        vel.checker.error("velocity.dataset", "give exactly one of dataset (a built-in model: "
                                              f"{', '.join(_DATASETS)}) and path (a velocity "
                                              f"file)")
    if vel.has("dataset"):
        return _dataset_settings(vel)
    if vel.has("path"):
        return _velocity_path_settings(vel)
    return {"dataset": None, "path": None}


def _dataset_settings(vel):
    """A built-in dataset: its name, shape, spacing and the options of its function."""
    ck = vel.checker
    name = vel.get("dataset", _Choice(tuple(_DATASETS)))
    shape = vel.get("shape", _Numbers((2, 3), whole=True), [150, 60])
    spacing = vel.get("spacing", _Numbers((2, 3), scalar_ok=True, unit="m"), 10.0)
    options = _dataset_options(ck, name, vel.raw.get("options"))
    for key in ("path", "origin"):
        if vel.has(key):
            ck.error(f"velocity.{key}", "only for a velocity file (path), not for a built-in "
                                        "dataset")
    return {"dataset": name, "shape": shape, "spacing": spacing, "options": options or {},
            "path": None}


def _dataset_options(ck, name, options):
    """``options`` of the dataset ``name``, each one it knows (checked once ``name`` is)."""
    if options is None or name is _INVALID:
        return options
    allowed = _DATASETS[name]
    if not isinstance(options, dict):
        return ck.error("velocity.options", f"expected a mapping of options of {name} "
                                            f"({', '.join(allowed)}); got "
                                            f"{_describe(options)}")
    for key in options:
        if key not in allowed:
            ck.error(f"velocity.options.{key}", _unknown(key, allowed))
    return options


def _velocity_path_settings(vel):
    """A velocity file, which gives its own shape and takes no dataset options."""
    if vel.has("shape"):
        vel.checker.error("velocity.shape", "only for a built-in dataset; a velocity file "
                                            "gives its own shape")
    if vel.has("options"):
        vel.checker.error("velocity.options", "only for a built-in dataset")
    return {"dataset": None, **_velocity_file(vel)}


def _survey_settings(sv):
    """The surface survey: shots, receivers, wavelet, record length and sampling."""
    survey = {
        "nshots": sv.get("nshots", _Integer(1), 8),
        "nrec": sv.get("nrec", _Integer(1)),
        "f0": sv.get("f0", _Number(above=0.0, unit="Hz"), 10.0),
        "duration": sv.get("duration", _Number(above=0.0, unit="s")),
        "dt": sv.get("dt", _Number(above=0.0, maximum=0.032767, unit="s")),
        "source_depth": sv.get("source_depth", _Number(minimum=0.0, unit="m")),
        "receiver_depth": sv.get("receiver_depth", _Number(minimum=0.0, unit="m")),
        "wavelet": sv.get("wavelet", _WAVELET_FILE),
    }
    dt = survey["dt"]
    if dt not in (None, _INVALID) and abs(dt * 1e6 - round(dt * 1e6)) > 1e-3:
        sv.checker.error("survey.dt", f"expected a whole number of microseconds (SEG-Y "
                                      f"stores dt in microseconds); got {dt:g} s")
    return survey


def _model_output_settings(out):
    """The files to write: the shots, and optionally the model, a figure and a smoothed
    starting model."""
    output = {
        "shots": out.get("shots", _OutputPath(_SEGY_EXTENSIONS, "the SEG-Y file to write"),
                         required=out.present),
        "velocity": out.get("velocity", _OutputPath(_VELOCITY_EXTENSIONS,
                                                    "the velocity file to write")),
        "figure": out.get("figure", _OutputPath((".png", ".pdf", ".svg", ".jpg"),
                                                "a figure of the model and a shot")),
        "starting_model": None,
    }
    st = out.sub("starting_model", _STARTING_KEYS)
    if st.present:
        output["starting_model"] = {
            "path": st.get("path", _OutputPath(_VELOCITY_EXTENSIONS,
                                               "the smoothed model to write"), required=True),
            "sigma": st.get("sigma", _Number(minimum=0.0, unit="m"), 100.0),
            "water_velocity": st.get("water_velocity", _Number(above=0.0, unit="m/s")),
        }
    return output
