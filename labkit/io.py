"""Files that must never be half-written: atomic writes and the `metrics.json` contract."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call `write(file)` on a temporary file beside `path`, then rename it into place.

    A crash (even SIGKILL) leaves either the old file or the new one, never a torn mix:
    the rename is atomic on POSIX and Windows when both live in the same directory.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def write_metrics(out_dir: str | os.PathLike, metrics: Mapping[str, Any]) -> Path:
    """Write `out_dir/metrics.json`: a flat object of finite numbers, strings and booleans."""
    clean: dict[str, Any] = {}
    for key, value in metrics.items():
        if hasattr(value, "item"):  # numpy and torch scalars
            value = value.item()
        if not isinstance(value, (bool, int, float, str)):
            raise TypeError(f"metric {key!r} must be a number, string or bool; got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"metric {key!r} is {value}; metrics.json holds finite numbers only")
        clean[str(key)] = value
    text = json.dumps(clean, indent=2, sort_keys=True) + "\n"
    return atomic_write(Path(out_dir) / "metrics.json", lambda f: f.write(text.encode()))


def read_metrics(out_dir: str | os.PathLike) -> dict[str, Any]:
    """Read `out_dir/metrics.json` as written by `write_metrics`."""
    return json.loads((Path(out_dir) / "metrics.json").read_text())


def clear_artifacts(out_dir: str | os.PathLike, patterns: Iterable[str]) -> list[str]:
    """Delete the files matching `patterns` (globs such as "*.png") that an earlier run left
    in `out_dir`, so that every figure and model file there afterwards comes from this run:
    a re-run with other settings, or with figures switched off, leaves no stale one beside
    the fresh metrics.json. Returns the names removed; a missing folder is created."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    removed = sorted({p.name for pattern in patterns for p in folder.glob(pattern) if p.is_file()})
    for name in removed:
        (folder / name).unlink()
    return removed
