"""Notebook 05 (experiments) in one import: reading its sweeps, the seeds' spread and the
figures, gathered from the modules that hold them by idea.

- `labkit.figures.sweeps`: list parameters, the sweep's runs, the choice on validation, the
  grid's edges, the repeat, grid against random search;
- `labkit.figures.seed_variance`: the chosen setting over seeds, its spread and its band;
- `labkit.figures.sweep_figures`: heatmaps, learning-rate curves, the seeds and the searches;
- `labkit.figures.saving`: metrics.json and the figures in `out_dir`.
"""

from labkit.figures.saving import save_results
from labkit.figures.seed_variance import band_report, noise_band, seed_report, std_interval
from labkit.figures.sweep_figures import (
    lr_curves,
    search_figure,
    seeds_figure,
    sweep_heatmaps,
    value_grid,
)
from labkit.figures.sweeps import (
    SCORES,
    SHOWN,
    TIMINGS,
    best_metrics,
    choice_report,
    course_notebook,
    diverged_report,
    edge_report,
    finite,
    list_parameter,
    repeat_report,
    search_report,
    sweep_command,
    sweep_report,
    threads_used,
    with_scores,
)

__all__ = [
    "SCORES",
    "SHOWN",
    "TIMINGS",
    "band_report",
    "best_metrics",
    "choice_report",
    "course_notebook",
    "diverged_report",
    "edge_report",
    "finite",
    "list_parameter",
    "lr_curves",
    "noise_band",
    "repeat_report",
    "save_results",
    "search_figure",
    "search_report",
    "seed_report",
    "seeds_figure",
    "std_interval",
    "sweep_command",
    "sweep_heatmaps",
    "sweep_report",
    "threads_used",
    "value_grid",
    "with_scores",
]
