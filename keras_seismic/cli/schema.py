"""The checking engine of the configuration files: sections whose unknown keys are reported
(with the closest known one), typed values (whole numbers, numbers with units, choices, lists,
input and output paths, multiscale cutoffs), and every problem collected so that one
:class:`ConfigError` names them all."""
import difflib
import math
from pathlib import Path

__all__ = ["ConfigError"]

_FULL_BAND = ("full", "none")     # spellings of "no filtering" as the last cutoff


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


class _Subset:
    """A non-empty list of distinct names among ``choices`` (or one name); returns them in
    the order of ``choices``."""

    def __init__(self, choices):
        self.choices = tuple(choices)
        self.what = "a list of names among " + ", ".join(repr(c) for c in self.choices)

    def __call__(self, value, field, ck):
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, (list, tuple)) or not names or \
                any(n not in self.choices for n in names) or len(set(names)) != len(names):
            return ck.error(field, f"expected {self.what}; got {_describe(value)}")
        return [c for c in self.choices if c in names]


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
