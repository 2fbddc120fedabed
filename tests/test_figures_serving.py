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


def test_the_table_and_figure_hold_every_mode_and_level():
    results = {(mode, c): _result(c, 100.0 * c * (2 if mode == "batching" else 1), c, 2.0 * c)
               for c in (1, 4, 16) for mode in figs.MODES}  # fmt: skip
    table = figs.load_table(results)
    assert len(table) == 6 and table.loc[("batching", 16), "throughput_rps"] == 3200
    assert "rows_per_call" not in table.columns
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


@pytest.mark.parametrize(
    ("ratio", "verdict"), [(1.2, "higher"), (1.05, "tie"), (0.95, "tie"), (0.8, "lower")]
)
def test_a_ratio_within_the_margin_is_a_tie(ratio, verdict):
    assert figs.ratio_verdict(ratio) == verdict


def test_sentences_say_what_the_numbers_say():
    direct, batched = _result(16, 1000, 5, 10), _result(16, 1410, 4, 8)
    assert "1.41×, higher" in figs.batching_sentence(16, direct, batched)
    assert "p99 8.0 vs 10.0 ms (0.80×, lower)" in figs.batching_sentence(16, direct, batched)
    same = figs.batching_sentence(16, direct, _result(16, 1050, 5, 10.5))
    assert "1.05×, a tie" in same and "1.05×, a tie)" in same
    slow = figs.wait_sentence(_result(1, 800, 1.2, 1.5), _result(1, 300, 3.5, 4), 2)
    assert "3.50 ms vs 1.20 ms" in slow and "slower by 2.3 ms" in slow
    assert "a tie" in figs.wait_sentence(_result(1, 800, 1.2, 1.5), _result(1, 790, 1.25, 1.5), 0)
    pays = figs.pays_sentence(0.01, 0.02, 16, 0.5)
    assert "16 one-row calls: 0.160 ms" in pays and "saves 0.140 ms" in pays and "is 2%" in pays


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


def test_your_own_test_is_named_compared_and_drawn():
    table = figs.load_table({(m, c): _result(c, 100.0 * c, c, 2.0 * c)
                             for c in (1, 4, 16) for m in figs.MODES})  # fmt: skip
    mine = _result(16, 2000, 3, 9)
    line = figs.tried_sentence("batching", mine, table)
    assert line.startswith("batching on, concurrency 16, 100 requests: p50 3.00 ms, p99 9.00 ms")
    assert "2,000 requests/s, 0 errors" in line and "1,600 requests/s (1.25×, higher)" in line
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
