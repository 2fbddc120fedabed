"""Notebook 06's checks, controls, tables, sentences and figures (labkit.figures.large_models)."""

import math
import os
from pathlib import Path

import nbformat
import pytest
import torch
from matplotlib.figure import Figure

from labkit import scale
from labkit.data import sort_task
from labkit.figures import large_models as figs
from labkit.models import TinyGPT
from labkit.validate import ConfigError


def test_context_is_between_what_the_model_reads_and_the_sequence():
    assert figs.check_context(0, 6) == 12 and figs.check_context(11, 6) == 11
    assert figs.check_context(12, 6) == 12
    with pytest.raises(ConfigError, match="context=13 is longer than the data: a sort sequence"):
        figs.check_context(13, 6)
    with pytest.raises(ConfigError, match="context=10 is shorter than the sequences the model"):
        figs.check_context(10, 6)
    with pytest.raises(ConfigError, match="context must be an integer >= 0"):
        figs.check_context(-1, 6)


def test_data_model_and_run_checks_name_the_parameter():
    figs.check_data(2, 1, 2, 2)  # 2 + 2·1 = 4 = 2**2 prompts: just enough
    with pytest.raises(ConfigError, match=r"n_train \+ 2·n_test = 5 distinct prompts"):
        figs.check_data(3, 1, 2, 2)
    with pytest.raises(ConfigError, match="length must be an integer >= 2"):
        figs.check_data(10, 1, 1, 10)
    figs.check_model(12, 8, 64)
    with pytest.raises(ConfigError, match="n_embd must be divisible by n_head"):
        figs.check_model(2, 3, 64)
    with pytest.raises(ConfigError, match="n_layer must be at most 12"):
        figs.check_model(13, 1, 8)
    assert figs.check_world_size(2, 2) == 2
    with pytest.raises(ConfigError, match="world_size=3 is larger than the data: n_train=2"):
        figs.check_world_size(3, 2)
    with pytest.raises(ConfigError, match="world_size must be at most 8"):
        figs.check_world_size(9, 100)
    figs.check_runs(1, 5, False, 99, 1)  # the world size is not checked without ddp
    with pytest.raises(ConfigError, match="scaling_seeds must be at most 5"):
        figs.check_runs(1, 6, False, 2, 10)
    with pytest.raises(ConfigError, match="threads must be at most"):
        figs.check_runs((os.cpu_count() or 1) + 1, 1, False, 2, 10)
    with pytest.raises(ConfigError, match="ddp must be True or False"):
        figs.check_runs(1, 1, "yes", 2, 10)


def test_the_ddp_batch_splits_evenly():
    assert figs.ddp_batch(64, 2) == 64 and figs.ddp_batch(1, 2) == 2 and figs.ddp_batch(7, 3) == 9


def test_controls_start_at_the_parameters_and_read_back():
    ui = figs.GPTControls(n_layer=3, n_head=2, n_embd=40, batch_size=24, lr=0.007,
                          optimizer="sgd", precision="bf16", epochs=40)  # fmt: skip
    assert ui.values() == {"n_layer": 3, "n_head": 2, "n_embd": 40, "batch_size": 24, "lr": 0.007,
                           "optimizer": "sgd", "precision": "bf16", "epochs": 40}  # fmt: skip
    assert 40 in ui.n_embd.options and 24 in ui.batch_size.options and ui.epochs.max == 40
    ui.n_embd.value, ui.precision.value = 16, "fp32"
    assert ui.values()["n_embd"] == 16 and ui.values()["precision"] == "fp32"
    assert "application/vnd.jupyter.widget-view+json" in ui._repr_mimebundle_()
    with pytest.raises(ConfigError, match="n_embd must be divisible by n_head"):
        figs.GPTControls(n_head=3)
    with pytest.raises(ConfigError, match="precision must be one of 'fp32', 'bf16'"):
        figs.GPTControls(precision="fp16")
    s = figs.GPTControls().values()
    assert figs.describe_settings(s) == (
        "2 layers × 64 wide, 4 heads, batch 64, lr 0.003, adam, fp32, 6 epochs"
    )


def test_a_sequence_and_the_models_sorts_read_as_text():
    train, test = sort_task(8, 4, length=3, digits=10, seed=0)
    text = figs.show_sequence(train.x[0], train.y[0])
    prompt, answer = text.splitlines()[0].split(" → ")
    assert sorted(prompt.split()) == answer.split() and "· · " in text
    model = TinyGPT(vocab=10, context=6, n_layer=1, n_head=1, n_embd=8)
    lines = figs.sample_sorts(model, test, 3)
    assert len(lines) == 3 and all("✓" in line or "(sorted: " in line for line in lines)


def test_the_attention_helpers_follow_the_model():
    torch.manual_seed(0)
    model = TinyGPT(vocab=10, context=11, n_layer=2, n_head=2, n_embd=16).eval()
    idx = torch.randint(0, 10, (3, 11))
    seen = []
    model.blocks[-1].attn.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    with torch.no_grad():
        attn, x = figs.last_attention_input(model, idx)
        model(idx)  # the input the model's own forward gives its last attention layer
    assert attn is model.blocks[-1].attn and x.shape == (3, 11, 16)
    assert torch.equal(x, seen[-1])
    even = torch.tril(torch.ones(11, 11))
    even = (even / even.sum(-1, keepdim=True)).expand(3, 2, 11, 11)
    share, sentence = figs.attention_sentence(even, 6)
    assert sentence.endswith("it would be " + f"{share:.0%})")  # an even spread is the baseline


def test_component_counts_and_side_by_side_tables():
    model = TinyGPT(vocab=10, context=12, n_layer=2, n_head=4, n_embd=64)
    assert figs.model_components(model) == scale.gpt_parameters(10, 12, 2, 64)
    table = figs.side_by_side({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}, ("x", "y"),
                              {"a": "f(a)"})  # fmt: skip
    assert list(table.columns) == ["formula", "x", "y", "difference"]
    assert table.loc["b", "difference"] == 1 and table.loc["c", "x"] == 0
    assert table.loc["a", "formula"] == "f(a)" and table.loc["c", "formula"] == ""


def test_sentences_are_computed_from_the_numbers():
    assert figs.human_bytes(107.57e9) == "107.6 GB" and figs.human_bytes(400) == "400 B"
    assert figs.human_bytes(766_000) == "766.0 kB"
    flops = scale.train_flops_per_token(2, 64, 11, 100_736)
    assert "10,752 fewer = 6 × 1,792 biases" in figs.flops_sentence(flops, 610_560, 1_792, 64)
    assert "is +1.0% off" in figs.activation_sentence(101, {4: 100, 2: 50}, "fp32", 8)
    assert "saves more than 2" in figs.activation_sentence(80, {4: 100, 2: 50}, "bf16", 8)
    mfu, ceiling, text = figs.mfu_sentence(1000.0, 10**6, {"fp32": 1e10, "bf16": 2e9}, 2, "cpu")
    assert (mfu, ceiling) == (0.1, 1e10) and "the peak measured here, fp32 matmuls" in text
    assert text.endswith("(GFLOP/s: fp32 10.0, bf16 2.0; 2 threads, cpu): MFU 10.0%")
    assert figs.mfu_sentence(0.0, 10**6, {"fp32": 1e10}, 1, "cpu")[2].startswith("no epoch")


@pytest.mark.parametrize(
    ("ratios", "words"),
    [
        ([0.015, 0.014, 0.016], "bf16 is 66.67× slower than fp32 (62.50–71.43× over 3 rounds)"),
        ([2.0, 2.2, 2.1], "bf16 is 2.10× faster than fp32 (2.00–2.20× over 3 rounds)"),
        ([0.91, 1.04, 1.03], "bf16 vs fp32: 1.03× (0.91–1.04× over 3 rounds): a tie"),
    ],
)
def test_a_ratio_is_faster_or_slower_only_when_every_round_agrees(ratios, words):
    assert words in figs.ratio_sentence("bf16", "fp32", ratios)


def test_ratio_sentence_uses_the_words_given():
    assert figs.ratio_sentence("ckpt", "plain", [1.36, 1.35, 1.44], "longer").startswith(
        "ckpt is 1.36× longer than plain"
    )
    assert "shorter" not in figs.ratio_sentence("a", "b", [0.5, 0.5], "longer")
    assert "not longer" in figs.ratio_sentence("a", "b", [0.5, 0.5], "longer")


def test_loss_comparison_shows_its_noise_and_calls_ties():
    said, line = figs.loss_comparison("big", [0.30, 0.32], "small", [1.9, 1.93])
    assert said == "lower" and "(mean over 2 seeds)" in line and line.endswith("big lower")
    said, line = figs.loss_comparison("a", [1.0, 1.2], "b", [1.1, 1.05])
    assert said == "tie" and line.endswith("a tie")
    said, line = figs.loss_comparison("a", [0.3], "b", [1.9])  # one seed: noise unknown
    assert said == "tie" and "noise unknown with one seed" in line


def test_weight_differences_split_the_qkv_bias_and_sort():
    a = {"w": torch.zeros(3), "blocks.0.attn.qkv.bias": torch.zeros(6), "empty": torch.zeros(0)}
    b = {"w": torch.tensor([0.0, 1e-3, 0.0]), "blocks.0.attn.qkv.bias":
         torch.tensor([0, 0, 0.5, -0.2, 1e-6, 0]), "empty": torch.zeros(0)}  # fmt: skip
    diffs = figs.weight_differences(a, b)
    assert list(diffs) == ["blocks.0.attn.qkv.bias (keys)", "w", "blocks.0.attn.qkv.bias (values)",
                           "blocks.0.attn.qkv.bias (queries)", "empty"]  # fmt: skip
    assert diffs["blocks.0.attn.qkv.bias (keys)"] == 0.5


def test_ddp_matches_within_rounding_of_the_same_arithmetic_and_far_below_the_movement():
    assert figs.ddp_matches(1.9e-3, 2.1e-3, 1.0) and figs.ddp_matches(8e-3, 2.1e-3, 1.0)
    assert not figs.ddp_matches(9e-3, 2.1e-3, 1.0)  # beyond 4 × the one-process distance
    assert figs.ddp_matches(1e-5, 0.0, 1.0) and not figs.ddp_matches(2e-5, 0.0, 1.0)  # the floor
    # The review's cases, which the old rule (rounding alone) accepted: bf16, 4 ranks, where
    # the tolerance exceeded how far training moved the weights (even untrained weights
    # passed), and Adam with the gradients summed (the loss doubled), 3.9e-3 vs 2.1e-3.
    assert not figs.ddp_matches(0.101, 0.0655, 0.10)
    assert not figs.ddp_matches(3.9e-3, 2.1e-3, 0.15)
    # The check's training cannot hide the fault: plain SGD in fp32 without clipping
    assert figs.DDP_CHECK["optimizer"] == "sgd" and figs.DDP_CHECK["precision"] == "fp32"
    assert figs.DDP_CHECK["grad_clip"] == 0


def _state(seed):
    torch.manual_seed(seed)
    return TinyGPT(vocab=5, context=4, n_layer=1, n_head=1, n_embd=4).state_dict()


def test_accumulation_lines_and_ddp_report():
    runs = {1: (_state(0), 0.2), 2: (_state(0), 0.21)}
    lines = figs.accumulation_lines(runs, 64, _state(1))
    assert lines[0] == "1 ×  64 per step: final training loss 0.20000, the reference"
    assert "2 ×  32 per step: final training loss 0.21000, weights at most 0.0e+00" in lines[1]
    assert lines[-1].startswith("(training itself moved the weights by up to ")
    nudged = {k: v + 0.0031 for k, v in _state(0).items()}  # a short run moves little
    moved = figs.accumulation_lines({1: (_state(0), 0.2)}, 64, nudged)[-1]
    assert moved == "(training itself moved the weights by up to 0.0031)", moved
    one = {"world_size": 1, "batch_size": 64, "epochs": 2, "optimizer": "sgd", "lr": 0.1,
           "precision": "fp32", "grad_clip": 0.0, "n_train": 2001, "final_loss": 0.2,
           "params": 1000}  # fmt: skip
    many = one | {"world_size": 2}
    text = "\n".join(figs.ddp_report(one, many, {"w": 1e-7, "v": 1e-8}, 1e-7, 0.2, 0.09, "gloo"))
    assert "2 ranks (gloo) vs 1 process, global batch 64, 2 epochs, sgd lr 0.1, fp32, no " \
           "clipping" in text  # fmt: skip
    assert "they match, up to rounding" in text and "largest differences: w 1.0e-07" in text
    assert "training moved them by up to 0.2 (5.0e-07 of that)" in text
    wrong = text.splitlines()[-1]
    assert wrong.startswith("a deliberately wrong run, the 2 ranks' gradients summed")
    assert "(45% of training's movement): they do NOT match" in wrong
    text = "\n".join(figs.ddp_report(one, many, {"w": 1.0}, 1e-3, 2.0, 1.0, "gloo"))
    assert text.splitlines()[0].endswith("they do NOT match")


def test_ddp_times_are_per_epoch_and_equal_times_are_a_tie():
    # The review's numbers: equal epochs (1.26 s vs 1.29 s) are a tie, not a speed-up
    lines = figs.ddp_time_lines([1.26, 1.25], [1.29, 1.24], 2, 8.0, cores=2)
    assert lines[0].startswith(
        "seconds per epoch, training only: 1 process 1.26, 1.25 s; 2 processes 1.29, 1.24 s "
        "(each process 1 thread, on 2 cores"
    )
    assert "a tie" in lines[1] and "over 2 epochs" in lines[1] and "epochs disagree" in lines[1]
    assert "took 8.0 s in all, 5.5 s of it not counted above: the start-up" in lines[2]
    assert "is 2.00× faster than the 1-process run (2.00–2.00× over 2 epochs)" in (
        figs.ddp_time_lines([2.0, 2.0], [1.0, 1.0], 2, 8.0)[1])  # fmt: skip


def test_the_7b_and_70b_tables_and_their_sentences():
    rows = scale.what_fits()
    table = figs.fits_table(rows)
    assert table.loc[("7B", "train, adam, mixed precision"), "params"] == "6.7B"
    lines = figs.sharding_lines(rows)
    assert len(lines) == 2 and "DDP, which keeps the whole state on every GPU, cannot" in lines[0]
    assert "ZeRO-3 / FSDP shards the state: 2 GPUs hold 53.8 GB each" in lines[0]
    assert "15 GPUs hold 69.3 GB each" in lines[1]
    small = [r | {"fits_one_gpu": True, "gpus": 1} for r in rows if r["use"].startswith("train")]
    assert "fits: DDP can train it" in figs.sharding_lines(small)[0]


def test_torchrun_command_and_hiding_gpus():
    command = figs.torchrun_command({"n_layer": 2, "batch_size": 64})
    assert command.startswith("torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d")
    assert command.endswith("--n-layer 2 --batch-size 64")
    before = os.environ.get("CUDA_VISIBLE_DEVICES")
    with figs.gpus_for(2) as backend:
        if not torch.cuda.is_available():
            assert backend == "gloo (CPU)"
            assert os.environ.get("CUDA_VISIBLE_DEVICES") == before  # nothing to hide
    assert os.environ.get("CUDA_VISIBLE_DEVICES") == before


def test_figures_draw():
    weights = torch.softmax(torch.randn(2, 5, 5).masked_fill(
        torch.ones(5, 5, dtype=torch.bool).triu(1), -math.inf), -1)  # fmt: skip
    assert isinstance(figs.attention_figure(weights, [1, 2, 3, 4, 5], 2), Figure)
    fig = figs.memory_figure({"7B": {"weights": 13.4, "activations": 2.2}})
    assert isinstance(fig, Figure) and len(fig.axes[0].patches) == 2
    params, losses = [2000, 7000, 26000], [[1.9, 2.0], [1.6, 1.6], [1.1, 1.2]]
    fig = figs.scaling_figure(params, losses, 22528)
    assert isinstance(fig, Figure) and "misses a mean by up to" in fig.axes[0].lines[1].get_label()
    slope, _ = figs.power_law([1, 10, 100], [1.0, 0.5, 0.25])
    assert slope == pytest.approx(math.log10(0.5))


# The review's shape at a fixed budget: a plateau, a sharp drop, then flat (2 seeds each)
PLATEAU = ([2016, 6720, 26496, 102144, 400896],
           [[1.90, 1.93], [1.85, 1.88], [1.80, 1.82], [0.45, 0.50], [0.30, 0.32]])  # fmt: skip


def test_scaling_says_not_a_power_law_when_the_line_misses_the_points():
    fit = figs.power_law_fit(*PLATEAU)
    assert not fit["describes"] and fit["miss"] > 1.3 and 0 < fit["r2"] < 1
    assert len(fit["per_seed"]) == 2 and min(fit["per_seed"]) < fit["slope"] < max(fit["per_seed"])
    sentence = figs.scaling_sentence(*PLATEAU)
    assert sentence.startswith("least-squares fit to the means: loss ∝ N^")
    assert "not a power law at this budget: it misses " in sentence and "R² " in sentence
    assert "(fitted to each seed alone: " in sentence
    assert "more parameters bought a lower loss" in sentence


def test_scaling_says_a_power_law_when_the_points_lie_on_one():
    params = [1000, 4000, 16000, 64000]
    losses = [[2.0 * (n / 1000) ** -0.3 * f for f in (0.99, 1.01)] for n in params]
    fit = figs.power_law_fit(params, losses)
    assert fit["describes"] and fit["slope"] == pytest.approx(-0.3, abs=1e-6)
    assert fit["r2"] == pytest.approx(1.0) and fit["miss"] == pytest.approx(1.0)
    assert "a power law describes these sizes" in figs.scaling_sentence(params, losses)
    # losses that barely change lie within 10 % of a flat line: no power law to speak of
    flat = [[2.3 + 0.01 * (-1) ** i * f for f in (1, 2)] for i in range(4)]
    said = figs.scaling_sentence(params, flat)
    assert not figs.power_law_fit(params, flat)["describes"] and "explains only" in said
    one_seed = [[v[0]] for v in losses]
    assert "(one seed: no spread)" in figs.scaling_sentence(params, one_seed)
    # a miss of 15 % is not a power law, unless the seeds spread more than that
    bent = [v if i != 2 else [x * 1.15 for x in v] for i, v in enumerate(losses)]
    assert not figs.power_law_fit(params, bent)["describes"]
    noisy = [v if i != 2 else [v[0] * 0.8, v[1] * 1.5] for i, v in enumerate(losses)]
    assert figs.power_law_fit(params, noisy)["describes"]


def test_the_notebooks_prose_on_mfu_and_bf16():
    path = Path(__file__).parent.parent / "notebooks" / "06_large_models.ipynb"
    text = " ".join(" ".join(c.source.split()) for c in nbformat.read(path, as_version=4).cells
                    if c.cell_type == "markdown")  # fmt: skip
    # PaLM's MFU divides by the theoretical peak; ours by a measured matmul: not like for like
    assert "PaLM divides by the hardware's theoretical peak" in text and "not like for like" in text
    # bf16 against true fp32 on tensor cores / AMX: 8–16×; 2× only against TF32 or AVX-512 BF16
    assert "about 8–16× faster" in text and "2–4× faster than fp32" not in text
    # summing the gradients is no longer said to move the weights "orders of magnitude more"
    assert "orders of magnitude more" not in text and "plain SGD" in text


def test_parameters_list_is_the_notebooks():
    path = Path(__file__).parent.parent / "notebooks" / "06_large_models.ipynb"
    cell = next(c for c in nbformat.read(path, as_version=4).cells
                if "parameters" in c.metadata.get("tags", []))  # fmt: skip
    names = [line.split(":")[0] for line in cell.source.splitlines() if line[:1].isalpha()]
    assert list(figs.PARAMETERS) == [n for n in names if n not in ("device", "out_dir")]
