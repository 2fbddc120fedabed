"""Notebook 06 (large models) runs headless: its parameters are honoured or rejected by name,
the smallest accepted values run to the end (torchrun included), and a re-run into the same
out_dir works."""

from functools import partial
from pathlib import Path

import pytest

from labkit.validate import ConfigError

from notebook_runs import checks_passed, metrics, printed, refused_early, run, validate

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "06_large_models.ipynb"
REQUIRED = {"final_loss", "heldout_accuracy", "params", "tokens_per_s", "mfu"}  # the keys
_run = partial(run, NOTEBOOK)
_validate = partial(validate, NOTEBOOK)


@pytest.mark.slow
def test_smallest_values_run_and_a_rerun_into_the_same_out_dir_works(tmp_path):
    out = tmp_path / "run"
    smallest = {"n_layer": 1, "n_head": 1, "n_embd": 1, "length": 2, "digits": 2, "n_train": 2,
                "n_test": 1, "batch_size": 1, "epochs": 1, "grad_accum": 1, "scaling_seeds": 1,
                "seed": 3}  # fmt: skip
    out.mkdir()
    (out / "scaling.png").write_bytes(b"stale")  # an earlier run's figure
    (out / "ddp-4").mkdir()  # and an earlier run's torchrun folder, with another world size
    (out / "ddp-4" / "model.pt").write_bytes(b"stale")
    nb = _run(tmp_path, out_dir=str(out), **smallest)
    found = metrics(out)
    assert {k: found[k] for k in smallest} == smallest and found.keys() >= REQUIRED
    assert found["params"] == 35 and found["context"] == 4 and found["ddp_matches_single"] is True
    assert 0 <= found["heldout_accuracy"] <= 1 and found["tokens_per_s"] > 0 and checks_passed(nb)
    assert (out / "scaling.png").stat().st_size > 5000  # redrawn by this run
    for n in (1, 2):  # both runs of the DDP check, the torchrun one written by rank 0
        assert (out / f"ddp-{n}" / "model.pt").is_file()
    assert not (out / "ddp-4").exists(), "a re-run leaves no DDP run of an earlier one"
    text = printed(nb)
    assert "1 layer × 1 wide, 1 head, batch 1" in text and "global batch 2" in text
    assert "they match, up to rounding" in text and "one batch of 2 vs 2 micro-batches of 1" in text
    # the check can fail: the ranks' gradients summed (SGD at lr × 2) do not match
    assert "gradients summed instead of averaged (for SGD exactly lr × 2)" in text
    assert text.count("they do NOT match") == 1 and "sgd lr 0.1, fp32, no clipping" in text
    assert found["ddp_wrong_run_diff"] > 100 * found["ddp_max_weight_diff"]

    # Again into the same out_dir, without demonstrations or torchrun, in bf16 with
    # accumulation: metrics.json is rewritten and no stale figure or DDP result stays behind.
    again = {"precision": "bf16", "grad_accum": 4, "demos": False, "ddp": False, "n_embd": 8,
             "n_head": 2, "n_train": 64, "n_test": 16, "length": 4, "digits": 5,
             "epochs": 1}  # fmt: skip
    nb = _run(tmp_path, out_dir=str(out), **again)
    found = metrics(out)
    assert {k: found[k] for k in again} == again and found.keys() >= REQUIRED
    assert "ddp_matches_single" not in found and "bf16_training_speedup" not in found
    assert not list(out.glob("*.png")) and not list(out.glob("ddp-*")) and checks_passed(nb)
    assert "autocast keeps the residual stream" in printed(nb)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"n_embd": 30}, "n_embd must be divisible by n_head"),
        ({"n_layer": 0}, "n_layer must be an integer >= 1"),
        ({"context": 20}, "context=20 is longer than the data"),
        ({"context": 5}, "context=5 is shorter than the sequences the model reads"),
        ({"n_train": 10**6}, r"n_train \+ 2·n_test = 1000512 distinct prompts"),
        ({"grad_accum": 0}, "grad_accum must be an integer >= 1"),
        ({"precision": "fp16"}, "precision must be one of 'fp32', 'bf16'"),
        ({"optimizer": "lion"}, "optimizer must be one of 'sgd'"),
        ({"lr": 0.0}, "lr must be a finite number > 0"),
        ({"grad_clip": -1.0}, "grad_clip must be >= 0"),
        ({"world_size": 3, "n_train": 2, "n_test": 1, "length": 2, "digits": 2},
         "world_size=3 is larger than the data: n_train=2"),
        ({"world_size": 9}, "world_size must be at most 8"),
        ({"scaling_seeds": 6}, "scaling_seeds must be at most 5"),
        ({"threads": 0}, "threads must be an integer >= 1"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"ddp": "no"}, "ddp must be True or False"),
        ({"demos": 1}, "demos must be True or False"),
        ({"device": "tpu"}, "device must be .auto., .cpu., .cuda. or .cuda:N.; got .tpu."),
        ({"out_dir": None}, "out_dir must be a string"),
    ],
)  # fmt: skip
def test_bad_values_are_refused_by_name(parameters, message):
    with pytest.raises(ConfigError, match=message):
        _validate(**parameters)


def test_validation_accepts_the_edges():
    namespace = _validate(context=11, world_size=8, n_layer=12, n_head=8, n_embd=8, ddp=False,
                          scaling_seeds=5)  # fmt: skip
    assert namespace["context"] == 11 and namespace["config"].grad_clip == 1.0
    assert _validate(n_train=2, n_test=1, length=2, digits=2, ddp=False)["context"] == 4
    assert _validate(world_size=99, ddp=False)["world_size"] == 99  # not used without ddp


@pytest.mark.slow
def test_a_bad_value_stops_a_papermill_run_right_after_the_parameters(tmp_path):
    refused_early(NOTEBOOK, tmp_path, "n_embd must be divisible by n_head", n_embd=30)
