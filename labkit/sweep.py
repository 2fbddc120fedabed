"""Parameter sweeps: every point of a grid (or a random sample) runs one notebook headless.

`sweep(notebook, grid, out)` runs the full grid, each run in `out/<run-id>/` (the executed
notebook, its `metrics.json` and artifacts, `run.log` with what the cells printed, and
`run.json`, the run's record). Run ids are built from the parameters, so the same command
finds the same folders: a finished run is skipped without starting a kernel when its record
says it ran the same notebook (same SHA-256), the same labkit code, torch and Python, with
the same thread count; otherwise it runs again and the sweep says why. Failed runs re-run
only with `retry_failed=True`. A run that raises (a bad value, a diverged model, a killed
kernel) is a `failed` row with the error's last line, never a lost sweep.

`run.json` is written atomically as a run's last step, so an interrupted run leaves no
record and runs again. `out/results.csv` is rebuilt from every record after each run;
sweeps into the same folder at once claim each run with a lock and never lose each
other's rows. With `samples=N`, the grid's values may be distributions
(`LogUniform(1e-4, 1e-1)`, `Uniform`, `IntUniform`; a list is a uniform choice) and the
sweep runs N points drawn from them with `sample_seed` (random search).

Runs execute in worker processes on this machine (`backend="local"`, `jobs` at a time, each
kernel limited to cores / jobs threads so runs do not fight over cores) or as Ray tasks on a
local or existing Ray cluster (`backend="ray"`). A Ray task sends its files back to the
driver, which writes the same folders and records: no shared file system.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import random
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from labkit.io import atomic_write
from labkit.progress import progress
from labkit.validate import ConfigError, check_choice, check_int
from labkit.zygote import THREAD_VARIABLES  # what a kernel's thread pools are sized from

if TYPE_CHECKING:  # pandas loads only when a table is built
    import pandas as pd

BACKENDS = ("local", "ray")
KERNEL = "labkit"  # the fast-start kernel (labkit/kernel.py); "python3" starts fresh ones
RESULTS = "results.csv"
RECORD = "run.json"  # a finished run's record, written last
LOG = "run.log"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the colours of a traceback


@dataclass
class Outcome:
    """What one run left behind: its status, the error's last line, duration and metrics."""

    run_id: str
    status: str  # "ok" or "failed"
    error: str = ""
    duration_s: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)
    threads: int = 0  # the thread count the kernel was given


def parse_value(text: str) -> Any:
    """Parse a command-line value as papermill's `-p` does: bool, None, int, float or str."""
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def notebook_parameters(notebook: str | os.PathLike) -> dict[str, str]:
    """The notebook's parameters (from its `parameters` cell) and their declared types."""
    import papermill

    try:
        found = papermill.inspect_notebook(str(notebook))
    except (OSError, ValueError) as e:  # not a notebook, or one papermill cannot read
        raise ConfigError(f"cannot read the parameters of {str(notebook)!r}: {e}") from e
    return {name: info["inferred_type_name"] for name, info in found.items()}


def check_grid(grid: Mapping[str, Sequence[Any]], declared: Mapping[str, str]) -> dict:
    """Return the grid with values fitted to the declared types, or raise naming the problem.

    Unknown names, empty value lists, `out_dir` (the sweep sets it) and values of a type the
    parameter cannot take are refused before anything runs; ints given to a float become
    floats. Parameters without a declared type take any value.
    """
    listing = ", ".join(f"{name}: {kind}" for name, kind in declared.items()) or "none"
    checked = {}
    for name, values in grid.items():
        if name not in declared:
            raise ConfigError(f"unknown parameter {name!r}; the notebook takes {listing}")
        if name == "out_dir":
            raise ConfigError("out_dir is set by the sweep: each run writes to OUT/<run-id>/")
        if isinstance(values, Uniform):
            raise ConfigError(f"parameter {name!r} is a distribution ({values}): draw from it "
                              "with samples=N (labkit sweep --samples N)")  # fmt: skip
        if isinstance(values, (str, bytes)) or not list(values):
            raise ConfigError(f"parameter {name!r} needs a list of one or more values")
        checked[name] = [_fit_type(name, declared[name], value) for value in values]
    return checked


def check_point(point: Mapping[str, Any], declared: Mapping[str, str]) -> dict[str, Any]:
    """One run's parameters checked as `check_grid` checks a grid."""
    checked = check_grid({name: [value] for name, value in point.items()}, declared)
    return {name: values[0] for name, values in checked.items()}


def _fit_type(name: str, declared: str, value: Any) -> Any:
    kind = declared.replace(" ", "")
    optional = kind.startswith("Optional[") or kind.endswith("|None")
    kind = kind.removeprefix("Optional[").removesuffix("]").removesuffix("|None")
    if value is None and optional:
        return None
    accepts = {
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "str": lambda v: isinstance(v, str),
    }
    if kind not in accepts:
        return value  # no type declared (or one the sweep cannot check): the notebook decides
    if not accepts[kind](value):
        raise ConfigError(
            f"parameter {name!r} takes {declared}; got {value!r} ({type(value).__name__})"
        )
    return float(value) if kind == "float" else value


def make_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the values, in order: the last parameter varies fastest."""
    names = list(grid)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]


def run_id(parameters: Mapping[str, Any]) -> str:
    """A readable, stable folder name for one grid point, e.g. `lr=0.01_optimizer=adam`.

    Characters a file name should not hold become '-'; when that (or a very long id) could
    make two points share a name, a short hash of the exact parameters is appended.
    """
    if not parameters:
        return "defaults"
    text = "_".join(f"{name}={value}" for name, value in parameters.items())
    safe = re.sub(r"[^A-Za-z0-9._=+-]", "-", text)[:100]
    if safe != text:
        digest = hashlib.sha1(json.dumps(parameters, sort_keys=True, default=repr).encode())
        safe = f"{safe}-{digest.hexdigest()[:8]}"
    return safe


def execute(
    notebook: str | os.PathLike,
    parameters: Mapping[str, Any],
    run_dir: str | os.PathLike,
    threads: int,
    *,
    kernel: str = KERNEL,
    kernel_stderr: bool = False,
) -> Outcome:
    """Run `notebook` with `parameters` in `run_dir` (emptied first); never raises for the run.

    The kernel (`labkit`, forked from a warm parent, unless told otherwise) inherits
    `threads` for its thread pools, and `out_dir` points at `run_dir` when the notebook has
    that parameter. What the cells print goes to `run_dir/run.log`; with `kernel_stderr`
    (for worker processes) so does the kernel's own stderr.
    """
    import papermill

    run_dir = Path(run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)  # a retried run must not mix with old files
    run_dir.mkdir(parents=True)
    parameters = dict(parameters)
    if "out_dir" in notebook_parameters(notebook):
        parameters["out_dir"] = str(run_dir.resolve())
    os.environ.update({name: str(threads) for name in THREAD_VARIABLES})
    os.environ["LABKIT_PROGRESS"] = "0"  # the log keeps what cells print, not bar redraws
    output = run_dir / Path(notebook).name
    start = time.perf_counter()
    status, error = "ok", ""
    with open(run_dir / LOG, "w") as log, _stderr_to(log if kernel_stderr else None):
        try:
            papermill.execute_notebook(
                str(notebook), str(output), parameters=parameters, cwd=str(run_dir),
                kernel_name=kernel, progress_bar=False, stdout_file=log, stderr_file=log,
                # Saved once at the end (and during long cells), not after every cell, and
                # the finished kernel is killed, not asked to exit: seconds less per run.
                request_save_on_cell_execute=False, shutdown_kernel="immediate",
            )  # fmt: skip
        except Exception as e:  # every failure becomes a row, never a lost sweep
            status, error = "failed", _last_line(e)
            log.write(f"\n{_ANSI.sub('', str(e))}\n")  # papermill's text holds the traceback
    duration = time.perf_counter() - start
    return Outcome(run_dir.name, status, error, duration, _read_metrics(run_dir), threads)


@contextlib.contextmanager
def _stderr_to(log: IO[str] | None) -> Iterator[None]:
    # A kernel writes its start-up warnings to the stderr it inherits: this process's fd 2.
    if log is None:
        yield
        return
    saved = os.dup(2)
    os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _last_line(e: Exception) -> str:
    # papermill's PapermillExecutionError carries the failing cell's exception
    text = f"{e.ename}: {e.evalue}" if hasattr(e, "ename") else f"{type(e).__name__}: {e}"
    lines = [line for line in _ANSI.sub("", text).splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(e).__name__


def _read_metrics(run_dir: Path) -> dict[str, Any]:
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}
    return metrics if isinstance(metrics, dict) else {}


def sweep(
    notebook: str | os.PathLike,
    grid: Mapping[str, Any],
    out: str | os.PathLike,
    *,
    jobs: int = 1,
    threads: int | None = None,
    samples: int | None = None,
    sample_seed: int = 0,
    backend: str = "local",
    address: str | None = None,
    retry_failed: bool = False,
    kernel: str = KERNEL,
    show_progress: bool = True,
) -> pd.DataFrame:
    """Run every point of `grid` through `notebook`; return this grid's rows (a DataFrame).

    `grid` maps parameter names to the values to try (`{"lr": [0.01, 0.1]}`); an empty grid
    is one run with the notebook's defaults. With `samples=N` it is a search space instead:
    N points drawn with `sample_seed` from each parameter's distribution or list.
    `jobs` runs go at once, each kernel with `threads` threads: by default the count the
    folder's earlier runs used (so its runs stay comparable), else cores / jobs.
    `backend="ray"` sends each run to a Ray cluster as a task asking for that many CPUs:
    the one at `address`, or a local one started for the sweep. `kernel` names the Jupyter
    kernel: `labkit` forks each from a warm parent (about half a second to start);
    `python3` starts each fresh. `out/results.csv` holds every run the folder holds.
    """
    notebook = Path(notebook)
    if not notebook.is_file():
        raise ConfigError(f"notebook {str(notebook)!r} does not exist")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out {str(out)!r} is a file; give a folder for the runs")
    check_int("jobs", jobs, minimum=1)
    if threads is not None:
        check_int("threads", threads, minimum=1)
    check_choice("backend", backend, BACKENDS)
    if address is not None and backend != "ray":
        raise ConfigError("address is for backend='ray' (the Ray cluster to use)")
    if backend == "ray":
        _require_ray()
    _check_kernel(kernel)
    declared = notebook_parameters(notebook)
    if samples is None:
        points = make_grid(check_grid(grid, declared))
    else:
        points = [check_point(p, declared) for p in sample_points(grid, samples, sample_seed)]
    params = {run_id(point): point for point in points}
    if len(params) < len(points):
        raise ConfigError("the grid repeats a point (a value is listed twice)")
    out.mkdir(parents=True, exist_ok=True)
    records = _read_records(out)
    _check_same_notebook(records, notebook, out)
    threads = threads or _pinned_threads(records, out) or max(1, _cores() // jobs)
    origin = provenance(notebook, threads)
    with _Claims(out) as claims:
        todo, waiting = [], []
        for rid in params:
            if not claims.take(rid, block=False):
                waiting.append(rid)  # another sweep into this folder is running it
            elif _stale(_read_record(out / rid), origin, retry_failed, rid):
                todo.append(rid)
        finished = len(params) - len(todo) - len(waiting)
        if finished:
            print(f"{finished} of {len(params)} runs already finished in {out}/")
        if waiting:
            print(f"{len(waiting)} runs are being run by another sweep into {out}/: waiting")
        _run(notebook, params, todo, out, origin, jobs, backend, address, kernel, show_progress)
        for rid in waiting:  # once the other sweep lets go: its record, or run it here
            claims.take(rid, block=True)
            if _stale(_read_record(out / rid), origin, retry_failed, rid):
                _run(notebook, params, [rid], out, origin, jobs, backend, address, kernel, False)
    rows = {r["run_id"]: r for r in map(_row, _read_records(out))}
    grid_rows = [rows[rid] for rid in params if rid in rows]
    return _frame(grid_rows or [{"run_id": rid} for rid in params])


def _run(
    notebook: Path, params: dict, todo: list[str], out: Path, origin: dict, jobs: int,
    backend: str, address: str | None, kernel: str, show_progress: bool,
) -> None:  # fmt: skip
    """Execute the runs `todo`, writing each one's record and the table as it finishes."""
    if not todo:
        return
    threads = origin["threads"]
    tasks = [(str(notebook), params[rid], str(out / rid), threads, kernel) for rid in todo]
    if kernel == KERNEL:
        from labkit.kernel import warm_up

        warm_up()  # the workers started next fork their kernels from this warm parent
    runner = _run_ray(tasks, address) if backend == "ray" else _run_local(tasks, jobs)
    counts = {"ok": 0, "failed": 0}
    bar = progress(runner, desc="sweep", total=len(tasks), enabled=show_progress)
    try:
        for outcome in bar:
            counts[outcome.status] += 1
            running = min(jobs, len(tasks) - sum(counts.values()))
            bar.set_postfix(ok=counts["ok"], failed=counts["failed"], running=running)
            record = {
                **asdict(outcome),
                "parameters": params[outcome.run_id],
                "provenance": origin,
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
            text = json.dumps(record, indent=1, default=repr) + "\n"
            atomic_write(out / outcome.run_id / RECORD, lambda f, t=text: f.write(t.encode()))
            write_table(out, order=list(params))
    except KeyboardInterrupt:
        print(f"\nInterrupted: {out} keeps every finished run; the same call goes on from there")
        raise
    finally:
        bar.close()
        runner.close()  # stops the workers or cancels the Ray tasks still running


def _check_kernel(kernel: str) -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    check_choice("kernel", kernel, sorted(KernelSpecManager().find_kernel_specs()))


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


# --- provenance and records: what a finished run ran, and whether it still stands -------


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


def _read_record(run_dir: Path) -> dict | None:
    try:
        record = json.loads((run_dir / RECORD).read_text())
    except (OSError, ValueError):
        return None  # never finished (interrupted, or still running): not to be trusted
    return record if isinstance(record, dict) and "run_id" in record else None


def _read_records(out: Path) -> list[dict]:
    found = (_read_record(path.parent) for path in sorted(out.glob(f"*/{RECORD}")))
    return [record for record in found if record is not None]


def _stale(record: dict | None, origin: dict, retry_failed: bool, rid: str) -> bool:
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


def _check_same_notebook(records: list[dict], notebook: Path, out: Path) -> None:
    names = {r.get("provenance", {}).get("notebook") for r in records} - {None}
    if names and names != {notebook.name}:
        raise ConfigError(
            f"{out} holds runs of {', '.join(sorted(names))}; a sweep of {notebook.name} "
            "needs another out folder (one folder, one notebook: its rows are compared)"
        )


def _pinned_threads(records: list[dict], out: Path) -> int | None:
    """The thread count the folder's runs were made with, when they agree on one."""
    used = {r.get("provenance", {}).get("threads") for r in records} - {None}
    if len(used) != 1:
        return None
    threads = used.pop()
    print(f"threads per run: {threads}, as the runs already in {out}/ (threads= changes it)")
    return threads


class _Claims:
    """Per-run locks (`out/.claims/<run-id>`), so sweeps into one folder never run a run
    twice at once. The operating system drops a lock when its process exits, even killed."""

    def __init__(self, out: Path) -> None:
        self.folder = out / ".claims"
        self.files: list[IO[bytes]] = []

    def __enter__(self) -> _Claims:
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
    rows = {r["run_id"]: r for r in map(_row, _read_records(out))}
    ids = [rid for rid in order if rid in rows] + sorted(set(rows) - set(order))
    table = _frame([rows[rid] for rid in ids])
    atomic_write(out / RESULTS, lambda f: f.write(table.to_csv(index=False).encode()))
    return table


def results_table(out: str | os.PathLike) -> pd.DataFrame:
    """Every run in the sweep folder `out`, one row each (from the runs' records)."""
    out = Path(out)
    if not out.is_dir():
        raise ConfigError(f"{str(out)!r} is not a folder: give a sweep's out folder")
    if _read_records(out):
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


# --- random search: points drawn from a distribution per parameter ----------------------


@dataclass(frozen=True)
class Uniform:
    """Floats drawn uniformly between `low` and `high`."""

    low: float
    high: float

    def draw(self, rng: random.Random) -> Any:
        return _short(rng.uniform(self.low, self.high))


@dataclass(frozen=True)
class LogUniform(Uniform):
    """Floats whose logarithm is uniform: as many draws in 1e-4..1e-3 as in 1e-2..1e-1."""

    def draw(self, rng: random.Random) -> Any:
        return _short(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))


@dataclass(frozen=True)
class IntUniform(Uniform):
    """Whole numbers from `low` to `high`, both included."""

    def draw(self, rng: random.Random) -> Any:
        return rng.randint(int(self.low), int(self.high))


DISTRIBUTIONS = {"uniform": Uniform, "loguniform": LogUniform, "int": IntUniform}


def _short(x: float) -> float:
    return float(f"{x:.3g}")  # three significant digits: readable run ids, no false precision


def parse_distribution(text: str) -> Uniform | None:
    """`loguniform:1e-4:1e-1`, `uniform:0:0.5` or `int:1:8` as a distribution; else None."""
    kind, _, bounds = text.partition(":")
    if kind not in DISTRIBUTIONS or not bounds:
        return None
    parts = bounds.split(":")
    try:
        low, high = (float(x) for x in parts)
    except ValueError:
        raise ConfigError(f"{text!r}: write {kind}:LOW:HIGH with two numbers") from None
    return make_distribution(kind, low, high)


def make_distribution(kind: str, low: float, high: float) -> Uniform:
    """A checked distribution: `low` < `high`, both > 0 for a log scale, whole for `int`."""
    check_choice("distribution", kind, DISTRIBUTIONS)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ConfigError(f"{kind}: needs finite LOW < HIGH; got {low:g} and {high:g}")
    if kind == "loguniform" and low <= 0:
        raise ConfigError(f"loguniform: needs LOW > 0 (a logarithm); got {low:g}")
    if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
        raise ConfigError(f"int: needs whole LOW and HIGH; got {low:g} and {high:g}")
    return DISTRIBUTIONS[kind](low, high)


def sample_points(space: Mapping[str, Any], samples: int, seed: int = 0) -> list[dict[str, Any]]:
    """`samples` distinct points drawn from `space` with `seed` (random search).

    Each parameter is a distribution (drawn from) or a list of values (one chosen
    uniformly). The same space, samples and seed always give the same points.
    """
    check_int("samples", samples, minimum=1)
    check_int("sample_seed", seed, minimum=0)
    for name, values in space.items():
        listed = not isinstance(values, (Uniform, str, bytes)) and list(values)
        if not isinstance(values, Uniform) and not listed:
            raise ConfigError(f"parameter {name!r} needs a distribution or a list of values")
    rng = random.Random(seed)
    points: dict[str, dict[str, Any]] = {}
    for _ in range(100 * samples):
        point = {name: values.draw(rng) if isinstance(values, Uniform) else rng.choice(list(values))
                 for name, values in space.items()}  # fmt: skip
        points.setdefault(run_id(point), point)
        if len(points) == samples:
            return list(points.values())
    raise ConfigError(f"the space holds only {len(points)} distinct points; asked for {samples}")


# --- backends: each yields one Outcome per task as runs finish -------------------------


def _execute_task(task: tuple) -> Outcome:
    notebook, parameters, run_dir, threads, kernel = task
    return execute(notebook, parameters, run_dir, threads, kernel=kernel, kernel_stderr=True)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver decides what Ctrl-C stops


def _run_local(tasks: list[tuple], jobs: int) -> Iterator[Outcome]:
    if not tasks:
        return
    # Workers fork from a clean server process that imported labkit and papermill once (not
    # from the driver, which may be a kernel with threads); `spawn` where there is no forkserver.
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__, "papermill"])  # papermill takes ~3 s to import
    else:
        context = multiprocessing.get_context("spawn")
    pool = context.Pool(min(jobs, len(tasks)), initializer=_ignore_sigint)
    try:
        yield from pool.imap_unordered(_execute_task, tasks)
        pool.close()
    finally:
        pool.terminate()  # on Ctrl-C: stop the workers (their kernels exit with them)
        pool.join()


def _ray_task(
    source: str, name: str, parameters: dict, threads: int, kernel: str
) -> tuple[Outcome, dict]:
    """On a Ray worker: run the notebook in a scratch folder and send its files back."""
    with tempfile.TemporaryDirectory() as scratch:
        notebook = Path(scratch) / "input" / name
        notebook.parent.mkdir()
        notebook.write_text(source)
        run_dir = Path(scratch) / "run"
        outcome = execute(notebook, parameters, run_dir, threads, kernel=kernel,
                          kernel_stderr=True)  # fmt: skip
        files = {str(p.relative_to(run_dir)): p.read_bytes() for p in run_dir.rglob("*")
                 if p.is_file()}  # fmt: skip
        return outcome, files


def _require_ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise ImportError("backend 'ray' needs Ray: pip install 'labkit[ray]'") from e
    return ray


def _run_ray(tasks: list[tuple], address: str | None) -> Iterator[Outcome]:
    ray = _require_ray()
    if not tasks:
        return
    started = not ray.is_initialized()
    if started:
        ray.init(
            address=address, num_cpus=None if address else _cores(),
            include_dashboard=False, log_to_driver=False, logging_level="ERROR",
        )  # fmt: skip
    notebook, _, _, threads, kernel = tasks[0]  # every task: the same notebook, threads, kernel
    task = ray.remote(_ray_task).options(num_cpus=threads, max_retries=0)
    source = ray.put(Path(notebook).read_text())  # sent to the cluster once, not per run
    pending = {}
    try:
        for _, parameters, run_dir, _, _ in tasks:
            ref = task.remote(source, Path(notebook).name, parameters, threads, kernel)
            pending[ref] = Path(run_dir)
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            run_dir = pending.pop(ref)
            try:
                outcome, files = ray.get(ref)
            except ray.exceptions.RayError as e:  # the worker died: a failed row
                outcome, files = Outcome(run_dir.name, "failed", _last_line(e), threads=threads), {}
            outcome.run_id = run_dir.name
            shutil.rmtree(run_dir, ignore_errors=True)
            for path, data in files.items():
                (run_dir / path).parent.mkdir(parents=True, exist_ok=True)
                (run_dir / path).write_bytes(data)
            yield outcome
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()
