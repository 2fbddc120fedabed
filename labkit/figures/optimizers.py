"""Notebook 02 (optimizers): its figures, its printed tables and its computed verdicts.

The notebook keeps the update rules, the experiments and the checks; the layout of a
multi-panel figure and the wording of a table live here. Every verdict between two
settings carries its noise: the sampling error of a mean over the n validation examples,
std/√n (for an accuracy p that is √(p(1−p)/n)), and for a difference of two such numbers
σ = √(σa² + σb²). The course's one rule: a difference is beyond the noise only when
|d| > 2σ (for two numbers with the same error σ0, 2·√2·σ0); otherwise it is a tie. A 1σ rule
would call about a third of the differences between two equally good settings a win.
A printed band "d ± b" shows b = 2σ: a difference inside its band is a tie. The rule itself
lives in `labkit.noise`; this module words it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from labkit import noise
from labkit.landscapes import grid
from labkit.optim import DEFAULT_WEIGHT_DECAY, OPTIMIZER_DEFAULTS, OPTIMIZERS, LRFinderResult
from labkit.train import History

COLORS = {name: f"C{i}" for i, name in enumerate(OPTIMIZERS)}  # one colour per optimizer
Surface = Callable[[torch.Tensor], torch.Tensor]


class RunLike(Protocol):
    history: History  # per-epoch curves, up to the last good epoch
    diverged: str  # "" when the run trained, else why not


# ---- noise and verdicts -------------------------------------------------------------------


accuracy_error = noise.sampling_error  # an accuracy p on n examples: √(p(1−p)/n)


def mean_error(values: Sequence[float] | np.ndarray) -> float:
    """The sampling error of the mean of per-example values (e.g. losses): std/√n."""
    values = np.asarray(values, dtype=float)
    return float(values.std(ddof=1) / math.sqrt(len(values)))


VERDICTS = ("better", "worse", "tie", "both diverged")
BAND = noise.BAND  # a difference is beyond the noise only when |d| > BAND · √(σa² + σb²)


class Comparison(NamedTuple):
    """a − b, the noise of that difference, and the verdict for a."""

    diff: float  # a − b (nan when either diverged)
    noise: float  # σ = √(σa² + σb²); the band that decides is BAND · σ
    verdict: str  # "better", "worse", "tie" or "both diverged"

    @property
    def limit(self) -> float:
        """The half-width of the band: a difference inside ±2σ is a tie."""
        return BAND * self.noise

    def band(self, scale: float = 100.0, unit: str = " points", digits: int = 1) -> str:
        """The difference and its 2σ band, e.g. '+1.1 ± 4.4 points' (or who diverged)."""
        if math.isnan(self.diff):
            return {"worse": "worse (it diverged)", "better": "better (the other diverged)"}.get(
                self.verdict, self.verdict
            )
        return f"{scale * self.diff:+.{digits}f} ± {scale * self.limit:.{digits}f}{unit}"

    def text(self, scale: float = 100.0, unit: str = " points", digits: int = 1) -> str:
        """The band and the verdict, e.g. '+1.1 ± 4.4 points: tie'."""
        band = self.band(scale, unit, digits)
        return band if math.isnan(self.diff) else f"{band}: {self.verdict}"


def compare(
    a: float, a_error: float, b: float, b_error: float, *, higher_is_better: bool = True
) -> Comparison:
    """Compare two measured numbers with their sampling errors; nan stands for a run that
    diverged, which is worse than any number. Beyond the noise only when
    |a − b| > 2·√(a_error² + b_error²) (`labkit.noise`'s rule); otherwise a tie."""
    if math.isnan(a) or math.isnan(b):
        verdict = {(True, True): "both diverged", (True, False): "worse"}.get(
            (math.isnan(a), math.isnan(b)), "better"
        )
        return Comparison(math.nan, math.nan, verdict)
    diff, sigma = a - b, math.hypot(a_error, b_error)
    said = noise.verdict(diff, noise.difference_band(a_error, b_error))
    if said == "tie":
        return Comparison(diff, sigma, "tie")
    return Comparison(diff, sigma, "better" if (said == "higher") == higher_is_better else "worse")


def compare_accuracies(a: float, b: float, n: int) -> Comparison:
    """Two accuracies, each on n examples (nan: diverged), higher is better.

    This treats the two errors √(p(1−p)/n) as independent, a rough rule: on the same n
    examples the two models' mistakes are correlated (usually they share hard examples, and
    then this band is too wide, a conservative rule; not always). The exact way for two
    models on the same examples is a paired test on the examples where they disagree
    (McNemar's, as notebook 03 does)."""
    return compare(a, accuracy_error(a, n), b, accuracy_error(b, n))


def tally(comparisons: Mapping[Any, Comparison]) -> str:
    """How many comparisons went each way, e.g. 'better in 1, worse in 0, tied in 6'."""
    count = {v: sum(c.verdict == v for c in comparisons.values()) for v in VERDICTS}
    text = f"better in {count['better']}, worse in {count['worse']}, tied in {count['tie']}"
    return text + (f", both diverged in {count['both diverged']}" if count["both diverged"] else "")


# ---- section 1-2: parity, the 2-D surfaces ------------------------------------------------


def parity_table(parity: Mapping[str, tuple[float, float]]) -> str:
    """From-scratch vs torch.optim: the largest difference and how far the weights moved."""
    lines = [
        f"{'optimizer':24s} {'max |from scratch - torch|':>27s}  {'max |w - w0| (it moved)':>23s}"
    ]
    lines += [f"{name:24s} {diff:27.1e}  {moved:23.3f}" for name, (diff, moved) in parity.items()]
    return "\n".join(lines)


def paths_figure(
    surface: Surface,
    paths: Mapping[str, np.ndarray],
    lrs: Mapping[str, float],
    *,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    minimum: tuple[float, float],
    title: str,
) -> Figure:
    """One panel per optimizer's path on the surface's contours, and a last panel with the
    loss per step of all of them (log scale)."""
    X, Y, Z = grid(surface, xlim, ylim, 120)
    levels = np.geomspace(max(Z.min(), 1e-3 * Z.max(), 1e-12), Z.max(), 14)  # log-spaced
    fig = Figure(figsize=(12, 5.6), dpi=80, layout="constrained")
    axes = fig.subplots(2, 4)
    for ax, (name, path) in zip(axes.flat, paths.items(), strict=False):
        ax.contourf(
            X, Y, Z, levels=levels, cmap="viridis", norm=LogNorm(), alpha=0.45, extend="min"
        )  # darker is lower
        ax.plot(path[:, 0], path[:, 1], ".-", color=COLORS[name], markersize=3, linewidth=1)
        ax.plot(*minimum, marker="*", markersize=12, color="gold", markeredgecolor="k")
        ax.set(xlim=xlim, ylim=ylim, xticks=[], yticks=[])
        final = surface(torch.tensor(path[-1])).item()
        ax.set_title(f"{name}, lr {lrs[name]:g}: loss {final:.2g}", fontsize=10)
    for ax in axes.flat[len(paths) : -1]:
        ax.set_visible(False)
    ax = axes.flat[-1]
    for name, path in paths.items():
        losses = surface(torch.tensor(path)).numpy().clip(1e-30, 1e30)  # a diverging path too
        ax.plot(losses, color=COLORS[name], label=name)
    ax.set(yscale="log", xlabel="step")
    ax.set_title("loss per step (log scale)", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    fig.suptitle(title, fontsize=11)
    return fig


def turns(path: np.ndarray) -> int:
    """How often the path reverses its direction in w2 (a zig-zag turns at every step)."""
    d = np.diff(path[:, 1])
    return int((d[1:] * d[:-1] < 0).sum())


def surfaces_table(
    bowl_loss: Mapping[str, float], valley_paths: Mapping[str, np.ndarray], valley: Surface
) -> str:
    """Final loss on the bowl and in the valley, the valley path's turns, and its largest
    loss after step 100 (where a path thrown out of the valley shows)."""
    valley_loss = {n: valley(torch.tensor(p[-1])).item() for n, p in valley_paths.items()}
    lines = [
        f"{'optimizer':10s} {'bowl loss':>10s} {'valley loss':>12s} {'w2 turns':>9s} "
        f"{'valley: largest loss after step 100':>36s}"
    ]
    for name, path in valley_paths.items():
        later = valley(torch.tensor(path[100:])).numpy()
        lines.append(
            f"{name:10s} {bowl_loss[name]:10.2g} {valley_loss[name]:12.2g} {turns(path):9d} "
            f"{later.max():27.3g} (step {100 + int(later.argmax())})"
        )
    lines.append(
        f"lowest final loss: on the bowl {min(bowl_loss, key=bowl_loss.get)} | in the "
        f"valley {min(valley_loss, key=valley_loss.get)}"
    )
    return "\n".join(lines)


# ---- section 3: the seven on digits -------------------------------------------------------


def hyper_table(rates: Mapping[str, float]) -> str:
    """What each optimizer is given: its torch class, rate, weight decay and the rest."""
    lines = [
        f"{'name':9s} {'torch class':12s} {'lr here':>8s}  {'weight decay':>12s}  "
        "other hyper-parameters"
    ]
    for name, (cls, hyper) in OPTIMIZER_DEFAULTS.items():
        shown = ", ".join(f"{k}={v}" for k, v in hyper.items())
        decay = DEFAULT_WEIGHT_DECAY.get(name, 0.0)
        lines.append(f"{name:9s} {cls.__name__:12s} {rates[name]:8g}  {decay:12g}  {shown}")
    return "\n".join(lines)


def curves_figure(
    named_histories: Mapping[str, History],
    *,
    title: str,
    colors: Mapping[str, str] | None = None,
    dashed: Sequence[str] = (),
) -> Figure:
    """Validation loss (log scale) and accuracy per epoch, one line per run."""
    fig = Figure(figsize=(11, 3.6), dpi=80, layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    for i, (label, history) in enumerate(named_histories.items()):
        style = {
            "color": (colors or {}).get(label, f"C{i}"),
            "label": label,
            "linestyle": "--" if label in dashed else "-",
        }
        loss_ax.plot(history.epoch, history.val_loss, ".", **style)
        acc_ax.plot(history.epoch, history.val_accuracy, ".", **style)
    loss_ax.set(yscale="log", xlabel="epoch", ylabel="validation loss (log scale)")
    acc_ax.set(xlabel="epoch", ylabel="validation accuracy")
    acc_ax.set_ylim(max(0.0, acc_ax.get_ylim()[0]), 1.0)
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
    acc_ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(title, fontsize=11)
    return fig


def _final(run: RunLike, key: str = "val_accuracy") -> float:
    values = getattr(run.history, key)
    return values[-1] if values and not run.diverged else math.nan


def results_table(runs: Mapping[str, RunLike], rates: Mapping[str, float], n: int) -> str:
    """Each optimizer's final validation accuracy (± its sampling error on n examples), its
    accuracy after epoch 1 and its final validation loss; a diverged run says why."""
    lines = [
        f"{'optimizer':10s} {'lr':>6s} {'val accuracy':>15s} {'after epoch 1':>14s} "
        f"{'val loss':>9s}"
    ]
    for name, run in runs.items():
        first = f"{run.history.val_accuracy[0]:.3f}" if run.history.val_accuracy else "-"
        if run.diverged:
            lines.append(
                f"{name:10s} {rates[name]:6g} {'diverged':>15s} {first:>14s} "
                f"{'-':>9s}   {run.diverged}"
            )
        else:
            p = _final(run)
            lines.append(
                f"{name:10s} {rates[name]:6g} {p:7.3f} ± {accuracy_error(p, n):.3f} "
                f"{first:>14s} {_final(run, 'val_loss'):9.4g}"
            )
    return "\n".join(lines)


def spread_verdict(
    first: Mapping[str, float], last: Mapping[str, float], n: int, epochs: int
) -> str:
    """Best minus worst validation accuracy of the runs that trained, at the end and after
    epoch 1, each against its noise (two accuracies on n examples), and whether the spread
    shrank by more than the noise of the two spreads."""
    if not last:
        return "no optimizer trained at these settings: no spread to compare"

    def spread(acc: Mapping[str, float]) -> Comparison:
        return compare_accuracies(max(acc.values()), min(acc.values()), n)

    end = spread(last)
    within = "a tie, within the noise" if end.verdict == "tie" else "apart, beyond the noise"
    text = f"best minus worst validation accuracy at the end: {end.band()} ({within})"
    if epochs == 1:
        return text + "; with 1 epoch the end is epoch 1, so there is nothing to compare it with"
    start = spread(first)
    change = compare(start.diff, start.noise, end.diff, end.noise)
    said = {
        "better": "closer together at the end than after epoch 1",
        "worse": "further apart at the end than after epoch 1",
        "tie": "about as far apart at the end as after epoch 1 (a tie)",
    }[change.verdict]
    return (
        f"{text}; after epoch 1: {start.band()}. The {len(last)} ended {said}: the spread "
        f"changed by {(-change.diff * 100):+.1f} ± {100 * change.limit:.1f} points"
    )


# ---- section 4: the learning-rate finder --------------------------------------------------


def finder_table(finds: Mapping[str, LRFinderResult], rates: Mapping[str, float]) -> str:
    """Each optimizer's suggestion beside its lowest-loss rate and section 3's rate, and
    where the suggestions lie relative to each other and to those rates."""
    lines = [
        f"{'optimizer':10s} {'suggested':>10s} {'lowest loss at':>15s} "
        f"{'rate in section 3':>18s} {'ratio':>6s}"
    ]
    for name, f in finds.items():
        lowest = f.lrs[int(np.argmin(f.losses))]
        lines.append(
            f"{name:10s} {f.suggested_lr:10.3g} {lowest:15.3g} {rates[name]:18g} "
            f"{f.suggested_lr / rates[name]:6.1f}"
        )
    above = sum(f.suggested_lr > rates[name] for name, f in finds.items())
    lines.append(
        f"{above} of {len(finds)} suggestions lie above section 3's rates "
        f"({len(finds) - above} at or below)"
    )
    if {"sgd", "momentum", "adam"} <= finds.keys():
        decades = {
            n: math.log10(finds["sgd"].suggested_lr / finds[n].suggested_lr)
            for n in ("momentum", "adam")
        }
        lines.append(
            "SGD's suggestion lies "
            + ", ".join(
                f"{abs(d):.1f} decades {'right of' if d > 0 else 'left of'} {n}'s"
                if d
                else f"at {n}'s"
                for n, d in decades.items()
            )
        )
    return "\n".join(lines)


def finder_figure(finds: Mapping[str, LRFinderResult], chosen: str) -> Figure:
    """Left: the chosen optimizer's curve, its lowest point and suggestion; right: all."""
    fig = Figure(figsize=(11, 3.8), dpi=80, layout="constrained")
    one, all_ = fig.subplots(1, 2)

    def at(f: LRFinderResult) -> float:  # the curve's height at the suggestion
        return float(np.interp(np.log(f.suggested_lr), np.log(f.lrs), f.losses))

    f = finds[chosen]
    one.plot(f.lrs, f.losses, color=COLORS[chosen])
    low = int(np.argmin(f.losses))
    one.plot(
        f.lrs[low],
        f.losses[low],
        "x",
        color="k",
        markersize=9,
        label=f"lowest loss, lr {f.lrs[low]:.2g}: the edge",
    )
    one.plot(
        f.suggested_lr,
        at(f),
        "o",
        color="red",
        markersize=8,
        label=f"suggested (steepest fall): {f.suggested_lr:.2g}",
    )
    one.set_title(f"{chosen}: loss while the learning rate grows", fontsize=10)
    for name, g in finds.items():
        all_.plot(g.lrs, g.losses, color=COLORS[name], label=name)
        all_.plot(g.suggested_lr, at(g), "o", color=COLORS[name])
    all_.set_title(f"all {len(finds)} (dots: suggestions)", fontsize=10)
    for ax in (one, all_):
        ax.set(xscale="log", xlabel="learning rate (log scale)", ylabel="smoothed training loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def suggestion_table(
    finds: Mapping[str, LRFinderResult],
    at_suggestion: Mapping[str, float],
    at_rate: Mapping[str, float],
    rates: Mapping[str, float],
    n: int,
) -> tuple[str, dict[str, Comparison]]:
    """Validation accuracy at each finder suggestion vs at section 3's rate (nan: diverged),
    with the verdict of each comparison against its noise; and the comparisons."""
    versus = {name: compare_accuracies(at_suggestion[name], at_rate[name], n) for name in finds}

    def shown(p: float) -> str:
        return "diverged" if math.isnan(p) else f"{p:.3f}"

    lines = [
        f"{'optimizer':10s} {'suggested lr':>12s} {'val acc':>9s}   {'section 3 lr':>12s} "
        f"{'val acc':>9s}   suggestion minus section 3"
    ]
    for name, f in finds.items():
        lines.append(
            f"{name:10s} {f.suggested_lr:12.3g} {shown(at_suggestion[name]):>9s}   "
            f"{rates[name]:12g} {shown(at_rate[name]):>9s}   {versus[name].text()}"
        )
    lines.append(
        f"at its suggestion, compared with section 3's rate, an optimizer ended {tally(versus)} "
        f"of {len(finds)} cases (tie: inside ±2√(σa² + σb²), σ the sampling error of an "
        f"accuracy on {n} validation images; diverging is worse)"
    )
    return "\n".join(lines), versus


# ---- section 5: schedules -----------------------------------------------------------------


def schedules_figure(
    factors: Mapping[str, np.ndarray],
    histories: Mapping[tuple[str, float], History],
    *,
    steps_per_epoch: int,
    optimizer: str,
) -> Figure:
    """The schedules' factors per step, then validation accuracy per epoch at each base rate."""
    names = list(factors)
    bases = list(dict.fromkeys(base for _, base in histories))
    fig = Figure(figsize=(12, 3.6), dpi=80, layout="constrained")
    lr_ax, *acc_axes = fig.subplots(1, 1 + len(bases))
    for i, (name, f) in enumerate(factors.items()):
        lr_ax.plot(np.arange(len(f)) / steps_per_epoch, f, color=f"C{i}", label=name)
    lr_ax.set(xlabel="epoch", ylabel="learning rate / base rate", title="the schedules")
    for ax, base in zip(acc_axes, bases, strict=True):
        for i, name in enumerate(names):
            h = histories[name, base]
            ax.plot(h.epoch, h.val_accuracy, ".-", color=f"C{i}", label=name)
        ax.set(xlabel="epoch", ylabel="validation accuracy", title=f"{optimizer}, base lr {base:g}")
        ax.set_ylim(max(0.0, ax.get_ylim()[0]), 1.0)
    for ax in (lr_ax, *acc_axes):
        ax.title.set_fontsize(10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def schedule_report(
    losses: Mapping[tuple[str, float], np.ndarray | None],
    accuracy: Mapping[tuple[str, float], float],
    n: int,
) -> tuple[str, dict[tuple[str, str, float], Comparison]]:
    """Per schedule and base rate: validation loss and accuracy, each ± its sampling error
    (None / nan: diverged); then each schedule against `constant`, and the warm-up
    (`warmup_cosine` against `cosine`), by validation loss (lower is better).

    `losses` holds each run's per-example validation losses. Returns the text and the
    comparisons, keyed (schedule, reference, base rate)."""
    names = list(dict.fromkeys(name for name, _ in losses))
    bases = list(dict.fromkeys(base for _, base in losses))

    def loss_of(key: tuple[str, float]) -> tuple[float, float]:
        v = losses[key]
        return (math.nan, math.nan) if v is None else (float(np.mean(v)), mean_error(v))

    lines = [
        f"{'schedule':14s}" + "".join(f"{f'lr {b:g}: val loss / val accuracy':>38s}" for b in bases)
    ]
    for name in names:
        cells = []
        for base in bases:
            loss, err = loss_of((name, base))
            p = accuracy[name, base]
            cells.append(
                f"{'diverged':>38s}"
                if math.isnan(loss)
                else f"{loss:11.3f} ± {err:.3f} / {p:.3f} ± {accuracy_error(p, n):.3f}"
            )
        lines.append(f"{name:14s}" + "".join(cells))
    pairs = [(name, "constant") for name in names if name != "constant"]
    pairs += [("warmup_cosine", "cosine")] if {"warmup_cosine", "cosine"} <= set(names) else []
    comparisons = {}
    for base in bases:
        for a, b in pairs:
            comparisons[a, b, base] = compare(
                *loss_of((a, base)), *loss_of((b, base)), higher_is_better=False
            )
        versus = ", ".join(
            f"{a} {comparisons[a, 'constant', base].text(1.0, '', 3)}"
            for a, b in pairs
            if b == "constant"
        )
        lines.append(f"at lr {base:g}, validation loss minus constant's: {versus}")
    if ("warmup_cosine", "cosine") in pairs:
        warm = {base: comparisons["warmup_cosine", "cosine", base] for base in bases}
        said = {
            "better": "helped (lower loss)",
            "worse": "hurt (higher loss)",
            "tie": "a tie",
            "both diverged": "both diverged",
        }
        lines.append(
            "warm-up (warmup_cosine minus cosine, validation loss): "
            + "; ".join(
                f"at lr {base:g} "
                + (
                    said[c.verdict]
                    if math.isnan(c.diff)
                    else f"{c.band(1.0, '', 3)}: {said[c.verdict]}"
                )
                for base, c in warm.items()
            )
        )
    lines.append(
        f"(one training seed each; in the table ± is each number's sampling error on the {n} "
        "validation images; a difference's ± is 2√(σa² + σb²), and inside it is a tie)"
    )
    return "\n".join(lines), comparisons


# ---- section 6-7: batch size ------------------------------------------------------------


def grid_figure(
    grid_val: np.ndarray, batches: Sequence[int], lrs: Sequence[float], epochs: int
) -> Figure:
    """Heatmap of validation accuracy per batch size and learning rate (nan: diverged), with
    the diagonals where lr / batch size stays fixed (batches and rates 4x apart)."""
    fig = Figure(figsize=(7.5, 3.6), dpi=80, layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(np.nan_to_num(grid_val, nan=0.0), cmap="viridis", vmin=0, vmax=1)
    for i, j in itertools.product(range(len(batches)), range(len(lrs))):
        value = grid_val[i, j]
        text = "diverged" if np.isnan(value) else f"{value:.3f}"
        ax.text(
            j,
            i,
            text,
            ha="center",
            va="center",
            fontsize=9,
            color="white" if np.isnan(value) or value < 0.6 else "black",
        )
    for k in range(1 - len(batches), len(lrs)):  # the diagonals: lr / batch size constant
        ax.plot(
            [k - 0.5, k + len(batches) - 0.5],
            [-0.5, len(batches) - 0.5],
            ":",
            color="w",
            linewidth=1,
        )
    ax.set(
        xticks=range(len(lrs)),
        xticklabels=[f"{r:g}" for r in lrs],
        yticks=range(len(batches)),
        yticklabels=batches,
        xlim=(-0.5, len(lrs) - 0.5),
        ylim=(len(batches) - 0.5, -0.5),
        xlabel="learning rate",
        ylabel="batch size",
        title=f"SGD, {epochs} epochs: validation accuracy (dotted: lr / B fixed)",
    )
    ax.title.set_fontsize(10)
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


def limits_report(limits: Mapping[int, Sequence[float]], seeds: Sequence[int], step: float) -> str:
    """The largest rate that trained per batch size and seed (found to within a factor
    `step`), and from one batch size to the next: the median's growth, and whether the
    seeds' ranges separate (grew), overlap (a tie) or reversed."""
    batches = list(limits)
    lines = [
        f"largest learning rate that trained (to within {100 * (step - 1):.0f} %), seeds "
        + ", ".join(map(str, seeds))
        + ":"
    ]
    lines += [
        f"  B={b:<4d} "
        + " / ".join(f"{r:.3g}" for r in limits[b])
        + f"   median {np.median(limits[b]):.3g}"
        for b in batches
    ]
    for small, large in itertools.pairwise(batches):
        lo, hi = limits[small], limits[large]
        if min(hi) > max(lo):
            how = "grew, beyond the seeds' spread"
        elif max(hi) < min(lo):
            how = "shrank, beyond the seeds' spread"
        else:
            how = "overlap between seeds: a tie"
        growth = np.median(hi) / np.median(lo)
        lines.append(
            f"  B={small} -> {large} (the batch {large / small:g}x): the median limit "
            f"changed {growth:.2g}x; {how}"
        )
    return "\n".join(lines)


def diagonals_report(
    grid_val: np.ndarray, batches: Sequence[int], lrs: Sequence[float], n: int
) -> str:
    """The grid's full diagonals (lr / batch size fixed, batches and rates 4x apart): each
    cell's accuracy, and best minus worst against the noise of two accuracies on n."""
    lines = []
    for k in range(len(lrs) - len(batches) + 1):
        values = [grid_val[i, i + k] for i in range(len(batches))]
        cells = "  ".join(
            f"B={b} lr={lrs[i + k]:g}: " + ("diverged" if np.isnan(v) else f"{v:.3f}")
            for i, (b, v) in enumerate(zip(batches, values, strict=True))
        )
        ok = [v for v in values if not np.isnan(v)]
        spread = compare_accuracies(max(ok), min(ok), n).text() if ok else "-"
        lines.append(f"diagonal {k + 1}: {cells}   best minus worst {spread}")
    return "\n".join(lines)


def sample_std(values: Sequence[float] | np.ndarray) -> float:
    """The sample standard deviation (ddof=1) of the finite values; nan with fewer than 2."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    return float(values.std(ddof=1)) if len(values) > 1 else math.nan


def gap_report(
    best_lr: Mapping[int, float],
    train_acc: Mapping[int, Sequence[float]],
    val_acc: Mapping[int, Sequence[float]],
    shared: tuple[float, Sequence[float], Sequence[float]],
    n: int,
) -> tuple[str, Comparison]:
    """Per batch size at its best rate: mean training and validation accuracy over the seeds
    and the train-validation gap (mean ± sample std, ddof=1); at one shared rate (`shared`:
    the rate, and the training and validation accuracy per batch size) the same one-seed
    numbers. Then the
    verdict: the largest batch's mean gap against the smallest's, a tie unless the
    difference exceeds 2·√(std_a² + std_b²) (σ at least one image of n; each std is one
    seed's spread, so for means of 3 seeds this is conservative). Returns the text and that
    comparison ("better" there means the gap grew)."""
    batches = list(best_lr)
    rate, shared_train, shared_val = shared
    gap = {b: np.subtract(train_acc[b], val_acc[b]) for b in batches}
    lines = [
        f"{'batch':>5s} {'best lr':>8s} {'train acc':>10s} {'val acc':>8s} "
        f"{'gap (mean ± std)':>17s}   | at lr {rate:g}: {'train':>6s} {'val':>6s} {'gap':>7s}"
    ]
    for i, b in enumerate(batches):
        lines.append(
            f"{b:5d} {best_lr[b]:8g} {np.nanmean(train_acc[b]):10.3f} "
            f"{np.nanmean(val_acc[b]):8.3f} {np.nanmean(gap[b]):+9.3f} ± "
            f"{sample_std(gap[b]):.3f}   |{shared_train[i]:18.3f} {shared_val[i]:6.3f} "
            f"{shared_train[i] - shared_val[i]:+7.3f}"
        )
    t0, t1 = shared_train[0], shared_train[-1]
    fits = "less" if t1 < t0 else "more" if t1 > t0 else "as much"
    lines.append(
        f"at the shared lr {rate:g}, B={batches[-1]} fits {fits} of the training set than "
        f"B={batches[0]} in the same epochs (training accuracy {t1:.3f} vs {t0:.3f})"
    )
    small, large = gap[batches[0]], gap[batches[-1]]
    sigma = max(math.hypot(sample_std(small), sample_std(large)), 1 / n)
    # (split evenly between the two below, so that compare combines them back into `sigma`)
    change = compare(
        float(np.nanmean(large)),
        sigma / math.sqrt(2),
        float(np.nanmean(small)),
        sigma / math.sqrt(2),
    )
    said = {
        "better": "the gap grew with the batch size",
        "worse": "the gap shrank as the batch grew",
        "tie": "no change beyond the seed-to-seed noise (a tie)",
        "both diverged": "every run diverged",
    }[change.verdict]
    lines.append(f"gap at B={batches[-1]} minus gap at B={batches[0]}: {change.band()}: {said}")
    return "\n".join(lines), change


def faq_table(
    *,
    val_accuracy: Mapping[str, float],
    rates: Mapping[str, float],
    n: int,
    sgd_row: np.ndarray,
    grid_lrs: Sequence[float],
    finder_lr: float,
    finder_accuracy: float,
    chosen: str,
    suggestions: Mapping[str, Comparison],
    settle: Comparison,
    largest: Mapping[int, float],
    epoch_ms: Mapping[int, float],
    gaps: Mapping[int, tuple[float, float]],
    gap_change: Comparison,
) -> str:
    """The source article's FAQ as a Markdown table, every answer computed from the numbers
    given: the seven's validation accuracies at their rates (nan: diverged), SGD's accuracy
    across the grid's rates `grid_lrs` at the smallest batch, the finder's suggestion and how
    it trained, the suggestions' verdicts, cosine vs constant at 10x the rate, the largest
    rate that trained per batch size, the epoch times, and the gaps (mean, sample std) with
    their verdict."""

    def shown(p: float) -> str:
        return "diverged" if math.isnan(p) else f"validation accuracy {p:.3f}"

    trained = [name for name, p in val_accuracy.items() if not math.isnan(p)]
    ok = sgd_row[~np.isnan(sgd_row)]
    rate_effect = compare_accuracies(float(ok.max()), float(ok.min()), n)
    best_rate = grid_lrs[int(np.nanargmax(sgd_row))] if len(ok) else math.nan
    worst_rate = grid_lrs[int(np.nanargmin(sgd_row))] if len(ok) else math.nan
    if trained:
        best = max(trained, key=val_accuracy.get)
        worst = min(trained, key=val_accuracy.get)
        choice = compare_accuracies(val_accuracy[best], val_accuracy[worst], n)
        seven = (
            f"at a sensible rate each, {len(trained)} of {len(val_accuracy)} trained; best minus "
            f"worst ({best} minus {worst}): {choice.band()}"
            + (" (a tie)" if choice.verdict == "tie" else " (apart, beyond the noise)")
        )
        rate_vs_choice = compare(rate_effect.diff, rate_effect.noise, choice.diff, choice.noise)
        verdict = rate_vs_choice.verdict
    else:
        seven, verdict = "at these rates none of the seven trained", "better"
    if len(trained) < len(val_accuracy):
        seven += "; diverged: " + ", ".join(
            f"{name} (lr {rates[name]:g})" for name in val_accuracy if name not in trained
        )
    mattered = {
        "better": "the rate mattered more than the choice of optimizer",
        "tie": "the rate's effect and the choice's could not be told apart (a tie)",
        "worse": "here the choice of optimizer mattered more than the rate",
    }[verdict]
    batches = list(largest)
    growth = " and ".join(
        f"{largest[b2] / largest[b1]:.2g}x" for b1, b2 in itertools.pairwise(batches)
    )
    per_b = " / ".join(map(str, batches))
    rows = [
        (
            "Which optimizer?",
            '"depends on the model and the task"',
            f"{seven}; one optimizer (SGD, batch {batches[0]}) from its worst rate that "
            f"trained, {worst_rate:g}, to its best, {best_rate:g} "
            f"({best_rate / worst_rate:.3g}× apart): {rate_effect.band()}"
            + (", or divergence" if np.isnan(sgd_row).any() else ""),
            f"{mattered}: start with Adam(W) (here at {rates['adam']:g}: "
            f"{shown(val_accuracy['adam'])}), and tune the rate before switching optimizer.",
        ),
        (
            "Which learning rate?",
            '"too small is slow, too large unstable"',
            f"the finder suggested {finder_lr:.2g} for {chosen} in 100 batches; training at it: "
            f"{shown(finder_accuracy)}; over the seven, compared with section 3's rate, the "
            f"suggestion ended {tally(suggestions)} (a tie: inside ±2σ on {n} images)",
            "run the finder, start at its suggestion, refine on validation; at 10× the rate, "
            f"cosine minus constant (validation loss) was {settle.text(1.0, '', 3)}.",
        ),
        (
            "Which batch size?",
            '"larger is faster but may overfit"',
            "epochs took "
            + " / ".join(f"{epoch_ms[b]:.0f}" if b in epoch_ms else "-" for b in batches)
            + f" ms at B = {per_b}; the largest rate that trained (median of 3 seeds): "
            + " / ".join(f"{largest[b]:.2g}" for b in batches)
            + f", growing {growth} per 4× batch",
            "as large as runs fast on your hardware; scale the rate with B while it is far "
            "below the limit, and by less near it, where the limit grows more slowly than B.",
        ),
        (
            "Do larger batches overfit more?",
            "yes",
            "train–validation gap at the same 5 epochs, each batch size at its best rate: "
            + " / ".join(f"{100 * m:+.1f} ± {100 * s:.1f}" for m, s in gaps.values())
            + f" points at B = {per_b} (mean ± sample std over 3 fresh seeds)",
            ("yes, here" if gap_change.verdict == "better" else "not here")
            + f": the gap at B = {batches[-1]} minus B = {batches[0]} was "
            f"{gap_change.band()}, "
            + {"better": "it grew", "worse": "it shrank", "tie": "a tie"}.get(
                gap_change.verdict, gap_change.verdict
            )
            + ".",
        ),
    ]
    header = ("question", "the source article says", "measured here", "so")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
