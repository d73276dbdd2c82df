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

The package: :mod:`~keras_seismic.cli.main` (the argument parser and the exit codes),
:mod:`~keras_seismic.cli.commands` (the commands), :mod:`~keras_seismic.cli.inversion` (the
FWI they run), :mod:`~keras_seismic.cli.config` (the settings of the configuration files),
:mod:`~keras_seismic.cli.schema` (the checking of their fields) and
:mod:`~keras_seismic.cli.report` (figures, ``metrics.json`` and the printed summary).
Importing it imports neither TensorFlow nor Devito: a command imports what it uses.
"""
from . import config, schema
from .commands import DEMO_SETTINGS, run_demo, run_fwi, run_model
from .config import load_config, parse_fwi_config, parse_model_config
from .main import main
from .schema import ConfigError

__all__ = ["main", "ConfigError", "load_config", "parse_fwi_config", "parse_model_config",
           "run_demo", "run_fwi", "run_model", "DEMO_SETTINGS"]

# The checking of the propagator section, which tests/test_target.py runs by these names.
_Checker, _propagator_options, _PROPAGATOR_KEYS = \
    schema._Checker, config._propagator_options, config._PROPAGATOR_KEYS
