"""What a notebook leaves in its `out_dir`: metrics.json beside its figures as PNG files."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from labkit.io import write_metrics


def save_results(
    out_dir: str | os.PathLike,
    metrics: Mapping[str, Any],
    figures: Mapping[str, Figure | None],
    *,
    dpi: int = 100,
) -> list[str]:
    """Write `metrics` to out_dir/metrics.json (atomically, `labkit.io.write_metrics`) and
    each figure to out_dir/<name>.png, skipping a figure that is None (not drawn at these
    settings). Returns the sorted names of the files now in out_dir."""
    write_metrics(out_dir, metrics)
    for name, figure in figures.items():
        if figure is not None:
            figure.savefig(Path(out_dir) / f"{name}.png", dpi=dpi)
    return sorted(p.name for p in Path(out_dir).iterdir())
