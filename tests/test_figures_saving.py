"""A notebook's out_dir: metrics.json beside the figures drawn, none for a figure not drawn."""

import json

from matplotlib.figure import Figure

from labkit.figures.saving import save_results


def test_save_results_writes_metrics_and_the_figures_drawn(tmp_path):
    fig = Figure()
    fig.subplots().plot([0, 1], [1, 0])
    names = save_results(tmp_path / "out", {"accuracy": 0.9, "model": "mlp"},
                         {"curves": fig, "skipped": None})  # fmt: skip
    assert names == ["curves.png", "metrics.json"]
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["accuracy"] == 0.9
    assert (tmp_path / "out" / "curves.png").read_bytes()[:4] == b"\x89PNG"
    # again into the same folder: rewritten, and what else is there is listed
    (tmp_path / "out" / "notes.txt").write_text("kept")
    names = save_results(tmp_path / "out", {"accuracy": 0.8}, {})
    assert names == ["curves.png", "metrics.json", "notes.txt"]
    assert json.loads((tmp_path / "out" / "metrics.json").read_text()) == {"accuracy": 0.8}
