"""Notebook 10 (export): its controls, the latency figure and the computed verdicts.

`ExportControls` holds the widgets of the latency comparison (ONNX Runtime's graph
optimization level, the threads, the larger batch). A speed ratio between two runtimes comes
with its spread: `labkit.bench.speedup_rounds` times them all, interleaved, in several
rounds, and `speed_sentence` calls a ratio a tie unless every round agrees by more than
`labkit.bench.SAME_SPEED`, since a shared machine moves single timings that much;
`relative` turns the rounds' ratios against one baseline into ratios between any two
runtimes, round by round. `latency_figure` draws the median latency of each runtime from a
`labkit.bench.comparison_table`, and `choice_report` says, from the rounds, which runtime
was faster here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from labkit.bench import SAME_SPEED, ratio_phrase, speed_verdict
from labkit.export import OPT_LEVELS
from labkit.validate import ConfigError, check_choice, check_int

if TYPE_CHECKING:
    import pandas as pd

BATCHES = (2, 8, 16, 32, 64, 128, 256, 360)  # larger batches to time beside batch 1


def check_batch(batch: Any, rows: int = 360) -> int:
    """The larger batch timed beside batch 1: from 2 to `rows` (the test rows)."""
    if check_int("batch", batch, minimum=2) > rows:
        raise ConfigError(f"batch must be at most {rows}, the test rows; got {batch!r}")
    return batch


def check_threads(threads: Any) -> int:
    """CPU threads for timing: from 1 to the cores of this machine."""
    cores = os.cpu_count() or 1
    if check_int("threads", threads, minimum=1) > cores:
        raise ConfigError(f"threads must be at most {cores}, the CPU cores here; got {threads!r}")
    return threads


class ExportControls:
    """The latency comparison's widgets; `values()` returns {'optimization', 'threads',
    'batch'}."""

    def __init__(self, optimization: str = "all", threads: int = 1, batch: int = 64) -> None:
        import ipywidgets as w

        check_choice("optimization", optimization, OPT_LEVELS)
        check_threads(threads)
        check_batch(batch)
        style = {"description_width": "110px"}
        self.optimization = w.Dropdown(
            options=OPT_LEVELS, value=optimization, description="ORT optimization", style=style
        )
        self.threads = w.IntSlider(
            value=threads, min=1, max=os.cpu_count() or 1, description="threads", style=style,
            continuous_update=False,
        )  # fmt: skip
        self.batch = w.Dropdown(
            options=sorted(set(BATCHES) | {batch}), value=batch, description="larger batch",
            style=style,
        )  # fmt: skip
        self.box = w.VBox([self.optimization, self.threads, self.batch])

    def values(self) -> dict[str, Any]:
        return {
            "optimization": str(self.optimization.value),
            "threads": int(self.threads.value),
            "batch": int(self.batch.value),
        }

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        return self.box._repr_mimebundle_(**kwargs)


def relative(ratios: Mapping[str, Sequence[float]], name: str, against: str) -> list[float]:
    """Per round, `against`'s latency / `name`'s, from `speedup_rounds` ratios (baseline /
    runtime, every runtime timed in every round); a name missing from `ratios` is the
    baseline itself (ratio 1)."""
    k = len(next(iter(ratios.values())))
    a, b = ratios.get(name, [1.0] * k), ratios.get(against, [1.0] * k)
    return [x / y for x, y in zip(a, b, strict=True)]


def speed_sentence(name: str, baseline: str, ratios: Sequence[float], batch: int) -> str:
    """One line: the median ratio, its range over the rounds (in the direction of the
    words), and the verdict: a tie unless every round agrees beyond SAME_SPEED."""
    median = float(np.median(ratios))
    low, high = min(ratios), max(ratios)
    if speed_verdict(ratios) == "tie":
        return (f"{name} vs {baseline} at batch {batch}: {median:.2f}× ({low:.2f}–{high:.2f}× "
                f"over {len(ratios)} rounds): a tie, the rounds disagree or differ by less than "
                f"{SAME_SPEED:.0%}")  # fmt: skip
    if median < 1:
        low, high = 1 / high, 1 / low
    spread = f"{low:.2f}–{high:.2f}× over {len(ratios)} rounds"
    return f"{name} is {ratio_phrase(median)} than {baseline} at batch {batch} ({spread})"


def int8_report(gains: Mapping[str, Sequence[float]], batch: int) -> str:
    """Whether int8 paid more on the wide MLP than on the course MLP: `gains` maps the two
    models' names (course first) to the rounds' ratios ORT fp32 / ORT int8 at `batch`."""
    (course, small), (wide, large) = gains.items()
    said = {name: speed_verdict(r) for name, r in gains.items()}
    head = (
        f"int8 over fp32 at batch {batch}: {float(np.median(small)):.2f}× on the {course} "
        f"({said[course]}), {float(np.median(large)):.2f}× on the {wide} ({said[wide]}), "
        "medians of the rounds: "
    )
    if said[wide] == "faster" and said[course] != "faster":
        return head + (
            "int8 pays where the time goes into large matrix products, not where it is the "
            "fixed cost of a call"
        )
    if said[wide] == said[course] == "faster":
        return head + "int8 paid on both models at these settings"
    return head + "at these settings int8 did not pay more on the wider model"


def target_line(what: str, value: float, target: float, ratios: Sequence[float] = ()) -> str:
    """'what: 2.31× (target ≥ 2×: met)', with the rounds' range when given; a miss says so."""
    spread = f", {min(ratios):.2f}–{max(ratios):.2f}× over {len(ratios)} rounds" if ratios else ""
    verdict = "met" if value >= target else "MISSED at these settings"
    return f"{what}: {value:.2f}×{spread} (target ≥ {target:g}×: {verdict})"


def ops_table(graphs: Mapping[str, Mapping[str, int]]) -> str:
    """Operator counts per graph (e.g. per optimization level), one line each."""
    width = max(len(name) for name in graphs)
    lines = []
    for name, ops in graphs.items():
        counted = ", ".join(f"{op} ×{n}" if n > 1 else op for op, n in sorted(ops.items()))
        lines.append(f"{name:{width}s}  {sum(ops.values()):2d} nodes: {counted}")
    return "\n".join(lines)


def latency_figure(table: pd.DataFrame, batches: Sequence[int]) -> Figure:
    """Median latency per runtime (rows of `table`, a comparison_table, or several stacked
    with a (model, runtime) index), one panel per batch size, on a log scale; each bar is
    labelled with its speed ratio to the first row of its model."""
    fig = Figure(figsize=(5 * len(batches), 0.45 * len(table) + 1.4), layout="constrained")
    axes = fig.subplots(1, len(batches), sharey=True, squeeze=False)[0]
    labels = [" · ".join(map(str, i)) if isinstance(i, tuple) else str(i) for i in table.index]
    groups = [i[0] if isinstance(i, tuple) else "" for i in table.index]
    colors = {g: f"C{k}" for k, g in enumerate(dict.fromkeys(groups))}
    y = np.arange(len(table))[::-1]
    for ax, b in zip(axes, batches, strict=True):
        p50 = table[f"p50_b{b}_ms"].to_numpy()
        ax.barh(y, p50, color=[colors[g] for g in groups])
        for yi, value, ratio in zip(y, p50, table[f"speedup_b{b}"], strict=True):
            ax.text(value, yi, f" {value:.3g} ms ({ratio:.2f}×)", va="center", fontsize=8)
        ax.set_xscale("log")
        ax.set_xlim(p50.min() / 2, p50.max() * 12)
        ax.set_title(f"batch {b}")
        ax.set_xlabel("median ms per call (log scale)")
    axes[0].set_yticks(y, labels)
    fig.suptitle("latency of each runtime (×: speed against PyTorch eager, same model)")
    return fig


def choice_report(
    table: pd.DataFrame, speed: Mapping[int, Mapping[str, Sequence[float]]], model: str
) -> str:
    """ONNX Runtime or LiteRT for `model`, from its rows of `table` (a (model, runtime)-indexed
    stack of comparison tables) for the bytes, and from the rounds (`speed`: per batch size,
    `speedup_rounds` ratios against PyTorch eager) for the speed: which one was faster on
    this machine at each batch size, or a tie."""
    rows = table.loc[model]
    onnx, litert = rows.loc["ORT fp32"], rows.loc["LiteRT fp32"]
    lines = [f"{model}: the LiteRT file is {litert.bytes / 1e3:,.1f} kB, the ONNX file "
             f"{onnx.bytes / 1e3:,.1f} kB (the same fp32 weights; the rest is graph and "
             "format)"]  # fmt: skip
    picks = {}
    for b, ratios in speed.items():
        ratio = relative(ratios, "LiteRT fp32", "ORT fp32")
        lines.append(speed_sentence("LiteRT", "ONNX Runtime", ratio, b))
        picks[b] = {"faster": "LiteRT", "slower": "ONNX Runtime", "tie": "either (a tie)"}[
            speed_verdict(ratio)
        ]
    lines.append(
        f"{model}, the faster runtime for raw speed on this CPU: "
        + ", ".join(f"{pick} at batch {b}" for b, pick in picks.items())
    )
    return "\n".join(lines)
