"""One set of input rules shared by the Python API, the CLI and the notebooks.

Every failed check raises ``ValueError`` (``TypeError`` for a wrong type) whose
message names the parameter, the value given and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real


class ParameterError(ValueError):
    """A parameter outside its allowed values."""

    def __init__(self, name: str, value, allowed: str):
        self.name = name
        self.value = value
        self.allowed = allowed
        super().__init__(f"{name}={value!r} is not allowed; {name} must be {allowed}")


def _check_real(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ParameterError(name, value, "a number")
    if not math.isfinite(value):
        raise ParameterError(name, value, "a finite number")
    return float(value)


def check_positive(name: str, value) -> float:
    if _check_real(name, value) <= 0:
        raise ParameterError(name, value, "greater than 0")
    return value


def check_nonnegative(name: str, value) -> float:
    if _check_real(name, value) < 0:
        raise ParameterError(name, value, "0 or greater")
    return value


def check_open_unit(name: str, value) -> float:
    """A value strictly between 0 and 1, such as a confidence threshold."""
    if not 0 < _check_real(name, value) < 1:
        raise ParameterError(name, value, "strictly between 0 and 1")
    return value


def check_unit(name: str, value) -> float:
    """A value in [0, 1], such as an EMA decay."""
    if not 0 <= _check_real(name, value) <= 1:
        raise ParameterError(name, value, "between 0 and 1 inclusive")
    return value


def check_int(name: str, value, low: int | None = None, high: int | None = None):
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ParameterError(name, value, "an integer")
    if low is not None and value < low:
        bound = f"at least {low}" if high is None else f"between {low} and {high}"
        raise ParameterError(name, value, f"an integer {bound}")
    if high is not None and value > high:
        bound = f"at most {high}" if low is None else f"between {low} and {high}"
        raise ParameterError(name, value, f"an integer {bound}")
    return int(value)


def check_choice(name: str, value, choices: Iterable[str]):
    choices = list(choices)
    if value not in choices:
        raise ParameterError(name, value, "one of " + ", ".join(map(repr, choices)))
    return value


def _as_int_or_none(name: str, value, low: int):
    """``None`` passes; an integer or its text (papermill's ``-p``) is checked."""
    if value is None or (isinstance(value, str) and value.lower() in ("", "none")):
        return None
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ParameterError(
                name, value, f"an integer of at least {low} or None"
            ) from None
    return check_int(name, value, low=low)


_NOTEBOOK_INT_RULES = {
    "labels_per_class": 1, "seed": 0, "steps": 1, "num_points": 20, "num_seeds": 1,
}


def check_notebook_parameters(**parameters) -> dict:
    """Validate a notebook's ``parameters`` cell; return the coerced values.

    ``profile`` must name a profile; the integer knobs listed in
    ``_NOTEBOOK_INT_RULES`` accept integers, their text or ``None`` ("profile
    default"); numbers such as ``beta`` must be finite and non-negative. Other
    values pass through unchanged.
    """
    from .profiles import PROFILE_NAMES

    checked = {}
    for name, value in parameters.items():
        if name == "profile":
            checked[name] = check_choice("profile", value, PROFILE_NAMES)
        elif name in _NOTEBOOK_INT_RULES:
            checked[name] = _as_int_or_none(name, value, _NOTEBOOK_INT_RULES[name])
        elif name in ("beta", "temperature", "lr"):
            if isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    raise ParameterError(name, value, "a number") from None
            checker = check_nonnegative if name == "beta" else check_positive
            checked[name] = float(checker(name, value))
        else:
            checked[name] = value
    return checked
