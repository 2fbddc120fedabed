import json
import math
import os
import stat

import numpy as np
import pytest
import torch

from labkit.io import atomic_write, clear_artifacts, read_metrics, write_metrics


def test_metrics_roundtrip_and_scalar_conversion(tmp_path):
    write_metrics(tmp_path, {"acc": np.float32(0.5), "n": torch.tensor(3), "ok": True, "m": "cnn"})
    assert read_metrics(tmp_path) == {"acc": 0.5, "n": 3, "ok": True, "m": "cnn"}
    assert json.loads((tmp_path / "metrics.json").read_text())["m"] == "cnn"


@pytest.mark.parametrize("bad", [math.nan, math.inf, [1, 2], {"a": 1}, None])
def test_metrics_must_be_flat_and_finite(tmp_path, bad):
    with pytest.raises((TypeError, ValueError), match="metric 'x'"):
        write_metrics(tmp_path, {"x": bad})
    assert not (tmp_path / "metrics.json").exists()


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def explode(f):
        f.write(b"half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        atomic_write(target, explode)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]  # no temp file left behind


def test_atomic_files_get_the_usual_permissions_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_metrics(tmp_path, {"a": 1})
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    finally:
        os.umask(old)


def test_clear_artifacts_removes_only_the_named_kinds(tmp_path):
    for name in ("curves.png", "model.onnx", "metrics.json", "run.ipynb"):
        (tmp_path / name).write_text("old")
    (tmp_path / "sub").mkdir()
    assert clear_artifacts(tmp_path, ["*.png", "*.onnx", "*.png"]) == ["curves.png", "model.onnx"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "run.ipynb", "sub"]
    assert clear_artifacts(tmp_path / "new", ["*.png"]) == []
    assert (tmp_path / "new").is_dir()
