"""The entry point of ``keras-seismic`` (and ``python -m keras_seismic``): the argument
parser, the dispatch to the commands and the exit codes."""
import argparse
import os
import sys

from .commands import run_demo, run_fwi, run_model
from .schema import ConfigError

__all__ = ["main"]

PROG = "keras-seismic"
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _parser():
    parser = argparse.ArgumentParser(
        prog=PROG, description="Seismic wave-equation modeling and full-waveform inversion "
                               "with Keras (Devito kernels).",
        epilog="Exit codes: 0 success, 1 failure while running, 2 bad command line or "
               "configuration. See docs/cli.md.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_demo(commands)
    _add_fwi(commands)
    _add_model(commands)
    return parser


def _add_demo(commands):
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


def _add_fwi(commands):
    _add_config_command(
        commands, "fwi",
        summary="FWI of your SEG-Y shots from a starting model, as set in CONFIG",
        description="Full-waveform inversion of SEG-Y shots from a starting model; CONFIG is "
                    "a YAML (.yaml/.yml) or TOML (.toml) file (see docs/cli.md).",
        out_help="output directory (default: output.directory of CONFIG)")


def _add_model(commands):
    _add_config_command(
        commands, "model", summary="model shots for a velocity model and survey; write SEG-Y",
        description="Model the shots of a surface survey over a velocity model (built-in or "
                    "from a file) and write them to SEG-Y; CONFIG is YAML or TOML (see "
                    "docs/cli.md).",
        out_help="write relative output paths of CONFIG under DIR instead of next to CONFIG")


def _add_config_command(commands, name, summary, description, out_help):
    """A command that takes a configuration file CONFIG and an output folder ``--out``."""
    command = commands.add_parser(name, help=summary, description=description)
    command.add_argument("config", metavar="CONFIG", help="the configuration file")
    command.add_argument("--out", metavar="DIR", help=out_help)


def _version():
    from .. import __version__
    return __version__


def main(argv=None):
    """Run the command line; returns the exit code (the console script exits with it)."""
    args = _parser().parse_args(argv)        # exits with 2 on a bad command line
    # The command line speaks for itself: TensorFlow's C++ start-up lines (CUDA probing,
    # CPU features, absl) go only where asked for with TF_CPP_MIN_LOG_LEVEL. Set in this
    # process alone, before anything imports TensorFlow; the library itself never does.
    if not os.environ.get("TF_CPP_MIN_LOG_LEVEL"):
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    try:
        _run(args)
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


def _run(args):
    """The command of the parsed command line ``args``."""
    if args.command == "demo":
        run_demo(out=args.out, quick=args.quick)
    elif args.command == "fwi":
        run_fwi(args.config, out=args.out)
    elif args.command == "model":
        run_model(args.config, out=args.out)
