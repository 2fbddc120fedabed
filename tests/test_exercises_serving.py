"""Notebook 11's exercises: the references pass and answer as labkit.serve does (parse_inputs,
the Batcher), placeholders are "not attempted", and each diagnosed mistake gets its hint."""

import asyncio
import json
import math
import time

import numpy as np
import pytest
from exercise_checks import assert_wrong, checker

from labkit.exercises import serving as ex
from labkit.serve import BadRequest, Batcher, parse_inputs

check = checker(ex)


# ---- validate ------------------------------------------------------------------------------


def validate(body, features, max_rows, *, mistake=""):
    """A learner's answer, right unless `mistake` says which check to get wrong."""
    if not isinstance(body, dict):
        return "not an object"
    if mistake != "ignore unknown" and set(body) - {"inputs"}:
        return "unknown field"
    rows = body.get("inputs")
    if not isinstance(rows, list):
        return "no inputs"
    if not rows and mistake != "empty ok":
        return "empty batch"
    if len(rows) >= max_rows + (mistake != "off by one"):
        return "too many rows"
    if mistake == "flat ok" and rows and not isinstance(rows[0], list):
        rows = [rows]
    for row in rows[:1] if mistake == "first row" else rows:
        if not isinstance(row, list):
            return "not a row"
        if len(row) != features:
            return "wrong feature count"
    for row in rows:
        for v in row:
            numeric = isinstance(v, (int, float)) if mistake == "isinstance" else (
                type(v) in (int, float))  # fmt: skip
            if not numeric:
                return "not a number"
    x = np.asarray(rows, dtype=np.float64).reshape(len(rows), features)
    in_range = np.abs(x) <= (np.inf if mistake == "float64 range" else np.finfo(np.float32).max)
    if mistake != "no finite" and not (np.isfinite(x) & in_range).all():
        return "not finite"
    with np.errstate(over="ignore"):  # 1e39 becomes inf: the mistake this replays
        return x.astype(np.float32)


def test_validate_accepts_a_correct_answer():
    result = check("validate", validate)
    assert result.passed and "21 bodies" in result.message, result


def _kind(detail: str) -> str:
    """parse_inputs' detail as one of KINDS."""
    for words, kind in (("must be finite", "not finite"), ("JSON object", "not an object"),
                        ("unknown field", "unknown field"), ("is missing", "no inputs"),
                        ("is empty", "empty batch"), ("the limit is", "too many rows"),
                        ("not a list of", "not a row"), ("the model takes", "wrong feature count"),
                        ("not a number", "not a number")):  # fmt: skip
        if words in detail:
            return kind
    raise AssertionError(f"no kind for {detail!r}")


def test_the_validate_reference_answers_as_the_server_does():
    # The body as a client sends it (NaN, Infinity as JSON's extensions): parse_inputs' answer
    for body, features, max_rows, on, _ in ex._validate_cases():
        ours = ex._validate(body, features, max_rows)
        try:
            theirs = parse_inputs(json.dumps(body).encode(), features, max_rows)
        except BadRequest as e:
            assert e.status == (413 if ours == "too many rows" else 422), on
            assert ours == _kind(e.detail), (on, e.detail)
            continue
        assert isinstance(ours, np.ndarray) and ours.dtype == theirs.dtype, on
        assert np.array_equal(ours, theirs), on
    kinds = [ex._validate(*case[:3]) for case in ex._validate_cases()]
    assert {k for k in kinds if isinstance(k, str)} == set(ex.KINDS)


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        ("off by one", "exactly max_rows = 4 rows is a valid request; you returned 'too many "
                       "rows': max_rows rows are allowed"),
        ("ignore unknown", 'for an extra field "model" return \'unknown field\', not an array '
                           "of shape (1, 3): refuse fields you do not know"),
        ("empty ok", "for an empty list of rows return 'empty batch', not an array of shape "
                     "(0, 3): an empty batch is a mistake to report"),
        ("flat ok", "a flat list is not a batch"),
        ("first row", "raised ValueError (setting an array element with a sequence"),
        ("first row", "on a second row of 2 values (features 3): return 'wrong feature count' "
                      "for it rather than raise; check the length of every row, not only"),
        ("isinstance", "bool is a subclass of int in Python"),
        ("no finite", "for a NaN return 'not finite'"),
        ("float64 range", "1e39 is finite as a Python float but becomes infinity in float32"),
    ],
)  # fmt: skip
def test_validate_diagnoses_each_mistake(mistake, hint):
    assert_wrong(check("validate", lambda b, f, m: validate(b, f, m, mistake=mistake)), hint)


def test_validate_diagnoses_the_order_types_and_what_it_returns():
    def inputs_first(body, features, max_rows):
        if isinstance(body, dict) and "inputs" not in body:
            return "no inputs"
        return validate(body, features, max_rows)

    assert_wrong(check("validate", inputs_first), "look for unknown fields first")

    def floats_only(body, features, max_rows):
        if isinstance(body, dict) and any(type(v) is int for r in body.get("inputs", [])
                                          if isinstance(r, list) for v in r):  # fmt: skip
            return "not a number"
        return validate(body, features, max_rows)

    assert_wrong(check("validate", floats_only), "7 and 7.0 are both numbers")

    def converts(body, features, max_rows):  # np.asarray turns "1" into 1.0, None into nan
        out = validate(body, features, max_rows)
        if isinstance(out, str) and out == "not a number" and isinstance(body["inputs"][0][0], str):
            return np.asarray(body["inputs"], dtype=np.float64).astype(np.float32)
        return out

    assert_wrong(check("validate", converts), "np.asarray(..., dtype=float) converts it")

    def raises(body, features, max_rows):
        out = validate(body, features, max_rows)
        if isinstance(out, str):
            raise ValueError(out)
        return out

    hint = "(not an object) on a bare list [[1, 2, 3]]: return 'not an object' for it rather"
    assert_wrong(check("validate", raises), hint)
    assert_wrong(check("validate", lambda b, f, m: (422, "bad")), "return a numpy array")
    assert_wrong(check("validate", lambda b, f, m: "bad"), "return one of the kinds: 'not an")

    def float64(body, features, max_rows):
        out = validate(body, features, max_rows)
        return out if isinstance(out, str) else out.astype(np.float64)

    assert_wrong(check("validate", float64), "return float32")

    def placeholder(body, features, max_rows):
        raise NotImplementedError

    assert check("validate", placeholder).status == "not attempted"


# ---- batches -------------------------------------------------------------------------------


def batches(arrivals_ms, max_batch, max_wait_ms):
    out = []
    for i, t in enumerate(arrivals_ms):
        if out and len(out[-1]) < max_batch and t <= arrivals_ms[out[-1][0]] + max_wait_ms:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def as_arrays(arrivals_ms, max_batch, max_wait_ms):
    return [np.array(b) for b in batches(arrivals_ms, max_batch, max_wait_ms)]


@pytest.mark.parametrize("answer", [batches, as_arrays])
def test_batches_accepts_every_correct_answer(answer):
    result = check("batches", answer)
    assert result.passed and "8 schedules" in result.message, result


def _batcher_sizes(arrivals_ms, max_batch, max_wait_ms, seconds_per_call=0.0):
    """The row counts of the Batcher's model calls for one-row requests arriving at
    `arrivals_ms`, each call taking `seconds_per_call`; each request must get its row back."""
    sizes = []

    def model(rows):
        time.sleep(seconds_per_call)
        return rows * 2

    async def main():
        batcher = Batcher(model, max_batch, max_wait_ms / 1000,
                          lambda rows, reason: sizes.append(rows))  # fmt: skip

        async def request(i, at):
            await asyncio.sleep(at / 1000)
            out = await batcher(np.full((1, 3), i, dtype=np.float32))
            assert (out == 2 * i).all()  # each request gets its own row back

        await asyncio.gather(*(request(i, t) for i, t in enumerate(arrivals_ms)))

    asyncio.run(main())
    return sizes


def test_the_servers_batcher_gathers_what_is_on_hand_where_the_timer_rule_waits():
    # A schedule spaced out in tens of ms, so a loaded machine's delays cannot merge arrivals:
    # on paper requests 5 and 6, and 7 to 10, wait for each other; the Batcher, finding no
    # other request on hand, sends each at once. Arrivals at the same moment share a call.
    arrivals = [0, 0, 0, 0, 0, 400, 500, 1000, 1020, 1040, 1060, 1080]  # ms
    on_paper = [len(b) for b in ex._batches(arrivals, 4, 200)]
    assert on_paper == [4, 1, 2, 4, 1]
    assert _batcher_sizes(arrivals, 4, 200) == [4, 1, 1, 1, 1, 1, 1, 1, 1]


def test_requests_that_queue_during_a_model_call_go_in_together():
    # With a model call of 300 ms: request 0 goes alone, 1 and 2 queue while it runs and share
    # the next call (at ~300 ms), 3 (480 ms) queues during that one. On paper 0 and 1 share
    # a batch (100 ms apart, within the 200 ms wait) and 2 and 3 go alone.
    arrivals = [0, 100, 250, 480]  # ms
    assert [len(b) for b in ex._batches(arrivals, 4, 200)] == [2, 1, 1]
    assert _batcher_sizes(arrivals, 4, 200, seconds_per_call=0.3) == [1, 2, 1]
    assert "timer rule on paper" in check("batches", batches).message


def test_every_batches_mistake_changes_some_answer():
    cases = ex._batches_cases()
    for mistake, _ in ex._BATCHES_MISTAKES:
        replayed = [ex._batches(a, b, w, mistake=mistake) for a, b, w, _ in cases]
        assert replayed != [ex._batches(a, b, w) for a, b, w, _ in cases], mistake


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [(m, h[:40]) for m, h in ex._BATCHES_MISTAKES],
)
def test_batches_diagnoses_each_mistake(mistake, hint):
    answer = lambda a, b, w: ex._batches(a, b, w, mistake=mistake)  # noqa: E731
    assert_wrong(check("batches", answer), hint)


def test_batches_diagnoses_sizes_times_shapes_and_a_wrong_batch():
    sizes = lambda a, b, w: [len(x) for x in batches(a, b, w)]  # noqa: E731
    assert_wrong(check("batches", sizes), "not their sizes")
    times = lambda a, b, w: [[a[i] for i in x] for x in batches(a, b, w)]  # noqa: E731
    assert_wrong(check("batches", times), "not their arrival times")
    assert_wrong(check("batches", lambda a, b, w: 3), "return a list of batches")

    def late_last(a, b, w):  # the last request of the first schedule dropped
        out = batches(a, b, w)
        return out[:-1] if len(a) == 40 else out

    assert_wrong(check("batches", late_last), "40 requests about 0.5 ms apart, max_batch 8, "
                 "max_wait 2 ms, batch 9 is [39]; you returned no such batch")  # fmt: skip
    assert_wrong(check("batches", lambda a, b, w: [x for x in a if math.isnan(x)]), "batch 0 is")

    def placeholder(a, b, w):
        raise NotImplementedError

    assert check("batches", placeholder).status == "not attempted"
