import math

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from labkit.data import IGNORE, sequence_loss
from labkit.models import TinyGPT, parameter_count
from labkit.optim import OPTIMIZERS, make_optimizer
from labkit.scale import (
    GB,
    activation_bytes,
    gpt_parameters,
    korthikanti_layer_bytes,
    matmul_ceiling,
    measured_training_state,
    mfu,
    saved_activation_bytes,
    train_flops_per_token,
    training_memory,
    what_fits,
)
from labkit.validate import ConfigError

SHAPES = [  # vocab, context, n_layer, n_head, n_embd
    (10, 16, 2, 4, 32),
    (13, 11, 1, 2, 24),
    (50, 32, 3, 8, 64),
    (7, 8, 4, 1, 16),
]


def _numel(*modules):
    return sum(p.numel() for m in modules for p in m.parameters())


@pytest.mark.parametrize("vocab, context, n_layer, n_head, n_embd", SHAPES)
def test_gpt_parameters_match_the_model_component_by_component(
    vocab, context, n_layer, n_head, n_embd
):
    model = TinyGPT(vocab, context, n_layer, n_head, n_embd)
    parts = gpt_parameters(vocab, context, n_layer, n_embd)
    blocks = model.blocks
    assert parts["total"] == parameter_count(model)
    assert parts["token_embedding"] == _numel(model.tokens)
    assert parts["position_embedding"] == _numel(model.positions)
    assert parts["attention"] == _numel(*(b.attn for b in blocks))
    assert parts["mlp"] == _numel(*(b.mlp for b in blocks))
    assert parts["layer_norms"] == _numel(
        model.norm, *(b.norm1 for b in blocks), *(b.norm2 for b in blocks)
    )
    assert parts["head"] == _numel(model.head)
    assert parts["non_embedding"] == parts["total"] - _numel(model.tokens, model.positions)


def test_train_flops_per_token_equal_torch_flop_counter():
    # Count every matmul of a forward and backward with torch's FlopCounterMode, attention
    # in its unfused (math) form so its matmuls are visible. 6·N counts the matmul weights;
    # biases and LayerNorm γ, β do no matmul, so N here is the matmul weights alone.
    vocab, context, n_layer, n_head, n_embd, batch = 10, 16, 2, 4, 64, 3
    model = TinyGPT(vocab, context, n_layer, n_head, n_embd)
    x = torch.randint(0, vocab, (batch, context))
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        sequence_loss(model(x), x).backward()
    matmul_weights = n_layer * 12 * n_embd**2 + n_embd * vocab  # 4d² + 8d² per block, head
    flops = train_flops_per_token(n_layer, n_embd, context, matmul_weights)
    assert flops["attention"] == 12 * 2 * 64 * 16  # 24,576
    assert flops["total"] == counter.get_total_flops() / (batch * context)
    # With N = all non-embedding parameters (biases, LayerNorms too): within 2 % at d = 64.
    n = gpt_parameters(vocab, context, n_layer, n_embd)["non_embedding"]
    rough = train_flops_per_token(n_layer, n_embd, context, n)["total"]
    assert flops["total"] < rough < 1.02 * flops["total"]


def test_training_memory_by_hand():
    # ZeRO's 16 bytes per parameter for Adam, in both precisions.
    assert training_memory(1000, "fp32", "adam") == {
        "weights": 4000,
        "gradients": 4000,
        "master_weights": 0,
        "optimizer_state": 8000,
        "total": 16000,
    }
    assert training_memory(1000, "mixed", "adamw") == {
        "weights": 2000,
        "gradients": 2000,
        "master_weights": 4000,
        "optimizer_state": 8000,
        "total": 16000,
    }
    assert training_memory(1000, "fp32", "sgd")["total"] == 8000
    assert training_memory(1000, "mixed", "momentum")["total"] == 2000 + 2000 + 4000 + 4000
    with pytest.raises(ConfigError, match="precision"):
        training_memory(1000, "bf16")
    with pytest.raises(ConfigError, match="optimizer"):
        training_memory(1000, "fp32", "lion")


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_training_memory_equals_the_measured_state_after_a_step(name):
    torch.manual_seed(0)
    model = TinyGPT(vocab=10, context=12, n_layer=2, n_head=2, n_embd=16)
    optimizer = make_optimizer(name, model.parameters(), lr=1e-3)
    x = torch.randint(0, 10, (4, 12))
    sequence_loss(model(x), x).backward()
    optimizer.step()
    measured = measured_training_state(model, optimizer)
    expected = training_memory(parameter_count(model), "fp32", name)
    for part in ("weights", "gradients", "optimizer_state"):
        assert measured[part] == expected[part], part
    # step counters: one 4-byte scalar per parameter tensor, where the optimizer keeps one
    has_step = name in ("adagrad", "rmsprop", "adam", "adamw")
    assert measured["step_counters"] == (4 * len(list(model.parameters())) if has_step else 0)


def _batch(vocab, context, batch):
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, vocab, (batch, context), generator=gen)
    y = torch.randint(0, vocab, (batch, context), generator=gen)
    y[:, : context // 2] = IGNORE  # a prompt, as in sort_task: the loss still saves all targets
    return x, y


@pytest.mark.parametrize("checkpointing", [False, True])
@pytest.mark.parametrize("vocab, context, n_layer, n_head, n_embd", SHAPES)
def test_activation_estimate_matches_the_saved_tensors(
    vocab, context, n_layer, n_head, n_embd, checkpointing
):
    batch = 3
    model = TinyGPT(vocab, context, n_layer, n_head, n_embd)
    model.activation_checkpointing = checkpointing
    measured = saved_activation_bytes(model, *_batch(vocab, context, batch), sequence_loss)
    estimate = activation_bytes(
        batch, context, n_layer, n_embd, n_head, 4, checkpointing, vocab=vocab
    )
    assert abs(estimate["saved"] - measured) <= 0.02 * measured


def test_checkpointing_cuts_the_saved_activations():
    vocab, context, n_layer, n_head, n_embd, batch = 10, 32, 4, 4, 64, 8
    model = TinyGPT(vocab, context, n_layer, n_head, n_embd).eval()
    x, y = _batch(vocab, context, batch)
    full = saved_activation_bytes(model, x, y, sequence_loss)
    model.activation_checkpointing = True
    kept = saved_activation_bytes(model, x, y, sequence_loss)
    assert kept < full / 4  # 1 of ~16 values per layer kept
    assert not model.training  # the measurement put the model back in eval mode


def test_bf16_autocast_saves_more_than_a_uniform_16_bit_model():
    # autocast keeps the residual stream and LayerNorms in fp32 and saves bf16 copies of
    # the weights, so it saves more than the p = 2 estimate (and less than the fp32 one here)
    vocab, context, n_layer, n_head, n_embd, batch = 10, 32, 2, 4, 64, 8
    model = TinyGPT(vocab, context, n_layer, n_head, n_embd)
    x, y = _batch(vocab, context, batch)
    with torch.autocast("cpu", torch.bfloat16):
        measured = saved_activation_bytes(model, x, y, sequence_loss)
    shape = (batch, context, n_layer, n_embd, n_head)
    assert activation_bytes(*shape, 2, vocab=vocab)["saved"] < measured
    assert measured < activation_bytes(*shape, 4, vocab=vocab)["saved"]


def test_activation_estimate_by_hand_and_against_korthikanti():
    # 1 sequence of 4 tokens, d = 8, 2 heads, 2 layers, vocab 5, fp32.
    # Per layer: 4·16·4·8 = 2048 + LayerNorm stats 4·(4·4) = 64 + log-sum-exp 4·(2·4) = 32.
    # Outside: ids 8·(4 + 4 + 4) = 96, final LN and head inputs 4·2·32 = 256, LN stats
    # 4·2·4 = 32, log-softmax 4·4·5 = 80, scalar 4: 468.
    e = activation_bytes(1, 4, 2, 8, 2, 4, vocab=5)
    assert e == {
        "blocks": 2 * 2144,
        "outside_blocks": 468,
        "saved": 4756,
        "recompute": 0,
        "peak": 4756,
    }
    c = activation_bytes(1, 4, 2, 8, 2, 4, True, vocab=5)
    assert c["blocks"] == 2 * 4 * 32 and c["recompute"] == 2144
    assert c["peak"] == 256 + 468 + 2144
    # At 16-bit a layer here is 32·sbh plus fp32 statistics; Korthikanti's 34·sbh + 5·a·s²·b
    # adds dropout masks and the unfused attention scores.
    s, b, h, a = 2048, 1, 4096, 32
    ours = activation_bytes(b, s, 1, h, a, 2, vocab=1)["blocks"]
    assert ours == 32 * s * b * h + 4 * (4 * s * b + a * s * b)
    assert korthikanti_layer_bytes(b, s, h, a) == s * b * h * (34 + 5 * a * s // h)
    assert ours < korthikanti_layer_bytes(b, s, h, a)


def test_matmul_ceiling_and_mfu():
    before = torch.get_num_threads()
    flops = matmul_ceiling(size=256, threads=1, repeats=3)
    assert torch.get_num_threads() == before
    # a 256³ product takes well under 0.1 s; 2·n³ / 0.1 s = 3.4e8. n² would give ~1e6.
    assert 3e8 < flops < 1e13
    assert mfu(tokens_per_s=1000, flops_per_token=6e6, ceiling=1.2e10) == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="ceiling"):
        mfu(1000, 6e6, 0)


def test_what_fits_on_one_80gb_gpu_by_hand():
    rows = {(r["model"], r["use"]): r for r in what_fits()}
    # 7B: token and head 2·32000·4096 = 262,144,000; positions 4096² = 16,777,216;
    # attention 32·(4·4096² + 4·4096) = 2,148,007,936; MLP 32·(8·4096² + 5·4096) =
    # 4,295,622,656; LayerNorms 65·2·4096 = 532,480. Total 6,723,084,288.
    seven = rows[("7B", "train, adam, mixed precision")]
    assert seven["params"] == 6_723_084_288
    assert seven["state_gb"] == pytest.approx(16 * 6_723_084_288 / 1e9)  # 107.57 GB
    # Activations, 1 sequence, bf16, checkpointing: 32 block inputs 32·4096·4096·2 =
    # 1,073,741,824; one block recomputed 16·4096²·2 + 4·(4·4096 + 32·4096) = 537,460,736;
    # outside 8·3·4096 + 2·2·4096² + 4·2·4096 + 4·4096·32000 + 4 = 591,527,940.
    assert seven["activations_gb"] == pytest.approx(2_202_730_500 / 1e9)
    assert not seven["fits_one_gpu"]
    assert seven["gpus"] == 2  # ⌈107.57 / (80 − 2.20)⌉ = ⌈1.38⌉
    infer = rows[("7B", "inference, bf16 weights")]
    assert infer["total_gb"] == pytest.approx(2 * 6_723_084_288 / 1e9)  # 13.4 GB
    assert infer["fits_one_gpu"] and infer["gpus"] == 1
    # 70B-class: attention 80·(4·8192² + 4·8192) = 21,477,457,920; MLP 80·(8·8192² +
    # 5·8192) = 42,952,949,760; LayerNorms 161·2·8192 = 2,637,824; token and head
    # 524,288,000; positions 33,554,432. Total 64,990,887,936.
    seventy = rows[("70B-class", "train, adam, mixed precision")]
    assert seventy["params"] == 64_990_887_936
    # state 1039.85 GB; activations 80·4096·8192·2 + 1,074,855,936 + 658,636,804 = 7.10 GB
    assert seventy["activations_gb"] == pytest.approx(7_102_201_860 / 1e9)
    assert seventy["gpus"] == math.ceil(1039.854206976 / (80 - 7.10220186))  # 15
    assert seventy["gpus"] == 15
    bf16 = rows[("70B-class", "inference, bf16 weights")]
    assert bf16["total_gb"] == pytest.approx(129.98, abs=0.01)
    assert not bf16["fits_one_gpu"] and bf16["gpus"] == 2
    int8 = rows[("70B-class", "inference, int8 weights")]
    assert int8["fits_one_gpu"] and int8["total_gb"] == pytest.approx(64.99, abs=0.01)
    assert what_fits(["7B"], gpu_gb=120)[0]["fits_one_gpu"]  # 109.8 GB fits 120 GB
    assert GB == 10**9
