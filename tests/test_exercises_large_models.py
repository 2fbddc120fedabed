"""Notebook 06's exercises: the references pass (and agree with labkit.scale), placeholders
are "not attempted", and each diagnosed mistake gets its own hint."""

import math

import pytest
from exercise_checks import assert_wrong, checker

from labkit import scale
from labkit.exercises import large_models as ex

check = checker(ex)


def test_every_placeholder_is_not_attempted():
    def placeholder(*args):
        raise NotImplementedError

    for name in ex.EXERCISES:
        assert check(name, placeholder).status == "not attempted"
        assert check(name, None).status == "not attempted"


# ---- gpt_params ----------------------------------------------------------------------------


def gpt_params(vocab, context, n_layer, n_embd):
    d = n_embd
    block = 4 * d * d + 4 * d + 8 * d * d + 5 * d + 4 * d
    return vocab * d + context * d + n_layer * block + 2 * d + d * vocab


def test_the_gpt_params_reference_is_scales():
    for vocab, context, n_layer, n_embd, _ in ex._SHAPES:
        total = scale.gpt_parameters(vocab, context, n_layer, n_embd)["total"]
        assert ex._gpt_params(vocab, context, n_layer, n_embd) == total


@pytest.mark.parametrize(
    "answer",
    [gpt_params, lambda *a: float(gpt_params(*a)),
     lambda v, c, L, d: scale.gpt_parameters(v, c, L, d)["total"]],
)  # fmt: skip
def test_gpt_params_accepts_every_correct_answer(answer):
    result = check("gpt_params", answer)
    assert result.passed and "to the 7B preset" in result.message, result


def _without(part):
    def answer(v, c, L, d):
        terms = {"emb": v * d, "pos": c * d, "attn": L * (4 * d * d + 4 * d),
                 "mlp": L * (8 * d * d + 5 * d), "norms": (2 * L + 1) * 2 * d,
                 "head": d * v}  # fmt: skip
        terms.update(part(v, c, L, d))
        return sum(terms.values())

    return answer


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (_without(lambda v, c, L, d: {"attn": L * 4 * d * d, "mlp": L * 8 * d * d}),
         "count the biases too"),
        (_without(lambda v, c, L, d: {"norms": 0}), "count the LayerNorms"),
        (_without(lambda v, c, L, d: {"norms": (2 * L + 1) * d}), "not d"),
        (_without(lambda v, c, L, d: {"norms": (L + 1) * 2 * d}), "two LayerNorms"),
        (_without(lambda v, c, L, d: {"norms": 4 * L * d}), "add the final LayerNorm"),
        (_without(lambda v, c, L, d: {"head": 0}), "not tied to the token embedding"),
        (_without(lambda v, c, L, d: {"pos": 0}), "add the position embedding"),
        (_without(lambda v, c, L, d: {"mlp": L * (4 * d * d + 4 * d)}), "two matrices"),
        (_without(lambda v, c, L, d: {"attn": L * (3 * d * d + 3 * d)}), "output projection"),
        (lambda v, c, L, d: gpt_params(v, c, L, d) + 1, "the model has 102,144 parameters"),
        (lambda v, c, L, d: [gpt_params(v, c, L, d)] * 2, "return one number"),
    ],
)  # fmt: skip
def test_gpt_params_diagnoses_each_mistake(answer, hint):
    assert_wrong(check("gpt_params", answer), hint)


# ---- training_bytes ------------------------------------------------------------------------


def training_bytes(params, precision, optimizer):
    w = 4 if precision == "fp32" else 2
    master = 0 if precision == "fp32" else 4
    return params * (2 * w + master + 4 * {"sgd": 0, "momentum": 1, "adam": 2}[optimizer])


def test_the_training_bytes_reference_is_scales():
    for case in ex._STATE_CASES:
        assert ex._training_bytes(*case) == scale.training_memory(*case)["total"]


def test_training_bytes_accepts_the_answer_and_scales_own():
    assert check("training_bytes", training_bytes).passed
    assert check("training_bytes", lambda *a: scale.training_memory(*a)["total"]).passed


def _bytes(weights=None, grads=None, master=None, buffers=None, per_buffer=None, unit=1):
    def answer(params, precision, optimizer):
        w = 4 if precision == "fp32" else 2
        g = w if grads is None else grads(w)
        m = (0 if precision == "fp32" else 4) if master is None else master
        b = (
            {"sgd": 0, "momentum": 1, "adam": 2}[optimizer]
            if buffers is None
            else buffers[optimizer]
        )
        pb = 4 if per_buffer is None else per_buffer(precision)
        return params * (w + g + m + pb * b) / unit

    return answer


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (_bytes(grads=lambda w: 0), "one gradient per weight"),
        (_bytes(master=0), "fp32 master copy"),
        (_bytes(buffers={"sgd": 0, "momentum": 1, "adam": 1}), "two buffers per weight"),
        (_bytes(per_buffer=lambda p: 4 if p == "fp32" else 2), "stay in fp32"),
        (_bytes(buffers={"sgd": 1, "momentum": 1, "adam": 2}), "plain SGD keeps no buffer"),
        (_bytes(unit=1e9), "return bytes, not gigabytes"),
        (lambda p, pr, o: training_bytes(p, pr, o) * 2, "per parameter); you returned"),
        (lambda p, pr, o: "16 bytes", "return one number"),
    ],
)
def test_training_bytes_diagnoses_each_mistake(answer, hint):
    assert_wrong(check("training_bytes", answer), hint)


# ---- zero3_gpus ----------------------------------------------------------------------------


def zero3_gpus(state_gb, activations_gb, gpu_gb):
    room = gpu_gb - activations_gb
    return math.ceil(state_gb / room) if room > 0 else None


def test_the_zero3_reference_is_what_fits_rule():
    for row in scale.what_fits():
        if row["use"].startswith("train"):
            assert ex._zero3_gpus(row["state_gb"], row["activations_gb"], 80.0) == row["gpus"]


def test_zero3_gpus_accepts_the_answer_and_a_float_count():
    assert check("zero3_gpus", zero3_gpus).passed
    assert check(
        "zero3_gpus", lambda s, a, g: None if a >= g else float(zero3_gpus(s, a, g))
    ).passed


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (lambda s, a, g: None if a >= g else math.floor(s / (g - a)), "round up"),
        (lambda s, a, g: math.ceil(s / g), "each GPU also holds its own micro-batch's"),
        (lambda s, a, g: math.ceil((s + a) / g), "shards the state (weights, gradients"),
        (lambda s, a, g: math.ceil(s / (g - a)), "raised ZeroDivisionError"),
        (lambda s, a, g: max(1, math.ceil(s / (g - a))) if a != g else None, "return None, not"),
        (lambda s, a, g: None if a >= g else s / (g - a), "return a whole number of GPUs"),
        (lambda s, a, g: None if a >= g else math.ceil(s / (g - a)) + 1, "the answer is 2"),
    ],
)
def test_zero3_gpus_diagnoses_each_mistake(answer, hint):
    assert_wrong(check("zero3_gpus", answer), hint)


def test_the_exercises_are_registered_in_notebook_order():
    from labkit import exercises

    names = list(exercises.EXERCISES)
    assert names.index("gpt_params") < names.index("training_bytes") < names.index("zero3_gpus")
    assert exercises.prompt("zero3_gpus").startswith("Write `zero3_gpus(")
