"""Notebook 04's data, runs and noise band: the reduced set keeps each digit's share, wrong
labels are never the true digit, a diverged run is marked rather than fatal, the band is the
course's one rule and a difference inside it is a tie."""

import math

import pytest
import torch

from labkit.data import Split, load_digits
from labkit.figures import fitting as ff
from labkit.models import MLP
from labkit.train import History, TrainConfig
from labkit.validate import ConfigError


def run(train_acc, val_acc, *, rows=300, diverged=False, lr=3e-3):
    return ff.Run(torch.nn.Linear(1, 1), History(), TrainConfig(lr=lr), rows, train_acc, val_acc,
                  diverged)  # fmt: skip


BANDS = {"clean": ff.NoiseBand(360, 0.008), "noisy": ff.NoiseBand(360, 0.018)}


def digits_like(n=200, classes=10):
    y = torch.arange(n) % classes
    return Split(torch.randn(n, 4, generator=torch.Generator().manual_seed(0)), y)


def test_the_stratified_subset_keeps_every_digits_share():
    rows = digits_like()
    small = ff.stratified_subset(rows, 50, seed=0)
    assert len(small) == 50 and torch.bincount(small.y).tolist() == [5] * 10
    assert ff.stratified_subset(rows, len(rows), seed=0) is rows  # all of it: unchanged
    again = ff.stratified_subset(rows, 50, seed=0)
    assert torch.equal(again.x, small.x)  # seeded


def test_wrong_labels_replace_a_share_and_never_keep_the_true_digit():
    rows = digits_like()
    noisy, wrong = ff.with_wrong_labels(rows, 0.2, seed=3)
    assert len(wrong) == 40 and len(set(wrong.tolist())) == 40
    assert (noisy.y[wrong] != rows.y[wrong]).all() and noisy.y.max() < 10
    kept = torch.ones(len(rows), dtype=torch.bool)
    kept[wrong] = False
    assert torch.equal(noisy.y[kept], rows.y[kept]) and noisy.x is rows.x
    none, wrong = ff.with_wrong_labels(rows, 0.0, seed=3)
    assert len(wrong) == 0 and torch.equal(none.y, rows.y)


def test_check_sizes_names_the_parameter(blobs):
    smallest = int(torch.bincount(torch.cat([blobs.train.y, blobs.val.y])).min())
    assert ff.check_sizes(blobs, 50, 2) == smallest
    with pytest.raises(ConfigError, match="train_size must be an integer >= 50"):
        ff.check_sizes(blobs, 10, 2)
    with pytest.raises(ConfigError, match=rf"train_size must be at most {len(blobs.train)} "):
        ff.check_sizes(blobs, len(blobs.train) + 1, 2)
    with pytest.raises(ConfigError, match=rf"k_folds must be at most {smallest}, the smallest"):
        ff.check_sizes(blobs, 50, smallest + 1)
    with pytest.raises(ConfigError, match="k_folds must be an integer"):
        ff.check_sizes(blobs, 50, 2.0)


def test_fit_run_measures_the_run_and_marks_a_diverged_one(blobs):
    torch.manual_seed(0)
    model = MLP(in_features=blobs.features, hidden=(16,), classes=blobs.classes)
    recipe = TrainConfig(lr=0.01, batch_size=32, epochs=3, optimizer="adam")
    r = ff.fit_run(model, blobs.train, recipe, blobs.val)
    assert not r.diverged and len(r.history.val_accuracy) == 3 and r.rows == len(blobs.train)
    assert r.val_acc == r.history.val_accuracy[-1] and 0 < r.train_acc <= 1
    assert r.steps == 3 * math.ceil(len(blobs.train) / 32)
    quiet = ff.fit_run(model, blobs.train, recipe, blobs.val, watch=False)
    assert not quiet.history.val_accuracy  # no validation after each epoch
    model = MLP(in_features=blobs.features, hidden=(16,), classes=blobs.classes)
    wild = TrainConfig(lr=1e12, batch_size=32, epochs=3, optimizer="sgd")
    gone = ff.fit_run(model, blobs.train, wild, blobs.val)
    assert gone.diverged and ff.mark(gone) == "*"


def test_weight_length_is_the_norm_of_every_parameter():
    layer = torch.nn.Linear(2, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[3.0, 0.0]]))
        layer.bias.fill_(4.0)
    assert ff.weight_length(layer) == pytest.approx(5.0)


def test_sampling_error_and_the_noise_band():
    assert ff.sampling_error(0.93, 360) == pytest.approx(math.sqrt(0.93 * 0.07 / 360))
    assert round(ff.sampling_error(0.93, 360), 3) == 0.013  # the figure the README quotes
    assert ff.sampling_error(1.0, 360) == 0 == ff.sampling_error(0.0, 50)
    band = ff.NoiseBand(360, spread=0.02)
    assert band(0.93) == 0.02 and band(0.5) == pytest.approx(math.sqrt(0.25 / 360))
    assert ff.NoiseBand(360)(0.93) == ff.sampling_error(0.93, 360)
    # two single runs differ beyond the noise past 2·√2 × one run's spread (notebook 05's rule)
    assert band.difference(0.93) == pytest.approx(2 * math.sqrt(2) * 0.02)
    assert round(ff.NoiseBand(360).difference(0.93), 3) == 0.038


def test_a_difference_inside_the_band_is_a_tie():
    assert ff.compare(0.939, 0.931, 0.013) == "+0.008 (noise ±0.013: a tie)"
    assert ff.compare(0.85, 0.767, 0.022).endswith("higher)")
    assert ff.compare(0.70, 0.767, 0.022).endswith("lower)")
    assert ff.compare(0.95, 0.93, 0.02).endswith("a tie)")  # exactly the band: still a tie
    assert ff.helps(0.85, 0.767, 0.022) and not ff.helps(0.939, 0.931, 0.013)
    assert not ff.helps(0.70, 0.767, 0.022)  # restraint that hurts does not help


def test_seed_spread_is_the_sample_std_of_validation_accuracy():
    runs = [run(1.0, v) for v in (0.931, 0.939, 0.942, 0.950)]
    assert ff.seed_spread(runs) == pytest.approx(0.00785, abs=1e-5)
    assert ff.seed_spread(runs[:1]) == 0.0


def test_noise_report_shows_a_gap_threshold_inside_the_noise():
    clean = [run(1.0, v) for v in (0.931, 0.939, 0.942, 0.950)]  # gaps .069 .061 .058 .050
    noisy = [run(1.0, v) for v in (0.767, 0.792, 0.786, 0.811)]
    text = ff.noise_report({"clean": clean, "noisy": noisy}, BANDS)
    first, verdict, _, far = text.splitlines()
    assert first.startswith("clean: validation 0.931 0.939 0.942 0.950, mean 0.941 ± 0.008")
    assert "calls 3 of 4 draws" in verdict and "inside the gaps' range" in verdict
    assert "is luck" in verdict  # a gap of exactly 0.050 is not above 0.05
    assert "calls 4 of 4 draws" in far and "outside" in far
    noisy[2] = run(0.1, 0.1, diverged=True)
    last = ff.noise_report({"clean": clean, "noisy": noisy}, BANDS).splitlines()[-1]
    assert last.startswith("* 1 of 8 runs diverged")


def test_diverged_note_marks_and_epochs_text():
    assert ff.diverged_note([run(1, 1)]) == ""
    note = ff.diverged_note([run(1, 1), run(0.1, 0.1, diverged=True, lr=10.0)])
    assert note.startswith("\n* 1 of 2 runs diverged") and "e.g. 1" in note
    assert ff.mark(run(0.1, 0.1, diverged=True)) == "*" and ff.mark(run(1, 1)) == " "
    assert ff.epochs_text(1) == "1 epoch" and ff.epochs_text(4) == "4 epochs"


def test_the_wrong_labels_figure_titles_each_image_with_both_labels():
    data = load_digits(seed=0)
    clean = ff.stratified_subset(data.train, 100, seed=0)
    noisy, wrong = ff.with_wrong_labels(clean, 0.1, seed=0)
    fig = ff.wrong_labels_figure(data, clean, noisy, wrong)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    i = int(wrong[0])
    assert len(titles) == 8 and titles[0] == f"label {int(noisy.y[i])} (is {int(clean.y[i])})"
