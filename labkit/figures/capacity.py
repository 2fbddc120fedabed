"""Notebook 04, sections 3, 4 and 6: capacity, learning curves and the cures of underfitting.

Overfitting is judged by what helps (a narrower model validates higher than the widest by
more than the band for a difference of two runs, `NoiseBand.difference`), never by the size
of the gap alone; underfitting likewise (a wider model, or more training, validates higher).
The tables end with a line for the runs that diverged, if any.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure

from labkit.figures.fitting import NoiseBand, Run, compare, diverged_note, helps, mark

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
    return "\n".join(lines) + diverged_note([r for runs in sweep.values() for r in runs.values()])


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
    return "\n".join(lines) + diverged_note([r for runs in curves.values() for r in runs.values()])


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
    return "\n".join(lines) + diverged_note(list(runs.values()))


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
