"""Notebook 11 (serving): `validate` and `batches`.

`validate(body, features, max_rows)` is graded on request bodies as `json.loads` returns them
(Python's parser accepts NaN and Infinity), one fault at most each, against the reference
`_validate`, which gives the answers `labkit.serve.parse_inputs` gives (a test holds the two
together): a float32 array (N, features) for a valid body, else the kind of mistake, one of
`KINDS`. The cases come in an order that makes the first one answered wrongly name the likely
mistake: integers refused as numbers, exactly `max_rows` rows refused, an unknown field
ignored, a field name checked before the unknown fields, an empty batch or a flat row
accepted, only the first row's length checked, strings, JSON `true` (a bool is an int in
Python) or null taken for numbers, NaN, infinity or a value beyond float32's range accepted.

`batches(arrivals_ms, max_batch, max_wait_ms)` is graded on arrival times of one-row
requests against the reference `_batches`, the textbook timer rule on paper: a batch starts
with the first request not yet in one and closes when it holds `max_batch` requests or
`max_wait_ms` after its first request arrived, an arrival at that very moment still joining.
`labkit.serve.Batcher` differs in two ways, which tests show: it closes a batch as soon as no
other request is on hand (a lone request is not held back), and it starts a batch's clock
when its worker takes the first request off the queue, after the previous model call.
Mistakes diagnosed: a batch of `max_batch + 1`, the wait counted from the last arrival, an
arrival at the deadline left out, no size limit, no time limit, and sizes or times returned
in place of request indices.
Exposed as `EXERCISES`, which `labkit.exercises` merges.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from itertools import zip_longest
from typing import Any

import numpy as np

from labkit.exercises.core import Exercise, call

# ---- validate ------------------------------------------------------------------------------

KINDS = (  # what is wrong with a body, in the order the server checks
    "not an object",  # the body is not a JSON object {...}
    "unknown field",  # a field other than "inputs"
    "no inputs",  # "inputs" is missing or not a list
    "empty batch",  # "inputs" is []
    "too many rows",  # more than max_rows rows (a 413; the others are 422s)
    "not a row",  # a row that is not a list
    "wrong feature count",  # a row whose length is not `features`
    "not a number",  # a value that is not an int or a float (a string, true, null, a list)
    "not finite",  # NaN, ±infinity, or beyond float32's range
)
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _validate(body: Any, features: int, max_rows: int) -> np.ndarray | str:
    """Reference: the rows as float32 (N, features), or the first kind of KINDS that applies."""
    if not isinstance(body, dict):
        return "not an object"
    if set(body) - {"inputs"}:
        return "unknown field"
    rows = body.get("inputs")
    if not isinstance(rows, list):
        return "no inputs"
    if not rows:
        return "empty batch"
    if len(rows) > max_rows:
        return "too many rows"
    for row in rows:
        if not isinstance(row, list):
            return "not a row"
        if len(row) != features:
            return "wrong feature count"
        if any(type(v) not in (int, float) for v in row):  # not isinstance: True is an int
            return "not a number"
    x = np.asarray(rows, dtype=np.float64)
    if not (np.isfinite(x) & (np.abs(x) <= _FLOAT32_MAX)).all():
        return "not finite"
    return x.astype(np.float32)


def _validate_cases() -> list[tuple[Any, int, int, str, str]]:
    """(body, features, max_rows, description, hint when answered wrongly), valid bodies first,
    then one fault each; the order makes the first case answered wrongly name the mistake."""
    rng = np.random.default_rng(11)
    pixels = rng.integers(0, 17, size=(3, 64)).tolist()  # raw digits: ints, as clients send

    def row(n: int) -> list:
        return [0] * n

    cases = [
        ({"inputs": pixels}, 64, 1024, "3 rows of 64 integer pixels",
         "JSON has one kind of number: 7 and 7.0 are both numbers (int or float in Python)"),
        ({"inputs": np.round(rng.normal(size=(2, 5)), 3).tolist()}, 5, 8,
         "2 rows of 5 floats, some negative", ""),
        ({"inputs": [[1, 2.5, -3, 0.0]]}, 4, 8, "one row of 4 ints and floats",
         "one row is a batch of one: a valid request"),
        ({"inputs": [row(3) for _ in range(4)]}, 3, 4, "exactly max_rows = 4 rows",
         "max_rows rows are allowed: refuse only more than that (len(rows) > max_rows)"),
        ([[1, 2, 3]], 3, 4, "a bare list [[1, 2, 3]]",
         "the body must be an object (a dict): a bare list has no field names to check"),
        ({"inputs": [row(3)], "model": "v2"}, 3, 4, 'an extra field "model"',
         "refuse fields you do not know: a client that sends an option the server ignores "
         "would get an answer to a question it did not ask"),
        ({"input": [row(3)]}, 3, 4, 'a misspelled field "input"',
         'look for unknown fields first: "input" is a field the server does not know, and '
         "naming it tells the client what to fix"),
        ({}, 3, 4, "an empty object", '"inputs" is missing: that is "no inputs"'),
        ({"inputs": "1, 2, 3"}, 3, 4, '"inputs" a string',
         '"inputs" must be a list of rows; anything else is "no inputs"'),
        ({"inputs": []}, 3, 4, "an empty list of rows",
         "an empty batch is a mistake to report, not an empty answer: the client meant to "
         "send rows"),
        ({"inputs": [row(3) for _ in range(5)]}, 3, 4, "max_rows + 1 = 5 rows",
         "check the number of rows against max_rows: a server that takes any number can be "
         "made to run out of memory by one request"),
        ({"inputs": row(3)}, 3, 4, "a flat row [0, 0, 0] (not a list of rows)",
         'a flat list is not a batch: refuse it as "not a row" (one example is sent as '
         "[[...]]) rather than guess what the client meant"),
        ({"inputs": [row(3), row(2)]}, 3, 4, "a second row of 2 values (features 3)",
         "check the length of every row, not only the first"),
        ({"inputs": [row(64)]}, 3, 4, "a row of 64 values (features 3)",
         "compare each row's length with `features`, the model's input width"),
        ({"inputs": [["1", "2", "3"]]}, 3, 4, 'a row of strings ["1", "2", "3"]',
         'a string "1" is not a number, though np.asarray(..., dtype=float) converts it '
         "silently: check each value's type"),
        ({"inputs": [[True, False, True]]}, 3, 4, "a row of JSON true/false",
         "true is not a number, but bool is a subclass of int in Python, so isinstance(v, "
         "(int, float)) lets it through: test type(v) in (int, float)"),
        ({"inputs": [[None, 0, 0]]}, 3, 4, "a null value",
         "null (None) is not a number: check the types before the values, or it turns into "
         "NaN"),
        ({"inputs": [[[1], 0, 0]]}, 3, 4, "a value that is a list", "a list is not a number"),
        ({"inputs": [[math.nan, 0, 0]]}, 3, 4, "a NaN",
         "NaN is a float, so it passes a type check: test the values with np.isfinite too, or "
         "the model answers garbage"),
        ({"inputs": [[0, -math.inf, 0]]}, 3, 4, "a -Infinity", "infinity is not finite"),
        ({"inputs": [[0, 0, 1e39]]}, 3, 4, "a value of 1e39, beyond float32's range",
         "1e39 is finite as a Python float but becomes infinity in float32, the model's type: "
         "check abs(value) <= np.finfo(np.float32).max, or convert first and then test"),
    ]  # fmt: skip
    return cases


def _describe(out: Any) -> str:
    if isinstance(out, np.ndarray):
        return f"an array of shape {out.shape}"
    text = repr(out)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_validate(fn: Any) -> str | None:
    kinds = ", ".join(repr(k) for k in KINDS)
    for body, features, max_rows, on, hint in _validate_cases():
        want = _validate(body, features, max_rows)
        why = f"return {want!r} for it rather than raise" if isinstance(want, str) else ""
        why = "; ".join(w for w in (why, hint) if w) or "it is a valid request"
        out = call(fn, copy.deepcopy(body), features, max_rows, on=on, why={Exception: why})
        if isinstance(out, str) and out not in KINDS:
            return f"for {on} you returned {out!r}; return one of the kinds: {kinds}"
        if isinstance(want, str):  # a bad body: its kind
            if isinstance(out, str) and out == want:
                continue
            if isinstance(out, str):
                return f"for {on} the kind is {want!r}; you returned {out!r}" + (
                    f": {hint}" if hint else ""
                )
            return f"for {on} return {want!r}, not {_describe(out)}: {hint}"
        if isinstance(out, str):  # a valid body refused
            return f"{on} is a valid request; you returned {out!r}" + (f": {hint}" if hint else "")
        if not isinstance(out, np.ndarray):
            return f"for a valid body return a numpy array; got {_describe(out)} for {on}"
        if out.shape != want.shape:
            return f"for {on} return an array of shape {want.shape}; got {out.shape}"
        if out.dtype != np.float32:
            return f"return float32, the model's input type; got {out.dtype} for {on}"
        if not np.array_equal(out, want):
            return f"for {on} the array should hold the rows' values as sent"
    return None


# ---- batches -------------------------------------------------------------------------------


def _batches(
    arrivals: Sequence[float], max_batch: int, max_wait: float, *, mistake: str = ""
) -> list[list[int]]:
    """Reference (mistake=''): Batcher's rule. The mistakes replay wrong answers."""
    size = math.inf if mistake == "no size" else max_batch + (mistake == "overfull")
    out: list[list[int]] = []
    i = 0
    while i < len(arrivals):
        batch = [i]
        i += 1
        while i < len(arrivals) and len(batch) < size:
            since = arrivals[batch[-1]] if mistake == "from last" else arrivals[batch[0]]
            waited = arrivals[i] - since
            late = waited >= max_wait if mistake == "strict" else waited > max_wait
            if late and mistake != "no wait":
                break
            batch.append(i)
            i += 1
        out.append(batch)
    return out


def _batches_cases() -> list[tuple[list[float], int, float, str]]:
    """(arrivals_ms, max_batch, max_wait_ms, description) on fixed seeds. Times are multiples
    of 1/8 ms, so sums and comparisons are exact in floating point."""
    rng = np.random.default_rng(12)
    steady = np.cumsum(np.round(rng.exponential(0.5, size=40) * 8) / 8).tolist()
    bursts = [t for start in (0.0, 10.0, 20.0) for t in [start] * 5]
    cases = [
        (steady, 8, 2.0, "40 requests about 0.5 ms apart, max_batch 8, max_wait 2 ms"),
        (bursts, 4, 1.0, "3 bursts of 5 requests arriving at once, max_batch 4, max_wait 1 ms"),
        ([0.0, 0.0, 0.0, 1.0, 1.0, 2.5], 16, 0.0, "requests arriving together, max_wait 0 ms"),
        ([0.0, 0.5, 2.0, 2.125, 5.0], 8, 2.0, "a request arriving exactly at the deadline"),
        ([1.5 * k for k in range(8)], 16, 2.0, "a steady trickle, one every 1.5 ms, max_wait 2 ms"),
        ([3.0], 4, 2.0, "a single request"),
        ([0.0, 0.0, 0.25, 7.0], 1, 2.0, "max_batch 1"),
        ([], 4, 2.0, "no requests at all"),
    ]
    return cases


_BATCHES_MISTAKES = (  # checked in this order: the first that replays every case gives the hint
    ("overfull", "a batch holds at most max_batch requests: stop adding when it has max_batch "
                 "(keep adding while len(batch) < max_batch)"),
    ("from last", "count the wait from the batch's first request, not from the last arrival: "
                  "a steady trickle would otherwise keep a batch open for ever, and its first "
                  "request would wait without limit"),
    ("strict", "a request arriving exactly max_wait_ms after the first still joins (<=): with "
               "max_wait_ms = 0, requests that arrive at the same moment share a batch"),
    ("no size", "close a batch as soon as it holds max_batch requests, even before the wait "
                "is over: the model call has a size limit"),
    ("no wait", "a batch also closes max_wait_ms after its first request, full or not: "
                "otherwise a lone request waits for company for ever"),
)  # fmt: skip


def _plain(out: Any) -> Any:
    """Arrays, tuples and numpy numbers as plain lists and numbers, to compare with ==."""
    if isinstance(out, np.ndarray):
        return out.tolist()
    if isinstance(out, (list, tuple)):
        return [_plain(v) for v in out]
    return out.item() if isinstance(out, np.generic) else out


def _index_lists(out: Any) -> bool:
    """Whether `out` (plain) is a list of lists of ints."""
    return isinstance(out, list) and all(
        isinstance(b, list) and all(type(i) is int for i in b) for b in out
    )


def _check_batches(fn: Any) -> str | None:
    cases = _batches_cases()
    outs = []
    for arrivals, max_batch, max_wait, on in cases:
        out = _plain(call(fn, list(arrivals), max_batch, max_wait, on=on))
        wanted = _batches(arrivals, max_batch, max_wait)
        if out != wanted and wanted and out == [len(b) for b in wanted]:
            return ("return the batches themselves, a list of lists of request indices (such "
                    "as [[0, 1, 2], [3]]), not their sizes")  # fmt: skip
        if out != wanted and wanted and out == [[arrivals[i] for i in b] for b in wanted]:
            return "return the requests' indices in each batch, not their arrival times"
        if not _index_lists(out):
            return (f"return a list of batches, each a list of request indices such as "
                    f"[[0, 1, 2], [3]]; got {_describe(out)} for {on}")  # fmt: skip
        outs.append(out)
    wanted = [_batches(a, b, w) for a, b, w, _ in cases]
    if outs == wanted:
        return None
    for mistake, hint in _BATCHES_MISTAKES:
        if outs == [_batches(a, b, w, mistake=mistake) for a, b, w, _ in cases]:
            return hint
    for out, want, (_, _, _, on) in zip(outs, wanted, cases, strict=True):
        if out != want:
            k, (o, w) = next((k, p) for k, p in enumerate(zip_longest(out, want)) if p[0] != p[1])
            want_k = _describe(w) if w is not None else "not there (fewer batches)"
            got_k = _describe(o) if o is not None else "no such batch"
            return f"for {on}, batch {k} is {want_k}; you returned {got_k}"
    return None


EXERCISES: dict[str, Exercise] = {
    e.name: e
    for e in (
        Exercise(
            "validate",
            "Write `validate(body, features, max_rows)`: `body` is a /predict request body as "
            'json.loads returns it. When it is a valid request, {"inputs": [[features '
            "numbers], ...]} with 1 to max_rows rows of finite numbers, return the rows as a "
            "float32 numpy array (N, features); otherwise return what is wrong, the first of "
            "these kinds that applies, checked in this order: " + ", ".join(KINDS) + ".",
            _check_validate,
            f"passed on {len(_validate_cases())} bodies (4 valid, ints and floats, exactly "
            "max_rows rows; 17 with one fault each, from a bare list to a value beyond "
            "float32): the answers labkit.serve gives",
        ),
        Exercise(
            "batches",
            "Write `batches(arrivals_ms, max_batch, max_wait_ms)`: `arrivals_ms` is a sorted "
            "list of the times (ms) at which one-row requests reach a batching server. Return "
            "the batches as a list of lists of request indices, in order: a batch starts with "
            "the first request not yet in one, and closes when it holds max_batch requests or "
            "max_wait_ms after its first request arrived; a request arriving at that very "
            "moment still joins.",
            _check_batches,
            f"passed on {len(_batches_cases())} schedules (steady arrivals, bursts, a wait of "
            "0 ms, an arrival at the deadline, a trickle, max_batch 1, none at all): the timer "
            "rule on paper (labkit.serve's Batcher also closes a batch as soon as no other "
            "request is on hand)",
        ),
    )
}
