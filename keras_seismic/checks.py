"""The checks every public entry makes of its arguments, in one place, so that bad input
gets the same clear ``ValueError`` (or ``TypeError``) wherever it enters: it names the
argument, what was expected and what was given.

Each check returns the value in the form the caller computes with, or raises.
Input that is usable but suspect gets :func:`warn`, at the user's line.
"""
import contextlib
import os
import sys
import warnings

import numpy as np

__all__ = ["ArgumentError", "choice", "field", "finite_array", "number", "shots", "warn",
           "whole"]

# Where a warning does not point: this package, and the context managers it opens files with.
_INSIDE = (os.path.dirname(os.path.abspath(__file__)) + os.sep, contextlib.__file__)


class ArgumentError(ValueError):
    """A ``ValueError`` that also names the argument at fault (``argument``), so that a
    caller can point at it in its own terms (the command line names its config key)."""

    def __init__(self, argument, message):
        super().__init__(message)
        self.argument = argument


def number(value, name, low=None, high=None, unit="", strict=True):
    """``value`` as a finite float in ``(low, high]`` (``[low, high]`` unless ``strict``).
    """
    try:
        x = float(value) if not isinstance(value, (str, bytes, bool)) else None
    except (TypeError, ValueError):
        x = None
    if x is None:
        raise ValueError(f"{name} must be a number{_unit(unit)}; got {value!r}")
    below = low is not None and (x <= low if strict else x < low)
    if not np.isfinite(x) or below or (high is not None and x > high):
        kind = "a positive finite number" if (low, high, strict) == (0, None, True) else \
            f"a finite number{_range(low, high, strict)}"
        raise ValueError(f"{name} must be {kind}{_unit(unit)}; got {value!r}")
    return x


def whole(value, name, low=None, high=None, what="a whole number"):
    """``value`` as an int in ``[low, high]``; floats with no fraction are accepted."""
    try:  # text and booleans are not numbers here, though Python converts them
        ok = not isinstance(value, (str, bytes, bool)) and float(value) == int(value)
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok or (low is not None and int(value) < low) or \
            (high is not None and int(value) > high):
        raise ValueError(f"{name} must be {what}{_range(low, high, False)}; got {value!r}")
    return int(value)


def choice(value, name, options):
    if value not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}; got {value!r}")
    return value


def finite_array(value, name, dtype=np.float32, argument=None):
    """``value`` as an array of ``dtype`` with no NaN or infinite values. Given
    ``argument``, every failure is an :class:`ArgumentError` naming it."""
    try:
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        message = f"{name} must be a numeric array; got {type(value).__name__}"
        raise (ArgumentError(argument, message) if argument else TypeError(message)) \
            from None
    if not np.all(np.isfinite(array)):
        message = f"{name} contains NaN or infinite values"
        raise ArgumentError(argument, message) if argument else ValueError(message)
    return array


def field(value, name, shapes, meaning):
    """A finite float32 array whose shape is one of ``shapes``; ``meaning`` says what the
    shapes are, for the message."""
    array = finite_array(value, name)
    if array.shape not in shapes:
        expected = " or ".join(str(s) for s in shapes)
        raise ValueError(f"{name} has shape {array.shape}; expected {expected} ({meaning})")
    return array


def shots(value, nshots):
    """Shot indices as int64 ``(n,)``, each in ``[0, nshots)``; None means all shots."""
    if value is None:
        return np.arange(nshots)
    array = np.asarray(value)
    if array.dtype.kind not in "iu" and not (
            array.dtype.kind == "f" and np.all(array == np.round(array))):
        raise ValueError(f"shots must be whole-number shot indices; got {value!r}")
    array = np.atleast_1d(array).astype(np.int64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"shots must be a non-empty 1-D list of indices; got shape "
                         f"{np.shape(value)}")
    bad = array[(array < 0) | (array >= nshots)]
    if bad.size:
        raise ValueError(f"shot index {int(bad[0])} is out of range: the survey has "
                         f"{nshots} shots (0 to {nshots - 1})")
    return array


def _unit(unit):
    return f" of {unit}" if unit else ""


def _range(low, high, strict):
    if low is None and high is None:
        return ""
    if high is None:
        return f" {'>' if strict else '>='} {low:g}"
    if low is None:
        return f" <= {high:g}"
    return f" from {low:g} to {high:g}"


def warn(message):
    """A ``UserWarning`` about the user's input, reported at the user's line: the first
    caller outside keras_seismic (and ``contextlib``). A fixed ``stacklevel`` would point
    into the package as soon as the warning moved one call deeper."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(_INSIDE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)
