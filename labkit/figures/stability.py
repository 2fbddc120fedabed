"""Notebook 01 (gradient descent), section 3: the learning rate's limits and SGD's noise floor.

The notebook derives full-batch GD's limit 2/λ_max and SGD's own, lower limit and its noise
floor (mean-square stability, from the fourth moment of the data), then measures them by
bisection and over shuffling seeds; what is here lays out the results. Every sentence is
computed from the numbers it is given: a derived value is called consistent with a
measurement only when it lies inside the range over seeds, and a floor is not reported where
none can be measured (B = 1, B = n, a rate at or above SGD's limit, too few steps to settle).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from labkit.figures.descent import count, log_plottable, span

# ---- too small, about right, too large ------------------------------------------------------


def trio_lines(
    excess: Mapping[str, np.ndarray],
    rates: Mapping[str, float],
    blown: Mapping[str, bool],
) -> str:
    """One line per named rate: full-batch GD's excess loss from start to end (one run each),
    and whether it blew up."""
    return "\n".join(
        f"lr {rates[name]:<6g} ({name:11s}): excess loss {e[0]:.3g} → {e[-1]:.2g} after "
        f"{len(e) - 1} steps" + (": BLEW UP" if blown[name] else "")
        for name, e in excess.items()
    )


def learning_rates_figure(
    excess: Mapping[str, np.ndarray],
    rates: Mapping[str, float],
    blown: Mapping[str, bool],
    limit: float,
) -> Figure:
    """Full-batch GD's excess loss per step for a few named rates (one run each), with the
    common start marked."""
    fig = Figure(figsize=(6, 3.6), dpi=72, layout="constrained")
    ax = fig.subplots()
    start = next(iter(excess.values()))[0]
    for name, e in excess.items():
        end = " (blew up)" if blown[name] else ""
        ax.plot(log_plottable(e), label=f"lr {rates[name]:g}, {name}{end}")
    ax.axhline(start, color="0.6", linestyle=":", label="where every run starts")
    ax.set(yscale="log", xlabel="step", ylabel="excess loss (log scale)",
           title=f"full-batch GD; 2/λ_max = {limit:.4f}")  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def threshold_report(measured: float, predicted: float, lam_std: Sequence[float]) -> str:
    """The bisected divergence threshold against the predicted 2/λ_max (their difference in
    %), and the Hessian's eigenvalues and 2/λ_max once the features are standardized."""
    return "\n".join([
        f"measured threshold  {measured:.5f}",
        f"predicted 2/λ_max   {predicted:.5f}   "
        f"(difference {100 * (measured / predicted - 1):+.3f} %)",
        f"standardized features: λ = {lam_std[0]:.2f} and {lam_std[1]:.2f}, "
        f"2/λ_max = {2 / lam_std[1]:.2f}",
    ])  # fmt: skip


# ---- SGD's own limit, and its noise floor: derived, then measured --------------------------


def limit_check_line(top: float, full_batch_limit: float, gd_limit: float) -> str:
    """The step map's largest eigenvalue at SGD's derived limit (1 by construction), and
    whether the derived limit at B = n is exactly GD's 2/λ_max (to 1e-9)."""
    exact = "exactly" if math.isclose(full_batch_limit, gd_limit, rel_tol=1e-9) else "NOT"
    return (
        f"T's largest eigenvalue at SGD's limit: {top:.9f}; at B = n the limit is 2/λ_max {exact}"
    )


def limits_table(
    sizes: Sequence[int], derived: Mapping[int, float], gd_limit: float, n: int,
    measured: Mapping[int, np.ndarray] | None = None,
) -> str:  # fmt: skip
    """Derived limit per batch size, as a fraction of 2/λ_max, next to the Gaussian rule
    2/λ_max ÷ (1 + 2 f_B) and, when given, the measured single-run limits over seeds."""
    head = "    B   derived limit   × 2/λ_max   Gaussian rule"
    if measured:
        head += "   measured: one run blows up above (median, range over seeds)"
    lines = [head]
    for b in sizes:
        f = (n - b) / ((n - 1) * b)
        gaussian = gd_limit / (1 + 2 * f)
        line = f"{b:5d}   {derived[b]:13.4f}   {derived[b] / gd_limit:9.3f}   {gaussian:13.4f}"
        if measured and b in measured:
            m = measured[b]
            line += f"   {np.median(m):.4f} ({span(m, '.4f')})"
        lines.append(line)
    return "\n".join(lines)


def floors_summary(
    fractions: Sequence[float],
    measured: Mapping[int, np.ndarray],
    predicted: Callable[[float, int], float],
    limits: Mapping[int, float],
) -> str:
    """Per batch size: the measured floor (mean over seeds) over the derived one at each
    fraction of the limit (– where none is finite), and the seeds' spread (max / min); then
    the two facts the notebook draws from them, computed."""
    seeds = next(iter(measured.values())).shape[1]
    head = "   lr / limit " + "".join(f"{f:>9g}" for f in fractions)
    lines = [f"measured / derived floor (mean over {seeds} seeds), and the seeds' max / min:", head]
    near, spread_in, spread_out = [], [], []
    for b, floors in measured.items():
        derived = np.array([predicted(f * limits[b], b) for f in fractions])
        with np.errstate(all="ignore"):
            ratio = np.where(np.isfinite(derived), floors.mean(1) / derived, np.nan)
            spread = floors.max(1) / floors.min(1)
        lines.append(f"   B = {b:<7d}" + "".join("        –" if np.isnan(r) else f"{r:9.2f}"
                                                 for r in ratio))  # fmt: skip
        lines.append("   max / min  " + "".join(f"{v:9.3g}" for v in spread))
        for f, r, v in zip(fractions, ratio, spread, strict=True):
            if f <= 0.5:
                near.append(r)
                spread_in.append(v)
            elif f >= 1:
                spread_out.append(v)
    if near:
        lines.append(
            f"at ½ of the limit or less the measured floors are {span(near, '.2f')} × the derived "
            f"ones, and the seeds' floors span a factor {span(spread_in, '.2f')}"
        )
    if spread_out:
        lines.append(
            "at the limit and above no floor is finite, and the seeds' floors span a factor "
            f"{span(spread_out, '.3g')}"
        )
    return "\n".join(lines)


def run_limits_summary(measured: Mapping[int, np.ndarray], limits: Mapping[int, float]) -> str:
    """How the measured single-run limits (one per seed) sit against the derived ones: the
    median's excess over the derived limit per batch size, whether it shrinks as the batch
    grows, and how many single runs blew up below the derived limit."""
    ratios = {b: np.asarray(m) / limits[b] for b, m in measured.items()}
    medians = [float(np.median(r)) for r in ratios.values()]
    above = ", ".join(f"B = {b} {m - 1:+.0%}" for b, m in zip(ratios, medians, strict=True))
    if all(m > 1 for m in medians):
        where = f"the median single run survives past the derived limit at every B ({above})"
    else:
        where = f"median single-run limit against the derived one: {above}"
    if len(medians) > 1 and all(a > b for a, b in itertools.pairwise(medians)):
        where += ", by less as the batch grows"
    below = np.concatenate([r < 1 for r in ratios.values()])
    return f"{where}; {count(below, 'runs')} blew up below the derived limit"


def floors_figure(
    fractions: Sequence[float],
    measured: Mapping[int, np.ndarray],
    predicted: Callable[[float, int], float],
    limits: Mapping[int, float],
) -> Figure:
    """The noise floor against lr / (each batch size's derived limit): the derived floor
    predicted(lr, b) as a line (infinite at 1), the mean over seeds as points with the seeds'
    range as bars. measured[b] is (len(fractions), seeds)."""
    fig = Figure(figsize=(6.4, 3.8), dpi=72, layout="constrained")
    ax = fig.subplots()
    grid = np.linspace(min(fractions), 0.995, 200)
    for i, (b, floors) in enumerate(measured.items()):
        color = f"C{i}"
        ax.plot(grid, [predicted(g * limits[b], b) for g in grid], color=color,
                label=f"B = {b}: derived (limit {limits[b]:.4f})")  # fmt: skip
        f = log_plottable(floors)
        with np.errstate(invalid="ignore"):
            mean, low, high = np.nanmean(f, 1), np.nanmin(f, 1), np.nanmax(f, 1)
        x = np.asarray(fractions) * (1 + 0.012 * (i - 1))  # side by side, not on top
        ax.errorbar(x, mean, yerr=[mean - low, high - mean], fmt="o", color=color, markersize=4,
                    capsize=2, label=f"B = {b}: measured (mean, range over seeds)")  # fmt: skip
    ax.axvline(1.0, color="0.5", linestyle=":", label="the derived limit")
    ax.set(
        yscale="log",
        xlabel="learning rate / derived limit of its batch size",
        ylabel="noise floor: mean excess loss",
        title="noise floors, derived and measured",
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return fig


def ratio_verdict(
    ratios: np.ndarray, predictions: Mapping[str, float], *, what: str = "ratio"
) -> str:
    """Which predictions of a ratio lie inside the range of the per-seed ratios: inside it a
    prediction is consistent with the measurement (a tie), outside it is not."""
    r = np.asarray(ratios, dtype=float)
    low, high = r.min(), r.max()
    parts = []
    for name, p in predictions.items():
        side = "inside" if low <= p <= high else ("below" if p < low else "above")
        parts.append(f"{name} {p:.3g}× is {side} the measured range")
    return f"{what}: mean {r.mean():.3g}×, {len(r)} seeds {low:.3g}–{high:.3g}×; " + "; ".join(
        parts
    )


# ---- back to the race: its rate against each method's limit --------------------------------


def limit_positions(lr: float, batch: Mapping[str, int], limits: Mapping[int, float]) -> str:
    """Where `lr` sits against each method's derived limit, as a multiple of it."""
    return "; ".join(
        f"{name}: lr {lr:g} is {lr / limits[b]:.2f}× its limit {limits[b]:.4f}"
        for name, b in batch.items()
    )


def derived_ratios_line(
    predicted: Callable[[float, int], float], sgd_limit: float, b: int,
    fractions: Sequence[float] = (0.05, 0.25, 0.5, 0.75),
) -> str:  # fmt: skip
    """The derived SGD / mini-batch floor ratio at fractions of SGD's limit, against B."""
    ratios = ", ".join(
        f"{predicted(f * sgd_limit, 1) / predicted(f * sgd_limit, b):.3g}×" for f in fractions
    )
    at = ", ".join(f"{f:g}" for f in fractions)
    return (
        f"derived SGD / B = {b} floor ratio at lr = {at} × SGD's limit: {ratios} "
        f"(the small-lr rule: {b}×)"
    )


def no_floor_reason(
    lr: float, b: int, n: int, sgd_limit: float, settle: float, allowed: int
) -> str | None:
    """Why the SGD / mini-batch floor ratio cannot be measured at these settings, or None:
    B = 1 (the mini-batch is SGD), B = n (no noise), lr at or above SGD's limit (no finite
    floor), or runs that need more than `allowed` steps to settle (`settle`)."""
    if b == 1:
        return "B = 1: the mini-batch run is SGD; there is no ratio to measure"
    if b == n:
        return f"B = {n:,} is the full batch: its gradient is exact, it has no noise floor"
    if lr >= sgd_limit:
        return f"lr {lr:g} is at or above SGD's limit: SGD has no finite floor to compare"
    if settle > allowed:
        return (
            f"at lr {lr:g} a run takes about {settle:,.0f} steps to settle, more than the "
            f"{allowed:,} allowed: no floor measured"
        )
    return None


def floors_lines(measured: Mapping[str, np.ndarray], derived: Mapping[str, float]) -> str:
    """Each method's measured floor (mean and range over seeds) next to the derived one."""
    return "\n".join(
        f"{name:22s} floor {f.mean():.2g} ({f.size} seeds {span(f)}); derived {derived[name]:.2g}"
        for name, f in measured.items()
    )


def race_floors_report(
    lr: float,
    batch: Mapping[str, int],
    limits: Mapping[int, float],
    predicted: Callable[[float, int], float],
    *,
    b: int,
    reason: str | None,
    floors: Mapping[str, np.ndarray],
    ratio: np.ndarray | None,
    derived: float | None,
) -> str:
    """The race's rate against each method's derived limit (`batch`: name -> batch size, the
    largest is GD's n); for a real mini-batch (1 < b < n) the derived SGD / mini-batch floor
    ratios; then either why no floor was measured (`reason`) or SGD's and the mini-batch's
    measured floors (name -> one per seed), and their per-seed `ratio` against the `derived`
    ratio and the small-lr rule (b×)."""
    lines = [limit_positions(lr, batch, limits)]
    if 1 < b < max(batch.values()):
        lines.append(derived_ratios_line(predicted, limits[1], b))
    if reason:
        lines.append(reason)
    else:
        lines.append(floors_lines(floors, {name: predicted(lr, batch[name]) for name in floors}))
        lines.append(
            ratio_verdict(ratio, {"derived": derived, "small-lr rule": b},
                          what="SGD's floor / the mini-batch's")
        )  # fmt: skip
    return "\n".join(lines)


@dataclass(frozen=True)
class RaceFloors:
    """The race's noise floors, as `race_floors` measured them (or did not)."""

    floors: dict[str, np.ndarray]  # SGD's and the mini-batch's floors, one per seed; {}: none
    ratio: np.ndarray | None  # SGD's floor / the mini-batch's, per seed; None: not measured
    derived: float | None  # the same ratio, derived; None: not measured
    report: str  # what the notebook prints: `race_floors_report`


def race_floors(
    lr: float,
    batch: Mapping[str, int],
    noisy: tuple[str, str],
    limits: Mapping[int, float],
    predicted: Callable[[float, int], float],
    measure: Callable[[Sequence[float], int], np.ndarray],
    *,
    settle: float,
    allowed: int,
) -> RaceFloors:
    """SGD's and the mini-batch's floors at the race's `lr`, where they can be measured
    (`no_floor_reason` says why not: B = 1, B = n, lr at or above SGD's limit, or `settle`
    steps needed where `allowed` are averaged away). `batch` maps each method's name to its
    batch size, `noisy` names SGD and the mini-batch, `measure(rates, b)` gives the floors
    (len(rates), seeds) and `predicted(lr, b)` the derived floor."""
    sgd, mini = noisy
    b, n = batch[mini], max(batch.values())
    reason = no_floor_reason(lr, b, n, limits[1], settle, allowed)
    floors, ratio, derived = {}, None, None
    if not reason:
        floors = {name: measure([lr], batch[name])[0] for name in noisy}
        ratio = floors[sgd] / floors[mini]  # per seed
        derived = predicted(lr, 1) / predicted(lr, b)
    report = race_floors_report(lr, batch, limits, predicted, b=b, reason=reason, floors=floors,
                                ratio=ratio, derived=derived)  # fmt: skip
    return RaceFloors(floors, ratio, derived, report)


def limit_metrics(
    limits: Mapping[int, float],
    run_limits: Mapping[int, np.ndarray],
    ratio: np.ndarray | None,
    derived: float | None,
) -> dict[str, float]:
    """Section 3's entries of metrics.json: the derived limits (`sgd_limit_b*`), the measured
    single-run limits' medians (`sgd_run_limit_median_b*`) and, when the race's floors were
    measured, their per-seed ratio's mean, min and max with the derived ratio (`floor_ratio_*`)."""
    out = {f"sgd_limit_b{b}": value for b, value in limits.items()}
    out |= {f"sgd_run_limit_median_b{b}": float(np.median(m)) for b, m in run_limits.items()}
    if ratio is not None:
        out |= {"floor_ratio_mean": ratio.mean(), "floor_ratio_min": ratio.min(),
                "floor_ratio_max": ratio.max(), "floor_ratio_derived": derived}  # fmt: skip
    return out
