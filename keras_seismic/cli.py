"""The ``keras-seismic`` command line (also ``python -m keras_seismic``).

Commands:

``keras-seismic demo [--out DIR] [--quick]``
    Multiscale full-waveform inversion of the built-in faulted model from a smoothed start,
    with ``model.fit``; writes figures, the inverted model, ``metrics.json`` and the
    training history to DIR (default ``./out``).
``keras-seismic fwi CONFIG [--out DIR]``
    The same inversion on your own data: SEG-Y shots, a starting model and the options in
    CONFIG (YAML or TOML).
``keras-seismic model CONFIG [--out DIR]``
    Model shots for a velocity model (built-in or from a file) and a surface survey, and
    write them to SEG-Y.

Exit codes: 0 on success, 2 for a bad command line or configuration (every problem found is
printed, naming the configuration field), 1 for a failure while running, 130 when
interrupted. See ``docs/cli.md`` for the reference and complete configuration examples.
"""
import argparse
import difflib
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

try:
    import tomllib
except ImportError:              # Python 3.10
    try:
        import tomli as tomllib
    except ImportError:
        tomllib = None

__all__ = ["main", "ConfigError", "load_config", "parse_fwi_config", "parse_model_config",
           "run_demo", "run_fwi", "run_model"]

PROG = "keras-seismic"
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

_VELOCITY_EXTENSIONS = (".npy", ".npz", ".sgy", ".segy")
_SEGY_EXTENSIONS = (".sgy", ".segy")
_MISFITS = ("l2", "normalized", "envelope", "student_t")
_DATASETS = {  # built-in model -> the options its function takes besides shape and spacing
    "layered": ("velocities", "water_depth"),
    "camembert": ("background", "inclusion", "radius"),
    "faulted": ("seed", "nfaults"),
}
_FULL_BAND = ("full", "none")     # spellings of "no filtering" as the last cutoff


# ============================================================================ configuration

class ConfigError(Exception):
    """A bad configuration: one or more ``(field, message)`` problems."""

    def __init__(self, problems, source=None):
        if isinstance(problems, tuple):
            problems = [problems]
        self.problems = list(problems)
        self.source = source
        super().__init__(self.format())

    @property
    def fields(self):
        return [field for field, _ in self.problems]

    def format(self):
        where = f" in {self.source}" if self.source else ""
        lines = [f"invalid configuration{where}:"]
        lines += [f"  {field}: {message}" for field, message in self.problems]
        return "\n".join(lines)


_INVALID = object()      # what a check returns for a value it reported as wrong
_MISSING = object()


def _describe(value):
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


class _Checker:
    """Collects every problem of a configuration, so that all are reported at once.

    Relative paths are resolved against ``base`` (the folder of the configuration file).
    """

    def __init__(self, base, source=None, out_base=None):
        self.base = Path(base)
        self.out_base = Path(out_base) if out_base is not None else self.base
        self.source = source
        self.problems = []

    def error(self, field, message):
        self.problems.append((field, message))
        return _INVALID

    def raise_if_any(self):
        if self.problems:
            raise ConfigError(self.problems, self.source)

    def section(self, raw, name, keys, required=False):
        """A :class:`_Section` view of ``raw``; unknown keys are reported."""
        if raw is None or raw is _MISSING:
            if required:
                self.error(name, f"missing; expected a section with the fields "
                                 f"{', '.join(keys)}")
            return _Section(self, name, {}, keys, present=False)
        if not isinstance(raw, dict):
            self.error(name, f"expected a section (a mapping of fields {', '.join(keys)}); "
                             f"got {_describe(raw)}")
            return _Section(self, name, {}, keys, present=False)
        for key in raw:
            if key not in keys:
                self.error(_join(name, str(key)), _unknown(key, keys))
        return _Section(self, name, raw, keys, present=True)


def _join(prefix, key):
    return f"{prefix}.{key}" if prefix else key


def _unknown(key, keys):
    close = difflib.get_close_matches(str(key), list(keys), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown field{hint} (expected one of: {', '.join(keys)})"


class _Section:
    def __init__(self, checker, name, raw, keys, present):
        self.checker, self.name, self.raw, self.keys = checker, name, raw, keys
        self.present = present

    def field(self, key):
        return _join(self.name, key)

    def has(self, key):
        return self.raw.get(key) is not None

    def get(self, key, check, default=None, required=False):
        """The checked value of ``key``: ``default`` when absent or null (or a 'missing'
        problem if ``required``), ``_INVALID`` after reporting a bad value."""
        assert key in self.keys, key
        value = self.raw.get(key)
        if value is None:
            if required:
                return self.checker.error(self.field(key), f"missing; expected {check.what}")
            return default
        return check(value, self.field(key), self.checker)

    def sub(self, key, keys, required=False):
        assert key in self.keys, key
        return self.checker.section(self.raw.get(key, _MISSING), self.field(key), keys,
                                    required)


# -- value checks: each has ``what`` (for messages) and is called (value, field, checker) --

class _Integer:
    def __init__(self, minimum=None, maximum=None, even=False):
        self.minimum, self.maximum, self.even = minimum, maximum, even
        parts = ["an even whole number" if even else "a whole number"]
        if minimum is not None and maximum is not None:
            parts.append(f"from {minimum} to {maximum}")
        elif minimum is not None:
            parts.append(f">= {minimum}")
        elif maximum is not None:
            parts.append(f"<= {maximum}")
        self.what = " ".join(parts)

    def __call__(self, value, field, ck):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                isinstance(value, float) and not value.is_integer()):
            return ck.error(field, f"expected {self.what}; got {_describe(value)}")
        value = int(value)
        if (self.minimum is not None and value < self.minimum) or (
                self.maximum is not None and value > self.maximum) or (
                self.even and value % 2):
            return ck.error(field, f"expected {self.what}; got {value}")
        return value


class _Number:
    def __init__(self, minimum=None, maximum=None, above=None, unit=""):
        self.minimum, self.maximum, self.above = minimum, maximum, above
        unit = f" ({unit})" if unit else ""
        if above is not None and maximum is not None:
            self.what = f"a number{unit} > {above} and <= {maximum}"
        elif above is not None:
            self.what = f"a number{unit} > {above}"
        elif minimum is not None and maximum is not None:
            self.what = f"a number{unit} from {minimum} to {maximum}"
        elif minimum is not None:
            self.what = f"a number{unit} >= {minimum}"
        else:
            self.what = f"a number{unit}"

    def __call__(self, value, field, ck):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return ck.error(field, f"expected {self.what}; got {_describe(value)}")
        value = float(value)
        if not math.isfinite(value) or (self.minimum is not None and value < self.minimum) or (
                self.maximum is not None and value > self.maximum) or (
                self.above is not None and value <= self.above):
            return ck.error(field, f"expected {self.what}; got {value:g}")
        return value


class _Boolean:
    what = "true or false"

    def __call__(self, value, field, ck):
        if not isinstance(value, bool):
            return ck.error(field, f"expected {self.what}; got {_describe(value)}")
        return value


class _Choice:
    """One of ``choices``, in any case; returns the choice as spelled there."""

    def __init__(self, choices):
        self.choices = tuple(choices)
        self.canonical = {c.lower(): c for c in self.choices}
        self.what = "one of " + ", ".join(repr(c) for c in self.choices)

    def __call__(self, value, field, ck):
        if not isinstance(value, str) or value.lower() not in self.canonical:
            close = difflib.get_close_matches(str(value).lower(), self.canonical, n=1) \
                if isinstance(value, str) else []
            hint = f" (did you mean {self.canonical[close[0]]!r}?)" if close else ""
            return ck.error(field, f"expected {self.what}; got {_describe(value)}{hint}")
        return self.canonical[value.lower()]


class _Numbers:
    """A list of numbers; ``lengths`` the allowed lengths; a scalar is repeated if
    ``scalar_ok`` (to the first allowed length or ``repeat``)."""

    def __init__(self, lengths, positive=True, scalar_ok=False, whole=False, unit=""):
        self.lengths, self.positive, self.scalar_ok, self.whole = lengths, positive, \
            scalar_ok, whole
        kind = "whole numbers" if whole else "numbers"
        kind = f"positive {kind}" if positive else kind
        unit = f" ({unit})" if unit else ""
        count = " or ".join(str(n) for n in lengths)
        self.what = f"a list of {count} {kind}{unit}"
        if scalar_ok:
            self.what = f"one {kind[:-1]}{unit} or " + self.what

    def __call__(self, value, field, ck):
        if self.scalar_ok and isinstance(value, (int, float)) and not isinstance(value, bool):
            if not (math.isfinite(value) and (value > 0 or not self.positive)):
                return ck.error(field, f"expected {self.what}; got {value}")
            return float(value)
        if not isinstance(value, (list, tuple)) or len(value) not in self.lengths or any(
                isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
            return ck.error(field, f"expected {self.what}; got {_describe(value)}")
        values = [float(v) for v in value]
        if any(not math.isfinite(v) for v in values) or (
                self.positive and any(v <= 0 for v in values)) or (
                self.whole and any(not v.is_integer() for v in values)):
            return ck.error(field, f"expected {self.what}; got {list(value)}")
        return [int(v) for v in values] if self.whole else values


class _InputFile:
    def __init__(self, extensions, what):
        self.extensions = extensions
        self.what = f"the path of {what} ({', '.join(extensions)})"

    def __call__(self, value, field, ck):
        if not isinstance(value, str) or not value.strip():
            return ck.error(field, f"expected {self.what}; got {_describe(value)}")
        path = Path(value).expanduser()
        path = path if path.is_absolute() else ck.base / path
        if path.suffix.lower() not in self.extensions:
            return ck.error(field, f"expected {self.what}; {value!r} has the extension "
                                   f"{path.suffix or '(none)'!r}")
        if not path.exists():
            return ck.error(field, f"file not found: {path}")
        if not path.is_file():
            return ck.error(field, f"not a file: {path}")
        return path


class _OutputPath:
    def __init__(self, extensions=None, what="a file"):
        self.extensions = extensions
        self.what = f"the path of {what}" + (f" ({', '.join(extensions)})" if extensions
                                             else "")

    def __call__(self, value, field, ck):
        if not isinstance(value, str) or not value.strip():
            return ck.error(field, f"expected {self.what}; got {_describe(value)}")
        path = Path(value).expanduser()
        path = path if path.is_absolute() else ck.out_base / path
        if self.extensions and path.suffix.lower() not in self.extensions:
            return ck.error(field, f"expected {self.what}; {value!r} has the extension "
                                   f"{path.suffix or '(none)'!r}")
        if path.exists() and self.extensions is None and not path.is_dir():
            return ck.error(field, f"{path} exists and is not a directory")
        if path.exists() and self.extensions is not None and path.is_dir():
            return ck.error(field, f"{path} is a directory; expected a file name")
        return path


def _cutoffs(value, field, ck):
    """Multiscale cutoffs: increasing positive Hz; the last may be "full" (or null)."""
    what = ("a list of increasing positive frequencies in Hz, the last of which may be "
            "\"full\" for the unfiltered data")
    if not isinstance(value, (list, tuple)) or not value:
        return ck.error(field, f"expected {what}; got {_describe(value)}")
    out = []
    for i, c in enumerate(value):
        last = i == len(value) - 1
        if last and (c is None or (isinstance(c, str) and c.lower() in _FULL_BAND)):
            out.append(None)
        elif isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c) \
                or c <= 0:
            return ck.error(field, f"expected {what}; item {i + 1} is {_describe(c)}")
        else:
            out.append(float(c))
    numbers = [c for c in out if c is not None]
    if any(b <= a for a, b in zip(numbers, numbers[1:])):
        return ck.error(field, f"expected {what}; got {list(value)}, which does not increase")
    return out


_cutoffs.what = "a list of increasing cutoff frequencies in Hz"


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
    try:
        if ext == ".toml":
            with open(path, "rb") as handle:
                raw = tomllib.load(handle)
        else:
            with open(path, encoding="utf-8") as handle:
                raw = yaml.safe_load(handle)
    except (yaml.YAMLError, UnicodeDecodeError, ValueError) as err:   # TOMLDecodeError too
        detail = " ".join(str(err).split())
        raise ConfigError((field, f"{path}: not valid {'TOML' if ext == '.toml' else 'YAML'}"
                                  f": {detail}")) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError((field, f"{path}: the top level must be a mapping of sections; "
                                  f"got {type(raw).__name__}"))
    return raw


# ----------------------------------------------------------------------------- fwi config

_FWI_SECTIONS = ("data", "starting_model", "true_model", "propagator", "inversion", "output")
_DATA_KEYS = ("shots", "f0", "wavelet")
_VELOCITY_FILE_KEYS = ("path", "spacing", "origin")
_PROPAGATOR_KEYS = ("space_order", "absorbing_width", "free_surface", "platform", "language",
                    "compiler")
_INVERSION_KEYS = ("epochs", "batch_size", "learning_rate", "learning_rate_decay", "vmin",
                   "vmax", "water_velocity", "misfit", "multiscale", "shuffle", "seed")
_MULTISCALE_KEYS = ("cutoffs", "epochs_per_stage", "filter_order")
_OUTPUT_KEYS = ("directory", "snapshot_every", "verbose")


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


def _propagator_options(section):
    from .physics.target import Target, accepted   # where the kernels run (GPU docs)
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
    return options


def parse_fwi_config(raw, base=".", source=None):
    """Check an ``fwi`` configuration (a dict, see ``docs/cli.md``) and return its
    settings with defaults filled in and paths resolved against ``base``.

    Raises:
        ConfigError: listing every bad field.
    """
    ck = _Checker(base, source)
    top = ck.section(raw, "", _FWI_SECTIONS)

    data = top.sub("data", _DATA_KEYS, required=True)
    shots = data.get("shots", _InputFile(_SEGY_EXTENSIONS, "the SEG-Y file of the observed "
                                                           "shots"), required=data.present)
    f0 = data.get("f0", _Number(above=0.0, unit="Hz"))
    wavelet = data.get("wavelet", _InputFile((".npy",), "a wavelet array (nt,) or "
                                                        "(nshots, nt)"))
    if data.present and f0 is None and wavelet is None:
        ck.error("data.f0", "missing; SEG-Y does not store the source wavelet: give f0 (the "
                            "peak frequency in Hz of a Ricker wavelet) or wavelet (a .npy "
                            "file)")
    if f0 not in (None, _INVALID) and wavelet not in (None, _INVALID):
        ck.error("data.wavelet", "give either f0 or wavelet, not both")

    start = _velocity_file(top.sub("starting_model", _VELOCITY_FILE_KEYS, required=True))
    true_section = top.sub("true_model", _VELOCITY_FILE_KEYS)
    true = _velocity_file(true_section) if true_section.present else None

    prop = _propagator_options(top.sub("propagator", _PROPAGATOR_KEYS))

    inv = top.sub("inversion", _INVERSION_KEYS)
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
    }
    if _INVALID not in (settings["vmin"], settings["vmax"]) and None not in (
            settings["vmin"], settings["vmax"]) and settings["vmin"] >= settings["vmax"]:
        ck.error("inversion.vmax", f"expected a velocity above vmin={settings['vmin']:g} m/s; "
                                   f"got {settings['vmax']:g}")
    ms = inv.sub("multiscale", _MULTISCALE_KEYS)
    cutoffs = ms.get("cutoffs", _cutoffs, required=ms.present)
    per_stage = None
    if ms.present:
        raw_eps = ms.raw.get("epochs_per_stage")
        if isinstance(raw_eps, (list, tuple)):
            per_stage = ms.get("epochs_per_stage", _Numbers((len(raw_eps),), whole=True))
            if cutoffs not in (None, _INVALID) and per_stage is not _INVALID and \
                    len(per_stage) != len(cutoffs):
                per_stage = ck.error(ms.field("epochs_per_stage"),
                                     f"expected one number of epochs a stage "
                                     f"({len(cutoffs)} cutoffs); got {len(per_stage)}")
        else:
            per_stage = ms.get("epochs_per_stage", _Integer(1), required=True)
            if per_stage is not _INVALID and cutoffs not in (None, _INVALID):
                per_stage = [per_stage] * len(cutoffs)
    filter_order = ms.get("filter_order", _Integer(1, 20), 6)
    epochs = inv.get("epochs", _Integer(1))
    if epochs is None:
        epochs = sum(per_stage) if isinstance(per_stage, list) else 10
    elif isinstance(per_stage, list) and epochs is not _INVALID and \
            epochs <= sum(per_stage[:-1]):
        ck.error("inversion.epochs", f"expected more than {sum(per_stage[:-1])} epochs so "
                                     f"that the last multiscale stage runs "
                                     f"(epochs_per_stage {per_stage}); got {epochs}")
    settings.update(epochs=epochs, cutoffs=cutoffs, epochs_per_stage=per_stage,
                    filter_order=filter_order)

    out = top.sub("output", _OUTPUT_KEYS)
    directory = out.get("directory", _OutputPath(what="the output directory"))
    output = {"directory": directory if directory is not None else ck.base / "out",
              "snapshot_every": out.get("snapshot_every", _Integer(1), 1),
              "verbose": out.get("verbose", _Integer(0, 2), 2)}
    ck.raise_if_any()
    return {"data": {"shots": shots, "f0": f0, "wavelet": wavelet}, "starting_model": start,
            "true_model": true, "propagator": prop, "inversion": settings, "output": output}


# ----------------------------------------------------------------------------- model config

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

    vel = top.sub("velocity", _VELOCITY_KEYS, required=True)
    velocity = {"dataset": None, "path": None}
    if vel.present:
        if vel.has("dataset") == vel.has("path"):
            ck.error("velocity.dataset", "give exactly one of dataset (a built-in model: "
                                         f"{', '.join(_DATASETS)}) and path (a velocity file)")
        if vel.has("dataset"):
            name = vel.get("dataset", _Choice(tuple(_DATASETS)))
            shape = vel.get("shape", _Numbers((2, 3), whole=True), [150, 60])
            spacing = vel.get("spacing", _Numbers((2, 3), scalar_ok=True, unit="m"), 10.0)
            options = vel.raw.get("options")
            if options is not None and name is not _INVALID:
                allowed = _DATASETS[name]
                if not isinstance(options, dict):
                    options = ck.error("velocity.options", f"expected a mapping of options of "
                                                           f"{name} ({', '.join(allowed)}); "
                                                           f"got {_describe(options)}")
                else:
                    for key in options:
                        if key not in allowed:
                            ck.error(f"velocity.options.{key}", _unknown(key, allowed))
            for key in ("path", "origin"):
                if vel.has(key):
                    ck.error(f"velocity.{key}", "only for a velocity file (path), not for a "
                                                "built-in dataset")
            velocity = {"dataset": name, "shape": shape, "spacing": spacing,
                        "options": options or {}, "path": None}
        elif vel.has("path"):
            if vel.has("shape"):
                ck.error("velocity.shape", "only for a built-in dataset; a velocity file "
                                           "gives its own shape")
            if vel.has("options"):
                ck.error("velocity.options", "only for a built-in dataset")
            velocity = {"dataset": None, **_velocity_file(vel)}

    sv = top.sub("survey", _SURVEY_KEYS)
    survey = {
        "nshots": sv.get("nshots", _Integer(1), 8),
        "nrec": sv.get("nrec", _Integer(1)),
        "f0": sv.get("f0", _Number(above=0.0, unit="Hz"), 10.0),
        "duration": sv.get("duration", _Number(above=0.0, unit="s")),
        "dt": sv.get("dt", _Number(above=0.0, maximum=0.032767, unit="s")),
        "source_depth": sv.get("source_depth", _Number(minimum=0.0, unit="m")),
        "receiver_depth": sv.get("receiver_depth", _Number(minimum=0.0, unit="m")),
        "wavelet": sv.get("wavelet", _InputFile((".npy",), "a wavelet array (nt,) or "
                                                           "(nshots, nt)")),
    }
    dt = survey["dt"]
    if dt not in (None, _INVALID) and abs(dt * 1e6 - round(dt * 1e6)) > 1e-3:
        ck.error("survey.dt", f"expected a whole number of microseconds (SEG-Y stores dt in "
                              f"microseconds); got {dt:g} s")

    prop = _propagator_options(top.sub("propagator", _PROPAGATOR_KEYS))

    out = top.sub("output", _MODEL_OUTPUT_KEYS, required=True)
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
    ck.raise_if_any()
    return {"velocity": velocity, "survey": survey, "propagator": prop, "output": output}


# ============================================================================ helpers

def _say(*args, **kwargs):
    print(*args, **kwargs, flush=True)


def _machine():
    """Where the run happened: cores, threads and the load at the time."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        load = None
    versions = {}
    for name in ("numpy", "tensorflow", "keras", "devito"):
        module = sys.modules.get(name)
        versions[name] = getattr(module, "__version__", None)
    return {"cpu_count": os.cpu_count(), "usable_cores": usable,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "load_average_1_5_15_min": load, "platform": platform.platform(),
            "python": platform.python_version(), "versions": versions}


def _process_seconds():
    """Seconds since this process started (Linux), or None."""
    try:
        with open("/proc/self/stat") as handle:
            start_ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
        return round(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 2)
    except (OSError, ValueError, IndexError):
        return None


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
    from . import io
    from .grid import Grid
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


def _make_misfit(name):
    from . import losses
    return {"l2": losses.L2Misfit, "normalized": losses.NormalizedMisfit,
            "envelope": losses.EnvelopeMisfit, "student_t": losses.StudentTMisfit}[name]()


def _problem(prop, true_vp=None):
    grid, survey = prop.grid, prop.survey
    dt = prop.time_steps(true_vp if true_vp is not None else np.full(grid.shape, 1500.0))[0]
    return {"grid_shape": list(grid.shape), "spacing_m": list(grid.spacing),
            "extent_m": [round(e, 3) for e in grid.extent], "cells": int(np.prod(grid.shape)),
            "nshots": survey.nshots, "nrec": survey.nrec, "nt": survey.nt, "dt_s": survey.dt,
            "record_length_s": round(survey.duration, 6),
            "internal_dt_s": dt, "internal_steps": int(round(survey.duration / dt)),
            "space_order": prop.space_order, "absorbing_width": prop.absorbing_width,
            "free_surface": prop.free_surface}


# ============================================================================ inversion

def _import_tensorflow_quietly():
    """Import TensorFlow without its C++ start-up lines (CUDA probing, CPU features): they
    are written to the process's stderr before any log setting of TensorFlow applies, so
    the file descriptor is lent to a temporary file for the import and the lines dropped,
    or shown with the error if the import fails."""
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as lines:
        os.dup2(lines.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            lines.seek(0)
            sys.stderr.write(lines.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _invert(prop, observed, start, *, vmin, vmax, mask, out, epochs, batch_size,
            learning_rate=None, learning_rate_decay=1.0, adam_epsilon=1e-20, cutoffs=None,
            epochs_per_stage=None, filter_order=6, misfit="l2", true_vp=None,
            snapshot_every=1, shuffle=True, seed=None, verbose=2):
    """Run ``model.fit`` FWI and write its outputs to ``out``; returns a summary dict."""
    _import_tensorflow_quietly()
    import keras

    from . import callbacks, losses, models, plotting

    out = Path(out)   # created and checked writable by the caller, before its own work
    grid, survey = prop.grid, prop.survey
    if seed is not None:
        keras.utils.set_random_seed(int(seed))
    timings = {}

    model = models.FWI(prop, start, vmin=vmin, vmax=vmax, mask=mask)
    loss = losses.FilteredMisfit(_make_misfit(misfit), dt=survey.dt,
                                 cutoff=cutoffs[0] if cutoffs else None, order=filter_order)
    if learning_rate is None:              # Adam's steps are about this size: 1% of vp
        learning_rate = 0.01 * float(np.mean(start))
    learning_rate = float(learning_rate)
    schedule_lr = learning_rate
    if learning_rate_decay != 1.0:
        # Exponential decay to learning_rate * learning_rate_decay at the last step: large
        # steps while the model is far off, small ones to settle at the end.
        steps = epochs * math.ceil(survey.nshots / batch_size)
        schedule_lr = keras.optimizers.schedules.ExponentialDecay(
            learning_rate, decay_steps=steps, decay_rate=float(learning_rate_decay))
    # Data amplitudes (and so gradients) can be anything: a negligible epsilon keeps Adam's
    # steps about the learning rate in size, as in FWI.compile's default.
    model.compile(optimizer=keras.optimizers.Adam(schedule_lr, epsilon=adam_epsilon),
                  loss=loss)

    history_csv = out / "history.csv"
    schedule = []
    if cutoffs:
        schedule = [callbacks.MultiscaleSchedule(cutoffs, epochs_per_stage=epochs_per_stage,
                                                 verbose=1 if verbose else 0)]
    snapshots = callbacks.VelocitySnapshot(out / "snapshots", every=snapshot_every,
                                           true_vp=true_vp, grid=grid)
    fit_callbacks = schedule + [snapshots, keras.callbacks.CSVLogger(str(history_csv))]

    shots = np.arange(survey.nshots)
    t = time.perf_counter()
    history = model.fit(shots, observed, batch_size=batch_size, epochs=epochs,
                        shuffle=shuffle, verbose=verbose, callbacks=fit_callbacks)
    timings["inversion"] = time.perf_counter() - t
    inverted = model.velocity

    # Misfits of the starting and inverted models over all shots, measured twice: with
    # the loss as it ended (the last cutoff) and on the full-band data.
    t = time.perf_counter()
    predicted_start = prop.forward(start)
    predicted_end = prop.forward(inverted)
    last_cutoff = loss.cutoff
    full = _make_misfit(misfit)

    def value(fn, predicted):
        return float(keras.ops.convert_to_numpy(fn(observed, predicted)))

    misfits = {"measured_with": f"{misfit} misfit summed over all shots",
               "cutoff_hz": last_cutoff,
               "initial": value(loss, predicted_start), "final": value(loss, predicted_end),
               "full_band_initial": value(full, predicted_start),
               "full_band_final": value(full, predicted_end)}
    misfits["reduction"] = 1.0 - misfits["final"] / misfits["initial"]
    misfits["full_band_reduction"] = 1.0 - misfits["full_band_final"] / \
        misfits["full_band_initial"]
    timings["evaluation"] = time.perf_counter() - t

    # Files.
    t = time.perf_counter()
    files = {"history": history_csv, "inverted_model": out / "inverted.npy",
             "initial_model": out / "initial.npy"}
    np.save(files["inverted_model"], inverted)
    np.save(files["initial_model"], np.asarray(start, np.float32))
    if true_vp is not None:
        files["true_model"] = out / "true.npy"
        np.save(files["true_model"], np.asarray(true_vp, np.float32))
    files["comparison_figure"] = plotting.save_figure(
        plotting.plot_comparison(grid, true=true_vp, initial=start, inverted=inverted,
                                 vmin=vmin, vmax=vmax), out / "comparison.png")
    files["shot_figure"] = plotting.save_figure(
        _shot_figure(survey, observed, predicted_start, predicted_end, last_cutoff),
        out / "shot.png")
    files["history_figure"] = plotting.save_figure(
        _history_figure(history.history), out / "history.png")
    timings["outputs"] = time.perf_counter() - t

    result = {
        "misfit": misfits,
        "inversion": {"epochs": epochs, "batch_size": batch_size, "optimizer": "Adam",
                      "learning_rate": learning_rate,
                      "learning_rate_final": learning_rate * learning_rate_decay,
                      "misfit": misfit,
                      "multiscale_cutoffs_hz": cutoffs or None,
                      "epochs_per_stage": epochs_per_stage, "filter_order": filter_order,
                      "vmin": vmin, "vmax": vmax, "water_mask": mask is not None,
                      "shuffle": shuffle, "seed": seed},
        "timings": timings, "files": files, "inverted": inverted,
        "history": {k: [float(x) for x in v] for k, v in history.history.items()},
    }
    if true_vp is not None:
        before, after = snapshots.model_error(start), snapshots.model_error(inverted)
        result["model_error"] = {"definition": "||vp - true|| / ||true|| (relative L2)",
                                 "initial": before, "final": after,
                                 "relative_reduction": 1.0 - after / before}
    return result


def _shot_figure(survey, observed, predicted_start, predicted_end, cutoff):
    """The middle shot: observed data and the residuals of the starting and inverted
    models, on one colour scale."""
    import matplotlib.pyplot as plt

    from . import plotting

    s = survey.nshots // 2
    receivers = survey.receivers[s]
    fig, axes = plt.subplots(1, 3, figsize=(15.0, 5.5), constrained_layout=True,
                             sharey=True)
    panels = [(observed[s], f"observed, shot {s + 1}/{survey.nshots}"),
              (observed[s] - predicted_start[s], "residual, starting model"),
              (observed[s] - predicted_end[s], "residual, inverted model")]
    limit = None
    for ax, (data, title) in zip(axes, panels):
        plotting.plot_shot(data, survey.dt, receivers=receivers, ax=ax, title=title)
        image = ax.images[0] if ax.images else ax.collections[0]
        if limit is None:
            limit = image.get_clim()[1]
        image.set_clim(-limit, limit)
    band = "full band" if cutoff is None else f"inverted up to {cutoff:g} Hz"
    fig.suptitle(f"full-band data ({band})")
    return fig


def _history_figure(history):
    """Misfit (and model error, when known) against epoch, with the multiscale stages."""
    import matplotlib.pyplot as plt

    from . import plotting

    has_error = "model_error" in history
    fig, axes = plt.subplots(1, 2 if has_error else 1, figsize=(11.0 if has_error else 6.0,
                                                                4.0),
                             constrained_layout=True, squeeze=False)
    plotting.plot_history({"loss": history["loss"]}, ax=axes[0, 0])
    axes[0, 0].set_title("misfit (at the cutoff of each epoch)")
    if has_error:
        plotting.plot_history({"model_error": history["model_error"]}, ax=axes[0, 1])
        axes[0, 1].set_yscale("linear")
        axes[0, 1].set_ylabel("relative model error")
        axes[0, 1].set_title("||vp - true|| / ||true||")
    cutoff = history.get("cutoff")
    if cutoff:
        starts = [i for i in range(1, len(cutoff)) if cutoff[i] != cutoff[i - 1]]
        for ax in axes[0]:
            for i in starts:
                ax.axvline(i + 0.5, color="grey", linestyle=":", linewidth=1)
        labels = ", ".join("full" if math.isinf(c) else f"{c:g}"
                           for c in dict.fromkeys(cutoff))
        axes[0, 0].set_title(f"misfit; cutoffs {labels} Hz")
    return fig


def _write_metrics(path, metrics):
    def clean(value):
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if isinstance(value, Path):
            return os.fspath(value)
        if isinstance(value, (np.floating, float)):
            value = float(value)
            return value if math.isfinite(value) else None
        if isinstance(value, np.integer):
            return int(value)
        return value

    with open(path, "w") as handle:
        json.dump(clean(metrics), handle, indent=2)
        handle.write("\n")


def _finish(out, result, metrics, started):
    """Round off timings, write metrics.json and print a summary."""
    timings = {k: round(v, 2) for k, v in result.pop("timings").items()}
    timings["total"] = round(time.perf_counter() - started, 2)
    timings["since_process_start"] = _process_seconds()
    metrics["wall_time_s"] = timings
    files = result.pop("files")
    files["metrics"] = Path(out) / "metrics.json"
    files["snapshots"] = Path(out) / "snapshots"
    metrics["files"] = {k: os.path.relpath(v, out) for k, v in files.items()}
    _write_metrics(files["metrics"], metrics)
    m = metrics["misfit"]
    band = "full band" if m["cutoff_hz"] is None else f"cutoff {m['cutoff_hz']:g} Hz"
    _say(f"\nmisfit ({band}): {m['initial']:.4g} -> "
         f"{m['final']:.4g} ({100 * m['reduction']:.1f}% lower)")
    if "model_error" in metrics:
        e = metrics["model_error"]
        _say(f"model error: {e['initial']:.4f} -> {e['final']:.4f} "
             f"({100 * e['relative_reduction']:.1f}% lower)")
    _say(f"wall time: {timings['total']:.1f} s; outputs in {out}")


# ============================================================================ commands

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
    from . import datasets
    from .propagator import AcousticPropagator

    started = time.perf_counter()
    machine = _machine()
    s = {**DEMO_SETTINGS["quick" if quick else "full"], **overrides}
    out = _output_folder(out)
    _say(f"keras-seismic demo{' --quick' if quick else ''}: multiscale FWI of the faulted "
         f"model, {s['shape'][0]}x{s['shape'][1]} cells of {s['spacing']:g} m, "
         f"{s['nshots']} shots; outputs in {out}")

    grid, true_vp = datasets.faulted(shape=s["shape"], spacing=s["spacing"], seed=s["seed"])
    survey = datasets.surface_survey(grid, nshots=s["nshots"], f0=s["f0"])
    prop = AcousticPropagator(grid, survey, space_order=s["space_order"],
                              absorbing_width=s["absorbing_width"])
    t = time.perf_counter()
    observed = prop.forward(true_vp)
    modeling_time = time.perf_counter() - t
    start = datasets.smooth(true_vp, s["sigma"], grid=grid,
                            water_velocity=datasets.WATER_VELOCITY)
    mask = datasets.water_mask(start)

    result = _invert(prop, observed, start, vmin=s["vmin"], vmax=s["vmax"], mask=mask,
                     out=out, epochs=len(s["cutoffs"]) * s["epochs_per_stage"],
                     batch_size=s["batch_size"], learning_rate=s["learning_rate"],
                     learning_rate_decay=s["learning_rate_decay"],
                     adam_epsilon=s.get("adam_epsilon", 1e-20),
                     cutoffs=s["cutoffs"], epochs_per_stage=s["epochs_per_stage"],
                     true_vp=true_vp, snapshot_every=s["snapshot_every"], seed=0,
                     verbose=verbose)
    result["timings"] = {"observed_data": modeling_time, **result["timings"]}
    metrics = {
        "command": "demo --quick" if quick else "demo",
        "model": {"dataset": "faulted", "seed": s["seed"],
                  "starting_model": f"faulted smoothed by a {s['sigma']:g} m Gaussian, water "
                                    f"layer kept and masked",
                  "observed_data": "modeled with the same propagator (no noise)",
                  "f0_hz": s["f0"], "wavelet": "Ricker"},
        "problem": _problem(prop, true_vp),
        "inversion": result["inversion"],
        "misfit": result["misfit"],
        "model_error": result["model_error"],
        "machine": machine,
    }
    _finish(out, result, metrics, started)
    return metrics


def run_fwi(config_path, out=None, verbose=None):
    """The ``fwi`` command; returns the metrics dict. ConfigError for bad configs."""
    from . import datasets, io
    from .propagator import AcousticPropagator

    started = time.perf_counter()
    machine = _machine()
    config_path = Path(config_path)
    cfg = parse_fwi_config(load_config(config_path), base=config_path.parent.resolve(),
                           source=config_path)
    data, inv, opts = cfg["data"], cfg["inversion"], cfg["output"]
    out = _output_folder(out if out is not None else opts["directory"])
    verbose = opts["verbose"] if verbose is None else verbose

    # Files: read, and check that they fit together. Problems name the config field.
    wavelet = None
    if data["wavelet"] is not None:
        try:
            wavelet = np.load(data["wavelet"], allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ConfigError(("data.wavelet", f"{data['wavelet']}: not a readable .npy "
                                               f"array ({err})"), config_path) from None
    try:
        observed, survey = io.read_shots(data["shots"], wavelet=wavelet, f0=data["f0"])
    except ValueError as err:
        field = "data.wavelet" if wavelet is not None and "wavelet" in str(err) \
            else "data.shots"
        raise ConfigError((field, str(err)), config_path) from None
    grid, start = _grid_from_file("starting_model.path", cfg["starting_model"])
    true_vp = None
    if cfg["true_model"] is not None:
        true_grid, true_vp = _grid_from_file("true_model.path", cfg["true_model"])
        if true_vp.shape != start.shape:
            raise ConfigError(("true_model.path", f"the true model has shape "
                                                  f"{true_vp.shape} but the starting model "
                                                  f"has {start.shape}"), config_path)
    problems = []
    nyquist = 0.5 / survey.dt
    cutoffs = inv["cutoffs"]
    if cutoffs and any(c is not None and c >= nyquist for c in cutoffs):
        problems.append(("inversion.multiscale.cutoffs",
                         f"cutoffs must stay below the Nyquist frequency {nyquist:g} Hz of "
                         f"the data (dt = {survey.dt:g} s); got {cutoffs}"))
    vmin = inv["vmin"] if inv["vmin"] is not None else round(0.9 * float(start.min()), 1)
    vmax = inv["vmax"] if inv["vmax"] is not None else round(1.2 * float(start.max()), 1)
    if vmin >= vmax:
        problems.append(("inversion.vmin", f"expected a velocity below vmax={vmax:g} m/s; "
                                           f"got {vmin:g}"))
    elif float(start.min()) < vmin or float(start.max()) > vmax:
        field = "inversion.vmin" if float(start.min()) < vmin else "inversion.vmax"
        problems.append((field, f"the starting model spans {float(start.min()):g} to "
                                f"{float(start.max()):g} m/s, outside the bounds vmin={vmin:g}"
                                f", vmax={vmax:g} m/s"))
    mask = None
    if inv["water_velocity"] is not None:
        mask = datasets.water_mask(start, inv["water_velocity"])
        if mask.min() > 0:
            problems.append(("inversion.water_velocity",
                             f"no water layer of {inv['water_velocity']:g} m/s (+-1 m/s) at "
                             f"the top of the starting model; leave water_velocity out for "
                             f"no mask"))
    if inv["batch_size"] > survey.nshots:
        problems.append(("inversion.batch_size", f"expected at most the number of shots "
                                                 f"({survey.nshots}); got {inv['batch_size']}"))
    if survey.ndim != grid.ndim:
        problems.append(("data.shots", f"the shots are {survey.ndim}-D but the starting model "
                                       f"is {grid.ndim}-D"))
    if problems:
        raise ConfigError(problems, config_path)
    try:
        prop = AcousticPropagator(grid, survey, **cfg["propagator"])
    except ValueError as err:
        raise ConfigError(("data.shots", f"{err} (the grid of the starting model "
                                         f"{cfg['starting_model']['path'].name})"),
                          config_path) from None

    _say(f"keras-seismic fwi {config_path}: {survey.nshots} shots x {survey.nrec} receivers, "
         f"nt={survey.nt}, grid {grid.shape}; outputs in {out}")
    result = _invert(prop, observed, start, vmin=vmin, vmax=vmax, mask=mask, out=out,
                     epochs=inv["epochs"], batch_size=inv["batch_size"],
                     learning_rate=inv["learning_rate"],
                     learning_rate_decay=inv["learning_rate_decay"], cutoffs=cutoffs,
                     epochs_per_stage=inv["epochs_per_stage"],
                     filter_order=inv["filter_order"], misfit=inv["misfit"],
                     true_vp=true_vp, snapshot_every=opts["snapshot_every"],
                     shuffle=inv["shuffle"], seed=inv["seed"], verbose=verbose)
    metrics = {"command": "fwi", "config": os.fspath(config_path.resolve()),
               "inputs": {"shots": data["shots"], "starting_model":
                          cfg["starting_model"]["path"],
                          "true_model": cfg["true_model"]["path"] if true_vp is not None
                          else None,
                          "wavelet": data["wavelet"] or f"Ricker {data['f0']:g} Hz"},
               "problem": _problem(prop, start), "inversion": result["inversion"],
               "misfit": result["misfit"]}
    if true_vp is not None:
        metrics["model_error"] = result["model_error"]
    metrics["machine"] = machine
    _finish(out, result, metrics, started)
    return metrics


def run_model(config_path, out=None):
    """The ``model`` command: writes the shots (and optional files); returns a summary
    dict. With ``out``, relative output paths go there instead of next to the config."""
    from . import datasets, io, plotting
    from .propagator import AcousticPropagator
    from .survey import Survey

    config_path = Path(config_path)
    cfg = parse_model_config(load_config(config_path), base=config_path.parent.resolve(),
                             source=config_path, out_base=out)

    vel, sv, opts = cfg["velocity"], cfg["survey"], cfg["output"]
    if vel["dataset"] is not None:
        function = getattr(datasets, vel["dataset"])
        try:
            grid, vp = function(shape=tuple(vel["shape"]), spacing=vel["spacing"],
                                **vel["options"])
        except (ValueError, TypeError) as err:
            raise ConfigError(("velocity", str(err)), config_path) from None
    else:
        grid, vp = _grid_from_file("velocity.path", vel)
    try:
        survey = datasets.surface_survey(
            grid, nshots=sv["nshots"], nrec=sv["nrec"], f0=sv["f0"], duration=sv["duration"],
            dt=sv["dt"], source_depth=sv["source_depth"], receiver_depth=sv["receiver_depth"])
    except ValueError as err:
        message = str(err).removeprefix("surface_survey: ")
        field = next((f"survey.{k}" for k in _SURVEY_KEYS if message.startswith(k)), "survey")
        raise ConfigError((field, message), config_path) from None
    if sv["wavelet"] is not None:
        try:
            wavelet = np.load(sv["wavelet"], allow_pickle=False)
            survey = Survey(survey.sources, survey.receivers, survey.dt, survey.nt, wavelet)
        except (OSError, ValueError) as err:
            raise ConfigError(("survey.wavelet", f"{sv['wavelet']}: {err} (the survey has "
                                                 f"nt={survey.nt}, dt={survey.dt:g} s)"),
                              config_path) from None
    prop = AcousticPropagator(grid, survey, **cfg["propagator"])

    _say(f"keras-seismic model {config_path}: grid {grid.shape} at {grid.spacing} m, "
         f"{survey.nshots} shots x {survey.nrec} receivers, nt={survey.nt}, "
         f"dt={survey.dt:g} s")
    t = time.perf_counter()
    data = prop.forward(vp)
    seconds = time.perf_counter() - t
    written = []
    for path in [opts["shots"], opts["velocity"], opts["figure"]] + (
            [opts["starting_model"]["path"]] if opts["starting_model"] else []):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
    io.write_shots(opts["shots"], data, survey)
    written.append(opts["shots"])
    if opts["velocity"] is not None:
        io.write_velocity(opts["velocity"], vp, grid)
        written.append(opts["velocity"])
    st = opts["starting_model"]
    if st is not None:
        smooth = datasets.smooth(vp, st["sigma"], grid=grid,
                                 water_velocity=st["water_velocity"])
        io.write_velocity(st["path"], smooth, grid)
        written.append(st["path"])
    if opts["figure"] is not None:
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 2, figsize=(13.0, 4.5), constrained_layout=True,
                                 gridspec_kw={"width_ratios": [2.0, 1.0]})
        plotting.plot_velocity(vp, grid, ax=axes[0], title="velocity")
        axes[0].plot(survey.sources[:, 0, 0], survey.sources[:, 0, -1], "r*", markersize=8,
                     label="sources")
        axes[0].legend(loc="lower left")
        s = survey.nshots // 2
        plotting.plot_shot(data[s], survey.dt, receivers=survey.receivers[s], ax=axes[1],
                           title=f"shot {s + 1}/{survey.nshots}")
        plotting.save_figure(fig, opts["figure"])
        written.append(opts["figure"])
    _say(f"modeled in {seconds:.1f} s; wrote " + ", ".join(os.fspath(p) for p in written))
    return {"files": written, "data_shape": data.shape, "grid": grid, "survey": survey,
            "seconds": seconds}


# ============================================================================ entry point

def _parser():
    parser = argparse.ArgumentParser(
        prog=PROG, description="Seismic wave-equation modeling and full-waveform inversion "
                               "with Keras (Devito kernels).",
        epilog="Exit codes: 0 success, 1 failure while running, 2 bad command line or "
               "configuration. See docs/cli.md.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo", help="multiscale FWI of the built-in faulted model (under 10 minutes on 2 "
                     "cores)",
        description="Model data on the built-in faulted model, invert them from a smoothed "
                    "start with multiscale FWI (model.fit), and write figures, the inverted "
                    "model, metrics.json and the training history.")
    demo.add_argument("--out", default="out", metavar="DIR",
                      help="output directory (default: ./out)")
    demo.add_argument("--quick", action="store_true",
                      help="a tiny problem that runs in well under a minute (for tests)")

    fwi = commands.add_parser(
        "fwi", help="FWI of your SEG-Y shots from a starting model, as set in CONFIG",
        description="Full-waveform inversion of SEG-Y shots from a starting model; CONFIG is "
                    "a YAML (.yaml/.yml) or TOML (.toml) file (see docs/cli.md).")
    fwi.add_argument("config", metavar="CONFIG", help="the configuration file")
    fwi.add_argument("--out", metavar="DIR",
                     help="output directory (default: output.directory of CONFIG)")

    model = commands.add_parser(
        "model", help="model shots for a velocity model and survey; write SEG-Y",
        description="Model the shots of a surface survey over a velocity model (built-in or "
                    "from a file) and write them to SEG-Y; CONFIG is YAML or TOML (see "
                    "docs/cli.md).")
    model.add_argument("config", metavar="CONFIG", help="the configuration file")
    model.add_argument("--out", metavar="DIR",
                       help="write relative output paths of CONFIG under DIR instead of "
                            "next to CONFIG")
    return parser


def _version():
    from . import __version__
    return __version__


def main(argv=None):
    """Run the command line; returns the exit code (the console script exits with it)."""
    parser = _parser()
    args = parser.parse_args(argv)        # exits with 2 on a bad command line
    # The command line speaks for itself: TensorFlow's C++ start-up lines (CUDA probing,
    # CPU features, absl) go only where asked for with TF_CPP_MIN_LOG_LEVEL. Set in this
    # process alone, before anything imports TensorFlow; the library itself never does.
    if not os.environ.get("TF_CPP_MIN_LOG_LEVEL"):
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    try:
        if args.command == "demo":
            run_demo(out=args.out, quick=args.quick)
        elif args.command == "fwi":
            run_fwi(args.config, out=args.out)
        elif args.command == "model":
            run_model(args.config, out=args.out)
    except ConfigError as err:
        print(f"{PROG} {args.command}: error: {err.format()}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:        # e.g. an output folder that cannot be written
        print(f"{PROG} {args.command}: error: {err}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
