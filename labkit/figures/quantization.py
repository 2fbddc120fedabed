"""Notebook 08 (quantization): its controls, figures and computed verdicts.

`QuantControls` holds the arithmetic section's widgets (bits, symmetric or asymmetric, per
tensor or per channel). `weights_figure` puts a real layer's weights on the integer grid
and shows the round-trip error per output row and against the number of bits. The speed
and accuracy verdicts are sentences computed from the measured numbers: a speed ratio comes
with its spread over interleaved rounds (`speedup_rounds`), an accuracy difference with the
sampling error of the rows it was measured on (`labkit.noise`), and a target that was
missed says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from matplotlib.figure import Figure

from labkit import bench, noise
from labkit.compress import quantize as q
from labkit.validate import check_bool, check_int

if TYPE_CHECKING:
    import pandas as pd

BITS = tuple(q.BITS)  # the widths the arithmetic supports, 2 to 16


def describe(bits: int, symmetric: bool, per_channel: bool) -> str:
    """'8 bits, symmetric, per tensor': a setting of the arithmetic, in words."""
    kind = "symmetric" if symmetric else "asymmetric"
    return f"{bits} bits, {kind}, {'per channel' if per_channel else 'per tensor'}"


class QuantControls:
    """The arithmetic's widgets; `values()` returns {'bits', 'symmetric', 'per_channel'}."""

    def __init__(self, bits: int = 8, symmetric: bool = True, per_channel: bool = False) -> None:
        import ipywidgets as w

        q.check_bits(bits)
        check_bool("symmetric", symmetric)
        check_bool("per_channel", per_channel)
        style = {"description_width": "90px"}
        self.bits = w.IntSlider(
            value=bits, min=BITS[0], max=BITS[-1], description="bits", style=style,
            continuous_update=False,
        )  # fmt: skip
        self.symmetric = w.Dropdown(
            options=[("symmetric", True), ("asymmetric", False)], value=symmetric,
            description="range", style=style,
        )  # fmt: skip
        self.per_channel = w.Dropdown(
            options=[("per tensor", False), ("per channel", True)], value=per_channel,
            description="scales", style=style,
        )  # fmt: skip
        self.box = w.VBox([self.bits, self.symmetric, self.per_channel])

    def values(self) -> dict[str, Any]:
        return {
            "bits": int(self.bits.value),
            "symmetric": bool(self.symmetric.value),
            "per_channel": bool(self.per_channel.value),
        }

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        return self.box._repr_mimebundle_(**kwargs)


def mean_error(w: torch.Tensor, *, bits: int, symmetric: bool, per_channel: bool) -> float:
    """The mean round-trip error |w − dequantize(quantize(w))| over every element."""
    error = q.round_trip_error(w, bits=bits, symmetric=symmetric, per_channel=per_channel)
    return float(error.mean())


def error_by_bits(
    w: torch.Tensor, bits: Sequence[int] = BITS
) -> dict[tuple[int, bool, bool], float]:
    """Mean round-trip error of `w` at each width, for (bits, symmetric, per_channel)."""
    return {
        (b, s, c): mean_error(w, bits=b, symmetric=s, per_channel=c)
        for b in bits
        for s in (True, False)
        for c in (False, True)
    }


def codes_used(w: torch.Tensor, row: int, *, bits: int, symmetric: bool, per_channel: bool) -> int:
    """How many distinct integer codes row `row` of `w` uses, with scales chosen for all of
    `w` (per tensor) or for that row alone (per channel)."""
    scale, zero_point = q.qparams(w, bits=bits, symmetric=symmetric, per_channel=per_channel)
    if per_channel:
        scale, zero_point = scale[row], zero_point[row]
    codes = q.quantize(w[row], scale, zero_point, bits=bits, symmetric=symmetric)
    return len(torch.unique(codes))


def weights_figure(
    w: torch.Tensor, *, bits: int, symmetric: bool, per_channel: bool, name: str = "weights"
) -> Figure:
    """Three panels for one weight matrix (rows = output channels): the row with the
    smallest range on the per-tensor grid and on its own (per-channel) grid; the mean
    round-trip error of every row, per tensor and per channel; the mean error against the
    number of bits for the four settings, the chosen one marked."""
    w = w.detach().float().cpu()
    rows = w.reshape(len(w), -1)
    small = int(rows.abs().amax(dim=1).argmin())  # the row per-tensor scales treat worst
    fig = Figure(figsize=(13, 3.8), dpi=80, layout="constrained")
    ax_grid, ax_rows, ax_bits = fig.subplots(1, 3)

    values = rows[small].numpy()
    ax_grid.hist(values, bins=40, color="0.75")
    qmin, qmax = q.qrange(bits, symmetric)
    for per_row, color, label in ((False, "tab:red", "per-tensor grid"),
                                  (True, "tab:blue", "per-channel grid")):  # fmt: skip
        scale, zero_point = q.qparams(w, bits=bits, symmetric=symmetric, per_channel=per_row)
        s = float(scale[small] if per_row else scale)
        z = int(zero_point[small] if per_row else zero_point)
        lo, hi = values.min(), values.max()
        levels = s * (np.arange(qmin, qmax + 1) - z)
        shown = levels[(levels >= lo - s) & (levels <= hi + s)]
        if len(shown) <= 60:
            for i, level in enumerate(shown):
                ax_grid.axvline(level, color=color, lw=0.8, alpha=0.7,
                                label=label if i == 0 else None)  # fmt: skip
        else:
            ax_grid.axvspan(lo, hi, color=color, alpha=0.08, label=f"{label} (too fine to draw)")
    used = {c: codes_used(w, small, bits=bits, symmetric=symmetric, per_channel=c) for c in (0, 1)}
    ax_grid.set_title(
        f"{name}, row {small} (smallest range):\n{used[0]} codes per tensor, "
        f"{used[1]} per channel, of {qmax - qmin + 1}",
        fontsize=10,
    )
    ax_grid.set_xlabel("weight value")
    ax_grid.legend(fontsize=8, loc="upper right")

    order = rows.abs().amax(dim=1).argsort()  # rows from the smallest range to the largest
    for per_row, color in ((False, "tab:red"), (True, "tab:blue")):
        err = q.round_trip_error(w, bits=bits, symmetric=symmetric, per_channel=per_row)
        per = err.reshape(len(w), -1).mean(dim=1)[order].numpy()
        label = f"per {'channel' if per_row else 'tensor'}: mean {per.mean():.2e}"
        ax_rows.plot(per, color=color, lw=2.2 if per_row == per_channel else 0.9, label=label)
    ax_rows.set_yscale("log")
    ax_rows.set_xlabel("row (sorted by its largest |weight|)")
    ax_rows.set_ylabel("mean |round-trip error|")
    ax_rows.set_title(f"error per row at {describe(bits, symmetric, per_channel)}", fontsize=10)
    ax_rows.legend(fontsize=8)

    table = error_by_bits(w)
    for s in (True, False):
        for c in (False, True):
            ys = [table[(b, s, c)] for b in BITS]
            chosen = (s, c) == (symmetric, per_channel)
            label = f"{'sym' if s else 'asym'}, per {'channel' if c else 'tensor'}"
            ax_bits.plot(BITS, ys, marker=".", lw=2.2 if chosen else 0.9, ls="-" if s else "--",
                         color="tab:blue" if c else "tab:red", label=label)  # fmt: skip
    ax_bits.plot([bits], [table[(bits, symmetric, per_channel)]], "ko", ms=8, fillstyle="none")
    ax_bits.set_yscale("log")
    ax_bits.set_xlabel("bits")
    ax_bits.set_ylabel("mean |round-trip error|")
    ax_bits.set_title("each extra bit halves the error", fontsize=10)
    ax_bits.legend(fontsize=8)
    return fig


# ---- verdicts ------------------------------------------------------------------------------


def ratio_phrase(ratio: float) -> str:
    """2.1 -> '2.10× faster', 0.5 -> '2.00× slower' (a ratio of baseline / this latency)."""
    return f"{ratio:.2f}× faster" if ratio >= 1 else f"{1 / ratio:.2f}× slower"


def speedup_rounds(
    baseline: Callable[[Any], Any],
    other: Callable[[Any], Any],
    x: Any,
    *,
    rounds: int = 5,
    repeats: int = 40,
    num_threads: int | None = None,
) -> list[float]:
    """baseline p50 / other p50 on batch `x`, once per round: each round times both,
    interleaved, the order alternating, so the rounds show how much the ratio moves."""
    check_int("rounds", rounds, minimum=2)
    ratios = []
    for i in range(rounds):
        pair = {"baseline": baseline, "other": other}
        if i % 2:
            pair = {"other": other, "baseline": baseline}
        timed = bench.compare_latency(pair, x, warmup=3, repeats=repeats, rounds=1,
                                      num_threads=num_threads)  # fmt: skip
        ratios.append(timed["baseline"].p50_ms / timed["other"].p50_ms)
    return ratios


TIE_MARGIN = 0.05  # speed differences under 5 % are ties: a shared machine moves them that much


def speed_verdict(ratios: Sequence[float], margin: float = TIE_MARGIN) -> str:
    """'faster' when every round found it more than `margin` faster, 'slower' when every
    round found it more than `margin` slower, else 'tie': the rounds disagree, or the
    difference is too small to matter."""
    if min(ratios) > 1 + margin:
        return "faster"
    if max(ratios) < 1 / (1 + margin):
        return "slower"
    return "tie"


def speed_sentence(name: str, baseline: str, ratios: Sequence[float], batch: int) -> str:
    """One line: the median ratio, its range over the rounds, and the verdict."""
    median = float(np.median(ratios))
    spread = f"{min(ratios):.2f}–{max(ratios):.2f}× over {len(ratios)} rounds"
    if speed_verdict(ratios) == "tie":
        return (f"{name} vs {baseline} at batch {batch}: {median:.2f}× ({spread}): a tie, "
                f"the rounds disagree or differ by less than {TIE_MARGIN:.0%}")  # fmt: skip
    return f"{name} is {ratio_phrase(median)} than {baseline} at batch {batch} ({spread})"


def accuracy_sentence(name: str, p: float, baseline: str, p0: float, n: int) -> str:
    """The accuracy difference in points with its noise band (2σ of a difference of two
    accuracies on n rows), and the verdict."""
    band = noise.difference_band(noise.sampling_error(p, n), noise.sampling_error(p0, n))
    diff = p - p0
    verdict = noise.verdict(diff, band)
    words = {"tie": "a tie", "higher": "higher", "lower": "lower"}[verdict]
    return (f"{name} {p:.3f} vs {baseline} {p0:.3f}: {100 * diff:+.1f} points "
            f"(noise ±{100 * band:.1f}): {words}")  # fmt: skip


def targets_report(
    table: pd.DataFrame,
    rows: Sequence[str],
    *,
    batch: int = 64,
    speed: float = 1.5,
    smaller: float = 3.5,
    points: float = 1.0,
) -> list[str]:
    """Each of `rows` against the table's first row (the fp32 baseline): speed at `batch`,
    size and accuracy, each with its target and whether this run met it."""
    base_name = table.index[0]
    base = table.iloc[0]
    lines = []
    for name in rows:
        row = table.loc[name]
        ratio, size = float(row[f"speedup_b{batch}"]), float(row["smaller"])
        lost = 100 * (float(base["accuracy"]) - float(row["accuracy"]))
        change = f"{lost:.1f} points lost" if lost >= 0 else f"{-lost:.1f} points gained"
        lines.append(
            f"{name}: {ratio:.2f}× the speed of {base_name} at batch {batch} (target {speed:g}×: "
            f"{_met(ratio >= speed)}); {size:.2f}× smaller (target {smaller:g}×: "
            f"{_met(size >= smaller)}); accuracy {float(row['accuracy']):.3f} vs "
            f"{float(base['accuracy']):.3f}, {change} (target: at most {points:g} lost: "
            f"{_met(lost <= points)})"
        )
    return lines


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def ptq_qat_report(results: Mapping[int, tuple[float, float]], n: int) -> list[str]:
    """One line per width: accuracy after rounding the trained weights (PTQ) and after
    training with fake quantization (QAT), the difference with its noise band, the verdict."""
    lines = []
    for bits, (ptq, qat) in sorted(results.items()):
        lines.append(f"{bits:2d} bits: " + accuracy_sentence("QAT", qat, "rounding only", ptq, n))
    return lines


def table_figure(table: pd.DataFrame, *, batch: int = 64) -> Figure:
    """Bytes on disk and latency at `batch` (p50 bar, p99 tick) for every row of a
    `bench.comparison_table`, the baseline on top."""
    names = list(table.index)[::-1]
    y = np.arange(len(names))
    fig = Figure(figsize=(11, 0.45 * len(names) + 1.4), dpi=80, layout="constrained")
    ax_size, ax_time = fig.subplots(1, 2, sharey=True)
    ax_size.barh(y, table.loc[names, "bytes"] / 1e6, color="tab:blue")
    ax_size.set_yticks(y, names)
    ax_size.set_xlabel("MB on disk")
    p50, p99 = table.loc[names, f"p50_b{batch}_ms"], table.loc[names, f"p99_b{batch}_ms"]
    ax_time.barh(y, p50, color="tab:orange", label="p50")
    ax_time.plot(p99, y, "k|", ms=14, label="p99")
    ax_time.set_xscale("log")
    ax_time.set_xlabel(f"ms per batch of {batch} (log scale)")
    ax_time.legend(fontsize=8, loc="lower right")
    return fig
