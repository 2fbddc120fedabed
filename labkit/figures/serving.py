"""Notebook 11 (serving): parameter checks, /metrics parsing, the load-test table and figure,
the computed sentences comparing a server with and without dynamic batching, and the controls
of the learner's own load test (`ServingControls`, `tried_sentence`).

A load test is one closed-loop run per concurrency level on a shared machine, so a single
throughput or latency ratio moves by several per cent between runs: `ratio_verdict` calls
a difference under `labkit.bench.SAME_SPEED` (10 %) a tie, and every sentence here says
which way each comparison went from the numbers it is given, never from expectation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from labkit.bench import SAME_SPEED
from labkit.validate import ConfigError, check_bool, check_int

LEVELS = (1, 4, 16)  # concurrency levels every run measures, besides the `concurrency` parameter
MAX_CONCURRENCY = 64  # connections at once: threads in the client, beside the server
MODES = ("direct", "batching")  # the two servers: one model call per request, or gathered
TRY_LEVELS = (1, 2, 4, 8, 16, 32, 64)  # the concurrency slider's stops, besides the parameter


def check_hidden(hidden: Any) -> int:
    """0 (the course MLP, 64-128-10) or a width from 16 to 4096 for a 64-h-h-10 MLP."""
    check_int("hidden", hidden, minimum=0)
    if hidden != 0 and not 16 <= hidden <= 4096:
        raise ConfigError(f"hidden must be 0 (the course MLP) or from 16 to 4096; got {hidden!r}")
    return hidden


def check_concurrency(concurrency: Any) -> int:
    """The concurrency level reported in metrics.json: from 1 to MAX_CONCURRENCY."""
    if check_int("concurrency", concurrency, minimum=1) > MAX_CONCURRENCY:
        raise ConfigError(f"concurrency must be at most {MAX_CONCURRENCY}; got {concurrency!r}")
    return concurrency


def levels_for(concurrency: int) -> list[int]:
    """The concurrency levels to measure: LEVELS and `concurrency`, in order."""
    return sorted({*LEVELS, check_concurrency(concurrency)})


def check_requests(requests: Any, levels: Sequence[int]) -> int:
    """Requests per load test: at least 4 per connection at the largest level, so that
    every connection sends several and the percentiles rest on more than one round."""
    return check_int("requests", requests, minimum=4 * max(levels))


def tried_requests(concurrency: int) -> int:
    """Requests in one press of the load-test button: 100, or 4 per connection when more."""
    return max(100, 4 * check_concurrency(concurrency))


class ServingControls:
    """The widgets of one load test of your own: `values()` returns {'concurrency',
    'batching'} (batching: whether the server gathers requests into one model call)."""

    def __init__(self, concurrency: int = 16, batching: bool = False) -> None:
        import ipywidgets as w

        check_concurrency(concurrency)
        check_bool("batching", batching)
        style = {"description_width": "90px"}
        self.concurrency = w.SelectionSlider(
            options=sorted({*TRY_LEVELS, concurrency}), value=concurrency,
            description="concurrency", style=style, continuous_update=False,
        )  # fmt: skip
        self.batching = w.ToggleButtons(
            options=[("off", False), ("on", True)], value=batching, description="batching",
            style=style,
        )  # fmt: skip
        self.box = w.VBox([self.concurrency, self.batching])

    def values(self) -> dict[str, Any]:
        return {"concurrency": int(self.concurrency.value), "batching": bool(self.batching.value)}

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        return self.box._repr_mimebundle_(**kwargs)


def metric_samples(text: str) -> dict[str, float]:
    """Prometheus text as {'name{label="v",…}': value}, without the `_created` timestamps
    (they are not counts)."""
    from prometheus_client.parser import text_string_to_metric_families

    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.endswith("_created"):
                continue
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            samples[f"{s.name}{{{labels}}}" if labels else s.name] = float(s.value)
    return samples


def moved(before: Mapping[str, float], after: Mapping[str, float]) -> pd.DataFrame:
    """The samples whose value changed between two scrapes (histogram buckets left out:
    their `_count` and `_sum` say the same in two lines), with before, after and the change."""
    rows = [
        (name, before.get(name, 0.0), value, value - before.get(name, 0.0))
        for name, value in after.items()
        if "_bucket" not in name and value != before.get(name, 0.0)
    ]
    return pd.DataFrame(rows, columns=["sample", "before", "after", "change"]).set_index("sample")


def load_table(
    results: Mapping[tuple[str, int], Any],
    rows_per_call: Mapping[tuple[str, int], float] | None = None,
) -> pd.DataFrame:
    """One row per (mode, concurrency) from `labkit.loadtest.LoadResult`s, with the rows per
    model call the server counted during each test when `rows_per_call` gives them."""
    rows = []
    for (mode, level), result in results.items():
        rows.append({"mode": mode, **result.row()})
        if rows_per_call is not None:
            rows[-1]["rows_per_call"] = rows_per_call[mode, level]
    table = pd.DataFrame(rows).set_index(["mode", "concurrency"]).sort_index()
    return table.drop(columns=["requests"])


def load_figure(
    table: pd.DataFrame, concurrency: int | None = None, tried: tuple[str, Any] | None = None
) -> Figure:
    """Two panels against concurrency, one line per mode: throughput, and p99 latency
    (with p50 dashed). `concurrency` (the reported level) is marked; `tried`, a (mode,
    LoadResult) of one more test, is drawn as a star in its mode's colour."""
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    colors = {}
    through, tail = fig.subplots(1, 2)
    present = list(dict.fromkeys(table.index.get_level_values("mode")))
    for mode in sorted(present, key=lambda m: MODES.index(m) if m in MODES else len(MODES)):
        rows = table.xs(mode, level="mode")
        level = rows.index.get_level_values("concurrency")
        (line,) = through.plot(level, rows.throughput_rps, "o-", label=mode)
        colors[mode] = line.get_color()
        tail.plot(level, rows.p99_ms, "o-", color=line.get_color(), label=f"{mode} p99")
        tail.plot(level, rows.p50_ms, "s--", color=line.get_color(), alpha=0.6,
                  label=f"{mode} p50")  # fmt: skip
    levels = set(table.index.get_level_values("concurrency"))
    if tried is not None:
        mode, result = tried
        color = colors.get(mode, "black")
        through.plot([result.concurrency], [result.throughput_rps], "*", ms=14, color=color,
                     mec="black", label=f"your test ({mode})")  # fmt: skip
        tail.plot([result.concurrency], [result.p99_ms], "*", ms=14, color=color, mec="black",
                  label=f"your test ({mode}) p99")  # fmt: skip
        levels.add(result.concurrency)
    for ax, title, unit in ((through, "throughput", "requests / s"), (tail, "latency", "ms")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrency (connections at once)")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.set_ylim(bottom=0)
        if concurrency is not None:
            ax.axvline(concurrency, color="grey", lw=0.8, ls=":")
        ax.legend(fontsize=8)
    levels = sorted(levels)
    through.set_xticks(levels, [str(v) for v in levels])
    tail.set_xticks(levels, [str(v) for v in levels])
    fig.suptitle("one load test per point: differences under 10 % are noise here")
    return fig


def ratio_verdict(ratio: float, margin: float = SAME_SPEED) -> str:
    """'higher' / 'lower' when `ratio` (this / baseline) is more than `margin` away from 1,
    else 'tie' (one measurement per side: a shared machine moves it that much)."""
    if ratio > 1 + margin:
        return "higher"
    if ratio < 1 / (1 + margin):
        return "lower"
    return "tie"


def batching_sentence(level: int, direct: Any, batched: Any, margin: float = SAME_SPEED) -> str:
    """What batching did at one concurrency level: throughput and p99, each a ratio with
    its verdict (a tie inside `margin`). `direct` and `batched` are LoadResults."""
    through = batched.throughput_rps / direct.throughput_rps
    tail = batched.p99_ms / direct.p99_ms
    words = {"higher": "higher", "lower": "lower", "tie": "a tie"}
    return (
        f"concurrency {level}: batching gave {batched.throughput_rps:,.0f} vs "
        f"{direct.throughput_rps:,.0f} requests/s ({through:.2f}×, "
        f"{words[ratio_verdict(through, margin)]}); p99 {batched.p99_ms:.1f} vs "
        f"{direct.p99_ms:.1f} ms ({tail:.2f}×, {words[ratio_verdict(tail, margin)]})"
    )


def wait_sentence(direct: Any, batched: Any, max_wait_ms: float) -> str:
    """At concurrency 1 a batched request has no company: it waits up to `max_wait_ms`
    for nothing. Says what the p50s show, tie or not."""
    extra = batched.p50_ms - direct.p50_ms
    verdict = ratio_verdict(batched.p50_ms / direct.p50_ms)
    if verdict == "higher":
        how = f"slower by {extra:.1f} ms: a lone request waits for company that never comes"
    elif verdict == "lower":
        how = f"faster by {-extra:.1f} ms, a surprise: rerun to see whether it holds"
    else:
        how = "a tie: at this wait the cost is lost in the noise"
    return (
        f"at concurrency 1, p50 with batching {batched.p50_ms:.2f} ms vs {direct.p50_ms:.2f} ms "
        f"without (max wait {max_wait_ms:g} ms): {how}"
    )


def pays_sentence(one_row_ms: float, batch_ms: float, rows: int, request_ms: float) -> str:
    """Whether batching can pay, from the model's own cost: `rows` one-row calls cost
    rows × one_row_ms, one call on `rows` rows batch_ms; an HTTP request costs request_ms."""
    saved = rows * one_row_ms - batch_ms
    share = one_row_ms / request_ms
    return (
        f"the model takes {one_row_ms:.3f} ms for 1 row and {batch_ms:.3f} ms for {rows} rows "
        f"in one call ({rows} one-row calls: {rows * one_row_ms:.3f} ms), so gathering {rows} "
        f"requests saves {saved:.3f} ms of model time; one request costs {request_ms:.2f} ms "
        f"end to end at concurrency 1, of which the model is {share:.0%}"
    )


def tried_sentence(mode: str, result: Any, table: pd.DataFrame | None = None) -> str:
    """One line on a load test of your own (`result`, a LoadResult, against the `mode`
    server): its settings and numbers, and the ratio to the table's test at the same mode and
    concurrency when there is one (a tie inside SAME_SPEED)."""
    level = result.concurrency
    line = (
        f"batching {'on' if mode == 'batching' else 'off'}, concurrency {level}, "
        f"{result.requests} requests: p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
        f"{result.throughput_rps:,.0f} requests/s, {result.errors_4xx + result.errors_5xx} "
        f"errors, {result.failures} lost connections"
    )
    if table is None or (mode, level) not in table.index:
        return line + "; no load test above at these settings to compare with"
    before = table.loc[(mode, level), "throughput_rps"]
    ratio = result.throughput_rps / before
    words = {"higher": "higher", "lower": "lower", "tie": "a tie"}[ratio_verdict(ratio)]
    return (
        line
        + f"; the test above at these settings: {before:,.0f} requests/s ({ratio:.2f}×, {words})"
    )
