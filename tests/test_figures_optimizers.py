"""labkit.figures.optimizers: notebook 02's figures have the panels and lines of the data
given, and its verdicts call a difference inside the noise a tie."""

import math
from functools import partial
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from labkit.figures import optimizers as figs
from labkit.landscapes import bowl, rosenbrock, trajectory
from labkit.optim import OPTIMIZERS, LRFinderResult
from labkit.train import History


def _history(accuracies, losses=None):
    h = History()
    for epoch, acc in enumerate(accuracies, start=1):
        loss = 0.5 if losses is None else losses[epoch - 1]
        h.append(
            {
                "epoch": epoch,
                "train_loss": loss,
                "val_loss": loss,
                "val_accuracy": acc,
                "lr": 0.1,
                "seconds": 0.01,
            }
        )
    return h


def _run(accuracies, diverged=""):
    return SimpleNamespace(history=_history(accuracies), diverged=diverged)


# ---- noise and verdicts -------------------------------------------------------------------


def test_the_sampling_error_of_an_accuracy_and_of_a_mean():
    assert figs.accuracy_error(0.97, 180) == pytest.approx(0.0127, abs=1e-4)
    assert figs.accuracy_error(0.9, 360) == pytest.approx(math.sqrt(0.09 / 360))
    assert math.isnan(figs.accuracy_error(math.nan, 180))
    values = np.r_[np.ones(90), np.zeros(10)]  # 0/1 values: an accuracy of 0.9 on 100
    assert figs.mean_error(values) == pytest.approx(math.sqrt(0.09 / 99))


def test_a_difference_inside_twice_its_noise_is_a_tie():
    # σ = √(0.03² + 0.04²) = 0.05: a tie unless |d| > 2σ = 0.1 (the old 1σ rule called 0.06 a win)
    c = figs.compare(0.5, 0.03, 0.44, 0.04)
    assert (c.verdict, c.diff, c.noise) == ("tie", pytest.approx(0.06), pytest.approx(0.05))
    assert c.limit == pytest.approx(0.1) and c.text() == "+6.0 ± 10.0 points: tie"
    assert figs.compare(0.5, 0.03, 0.4, 0.04).verdict == "tie"  # exactly 2σ: still a tie
    assert figs.compare(0.5, 0.03, 0.39, 0.04).verdict == "better"
    assert figs.compare(0.39, 0.03, 0.5, 0.04).verdict == "worse"
    assert figs.compare(0.2, 0.01, 0.3, 0.01, higher_is_better=False).verdict == "better"
    # equal errors σ0: the threshold is 2·√2·σ0
    assert figs.compare(2.8, 1.0, 0.0, 1.0).verdict == "tie"
    assert figs.compare(2.9, 1.0, 0.0, 1.0).verdict == "better"
    # equally good settings: about 5 % of differences are called wins, not the 1σ rule's 32 %
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, (2, 20000))
    wins = np.mean(
        [figs.compare(x, 1.0, y, 1.0).verdict != "tie" for x, y in zip(a, b, strict=True)]
    )
    assert 0.035 < wins < 0.065
    # two validation images apart on 180 is no verdict; 20 images is
    assert figs.compare_accuracies(0.978, 0.967, 180).verdict == "tie"
    assert figs.compare_accuracies(0.978, 0.867, 180).verdict == "better"
    # the FAQ's old example: -1.1 points against a 2σ band of 2.2 is a tie
    assert figs.compare(-0.011, 0.011 / math.sqrt(2), 0.0, 0.011 / math.sqrt(2)).verdict == "tie"
    assert "independent" in figs.compare_accuracies.__doc__
    assert "McNemar" in figs.compare_accuracies.__doc__


def test_a_diverged_run_is_worse_than_any_number():
    assert figs.compare_accuracies(math.nan, 0.2, 180).verdict == "worse"
    assert figs.compare_accuracies(0.2, math.nan, 180).verdict == "better"
    both = figs.compare_accuracies(math.nan, math.nan, 180)
    assert both.verdict == "both diverged" and both.text() == "both diverged"
    assert figs.compare_accuracies(math.nan, 0.2, 180).text() == "worse (it diverged)"
    assert figs.compare_accuracies(0.2, math.nan, 180).text() == "better (the other diverged)"
    assert figs.tally({1: both, 2: figs.compare(1, 0, 0, 0)}) == (
        "better in 1, worse in 0, tied in 0, both diverged in 1"
    )


def test_the_spread_verdict_follows_the_numbers():
    first = {"a": 0.60, "b": 0.95}
    closer = figs.spread_verdict(first, {"a": 0.97, "b": 0.978}, 180, epochs=10)
    assert "(a tie, within the noise)" in closer and "closer together at the end" in closer
    # apart at the end, and no closer than after epoch 1: both said, neither assumed
    apart = figs.spread_verdict({"a": 0.5, "b": 0.9}, {"a": 0.5, "b": 0.9}, 180, epochs=10)
    assert "apart, beyond the noise" in apart and "about as far apart" in apart
    one = figs.spread_verdict(first, first, 180, epochs=1)
    assert "nothing to compare" in one and "closer" not in one
    assert "no optimizer trained" in figs.spread_verdict({}, {}, 180, epochs=5)


# ---- figures ------------------------------------------------------------------------------

STEEP = partial(bowl, a=1.0, b=100.0)
VIEW = {"xlim": (-4.5, 1), "ylim": (-1.7, 1.5), "minimum": (0, 0)}


def test_paths_figure_has_a_panel_per_path_and_their_losses():
    paths = {n: trajectory(STEEP, (-4.0, 1.2), n, 0.01, steps=20) for n in OPTIMIZERS}
    fig = figs.paths_figure(STEEP, paths, dict.fromkeys(OPTIMIZERS, 0.01), **VIEW, title="t")
    axes = fig.axes
    assert len(axes) == 8 and all(ax.get_visible() for ax in axes)
    assert axes[0].get_title().startswith("sgd, lr 0.01: loss")
    assert np.allclose(axes[0].lines[0].get_xydata(), paths["sgd"])
    assert len(axes[-1].lines) == len(OPTIMIZERS)  # one loss curve each
    # one path: one panel shown, the loss panel, the rest hidden; a diverged path is drawn too
    runaway = trajectory(STEEP, (-4.0, 1.2), "sgd", 0.03, steps=100)
    fig = figs.paths_figure(STEEP, {"sgd": runaway}, {"sgd": 0.03}, **VIEW, title="t")
    assert [ax.get_visible() for ax in fig.axes] == [True] + [False] * 6 + [True]
    assert fig.axes[0].get_title().endswith("loss 1.2e+62")


def test_curves_finder_schedules_and_grid_figures_draw_the_data_given():
    fig = figs.curves_figure(
        {"a": _history([0.5, 0.9]), "b": _history([0.4, 0.8])}, title="t", dashed=["b"]
    )
    _, acc_ax = fig.axes
    assert len(acc_ax.lines) == 2 and acc_ax.lines[1].get_linestyle() == "--"
    assert list(acc_ax.lines[0].get_ydata()) == [0.5, 0.9]

    lrs = list(np.geomspace(1e-4, 1, 30))
    finds = {
        n: LRFinderResult(lrs, list(np.linspace(2.3, 0.5, 30)), lrs[10]) for n in ("sgd", "adam")
    }
    fig = figs.finder_figure(finds, "adam")
    one, all_ = fig.axes
    assert len(one.lines) == 3 and len(all_.lines) == 4  # curve, lowest, suggestion; 2 each

    factors = {"constant": np.ones(20), "cosine": np.linspace(1, 0, 20)}
    hist = {(n, b): _history([0.5, 0.6]) for n in factors for b in (0.1, 1.0)}
    fig = figs.schedules_figure(factors, hist, steps_per_epoch=10, optimizer="sgd")
    assert len(fig.axes) == 3 and all(len(ax.lines) == 2 for ax in fig.axes)
    assert fig.axes[2].get_title() == "sgd, base lr 1"

    grid_val = np.array([[0.9, 0.95, np.nan], [0.8, 0.9, 0.3]])
    fig = figs.grid_figure(grid_val, (16, 64), (0.1, 0.4, 1.6), 5)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["0.900", "0.950", "diverged", "0.800", "0.900", "0.300"]


# ---- tables and reports -------------------------------------------------------------------


def test_parity_surfaces_and_hyper_tables():
    text = figs.parity_table({"adam": (1e-7, 0.9), "adam, weight_decay 0.1": (2e-7, 0.8)})
    assert "adam, weight_decay 0.1" in text and "2.0e-07" in text
    paths = {
        n: trajectory(rosenbrock, (-1.2, 1.0), n, 0.001, steps=120) for n in ("sgd", "momentum")
    }
    table = figs.surfaces_table({"sgd": 1.0, "momentum": 0.1}, paths, rosenbrock)
    assert table.splitlines()[-1].startswith("lowest final loss: on the bowl momentum")
    assert figs.turns(np.array([[0, 0], [0, 1], [0, 0], [0, 1]])) == 2
    hyper = figs.hyper_table(dict.fromkeys(OPTIMIZERS, 0.03))
    assert "adamw     AdamW" in hyper and "0.01" in hyper.splitlines()[-1]


def test_results_and_suggestion_tables_report_divergence_and_ties():
    runs = {"sgd": _run([0.5, 0.97]), "adam": _run([0.2], diverged="blew up")}
    text = figs.results_table(runs, {"sgd": 0.3, "adam": 3.0}, 180)
    assert "0.970 ± 0.013" in text and "diverged" in text and "blew up" in text
    lrs = list(np.geomspace(1e-4, 1, 30))
    finds = {n: LRFinderResult(lrs, list(np.linspace(2.3, 0.5, 30)), lrs[10]) for n in ("a", "b")}
    text, versus = figs.suggestion_table(
        finds, {"a": 0.97, "b": math.nan}, {"a": 0.96, "b": 0.9}, {"a": 0.1, "b": 0.1}, 180
    )
    assert versus["a"].verdict == "tie" and versus["b"].verdict == "worse"
    assert "better in 0, worse in 1, tied in 1 of 2 cases" in text


def test_finder_table_says_on_which_side_sgds_suggestion_lies():
    def at(lr):
        return LRFinderResult([1e-4, lr, 1.0], [2.3, 1.0, 0.5], lr)

    left = figs.finder_table(
        {"sgd": at(1e-3), "momentum": at(1e-2), "adam": at(1e-3)},
        dict.fromkeys(("sgd", "momentum", "adam"), 0.05),
    )
    assert "1.0 decades left of momentum's, at adam's" in left
    assert "0 of 3 suggestions lie above" in left
    right = figs.finder_table(
        {"sgd": at(0.1), "momentum": at(1e-2), "adam": at(1e-3)},
        dict.fromkeys(("sgd", "momentum", "adam"), 0.05),
    )
    assert "1.0 decades right of momentum's, 2.0 decades right of adam's" in right


def test_schedule_report_compares_losses_with_their_noise():
    rng = np.random.default_rng(0)
    base = rng.exponential(0.2, 180)
    losses = {
        ("constant", 0.1): base,
        ("cosine", 0.1): base * 0.5,  # clearly lower
        ("warmup_cosine", 0.1): base * 0.52,
        ("step", 0.1): None,
    }
    accuracy = {k: (math.nan if v is None else 0.95) for k, v in losses.items()}
    text, verdicts = figs.schedule_report(losses, accuracy, 180)
    assert verdicts["cosine", "constant", 0.1].verdict == "better"  # lower loss
    assert verdicts["warmup_cosine", "cosine", 0.1].verdict == "tie"
    assert verdicts["step", "constant", 0.1].verdict == "worse"  # diverged
    assert "at lr 0.1 " in text and ": a tie" in text and "diverged" in text


def test_limits_report_calls_overlapping_seeds_a_tie():
    text = figs.limits_report(
        {16: [0.8, 0.8, 0.95], 64: [1.9, 2.26, 2.26], 256: [2.26, 2.69, 3.2]},
        (0, 1, 2),
        step=4 ** (1 / 8),
    )
    assert "to within 19 %" in text
    lines = text.splitlines()
    assert "2.8x; grew, beyond the seeds' spread" in lines[4]
    assert "1.2x; overlap between seeds: a tie" in lines[5]


def test_diagonals_and_gap_reports():
    grid_val = np.array(
        [[0.92, 0.97, 0.98, np.nan], [0.90, 0.92, 0.97, 0.97], [0.40, 0.80, 0.92, 0.97]]
    )
    text = figs.diagonals_report(grid_val, (16, 64, 256), (0.025, 0.1, 0.4, 1.6), 180)
    lines = text.splitlines()
    assert len(lines) == 2 and "B=256 lr=0.4: 0.920" in lines[0] and lines[0].endswith(": tie")
    assert "B=16 lr=0.1: 0.970" in lines[1] and "B=256 lr=1.6: 0.970" in lines[1]
    best = {16: 0.4, 64: 0.4, 256: 1.6}
    val = {b: [0.97, 0.96, 0.97] for b in best}
    shared = (0.1, [0.99, 0.95, 0.81], [0.97, 0.92, 0.80])
    same = {16: [0.99, 1.0, 1.0], 64: [0.99, 0.99, 0.99], 256: [0.995, 0.99, 0.995]}
    text, change = figs.gap_report(best, same, val, shared, 180)
    assert change.verdict == "tie" and text.endswith("(a tie)")
    # the ± column is the sample std (ddof=1) of the gap over the seeds, not np.std's
    gap16 = np.subtract(same[16], val[16])
    assert f"± {gap16.std(ddof=1):.3f}" in text and f"± {gap16.std():.3f}" not in text
    assert figs.sample_std([1.0, 2.0, np.nan, 3.0]) == pytest.approx(1.0)
    assert "B=256 fits less of the training set than B=16" in text
    grew = {**same, 256: [1.0, 1.0, 1.0]}
    wider = {**val, 256: [0.90, 0.91, 0.90]}
    assert figs.gap_report(best, grew, wider, shared, 180)[1].verdict == "better"


def test_faq_quotes_the_rates_this_run_used_and_its_verdicts():
    acc = dict.fromkeys(OPTIMIZERS, 0.97) | {"adam": 0.5, "sgd": math.nan}
    tie = figs.compare(0.1, 0.2, 0.1, 0.2)
    faq = figs.faq_table(
        val_accuracy=acc,
        rates=dict.fromkeys(OPTIMIZERS, 0.3) | {"adam": 0.03},
        n=180,
        sgd_row=np.array([0.97, 0.9, np.nan]),
        grid_lrs=(0.025, 0.1, 0.4),
        finder_lr=0.01,
        finder_accuracy=math.nan,
        chosen="adam",
        suggestions={"a": tie, "b": figs.compare(0.9, 0.01, 0.5, 0.01)},
        settle=tie,
        largest={16: 0.8, 64: 2.26, 256: 3.2},
        epoch_ms={16: 50.0, 64: 15.0, 256: 3.0},
        gaps={16: (0.03, 0.01), 64: (0.02, 0.01), 256: (0.02, 0.01)},
        gap_change=tie,
    )
    rows = faq.splitlines()[2:]
    assert len(rows) == 4
    assert "Adam(W) (here at 0.03: validation accuracy 0.500)" in rows[0]
    assert "diverged: sgd (lr 0.3)" in rows[0]
    # the rates quoted are the grid's: worst 0.1, best 0.025, 4x apart here (not a fixed "4x")
    assert "from its worst rate that trained, 0.1, to its best, 0.025 (0.25× apart)" in rows[0]
    assert "training at it: diverged" in rows[1] and "better in 1, worse in 0, tied in 1" in rows[1]
    assert "0.8 / 2.3 / 3.2, growing 2.8x and 1.4x" in rows[2]
    assert rows[3].endswith("a tie. |") and "not here" in rows[3]


def test_bowl_losses_make_the_titles():
    path = trajectory(STEEP, (-4.0, 1.2), "momentum", 0.012, steps=100)
    fig = figs.paths_figure(STEEP, {"momentum": path}, {"momentum": 0.012}, **VIEW, title="t")
    final = STEEP(torch.tensor(path[-1])).item()
    assert fig.axes[0].get_title() == f"momentum, lr 0.012: loss {final:.2g}"
