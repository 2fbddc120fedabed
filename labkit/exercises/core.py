"""What every exercise shares: the `Exercise` and `Result` types, `grade`, and the helpers
checkers use to call the learner's code and read what it returned.

`grade(exercise, answer)` runs one checker and turns what it says into a `Result`. An answer
still holding its placeholder (`None`, `...`, a dict of `...`, a body that raises
`NotImplementedError`) is "not attempted" and never raises, so headless notebook runs pass;
an exception from the learner's code is "wrong", naming it and the input it failed on (via
`call`). Grading runs inside `torch.random.fork_rng` and restores torch's thread count, so it
leaves the learner's global RNG state and settings as they were: checkers may seed freely.
"""

from __future__ import annotations

import linecache
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

PLACEHOLDER = (
    "not attempted yet — replace the `...` or `raise NotImplementedError` placeholder with "
    "your answer, then re-run this cell"
)


class NotAttempted(Exception):
    """Raised inside a checker when the answer is still the notebook's placeholder."""


class Wrong(Exception):
    """Raised inside a checker to stop at once with a hint (the learner's code raised)."""


@dataclass(frozen=True)
class Result:
    """What `check` found: shows as one line (✓ / ✗ / …) at the end of a notebook cell."""

    exercise: str  # the exercise's name, a key of EXERCISES
    status: str  # "passed", "wrong" or "not attempted"
    message: str  # one or two sentences: the hint, or what passed

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __repr__(self) -> str:
        mark = {"passed": "✓", "wrong": "✗"}.get(self.status, "…")
        return f"{mark} {self.exercise}: {self.message}"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython's display hook
        p.text(repr(self))


@dataclass(frozen=True)
class Exercise:
    """One exercise: its statement and the checker that grades an answer."""

    name: str  # key in EXERCISES, the first argument of check()
    prompt: str  # one-paragraph statement of the task: what to write, its signature
    checker: Callable[[Any], str | None]  # None when right, else a hint; may raise NotAttempted
    passed_message: str = "passed"  # the message of a passing Result: what was checked


def grade(exercise: Exercise, answer: Any) -> Result:
    """Run `exercise`'s checker on `answer`: passed, wrong (with the hint) or not attempted."""
    name = exercise.name
    values = list(answer.values()) if isinstance(answer, dict) else None
    if answer is None or answer is ... or (values and all(v is ... for v in values)):
        return Result(name, "not attempted", PLACEHOLDER)
    # Checkers seed torch's global RNG to build models: fork_rng keeps the learner's state.
    # 0/0 in the learner's numpy code gets a hint, so numpy need not warn about it too.
    # Models this small run fastest on one thread (a busy pool can make them 30× slower).
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]), np.errstate(divide="ignore", invalid="ignore"):
        try:
            torch.set_num_threads(1)
            hint = exercise.checker(answer)
        except NotAttempted:
            return Result(name, "not attempted", PLACEHOLDER)
        except Wrong as e:
            hint = str(e)
        finally:
            torch.set_num_threads(threads)
    if hint is None:
        return Result(name, "passed", exercise.passed_message)
    return Result(name, "wrong", hint)


def call(fn: Any, *args: Any, on: str, why: dict[type, str] | None = None) -> Any:
    """Call the learner's `fn`; turn its exceptions into NotAttempted or a hint naming `on`."""
    if not callable(fn):
        raise Wrong(f"pass your function itself, not {type(fn).__name__}: check(name, f)")
    try:
        return fn(*args)
    except Exception as e:
        if isinstance(e, NotImplementedError) and _is_placeholder(e, fn):
            raise NotAttempted from None
        lines = str(e).strip().splitlines()
        extra = next((h for t, h in (why or {}).items() if isinstance(e, t)), "")
        raise Wrong(
            f"your function raised {type(e).__name__} ({lines[0] if lines else 'no message'}) "
            f"on {on}" + (f": {extra}" if extra else "")
        ) from None


def _is_placeholder(e: NotImplementedError, fn: Any) -> bool:
    # The answer's own `raise NotImplementedError` line, not one raised inside a library it
    # calls (torch raises NotImplementedError for operations a dtype does not support).
    code = getattr(fn, "__code__", None)
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if code is None or tb is None:
        return True
    if tb.tb_frame.f_code is not code:
        return False
    line = linecache.getline(code.co_filename, tb.tb_lineno).strip()
    return not line or line.startswith("raise NotImplementedError")


def array(out: Any) -> np.ndarray | None:
    """A returned tensor, array or number as float64 numpy, or None if it is not numeric."""
    if isinstance(out, torch.Tensor):
        out = out.detach().cpu().numpy()
    try:
        return None if isinstance(out, (bool, str)) else np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def scalar(out: Any) -> float | None:
    """`out` as a float if it is one number (float, int, 0-d array or tensor), else None."""
    a = array(out)
    return float(a.reshape(())) if a is not None and a.size == 1 else None
