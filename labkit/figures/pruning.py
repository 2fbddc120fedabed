"""Notebook 07 (pruning): its figures and the sentences it prints from its numbers.

Every verdict between two accuracies carries its noise: the sampling error of an accuracy on
n digits, and the band for a difference of two such numbers (`labkit.noise`); inside the
band, a tie. Latency ratios are judged against the machine's own noise, measured by timing
the dense model twice in the same table: a ratio counts as faster or slower only beyond
`labkit.bench.SAME_SPEED` (the course's one speed margin) and beyond twice the control's own
deviation from 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from labkit import bench, noise

LEVELS = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95)  # sparsities of the curves without fine-tuning
FINETUNE_LEVELS = (0.8, 0.9, 0.95)  # and with it (each costs a prune-and-fine-tune run)
UNIT_LEVELS = (0.25, 0.5, 0.75, 0.9)  # shares of hidden units removed
TARGET_WIDTH = 1024  # the course's targets are for the wide MLP the issue names, 64-1024-1024-10
SCOPE_NAMES = {"layer": "per layer", "global": "global"}  # labkit's scope -> words
HAN_2015 = "Han et al. (2015) pruned AlexNet 9× and VGG-16 13× with no loss of ImageNet accuracy"


def levels(base: Sequence[float], *extra: float) -> list[float]:
    """`base` with the `extra` levels added, sorted, each once."""
    return sorted({*base, *extra})


def percent(x: float) -> str:
    """A share as a percentage, with a decimal only where it needs one: 90 %, 61.7 %."""
    return f"{100 * x:.0f} %" if abs(100 * x - round(100 * x)) < 0.05 else f"{100 * x:.1f} %"


# ---- accuracy verdicts ---------------------------------------------------------------------


def band(a: float, b: float, n: int) -> float:
    """The band for a difference of two accuracies, each measured on n examples."""
    return noise.difference_band(noise.sampling_error(a, n), noise.sampling_error(b, n))


def verdict(new: float, old: float, n: int) -> str:
    """'higher', 'lower' or 'tie': `new - old` against the band, at the 3 decimals printed."""
    return noise.verdict(round(new - old, 3), round(band(new, old, n), 3))


def change(new: float, old: float, n: int) -> str:
    """`new - old` with its band and verdict, e.g. '-0.006 (noise ±0.027: a tie)'."""
    said = verdict(new, old, n)
    return (
        f"{round(new - old, 3):+.3f} (noise ±{round(band(new, old, n), 3):.3f}: "
        f"{'a tie' if said == 'tie' else said})"
    )


def curve_report(curves: Mapping[str, Mapping[float, float]], dense: float, n: int) -> str:
    """Per curve: the most weights removed while still tied with dense, and the first level
    that is lower beyond the noise."""
    lines = []
    for name, curve in curves.items():
        tied = [s for s, acc in curve.items() if verdict(acc, dense, n) != "lower"]
        lower = [s for s, acc in curve.items() if verdict(acc, dense, n) == "lower"]
        said = f"{name}: "
        said += (
            f"tied with dense up to {percent(max(tied))} of weights removed"
            if tied
            else "lower than dense at every level tried"
        )
        if lower:
            first = min(lower)
            drop = change(curve[first], dense, n)
            said += f"; lower from {percent(first)} ({curve[first]:.3f}, {drop})"
        lines.append(said)
    return "\n".join(lines)


def han_report(curve: Mapping[float, float], dense: float, n: int, budget: str) -> str:
    """The most weights removed with accuracy tied with dense, set beside Han et al. 2015."""
    tied = [s for s, acc in curve.items() if verdict(acc, dense, n) != "lower"]
    if not tied:
        here = f"here, with {budget}, no sparsity tried stayed tied with dense"
    else:
        s = max(tied)
        here = (
            f"here, with {budget}, up to {percent(s)} of the weights went "
            f"({1 / (1 - s):.0f}× fewer) with validation accuracy tied with dense "
            f"({curve[s]:.3f} vs {dense:.3f}, noise ±{band(curve[s], dense, n):.3f} on {n} digits)"
        )
    return (
        f"{HAN_2015}, retraining for many epochs after pruning; {here}. A tie on {n} digits "
        "means no loss larger than the noise, not no loss at all."
    )


# ---- per-layer sparsity --------------------------------------------------------------------


def scope_table(reports: Mapping[str, pd.DataFrame]) -> str:
    """Each layer's shape and sparsity under each scope, side by side."""
    first = next(iter(reports.values()))
    names = [SCOPE_NAMES.get(name, name) for name in reports]
    lines = [f"{'layer':10s}{'weights':>10s}" + "".join(f"{name:>12s}" for name in names)]
    for i, row in first.iterrows():
        lines.append(
            f"{row.layer:10s}{row.weights:>10,d}"
            + "".join(f"{percent(r.iloc[i].sparsity):>12s}" for r in reports.values())
        )
    return "\n".join(lines)


def scope_report(reports: Mapping[str, pd.DataFrame]) -> str:
    """What global ranking did that per-layer pruning did not: the layers it pruned most and
    least (or that it pruned nothing, or every layer alike)."""
    table = reports["global"].iloc[:-1]
    most, least = table.loc[table.sparsity.idxmax()], table.loc[table.sparsity.idxmin()]
    overall = reports["global"].iloc[-1].sparsity
    if overall == 0:
        return "at 0 % sparsity neither scope removes a weight: there is nothing to compare"
    said = (
        f"per layer: every layer loses {percent(overall)}; "
        f"global: the same {percent(overall)} overall"
    )
    if percent(most.sparsity) == percent(least.sparsity):
        return f"{said}, and every layer lost the same share: ranking them together changed nothing"
    return (
        f"{said}, but {most.layer} ({most.weights:,} weights) loses {percent(most.sparsity)} "
        f"and {least.layer} ({least.weights:,}) only {percent(least.sparsity)}: weights are "
        "ranked against all the others, and layers whose weights are small lose more"
    )


# ---- sizes and speed -----------------------------------------------------------------------


def csr_break_even(rows: int, cols: int) -> float:
    """The sparsity above which a rows × cols fp32 matrix is smaller in CSR (4-byte values,
    8-byte column indices, rows + 1 8-byte row pointers) than dense."""
    return 1 - (4 * rows * cols - 8 * (rows + 1)) / (12 * rows * cols)


def sizes_report(sizes: Mapping[str, int]) -> str:
    """Bytes of each form, in MB and against the first (the dense model)."""
    base = next(iter(sizes.values()))
    width = max(map(len, sizes))
    return "\n".join(
        f"{name:{width}s}  {size / 1e6:7.3f} MB  {size / base:5.2f}× dense"
        for name, size in sizes.items()
    )


def speed_band(control: float) -> float:
    """How far from 1 a latency ratio must be to count: the course's margin
    (`bench.SAME_SPEED`), or twice the deviation of the dense model timed against itself
    (`control`), whichever is larger."""
    return max(bench.SAME_SPEED, 2 * abs(control - 1))


def speed_verdict(ratio: float, control: float) -> str:
    """'faster', 'slower' or 'the same speed': a speedup ratio against the machine's noise
    (`bench.speed_verdict` with the band `speed_band(control)` as its margin)."""
    said = bench.speed_verdict([ratio], margin=speed_band(control))
    return "the same speed" if said == "tie" else said


def rounds_sentence(name: str, ratios: Sequence[float]) -> str:
    """'name: 2.01× as fast (1.95–2.08× over 5 rounds): faster' from `bench.speedup_rounds`."""
    said = bench.speed_verdict(ratios)
    return (
        f"{name}: {float(np.median(ratios)):.2f}× as fast ({min(ratios):.2f}–{max(ratios):.2f}× "
        f"over {len(ratios)} rounds): {'the same speed' if said == 'tie' else said}"
    )


def speed_report(table: pd.DataFrame, control: str, batches: Sequence[int]) -> str:
    """One line per row after the control: its speedup at each batch size and the verdict."""
    lines = []
    for name in table.index[2:]:
        parts = []
        for b in batches:
            ratio, noise_ratio = (
                table.loc[name, f"speedup_b{b}"],
                table.loc[control, f"speedup_b{b}"],
            )
            parts.append(f"{ratio:.2f}× at batch {b} ({speed_verdict(ratio, noise_ratio)})")
        lines.append(f"{name}: " + ", ".join(parts))
    noise_line = ", ".join(
        f"{table.loc[control, f'speedup_b{b}']:.2f}× at batch {b} (counts only beyond "
        f"±{100 * speed_band(table.loc[control, f'speedup_b{b}']):.0f} %)"
        for b in batches
    )
    return f"the dense model timed against itself: {noise_line}\n" + "\n".join(lines)


def target_applies(width: int) -> bool:
    """The course's targets are set for the wide MLP (TARGET_WIDTH units or more)."""
    return width >= TARGET_WIDTH


def target_line(
    what: str, measured: float, target: float, *, higher: bool = True, judged: bool = True
) -> str:
    """'what: measured (target ≥ x: met)' or MISSED; with `judged` False, the measured value
    and that the target is for the wide model only."""
    sign = "≥" if higher else "≤"
    if not judged:
        return (
            f"{what}: {measured:.2f} (the target {sign} {target:g} is for the "
            f"{TARGET_WIDTH}-wide MLP, so it does not apply here)"
        )
    met = measured >= target if higher else measured <= target
    return f"{what}: {measured:.2f} (target {sign} {target:g}: {'met' if met else 'MISSED'})"


# ---- figures -------------------------------------------------------------------------------


def weights_figure(weight: torch.Tensor, threshold: float, sparsity: float, name: str) -> Figure:
    """A histogram of one layer's weights with the magnitude cut: everything between the two
    lines is zeroed."""
    w = weight.detach().flatten().cpu().numpy()
    fig = Figure(figsize=(6.5, 2.8), dpi=80, layout="constrained")
    ax = fig.subplots()
    ax.hist(w, bins=120, color="0.55")
    if threshold > 0:
        ax.axvspan(
            -threshold, threshold, color="C3", alpha=0.2, label=f"zeroed: {percent(sparsity)}"
        )
        ax.axvline(-threshold, color="C3", lw=1)
        ax.axvline(threshold, color="C3", lw=1)
        ax.legend(fontsize=8)
    ax.set(
        xlabel="weight",
        ylabel="count",
        title=f"{name}: {w.size:,} weights, |w| ≤ {threshold:.4f} cut",
    )
    return fig


def layers_figure(reports: Mapping[str, pd.DataFrame]) -> Figure:
    """Each layer's sparsity under each scope, as grouped bars."""
    fig = Figure(figsize=(6.5, 2.8), dpi=80, layout="constrained")
    ax = fig.subplots()
    first = next(iter(reports.values())).iloc[:-1]
    x = np.arange(len(first))
    step = 0.8 / len(reports)
    for i, (name, report) in enumerate(reports.items()):
        ax.bar(x + (i - (len(reports) - 1) / 2) * step, 100 * report.iloc[:-1].sparsity, step,
               label=SCOPE_NAMES.get(name, name))  # fmt: skip
    ax.set_xticks(x, [f"{r.layer}\n{r.weights:,} weights" for r in first.itertuples()], fontsize=8)
    ax.set(ylabel="% of weights zeroed", ylim=(0, 100), title="where the zeros go")
    ax.legend(fontsize=8)
    return fig


def _draw_curves(ax, curves: Mapping[str, Mapping[float, float]], dense: float, n: int) -> None:
    b = band(dense, dense, n)
    ax.axhspan(dense - b, dense + b, color="0.85", label=f"dense ± noise ({n} digits)")
    ax.axhline(dense, color="k", lw=1)
    for i, (name, curve) in enumerate(curves.items()):
        if len(curve) == 1:  # one model, not a curve: no line from the dense model to it
            ((s, acc),) = curve.items()
            ax.plot([100 * s], [acc], marker="D", ms=7, ls="none", color=f"C{i}", label=name)
            continue
        xs, ys = [0.0, *curve], [dense, *curve.values()]  # removing nothing is the dense model
        ax.plot([100 * s for s in xs], ys, marker="o", ms=4, color=f"C{i}", label=name)
    ax.set(xlabel="% of weights removed", ylabel="validation accuracy", xlim=(0, 100))
    ax.grid(alpha=0.3)


def curves_figure(curves: Mapping[str, Mapping[float, float]], dense: float, n: int) -> Figure:
    """Validation accuracy against the share of weights removed, one line per way of pruning,
    over the dense model's accuracy and its noise band."""
    fig = Figure(figsize=(7.5, 3.6), dpi=80, layout="constrained")
    ax = fig.subplots()
    _draw_curves(ax, curves, dense, n)
    low = min([dense - 0.1, *(v for c in curves.values() for v in c.values())])
    ax.set_ylim(max(0.0, low - 0.02), 1.0)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title("accuracy against sparsity")
    return fig


def try_figure(
    kept: Mapping[str, float],
    curves: Mapping[str, Mapping[float, float]],
    dense: float,
    n: int,
    removed: float,
    before: float,
    after: float,
    title: str,
) -> Figure:
    """The learner's try: each layer's share of weights kept, and its accuracy before and after
    fine-tuning set on the notebook's curves."""
    fig = Figure(figsize=(9, 3.2), dpi=72, layout="constrained")
    bars, ax = fig.subplots(1, 2, width_ratios=(1, 1.6))
    bars.bar(range(len(kept)), [100 * v for v in kept.values()], color="C0")
    bars.set_xticks(range(len(kept)), list(kept), fontsize=8)
    bars.set(ylabel="% of weights kept", ylim=(0, 100), title="per layer")
    _draw_curves(ax, curves, dense, n)
    ax.plot([100 * removed], [before], "X", color="C3", ms=10, label="yours, pruned")
    ax.plot([100 * removed], [after], "*", color="C3", ms=13, label="yours, fine-tuned")
    ax.set_ylim(max(0.0, min(before, after, dense - 0.1) - 0.03), 1.0)
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title(title, fontsize=9)
    return fig


def kept_per_layer(model: torch.nn.Module, reference: torch.nn.Module) -> dict[str, float]:
    """Each prunable layer's non-zero weights as a share of the reference model's weights in
    the same layer (layers in order; a structurally pruned model has fewer, narrower ones)."""
    from labkit.compress.prune import sparsity_report

    got, ref = sparsity_report(model).iloc[:-1], sparsity_report(reference).iloc[:-1]
    return {
        r.layer: (r.weights - r.zeros) / w
        for r, w in zip(got.itertuples(), ref.weights, strict=True)
    }


def weights_removed(model: torch.nn.Module, reference: torch.nn.Module) -> float:
    """The share of the reference's prunable weights that `model` no longer holds as non-zeros."""
    from labkit.compress.prune import sparsity_report

    got, ref = sparsity_report(model).iloc[-1], sparsity_report(reference).iloc[-1]
    return 1 - (got.weights - got.zeros) / ref.weights
