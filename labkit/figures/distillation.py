"""Notebook 09 (distillation): its figures and the sentences computed from its numbers.

Every verdict follows `labkit.noise`: a setting is measured as the mean over k student seeds
on the same n images, so its spread is the larger of the seeds' std/√k (averaging seeds
shrinks their noise) and the sampling error √(p(1−p)/n) of an accuracy on those n images
(averaging seeds does not shrink the luck of the one split they share); two settings differ
beyond the noise only past 2·√(σa² + σb²), otherwise a tie. The compression table's
sentences compare each row of `labkit.bench.comparison_table` with the model it was made
from (its origin), not with one baseline for all: accuracy with the noise of two accuracies,
bytes exactly, and speed from `labkit.bench.speedup_rounds`, as the median over interleaved
rounds with their range, a tie unless every round agrees beyond `labkit.bench.SAME_SPEED`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from labkit import noise
from labkit.bench import SAME_SPEED, ratio_phrase, speed_verdict

# Hinton, Vinyals & Dean 2015, MNIST: test errors out of 10,000 digits
HINTON = {"teacher": 67, "alone": 146, "distilled": 74, "n": 10_000}
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


# ---- verdicts in words -------------------------------------------------------------------


def rounds_words(ratios: Sequence[float]) -> str:
    """Speed ratios (origin / this latency, one per round) in words: '2.31× faster (2.20–2.40×
    over 5 rounds)', '1.21× slower (1.11–1.23× over 5 rounds)' (the range in the same
    direction as the words), or 'the same speed (1.03×, 0.95–1.10× over 5 rounds)' when
    `labkit.bench.speed_verdict` calls it a tie."""
    median = statistics.median(ratios)
    low, high = min(ratios), max(ratios)
    if speed_verdict(ratios) == "tie":
        return f"the same speed ({median:.2f}×, {low:.2f}–{high:.2f}× over {len(ratios)} rounds)"
    if median < 1:
        low, high = 1 / high, 1 / low
    return f"{ratio_phrase(median)} ({low:.2f}–{high:.2f}× over {len(ratios)} rounds)"


def size_words(ratio: float) -> str:
    """'3.9× smaller', '2.2× larger' or 'the same size (1.00×)' (within SAME_SPEED)."""
    if abs(ratio - 1) <= SAME_SPEED:
        return f"the same size ({ratio:.2f}×)"
    return f"{ratio:.1f}× smaller" if ratio > 1 else f"{1 / ratio:.1f}× larger"


def params_words(params: int, origin: int) -> str:
    """'9.8× fewer non-zero parameters' or '2.2× more parameters (85,002 vs 38,282)'."""
    if params <= origin:
        return f"{origin / params:.1f}× fewer non-zero parameters"
    return f"{params / origin:.1f}× MORE parameters ({params:,} vs {origin:,})"


def accuracy_verdict(p: float, p0: float, n: int) -> tuple[float, float, noise.Verdict]:
    """p − p0 for two single models on the same n test rows, the band of that difference
    from their sampling errors, and the verdict (rounded as printed)."""
    band = noise.difference_band(noise.sampling_error(p, n), noise.sampling_error(p0, n))
    return p - p0, band, noise.verdict(round(p - p0, 3), round(band, 3))


def accuracy_words(p: float, p0: float, n: int) -> str:
    """'+0.6 points (noise ±2.6): a tie'."""
    diff, band, said = accuracy_verdict(p, p0, n)
    return f"{100 * diff:+.1f} points (noise ±{100 * band:.1f}): {WORDS[said]}"


def teacher_line(teacher: float, student: float, n: int, epochs: int) -> str:
    """Whether the teacher is the stronger model at these settings: its validation accuracy
    against one student trained alone, with the noise of two accuracies on n digits."""
    diff, _, said = accuracy_verdict(teacher, student, n)
    head = (
        f"the teacher after {epochs} epoch{'s' * (epochs != 1)}: validation accuracy "
        f"{teacher:.3f}; the student alone (one seed): {student:.3f}; "
        f"{accuracy_words(teacher, student, n)}"
    )
    if said == "higher":
        return head + ": the teacher is the stronger model, as distillation needs"
    if said == "tie" and diff > 0:
        return head + (
            f": the teacher is ahead, but within the noise of {n} digits, which cannot tell the "
            "two apart (section 7 compares them on the test digits, over seeds)"
        )
    if said == "tie":
        return head + (
            ": at these settings the teacher is NOT ahead of the student, so it has little to "
            "teach (section 6 shows what a weak teacher does)"
        )
    return head + (
        ": at these settings the teacher is WORSE than the student: distilling from it teaches "
        "its errors (raise teacher_epochs)"
    )


def failure_sentence(hurt: Mapping[str, Any]) -> str:
    """What section 6 measured, in words, from its verdicts: `hurt['tiny']` and
    `hurt['weak']` are `compare_means` results (distilled vs alone), `hurt['weak_teacher']`
    the weak teacher's verdict against the student alone."""
    said = {
        "higher": "helped it beyond the noise",
        "tie": "made no difference beyond the noise (a tie)",
        "lower": "hurt it beyond the noise",
    }
    tiny, weak = hurt["tiny"], hurt["weak"]
    teacher = {
        "higher": "better than the student alone",
        "tie": "no better than the student alone (a tie)",
        "lower": "worse than the student alone",
    }[hurt["weak_teacher"]]
    text = (
        f"at these settings: distillation {said[tiny[2]]} for the tiny student "
        f"({100 * tiny[0]:+.1f} points, noise ±{100 * tiny[1]:.1f}); the weak teacher was "
        f"{teacher}, and distilling from it {said[weak[2]]} ({100 * weak[0]:+.1f} points, "
        f"noise ±{100 * weak[1]:.1f})"
    )
    shown = [k for k in ("tiny", "weak") if hurt[k][2] == "lower"]
    if len(shown) == 2:
        return text + ": both failures show beyond the noise"
    if shown:
        which = "tiny student" if shown == ["tiny"] else "weak teacher"
        return text + f": only the {which} shows beyond the noise"
    return text + ": neither failure shows beyond the noise here; more seeds or epochs may"


# ---- the compression table ----------------------------------------------------------------


def origin_rounds(
    rounds: Mapping[int, Mapping[str, Sequence[float]]],
    base: str,
    origins: Mapping[str, str | None],
) -> dict[int, dict[str, list[float]]]:
    """Per batch size and row: the speed ratio origin p50 / row p50 in each round, from
    `speedup_rounds` ratios against `base` (base p50 / x p50, each round timing every row):
    row / origin in a round is ratio(row) / ratio(origin). Rows without an origin are left
    out."""
    out: dict[int, dict[str, list[float]]] = {}
    for b, ratios in rounds.items():
        k = len(next(iter(ratios.values())))

        def of(
            name: str, ratios: Mapping[str, Sequence[float]] = ratios, k: int = k
        ) -> Sequence[float]:
            return [1.0] * k if name == base else ratios[name]

        out[b] = {
            row: [r / o for r, o in zip(of(row), of(origin), strict=True)]
            for row, origin in origins.items()
            if origin is not None
        }
    return out


def faq_table(table: Any, origins: Mapping[str, str | None]) -> Any:
    """The table to show: accuracy, non-zero parameters, bytes and latency percentiles, with
    the model each row was made from instead of ratios to the first row (the ratios worth
    reading are to the origin, in `faq_report`)."""
    shown = table.drop(
        columns=[c for c in table.columns if c.startswith("speedup") or c == "smaller"]
    )
    return shown.assign(made_from=[origins.get(name) or "" for name in table.index])


def row_sentence(
    table: Any, speed: Mapping[int, Mapping[str, Sequence[float]]], name: str, origin: str, n: int
) -> str:
    """What one row bought against the model it was made from, in words."""
    row, base = table.loc[name], table.loc[origin]
    return (
        f"{name} vs {origin}: {size_words(base.bytes / row.bytes)}, "
        + ", ".join(f"{rounds_words(speed[b][name])} at batch {b}" for b in speed)
        + f"; accuracy {row.accuracy:.3f} vs {base.accuracy:.3f}, "
        f"{accuracy_words(row.accuracy, base.accuracy, n)}"
    )


def best_rows(gains: Mapping[str, float], margin: float = SAME_SPEED) -> list[str]:
    """Every name whose gain is within `margin` of the largest, best first: ties named."""
    top = max(gains.values())
    near = [m for m in gains if gains[m] * (1 + margin) >= top]
    return sorted(near, key=lambda m: -gains[m])


def faq_report(
    table: Any,
    speed: Mapping[int, Mapping[str, Sequence[float]]],
    n: int,
    *,
    origins: Mapping[str, str | None],
    sparse: str,
    csr: str,
    half: str,
    int8: str,
    cnn_int8: Sequence[str],
    teacher: str,
    teacher_ort: str,
    alone: str,
    distilled: str,
) -> str:
    """The FAQ 'how do I choose a compression method?' answered from the table and the timed
    rounds (`speed`, from `origin_rounds`): each row against the model it was made from;
    the article's three claims checked (pruning against the dense wide MLP, int8 against
    fp32 in the same runtime on an MLP and a CNN, the distilled student against its teacher
    and against the same student alone); then, among the rows at no accuracy cost beyond the
    noise against their origin (and, for the distilled student, against the student alone),
    every one within SAME_SPEED of the best at each need, and the caveats the other rows
    measured."""
    batches = list(speed)
    b1, bn = batches[0], batches[-1]
    rows = [r for r in table.index if origins.get(r)]
    lines = [
        "each row against the model it was made from (speed: the median of the rounds, their "
        f"range, a tie unless every round differs by more than {SAME_SPEED:.0%}; accuracy: the "
        f"noise of two accuracies on {n} test digits):"
    ]
    lines += ["  " + row_sentence(table, speed, r, origins[r], n) for r in rows]

    def between(a: str, b_: str, b: int) -> list[float]:  # per round: a's p50 / b_'s p50
        return [x / y for x, y in zip(speed[b][b_], speed[b][a], strict=True)]

    def words(name: str, b: int) -> str:
        return rounds_words(speed[b][name])

    def verdict(name: str, b: int) -> str:
        return speed_verdict(speed[b][name])

    def acc(name: str, against: str | None = None) -> str:
        against = against or origins[name]
        return accuracy_words(table.loc[name].accuracy, table.loc[against].accuracy, n)

    def params(name: str, against: str | None = None) -> str:
        return params_words(
            int(table.loc[name].params), int(table.loc[against or origins[name]].params)
        )

    def size(name: str, against: str | None = None) -> str:
        return size_words(table.loc[against or origins[name]].bytes / table.loc[name].bytes)

    lines += [
        "",
        "the article: pruning reduces the parameters but may cost accuracy. Measured:",
        f"  {sparse}: {params(sparse)}; run with dense kernels {words(sparse, b1)} at batch {b1} "
        f"and {words(sparse, bn)} at batch {bn} (a dense matmul multiplies the zeros too); "
        f"stored and run as CSR ({csr}): {size(csr)}, {words(csr, b1)} at batch {b1}, "
        f"{words(csr, bn)} at batch {bn}; accuracy {acc(sparse)}",
        f"  {half}: {params(half)}, {size(half)}, {words(half, b1)} at batch {b1}, "
        f"{words(half, bn)} at batch {bn}; accuracy {acc(half)}",
        "the article: quantization reduces storage but may cost precision. Measured, int8 "
        "against fp32 in the same runtime (ONNX Runtime):",
    ]
    for name in (int8, *cnn_int8):
        lines.append(
            f"  {name}: {size(name)}, {words(name, b1)} at batch {b1}, {words(name, bn)} at "
            f"batch {bn}; accuracy {acc(name)}"
        )
    r_d, r_t = table.loc[distilled], table.loc[teacher]
    lines += [
        "the article: distillation keeps the accuracy while cutting parameters and computation. "
        "Measured:",
        f"  {distilled} vs its teacher ({teacher}, both in PyTorch eager): "
        f"{params(distilled, teacher)}, {size(distilled, teacher)}, "
        f"{words(distilled, b1)} at batch {b1}, {words(distilled, bn)} at batch {bn}; "
        f"accuracy {acc(distilled, teacher)}",
        f"  {distilled} vs {alone} (the same network: {size(distilled, alone)}, "
        + ", ".join(f"{rounds_words(between(alone, distilled, b))} at batch {b}" for b in batches)
        + f"): what the teacher's soft targets bought: accuracy {acc(distilled, alone)}",
    ]
    if r_d.params > r_t.params:
        faster = [b for b in batches if verdict(distilled, b) == "faster"]
        lines.append(
            "  so here distillation did not cut parameters: the student has more than its "
            "teacher. "
            + (
                f"What it bought against the teacher is speed at batch "
                f"{' and '.join(map(str, faster))}, from another architecture (an MLP call "
                "against convolutions), which the student alone has as well"
                if faster
                else "Nor was it faster than the teacher at these settings"
            )
        )
    lines.append(
        f"  the teacher itself run by ONNX Runtime ({teacher_ort}) against the {distilled} in "
        f"PyTorch eager at batch {b1}: the student is "
        f"{rounds_words(between(teacher_ort, distilled, b1))}: a faster runtime is another way "
        "to a faster call"
    )

    def loses(name: str, against: str) -> bool:
        return (
            accuracy_verdict(table.loc[name].accuracy, table.loc[against].accuracy, n)[2] == "lower"
        )

    # the distilled student must also hold its own against the same student trained alone
    keep = [
        r for r in rows if not loses(r, origins[r]) and not (r == distilled and loses(r, alone))
    ]
    lines.append("")
    if not keep:
        lines.append("every row lost accuracy beyond the noise against the model it was made from")
        return "\n".join(lines)
    lines.append(
        f"the choice: the rows at no accuracy cost beyond the noise against the model each was "
        f"made from ({len(keep)} of {len(rows)}), the best at each need, with every row within "
        f"{SAME_SPEED:.0%} of it:"
    )

    def named(gains: Mapping[str, float]) -> str:
        best = best_rows(gains)
        same = [
            f"{a} and {b} are the same network" for i, a in enumerate(best) for b in best[i + 1 :]
            if {a, b} == {alone, distilled}
        ]  # fmt: skip
        text = ", ".join(f"{m} ({gains[m]:.2f}×)" for m in best)
        return text + (f" ({'; '.join(same)})" if same else "")

    smaller = {r: table.loc[origins[r]].bytes / table.loc[r].bytes for r in keep}
    lines.append(f"  the most bytes saved against its origin: {named(smaller)}")
    for b in batches:
        gains = {r: statistics.median(speed[b][r]) for r in keep}
        lines.append(f"  the largest speedup against its origin at batch {b}: {named(gains)}")

    lines.append("caveats, from the rows above:")
    int8_pays = {b: verdict(int8, b) == "faster" for b in batches}
    cnn_pays = {b: [m for m in cnn_int8 if verdict(m, b) == "faster"] for b in batches}
    if any(int8_pays.values()) and not any(cnn_pays.values()):
        cnn = "; ".join(f"{m}: {words(m, bn)} at batch {bn}" for m in cnn_int8)
        lines.append(
            "  int8 was faster on the wide MLP, whose time goes into large matrix products, "
            f"and not on the CNN ({cnn}): "
            "int8 pays only on matmul-bound models, with kernels for them: measure it on yours"
        )
    elif any(int8_pays.values()):
        lines.append(
            "  int8 was faster on both the wide MLP and the CNN here: still, measure it on yours"
        )
    else:
        lines.append("  int8 was not faster than fp32 on the wide MLP at these settings")
    csr_said = {b: verdict(csr, b) for b in batches}
    lines.append(
        f"  CSR sparse against the dense model: {words(csr, b1)} at batch {b1}, "
        f"{words(csr, bn)} at batch {bn}"
        + (
            ": sparse kernels pay only where a call has enough rows to multiply"
            if csr_said[bn] == "faster" and csr_said[b1] != "faster"
            else ""
        )
    )
    return "\n".join(lines)
