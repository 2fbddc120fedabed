"""labkit.figures.optimizers: notebook 02's figures have the panels and lines of the data
given, and its verdicts call a difference inside the noise a tie (the 2-D paths:
tests/test_figures_optim_paths.py)."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import labkit
from labkit.figures import optimizers as figs
from labkit.optim import OPTIMIZERS
from labkit.train import History, TrainConfig


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


def test_curves_figure_draws_the_data_given():
    fig = figs.curves_figure(
        {"a": _history([0.5, 0.9]), "b": _history([0.4, 0.8])}, title="t", dashed=["b"]
    )
    _, acc_ax = fig.axes
    assert len(acc_ax.lines) == 2 and acc_ax.lines[1].get_linestyle() == "--"
    assert list(acc_ax.lines[0].get_ydata()) == [0.5, 0.9]


# ---- tables and reports -------------------------------------------------------------------


def test_parity_and_hyper_tables():
    text = figs.parity_table({"adam": (1e-7, 0.9), "adam, weight_decay 0.1": (2e-7, 0.8)})
    assert "adam, weight_decay 0.1" in text and "2.0e-07" in text
    hyper = figs.hyper_table(dict.fromkeys(OPTIMIZERS, 0.03))
    assert "adamw     AdamW" in hyper and "0.01" in hyper.splitlines()[-1]


def test_results_table_reports_divergence():
    runs = {"sgd": _run([0.5, 0.97]), "adam": _run([0.2], diverged="blew up")}
    text = figs.results_table(runs, {"sgd": 0.3, "adam": 3.0}, 180)
    assert "0.970 ± 0.013" in text and "diverged" in text and "blew up" in text
    rates = {"sgd": 0.3, "adam": 3.0}
    assert "tuned" not in text
    assert text == figs.results_table(runs, rates, 180, batch_size=64, tuned_at=64)
    moved = figs.results_table(runs, rates, 180, batch_size=8, tuned_at=64)
    assert moved.splitlines()[-1] == "(the rates were tuned at batch size 64; this run used 8)"


# ---- one run's record, the replay and AdamW -----------------------------------------------


def test_a_run_that_blew_up_has_no_final_number():
    assert figs.blew_up(_history([0.9], losses=[0.2])) == ""
    assert figs.blew_up(_history([0.9], losses=[figs.BLOWN_UP])) == ""  # at the limit: counts
    assert figs.blew_up(_history([0.1], losses=[30.0])).startswith("blew up: its validation loss")
    assert "inf" in figs.blew_up(_history([0.1], losses=[math.inf]))
    run = figs.Run(torch.nn.Linear(2, 2), _history([0.5, 0.9], losses=[1.0, 0.3]), "")
    assert figs.final(run) == 0.9 and figs.final(run, "val_loss") == 0.3
    assert math.isnan(figs.final(run._replace(diverged="blew up")))
    assert math.isnan(figs.final(_run([])))  # no epoch recorded


def test_adamw_lines_give_the_decay_factor_and_compare_only_runs_that_trained():
    runs = {"adam": _run([0.9, 0.95]), "adamw": _run([0.9, 0.95])}
    text = figs.adamw_lines(runs, 0.003, 200)
    assert "(1 - 0.003 * 0.01)^200 = 0.9940" in text
    assert text.splitlines()[1].endswith("over the epochs: 0")
    runs["adamw"] = _run([0.9], diverged="blew up")
    assert len(figs.adamw_lines(runs, 0.003, 200).splitlines()) == 1


def test_tried_line_gives_the_settings_and_the_result_or_why_it_does_not_count():
    settings = {"optimizer": "sgd", "lr": 0.3, "batch_size": 64, "epochs": 2, "schedule": "cosine"}
    assert figs.tried_line(_run([0.5, 0.9]), **settings) == (
        "sgd, lr 0.3, batch size 64, 2 epochs, cosine: val accuracy 0.900"
    )
    assert figs.tried_line(_run([0.1], diverged="blew up"), **settings).endswith("cosine: blew up")


# ---- parity and one training run ------------------------------------------------------------


def _sgd(w, g, state, lr, weight_decay=0.0):
    return w - lr * (g + weight_decay * w)


def _adam_without_bias_correction(w, g, state, lr, betas=(0.9, 0.999), eps=1e-8):
    state["m"] = betas[0] * state.get("m", 0) + (1 - betas[0]) * g
    state["v"] = betas[1] * state.get("v", 0) + (1 - betas[1]) * g**2
    return w - lr * state["m"] / (state["v"].sqrt() + eps)


def test_parity_matches_a_correct_rule_and_catches_a_wrong_one():
    diff, moved = figs.parity(_sgd, "sgd", seed=1)
    assert diff < 1e-6 and moved > 0.01
    assert figs.parity(_sgd, "sgd", seed=1, weight_decay=0.1)[0] < 1e-6  # passed to both
    assert figs.parity(_sgd, "momentum")[0] > 1e-2  # SGD is not momentum
    assert figs.parity(_adam_without_bias_correction, "adam")[0] > 1e-2
    assert figs.parity(_sgd, "sgd", steps=3) != figs.parity(_sgd, "sgd", steps=20)


def test_fit_run_records_a_blow_up_instead_of_raising(blobs):
    torch.manual_seed(0)
    ok = figs.fit_run(torch.nn.Linear(6, 3), blobs.train, TrainConfig(lr=0.1, epochs=2),
                      val=blobs.val)  # fmt: skip
    assert ok.diverged == "" and len(ok.history) == 2 and figs.final(ok) > 0.5
    calls = []
    torch.manual_seed(0)
    nan = figs.fit_run(labkit.MLP(in_features=6, hidden=(8,), classes=3), blobs.train,
                       TrainConfig(lr=1e3, epochs=3, optimizer="sgd"), val=blobs.val,
                       on_epoch=calls.append)  # fmt: skip
    assert nan.diverged.endswith("(fit kept the weights from before)"), nan.diverged
    assert math.isnan(figs.final(nan))
    assert len(calls) == len(nan.history) < 3
    assert all(torch.isfinite(p).all() for p in nan.model.parameters())  # the last good weights
