"""What a sweep keeps: each finished run's record, whether it still stands, and the table.

A run's record, `run.json` in its folder, is written last and atomically (by the sweep's
driver): its parameters, outcome, metrics and provenance, which is what its numbers depend
on besides the parameters (the notebook's SHA-256, labkit's code, torch, Python, threads).
A folder without a record is a run that never finished and is not trusted. `results.csv` is
rebuilt from the records, so sweeps writing into one folder at once (each run claimed with
a lock, `Claims`) never lose each other's rows.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from labkit.io import atomic_write
from labkit.validate import ConfigError, check_choice

if TYPE_CHECKING:  # pandas loads only when a table is built
    import pandas as pd

RESULTS = "results.csv"
RECORD = "run.json"  # a finished run's record, written last


def provenance(notebook: str | os.PathLike, threads: int) -> dict[str, Any]:
    """What a run's numbers depend on besides its parameters, recorded in its `run.json`."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    package = Path(__file__).resolve().parent
    code = hashlib.sha256()
    for source in sorted(package.rglob("*.py")):
        code.update(source.relative_to(package).as_posix().encode() + source.read_bytes())
    try:
        torch = version("torch")
    except PackageNotFoundError:
        torch = "not installed"
    return {
        "notebook": Path(notebook).name,
        "notebook_path": str(Path(notebook).resolve()),
        "notebook_sha256": hashlib.sha256(Path(notebook).read_bytes()).hexdigest(),
        "labkit_sha256": code.hexdigest(),
        "labkit_commit": _git_commit(package.parent),
        "torch": torch,
        "python": platform.python_version(),
        "threads": threads,
    }


# What makes a finished run stale, and how the sweep says so.
_STALE_WHEN = {
    "notebook_sha256": "the notebook changed",
    "labkit_sha256": "labkit's code changed",
    "torch": "another torch",
    "python": "another Python",
    "threads": "another thread count",
}


def write_record(
    run_dir: Path, outcome: Mapping[str, Any], parameters: Mapping[str, Any], origin: dict
) -> None:
    """Write a finished run's record into its folder, atomically: the last thing it gets."""
    record = {**outcome, "parameters": dict(parameters), "provenance": origin,
              "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")}  # fmt: skip
    text = json.dumps(record, indent=1, default=repr) + "\n"
    atomic_write(run_dir / RECORD, lambda f: f.write(text.encode()))


def _git_commit(folder: Path) -> str:
    import subprocess

    if not (folder / ".git").exists():
        return ""
    try:
        found = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"],
                               capture_output=True, text=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return ""
    return found.stdout.strip() if found.returncode == 0 else ""


def read_record(run_dir: Path) -> dict | None:
    try:
        record = json.loads((run_dir / RECORD).read_text())
    except (OSError, ValueError):
        return None  # never finished (interrupted, or still running): not to be trusted
    return record if isinstance(record, dict) and "run_id" in record else None


def read_records(out: Path) -> list[dict]:
    found = (read_record(path.parent) for path in sorted(out.glob(f"*/{RECORD}")))
    return [record for record in found if record is not None]


def is_stale(record: dict | None, origin: dict, retry_failed: bool, rid: str) -> bool:
    """Whether the run must execute: no record, failed (when retrying), or made otherwise."""
    if record is None:
        return True
    if record.get("status") == "failed" and retry_failed:
        return True
    made = record.get("provenance", {})
    reasons = [why for key, why in _STALE_WHEN.items() if made.get(key) != origin[key]]
    if reasons:
        print(f"running {rid} again: {', '.join(reasons)} since it ran")
    return bool(reasons)


def check_same_notebook(records: list[dict], notebook: Path, out: Path) -> None:
    names = {r.get("provenance", {}).get("notebook") for r in records} - {None}
    if names and names != {notebook.name}:
        raise ConfigError(
            f"{out} holds runs of {', '.join(sorted(names))}; a sweep of {notebook.name} "
            "needs another out folder (one folder, one notebook: its rows are compared)"
        )


def pinned_threads(records: list[dict], out: Path, default: int) -> int:
    """The thread count the folder's runs were made with, when they agree on one; else
    `default`. Said when it differs from `default`, which this sweep would have used."""
    used = {r.get("provenance", {}).get("threads") for r in records} - {None}
    if len(used) != 1:
        return default
    threads = used.pop()
    if threads != default:
        print(
            f"threads per run: {threads}, as the runs already in {out}/ (not {default}: "
            "threads= changes it)"
        )
    return threads


class Claims:
    """Per-run locks (`out/.claims/<run-id>`), so sweeps into one folder never run a run
    twice at once. The operating system drops a lock when its process exits, even killed."""

    def __init__(self, out: Path) -> None:
        self.folder = out / ".claims"
        self.files: list[IO[bytes]] = []

    def __enter__(self) -> Claims:
        self.folder.mkdir(exist_ok=True)
        return self

    def take(self, rid: str, *, block: bool) -> bool:
        import fcntl

        f = open(self.folder / rid, "ab")  # noqa: SIM115 -- held until the sweep ends
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
        except BlockingIOError:
            f.close()
            return False
        self.files.append(f)
        return True

    def __exit__(self, *exc: object) -> None:
        for f in self.files:
            f.close()


def _row(record: Mapping[str, Any]) -> dict[str, Any]:
    """One table row from a run's record: id, parameters, outcome, then the metrics."""
    row = {"run_id": record["run_id"], **record.get("parameters", {})}
    duration = round(record.get("duration_s", 0.0), 2)
    row.update(status=record["status"], error=record.get("error", ""), duration_s=duration,
               threads=record.get("threads"))  # fmt: skip
    for key, value in record.get("metrics", {}).items():
        if key not in row:
            row[key] = value
        elif not _same(row[key], value):  # a metric named like a column that says otherwise
            row[f"metrics.{key}"] = value
    return row


def _same(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    return a == b


def _frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """A DataFrame of the rows; a column of whole numbers stays whole with gaps (Int64)."""
    import pandas as pd

    table = pd.DataFrame(list(rows))
    for column in table:
        values = [row[column] for row in rows if row.get(column) is not None]
        if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            table[column] = table[column].astype("Int64")
    return table


def write_table(out: str | os.PathLike, order: Sequence[str] = ()) -> pd.DataFrame:
    """Rebuild `out/results.csv` from every run's record: the runs in `order` first."""
    out = Path(out)
    rows = {r["run_id"]: r for r in map(_row, read_records(out))}
    ids = [rid for rid in order if rid in rows] + sorted(set(rows) - set(order))
    table = _frame([rows[rid] for rid in ids])
    atomic_write(out / RESULTS, lambda f: f.write(table.to_csv(index=False).encode()))
    return table


def runs_table(out: str | os.PathLike, ids: Sequence[str]) -> pd.DataFrame:
    """The rows of the runs `ids` in the folder `out`, in that order (a run without a
    record is a row with its id only)."""
    rows = {r["run_id"]: r for r in map(_row, read_records(Path(out)))}
    return _frame([rows.get(rid, {"run_id": rid}) for rid in ids])


def results_table(out: str | os.PathLike) -> pd.DataFrame:
    """Every run in the sweep folder `out`, one row each (from the runs' records)."""
    out = Path(out)
    if not out.is_dir():
        raise ConfigError(f"{str(out)!r} is not a folder: give a sweep's out folder")
    if read_records(out):
        return write_table(out)
    if not (out / RESULTS).exists():
        raise ConfigError(f"no runs in {str(out)!r}: is it a sweep's out folder?")
    import pandas as pd

    return pd.read_csv(out / RESULTS)  # a table without records (written by hand)


def summary(
    out: str | os.PathLike, sort_by: str | None = None, *, ascending: bool = False
) -> pd.DataFrame:
    """The folder's runs sorted by the metric `sort_by`, best first.

    By default the validation accuracy, when the runs report one: settings are chosen on
    validation numbers, and the test split only reports the chosen one. Runs with different
    seeds were scored on different splits in the course notebooks (and start elsewhere), so
    they are ranked within each seed, not across.
    """
    table = results_table(out)
    if sort_by is None:
        sort_by = next((c for c in ("val_accuracy", "test_accuracy") if c in table), None)
    if sort_by is None:
        return table
    check_choice("sort_by", sort_by, table.columns)
    by = ["seed", sort_by] if "seed" in table and table["seed"].nunique() > 1 else [sort_by]
    order = [True, ascending] if len(by) == 2 else [ascending]
    return table.sort_values(by, ascending=order, na_position="last", kind="stable")
