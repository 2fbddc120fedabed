"""Notebook 10's exercises: the references pass (and agree with labkit.export), placeholders
are "not attempted", and each diagnosed mistake gets its own hint."""

import numpy as np
import pytest
import torch
from exercise_checks import assert_wrong, checker

from labkit import export
from labkit.exercises import export as ex

check = checker(ex)


# ---- parity --------------------------------------------------------------------------------


def parity(expected, got):
    return float(np.abs(got - expected).max()), float((got.argmax(1) == expected.argmax(1)).mean())


def with_torch(expected, got):
    e, g = torch.as_tensor(expected), torch.as_tensor(got)
    return (g - e).abs().max(), (g.argmax(-1) == e.argmax(-1)).float().mean()  # 0-d tensors


@pytest.mark.parametrize("answer", [parity, with_torch, lambda e, g: list(parity(e, g))])
def test_parity_accepts_every_correct_answer(answer):
    result = check("parity", answer)
    assert result.passed and "5 pairs of logits" in result.message, result


def test_the_parity_reference_is_what_check_parity_computes(tmp_path):
    # check_parity on a file whose answers are a model's plus a known change: the same numbers
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 10)).eval()
    path = export.export_onnx(model, torch.randn(2, 64), tmp_path / "m.onnx")
    x = torch.randn(9, 64)
    with torch.inference_mode():
        expected = model(x).numpy()
    got = export.ort_predictor(export.ort_session(path))(x)
    ours = ex._parity(expected, got)
    theirs = export.check_parity(model, path, 64, inputs=x)
    assert ours == pytest.approx((theirs.max_abs_diff, theirs.top1_agreement))


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (lambda e, g: (np.abs(g - e).mean(), parity(e, g)[1]), "that is the mean difference"),
        (lambda e, g: ((g - e).max(), parity(e, g)[1]), "take the absolute value"),
        (lambda e, g: (parity(e, g)[0], (g.argmax(1) == e.argmax(1)).sum()), "number of agreeing"),
        (lambda e, g: (parity(e, g)[0], 100 * parity(e, g)[1]), "not a percentage"),
        (lambda e, g: (parity(e, g)[0], 1 - parity(e, g)[1]), "whose top class differs"),
        (lambda e, g: (parity(e, g)[0], (g.argmax(0) == e.argmax(0)).mean()), "axis=1"),
        (lambda e, g: parity(e, g)[::-1], "you returned (top1_agreement, max_abs_diff)"),
        (lambda e, g: parity(e, g)[0], "return two numbers, (max_abs_diff, top1_agreement)"),
        (lambda e, g: (np.abs(g - e).max() / 2, parity(e, g)[1]), "the answer is ("),
    ],
)  # fmt: skip
def test_parity_diagnoses_each_mistake(answer, hint):
    assert_wrong(check("parity", answer), hint)


def test_parity_placeholder_is_not_attempted_and_an_error_names_the_input():
    def placeholder(expected, got):
        raise NotImplementedError

    assert check("parity", placeholder).status == "not attempted"
    assert_wrong(check("parity", lambda e, g: e.shape[2]), "raised IndexError")


# ---- serve ---------------------------------------------------------------------------------


def serve(raw, metadata, run):
    mean, std = np.asarray(metadata["mean"]), np.asarray(metadata["std"])
    return [metadata["classes"][i] for i in run((raw - mean) / std).argmax(1)]


def serve_with_torch(raw, metadata, run):
    x = (torch.as_tensor(raw) - torch.tensor(metadata["mean"])) / torch.tensor(metadata["std"])
    return np.array(metadata["classes"])[run(x.numpy()).argmax(1)]  # an array of names


@pytest.mark.parametrize("answer", [serve, serve_with_torch])
def test_serve_accepts_every_correct_answer(answer):
    result = check("serve", answer)
    assert result.passed and "3 requests" in result.message, result


def test_serve_reference_answers_like_a_served_onnx_file(tmp_path):
    # The reference's recipe, run on a real file with data_metadata: PyTorch's answers.
    import labkit

    data = labkit.load_digits(seed=0)
    torch.manual_seed(0)
    model = labkit.MLP(hidden=(16,)).eval()
    meta = export.data_metadata(data)
    path = export.export_onnx(model, data.train.x[:2], tmp_path / "m.onnx", metadata=meta)
    run = export.ort_predictor(export.ort_session(path))
    raw = data.unstandardize(data.val.x[:20]).numpy()
    with torch.inference_mode():
        expected = [str(int(i)) for i in model(data.val.x[:20]).argmax(1)]
    assert serve(raw, export.read_metadata(path), run) == expected


def _serve_with(mistake):
    def answer(raw, metadata, run):
        mean, std = np.asarray(metadata["mean"]), np.asarray(metadata["std"])
        x = {"raw": raw, "no std": raw - mean, "no mean": raw / std,
             "times std": (raw - mean) * std}.get(mistake, (raw - mean) / std)  # fmt: skip
        logits = run(x)
        if mistake == "axis 0":
            return [metadata["classes"][i] for i in logits.argmax(0)]
        if mistake == "indices":
            return list(logits.argmax(1))
        return [metadata["classes"][i] for i in logits.argmax(1)]

    return answer


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        ("raw", "the model was trained on standardized inputs"),
        ("no std", "divide by the std too"),
        ("no mean", "subtract the mean first"),
        ("times std", "that undoes a standardization"),
        ("indices", "return the class names"),
        ("axis 0", "raised IndexError (list index out of range) on 30 rows of 64 raw pixels, "
                   "10 digit classes: is an index past the class list? Take each row's top "
                   "class, argmax over the classes (axis=1)"),
    ],
)  # fmt: skip
def test_serve_diagnoses_each_mistake(mistake, hint):
    assert_wrong(check("serve", _serve_with(mistake)), hint)


def test_serve_reports_a_wrong_row_a_non_list_and_an_error():
    def off_by_one(raw, metadata, run):
        names = serve(raw, metadata, run)
        return [names[0], *names[1:-1], metadata["classes"][0]] if len(names) > 1 else names

    assert_wrong(check("serve", off_by_one), "row 29 is")
    assert_wrong(check("serve", lambda raw, m, run: 3), "return a list with one class name")
    assert_wrong(check("serve", lambda raw, m, run: run(raw.T)), "raised ValueError")

    def placeholder(raw, metadata, run):
        raise NotImplementedError

    assert check("serve", placeholder).status == "not attempted"


def test_every_mistake_changes_some_answer():
    # Each replayed mistake differs from the reference, or its hint could never be reached.
    cases = ex._parity_cases()
    for mistake, _ in ex._PARITY_MISTAKES:
        assert any(
            ex._parity(e, g, mistake=mistake) != pytest.approx(ex._parity(e, g))
            for e, g, _ in cases
        ), mistake
    cases = ex._serve_cases()
    for mistake, _ in ex._SERVE_MISTAKES:
        assert any(ex._serve(r, m, w, b, mistake=mistake) != ex._serve(r, m, w, b)
                   for r, m, _, w, b, _ in cases), mistake  # fmt: skip
