"""Notebook 01: its exercises, graded by `check(name, f)` (see labkit.exercises).

Exposed as `EXERCISES`, which `labkit.exercises` merges with the other notebooks'.
"""

from __future__ import annotations

from labkit.exercises.core import Exercise

EXERCISES: dict[str, Exercise] = {}
