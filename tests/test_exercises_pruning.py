"""Notebook 07's exercises: the references pass, placeholders are "not attempted", and each
diagnosed mistake gets its own hint."""

import pytest
import torch
from exercise_checks import assert_wrong
from torch import nn

import labkit
from labkit.compress import prune
from labkit.exercises import check


@pytest.mark.parametrize("name", ["csr_bytes", "shrink_hidden"])
def test_placeholders_are_not_attempted(name):
    def placeholder(*args):
        # YOUR CODE HERE
        raise NotImplementedError

    assert check(name, placeholder).status == "not attempted"
    assert check(name, None).status == "not attempted"


# ---- csr_bytes -----------------------------------------------------------------------------


def csr_bytes(rows, cols, nonzeros):
    return nonzeros * (4 + 8) + (rows + 1) * 8


def measured(rows, cols, nonzeros):  # build it and count, as prune.sparse_bytes does
    dense = torch.zeros(rows * cols)
    dense[:nonzeros] = 1.0
    csr = dense.reshape(rows, cols).to_sparse_csr()
    return sum(t.numel() * t.element_size() for t in (csr.values(), csr.col_indices(),
                                                      csr.crow_indices()))  # fmt: skip


@pytest.mark.parametrize("answer", [csr_bytes, measured, lambda r, c, n: float(csr_bytes(r, c, n))])
def test_csr_bytes_accepts_every_correct_answer(answer):
    result = check("csr_bytes", answer)
    assert result.passed and "6 shapes" in result.message, result


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (lambda r, c, n: 4 * n, "you counted only the values"),
        (lambda r, c, n: 12 * n, "add the row pointers (crow_indices)"),
        (lambda r, c, n: 12 * n + 8 * r, "crow_indices holds rows + 1 pointers, not rows"),
        (lambda r, c, n: 12 * n + 8 * (c + 1), "CSR compresses *rows*"),
        (lambda r, c, n: 8 * n + 4 * (r + 1), "int64 (8 bytes each), not int32"),
        (lambda r, c, n: 20 * n, "that is COO storage"),
        (lambda r, c, n: 4 * r * c, "that is the dense size"),
        (lambda r, c, n: 8 * csr_bytes(r, c, n), "you returned bits"),
        (lambda r, c, n: csr_bytes(r, c, n) + 8, "torch stores 86848 bytes; you returned 86856"),
        (lambda r, c, n: (csr_bytes(r, c, n), 0), "return one number of bytes"),
        (
            lambda r, c, n: r // n,
            "ZeroDivisionError (integer division or modulo by zero) on csr_bytes(3, 4, 0)",
        ),
    ],
)
def test_csr_bytes_diagnoses_each_mistake(answer, hint):
    assert_wrong(check("csr_bytes", answer), hint)


def test_csr_bytes_matches_what_labkit_reports_for_a_pruned_model():
    model = labkit.MLP(in_features=8, hidden=(32,), classes=3)
    prune.magnitude_prune_(model, 0.75)
    layers = prune.prunable_layers(model).values()
    expected = sum(csr_bytes(*m.weight.shape, int((m.weight != 0).sum())) for m in layers)
    biases = sum(m.bias.numel() * 4 for m in layers)
    assert prune.sparse_bytes(model) == expected + biases


# ---- shrink_hidden -------------------------------------------------------------------------


def shrink_hidden(first, second, fraction):
    hidden = first.out_features
    k = max(1, hidden - round(fraction * hidden))
    keep = first.weight.norm(dim=1).topk(k).indices.sort().values
    a, b = nn.Linear(first.in_features, k), nn.Linear(k, second.out_features)
    with torch.no_grad():
        a.weight.copy_(first.weight[keep])
        a.bias.copy_(first.bias[keep])
        b.weight.copy_(second.weight[:, keep])
        b.bias.copy_(second.bias)
    return a, b


def unsorted_keep(first, second, fraction):  # any order of the kept units computes the same
    hidden = first.out_features
    k = max(1, hidden - round(fraction * hidden))
    keep = first.weight.norm(dim=1).topk(k).indices  # largest first
    a, b = nn.Linear(first.in_features, k), nn.Linear(k, second.out_features)
    a.weight.data, a.bias.data = first.weight.data[keep].clone(), first.bias.data[keep].clone()
    b.weight.data, b.bias.data = second.weight.data[:, keep].clone(), second.bias.data.clone()
    return [a, b]


def through_labkit(first, second, fraction):  # the library's own structured pruning
    mlp = labkit.MLP(first.in_features, (first.out_features,), second.out_features)
    mlp.net[0].load_state_dict(first.state_dict())
    mlp.net[2].load_state_dict(second.state_dict())
    small = prune.prune_units(mlp, fraction)
    return small.net[0], small.net[2]


@pytest.mark.parametrize("answer", [shrink_hidden, unsorted_keep, through_labkit])
def test_shrink_hidden_accepts_every_correct_answer(answer):
    result = check("shrink_hidden", answer)
    assert result.passed and "5 pairs of layers" in result.message, result


def shrink(first, second, fraction, *, score=None, largest=True, kept=None, bias=True,
           columns=True, in_place=False):  # fmt: skip
    hidden = first.out_features
    k = kept(hidden, fraction) if kept else max(1, hidden - round(fraction * hidden))
    scores = score(first, second) if score else first.weight.norm(dim=1)
    keep = scores.topk(k, largest=largest).indices.sort().values
    a, b = nn.Linear(first.in_features, k), nn.Linear(k, second.out_features)
    with torch.no_grad():
        a.weight.copy_(first.weight[keep])
        if bias:
            a.bias.copy_(first.bias[keep])
        b.weight.copy_(second.weight[:, keep] if columns else second.weight[:, :k])
        b.bias.copy_(second.bias)
        if in_place:
            first.weight.zero_()
    return a, b


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (lambda f, s, x: shrink(f, s, x, largest=False), "kept the units with the *smallest*"),
        (lambda f, s, x: shrink(f, s, x, score=lambda f, s: s.weight.norm(dim=0)),
         "ranked the units by their outgoing weights"),
        (lambda f, s, x: shrink(f, s, x, score=lambda f, s: f.weight.abs().sum(1)),
         "you ranked by the L1 norm"),
        (lambda f, s, x: shrink(f, s, x, kept=lambda h, x: max(1, round(x * h))),
         "fraction is the share of units *removed*"),
        (lambda f, s, x: shrink(f, s, x, bias=False), "copy first.bias[keep] too"),
        (lambda f, s, x: shrink(f, s, x, kept=lambda h, x: h - round(x * h)),
         "keep 1 of 3 units (remove round(fraction · hidden), at least one stays); you kept 0"),
        (lambda f, s, x: shrink(f, s, x, columns=False), "computes something else"),
        (lambda f, s, x: shrink(f, s, x, in_place=True), "changed the layers it was given"),
        (lambda f, s, x: (f, s), "keep 8 of 16 units"),
        (lambda f, s, x: (nn.Linear(8, 4), nn.Linear(5, 3)), "must fit together: Linear(8, k)"),
        (lambda f, s, x: shrink(f, s, x)[0], "return a tuple (new_first, new_second)"),
        (lambda f, s, x: (s.weight[:, :2], s.bias), "of two nn.Linear layers"),
        (lambda f, s, x: 3.0, "return a tuple"),
    ],
)  # fmt: skip
def test_shrink_hidden_diagnoses_each_mistake(answer, hint):
    assert_wrong(check("shrink_hidden", answer), hint)
