"""Progress bars for long loops, routed through one helper that can be switched off.

`tqdm.auto` draws a widget bar in JupyterLab and a text bar elsewhere. Setting the
environment variable LABKIT_PROGRESS to 0 (or false, off, no) silences every bar, e.g.
in test logs; a function's own `enabled=False` does the same for one loop.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any


def progress_enabled() -> bool:
    """False when the environment variable LABKIT_PROGRESS is 0, false, off or no."""
    return os.environ.get("LABKIT_PROGRESS", "1").strip().lower() not in ("0", "false", "off", "no")


def progress(
    iterable: Iterable, *, desc: str = "", total: int | None = None, enabled: bool = True
) -> Any:
    """A tqdm bar (a widget in JupyterLab, text elsewhere); a silent pass-through when off."""
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, disable=not (enabled and progress_enabled()))
