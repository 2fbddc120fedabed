"""Notebook 08 (quantization): its exercises, graded against labkit's reference. Exposed as
`EXERCISES`, which `labkit.exercises` merges."""

from __future__ import annotations

from labkit.exercises.core import Exercise

EXERCISES: dict[str, Exercise] = {}
