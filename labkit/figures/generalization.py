"""Notebook 04 (generalization): its runs, tables, figures and computed verdicts.

The notebook trains; this module lays out what it measured. Every verdict between two
settings goes through the course's one rule (`labkit.noise`), `NoiseBand`: one run's
validation accuracy p on n rows moves by its sampling error √(p(1−p)/n) from split to split,
and by the spread over seeds from draw to draw; one run's *spread* is the larger of the two.
Two single runs differ beyond the noise only when their difference exceeds
`NoiseBand.difference` = 2·√2 × that spread (independent variances add: the difference of two
runs has √2 times one run's spread, and ±2 of those holds about 95 % of the differences
between equally good recipes); inside it, a tie. Overfitting is judged by what helps (a
restrained model, smaller, regularized or stopped earlier, validates higher by more than
that band), never by the size of the gap alone.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from matplotlib.figure import Figure

from labkit import noise
from labkit.crossval import CrossValidation, PairedDifference
from labkit.train import History, TrainConfig

# ---- runs and noise ------------------------------------------------------------------------


@dataclass
class Run:
    """One trained model of the notebook and what was measured on it."""

    model: torch.nn.Module = field(repr=False)
    history: History = field(repr=False)
    recipe: TrainConfig = field(repr=False)  # what it was trained with
    rows: int  # training rows
    train_acc: float  # on the rows and labels it was trained on
    val_acc: float
    diverged: bool = False  # the loss became NaN: the model holds its last good weights

    @property
    def gap(self) -> float:
        return self.train_acc - self.val_acc

    @property
    def steps(self) -> int:
        return self.recipe.epochs * math.ceil(self.rows / self.recipe.batch_size)


def mark(run: Run) -> str:
    """'*' after the numbers of a run that diverged: they are its last good weights'."""
    return "*" if run.diverged else " "


def diverged_note(runs: Sequence[Run]) -> str:
    """A line for the runs whose loss became NaN or inf (their rows are marked *), with a
    leading newline so that it can follow a table; '' when none did."""
    gone = [r for r in runs if r.diverged]
    if not gone:
        return ""
    return (
        f"\n* {len(gone)} of {len(runs)} runs diverged (the loss became NaN or inf) and hold their "
        f"last good weights: try a lower learning rate, e.g. {gone[0].recipe.lr / 10:g}"
    )


def epochs_text(n: int) -> str:
    """'1 epoch', '40 epochs'."""
    return f"{n} epoch" + ("" if n == 1 else "s")


sampling_error = noise.sampling_error  # an accuracy p on n examples: √(p(1−p)/n)
TWO_RUNS = noise.TWO_RUNS  # the band for a difference of two single runs, in spreads


@dataclass(frozen=True)
class NoiseBand:
    """How far one validation accuracy moves by chance: called, the larger of its sampling
    error on `n` rows and the spread (sample std) measured over seeds (one run's spread);
    `difference`, the band for a difference of two single runs, 2·√2 × that."""

    n: int  # validation rows
    spread: float = 0.0  # std of the validation accuracy over draws of rows and weights

    def __call__(self, p: float) -> float:
        return noise.spread(self.spread, p, self.n)

    def difference(self, p: float) -> float:
        """2·√2 × one run's spread at accuracy p: the band for a difference of two runs."""
        return noise.difference_band(self(p))


def compare(new: float, old: float, band: float) -> str:
    """`new - old` with its band and the verdict: 'higher', 'lower' or 'a tie'. `band` is the
    band for a difference of two runs (`NoiseBand.difference`), not one run's spread. Both are
    rounded to the three decimals printed, so that what reads as a tie is one."""
    delta, band = round(new - old, 3), round(band, 3)
    said = noise.verdict(delta, band)
    word = "a tie" if said == "tie" else said
    return f"{delta:+.3f} (noise ±{band:.3f}: {word})"


def helps(new: float, old: float, band: float) -> bool:
    """`new` beats `old` by more than `band`, the band for a difference of two runs (at the
    three decimals `compare` prints)."""
    return noise.verdict(round(new - old, 3), round(band, 3)) == "higher"


def seed_spread(runs: Sequence[Run]) -> float:
    """Sample std of the validation accuracies of the same recipe over several draws."""
    return statistics.stdev(r.val_acc for r in runs) if len(runs) > 1 else 0.0


def noise_report(
    draws: Mapping[str, Sequence[Run]], bands: Mapping[str, NoiseBand], threshold: float = 0.05
) -> str:
    """The wide model over several draws, per kind of labels: its validation accuracies and
    gaps, their spread, the band, and what a fixed gap threshold makes of the same recipe."""
    lines = []
    for kind, runs in draws.items():
        va = [r.val_acc for r in runs]
        gaps = [r.gap for r in runs]
        p = statistics.fmean(va)
        band = bands[kind](p)
        lines.append(
            f"{kind}: validation " + " ".join(f"{v:.3f}" for v in va) + f", mean {p:.3f} ± "
            f"{bands[kind].spread:.3f} (std over {len(runs)} draws); gap "
            + " ".join(f"{g:+.3f}" for g in gaps)
            + f"; sampling error on {bands[kind].n} rows ±{sampling_error(p, bands[kind].n):.3f}"
            f", so one run's spread is ±{band:.3f} and the band for a difference of two runs "
            f"±{bands[kind].difference(p):.3f} (2·√2 × the spread)"
        )
        over = sum(g > threshold + 1e-9 for g in gaps)
        inside = min(gaps) - band <= threshold <= max(gaps) + band
        lines.append(
            f"   a rule 'gap > {threshold:g} is overfitting' calls {over} of {len(runs)} draws of "
            f"this one recipe overfitting; {threshold:g} lies "
            + (
                f"inside the gaps' range ± one run's spread ({min(gaps) - band:.3f} to "
                f"{max(gaps) + band:.3f}): which label one run gets is luck"
                if inside
                else f"outside the gaps' range ± one run's spread ({min(gaps) - band:.3f} to "
                f"{max(gaps) + band:.3f}): here every draw gets the same label"
            )
        )
    return "\n".join(lines)


# ---- tables --------------------------------------------------------------------------------


def sweep_table(sweep: Mapping[str, Mapping[int, Run]], widths: Sequence[int]) -> str:
    """Train, validation and gap per width, one block of rows per kind of labels."""
    lines = ["width      " + "".join(f"{w:>6d} " for w in widths)]
    for kind, runs in sweep.items():
        for name in ("train_acc", "val_acc", "gap"):
            lines.append(
                f"{kind} {name.replace('_acc', ''):5s} "
                + "".join(f"{getattr(runs[w], name):6.3f}{mark(runs[w])}" for w in widths)
            )
    return "\n".join(lines)


def curve_table(curves: Mapping[int, Mapping[int, Run]], sizes: Sequence[int]) -> str:
    """Train, validation and gap per training-set size, one block per width."""
    lines = []
    for w, runs in curves.items():
        lines.append(f"{w:3d} units  rows  " + "".join(f"{n:>6d} " for n in sizes))
        for name in ("train_acc", "val_acc", "gap"):
            lines.append(
                f"     {name.replace('_acc', ''):11s}"
                + "".join(f"{getattr(runs[n], name):6.3f}{mark(runs[n])}" for n in sizes)
            )
    return "\n".join(lines)


def recipe_table(table: Mapping[str, Mapping[str, Run]], header: str) -> str:
    """Train, validation and gap of each recipe, side by side for each kind of labels."""
    kinds = list(table)
    first = table[kinds[0]]
    lines = [f"{header:38s}" + "".join(f"{kind:^23s}" for kind in kinds)]
    lines.append(f"{'':38s}" + "   train    val    gap " * len(kinds))
    for name in first:
        lines.append(
            f"{name:38s}"
            + "".join(
                f"{r.train_acc:8.3f}{r.val_acc:7.3f}{r.gap:7.3f}{mark(r)}"
                for r in (table[kind][name] for kind in kinds)
            )
        )
    return "\n".join(lines)


def changes_table(runs: Mapping[str, Run], reference: Run, band: NoiseBand) -> str:
    """Each run's accuracies and its validation change against `reference`, with the band."""
    lines = [f"{'':44s} train    val   validation change"]
    for name, r in runs.items():
        change = (
            ""
            if r is reference
            else "   " + compare(r.val_acc, reference.val_acc, band.difference(reference.val_acc))
        )
        lines.append(f"{name:44s}{r.train_acc:6.3f}{r.val_acc:7.3f}{mark(r)}{change}")
    return "\n".join(lines)


# ---- computed verdicts ---------------------------------------------------------------------


def capacity_report(
    sweep: Mapping[str, Mapping[int, Run]], widths: Sequence[int], bands: Mapping[str, NoiseBand]
) -> str:
    """Per kind: does the widest model overfit (a narrower one validates higher beyond the
    band)? And does the narrowest underfit (a wider one validates higher)?"""
    lines = []
    narrow, wide = widths[0], widths[-1]
    for kind, runs in sweep.items():
        best = max(widths[:-1], key=lambda w: runs[w].val_acc)
        band = bands[kind].difference(runs[wide].val_acc)
        verdict = (
            "less capacity helps, so it overfits"
            if helps(runs[best].val_acc, runs[wide].val_acc, band)
            else "less capacity does not help beyond the noise"
        )
        lines.append(
            f"{kind}: {wide} units, gap {runs[wide].gap:+.3f}; the best narrower width ({best}) "
            f"validates {compare(runs[best].val_acc, runs[wide].val_acc, band)}: {verdict}"
        )
        top = max(widths[1:], key=lambda w: runs[w].val_acc)
        small_band = bands[kind].difference(runs[narrow].val_acc)
        lines.append(
            f"   {narrow} units: train {runs[narrow].train_acc:.3f}, val "
            f"{runs[narrow].val_acc:.3f}; the best wider width ({top}) validates "
            f"{compare(runs[top].val_acc, runs[narrow].val_acc, small_band)}"
            + (
                ": more capacity helps, it underfits"
                if helps(runs[top].val_acc, runs[narrow].val_acc, small_band)
                else ""
            )
        )
    return "\n".join(lines)


def learning_curve_report(
    curves: Mapping[int, Mapping[int, Run]], sizes: Sequence[int], band: NoiseBand
) -> str:
    """What more data did to each width: training accuracy, gap and validation accuracy from
    the smallest to the largest training set, each change with its band."""
    few, many = sizes[0], sizes[-1]
    lines = []
    for w, runs in curves.items():
        a, b = runs[few], runs[many]
        train = [runs[n].train_acc for n in sizes]
        gap_band = band.difference((a.val_acc + b.val_acc) / 2)
        lines.append(
            f"{w} units, {few} → {many} rows: training accuracy {min(train):.3f} to "
            f"{max(train):.3f} over the sizes ({a.train_acc:.3f} → {b.train_acc:.3f}); gap "
            f"{a.gap:+.3f} → {b.gap:+.3f}, "
            + (
                "narrower"
                if b.gap < a.gap - gap_band
                else "wider"
                if b.gap > a.gap + gap_band
                else "a tie"
            )
            + f"; validation {compare(b.val_acc, a.val_acc, band.difference(a.val_acc))}"
        )
    (wa, wide), (ta, tiny) = ((w, runs[few]) for w, runs in list(curves.items())[:2])
    lines.append(
        f"at {few} rows the gap is {wide.gap:+.3f} for {wa} units and {tiny.gap:+.3f} for {ta} "
        f"units, with training accuracy {wide.train_acc:.3f} and {tiny.train_acc:.3f}"
    )
    return "\n".join(lines)


def regularization_report(
    table: Mapping[str, Mapping[str, Run]], baseline: str, bands: Mapping[str, NoiseBand]
) -> str:
    """Per kind: each restraint's validation change against the baseline with the band for a
    difference of two runs, the gap as a symptom beside it, and the verdict on the baseline by
    the definition: it overfits only when a restraint helps by more than that band. The best of
    several restraints crosses by luck more often than one would, so a single restraint that
    crosses by less than one run's spread is reported as weak evidence."""
    lines = []
    for kind, runs in table.items():
        base = runs[baseline]
        spread, band = bands[kind](base.val_acc), bands[kind].difference(base.val_acc)
        tried = [name for name in runs if name != baseline]
        helped = [name for name in tried if helps(runs[name].val_acc, base.val_acc, band)]
        lines.append(
            f"{kind}: validation accuracy against the baseline ({base.val_acc:.3f}); one run's "
            f"spread ±{spread:.3f}, so two runs differ beyond the noise past ±{band:.3f}:"
        )
        for name in tried:
            r = runs[name]
            lines.append(
                f"   {name:36s}{compare(r.val_acc, base.val_acc, band)}; gap "
                f"{base.gap:+.3f} → {r.gap:+.3f}"
            )
        if not helped:
            verdict = (
                f"does not overfit by the definition: none of {len(tried)} restraints raises its "
                f"validation accuracy beyond the noise, though its gap is {base.gap:+.3f}"
            )
        else:
            verdict = (
                f"overfits: {len(helped)} of {len(tried)} restraints ({', '.join(helped)}) "
                f"raise{'s' if len(helped) == 1 else ''} its validation accuracy beyond the noise"
            )
            margin = runs[helped[0]].val_acc - base.val_acc - band
            if len(helped) == 1 and len(tried) > 1 and margin < spread:
                verdict += (
                    f", but only by {margin:.3f}, less than one run's spread: with "
                    f"{len(tried)} restraints compared, one crossing by a hair is weak evidence "
                    "(the best of several ties crosses by luck more often than one does)"
                )
        lines.append("   so the baseline " + verdict)
    return "\n".join(lines)


def wrong_labels_report(
    run: Run,
    predicted: torch.Tensor,
    labels: torch.Tensor,
    true_y: torch.Tensor,
    wrong: torch.Tensor,
) -> str:
    """Why a model trained on wrong labels can score lower on its training labels than on
    validation: its training predictions split into rows with right and with wrong labels.
    `predicted`, `labels` (what it was trained on) and `true_y` cover the training rows;
    `wrong` indexes the mislabelled ones."""
    order = "below" if run.train_acc < run.val_acc else "not below"
    head = (
        f"its training accuracy {run.train_acc:.3f} is {order} its validation accuracy "
        f"{run.val_acc:.3f}"
    )
    if len(wrong) == 0:
        return f"{head}; no label is wrong, so every training error is a real one"
    right = torch.ones(len(true_y), dtype=torch.bool)
    right[wrong] = False
    on_right = float((predicted[right] == true_y[right]).float().mean())
    true_on_wrong = int((predicted[wrong] == true_y[wrong]).sum())
    memorized = int((predicted[wrong] == labels[wrong]).sum())
    return (
        f"{head}: on the {int(right.sum())} rows with correct labels it scores "
        f"{on_right:.3f}, and on the {len(wrong)} wrong labels it predicts the true digit "
        f"{true_on_wrong} times (each counted as a training error) and the wrong label "
        f"{memorized} times"
    )


def longer_training_report(
    short: Mapping[str, Run], long: Mapping[str, Run], baseline: str, band: NoiseBand
) -> str:
    """Two recipes trained for their budget (`short`) and longer (`long`): their accuracies,
    and the other recipe's lead over `baseline` in validation accuracy, before and after. A
    change of lead is a difference of two differences (four runs): its band is √2 × the band
    for two runs, 4 × one run's spread."""
    lines = [
        f"{name:31s} {epochs_text(short[name].recipe.epochs):>9s}: train "
        f"{short[name].train_acc:.3f} val {short[name].val_acc:.3f}; "
        f"{epochs_text(r.recipe.epochs):>10s}: train {r.train_acc:.3f} val {r.val_acc:.3f}{mark(r)}"
        for name, r in long.items()
    ]
    other = next(name for name in long if name != baseline)
    lead = {
        k: runs[other].val_acc - runs[baseline].val_acc
        for k, runs in (("short", short), ("long", long))
    }
    lines.append(
        f"the lead of {other} in validation accuracy: {lead['short']:+.3f} after "
        f"{epochs_text(short[other].recipe.epochs)}, {lead['long']:+.3f} after "
        f"{epochs_text(long[other].recipe.epochs)}; the change: "
        + compare(
            lead["long"],
            lead["short"],
            noise.difference_band(math.sqrt(2) * band(short[baseline].val_acc)),  # a lead's spread
        )
    )
    return "\n".join(lines)


def early_stopping_report(stopped: Run, full: History, restored_loss: float) -> str:
    """Where early stopping stopped and which epoch it kept, and how the full run's
    validation loss moved after its lowest point."""
    h = stopped.history
    best = h.best_epoch or 0
    low = int(np.argmin(full.val_loss))
    after = (
        f"{full.val_loss[-1] / full.val_loss[low] - 1:+.0%} from its lowest"
        if low + 1 < len(full)
        else "it never rose"
    )
    return (
        f"early stopping stopped after epoch {len(h)} of {stopped.recipe.epochs} and restored "
        f"the weights of epoch {best} (val loss {h.val_loss[best - 1]:.4f}; the model it "
        f"returned: {restored_loss:.4f})\nthe full run's validation loss was lowest after epoch "
        f"{low + 1} ({full.val_loss[low]:.4f}) and ended at {full.val_loss[-1]:.4f} after epoch "
        f"{len(full)}: {after}"
    )


def weight_length_report(
    norms: Mapping[str, float], start: str, baseline: str, decayed: str
) -> str:
    """The length of the weights at the start, after training without and with weight decay."""
    s, b, d = norms[start], norms[baseline], norms[decayed]
    return (
        "length of the weights ‖w‖: "
        + ", ".join(f"{name} {value:.1f}" for name, value in norms.items())
        + f". Training alone made them {'longer' if b > s else 'shorter'} than at the start; "
        f"{decayed} left them {d / b:.0%} of the baseline's length"
    )


def cross_validation_report(cvs: Mapping[str, CrossValidation], paired: PairedDifference) -> str:
    """Per-fold table of each recipe, the paired differences and the one-SE verdict."""
    k = len(next(iter(cvs.values())).accuracy)
    lines = [f"{'':12s}{'accuracy per fold':{7 * k}s}   accuracy       macro-F1    (mean ± std)"]
    for name, cv in cvs.items():
        lines.append(
            f"{name:12s}"
            + "".join(f"{a:7.3f}" for a in cv.accuracy)
            + f"   {cv.accuracy_mean:.3f} ± {cv.accuracy_std:.3f}"
            f"   {cv.f1_mean:.3f} ± {cv.f1_std:.3f}"
        )
    names = list(cvs)
    lines.append(
        f"{'difference':12s}"
        + "".join(f"{d:+7.3f}" for d in paired.differences)
        + f"   {paired.mean:+.3f} ± {paired.standard_error:.3f} (mean ± standard error, "
        f"{names[1]} − {names[0]})"
    )
    gap = max(
        abs(a - f) for cv in cvs.values() for a, f in zip(cv.accuracy, cv.f1_macro, strict=True)
    )
    lines.append(f"macro-F1 and accuracy differ by at most {gap:.3f} in any fold")
    return "\n".join(lines)


def choice_report(paired: PairedDifference, a: str, b: str) -> tuple[str, str]:
    """The one-standard-error rule on the paired differences `b - a`: choose `b` only when it
    leads by more than one standard error, else `a` (the simpler). Returns (chosen, sentence)."""
    m, se = paired.mean, paired.standard_error
    if paired.beyond_one_standard_error:
        verdict, chosen = f"{b} leads by more than one standard error, so: {b}", b
    elif m < -se:
        verdict, chosen = f"{a} leads by more than one standard error, so: {a}", a
    else:
        verdict, chosen = f"within one standard error, a tie, so the simpler recipe: {a}", a
    return (
        chosen,
        f"{b} − {a}, fold by fold: {m:+.3f} ± {se:.3f} (mean ± standard error): {verdict}",
    )


# ---- figures -------------------------------------------------------------------------------


def capacity_figure(
    sweep: Mapping[str, Mapping[int, Run]],
    widths: Sequence[int],
    titles: Mapping[str, str],
    bands: Mapping[str, NoiseBand],
) -> Figure:
    """Train and validation accuracy against width, one panel per kind; the validation points
    carry their noise band, the shading between the lines is the gap."""
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    for ax, (kind, runs) in zip(fig.subplots(1, 2, sharey=True), sweep.items(), strict=True):
        tr = [runs[w].train_acc for w in widths]
        va = [runs[w].val_acc for w in widths]
        ax.plot(widths, tr, marker="o", label="train")
        ax.errorbar(
            widths,
            va,
            yerr=[bands[kind](v) for v in va],
            marker="o",
            capsize=3,
            label="validation ± one run's spread",
        )
        ax.fill_between(widths, va, tr, color="0.5", alpha=0.2, label="gap")
        ax.set_xscale("log", base=2)
        ax.set_xticks(widths, [str(w) for w in widths])
        ax.set(xlabel="hidden units", title=titles[kind])
        ax.grid(alpha=0.3)
    fig.axes[0].set_ylabel("accuracy")
    fig.axes[0].legend(loc="lower right", fontsize=8)
    return fig


def learning_curve_figure(
    curves: Mapping[int, Mapping[int, Run]], sizes: Sequence[int], steps: int
) -> Figure:
    """Accuracy (train solid, validation dashed) and gap against training rows, per width."""
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    acc_ax, gap_ax = fig.subplots(1, 2)
    for i, (w, runs) in enumerate(curves.items()):
        look = {"color": f"C{i}", "marker": "o"}
        acc_ax.plot(sizes, [runs[n].train_acc for n in sizes], **look, label=f"{w} units: train")
        acc_ax.plot(
            sizes,
            [runs[n].val_acc for n in sizes],
            **look,
            linestyle="--",
            markerfacecolor="white",
            label=f"{w} units: validation",
        )
        gap_ax.plot(sizes, [runs[n].gap for n in sizes], **look, label=f"{w} units")
    for ax in (acc_ax, gap_ax):
        ax.set_xscale("log")
        ax.set_xticks(sizes, [str(n) for n in sizes], fontsize=8)
        ax.set_xlabel(f"training rows (each run: about {steps} steps)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    acc_ax.set(ylabel="accuracy", title="learning curves")
    gap_ax.set(ylabel="train − validation accuracy", title="generalization gap")
    gap_ax.axhline(0, color="k", linewidth=0.8)
    return fig


def regularization_figure(
    table: Mapping[str, Mapping[str, Run]], titles: Mapping[str, str]
) -> Figure:
    """Each recipe's train and validation accuracy joined by a line (its gap), per kind."""
    names = list(next(iter(table.values())))[::-1]  # the first recipe on top
    low = min(min(r.train_acc, r.val_acc) for runs in table.values() for r in runs.values())
    fig = Figure(figsize=(9, 4), layout="constrained")
    for ax, (kind, runs) in zip(fig.subplots(1, 2, sharey=True), table.items(), strict=True):
        for i, name in enumerate(names):
            r = runs[name]
            ax.plot([r.val_acc, r.train_acc], [i, i], color="0.6", linewidth=3, zorder=1)
            ax.annotate(
                f"gap {r.gap:+.3f}",
                (max(r.val_acc, r.train_acc), i),
                xytext=(6, -3),
                textcoords="offset points",
                fontsize=8,
            )
        ax.scatter([runs[n].train_acc for n in names], range(len(names)), label="train", zorder=2)
        ax.scatter(
            [runs[n].val_acc for n in names], range(len(names)), label="validation", zorder=2
        )
        ax.set_yticks(range(len(names)), names)
        ax.set(xlabel="accuracy", title=titles[kind], xlim=(low - 0.02, 1.09))  # one range
        ax.set_xticks([t for t in ax.get_xticks() if low - 0.02 <= t <= 1])
        ax.grid(axis="x", alpha=0.3)
    fig.legend(*fig.axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=2)
    return fig


def early_stopping_figure(history: History, stopped_at: int, best_at: int, title: str) -> Figure:
    """A full run's losses, the epochs early stopping skipped and the epoch whose weights it
    kept."""
    fig = Figure(figsize=(6.5, 3.2), layout="constrained")
    ax = fig.subplots()
    ax.plot(history.epoch, history.train_loss, label="train loss")
    ax.plot(history.epoch, history.val_loss, label="validation loss")
    ax.axvspan(
        stopped_at + 0.5,
        max([*history.epoch, stopped_at]) + 0.5,
        color="0.85",
        label="epochs early stopping skips",
    )
    ax.axvline(best_at, color="k", linestyle=":", label=f"weights kept (epoch {best_at})")
    ax.set(yscale="log", xlabel="epoch", ylabel="loss (log scale)", title=title)
    ax.legend(fontsize=8, loc="lower left")
    return fig


def cross_validation_figure(cvs: Mapping[str, CrossValidation]) -> Figure:
    """Per-fold accuracy of each recipe, its mean and ±1 std band; the folds are shared, so
    the points of one fold sit side by side, joined by a line when there are two recipes."""
    fig = Figure(figsize=(7, 2.6), layout="constrained")
    ax = fig.subplots()
    k = len(next(iter(cvs.values())).accuracy)
    folds = np.arange(1, k + 1)
    for i, (name, cv) in enumerate(cvs.items()):
        look = {"color": f"C{i}"}
        ax.scatter(folds + 0.08 * (2 * i - 1), cv.accuracy, **look, zorder=2, label=name)
        ax.axhline(cv.accuracy_mean, **look, linewidth=1, label=f"{name}: mean")
        ax.axhspan(
            cv.accuracy_mean - cv.accuracy_std,
            cv.accuracy_mean + cv.accuracy_std,
            **look,
            alpha=0.12,
            label=f"{name}: ± 1 std",
        )
    if len(cvs) == 2:  # join each fold's two scores: the comparison is fold by fold
        a, b = (cv.accuracy for cv in cvs.values())
        for x, ya, yb in zip(folds, a, b, strict=True):
            ax.plot([x - 0.08, x + 0.08], [ya, yb], color="0.5", linewidth=1, zorder=1)
    ax.set(xlabel="fold", ylabel="accuracy", title=f"{k}-fold cross-validation")
    ax.set_xticks(folds)
    fig.legend(fontsize=8, loc="outside right upper")
    return fig
