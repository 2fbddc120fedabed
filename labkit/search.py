"""What a sweep runs: a notebook's declared parameters, a grid of their values or points drawn
at random from distributions (random search), each point checked and named.

`make_grid({"lr": [0.01, 0.1], "optimizer": ["sgd", "adam"]})` lists every combination;
`sample_points({"lr": LogUniform(1e-4, 1e-1), "batch_size": [16, 64]}, 8, seed=0)` draws 8
distinct points, the same ones for the same seed. `run_id` names a point's folder.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labkit.validate import ConfigError, check_choice, check_int


def parse_value(text: str) -> Any:
    """Parse a command-line value as papermill's `-p` does: bool, None, int, float or str."""
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def notebook_parameters(notebook: str | os.PathLike) -> dict[str, str]:
    """The notebook's parameters (from its `parameters` cell) and their declared types."""
    import papermill

    try:
        found = papermill.inspect_notebook(str(notebook))
    except (OSError, ValueError) as e:  # not a notebook, or one papermill cannot read
        raise ConfigError(f"cannot read the parameters of {str(notebook)!r}: {e}") from e
    return {name: info["inferred_type_name"] for name, info in found.items()}


def check_grid(grid: Mapping[str, Sequence[Any]], declared: Mapping[str, str]) -> dict:
    """Return the grid with values fitted to the declared types, or raise naming the problem.

    Unknown names, empty value lists, `out_dir` (the sweep sets it) and values of a type the
    parameter cannot take are refused before anything runs; ints given to a float become
    floats. Parameters without a declared type take any value.
    """
    listing = ", ".join(f"{name}: {kind}" for name, kind in declared.items()) or "none"
    checked = {}
    for name, values in grid.items():
        if name not in declared:
            raise ConfigError(f"unknown parameter {name!r}; the notebook takes {listing}")
        if name == "out_dir":
            raise ConfigError("out_dir is set by the sweep: each run writes to OUT/<run-id>/")
        if isinstance(values, Uniform):
            raise ConfigError(f"parameter {name!r} is a distribution ({values}): draw from it "
                              "with samples=N (labkit sweep --samples N)")  # fmt: skip
        if isinstance(values, (str, bytes)) or not list(values):
            raise ConfigError(f"parameter {name!r} needs a list of one or more values")
        checked[name] = [_fit_type(name, declared[name], value) for value in values]
    return checked


def check_point(point: Mapping[str, Any], declared: Mapping[str, str]) -> dict[str, Any]:
    """One run's parameters checked as `check_grid` checks a grid."""
    checked = check_grid({name: [value] for name, value in point.items()}, declared)
    return {name: values[0] for name, values in checked.items()}


def _fit_type(name: str, declared: str, value: Any) -> Any:
    kind = declared.replace(" ", "")
    optional = kind.startswith("Optional[") or kind.endswith("|None")
    kind = kind.removeprefix("Optional[").removesuffix("]").removesuffix("|None")
    if value is None and optional:
        return None
    accepts = {
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "str": lambda v: isinstance(v, str),
    }
    if kind not in accepts:
        return value  # no type declared (or one the sweep cannot check): the notebook decides
    if not accepts[kind](value):
        raise ConfigError(
            f"parameter {name!r} takes {declared}; got {value!r} ({type(value).__name__})"
        )
    return float(value) if kind == "float" else value


def make_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the values, in order: the last parameter varies fastest."""
    names = list(grid)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]


def run_id(parameters: Mapping[str, Any]) -> str:
    """A readable, stable folder name for one grid point, e.g. `lr=0.01_optimizer=adam`.

    Characters a file name should not hold become '-'; when that (or a very long id) could
    make two points share a name, a short hash of the exact parameters is appended.
    """
    if not parameters:
        return "defaults"
    text = "_".join(f"{name}={value}" for name, value in parameters.items())
    safe = re.sub(r"[^A-Za-z0-9._=+-]", "-", text)[:100]
    if safe != text:
        digest = hashlib.sha1(json.dumps(parameters, sort_keys=True, default=repr).encode())
        safe = f"{safe}-{digest.hexdigest()[:8]}"
    return safe


# --- random search: points drawn from a distribution per parameter ----------------------


@dataclass(frozen=True)
class Uniform:
    """Floats drawn uniformly between `low` and `high`."""

    low: float
    high: float

    def draw(self, rng: random.Random) -> Any:
        return significant(rng.uniform(self.low, self.high))


@dataclass(frozen=True)
class LogUniform(Uniform):
    """Floats whose logarithm is uniform: as many draws in 1e-4..1e-3 as in 1e-2..1e-1."""

    def draw(self, rng: random.Random) -> Any:
        return significant(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))


@dataclass(frozen=True)
class IntUniform(Uniform):
    """Whole numbers from `low` to `high`, both included."""

    def draw(self, rng: random.Random) -> Any:
        return rng.randint(int(self.low), int(self.high))


DISTRIBUTIONS = {"uniform": Uniform, "loguniform": LogUniform, "int": IntUniform}


def significant(x: float) -> float:
    """`x` to three significant digits: readable run ids, no false precision."""
    return float(f"{x:.3g}")


def parse_distribution(text: str) -> Uniform | None:
    """`loguniform:1e-4:1e-1`, `uniform:0:0.5` or `int:1:8` as a distribution; else None."""
    kind, _, bounds = text.partition(":")
    if kind not in DISTRIBUTIONS or not bounds:
        return None
    parts = bounds.split(":")
    try:
        low, high = (float(x) for x in parts)
    except ValueError:
        raise ConfigError(f"{text!r}: write {kind}:LOW:HIGH with two numbers") from None
    return make_distribution(kind, low, high)


def make_distribution(kind: str, low: float, high: float) -> Uniform:
    """A checked distribution: `low` < `high`, both > 0 for a log scale, whole for `int`."""
    check_choice("distribution", kind, DISTRIBUTIONS)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ConfigError(f"{kind}: needs finite LOW < HIGH; got {low:g} and {high:g}")
    if kind == "loguniform" and low <= 0:
        raise ConfigError(f"loguniform: needs LOW > 0 (a logarithm); got {low:g}")
    if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
        raise ConfigError(f"int: needs whole LOW and HIGH; got {low:g} and {high:g}")
    return DISTRIBUTIONS[kind](low, high)


def to_optuna(values: Any) -> Any:
    """The Optuna distribution of a parameter's distribution or list of values."""
    from optuna import distributions as d

    if isinstance(values, IntUniform):
        return d.IntDistribution(int(values.low), int(values.high))
    if isinstance(values, Uniform):  # LogUniform is a Uniform drawn on a log scale
        return d.FloatDistribution(values.low, values.high, log=isinstance(values, LogUniform))
    if isinstance(values, (str, bytes)) or not list(values):
        raise ConfigError(f"a parameter needs a distribution or a list of values; got {values!r}")
    return d.CategoricalDistribution(list(values))


def sample_points(space: Mapping[str, Any], samples: int, seed: int = 0) -> list[dict[str, Any]]:
    """`samples` distinct points drawn from `space` with `seed` (random search).

    Each parameter is a distribution (drawn from) or a list of values (one chosen
    uniformly). The same space, samples and seed always give the same points.
    """
    check_int("samples", samples, minimum=1)
    check_int("sample_seed", seed, minimum=0)
    for name, values in space.items():
        listed = not isinstance(values, (Uniform, str, bytes)) and list(values)
        if not isinstance(values, Uniform) and not listed:
            raise ConfigError(f"parameter {name!r} needs a distribution or a list of values")
    rng = random.Random(seed)
    points: dict[str, dict[str, Any]] = {}
    for _ in range(100 * samples):
        point = {name: values.draw(rng) if isinstance(values, Uniform) else rng.choice(list(values))
                 for name, values in space.items()}  # fmt: skip
        points.setdefault(run_id(point), point)
        if len(points) == samples:
            return list(points.values())
    raise ConfigError(f"the space holds only {len(points)} distinct points; asked for {samples}")
