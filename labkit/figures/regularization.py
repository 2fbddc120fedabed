"""Notebook 04, section 5: regularization measured against one baseline, and early stopping.

A baseline overfits only when a restraint (weight decay, dropout, early stopping,
augmentation) raises its validation accuracy by more than the band for a difference of two
runs (`NoiseBand.difference`); the gap is printed beside it as a symptom. The best of several
restraints crosses the band by luck more often than one would, so one crossing by less than
one run's spread is reported as weak evidence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
from matplotlib.figure import Figure

from labkit import noise
from labkit.figures.fitting import NoiseBand, Run, compare, diverged_note, epochs_text, helps, mark
from labkit.train import History

# ---- tables and computed verdicts ----------------------------------------------------------


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
    return "\n".join(lines) + diverged_note([r for runs in table.values() for r in runs.values()])


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


def regularization_metrics(
    table: Mapping[str, Mapping[str, Run]],
    baseline: str,
    regularized: str,
    bands: Mapping[str, NoiseBand],
) -> dict[str, float]:
    """metrics.json's numbers of section 5: the baseline's and the regularized recipe's gaps
    and validation accuracies on the noisy labels (the gaps on the clean ones with `_clean`),
    and one run's spread per kind at the baseline's accuracy (`noise_band_<kind>`)."""
    noisy, clean = table["noisy"], table["clean"]
    return {
        "gap_baseline": noisy[baseline].gap,
        "gap_regularized": noisy[regularized].gap,
        "gap_baseline_clean": clean[baseline].gap,
        "gap_regularized_clean": clean[regularized].gap,
        "val_accuracy_baseline": noisy[baseline].val_acc,
        "val_accuracy_regularized": noisy[regularized].val_acc,
        **{
            f"noise_band_{kind}": band(table[kind][baseline].val_acc)
            for kind, band in bands.items()
        },
    }


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


def longer_training_report(
    short: Mapping[str, Run], long: Mapping[str, Run], baseline: str, band: NoiseBand
) -> str:
    """Two recipes trained for their budget (`short`) and longer (`long`): their accuracies,
    and the other recipe's lead over `baseline` in validation accuracy, before and after. A
    change of lead is a difference of two differences (four runs): its band is √2 × the band
    for two runs, 4 × one run's spread. Then a line for the longer runs that diverged, if any."""
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
    return "\n".join(lines) + diverged_note(list(long.values()))


def tried_report(plain: Run, tried: Run, band: NoiseBand, optimizer: str) -> str:
    """The Try-it button's two runs (no regularization, regularized): their accuracies and
    the regularized run's validation change, with the band for a difference of two runs."""
    lines = [
        f"{name:18s} train {r.train_acc:.3f}  val {r.val_acc:.3f}  gap {r.gap:+.3f}" + mark(r)
        for name, r in (("no regularization", plain), ("regularized", tried))
    ]
    change = compare(tried.val_acc, plain.val_acc, band.difference(plain.val_acc))
    lines.append(f"{optimizer}: regularized against none, validation {change}")
    return "\n".join(lines) + diverged_note([plain, tried])


def diagnosis_line(
    name: str, run: Run, restrained: Run, spread: float, said: str, *, wrong_labels: bool = False
) -> str:
    """One model's diagnosis (exercise 3): its accuracies, the restrained model's validation
    accuracy, one run's spread and the band for a difference of two runs (2·√2 × it), and
    what the rule said; `wrong_labels` adds that the rule assumes correct training labels."""
    return (
        f"{name:22s} train {run.train_acc:.3f}  val {run.val_acc:.3f}  gap {run.gap:+.3f}  "
        f"restrained {restrained.val_acc:.3f} (spread ±{spread:.3f}, band "
        f"±{noise.difference_band(spread):.3f})  ->  {said}"
        + ("  (wrong training labels: the rule assumes correct ones)" if wrong_labels else "")
    )


# ---- early stopping ------------------------------------------------------------------------


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


# ---- figures -------------------------------------------------------------------------------


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
