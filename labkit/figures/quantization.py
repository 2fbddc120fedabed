"""Notebook 08 (quantization): its controls, figures and computed verdicts.

`QuantControls` holds the arithmetic section's widgets (bits, symmetric or asymmetric, per
tensor or per channel). `weights_figure` puts a real layer's weights on the integer grid
and shows the round-trip error per output row and against the number of bits. The speed
and accuracy verdicts are sentences computed from the measured numbers: a speed ratio comes
with its spread over interleaved rounds (`labkit.bench.speedup_rounds`, judged with
`bench.speed_verdict` and the course's one margin `bench.SAME_SPEED`), an accuracy
difference with the sampling error of the rows it was measured on (`labkit.noise`), and a
target that was missed says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from matplotlib.figure import Figure

from labkit import bench, noise
from labkit.compress import quantize as q
from labkit.validate import check_bool

if TYPE_CHECKING:
    import pandas as pd

BITS = tuple(q.BITS)  # the widths the arithmetic supports, 2 to 16
TARGET_WIDTH = 1024  # the course's int8 targets are for the wide MLP, 64-1024-1024-10 (or wider)


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


def one_sided_step_ratio(bits: int) -> float:
    """How many times larger a symmetric range's step is than an asymmetric one's on a
    one-sided range [0, m]: m / (2^(b−1) − 1) against m / (2^b − 1)."""
    q.check_bits(bits)
    return (2**bits - 1) / (2 ** (bits - 1) - 1)


def int8_dot_product(cpuinfo: str | Path = "/proc/cpuinfo") -> str | None:
    """The integer dot-product instructions this CPU reports (x86 AVX-512 VNNI or AVX-VNNI,
    Arm's dot-product extension), 'unknown' where the CPU's flags cannot be read, or None."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return "unknown"
    flags = set()
    for line in text.splitlines():
        if line.split(":")[0].strip() in ("flags", "Features"):
            flags.update(line.split(":", 1)[1].split())
    found = [name for flag, name in (("avx512_vnni", "AVX-512 VNNI"), ("avx_vnni", "AVX-VNNI"),
                                     ("asimddp", "Arm dot product")) if flag in flags]  # fmt: skip
    if not flags:
        return "unknown"
    return ", ".join(found) or None


def speed_sentence(name: str, baseline: str, ratios: Sequence[float], batch: int) -> str:
    """One line: the median ratio (baseline / this latency), its range over the rounds
    (as slowdowns when it is slower), and the verdict."""
    median = float(np.median(ratios))
    spread = f"{min(ratios):.2f}–{max(ratios):.2f}× over {len(ratios)} rounds"
    if bench.speed_verdict(ratios) == "tie":
        return (f"{name} vs {baseline} at batch {batch}: {median:.2f}× ({spread}): a tie, the "
                f"rounds disagree or differ by less than {bench.SAME_SPEED:.0%}")  # fmt: skip
    if median < 1:  # "3.00× slower (2.90–3.10× over 5 rounds)": the range in the same words
        spread = f"{1 / max(ratios):.2f}–{1 / min(ratios):.2f}× over {len(ratios)} rounds"
    return f"{name} is {bench.ratio_phrase(median)} than {baseline} at batch {batch} ({spread})"


def batch_verdict(small: Sequence[float], large: Sequence[float]) -> str:
    """Did a speedup differ between two batch sizes beyond the noise? 'higher' when every
    round at the first beat every round at the second and the medians differ by more than
    `bench.SAME_SPEED`, 'lower' the other way round, else 'tie'."""
    a, b = float(np.median(small)), float(np.median(large))
    if min(small) > max(large) and a > b * (1 + bench.SAME_SPEED):
        return "higher"
    if max(small) < min(large) and b > a * (1 + bench.SAME_SPEED):
        return "lower"
    return "tie"


def batch_sentence(small: Sequence[float], large: Sequence[float], fp32_mb: float) -> str:
    """Did dynamic int8 fare differently against fp32 at batch 1 (`small`: its ratios over
    the rounds) than at batch 64 (`large`)? The verdict (`batch_verdict`), and for a
    difference a likely reason, said to be one: it is not measured here."""
    r1, r64 = float(np.median(small)), float(np.median(large))
    said = batch_verdict(small, large)
    if said == "tie":
        return (f"Dynamic int8 against fp32 at batch 1 ({r1:.2f}×) and at batch 64 ({r64:.2f}×): "
                "a tie between the batch sizes; the rounds overlap, or differ by less than "
                f"{bench.SAME_SPEED:.0%}.")  # fmt: skip
    better = "better" if said == "higher" else "worse"
    reason = (
        f"one row uses each weight once, so a call mostly reads weights from memory ({fp32_mb:.2f} "
        "MB of them in fp32) and int8 reads a quarter of the bytes; at batch 64 each weight read "
        "serves 64 rows"
        if said == "higher"
        else "the fixed cost of a call and of quantizing the activations weighs more against "
        "the little arithmetic of one row"
    )
    return (
        f"Dynamic int8 fared {better} against fp32 at batch 1 ({r1:.2f}×) than at batch 64 "
        f"({r64:.2f}×), in every round. A likely reason, not measured here: {reason}."
    )


def calibration_report(rows: torch.Tensor, scale: float, zero_point: int) -> list[str]:
    """What min-max calibration did with standardized inputs `rows` (N, F): the range, the
    step in σ and where 0 sits; the column behind the largest value when it is a rare one
    (a column at one value in all but a tenth of the rows); and how many of the 256 uint8 codes
    the values within ±3 σ get."""
    lo, hi = float(rows.min()), float(rows.max())
    lines = [f"calibrated input range {lo:.2f} … {hi:.2f} (σ = 1 per column): a step of "
             f"{float(scale):.3g} σ, and 0 at code {int(zero_point)} of 0…255"]  # fmt: skip
    column = rows[:, int(rows.max(dim=0).values.argmax())]
    others = int((column != column.mode().values).sum())  # rows away from its usual value
    if hi > 3 and others < len(rows) / 10:
        lines.append(
            f"the largest value, {hi:.1f} σ, is in a pixel column that holds one and the same "
            f"value in all but {others} of the {len(rows)} calibration rows"
        )
    within = float((rows.abs() <= 3).float().mean())
    first, last = q.quantize(torch.tensor([-3.0, 3.0]), torch.tensor(float(scale)),
                             torch.tensor(int(zero_point)), symmetric=False).tolist()  # fmt: skip
    lines.append(f"{within:.2%} of the calibration values lie within ±3 σ and get codes "
                 f"{first}…{last}: {last - first + 1} of the 256")  # fmt: skip
    return lines


def accuracy_sentence(name: str, p: float, baseline: str, p0: float, n: int) -> str:
    """The accuracy difference in points with its noise band (2σ of a difference of two
    accuracies on n rows), and the verdict."""
    band = noise.difference_band(noise.sampling_error(p, n), noise.sampling_error(p0, n))
    diff = p - p0
    verdict = noise.verdict(diff, band)
    words = {"tie": "a tie", "higher": "higher", "lower": "lower"}[verdict]
    return (f"{name} {p:.3f} vs {baseline} {p0:.3f}: {100 * diff:+.1f} points "
            f"(noise ±{100 * band:.1f}): {words}")  # fmt: skip


def accuracy_verdict(p: float, p0: float, n: int) -> str:
    """'higher', 'lower' or 'tie': p − p0 against the band of a difference of two accuracies
    on n rows."""
    band = noise.difference_band(noise.sampling_error(p, n), noise.sampling_error(p0, n))
    return noise.verdict(p - p0, band)


def targets_report(
    table: pd.DataFrame,
    rows: Sequence[str],
    speeds: Mapping[str, Sequence[float]],
    *,
    width: int,
    batch: int = 64,
    speed: float = 1.5,
    smaller: float = 3.5,
    points: float = 1.0,
) -> list[str]:
    """Each of `rows` against the table's first row (the fp32 baseline): speed at `batch`
    (the median of its rounds in `speeds`, with their range), size and accuracy, each with
    its target and whether this run met it. The targets are for the wide MLP: for a model
    narrower than TARGET_WIDTH the numbers are given and the targets said not to apply."""
    judged = width >= TARGET_WIDTH
    base_name = table.index[0]
    base = table.iloc[0]
    lines = []
    for name in rows:
        row = table.loc[name]
        ratios = speeds[name]
        ratio, size = float(np.median(ratios)), float(row["smaller"])
        lost = 100 * (float(base["accuracy"]) - float(row["accuracy"]))
        change = f"{lost:.1f} points lost" if lost >= 0 else f"{-lost:.1f} points gained"
        lines.append(
            f"{name}: {ratio:.2f}× the speed of {base_name} at batch {batch} "
            f"({min(ratios):.2f}–{max(ratios):.2f}× over {len(ratios)} rounds; target {speed:g}×"
            f"{_met(ratio >= speed, judged)}); {size:.2f}× smaller (target {smaller:g}×"
            f"{_met(size >= smaller, judged)}); accuracy {float(row['accuracy']):.3f} vs "
            f"{float(base['accuracy']):.3f}, {change} (target: at most {points:g} lost"
            f"{_met(lost <= points, judged)})"
        )
    if not judged:
        lines.append(f"(the targets are set for the MLP with {TARGET_WIDTH} hidden units or more; "
                     f"this one has {width}, so they do not apply here)")  # fmt: skip
    return lines


def _met(ok: bool, judged: bool = True) -> str:
    if not judged:
        return ""
    return ": met" if ok else ": MISSED"


def ptq_qat_report(results: Mapping[int, tuple[float, float]], fp32: float, n: int) -> list[str]:
    """One line per width: accuracy after rounding the trained weights (PTQ) against fp32,
    and after training with fake quantization (QAT) against rounding only and against fp32,
    each difference with its noise band and verdict."""
    words = {"tie": "a tie", "higher": "higher", "lower": "lower"}
    lines = []
    for bits, (ptq, qat) in sorted(results.items()):
        lines.append(
            f"{bits:2d} bits: rounding only {ptq:.3f} ({_points(ptq, fp32, n)} vs fp32: "
            f"{words[accuracy_verdict(ptq, fp32, n)]}); "
            + accuracy_sentence("QAT", qat, "rounding only", ptq, n)
            + f"; QAT vs fp32: {words[accuracy_verdict(qat, fp32, n)]}"
        )
    return lines


def _points(p: float, p0: float, n: int) -> str:
    band = noise.difference_band(noise.sampling_error(p, n), noise.sampling_error(p0, n))
    return f"{100 * (p - p0):+.1f} points, noise ±{100 * band:.1f}"


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
