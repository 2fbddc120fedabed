"""Notebook 11 (serving): parameter checks, /metrics parsing, the load-test table and figure,
the computed sentences comparing a server with and without dynamic batching, and the controls
of the learner's own load test (`ServingControls`, `tried_sentence`).

A load test is one closed-loop run on a shared machine: the same test repeated moves by
up to 2× in throughput and more in p99. So each point is measured in several rounds, the two
servers tested back to back in an order that alternates, and a comparison is judged on the
rounds' ratios with the course's rule for speed, `labkit.bench.speed_verdict`: higher or
lower only when every round says so by more than `SAME_SPEED`, else a tie. Tables and
figures show the median and the lowest and highest of the rounds; every sentence here says
which way each comparison went from the numbers it is given, never from expectation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from labkit.bench import SAME_SPEED, speed_verdict
from labkit.validate import ConfigError, check_bool, check_int

LEVELS = (1, 4, 16)  # concurrency levels every run measures, besides the `concurrency` parameter
MAX_CONCURRENCY = 64  # connections at once: threads in the client, beside the server
CLOSE_REASONS = ("full", "quiet", "wait")  # why the server's batches closed (labkit.serve)
MODES = ("direct", "batching")  # the two servers: one model call per request, or gathered
TRY_LEVELS = (1, 2, 4, 8, 16, 32, 64)  # the concurrency slider's stops, besides the parameter
MAX_ROUNDS = 20  # load tests per point, at most


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


def check_rounds(rounds: Any) -> int:
    """Load tests per (server, concurrency) point: at least 3, so that a median and a range
    exist and one odd test cannot decide a verdict alone; at most MAX_ROUNDS."""
    if check_int("rounds", rounds, minimum=3) > MAX_ROUNDS:
        raise ConfigError(f"rounds must be at most {MAX_ROUNDS}; got {rounds!r}")
    return rounds


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


def _runs(value: Any) -> list[Any]:
    """One LoadResult or a sequence of them (the rounds of one point), as a list."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def load_table(
    results: Mapping[tuple[str, int], Any],
    rows_per_call: Mapping[tuple[str, int], float] | None = None,
) -> pd.DataFrame:
    """One row per (mode, concurrency) from `labkit.loadtest.LoadResult`s, one per round (a
    single LoadResult is one round): `tests`, the medians of p50, p90, p99 and throughput,
    the lowest and highest p99 and throughput (`p99_min`, …), errors and failures summed
    over the rounds, and the rows per model call the server counted when `rows_per_call`
    gives them."""
    rows = []
    for (mode, level), value in results.items():
        runs = _runs(value)
        row: dict[str, Any] = {"mode": mode, "concurrency": level, "tests": len(runs)}
        for name in ("p50_ms", "p90_ms", "p99_ms", "throughput_rps"):
            row[name] = float(np.median([getattr(r, name) for r in runs]))
            if name in ("p99_ms", "throughput_rps"):
                short = name.split("_")[0]
                row[f"{short}_min"] = min(getattr(r, name) for r in runs)
                row[f"{short}_max"] = max(getattr(r, name) for r in runs)
        for name in ("errors_4xx", "errors_5xx", "failures"):
            row[name] = sum(getattr(r, name) for r in runs)
        if rows_per_call is not None:
            row["rows_per_call"] = rows_per_call[mode, level]
        rows.append(row)
    return pd.DataFrame(rows).set_index(["mode", "concurrency"]).sort_index()


def load_figure(
    table: pd.DataFrame, concurrency: int | None = None, tried: tuple[str, Any] | None = None
) -> Figure:
    """Two panels against concurrency, one line per mode through the medians of its rounds,
    with bars from the lowest to the highest round: throughput, and p99 latency (p50
    dashed). `concurrency` (the reported level) is marked; `tried`, a (mode, LoadResult) of
    one more test, is drawn as a star in its mode's colour."""
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    colors = {}
    through, tail = fig.subplots(1, 2)
    present = list(dict.fromkeys(table.index.get_level_values("mode")))
    for mode in sorted(present, key=lambda m: MODES.index(m) if m in MODES else len(MODES)):
        rows = table.xs(mode, level="mode")
        level = rows.index.get_level_values("concurrency")
        (line,) = through.plot(level, rows.throughput_rps, "o-", label=mode)
        color = colors[mode] = line.get_color()
        tail.plot(level, rows.p99_ms, "o-", color=color, label=f"{mode} p99")
        tail.plot(level, rows.p50_ms, "s--", color=color, alpha=0.6, label=f"{mode} p50")
        nudge = 1.04 ** (1 if mode == "batching" else -1)  # the two modes' bars side by side
        for ax, short in ((through, "throughput"), (tail, "p99")):
            if f"{short}_min" in rows:
                ax.vlines(level * nudge, rows[f"{short}_min"], rows[f"{short}_max"], color=color,
                          lw=2.5, alpha=0.45)  # fmt: skip
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
    tests = sorted(set(table["tests"])) if "tests" in table else [1]
    n = str(tests[0]) if len(tests) == 1 else f"{tests[0]} to {tests[-1]}"
    fig.suptitle(f"each point: the median of {n} load tests, its bar from the lowest to the "
                 "highest")  # fmt: skip
    return fig


def paired_ratios(direct: Any, batched: Any, name: str) -> list[float]:
    """batched / direct for the LoadResult field `name`, round by round (the two servers'
    tests of one round ran back to back, so a burst of load hits both)."""
    return [getattr(b, name) / getattr(d, name)
            for d, b in zip(_runs(direct), _runs(batched), strict=True)]  # fmt: skip


def ratio_verdict(ratios: Sequence[float], lower_is_better: bool = False) -> str:
    """'higher', 'lower' or 'tie' for batched / direct ratios, one per round, by
    `labkit.bench.speed_verdict`: higher (or lower) only when every round's ratio is more
    than SAME_SPEED above (or below) 1. `lower_is_better` for latencies: the verdict is
    still about the ratio, higher or lower."""
    said = speed_verdict(ratios if not lower_is_better else [1 / r for r in ratios])
    faster = "lower" if lower_is_better else "higher"
    slower = "higher" if lower_is_better else "lower"
    return {"faster": faster, "slower": slower, "tie": "tie"}[said]


def _ratio_words(ratios: Sequence[float], verdict: str) -> str:
    """'0.61× (0.55–1.12× over 5 rounds), a tie' and the like."""
    tie = f"a tie: not every round beyond {SAME_SPEED:.0%} the same way"
    how = {"higher": "higher in every round", "lower": "lower in every round", "tie": tie}[verdict]
    return (f"{float(np.median(ratios)):.2f}× ({min(ratios):.2f}–{max(ratios):.2f}× over "
            f"{len(ratios)} rounds), {how}")  # fmt: skip


def batching_sentence(level: int, direct: Any, batched: Any) -> str:
    """What batching did at one concurrency level, from the rounds' LoadResults of each
    server: the median throughputs and p99s, and the per-round ratios with their verdict."""
    through = paired_ratios(direct, batched, "throughput_rps")
    tail = paired_ratios(direct, batched, "p99_ms")
    d, b = _runs(direct), _runs(batched)

    def med(runs: list[Any], name: str) -> float:
        return float(np.median([getattr(r, name) for r in runs]))

    return (
        f"concurrency {level}: batching gave {med(b, 'throughput_rps'):,.0f} vs "
        f"{med(d, 'throughput_rps'):,.0f} requests/s (medians), "
        f"{_ratio_words(through, ratio_verdict(through))}; p99 {med(b, 'p99_ms'):.1f} vs "
        f"{med(d, 'p99_ms'):.1f} ms, {_ratio_words(tail, ratio_verdict(tail, True))}"
    )


def wait_sentence(direct: Any, batched: Any, max_wait_ms: float) -> str:
    """At concurrency 1 a batched request has no company, and the batcher, finding no other
    request on hand, sends it to the model at once. Says what the rounds' p50s show."""
    d = float(np.median([r.p50_ms for r in _runs(direct)]))
    b = float(np.median([r.p50_ms for r in _runs(batched)]))
    ratios = paired_ratios(direct, batched, "p50_ms")
    verdict = ratio_verdict(ratios, lower_is_better=True)
    if verdict == "higher":
        how = (f"slower by {b - d:.2f} ms: the price of the queue and of the hand-off to the "
               "model's thread")  # fmt: skip
    elif verdict == "lower":
        how = f"faster by {d - b:.2f} ms, a surprise: rerun to see whether it holds"
    else:
        how = "a tie: with no one else on hand, a lone request is not held back"
    return (
        f"at concurrency 1, p50 with batching {b:.2f} ms vs {d:.2f} ms without (medians; "
        f"max wait {max_wait_ms:g} ms; {min(ratios):.2f}–{max(ratios):.2f}× over "
        f"{len(ratios)} rounds): {how}"
    )


def batching_counts(text: str) -> dict[str, float]:
    """From a server's /metrics text: its model calls so far ("calls") and its batches by why
    they closed (`CLOSE_REASONS`; zero for a server without batching)."""
    samples = metric_samples(text)
    return {"calls": samples["labkit_model_call_rows_count"],
            **{r: samples.get(f'labkit_batch_closes_total{{reason="{r}"}}', 0.0)
               for r in CLOSE_REASONS}}  # fmt: skip


def fill_sentence(
    level: int, rows_per_call: float, max_batch: int, max_wait_ms: float,
    closes: Mapping[str, float],
) -> str:  # fmt: skip
    """How batches closed at one concurrency level, from the server's counts: `closes` maps
    each of `CLOSE_REASONS` to its batches. A closed-loop client sends its next request only
    after its answer, so a batch never holds more requests than there are clients."""
    if level < max_batch:
        clients = (f"there are only {level} clients, each sending its next request after its "
                   f"answer, fewer than --max-batch {max_batch}: no batch can fill")  # fmt: skip
    else:
        clients = f"there are {level} clients, enough to fill a batch of --max-batch {max_batch}"
    n = {r: round(closes.get(r, 0.0)) for r in CLOSE_REASONS}
    return (
        f"at concurrency {level}, {clients}; the server counted {rows_per_call:.1f} rows per "
        f"model call, and of {sum(n.values()):,} batches {n['full']:,} filled, {n['quiet']:,} "
        f"closed when no other request was on hand and {n['wait']:,} when max_wait_ms "
        f"({max_wait_ms:g} ms) was up"
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
    server): its settings and numbers, and where its throughput falls beside the range
    (lowest to highest) of the table's rounds at the same mode and concurrency, when there
    are some. One test against a range: inside it, this test is like those; outside, it is
    one more test, for a rerun to confirm."""
    level = result.concurrency
    line = (
        f"batching {'on' if mode == 'batching' else 'off'}, concurrency {level}, "
        f"{result.requests} requests: p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
        f"{result.throughput_rps:,.0f} requests/s, {result.errors_4xx + result.errors_5xx} "
        f"errors, {result.failures} lost connections"
    )
    if table is None or (mode, level) not in table.index:
        return line + "; no load test above at these settings to compare with"
    row = table.loc[(mode, level)]
    low, high = (
        row.get("throughput_min", row.throughput_rps),
        row.get("throughput_max", row.throughput_rps),
    )
    n = int(row.get("tests", 1))
    where = ("inside the range of" if low <= result.throughput_rps <= high else
             "above all" if result.throughput_rps > high else "below all")  # fmt: skip
    return (
        line + f"; {where} the {n} tests above at these settings ({low:,.0f} to {high:,.0f} "
        "requests/s)" + ("" if where.startswith("inside") else ": press again to see if it holds")
    )
