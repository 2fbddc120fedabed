"""Notebook 09 (distillation) runs headless: its parameters are honoured or rejected by name,
the smallest accepted values run to the end, and a re-run into the same out_dir works."""

from functools import partial
from pathlib import Path

import pytest

from labkit.validate import ConfigError

from notebook_runs import metrics, printed, refused_early, run, validate

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "09_distillation.ipynb"
REQUIRED = {"teacher_accuracy", "student_scratch_accuracy", "student_distilled_accuracy"}
TABLE = {"wide_dense_accuracy", "sparse90_accuracy_finetuned", "structured_speedup",
         "int8_accuracy", "int8_speedup_b64", "int8_smaller", "distilled_smaller",
         "csr_speedup_b1", "csr_speedup_b64", "cnn_int8_dynamic_speedup_b64",
         "cnn_int8_static_speedup_b64", "distilled_params_ratio"}  # fmt: skip
_run = partial(run, NOTEBOOK)
_validate = partial(validate, NOTEBOOK)


def _checked(nb) -> str:
    cell = next(c for c in nb.cells if "## Check yourself" in c.source)
    return nb.cells[nb.cells.index(cell) + 1].outputs[0]["text"]


@pytest.mark.slow
def test_the_smallest_values_run_and_a_rerun_into_the_same_out_dir_rewrites_it(tmp_path):
    out = tmp_path / "run"
    smallest = {"teacher_epochs": 1, "epochs": 1, "seeds": 2, "repeats": 10, "threads": 1,
                "temperature": 0.5, "alpha": 1.0}  # fmt: skip
    nb = _run(tmp_path, out_dir=str(out), **smallest)
    first = metrics(out)
    assert {k: first[k] for k in smallest} == smallest and first["demos"] is True
    assert first.keys() >= REQUIRED | TABLE and all(0 < first[k] <= 1 for k in REQUIRED)
    assert first["alpha0_matches_alone"] is True  # the one-epoch check, at any alpha
    # The comparison carries its noise: the band of two means on 360 test digits.
    assert first["distilled_gain_band"] >= 2 * (0.9 * 0.1 / 360) ** 0.5 * 2**0.5 - 1e-9
    assert first["distilled_verdict"] in ("higher", "tie", "lower")
    assert first["int8_smaller"] > 3.5
    # the distilled student is compared with its teacher, a CNN with fewer parameters
    assert first["distilled_params_ratio"] > 2 and first["distilled_smaller"] < 1
    # the teacher trained for one epoch is called what it is where it is introduced
    assert first["teacher_vs_student_verdict"] in ("tie", "lower")
    for name in (
        "soft_targets.png",
        "sweep.png",
        "wide_fp32.onnx",
        "wide_int8.onnx",
        "teacher_fp32.onnx",
        "teacher_int8_dynamic.onnx",
        "teacher_int8_static.onnx",
    ):
        assert (out / name).stat().st_size > 5000, name
    text = printed(nb)
    assert "issue 14's target, the distilled student above the student alone" in text
    assert "the article: quantization reduces storage" in text and "(noise ±" in text
    assert "vs its teacher (teacher (CNN)" in text and "MORE parameters" in text
    assert "not ahead of the student" in text or "WORSE than the student" in text
    assert "at these settings: distillation" in text  # section 6, from its verdicts
    assert _checked(nb).startswith("all checks passed")

    # Again into the same out_dir, as a sweep runs it: demos off, another seed, alpha 0 (the
    # student alone, so distilled and alone agree exactly), and metrics.json rewritten.
    settings = {"demos": False, "seed": 1, "alpha": 0.0, "teacher_epochs": 2, "epochs": 2}
    nb = _run(tmp_path, out_dir=str(out), **settings)
    second = metrics(out)
    assert {k: second[k] for k in settings} == settings and second.keys() >= REQUIRED
    assert not second.keys() & (TABLE | {"tiny_gain", "weak_distilled_gain"})
    assert second["student_distilled_accuracy"] == second["student_scratch_accuracy"]
    assert second["distilled_gain"] == 0 and second["distilled_verdict"] == "tie"
    assert "demos=False: no compression table" in printed(nb)
    # no figure or ONNX file of the first run is left beside the new metrics.json
    assert not list(out.glob("*.png")) and not list(out.glob("*.onnx"))
    assert _checked(nb).startswith("all checks passed")


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"temperature": 0.0}, "temperature must be a finite number > 0"),
        ({"temperature": -1.0}, "temperature must be a finite number > 0"),
        ({"temperature": float("nan")}, "temperature must be a finite number"),
        ({"alpha": -0.1}, "alpha must be >= 0"),
        ({"alpha": 1.5}, "alpha must be <= 1"),
        ({"teacher_epochs": 0}, "teacher_epochs must be an integer >= 1"),
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"epochs": 2.5}, "epochs must be an integer"),
        ({"seeds": 1}, "seeds must be an integer >= 2"),
        ({"threads": 0}, "threads must be an integer >= 1"),
        ({"repeats": 5}, "repeats must be an integer >= 10"),
        ({"demos": "yes"}, "demos must be True or False"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"device": "tpu"}, "device must be .auto., .cpu., .cuda. or .cuda:N.; got .tpu."),
        ({"out_dir": None}, "out_dir must be a string"),
    ],
)
def test_bad_values_are_refused_by_name(parameters, message):
    with pytest.raises(ConfigError, match=message):
        _validate(**parameters)


def test_validation_accepts_the_edges():
    namespace = _validate(alpha=0.0, temperature=1e-3, seeds=2, repeats=10, threads=1)
    assert namespace["setting"].alpha == 0.0 and namespace["config"].epochs == 10
    assert _validate(alpha=1.0)["setting"].alpha == 1.0
    assert namespace["teacher_config"].epochs == 40 and namespace["device"].type in ("cpu", "cuda")


@pytest.mark.slow
def test_a_bad_value_stops_a_papermill_run_right_after_the_parameters(tmp_path):
    refused_early(NOTEBOOK, tmp_path, "alpha must be <= 1", alpha=1.5)
