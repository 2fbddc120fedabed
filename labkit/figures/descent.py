"""Notebook 01 (gradient descent): its figures and the sentences it prints from its numbers.

The notebook keeps the algorithm (a from-scratch descent loop run for many shuffling seeds
at once), the derivation of the stability limits and the experiments; what is here only lays
out their results. Every sentence is built from the numbers it is given, so it stays true at
whatever settings the learner picks: a verdict between noisy runs counts the seeds on each
side, and a range over seeds is printed wherever one run would be a single noisy sample.
Arrays of losses are shaped (steps + 1, runs): row 0 is the start, column r one seed's run.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from labkit.plots import trajectory_figure

FLOOR = 1e-16  # plotted values below this (float64's rounding) are drawn at it


def plural(k: int, word: str = "step") -> str:
    """'1 step', '2 steps', '1,000 steps'."""
    return f"{k:,} {word}" + ("" if k == 1 else "s")


def span(values: Any, fmt: str = ".2g") -> str:
    """A range over seeds as 'low–high' ('x' when all are equal, 'not finite' when one is not)."""
    v = np.asarray(values, dtype=float).ravel()
    if not np.isfinite(v).all():
        return "not finite"
    low, high = v.min(), v.max()
    return f"{low:{fmt}}" if f"{low:{fmt}}" == f"{high:{fmt}}" else f"{low:{fmt}}–{high:{fmt}}"


def count(flags: Any, total_word: str = "seeds") -> str:
    """How many of the runs a boolean array flags: 'none of 10 seeds', 'all 10', '3 of 10'."""
    f = np.asarray(flags, dtype=bool).ravel()
    k, n = int(f.sum()), f.size
    if k == 0:
        return f"none of {n} {total_word}" if n > 1 else "no"
    if k == n:
        return f"all {n} {total_word}" if n > 1 else "yes"
    return f"{k} of {n} {total_word}"


def _finite(values: np.ndarray) -> np.ndarray:
    """`values` with inf turned into nan (matplotlib leaves gaps at nan), clipped at FLOOR."""
    v = np.asarray(values, dtype=float)
    return np.where(np.isfinite(v), np.maximum(v, FLOOR), np.nan)


# ---- section 2: the race -------------------------------------------------------------------


def race_line(
    name: str, lr: float, excess: np.ndarray, late: np.ndarray, blown: np.ndarray, samples: int
) -> str:
    """One method's outcome: start → end for the first run, the mean over the last quarter
    of the steps (`late`, one per seed), how many runs blew up, and the samples each run saw."""
    runs = excess.shape[1]
    steps = len(excess) - 1
    end = excess[-1, 0]
    end_text = f"{end:.2g}" if np.isfinite(end) else "overflowed"
    text = f"{name:22s} lr {lr:g}: excess loss {excess[0, 0]:.3g} → {end_text} after "
    text += plural(steps)
    last = f"mean over the last {plural(max(1, steps // 4))}"
    if runs == 1:
        text += f"; {last} {late[0]:.2g}"
    else:
        text += f" (first seed); {last}, {runs} seeds: {span(late)}"
    if blown.any():
        text += f"; BLEW UP ({count(blown)} above the start)" if runs > 1 else "; BLEW UP"
    return text + f"; {plural(samples, 'sample')} seen" + (" per run" if runs > 1 else "")


def per_sample_line(
    name: str, late: np.ndarray, gd_excess: np.ndarray, samples: int, n: int
) -> str:
    """Per sample seen: a noisy method's last-quarter excess (one value per seed) against
    full-batch GD's excess after as many samples (k = samples // n of its steps)."""
    k = min(samples // n, len(gd_excess) - 1)
    gd = gd_excess[k]
    where = (
        f"GD could not finish one step with them (it needs {n:,}; excess {gd:.2g} at the start)"
        if k == 0
        else f"GD took {plural(k)} with them (excess {gd:.2g})"
    )
    ahead = np.asarray(late) < gd
    if ahead.all():
        verdict = f"ahead of GD in {count(ahead)}"
    elif not ahead.any():
        verdict = f"behind GD in {count(~ahead)}"
    else:
        verdict = f"ahead in {count(ahead)}, behind in the rest: no clear winner"
    return f"per sample: {name} saw {samples:,}; {where}; {name} is {verdict} ({span(late)})"


def race_figure(
    excess: Mapping[str, np.ndarray],
    samples_per_step: Mapping[str, int],
    blown: Mapping[str, np.ndarray],
    *,
    front: str | None = None,
) -> Figure:
    """Excess loss (log) against steps (left) and samples seen (right, log): the first run of
    each method as a line, the range over its seeds shaded; `front` dashed on top."""
    fig = Figure(figsize=(9, 3.4), dpi=72, layout="constrained")
    by_step, by_sample = fig.subplots(1, 2)
    for i, (name, e) in enumerate(excess.items()):
        b, runs = samples_per_step[name], e.shape[1]
        steps = np.arange(len(e))
        label = name + (f" (blew up: {count(blown[name])})" if np.any(blown[name]) else "")
        if runs > 1:
            label += f"; band: {runs} seeds"
        style = {"linewidth": 1, "label": label, "color": f"C{i}"}
        if name == front:
            style.update(linewidth=1.6, linestyle="--", zorder=3)
        for ax, x in ((by_step, steps), (by_sample, b * steps)):
            keep = slice(None) if ax is by_step else slice(1, None)  # log x: no 0
            ax.plot(x[keep], _finite(e[keep, 0]), **style)
            if runs > 1:
                with np.errstate(invalid="ignore"):
                    low, high = np.nanmin(_finite(e), 1), np.nanmax(_finite(e), 1)
                ax.fill_between(x[keep], low[keep], high[keep], color=f"C{i}", alpha=0.15,
                                linewidth=0)  # fmt: skip
    by_step.set(yscale="log", xlabel="optimizer step", ylabel="excess loss (log scale)",
                title="progress per step")  # fmt: skip
    by_sample.set(xscale="log", yscale="log", xlabel="samples seen (log scale)",
                  ylabel="excess loss (log scale)", title="progress per sample seen")  # fmt: skip
    for ax in (by_step, by_sample):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def in_view(
    path: np.ndarray, xlim: tuple[float, float], ylim: tuple[float, float], margin: float = 3.0
) -> np.ndarray:
    """The path up to its first point well outside the view (or not finite): a diverging path
    grows fast, and one far point would squash the rest."""
    centre = np.array([sum(xlim), sum(ylim)]) / 2
    half = np.array([xlim[1] - xlim[0], ylim[1] - ylim[0]]) / 2
    with np.errstate(invalid="ignore"):
        inside = (np.abs(path - centre) <= margin * half).all(axis=1)
    return path if inside.all() else path[: int(np.argmin(inside)) + 1]


def paths_figure(
    surface: Callable,
    paths: Mapping[str, np.ndarray],
    steps: int,
    *,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    front: str | None = None,
    size: tuple[float, float] | None = None,
    equal: bool = False,
    **kwargs: Any,
) -> Figure:
    """labkit's trajectory_figure, each path (k + 1, 2) cut where it leaves the view and
    labelled with how far it got, `front` dashed on top, optionally equal scales on both
    axes, and the legend under the plot, where it hides no path."""
    shown = {name: in_view(path, xlim, ylim) for name, path in paths.items()}
    fig = trajectory_figure(surface, shown, xlim=xlim, ylim=ylim, **kwargs)
    ax = fig.axes[0]
    for line, (name, path) in zip(ax.lines, shown.items(), strict=False):  # then the star
        k = len(path) - 1
        line.set_label(
            f"{name}: {plural(k)}"
            if k == steps
            else f"{name}: left the view at step {k} of {steps}"
        )
        if name == front:
            line.set(linestyle="--", linewidth=1.6, zorder=3)
    if equal:
        ax.set_aspect("equal")  # distances in both directions drawn to the same scale
    ax.get_legend().remove()
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=2, fontsize=8)
    if size:
        fig.set_size_inches(*size)
    fig.set_dpi(72)  # a modest PNG
    return fig


def race_metrics(
    keys: Mapping[str, str],
    excess: Mapping[str, np.ndarray],
    blown: Mapping[str, np.ndarray],
    batch: Mapping[str, int],
    optimum: float,
) -> dict[str, float | int | bool]:
    """The race's entries of metrics.json, per method (`keys` maps its name to a short key):
    the first run's final loss (its last finite value) and late excess loss, their mean over
    the seeds, how many runs blew up, whether any did, and the samples each run saw. Values
    that are not finite (an overflow) are left out: metrics.json holds finite numbers only."""
    out: dict[str, float | int | bool] = {}
    for name, k in keys.items():
        e = excess[name]
        first = e[:, 0][np.isfinite(e[:, 0])]
        late = e[-max(1, (len(e) - 1) // 4) :].mean(0)
        values = {
            f"final_loss_{k}": optimum + float(first[-1]),
            f"late_excess_loss_{k}": float(late[0]),
            f"late_excess_loss_mean_{k}": float(late.mean()),
            f"diverged_{k}": bool(np.any(blown[name])),
            f"blown_up_runs_{k}": int(np.sum(blown[name])),
            f"samples_seen_{k}": batch[name] * (len(e) - 1),
        }
        out.update({key: v for key, v in values.items() if np.isfinite(v)})
    return out


# ---- section 2: gradient noise -------------------------------------------------------------


def noise_table(noise: Mapping[str, Mapping[int, float]], n: int) -> str:
    """RMS gradient noise per batch size at each point, with the ratio to noise(1)/√B and the
    without-replacement factor √((n − B)/(n − 1)) that a batch drawn within an epoch has."""
    points = list(noise)
    head = "".join(f"   noise at {p:<6s}      " for p in points)
    lines = ["    B " + head + " √((n − B)/(n − 1))",
             "      " + "     RMS   ratio       " * len(points)]  # fmt: skip
    for b in noise[points[0]]:
        cells = "".join(
            f"  {noise[p][b]:8.3f}  {noise[p][b] * np.sqrt(b) / noise[p][1]:6.2f}      "
            for p in points
        )
        lines.append(f"{b:5d} {cells} {np.sqrt((n - b) / (n - 1)):6.2f}")
    return "\n".join(lines)


def noise_summary(noise: Mapping[int, float], noise_opt: Mapping[int, float], full: float) -> str:
    """The measured noise against the 1/√B rule at both points, one example's noise against
    the full gradient's length at w0, and the noise at w_opt against that at w0."""
    ratios = [v[b] * np.sqrt(b) / v[1] for v in (noise, noise_opt) for b in v]
    return (
        f"measured / (noise(1)/√B): {min(ratios):.2f}–{max(ratios):.2f}; at w0 one example's "
        f"noise is {noise[1] / full:.2f}× the full gradient's length; at w_opt it is "
        f"{noise[1] / noise_opt[1]:.0f}× smaller than at w0"
    )


def noise_figure(noise: Mapping[str, Mapping[int, float]]) -> Figure:
    """Measured RMS noise against B (log-log) at each point, with the noise(1)/√B line."""
    fig = Figure(figsize=(5.2, 3.6), dpi=72, layout="constrained")
    ax = fig.subplots()
    for at, values in noise.items():
        sizes = np.array(list(values))
        (line,) = ax.loglog(sizes, list(values.values()), "o", label=f"measured at {at}")
        ax.loglog(sizes, values[1] / np.sqrt(sizes), "--", color=line.get_color(),
                  label=f"noise(B=1) / √B at {at}")  # fmt: skip
    ax.set(xlabel="batch size B (log scale)", ylabel="RMS |mini-batch − full gradient| (log)",
           title="gradient noise against batch size")  # fmt: skip
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig


# ---- section 3: learning rates, limits and floors ------------------------------------------


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
        ax.plot(_finite(e), label=f"lr {rates[name]:g}, {name}{end}")
    ax.axhline(start, color="0.6", linestyle=":", label="where every run starts")
    ax.set(yscale="log", xlabel="step", ylabel="excess loss (log scale)",
           title=f"full-batch GD; 2/λ_max = {limit:.4f}")  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def path_outcome(path: np.ndarray, values: np.ndarray, steps: int, blew_up: bool) -> str:
    """One line on how a 2-D path (k + 1, 2) with losses `values` ended: it overflowed (fewer
    than steps + 1 points), blew up by the one test, or where it got to (minimum 0 at 0)."""
    if len(path) < steps + 1:
        return f"blew up: the weights overflowed at step {len(path)}"
    if blew_up:
        late = values[-max(1, steps // 4) :].mean()
        return f"blew up: loss over the last quarter {late:.3g}, above the start {values[0]:.3g}"
    return (
        f"{plural(steps)}, loss {values[-1]:.3g} (minimum 0), "
        f"{np.hypot(*path[-1]):.3g} from the minimum"
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
        f = _finite(floors)
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


# ---- section 5: time per sample ------------------------------------------------------------


def fastest_times(
    work: Mapping[Any, Callable[[], Any]],
    rounds: Iterable[int],
    *,
    warmup: int = 3,
    at_least: int = 10,
    budget_s: float = 5.0,
    sync: Callable[[], Any] = lambda: None,
    seed: int = 0,
) -> tuple[dict[Any, float], int]:
    """Each job's fastest time in seconds, and the number of timed rounds. Every round times
    each job once, in a fresh random order (a busy moment slows them alike, and no job always
    runs right after the same one); the first `warmup` rounds are discarded, and the rounds
    stop after `at_least` timed ones once `budget_s` seconds have passed. The fastest time is
    the least disturbed: other programs can only slow a job down. `sync` waits for a GPU."""
    order = random.Random(seed)
    times: dict[Any, list[float]] = {name: [] for name in work}
    deadline = time.perf_counter() + budget_s
    for round_ in rounds:
        for name in order.sample(list(work), len(work)):
            sync()
            start = time.perf_counter()
            work[name]()
            sync()
            times[name].append(time.perf_counter() - start)
        if round_ >= warmup + at_least and time.perf_counter() > deadline:
            break
    timed = len(next(iter(times.values()))) - warmup
    return {name: min(t[warmup:]) for name, t in times.items()}, timed


def timing_table(step_time: Mapping[int, float], gflops: Mapping[int, float], rate: float) -> str:
    """µs per step and per sample, achieved GFLOP/s and its share of `rate` (FLOP/s)."""
    lines = ["    B   µs per step   µs per sample   GFLOP/s   % of the matrix product's"]
    for b, t in step_time.items():
        lines.append(f"{b:5d}   {1e6 * t:11.1f}   {1e6 * t / b:13.3f}   {gflops[b]:7.2f}   "
                     f"{100 * gflops[b] * 1e9 / rate:9.1f} %")  # fmt: skip
    return "\n".join(lines)


def timing_summary(step_time: Mapping[int, float]) -> str:
    """What the timings say, from the numbers: how a step's time grew against its batch,
    and where the time per sample stopped falling (less than 2× for 8× the batch)."""
    sizes = sorted(step_time)
    small, big = sizes[0], sizes[-1]
    per = {b: step_time[b] / b for b in sizes}
    grew = step_time[big] / step_time[small]
    lines = [
        f"from B = {small} to B = {big} ({big // small:,}× the samples) a step took {grew:.1f}× "
        f"as long, so a sample cost {per[small] / per[big]:.0f}× less"
    ]
    for a, b in itertools.pairwise(sizes):
        if per[b] / per[a] > 0.5:  # less than 2× cheaper per sample for the bigger batch
            lines.append(
                f"time per sample at B = {b} / at B = {a}: {per[b] / per[a]:.2f} (a step of "
                f"fixed cost would give {a / b:.3g}, 1 means no gain): batching stops paying here"
            )
            break
    else:
        lines.append("the time per sample fell at least 2× at every step up in batch size")
    return "\n".join(lines)


def timing_figure(step_time: Mapping[int, float]) -> Figure:
    """µs per sample against B (log-log) with the two extremes: no gain from batching, and a
    step that costs the same for any B."""
    fig = Figure(figsize=(5.6, 3.6), dpi=72, layout="constrained")
    ax = fig.subplots()
    sizes = np.array(list(step_time))
    per_sample = 1e6 * np.array(list(step_time.values())) / sizes
    ax.loglog(sizes, per_sample, "o-", label="measured")
    ax.loglog(sizes, np.full(len(sizes), per_sample[0]), ":", color="0.5",
              label="no gain from batching (cost of B = 1)")  # fmt: skip
    ax.loglog(sizes, per_sample[0] / sizes, "--", color="0.5",
              label="a step costs the same for any B")  # fmt: skip
    ax.set(xlabel="batch size B (log scale)", ylabel="µs per sample (log scale)",
           title="time per training sample, small MLP")  # fmt: skip
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig
