"""Notebook 05 (experiments): reading a sweep of notebook 03, what it ran and what it found.

The notebook runs the sweeps and makes the choices (the best setting on validation accuracy,
a run that diverged never chosen); this module parses its list parameters and prints what the
sweeps measured: the runs, the choice, whether each optimizer's best learning rate sits at the
grid's edge beyond the noise, the repeat of the chosen run, and grid against random search.
Every verdict between two numbers goes through the course's one rule (`labkit.noise`): a
difference of two single runs is beyond the noise only past 2·√2 × one run's spread; inside
it, a tie.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labkit import noise
from labkit.search import parse_value
from labkit.validate import ConfigError

# the columns of a sweep's table the notebook shows
SHOWN = [
    "optimizer",
    "batch_size",
    "lr",
    "status",
    "val_accuracy",
    "test_accuracy",
    "diverged",
    "duration_s",
    "train_seconds",
    "threads",
    "error",
]
SCORES = ("val_accuracy", "test_accuracy", "diverged")  # absent from a table where all failed
TIMINGS = {"train_seconds", "train_wall_seconds"}  # how long a run took is no result

# ---- parameters ----------------------------------------------------------------------------


def list_parameter(name: str, value: Any, check: Callable[[str, Any], Any]) -> list:
    """A list parameter: a list, one value, or a string "a,b" (what papermill's -p passes),
    each value passed through `check(name, value)`; refused by name when empty or when a
    value repeats."""
    if isinstance(value, str):
        parts = value.strip().strip("[]()").split(",")
        value = [parse_value(p.strip().strip("'\"")) for p in parts if p.strip()]
    elif not isinstance(value, (list, tuple)):
        value = [value]
    if not value:
        raise ConfigError(f'{name} needs at least one value: a list, or a string like "a,b"')
    value = [check(name, v) for v in value]
    if len(set(value)) < len(value):
        raise ConfigError(f"{name} lists a value twice: {value}")
    return value


def course_notebook(name: str) -> Path:
    """A notebook of the course by file name. The kernel's folder differs between JupyterLab
    (notebooks/) and papermill from the repository root, so it is found from the installed
    package."""
    path = Path(__file__).resolve().parents[2] / "notebooks" / name  # beside the package
    if not path.is_file():
        raise FileNotFoundError(
            f"no notebook {name[:2]} at {path}: run this from a labkit checkout"
        )
    return path


def sweep_command(notebook: str, grid: Mapping[str, Sequence[Any]], out: str, jobs: int) -> str:
    """The `labkit sweep` command line that runs `grid` over `notebook` into `out`."""
    return " ".join(
        [
            f"labkit sweep {notebook}",
            *(f"-p {name} {' '.join(map(str, values))}" for name, values in grid.items()),
            f"--out {out}",
            f"--jobs {jobs}",
        ]
    )


# ---- the sweep -----------------------------------------------------------------------------


def with_scores(results: Any) -> Any:
    """The sweep's table with its score columns (`SCORES`), NaN where every run failed and a
    column is missing."""
    return results.assign(**{c: np.nan for c in SCORES if c not in results})


def threads_used(results: Any) -> int | str:
    """The thread count each run's kernel was given (the sweep sets OMP_NUM_THREADS): one
    number, several joined by commas, or 'not recorded'."""
    used = sorted(int(t) for t in results.threads.dropna().unique())
    return used[0] if len(used) == 1 else ",".join(map(str, used)) or "not recorded"


def sweep_report(
    results: Any, made_now: Sequence[bool], jobs: int, threads: int | str, seconds: float
) -> str:
    """How many runs finished or failed, how many this execution made (the others were found
    finished in the folder), and how long the call and the runs made took."""
    n, now = len(results), results[list(made_now)]
    return (
        f"{n} run{'s' * (n != 1)}: {(results.status == 'ok').sum()} ok, "
        f"{(results.status == 'failed').sum()} failed; {jobs} at a time, each kernel with "
        f"OMP_NUM_THREADS={threads}\nran now: {len(now)}; found finished by an earlier "
        f"execution into this out_dir: {n - len(now)}\nthis call took {seconds:.0f} s"
        + (
            f"; the {len(now)} runs made now took {now.duration_s.sum():.0f} s together"
            if len(now)
            else ""
        )
    )


def choice_report(ok: Any, candidates: Any, best: Any) -> str:
    """The setting chosen on validation accuracy (and the settings it tied with), its test
    accuracy (the number to report), and where the highest test accuracy lies when it lies
    elsewhere: choosing by it would be choosing on the test set."""
    if best is None:
        return (
            "no run finished without failing or diverging: nothing to choose (see the table above)"
        )
    tied = int((candidates.val_accuracy == best.val_accuracy).sum())
    lines = [
        f"chosen on validation: {best.optimizer}, lr={best.lr:g}, batch size "
        f"{best.batch_size}: val accuracy {best.val_accuracy:.3f}"
        + (
            f" (tied with {tied - 1} other setting{'s' * (tied > 2)}; the first in grid order)"
            if tied > 1
            else ""
        ),
        f"its test accuracy, the number to report: {best.test_accuracy:.3f}",
    ]
    top = ok.loc[ok.test_accuracy.idxmax()]
    if top.run_id != best.run_id:
        lines.append(
            f"the highest test accuracy, {top.test_accuracy:.3f}, belongs to {top.optimizer}, "
            f"lr={top.lr:g}, batch size {top.batch_size}: choosing by it would be choosing on "
            "the test set"
        )
    return "\n".join(lines)


def edge_report(
    ok: Any,
    candidates: Any,
    optimizers: Sequence[str],
    batch_sizes: Sequence[int],
    lrs: Sequence[float],
    n_val: int,
) -> tuple[list[tuple[str, int]], str]:
    """Per optimizer, its best setting and its worst finished one; per batch size whose best
    learning rate is the smallest or the largest of the grid, whether it beats every rate
    inside the grid beyond the noise (the band for two single runs, 2·√2 × one validation
    accuracy's sampling error on `n_val` images): then the best may lie beyond the grid.
    Returns the (optimizer, batch size) pairs at the edge, and the lines."""
    at_edge, lines = [], []
    usable_lrs = [lr for lr in lrs if lr > 0]  # notebook 03 refuses the others
    edges = (min(usable_lrs), max(usable_lrs)) if len(usable_lrs) > 1 else ()
    for optimizer in optimizers:
        rows = candidates[candidates.optimizer == optimizer]
        rows = rows.sort_values("val_accuracy", ascending=False, kind="stable")
        if not len(rows):
            continue
        r = rows.iloc[0]
        lost = int((ok.optimizer.eq(optimizer) & ok.diverged.eq(True)).sum())
        lines.append(
            f"{optimizer:9s} best at lr={r.lr:g}, batch size {r.batch_size}: val "
            f"{r.val_accuracy:.3f}; its worst finished setting: val {rows.val_accuracy.min():.3f}"
            + (f" ({lost} diverged)" if lost else "")
        )
        for batch_size in batch_sizes:  # the best rate depends on the batch size: check each
            mine = rows[rows.batch_size == batch_size]
            if not len(mine) or mine.iloc[0].lr not in edges:
                continue
            top, inner = mine.iloc[0], mine[~mine.lr.isin(edges)]
            side = "largest" if top.lr == max(usable_lrs) else "smallest"
            band = noise.difference_band(noise.sampling_error(top.val_accuracy, n_val))
            lead = top.val_accuracy - inner.val_accuracy.max() if len(inner) else math.inf
            if not math.isnan(lead) and noise.verdict(lead, band) == "higher":  # nan: no score
                at_edge.append((optimizer, batch_size))
                lines.append(
                    f"  warning: at batch size {batch_size}, lr={top.lr:g}, the {side} rate in "
                    f"the grid, beats every rate inside it by more than the noise (±{band:.3f}): "
                    f"the best may lie beyond; widen lrs before comparing {optimizer} with the rest"
                )
            else:
                lines.append(
                    f"  at batch size {batch_size}, lr={top.lr:g} is the {side} rate in the grid, "
                    f"but ties with lr={inner.iloc[0].lr:g} inside it ({lead:+.3f}, noise "
                    f"±{band:.3f}): the grid brackets the best within its noise"
                )
    return at_edge, "\n".join(lines)


def diverged_report(results: Any) -> str:
    """A line per run of the grid that diverged (its loss became NaN); '' when none did."""
    return "\n".join(
        f"diverged in the grid: {r.optimizer}, lr={r.lr:g}, batch size {r.batch_size} "
        f"(status {r.status!r}, test accuracy {r.test_accuracy:.3f})"
        for _, r in results[results.diverged.eq(True)].iterrows()
    )


def repeat_report(
    first: Mapping[str, Any], second: Mapping[str, Any], differ: Sequence[str], made_now: bool
) -> str:
    """The chosen run and its repeat, metric by metric: a few numbers side by side, and how
    many of the metrics (timings aside) are identical to the last digit. `made_now`: the first
    run was made by this execution (else its thread count may have been another)."""
    lines = [
        f"{key:18s} {first[key]!r:22}  {second[key]!r:22}  "
        + ("identical" if first[key] == second[key] else "differs")
        for key in (
            "initial_loss",
            "final_train_loss",
            "val_accuracy",
            "test_accuracy",
            "test_f1_macro",
            "train_seconds",
        )
        if key in first
    ]
    lines.append(
        f"{len(first) - len(TIMINGS) - len(differ)} of {len(first) - len(TIMINGS)} metrics "
        "identical, to the last digit" + (f"; differ: {differ}" if differ else "")
    )
    if not made_now:
        lines.append(
            "(the first run comes from an earlier execution into this out_dir: with "
            "another jobs, its thread count, and so its last digits, may differ)"
        )
    return "\n".join(lines)


def search_report(searches: Mapping[str, Any], val_band: float) -> tuple[dict[str, float], str]:
    """Each search's runs, distinct learning rates and best validation accuracy (a run that
    diverged or failed does not count), and the verdict random − grid against `val_band`, the
    band for two single runs. Returns each search's best and the lines."""
    found, lines = {}, []
    for name, rows in searches.items():
        usable = rows[(rows.status == "ok") & ~rows.diverged.eq(True)]
        found[name] = usable.val_accuracy.max() if len(usable) else math.nan
        lines.append(
            f"{name:6s} {len(rows)} runs, {rows.lr.nunique()} distinct learning rates; "
            f"best validation accuracy {found[name]:.3f}"
        )
    lead = found.get("random", math.nan) - found["grid"]
    if math.isnan(lead) or math.isnan(val_band):
        lines.append(
            "no verdict between the two searches: it needs both bests and section 5's noise band"
        )
    else:
        verdict = (
            "a tie: inside the noise band, so at this budget neither search found a better setting"
            if noise.verdict(lead, val_band) == "tie"
            else f"{'random' if lead > 0 else 'grid'} search found a better setting, by more "
            "than the noise band (one search each: a hint, not a proof)"
        )
        lines.append(
            f"random − grid: {lead:+.3f} against a noise band of ±{val_band:.3f}: {verdict}"
        )
    return found, "\n".join(lines)


def best_metrics(best: Any) -> dict[str, Any]:
    """metrics.json's numbers of the chosen setting: its learning rate, batch size, optimizer,
    and validation and test accuracy."""
    return {
        "best_lr": float(best.lr),
        "best_batch_size": int(best.batch_size),
        "best_optimizer": best.optimizer,
        "best_val_accuracy": float(best.val_accuracy),
        "best_test_accuracy": float(best.test_accuracy),
    }


def finite(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """`metrics` without the numbers that are NaN (metrics.json holds finite numbers: a
    diverged best run may have no validation accuracy)."""
    return {k: v for k, v in metrics.items() if not (isinstance(v, float) and math.isnan(v))}
