"""Notebook 12 (monitoring) runs headless: its parameters are honoured or rejected by name,
and the smallest accepted values run to the end into an out_dir holding an earlier run's
figure."""

from functools import partial
from pathlib import Path

import pytest

from labkit.validate import ConfigError

from notebook_runs import metrics, printed, run, validate

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "12_monitoring.ipynb"
REQUIRED = {  # the keys and the scores behind them
    "drift_alert_clean", "drift_alert_shifted", "max_psi_clean", "max_psi_shifted",
    "accuracy_clean", "accuracy_shifted", "false_alarm_rate",
}  # fmt: skip
_validate = partial(validate, NOTEBOOK)


@pytest.mark.slow
def test_smallest_values_run_to_the_end_and_leave_no_stale_figure(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "sweep.png").write_bytes(b"stale")  # an earlier run's figure
    smallest = {"epochs": 1, "window": 20, "drift": "brightness", "strength": 0.0,
                "psi_threshold": 0.25, "windows": 20, "seed": 3, "demos": False}  # fmt: skip
    nb = run(NOTEBOOK, tmp_path, out_dir=str(out), **smallest)
    found = metrics(out)
    assert {k: found[k] for k in smallest} == smallest and found.keys() >= REQUIRED
    assert not list(out.glob("*.png")) and (out / "model.onnx").is_file()
    # strength 0 changes nothing: the "shifted" window is the clean one, alerts and all
    assert found["drift_alert_shifted"] == found["drift_alert_clean"]
    assert found["max_psi_shifted"] == found["max_psi_clean"] >= 0
    assert found["accuracy_shifted"] == found["accuracy_clean"]
    assert 0 <= found["false_alarm_rate"] <= 1 and found["errors_5xx"] == 0
    text = printed(nb)
    assert "all checks passed" in text and "clean windows of 20 rows" in text
    assert "with an SLO of" not in text  # demos=False: no failing-SLO demonstration
    # 20 rows: the noise-floor formula fails, and PSI's alerts on clean windows are called noise
    assert "The approximation fails at 20 live rows" in text
    assert "PSI alerted on the clean window itself: at 20 rows that is sampling noise" in text


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"window": 19}, "window must be an integer >= 20"),
        ({"window": 361}, "window must be at most 360, the test rows"),
        ({"drift": "blur"}, "drift must be one of 'brightness', 'contrast'"),
        ({"strength": 1.5}, "strength must be <= 1"),
        ({"strength": -0.1}, "strength must be >= 0"),
        ({"psi_threshold": 0}, "psi_threshold must be a finite number > 0"),
        ({"windows": 10}, "windows must be an integer >= 20"),
        ({"windows": 5001}, "windows must be at most 5000"),
        ({"slo_ms": float("nan")}, "slo_ms must be a finite number"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"demos": "yes"}, "demos must be True or False"),
        ({"device": "tpu"}, "device must be .auto., .cpu., .cuda. or .cuda:N.; got .tpu."),
        ({"out_dir": None}, "out_dir must be a string"),
    ],
)
def test_bad_values_are_refused_by_name(parameters, message):
    with pytest.raises(ConfigError, match=message):
        _validate(**parameters)


def test_validation_accepts_the_edges_and_builds_the_thresholds():
    namespace = _validate(window=360, strength=1, windows=5000, psi_threshold=0.1, slo_ms=5)
    assert namespace["thresholds"].psi == 0.1 and namespace["thresholds"].slo_ms == 5.0
    assert namespace["device"].type in ("cpu", "cuda")
    assert _validate(window=20, strength=0.0, windows=20)["thresholds"].psi == 0.25
