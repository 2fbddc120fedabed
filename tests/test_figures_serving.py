"""Notebook 11's checks, /metrics parsing, load-test table and figure, and computed
sentences (labkit.figures.serving)."""

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from labkit.figures import serving as figs
from labkit.loadtest import LoadResult
from labkit.validate import ConfigError


def test_the_checks_name_the_parameter_and_its_limits():
    assert [figs.check_hidden(h) for h in (0, 16, 4096)] == [0, 16, 4096]
    for bad in (8, 4097):
        with pytest.raises(ConfigError, match=r"hidden must be 0 \(the course MLP\) or from 16"):
            figs.check_hidden(bad)
    with pytest.raises(ConfigError, match="hidden must be an integer"):
        figs.check_hidden(True)
    assert figs.levels_for(16) == [1, 4, 16] and figs.levels_for(2) == [1, 2, 4, 16]
    assert figs.levels_for(64) == [1, 4, 16, 64]
    with pytest.raises(ConfigError, match="concurrency must be at most 64"):
        figs.levels_for(65)
    assert figs.check_requests(64, [1, 4, 16]) == 64
    with pytest.raises(ConfigError, match="requests must be an integer >= 256"):
        figs.check_requests(255, [1, 64])
    assert [figs.check_rounds(r) for r in (3, 20)] == [3, 20]
    with pytest.raises(ConfigError, match="rounds must be an integer >= 3"):
        figs.check_rounds(2)
    with pytest.raises(ConfigError, match="rounds must be at most 20"):
        figs.check_rounds(21)


def _scrape(ok: int, seconds: list[float]) -> str:
    registry = CollectorRegistry()
    requests = Counter("labkit_requests", "requests", ["path", "status"], registry=registry)
    latency = Histogram("labkit_request_seconds", "latency", registry=registry, buckets=(0.01, 1))
    requests.labels("/predict", "200").inc(ok)
    requests.labels("/predict", "422").inc(1)
    for s in seconds:
        latency.observe(s)
    return generate_latest(registry).decode()


def test_metric_samples_key_by_name_and_labels_and_drop_timestamps():
    samples = figs.metric_samples(_scrape(3, [0.005, 0.5]))
    assert samples['labkit_requests_total{path="/predict",status="200"}'] == 3.0
    assert samples["labkit_request_seconds_count"] == 2.0
    assert samples["labkit_request_seconds_sum"] == pytest.approx(0.505)
    assert samples['labkit_request_seconds_bucket{le="0.01"}'] == 1.0
    assert not any("_created" in name for name in samples)


def test_moved_keeps_only_what_changed_and_no_buckets():
    before = figs.metric_samples(_scrape(3, [0.005]))
    after = figs.metric_samples(_scrape(5, [0.005, 0.5]))
    change = figs.moved(before, after)
    assert change.loc['labkit_requests_total{path="/predict",status="200"}', "change"] == 2.0
    assert 'labkit_requests_total{path="/predict",status="422"}' not in change.index  # unchanged
    assert change.loc["labkit_request_seconds_count", "change"] == 1.0
    assert not any("_bucket" in name for name in change.index)
    assert list(change.columns) == ["before", "after", "change"]


def _result(concurrency: int, rps: float, p50: float, p99: float) -> LoadResult:
    return LoadResult(concurrency, 100, 100 / rps, p50, p50, p99, rps, {200: 100}, 0)


def _rounds(concurrency: int, rps: list[float], p50: float = 1.0, p99: float = 2.0):
    """One LoadResult per round, at the throughputs `rps`."""
    return [_result(concurrency, r, p50, p99) for r in rps]


def test_the_table_and_figure_hold_every_mode_and_level():
    results = {(mode, c): _result(c, 100.0 * c * (2 if mode == "batching" else 1), c, 2.0 * c)
               for c in (1, 4, 16) for mode in figs.MODES}  # fmt: skip
    table = figs.load_table(results)
    assert len(table) == 6 and table.loc[("batching", 16), "throughput_rps"] == 3200
    assert "rows_per_call" not in table.columns and set(table.tests) == {1}
    calls = {key: 1.0 if key[0] == "direct" else key[1] / 2 for key in results}
    assert figs.load_table(results, calls).loc[("batching", 16), "rows_per_call"] == 8.0
    assert {"p50_ms", "p99_ms", "throughput_rps", "errors_5xx"} <= set(table.columns)
    fig = figs.load_figure(table, concurrency=16)
    through, tail = fig.axes
    assert through.get_title() == "throughput" and tail.get_title() == "latency"
    lines = [line for line in through.get_lines() if line.get_label() in figs.MODES]
    assert [line.get_label() for line in lines] == ["direct", "batching"]  # MODES' order
    assert through.get_ylim()[0] == 0 and tail.get_ylim()[0] == 0
    batching = next(line for line in lines if line.get_label() == "batching")
    assert list(batching.get_xdata()) == [1, 4, 16]
    assert list(batching.get_ydata()) == [200, 800, 3200]
    assert len([line for line in tail.get_lines() if "p99" in line.get_label()]) == 2


def test_rounds_give_medians_ranges_and_bars_and_no_fixed_noise_claim():
    results = {(m, 16): _rounds(16, [1000, 1400, 800] if m == "direct" else [900, 1300, 1200])
               for m in figs.MODES}  # fmt: skip
    results["direct", 16][1] = _result(16, 1400, 1.0, 9.0)  # one slow tail
    table = figs.load_table(results)
    row = table.loc[("direct", 16)]
    assert (row.tests, row.throughput_rps, row.throughput_min, row.throughput_max) == (
        3, 1000, 800, 1400)  # fmt: skip
    assert (row.p99_ms, row.p99_min, row.p99_max) == (2.0, 2.0, 9.0) and row.errors_5xx == 0
    fig = figs.load_figure(table, 16)
    through, tail = fig.axes
    bars = [c for c in through.collections if c.get_segments()]
    assert sorted(tuple(seg[:, 1]) for c in bars for seg in c.get_segments()) == [
        (800.0, 1400.0), (900.0, 1300.0)]  # fmt: skip
    tails = [tuple(seg[:, 1]) for c in tail.collections for seg in c.get_segments()]
    assert sorted(tails) == [(2.0, 2.0), (2.0, 9.0)]  # p99: lowest to highest round
    title = fig.get_suptitle()
    assert "median of 3 load tests" in title and "lowest to the highest" in title
    assert "10 %" not in title and "noise" not in title  # the old title's fixed claim


def test_a_verdict_needs_every_round_beyond_the_margin():
    # A review's six back-to-back rounds at concurrency 16 (batched / direct throughput):
    # the first alone said 1.38x "higher"; the rounds together are a tie.
    review = [1.38, 1.11, 1.19, 1.12, 0.92, 0.77]
    assert figs.ratio_verdict(review[:1]) == "higher" and figs.ratio_verdict(review) == "tie"
    assert figs.ratio_verdict([0.23, 0.27, 0.25]) == "lower"  # concurrency 1: it holds
    assert figs.ratio_verdict([1.2, 1.3, 1.15]) == "higher"
    assert figs.ratio_verdict([1.2, 1.05, 1.3]) == "tie"  # one round inside 10 %
    # latencies: the ratio batched / direct, judged the same way
    assert figs.ratio_verdict([3.0, 5.9, 2.0], lower_is_better=True) == "higher"
    assert figs.ratio_verdict([0.5, 0.8, 0.7], lower_is_better=True) == "lower"
    assert figs.ratio_verdict([0.5, 1.8, 0.7], lower_is_better=True) == "tie"


def test_sentences_say_what_the_rounds_say():
    direct = _rounds(16, [1000, 1000, 1000], 5, 10)
    batched = [_result(16, 1380, 4, 8), _result(16, 770, 4, 8), _result(16, 1190, 4, 30)]
    said = figs.batching_sentence(16, direct, batched)
    assert "batching gave 1,190 vs 1,000 requests/s (medians), 1.19× (0.77–1.38× over 3 rounds)"\
        in said and "a tie: not every round beyond 10% the same way" in said  # fmt: skip
    assert "p99 8.0 vs 10.0 ms, 0.80× (0.80–3.00× over 3 rounds), a tie" in said
    more = figs.batching_sentence(1, _rounds(1, [1000] * 3, 1, 2), _rounds(1, [250] * 3, 3, 9))
    assert "0.25× (0.25–0.25× over 3 rounds), lower in every round" in more
    assert "p99 9.0 vs 2.0 ms, 4.50× (4.50–4.50× over 3 rounds), higher in every round" in more
    with pytest.raises(ValueError):  # rounds are pairs: as many of each
        figs.batching_sentence(16, direct, batched[:2])
    slow = figs.wait_sentence(_rounds(1, [800] * 3, 1.2), _rounds(1, [300] * 3, 3.5), 2)
    assert "3.50 ms vs 1.20 ms without (medians; max wait 2 ms; 2.92–2.92× over 3 rounds)" in slow
    assert "slower by 2.30 ms" in slow
    same = [_result(1, 800, p, 1.5) for p in (1.2, 1.25, 1.15)]
    assert "a lone request is not held back" in figs.wait_sentence(_rounds(1, [800] * 3, 1.2),
                                                                   same, 2)  # fmt: skip
    mixed = [_result(1, 800, p, 1.5) for p in (1.0, 1.5, 1.25)]
    assert "a tie" in figs.wait_sentence(_rounds(1, [800] * 3, 1.2), mixed, 0)
    pays = figs.pays_sentence(0.01, 0.02, 16, 0.5)
    assert "16 one-row calls: 0.160 ms" in pays and "saves 0.140 ms" in pays and "is 2%" in pays


def test_the_fill_sentence_says_why_batches_closed_from_the_servers_counts():
    under = figs.fill_sentence(16, 13.8, 64, 2.0, {"quiet": 70.0, "wait": 3.0})
    assert "there are only 16 clients" in under and "fewer than --max-batch 64: no batch can" \
        in under  # fmt: skip
    assert "13.8 rows per model call, and of 73 batches 0 filled, 70 closed when no other " \
        "request was on hand and 3 when max_wait_ms (2 ms) was up" in under  # fmt: skip
    full = figs.fill_sentence(64, 40.2, 64, 2.0, {"full": 5.0, "quiet": 1.0, "wait": 0.0})
    assert "there are 64 clients, enough to fill a batch of --max-batch 64" in full
    assert "of 6 batches 5 filled" in full


def test_batching_counts_read_calls_and_close_reasons_from_metrics():
    text = ("# TYPE labkit_model_call_rows histogram\nlabkit_model_call_rows_count 7.0\n"
            "labkit_model_call_rows_sum 20.0\n# TYPE labkit_batch_closes counter\n"
            'labkit_batch_closes_total{reason="quiet"} 5.0\n'
            'labkit_batch_closes_total{reason="full"} 2.0\n')  # fmt: skip
    assert figs.batching_counts(text) == {"calls": 7.0, "full": 2.0, "quiet": 5.0, "wait": 0.0}


def test_the_controls_start_at_validated_values_and_read_back():
    ui = figs.ServingControls(concurrency=10, batching=True)
    assert ui.values() == {"concurrency": 10, "batching": True}
    assert list(ui.concurrency.options) == [1, 2, 4, 8, 10, 16, 32, 64]  # the parameter's too
    ui.concurrency.value, ui.batching.value = 64, False
    assert ui.values() == {"concurrency": 64, "batching": False}
    assert figs.ServingControls().values() == {"concurrency": 16, "batching": False}
    with pytest.raises(ConfigError, match="concurrency must be at most 64"):
        figs.ServingControls(concurrency=65)
    with pytest.raises(ConfigError, match="batching must be True or False"):
        figs.ServingControls(batching="yes")
    assert [figs.tried_requests(c) for c in (1, 25, 64)] == [100, 100, 256]


def test_your_own_test_is_named_placed_in_the_rounds_range_and_drawn():
    table = figs.load_table({(m, c): _rounds(c, [100.0 * c, 120.0 * c, 80.0 * c], c, 2.0 * c)
                             for c in (1, 4, 16) for m in figs.MODES})  # fmt: skip
    mine = _result(16, 2000, 3, 9)
    line = figs.tried_sentence("batching", mine, table)
    assert line.startswith("batching on, concurrency 16, 100 requests: p50 3.00 ms, p99 9.00 ms")
    assert "2,000 requests/s, 0 errors" in line
    assert "; above all the 3 tests above at these settings (1,280 to 1,920 requests/s)" in line
    assert "press again" in line
    inside = figs.tried_sentence("direct", _result(16, 1500, 3, 9), table)
    assert inside.endswith("; inside the range of the 3 tests above at these settings (1,280 "
                           "to 1,920 requests/s)")  # fmt: skip
    assert "below all the 3 tests" in figs.tried_sentence("direct", _result(16, 900, 3, 9), table)
    off = figs.tried_sentence("direct", _result(8, 500, 1, 2), table)
    assert off.startswith("batching off, concurrency 8") and "no load test above" in off
    fig = figs.load_figure(table, 8, tried=("direct", _result(8, 500, 1, 2)))
    through, tail = fig.axes
    star = next(line for line in through.get_lines() if line.get_label() == "your test (direct)")
    assert list(star.get_xdata()) == [8] and list(star.get_ydata()) == [500]
    assert star.get_color() == next(x for x in through.get_lines() if x.get_label() == "direct"
                                    ).get_color()  # fmt: skip
    assert [t.get_text() for t in through.get_xticklabels()] == ["1", "4", "8", "16"]
    assert any(line.get_label() == "your test (direct) p99" for line in tail.get_lines())
