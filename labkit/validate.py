"""Parameter checks whose errors name the parameter and what is allowed.

Notebooks call these right after their `parameters` cell, and the config dataclasses
call them on construction, so a bad `-p name value` fails at once with a readable message
instead of a traceback deep inside torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


class ConfigError(ValueError):
    """A user-settable value is out of range or of the wrong kind."""


def check_choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    """Return `value` if it is one of `allowed`, else raise naming the choices."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """Return `value` if it is True or False (papermill passes `-p name True`)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False; got {value!r}")
    return value


def check_str(name: str, value: Any) -> str:
    """Return `value` if it is a string (e.g. a path, where '' means none)."""
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a string; got {value!r}")
    return value


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """Return `value` if it is an integer (not a bool) and at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer; got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return value


def check_float(
    name: str,
    value: Any,
    *,
    positive: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    """Return `value` as a float if it is a finite real number within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number; got {value!r}")
    if positive and value <= 0:
        raise ConfigError(f"{name} must be a finite number > 0; got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}; got {value!r}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be <= {maximum}; got {value!r}")
    return float(value)
