"""What the exercise tests share: grading an answer in one module's registry, and asserting
that a wrong answer gets the hint meant for its mistake."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from labkit.exercises.core import Result, grade


def checker(module: ModuleType) -> Callable[[str, Any], Result]:
    """`check(name, answer)` against `module.EXERCISES`, whether registered or not."""
    return lambda name, answer: grade(module.EXERCISES[name], answer)


def assert_wrong(result: Result, hint: str) -> None:
    assert result.status == "wrong", result
    assert hint in result.message, result
