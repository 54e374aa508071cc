"""Hyperparameter dataclasses: declaration, validation and parsing shared by every method.

A method's knobs live in one dataclass whose fields are declared with :func:`hparam`. The metadata
(help text, range, choices) drives validation here, the CLI's ``--set name=value`` parsing and the
app's controls, so no caller ever hard-codes a method's knobs.
"""
from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

from .errors import UnlearningInputError, shown


SEED_MAX = 2**32 - 1  # numpy's generators take seeds up to here (torch's go further): one range everywhere
SEED_RANGE = f"an integer in 0..{SEED_MAX} (0 to 2**32-1)"


def whole_number(value: Any, max_digits: int = 19) -> int | None:
    """``value`` as a non-negative int when it is one: an int, an integral float (a JSON number) or plain ASCII
    digits (the CLI; never "٣" or "1_0"); None for booleans, fractions and other text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value) <= max_digits:
        return int(value.strip())
    return None


# A number written as text (the CLI's --set, the app's JSON strings, a sweep's shares): ASCII digits with an optional
# sign, point and exponent. Python's float()/int() also read other scripts' digits ("٣"), full-width digits ("６４"),
# underscores ("1_0"), "inf" and "nan"; each of those would be a silent conversion, so none is a number here.
DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
DECIMAL_FORM = "a JSON number or plain decimal text such as 3, 0.01 or 1e-3"


def decimal_number(value: Any) -> float | None:
    """``value`` as a float when it is a number (not a boolean) or plain ASCII decimal text (``DECIMAL_TEXT``,
    surrounding spaces allowed); None otherwise. The float may be inf or NaN only when given as a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:  # an int beyond the float range
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str) and DECIMAL_TEXT.fullmatch(value.strip()):
        return float(value.strip())
    return None


def blank(value: Any) -> bool:
    """Whether a form field was left empty: None, or text of nothing but spaces (a browser's number field also
    reads as empty when what is in it is not a number)."""
    return value is None or (isinstance(value, str) and not value.strip())


def form_value(text: Any, kind: str) -> Any:
    """A form field's text as the JSON value a knob of ``kind`` takes ("integer" or "number", as ``describe``
    names a knob's type): the number the text spells when it spells one (plain ASCII, as :func:`coerce` reads
    it), else the text unchanged, so that validation quotes exactly what was typed. Other kinds pass as given."""
    if kind == "integer":
        number = whole_number(text)
        return text if number is None else number
    if kind != "number":
        return text
    number = decimal_number(text)
    if number is None or not math.isfinite(number):
        return text
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def check_seed(value: Any, what: str = "seed") -> int:
    """A run's seed as an int, or an UnlearningInputError naming the valid range. Integers, integral floats
    (JSON numbers) and ASCII digit strings (the CLI) are accepted; booleans, fractions and other text are not."""
    if blank(value):
        raise UnlearningInputError(f"{what} is empty or not a number: it must be {SEED_RANGE}")
    seed = whole_number(value)
    if seed is None or not 0 <= seed <= SEED_MAX:
        raise UnlearningInputError(f"{what} must be {SEED_RANGE}; got {shown(value)}")
    return seed


MAX_SEEDS = 10  # a request repeated over more seeds than this is refused (the app's run budget prices each)


def check_seeds(value: Any, what: str = "seeds") -> list[int]:
    """Several seeds of one request, from a list (API) or comma-separated text (``--seeds 21,22,23``): each a
    valid seed (:func:`check_seed`), at least one, at most ``MAX_SEEDS``, none repeated (a repeated seed
    would count one run twice in the summary)."""
    example = f"e.g. 21,22,23 (1 to {MAX_SEEDS} different integers in 0..{SEED_MAX})"
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",")]
        if not value.strip() or any(not item for item in items):
            raise UnlearningInputError(f"{what} takes comma-separated seeds, {example}; got {shown(value)}")
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise UnlearningInputError(f"{what} must be a list of seeds, {example}; got {shown(value)}")
    if not items:
        raise UnlearningInputError(f"{what} must name at least one seed, {example}")
    if len(items) > MAX_SEEDS:
        raise UnlearningInputError(f"{what} takes at most {MAX_SEEDS} seeds; got {len(items)}")
    seeds = [check_seed(item, f"each of {what}") for item in items]
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated:
        raise UnlearningInputError(f"{what} lists a seed more than once ({', '.join(map(str, repeated))}); "
                                   "each seed is one run")
    return seeds


def repeat_seeds(seed: Any, repeat: Any) -> list[int]:
    """The app's "Repeat over N seeds": ``seed``, ``seed + 1``, ..., ``seed + repeat - 1``; ``repeat`` an integer
    (a JSON number or ASCII digits) in 1..MAX_SEEDS."""
    if blank(repeat):
        raise UnlearningInputError(f"repeat (the number of seeds) is empty or not a number: it must be an integer "
                                   f"in 1..{MAX_SEEDS}")
    count = whole_number(repeat, max_digits=3)
    if count is None or not 1 <= count <= MAX_SEEDS:
        raise UnlearningInputError(f"repeat (the number of seeds) must be an integer in 1..{MAX_SEEDS}; "
                                   f"got {shown(repeat)}")
    first = check_seed(seed)
    if first + count - 1 > SEED_MAX:
        raise UnlearningInputError(f"seed {first} repeated over {count} seeds passes the largest seed {SEED_MAX}; "
                                   "start lower")
    return [first + i for i in range(count)]


def hparam(default: Any, help: str, low: float | None = None, high: float | None = None,
           choices: tuple | None = None, low_inclusive: bool = True):
    """Declare one hyperparameter: its default, a one-line help, and its valid range or choices."""
    return dataclasses.field(default=default, metadata={
        "help": help, "low": low, "high": high, "choices": choices, "low_inclusive": low_inclusive})


def describe_range(field: dataclasses.Field) -> str:
    meta = field.metadata
    if meta.get("choices"):
        return "one of " + ", ".join(repr(c) for c in meta["choices"])
    low, high = meta.get("low"), meta.get("high")
    kind = _kind(field)
    article = "an" if kind[0] in "aeiou" else "a"
    if low is None and high is None:
        return f"{article} {kind}"
    left = "[" if meta.get("low_inclusive", True) else "("
    return f"{article} {kind} in {left}{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"


def _kind(field: dataclasses.Field) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string"}[type(field.default)]


def coerce(field: dataclasses.Field, value: Any) -> Any:
    """Convert ``value`` (a JSON value, or a string from the CLI or UI) to the field's type, or explain why not.
    Numbers given as text must be plain ASCII decimals (``DECIMAL_TEXT``): nothing is converted silently."""
    target = type(field.default)
    wrong = UnlearningInputError(f"hyperparameter '{field.name}' must be {describe_range(field)}; got {shown(value)}")
    if target is bool:
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
        elif isinstance(value, (bool, int)) and value in (0, 1):
            return bool(value)
        raise wrong
    if target in (int, float):
        if blank(value):
            raise UnlearningInputError(f"hyperparameter '{field.name}' is empty: it must be {describe_range(field)} "
                                       f"(its default is {field.default!r})")
        number = decimal_number(value) if target is float else whole_number(value)
        if number is None:
            form = {float: DECIMAL_FORM, int: "a JSON number or plain digits such as 64"}[target]
            raise UnlearningInputError(f"hyperparameter '{field.name}' must be {describe_range(field)}"
                                       f"{', given as ' + form if isinstance(value, str) else ''}; got {shown(value)}")
        return number
    if not isinstance(value, str):
        raise wrong
    return value


def check_field(field: dataclasses.Field, value: Any) -> None:
    meta = field.metadata
    if isinstance(value, float) and not math.isfinite(value):
        raise UnlearningInputError(f"hyperparameter '{field.name}' must be finite; got {shown(value)}")
    problem = False
    if meta.get("choices") and value not in meta["choices"]:
        problem = True
    low, high = meta.get("low"), meta.get("high")
    if low is not None and (value < low or (value == low and not meta.get("low_inclusive", True))):
        problem = True
    if high is not None and value > high:
        problem = True
    if problem:
        raise UnlearningInputError(
            f"hyperparameter '{field.name}' must be {describe_range(field)}; got {shown(value)}")


def build_config(config_cls: type, overrides: dict[str, Any] | None = None, owner: str | None = None):
    """Instantiate ``config_cls`` from its defaults plus ``overrides``, validating every value. ``owner`` names
    whose knobs they are in messages (e.g. "method 'salun'"; the class name is internal)."""
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    owner = owner or config_cls.__name__
    values = {}
    for key, raw in (overrides or {}).items():
        if key not in fields:
            if not fields:
                raise UnlearningInputError(f"{owner} has no hyperparameters; got {shown(key)}")
            raise UnlearningInputError(
                f"unknown hyperparameter {shown(key)} for {owner}; valid: {', '.join(fields)}")
        values[key] = coerce(fields[key], raw)
    config = config_cls(**values)
    validate(config)
    return config


def as_config(config_cls: type, config: Any = None, defaults: dict[str, Any] | None = None,
              owner: str | None = None):
    """A validated ``config_cls``: ``config`` itself when it is one (checked: a config built by hand may hold
    out-of-range values), else built from ``defaults`` and then the overrides in ``config`` (a dict or None)."""
    if isinstance(config, config_cls):
        validate(config)
        return config
    return build_config(config_cls, {**(defaults or {}), **(config or {})}, owner)


def validate(config) -> None:
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if type(value) is not type(field.default):
            value = coerce(field, value)
            object.__setattr__(config, field.name, value)
        check_field(field, value)


def parse_assignments(pairs: list[str] | None) -> dict[str, str]:
    """Parse CLI ``name=value`` strings."""
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise UnlearningInputError(f"--set expects name=value, got {shown(pair)}")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def describe(config_cls: type) -> list[dict[str, Any]]:
    """Plain description of each field (name, default, help, range) for the CLI listing and the UI."""
    return [{
        "name": f.name, "type": _kind(f), "default": f.default, "help": f.metadata.get("help", ""),
        "low": f.metadata.get("low"), "high": f.metadata.get("high"),
        "choices": list(f.metadata["choices"]) if f.metadata.get("choices") else None,
        "valid": describe_range(f),
    } for f in dataclasses.fields(config_cls)]
