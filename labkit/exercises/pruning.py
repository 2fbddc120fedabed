"""Notebook 07 (pruning): `csr_bytes` and `shrink_hidden`.

`csr_bytes(rows, cols, nonzeros)` is graded against what `torch.Tensor.to_sparse_csr` really
holds (fp32 values, int64 column indices, int64 row pointers) for matrices of several shapes,
an empty one and a full one included; `rows != cols` in most cases, so the row pointers
cannot pass for column pointers. `shrink_hidden(first, second, fraction)` is graded on pairs
of Linear layers around a ReLU, against the reference that `labkit.compress.prune.prune_units`
applies to every hidden layer: keep the units whose incoming weights (rows of
`first.weight`) have the largest L2 norm, with their biases, and keep the same columns of
`second.weight`; the shrunk pair must compute exactly what the kept units computed. When an
answer is wrong, each checker looks for the common mistake it matches (only the values
counted, no row pointers, `rows` pointers instead of `rows + 1`, int32 indices, COO, the
dense size, bits; the smallest units kept, units ranked by outgoing weights or by the L1
norm, `fraction` read as the share kept, biases not carried over, the layers changed in
place) and returns that mistake's hint. Exposed as `EXERCISES`, which `labkit.exercises`
merges.
"""

from __future__ import annotations

import copy
import math
import warnings
from typing import Any

import torch
from torch import nn

from labkit.exercises.core import Exercise, array, call

# ---- csr_bytes -----------------------------------------------------------------------------

_CSR_CASES = (  # (rows, cols, nonzeros, how the hint names it)
    (1024, 64, 6554, "the wide MLP's first layer (1024 × 64) at 90 % sparsity"),
    (1024, 1024, 104858, "a 1024 × 1024 layer at 90 % sparsity"),
    (10, 1024, 1024, "the classifier (10 × 1024) at 90 % sparsity"),
    (5, 7, 35, "a full 5 × 7 matrix (no zeros)"),
    (3, 4, 0, "an all-zero 3 × 4 matrix"),
    (1, 1, 1, "a 1 × 1 matrix holding one non-zero"),
)


def _real_csr_bytes(rows: int, cols: int, nonzeros: int) -> int:
    """What torch stores: a random matrix with exactly `nonzeros` non-zeros, made CSR."""
    g = torch.Generator().manual_seed(rows * 7919 + cols * 31 + nonzeros)
    dense = torch.zeros(rows * cols)
    dense[torch.randperm(rows * cols, generator=g)[:nonzeros]] = 1.0 + torch.rand(nonzeros)
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        csr = dense.reshape(rows, cols).to_sparse_csr()
    parts = (csr.values(), csr.col_indices(), csr.crow_indices())
    return sum(t.numel() * t.element_size() for t in parts)


def _csr_bytes(rows: int, cols: int, nonzeros: int, *, mistake: str = "") -> int:
    """Reference (mistake=''): 4-byte values, 8-byte column indices, rows + 1 row pointers."""
    return {
        "values only": 4 * nonzeros,
        "no pointers": 12 * nonzeros,
        "rows pointers": 12 * nonzeros + 8 * rows,
        "column pointers": 12 * nonzeros + 8 * (cols + 1),
        "int32": 8 * nonzeros + 4 * (rows + 1),
        "coo": 20 * nonzeros,
        "dense": 4 * rows * cols,
        "bits": 8 * (12 * nonzeros + 8 * (rows + 1)),
    }.get(mistake, 12 * nonzeros + 8 * (rows + 1))


_CSR_MISTAKES = (
    (
        "values only",
        "you counted only the values (4 bytes each): CSR also stores each value's column index "
        "(int64, 8 bytes) and one row pointer per row, plus one (int64)",
    ),
    (
        "no pointers",
        "values and column indices are right; add the row pointers (crow_indices): rows + 1 "
        "int64 numbers, where row i's values start and end",
    ),
    (
        "rows pointers",
        "almost: crow_indices holds rows + 1 pointers, not rows (row i spans "
        "crow[i]:crow[i + 1], so the last row needs an end pointer too)",
    ),
    (
        "column pointers",
        "CSR compresses *rows*: one pointer per row (rows + 1 of them), not per column",
    ),
    (
        "int32",
        "torch's CSR tensors hold their indices as int64 (8 bytes each), not int32: check "
        "csr.col_indices().element_size()",
    ),
    (
        "coo",
        "that is COO storage (a row and a column index per value, 20 bytes each); CSR replaces "
        "the row indices by rows + 1 row pointers",
    ),
    (
        "dense",
        "that is the dense size (4 bytes for every entry, zeros included); CSR stores only the "
        "non-zeros, their column indices and the row pointers",
    ),
    ("bits", "you returned bits: count bytes (fp32 is 4 bytes, int64 8)"),
)


def _check_csr_bytes(fn: Any) -> str | None:
    outs = []
    for rows, cols, nonzeros, on in _CSR_CASES:
        out = call(fn, rows, cols, nonzeros, on=f"csr_bytes({rows}, {cols}, {nonzeros}) ({on})")
        a = array(out)
        if a is None or a.size != 1:
            return f"return one number of bytes; got {out!r} for {on}"
        outs.append(float(a.reshape(())))
    truth = [_real_csr_bytes(r, c, n) for r, c, n, _ in _CSR_CASES]
    if all(math.isclose(o, t) for o, t in zip(outs, truth, strict=True)):
        return None
    for mistake, hint in _CSR_MISTAKES:
        if all(
            math.isclose(o, _csr_bytes(r, c, n, mistake=mistake))
            for o, (r, c, n, _) in zip(outs, _CSR_CASES, strict=True)
        ):
            return hint
    for o, t, (r, c, n, on) in zip(outs, truth, _CSR_CASES, strict=True):
        if not math.isclose(o, t):
            return (
                f"for {on} ({r} rows, {c} columns, {n} non-zeros) torch stores {t} bytes; "
                f"you returned {o:g}"
            )
    return None


# ---- shrink_hidden -------------------------------------------------------------------------

_SHRINK_CASES = (  # (inputs, hidden units, outputs, fraction removed)
    (8, 16, 3, 0.5),
    (5, 10, 4, 0.3),
    (6, 12, 2, 0.75),
    (7, 6, 3, 0.0),
    (4, 3, 2, 0.9),  # round(2.7) = 3 removed would leave none: one unit survives
)


def _case_layers(i: int) -> tuple[nn.Linear, nn.Linear]:
    inputs, hidden, outputs, _ = _SHRINK_CASES[i]
    torch.manual_seed(100 + i)
    first, second = nn.Linear(inputs, hidden), nn.Linear(hidden, outputs)
    with torch.no_grad():
        first.weight.normal_()  # random rows: the L1 and L2 rankings differ at the cut
        first.bias.uniform_(-1, 1)  # biases that matter
    return first, second


def _kept(hidden: int, fraction: float) -> int:
    return max(1, hidden - round(fraction * hidden))


def _shrink(
    first: nn.Linear, second: nn.Linear, fraction: float, *, mistake: str = ""
) -> tuple[nn.Linear, nn.Linear]:
    """Reference (mistake=''): keep the largest L2 norms of first's rows, with their biases,
    and second's matching columns. The mistakes replay wrong answers."""
    hidden = first.out_features
    k = max(1, round(fraction * hidden)) if mistake == "share kept" else _kept(hidden, fraction)
    w = first.weight.detach()
    scores = {
        "outgoing": second.weight.detach().norm(dim=0),
        "l1": w.abs().sum(dim=1),
    }.get(mistake, w.norm(dim=1))
    keep = scores.topk(k, largest=mistake != "smallest").indices.sort().values
    a, b = nn.Linear(first.in_features, k), nn.Linear(k, second.out_features)
    with torch.no_grad():
        a.weight.copy_(w[keep])
        if mistake != "bias":  # a fresh layer's random bias left in place
            a.bias.copy_(first.bias[keep])
        b.weight.copy_(second.weight[:, keep])
        b.bias.copy_(second.bias)
    return a, b


_SHRINK_MISTAKES = (
    (
        "smallest",
        "you kept the units with the *smallest* norms: keep the strongest ones (topk with "
        "largest=True) and remove the weakest",
    ),
    (
        "outgoing",
        "you ranked the units by their outgoing weights (columns of second.weight); rank by "
        "their incoming weights, the rows of first.weight, as prune_units does",
    ),
    (
        "l1",
        "you ranked by the L1 norm (sum of |w|); this exercise asks for the L2 norm of each row "
        "of first.weight (first.weight.norm(dim=1))",
    ),
    (
        "share kept",
        "fraction is the share of units *removed*: keep hidden - round(fraction * hidden) of "
        "them (at least 1)",
    ),
    (
        "bias",
        "the right units and weights, but the first layer's bias is not the kept units' own: "
        "copy first.bias[keep] too (a new nn.Linear starts with a random bias)",
    ),
)


def _forward(first: Any, second: Any, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return second(torch.relu(first(x)))


def _linear_pair(out: Any) -> tuple[Any, Any] | None:
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        return None
    if not all(isinstance(layer, nn.Linear) for layer in out):
        return None
    return out[0], out[1]


def _check_shrink_hidden(fn: Any) -> str | None:
    outs = []
    for i, (inputs, hidden, outputs, fraction) in enumerate(_SHRINK_CASES):
        first, second = _case_layers(i)
        before = copy.deepcopy((first, second))
        on = f"Linear({inputs}, {hidden}) and Linear({hidden}, {outputs}) with fraction={fraction}"
        pair = _linear_pair(call(fn, first, second, fraction, on=on))
        if pair is None:
            return f"return a tuple (new_first, new_second) of two nn.Linear layers, for {on}"
        unchanged = all(
            torch.equal(p, q)
            for old, new in zip(before, (first, second), strict=True)
            for p, q in zip(old.parameters(), new.parameters(), strict=True)
        )
        if not unchanged:
            return (
                "your function changed the layers it was given: build new ones (the big model "
                f"must stay as it was, to compare with), for {on}"
            )
        a, b = pair
        if (a.in_features, b.out_features) != (inputs, outputs) or a.out_features != b.in_features:
            return (
                f"for {on} the new layers must fit together: Linear({inputs}, k) and "
                f"Linear(k, {outputs}), with k the units kept (the second layer's *columns* are "
                f"its inputs: second.weight[:, keep]); got Linear({a.in_features}, "
                f"{a.out_features}) and Linear({b.in_features}, {b.out_features})"
            )
        outs.append(pair)
    xs = [torch.randn(32, c[0], generator=torch.Generator().manual_seed(i)) for i, c in
          enumerate(_SHRINK_CASES)]  # fmt: skip

    def matches(mistake: str) -> bool:
        for i, ((a, b), x) in enumerate(zip(outs, xs, strict=True)):
            first, second = _case_layers(i)
            ref = _shrink(first, second, _SHRINK_CASES[i][3], mistake=mistake)
            if (a.out_features, b.in_features) != (ref[0].out_features, ref[1].in_features):
                return False
            if mistake == "bias":  # the right weights, any bias but the kept units' own
                same = all(
                    torch.allclose(p, q)
                    for p, q in ((a.weight, ref[0].weight), (b.weight, ref[1].weight),
                                 (b.bias, ref[1].bias))
                )  # fmt: skip
                if not same:
                    return False
            elif not torch.allclose(_forward(a, b, x), _forward(*ref, x), atol=1e-5):
                return False
        return True

    if matches(""):
        return None
    for mistake, hint in _SHRINK_MISTAKES:
        if matches(mistake):
            return hint
    for i, ((a, b), x) in enumerate(zip(outs, xs, strict=True)):
        first, second = _case_layers(i)
        inputs, hidden, outputs, fraction = _SHRINK_CASES[i]
        k = _kept(hidden, fraction)
        on = f"Linear({inputs}, {hidden}) and Linear({hidden}, {outputs}) with fraction={fraction}"
        if a.out_features != k:
            return (
                f"for {on} keep {k} of {hidden} units (remove round(fraction · hidden), at "
                f"least one stays); you kept {a.out_features}"
            )
        if not torch.allclose(_forward(a, b, x), _forward(*_shrink(first, second, fraction), x),
                              atol=1e-5):  # fmt: skip
            return (
                f"for {on}, the shrunk pair computes something else than the kept units did: "
                "keep first.weight[keep], first.bias[keep], second.weight[:, keep] and "
                "second.bias, with keep the indices of the largest row norms of first.weight"
            )
    return None


EXERCISES: dict[str, Exercise] = {
    e.name: e
    for e in (
        Exercise(
            "csr_bytes",
            "Write `csr_bytes(rows, cols, nonzeros)`: the bytes a rows × cols matrix with that "
            "many non-zeros takes in compressed sparse row form as torch stores it "
            "(`to_sparse_csr`): fp32 values (4 bytes), an int64 column index per value "
            "(8 bytes), and int64 row pointers (`crow_indices`), one per row plus one.",
            _check_csr_bytes,
            f"passed on {len(_CSR_CASES)} shapes (an empty and a full matrix included), "
            "checked against what to_sparse_csr holds",
        ),
        Exercise(
            "shrink_hidden",
            "Write `shrink_hidden(first, second, fraction)`: `first` is an nn.Linear(inputs, "
            "hidden), followed by a ReLU and `second`, an nn.Linear(hidden, outputs). Return two "
            "new nn.Linear layers without the round(fraction · hidden) hidden units whose "
            "incoming weights (rows of first.weight) have the smallest L2 norm (at least one "
            "unit stays): first's kept rows and biases, second's kept columns and all of its "
            "bias. Leave the layers you were given unchanged.",
            _check_shrink_hidden,
            f"passed on {len(_SHRINK_CASES)} pairs of layers (fractions 0 to 0.9): the shrunk "
            "pair computes exactly what the kept units did",
        ),
    )
}
