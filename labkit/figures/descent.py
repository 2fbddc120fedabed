"""Notebook 01 (gradient descent), section 2: the race of GD, SGD and mini-batch and the
gradient noise against the batch size; the one blow-up test (`blew_up`); and the words every
notebook-01 module shares (`plural`, `span`, `count`).

The notebook keeps the algorithm (a from-scratch descent loop run for many shuffling seeds
at once) and the experiments; what is here only lays out their results. Every sentence is
built from the numbers it is given, so it stays true at whatever settings the learner picks:
a verdict between noisy runs counts the seeds on each side, and a range over seeds is printed
wherever one run would be a single noisy sample. Arrays of losses are shaped (steps + 1,
runs): row 0 is the start, column r one seed's run. The runs' batches are drawn by
`labkit.figures.descent_batches`; the 2-D paths (sections 2 and 4) are drawn and judged in
`labkit.figures.descent_paths`, section 3 (limits and noise floors) in
`labkit.figures.stability` and `labkit.figures.descent_limits`, section 5 (time per sample) in
`labkit.figures.batch_timing`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

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


def late_mean(values: np.ndarray) -> np.ndarray:
    """The mean over the last quarter of the steps, at least the last: (steps + 1, ...) -> (...).
    A run that overflowed averages to inf or nan, silently."""
    v = np.asarray(values)
    with np.errstate(over="ignore", invalid="ignore"):
        return v[-max(1, (len(v) - 1) // 4) :].mean(0)


def blew_up(values: np.ndarray) -> np.ndarray:
    """Notebook 01's one blow-up test on a run's losses (or excess losses), (steps + 1, ...)
    -> (...): the last quarter averages above the start (nan, from an overflow, compares
    False: blew up too)."""
    return ~(late_mean(values) <= np.asarray(values)[0])


def log_plottable(values: np.ndarray) -> np.ndarray:
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


def race_lines(
    batch: Mapping[str, int],
    lr: float,
    excess: Mapping[str, np.ndarray],
    late: Mapping[str, np.ndarray],
    blown: Mapping[str, np.ndarray],
    steps: int,
) -> str:
    """`race_line` for each method (`batch`: its name -> its batch size B), each of its runs
    having seen B × `steps` samples."""
    return "\n".join(
        race_line(name, lr, excess[name], late[name], blown[name], b * steps)
        for name, b in batch.items()
    )


def per_sample_lines(
    batch: Mapping[str, int], gd: str, late: Mapping[str, np.ndarray], gd_excess: np.ndarray,
    steps: int,
) -> str:  # fmt: skip
    """`per_sample_line` for each noisy method (`batch`: name -> B; `gd` names full-batch GD,
    the largest B, n) against GD's excess per step; a method with B = n is GD itself, and
    left out."""
    n = batch[gd]
    return "\n".join(
        per_sample_line(name, late[name], gd_excess, b * steps, n)
        for name, b in batch.items()
        if b < n
    )


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
            ax.plot(x[keep], log_plottable(e[keep, 0]), **style)
            if runs > 1:
                drawn = log_plottable(e)
                with np.errstate(invalid="ignore"):
                    low, high = np.nanmin(drawn, 1), np.nanmax(drawn, 1)
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
        late = late_mean(e)
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


def noise_report(
    noise: Mapping[int, float], noise_opt: Mapping[int, float], full: float, full_opt: float,
    n: int,
) -> str:  # fmt: skip
    """What section 2 prints on the gradient noise measured at w0 and at w_opt: the full
    gradient's length at both, `noise_table` and `noise_summary`."""
    return "\n".join([
        f"full gradient: length {full:.1f} at w0, {full_opt:.0e} at w_opt",
        noise_table({"w0": noise, "w_opt": noise_opt}, n),
        noise_summary(noise, noise_opt, full),
    ])  # fmt: skip


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


def noise_metrics(noise: Mapping[int, float], noise_opt: Mapping[int, float]) -> dict[str, float]:
    """The gradient noise's entries of metrics.json: the RMS noise per batch size at w0
    (`grad_noise_b*`) and at w_opt (`grad_noise_at_opt_b*`)."""
    return {
        **{f"grad_noise_b{b}": value for b, value in noise.items()},
        **{f"grad_noise_at_opt_b{b}": value for b, value in noise_opt.items()},
    }
