"""One set of input rules shared by the Python API, the CLI and the notebooks.

Every failed check raises :class:`ParameterError` (a ``ValueError``) whose
message names the parameter, the value given and what is allowed.

The primitives (``check_int``, ``check_positive``, ...) check one value.
:data:`RULES` says which primitive applies to each named parameter of a run;
:func:`check_parameter` applies it to a Python value (the API),
:func:`parse_parameter` first turns text into a value (the command line and
papermill's ``-p``), and :func:`check_notebook_parameters` does both for a
notebook's parameters cell.
"""

from __future__ import annotations

import ast
import importlib
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from numbers import Integral, Real


class ParameterError(ValueError):
    """A parameter outside its allowed values."""

    def __init__(self, name: str, value, allowed: str):
        self.name = name
        self.value = value
        self.allowed = allowed
        super().__init__(f"{name}={value!r} is not allowed; {name} must be {allowed}")


def _check_real(name: str, value, allowed: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ParameterError(name, value, f"a number {allowed}")
    if not math.isfinite(value):
        raise ParameterError(name, value, f"a finite number {allowed}")
    return float(value)


def check_positive(name: str, value) -> float:
    if _check_real(name, value, "> 0") <= 0:
        raise ParameterError(name, value, "a number > 0")
    return value


def check_nonnegative(name: str, value) -> float:
    if _check_real(name, value, ">= 0") < 0:
        raise ParameterError(name, value, "a number >= 0")
    return value


def check_open_unit(name: str, value) -> float:
    """A value strictly between 0 and 1, such as a confidence threshold."""
    if not 0 < _check_real(name, value, "strictly between 0 and 1") < 1:
        raise ParameterError(name, value, "a number strictly between 0 and 1")
    return value


def check_unit(name: str, value) -> float:
    """A value in [0, 1], such as an EMA decay."""
    if not 0 <= _check_real(name, value, "between 0 and 1 inclusive") <= 1:
        raise ParameterError(name, value, "a number between 0 and 1 inclusive")
    return value


def _int_range(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"an integer between {low} and {high}"
    if low is not None:
        return f"an integer >= {low}"
    if high is not None:
        return f"an integer <= {high}"
    return "an integer"


def check_int(name: str, value, low: int | None = None, high: int | None = None):
    allowed = _int_range(low, high)
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ParameterError(name, value, allowed)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ParameterError(name, value, allowed)
    return int(value)


def check_choice(name: str, value, choices: Iterable[str]):
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        raise ParameterError(name, value, "one of " + ", ".join(map(repr, choices)))
    return value


def check_flag(name: str, value) -> bool:
    """True or False (a string such as ``"no"`` is not silently truthy)."""
    if not isinstance(value, bool):
        raise ParameterError(name, value, "True or False")
    return value


@dataclass(frozen=True)
class Rule:
    """How one named parameter is parsed from text and checked.

    ``check(name, value)`` returns the (normalised) value or raises
    :class:`ParameterError`; ``parse(text)`` turns command-line text into a
    value, or returns the text unchanged when it is not of the right form so
    that ``check`` reports it.
    """

    check: Callable
    parse: Callable[[str], object]
    optional: bool = False


def _parse_int(text: str):
    try:
        return int(text.strip())
    except ValueError:
        return text


def _parse_real(text: str):
    try:
        return float(text.strip())
    except ValueError:
        return text


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _parse_flag(text: str):
    word = text.strip().lower()
    return True if word in _TRUE else False if word in _FALSE else text


def _text(name: str, value) -> str:
    if not isinstance(value, (str, os.PathLike)):
        raise ParameterError(name, value, "a string or a path")
    return value


def _file_name(name: str, value) -> str:
    if not isinstance(value, str) or not value or set(value) & set("/\\"):
        raise ParameterError(name, value, "a non-empty name without / or \\")
    return value


def _dict(name: str, value) -> dict:
    if not isinstance(value, dict):
        raise ParameterError(name, value, "a dict")
    return value


def integer(low: int | None = None, high: int | None = None) -> Rule:
    return Rule(lambda name, value: check_int(name, value, low, high), _parse_int)


def real(check: Callable) -> Rule:
    return Rule(check, _parse_real)


def choice(module: str, attribute: str, extra: tuple[str, ...] = ()) -> Rule:
    """One of the names in ``module.attribute`` (imported when first checked)."""

    def check(name, value):
        names = getattr(importlib.import_module(module), attribute)
        return check_choice(name, value, extra + tuple(names))

    return Rule(check, str.strip)


def optional(rule: Rule) -> Rule:
    """``rule`` or None (written ``none`` or left empty on the command line)."""
    return Rule(rule.check, rule.parse, optional=True)


FLAG = Rule(check_flag, _parse_flag)
TEXT = Rule(_text, str)

RULES: dict[str, Rule] = {
    "dataset": choice("supercm.data", "DATASETS"),
    "method": choice("supercm.config", "METHODS"),
    "labels_per_class": integer(low=1),
    "seed": integer(low=0),
    "target_dataset": optional(choice("supercm.data", "DATASETS")),
    "steps": integer(low=1),
    "batch_size": integer(low=1),
    "unlabeled_batch_size": integer(low=1),
    "lr": real(check_positive),
    "weight_decay": real(check_nonnegative),
    "lr_anneal": FLAG,
    "backbone": choice("supercm.backbones", "BACKBONES", extra=("auto",)),
    "beta": real(check_nonnegative),
    "temperature": real(check_positive),
    "alpha": real(check_positive),
    "centroid_mode": choice("supercm.centroids", "CENTROID_MODES"),
    "centroid_update": choice("supercm.centroids", "CENTROID_UPDATES"),
    "centroid_momentum": real(check_unit),
    "centroid_source": choice("supercm.config", "CENTROID_SOURCES"),
    "pseudo_threshold": real(check_open_unit),
    "w_ssl": optional(real(check_nonnegative)),
    "ramp_fraction": real(check_unit),
    "ssl_options": Rule(_dict, ast.literal_eval),
    "domain_weight": real(check_nonnegative),
    "ema_decay": real(check_unit),
    "eval_every": integer(low=1),
    "val_size": integer(low=1),
    "test_size": integer(low=1),
    "augment": FLAG,
    "deterministic": FLAG,
    "amp": FLAG,
    "device": choice("supercm.config", "DEVICES"),
    "num_workers": integer(low=0),
    "progress": FLAG,
    "out_dir": TEXT,
    "name": optional(Rule(_file_name, str)),
    "checkpoint_every": integer(low=0),
    "resume": FLAG,
    "data_root": optional(TEXT),
    "download": FLAG,
    "profile": choice("supercm.profiles", "PROFILE_NAMES"),
    "num_points": integer(low=20),  # size of a generated 2-D data set
    "num_seeds": integer(low=1),
}

# Notebook parameters that hold a list of values of a run parameter.
LIST_PARAMETERS = {
    "seeds": "seed",
    "methods": "method",
    "datasets": "dataset",
    "labels_per_class_sweep": "labels_per_class",
}


def check_parameter(name: str, value):
    """Check a Python ``value`` of the run parameter ``name``; return it normalised."""
    rule = RULES[name]
    if value is None and rule.optional:
        return None
    return rule.check(name, value)


def parse_parameter(name: str, value):
    """Like :func:`check_parameter`, but text (from a command line) is parsed first."""
    rule = RULES[name]
    if isinstance(value, str):
        if rule.optional and value.strip().lower() in ("", "none"):
            return None
        try:
            value = rule.parse(value)
        except (ValueError, SyntaxError):
            pass
    return check_parameter(name, value)


def parse_list(name: str, value) -> list:
    """A list of values of the run parameter ``LIST_PARAMETERS[name]``.

    Accepts a list or tuple, one value, or text such as ``"0,1,2"`` or
    ``"['ce', 'ce+cm']"`` (what ``papermill -p`` passes).
    """
    item_name = LIST_PARAMETERS[name]
    items = value
    if isinstance(value, str):
        try:
            items = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            items = [part for part in value.replace(",", " ").split() if part]
    if not isinstance(items, (list, tuple)):
        items = [items]
    if not items:
        raise ParameterError(name, value, f"a non-empty list of {item_name} values")
    try:
        return [parse_parameter(item_name, item) for item in items]
    except ParameterError as error:
        raise ParameterError(
            name, value, f"a list whose items are each {error.allowed}"
        ) from None


def check_notebook_parameters(**params) -> dict:
    """Check and coerce the values of a notebook's parameters cell.

    Takes any run parameter (``profile``, ``dataset``, ``method``,
    ``labels_per_class``, ``seed``, ``steps``, ``beta``, ``temperature``, any
    other :class:`~supercm.config.TrainConfig` field) or list parameter
    (``seeds``, ``methods``, ``datasets``, ``labels_per_class_sweep``). Text
    values, as ``papermill -p`` passes them, are parsed first (``"5"`` becomes
    5, ``"0,1,2"`` becomes ``[0, 1, 2]``). None means "the profile's value"
    and passes through, as do parameters without a rule. Returns the coerced
    values under the same names; raises :class:`ParameterError` naming the
    first bad parameter.

    >>> check_notebook_parameters(labels_per_class="5", seeds="0,1")
    {'labels_per_class': 5, 'seeds': [0, 1]}
    """
    checked = {}
    for name, value in params.items():
        if value is None:
            checked[name] = None
        elif name in LIST_PARAMETERS:
            checked[name] = parse_list(name, value)
        elif name in RULES:
            checked[name] = parse_parameter(name, value)
        else:
            checked[name] = value
    return checked
