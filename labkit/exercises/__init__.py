"""Exercises with feedback that end each notebook: `check(name, answer)` says what is wrong.

The learner writes a function (or fills a quiz dict) in a marked cell and calls `check`,
which runs it against a reference implementation on cases drawn from fixed seeds, edge
cases included, and returns a `Result` whose message is a specific hint (what is wrong and
where to look), not just pass/fail. The same answer always gets the same hint. An answer
still holding its placeholder (`None`, `...`, a body that raises `NotImplementedError`) is
"not attempted" and never raises, so headless notebook runs pass; an exception from the
learner's code is reported as "wrong", naming it and the input it failed on. `check` runs
inside `torch.random.fork_rng` and restores torch's thread count, so it leaves the learner's
global RNG state and settings as they were. `prompt(name)` gives the task's statement;
unknown names raise ConfigError listing the known ones. Nothing here imports scikit-learn.

Each notebook's exercises live in their own module, merged here into `EXERCISES` in
notebook order: `welcome` (00), `gradient_descent` (01), `optimizers` (02),
`pipeline` (03), `generalization` (04), `experiments` (05), `large_models` (06), `pruning` (07),
`quantization` (08), `distillation` (09), `export` (10),
`serving` (11), `monitoring` (12); `core` holds the shared types, `grade`
and the helpers. To add a later notebook's exercises, write `labkit/exercises/<topic>.py`
with a dict `EXERCISES` of `Exercise`s keyed by name, and add the module to `_NOTEBOOKS`
below; a name defined twice, or keyed under another name, raises at import. Each checker
returns None when the answer is right, else one specific hint (the mistake it matches, or
the first input that came out wrong and what was expected); it tests on fixed-seed generated
cases including edge cases, and calls the learner's code through `core.call`, so that an
unattempted placeholder (`raise NotImplementedError`) is never an error; it may seed torch's
RNG, since `core.grade` forks it. Its tests (in tests/test_exercises.py) feed each diagnosed
wrong answer and expect its hint.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from labkit.exercises import (
    distillation,
    experiments,
    export,
    generalization,
    gradient_descent,
    large_models,
    monitoring,
    optimizers,
    pipeline,
    pruning,
    quantization,
    serving,
    welcome,
)
from labkit.exercises.core import PLACEHOLDER, Exercise, NotAttempted, Result, grade
from labkit.exercises.pipeline import SPLIT_QUESTIONS
from labkit.validate import check_choice

__all__ = [
    "EXERCISES",
    "PLACEHOLDER",
    "SPLIT_QUESTIONS",
    "Exercise",
    "NotAttempted",
    "Result",
    "check",
    "prompt",
]

# in notebook order (00-12): the order names are listed to learners
_NOTEBOOKS = (
    welcome,
    gradient_descent,
    optimizers,
    pipeline,
    generalization,
    experiments,
    large_models,
    pruning,
    quantization,
    distillation,
    export,
    serving,
    monitoring,
)


def _merge(modules: tuple[ModuleType, ...]) -> dict[str, Exercise]:
    """The union of the modules' EXERCISES, in order; a name must be unique across them."""
    merged: dict[str, Exercise] = {}
    where: dict[str, str] = {}  # exercise name -> the module that defined it
    for module in modules:
        for name, exercise in module.EXERCISES.items():
            # A silent overwrite would grade one notebook's answers with another's checker.
            if name in merged:
                raise ValueError(
                    f"exercise {name!r} is defined in both {where[name]} and {module.__name__}"
                )
            if name != exercise.name:  # check() looks up by key, Result shows exercise.name
                raise ValueError(f"{module.__name__} keys exercise {exercise.name!r} as {name!r}")
            merged[name], where[name] = exercise, module.__name__
    return merged


EXERCISES: dict[str, Exercise] = _merge(_NOTEBOOKS)


def check(name: str, answer: Any) -> Result:
    """Grade `answer` for exercise `name`; unknown names raise ConfigError listing the names."""
    return grade(EXERCISES[check_choice("exercise", name, EXERCISES)], answer)


def prompt(name: str) -> str:
    """The statement of exercise `name`, to show in the notebook above the answer cell."""
    return EXERCISES[check_choice("exercise", name, EXERCISES)].prompt
