"""Notebook 09 (distillation): its figures and the sentences computed from its numbers.

Every verdict follows `labkit.noise`: a setting is measured as the mean over k student seeds
on the same n images, so its spread is the larger of the seeds' std/√k (averaging seeds
shrinks their noise) and the sampling error √(p(1−p)/n) of an accuracy on those n images
(averaging seeds does not shrink the luck of the one split they share); two settings differ
beyond the noise only past 2·√(σa² + σb²), otherwise a tie. The compression table's
sentences read `labkit.bench.comparison_table`'s columns (accuracy, bytes, p50 latencies
and the ratios to its first row).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from labkit import noise

# Hinton, Vinyals & Dean 2015, MNIST: test errors out of 10,000 digits
HINTON = {"teacher": 67, "alone": 146, "distilled": 74, "n": 10_000}
SAME_SPEED = 0.1  # timing ratios within 1 ± this are called the same speed
WORDS = {"tie": "a tie", "higher": "higher", "lower": "lower"}


# ---- noise of a mean over seeds, and verdicts ----------------------------------------------


def mean_spread(values: Sequence[float], n: int) -> tuple[float, float, float]:
    """Mean, sample std over the seeds (0 for one value), and the spread of the mean: the
    larger of std/√k and the sampling error of an accuracy at the mean on n examples."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_spread needs at least one value")
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std, noise.spread(std / math.sqrt(len(values)), mean, n)


def compare_means(
    new: Sequence[float], old: Sequence[float], n: int
) -> tuple[float, float, noise.Verdict]:
    """mean(new) − mean(old), the band of that difference (`noise.difference_band` of the
    two means' spreads) and the verdict, rounded to the 3 decimals printed so that what
    reads as a tie is one."""
    a, _, sa = mean_spread(new, n)
    b, _, sb = mean_spread(old, n)
    diff, band = round(a - b, 3), round(noise.difference_band(sa, sb), 3)
    return a - b, noise.difference_band(sa, sb), noise.verdict(diff, band)


def comparison_line(
    name: str, new: Sequence[float], base: str, old: Sequence[float], n: int, split: str = "val"
) -> str:
    """'distilled 0.981 ± 0.003 vs alone 0.977 ± 0.004 (…): +0.4 points (noise ±1.5): a tie'."""
    a, sa, _ = mean_spread(new, n)
    b, sb, _ = mean_spread(old, n)
    diff, band, said = compare_means(new, old, n)
    return (
        f"{name} {a:.3f} ± {sa:.3f} vs {base} {b:.3f} ± {sb:.3f} (mean ± std over "
        f"{len(new)} seeds, {n} {split} digits): {100 * diff:+.1f} points "
        f"(noise ±{100 * band:.1f}): {WORDS[said]}"
    )


def gap_closed(teacher: float, alone: float, distilled: float) -> float:
    """The share of the teacher's lead over the student alone that distillation won back,
    from accuracies (higher is better; pass minus the errors to use error counts); nan when
    the teacher has no lead."""
    lead = teacher - alone
    return (distilled - alone) / lead if lead > 0 else math.nan


def hinton_report(
    teacher: float, alone: Sequence[float], distilled: Sequence[float], n: int
) -> str:
    """Our test accuracies as errors (per n, and per 10,000 as Hinton et al. count them) beside
    theirs, the gap closed by each, and whether each gain is beyond its noise."""
    h = HINTON
    a, d = statistics.fmean(alone), statistics.fmean(distilled)
    lines = [
        f"{'':22s}{'teacher':>9s}{'alone':>9s}{'distilled':>11s}   gap closed",
        f"{'Hinton et al., MNIST':22s}{h['teacher']:>9d}{h['alone']:>9d}{h['distilled']:>11d}"
        f"   {gap_closed(-h['teacher'], -h['alone'], -h['distilled']):.0%}"
        f"   (test errors of {h['n']:,})",
    ]
    errors = [n * (1 - p) for p in (teacher, a, d)]
    closed = gap_closed(teacher, a, d)
    closed_text = "no gap" if math.isnan(closed) else f"{closed:.0%}"
    lines.append(
        f"{'this run, digits':22s}{errors[0]:>9.1f}{errors[1]:>9.1f}{errors[2]:>11.1f}"
        f"   {closed_text}   (test errors of {n}, students: mean over {len(alone)} seeds)"
    )
    per = [e * h["n"] / n for e in errors]
    lines.append(f"{'  the same per 10,000':22s}{per[0]:>9.0f}{per[1]:>9.0f}{per[2]:>11.0f}")
    theirs = noise.difference_band(
        noise.sampling_error(1 - h["alone"] / h["n"], h["n"]),
        noise.sampling_error(1 - h["distilled"] / h["n"], h["n"]),
    )
    gain = (h["alone"] - h["distilled"]) / h["n"]
    said = noise.verdict(gain, theirs)
    lines.append(
        f"their gain {100 * gain:+.2f} points on {h['n']:,} digits (noise ±{100 * theirs:.2f}): "
        f"{WORDS[said]}; ours: "
        + comparison_line("distilled", distilled, "alone", alone, n, "test").split(": ", 1)[1]
    )
    return "\n".join(lines)


# ---- figures -----------------------------------------------------------------------------


def soft_targets_figure(
    images: np.ndarray, probs: Mapping[float, np.ndarray], labels: Sequence[int]
) -> Figure:
    """One column per digit: the image above, the teacher's class probabilities at each
    temperature below (log scale, so the small ones the student learns from show)."""
    k = len(labels)
    fig = Figure(figsize=(3.2 * k, 4.6), dpi=80, layout="constrained")
    grid = fig.add_gridspec(2, k, height_ratios=(1, 1.5))
    temps = list(probs)
    width = 0.8 / len(temps)
    for j, label in enumerate(labels):
        ax = fig.add_subplot(grid[0, j])
        ax.imshow(np.asarray(images[j]), cmap="gray_r")
        ax.set_title(f"label {int(label)}")
        ax.set_xticks([])
        ax.set_yticks([])
        ax = fig.add_subplot(grid[1, j])
        for i, t in enumerate(temps):
            p = np.asarray(probs[t][j], dtype=float)
            ax.bar(
                np.arange(len(p)) + (i - (len(temps) - 1) / 2) * width, p, width, label=f"T = {t:g}"
            )
        ax.set_yscale("log")
        ax.set_ylim(1e-5, 1.5)
        ax.set_xticks(range(len(p)))
        ax.set_xlabel("class")
        if j == 0:
            ax.set_ylabel("teacher's probability")
    handles, names = ax.get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=len(temps), fontsize=9)
    fig.suptitle("The teacher's soft targets: a higher temperature lifts the wrong classes")
    return fig


def sweep_figure(
    cells: Mapping[tuple[float, float], Sequence[float]], alone: Sequence[float], n: int
) -> Figure:
    """Validation accuracy of each (temperature, alpha) cell, mean over seeds with the
    spread of the mean as error bars, one line per alpha; the student alone as a band."""
    fig = Figure(figsize=(6.4, 3.8), dpi=80, layout="constrained")
    ax = fig.add_subplot()
    temps = sorted({t for t, _ in cells})
    mean, _, spread = mean_spread(alone, n)
    ax.axhspan(mean - spread, mean + spread, color="0.85", label="student alone (α = 0)")
    ax.axhline(mean, color="0.5", lw=1)
    for alpha in sorted({a for _, a in cells}):
        ts = [t for t in temps if (t, alpha) in cells]
        stats = [mean_spread(cells[(t, alpha)], n) for t in ts]
        ax.errorbar(
            ts,
            [s[0] for s in stats],
            yerr=[s[2] for s in stats],
            marker="o",
            capsize=3,
            label=f"α = {alpha:g}",
        )
    ax.set_xscale("log")
    ax.set_xticks(temps, [f"{t:g}" for t in temps])
    ax.set_xlabel("temperature T")
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"mean over {len(alone)} seeds ± the spread of the mean ({n} digits)")
    ax.legend(fontsize=8)
    return fig


def sweep_report(
    cells: Mapping[tuple[float, float], Sequence[float]], alone: Sequence[float], n: int
) -> str:
    """One line per cell against the student alone, then how many cells beat it beyond the
    noise, and whether the best cell beats the others or ties with them."""
    lines = [
        comparison_line(f"T = {t:g}, α = {a:g}:", v, "alone", alone, n)
        for (t, a), v in cells.items()
    ]
    verdicts = [compare_means(v, alone, n)[2] for v in cells.values()]
    counts = {w: verdicts.count(w) for w in ("higher", "tie", "lower")}
    lines.append(
        f"against the student alone: {counts['higher']} cell(s) higher, {counts['tie']} "
        f"tie(s), {counts['lower']} lower, beyond the noise of {n} digits"
    )
    best = max(cells, key=lambda c: statistics.fmean(cells[c]))
    ties = [c for c in cells if c != best and compare_means(cells[best], cells[c], n)[2] == "tie"]
    lines.append(
        f"the highest mean, T = {best[0]:g} and α = {best[1]:g}, ties with {len(ties)} of the "
        f"other {len(cells) - 1} cells: "
        + ("this sweep cannot choose among them" if ties else "it leads beyond the noise")
    )
    return "\n".join(lines)


def tried_figure(
    probs: np.ndarray,
    labels: Sequence[int],
    temperature: float,
    accuracies: Mapping[str, float],
    errors: Mapping[str, float],
) -> Figure:
    """What the Train button draws: the teacher's soft targets at `temperature` for a few
    digits, and the validation accuracy of each student with its sampling error."""
    fig = Figure(figsize=(8.4, 3.2), dpi=80, layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=(2, 1))
    width = 0.8 / len(labels)
    for j, label in enumerate(labels):
        p = np.asarray(probs[j], dtype=float)
        left.bar(
            np.arange(len(p)) + (j - (len(labels) - 1) / 2) * width,
            p,
            width,
            label=f"a {int(label)}",
        )
    left.set_yscale("log")
    left.set_ylim(1e-5, 1.5)
    left.set_xticks(range(len(p)))
    left.set_xlabel("class")
    left.set_title(f"soft targets at T = {temperature:g}")
    left.legend(fontsize=8, loc="lower left")
    names = list(accuracies)
    colors = ["0.6"] + ["tab:blue"] * (len(names) - 1)  # the first: the one to beat
    right.bar(
        names,
        [accuracies[k] for k in names],
        yerr=[errors[k] for k in names],
        capsize=4,
        color=colors,
    )
    low = min(accuracies.values()) - 3 * max(errors.values())
    right.set_ylim(max(0.0, low), 1.0)
    right.set_title("validation accuracy")
    return fig


# ---- the compression table ----------------------------------------------------------------


def speed_words(ratio: float) -> str:
    """'2.1× faster', '1.6× slower' or 'the same speed' (a ratio within 1 ± SAME_SPEED)."""
    if abs(ratio - 1) <= SAME_SPEED:
        return f"the same speed ({ratio:.2f}×)"
    return f"{ratio:.1f}× faster" if ratio > 1 else f"{1 / ratio:.1f}× slower"


def size_words(ratio: float) -> str:
    """'3.9× smaller', '1.2× larger' or 'the same size' (within SAME_SPEED)."""
    if abs(ratio - 1) <= SAME_SPEED:
        return f"the same size ({ratio:.2f}×)"
    return f"{ratio:.1f}× smaller" if ratio > 1 else f"{1 / ratio:.1f}× larger"


def accuracy_verdict(p: float, p0: float, n: int) -> tuple[float, float, noise.Verdict]:
    """p − p0 for two single models on the same n test rows, the band of that difference
    from their sampling errors, and the verdict (rounded as printed)."""
    band = noise.difference_band(noise.sampling_error(p, n), noise.sampling_error(p0, n))
    return p - p0, band, noise.verdict(round(p - p0, 3), round(band, 3))


def row_sentence(table: Any, name: str, n: int) -> str:
    """What one row bought against the first (the baseline), in words."""
    row, base = table.loc[name], table.iloc[0]
    diff, band, said = accuracy_verdict(row.accuracy, base.accuracy, n)
    return (
        f"{name}: {size_words(row.smaller)}, {speed_words(row.speedup_b1)} at batch 1, "
        f"{speed_words(row.speedup_b64)} at batch 64; accuracy {row.accuracy:.3f} vs "
        f"{base.accuracy:.3f}, {100 * diff:+.1f} points (noise ±{100 * band:.1f}): {WORDS[said]}"
    )


def faq_report(
    table: Any, n: int, *, sparse: str, half: str, ort: str, int8: str, alone: str,
    distilled: str,
) -> str:  # fmt: skip
    """The FAQ 'how do I choose a compression method?' answered from the table: each row
    against the baseline (the first row); the article's three claims checked, with int8
    against ONNX Runtime fp32 (the same runtime) and the distilled student against the same
    student alone (the same network); then, among the rows whose accuracy ties with the
    baseline or beats it, the smallest and the fastest at each batch size."""
    base, first = table.index[0], table.iloc[0]
    lines = [row_sentence(table, name, n) for name in table.index[1:]]

    def cost(name: str, against: str = base) -> str:
        diff, band, said = accuracy_verdict(
            table.loc[name].accuracy, table.loc[against].accuracy, n
        )
        return f"{100 * diff:+.1f} points (noise ±{100 * band:.1f}): {WORDS[said]}"

    def fewer(name: str) -> str:
        return f"{first.params / table.loc[name].params:.1f}× fewer non-zero parameters"

    r_ort, r_int8, r_sparse = table.loc[ort], table.loc[int8], table.loc[sparse]
    lines += [
        "",
        "the article: pruning reduces the parameters but may cost accuracy. Measured:",
        f"  {sparse}: {fewer(sparse)}, {speed_words(r_sparse.speedup_b64)} at batch 64 (a "
        f"dense matmul multiplies the zeros too), {size_words(r_sparse.smaller)} only once "
        f"stored as CSR; accuracy {cost(sparse)}",
        f"  {half}: {fewer(half)}, {speed_words(table.loc[half].speedup_b64)} at batch 64; "
        f"accuracy {cost(half)}",
        "the article: quantization reduces storage but may cost precision. Measured:",
        f"  {int8} vs {ort} (the same runtime: what int8 bought): "
        f"{size_words(r_ort.bytes / r_int8.bytes)}, "
        f"{speed_words(r_ort.p50_b1_ms / r_int8.p50_b1_ms)} at batch 1, "
        f"{speed_words(r_ort.p50_b64_ms / r_int8.p50_b64_ms)} at batch 64; accuracy "
        f"{cost(int8, ort)}",
        "the article: distillation keeps the accuracy while cutting parameters and computation. "
        "Measured:",
        f"  {distilled}: {fewer(distilled)} and {speed_words(table.loc[distilled].speedup_b64)} "
        f"at batch 64 than {base}, accuracy {cost(distilled)}; against {alone} (the same "
        f"network: what the teacher bought) {cost(distilled, alone)}",
    ]
    p0 = first.accuracy
    keep = [
        m for m in table.index[1:] if accuracy_verdict(table.loc[m].accuracy, p0, n)[2] != "lower"
    ]
    lines.append("")
    if not keep:
        lines.append(f"every row lost accuracy beyond the noise against {base}")
        return "\n".join(lines)
    lines.append(
        f"the rows at no accuracy cost beyond the noise of {n} test digits ({len(keep)} of "
        f"{len(table) - 1}):"
    )
    smallest = max(keep, key=lambda m: table.loc[m].smaller)
    lines.append(f"  smallest on disk: {smallest}, {size_words(table.loc[smallest].smaller)}")
    for b in (1, 64):
        fastest = max(keep, key=lambda m: table.loc[m][f"speedup_b{b}"])
        lines.append(
            f"  fastest at batch {b}: {fastest}, {speed_words(table.loc[fastest][f'speedup_b{b}'])}"
        )
    return "\n".join(lines)
