"""Parameter sweeps: every point of a grid runs one notebook headless with papermill.

`sweep(notebook, grid, out)` runs the full grid, each run in `out/<run-id>/` (the executed
notebook, its `metrics.json` and artifacts, and `run.log` with what the cells printed), and
keeps `out/results.csv`: one row per run with its parameters, status, error, duration and
every metric. Run ids are built from the parameters, so the same command finds the same
folders: finished runs are skipped without starting a kernel, failed ones re-run only with
`retry_failed=True`. A run that raises (a bad value, a diverged model, a killed kernel) is a
`failed` row with the error's last line, never a lost sweep, and `results.csv` is replaced
atomically after every run, so Ctrl-C or a crash keeps every finished run.

Runs execute in worker processes on this machine (`backend="local"`, `jobs` at a time, each
kernel limited to cores / jobs threads so runs do not fight over cores) or as Ray tasks on a
local or existing Ray cluster (`backend="ray"`). A Ray task sends its files back to the
driver, which writes the same folders and the same `results.csv`: no shared file system.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import multiprocessing
import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
        if isinstance(values, (str, bytes)) or not list(values):
            raise ConfigError(f"parameter {name!r} needs a list of one or more values")
        checked[name] = [_fit_type(name, declared[name], value) for value in values]
    return checked


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
    grid: Mapping[str, Sequence[Any]],
    out: str | os.PathLike,
    *,
    jobs: int = 1,
    backend: str = "local",
    address: str | None = None,
    retry_failed: bool = False,
    kernel: str = KERNEL,
    show_progress: bool = True,
) -> pd.DataFrame:
    """Run every point of `grid` through `notebook`; return the results table (a DataFrame).

    `grid` maps parameter names to the values to try (`{"lr": [0.01, 0.1]}`); an empty grid
    is one run with the notebook's defaults. `jobs` runs go at once, each kernel with
    cores / jobs threads. `backend="ray"` sends each run to a Ray cluster as a task asking
    for that many CPUs: the one at `address`, or a local one started for the sweep.
    `kernel` names the Jupyter kernel: `labkit` forks each from a warm parent (about a
    second to start); `python3` starts each fresh.
    """
    notebook = Path(notebook)
    if not notebook.is_file():
        raise ConfigError(f"notebook {str(notebook)!r} does not exist")
    check_int("jobs", jobs, minimum=1)
    check_choice("backend", backend, BACKENDS)
    if address is not None and backend != "ray":
        raise ConfigError("address is for backend='ray' (the Ray cluster to use)")
    if backend == "ray":
        _require_ray()
    _check_kernel(kernel)
    points = make_grid(check_grid(grid, notebook_parameters(notebook)))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    params = {run_id(point): point for point in points}
    if len(params) < len(points):
        raise ConfigError("the grid repeats a point (a value is listed twice)")
    rows = {row["run_id"]: row for row in _read_rows(out)}
    todo = [rid for rid in params if not _finished(rows.get(rid), out / rid, retry_failed)]
    if len(todo) < len(params):
        print(f"{len(params) - len(todo)} of {len(params)} runs already finished in {out}/")
    threads = max(1, _cores() // jobs)
    tasks = [(str(notebook), params[rid], str(out / rid), threads, kernel) for rid in todo]
    if kernel == KERNEL and tasks:
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
            rows[outcome.run_id] = _row(outcome, params[outcome.run_id])
            _write_rows(out, rows, order=list(params))
    except KeyboardInterrupt:
        print(f"\nInterrupted: {out / RESULTS} keeps every finished run; the same call goes on")
        raise
    finally:
        bar.close()
        runner.close()  # stops the workers or cancels the Ray tasks still running
    _write_rows(out, rows, order=list(params))
    return results_table(out)


def _check_kernel(kernel: str) -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    check_choice("kernel", kernel, sorted(KernelSpecManager().find_kernel_specs()))


def _finished(row: dict | None, run_dir: Path, retry_failed: bool) -> bool:
    if row is None or not run_dir.is_dir():
        return False
    return row.get("status") == "ok" or (row.get("status") == "failed" and not retry_failed)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _row(outcome: Outcome, parameters: Mapping[str, Any]) -> dict[str, Any]:
    row = {"run_id": outcome.run_id, **parameters}
    row.update(status=outcome.status, error=outcome.error, duration_s=round(outcome.duration_s, 2),
               threads=outcome.threads)  # fmt: skip
    for key, value in outcome.metrics.items():  # a metric named like a column keeps both
        row[f"metrics.{key}" if key in row else key] = value
    return row


def _read_rows(out: Path) -> list[dict[str, Any]]:
    path = out / RESULTS
    if not path.exists():
        return []
    import pandas as pd

    return pd.read_csv(path).to_dict("records")  # every column, in the file's order


def _write_rows(out: Path, rows: Mapping[str, dict], order: Sequence[str]) -> None:
    """Replace results.csv atomically: this grid's rows in grid order, then older ones."""
    import pandas as pd

    ids = [rid for rid in order if rid in rows] + [rid for rid in rows if rid not in order]
    table = pd.DataFrame([rows[rid] for rid in ids])
    atomic_write(out / RESULTS, lambda f: f.write(table.to_csv(index=False).encode()))


def results_table(out: str | os.PathLike) -> pd.DataFrame:
    """`out/results.csv` as a DataFrame (one row per run)."""
    import pandas as pd

    path = Path(out) / RESULTS
    if not path.exists():
        raise ConfigError(f"no {RESULTS} in {str(out)!r}: is it a sweep's --out folder?")
    return pd.read_csv(path)


def summary(
    out: str | os.PathLike, sort_by: str | None = None, *, ascending: bool = False
) -> pd.DataFrame:
    """The results table sorted by the metric `sort_by`, best first.

    By default the validation accuracy, when the runs report one: settings are chosen on
    validation numbers, and the test split only reports the chosen one.
    """
    table = results_table(out)
    if sort_by is None:
        sort_by = next((c for c in ("val_accuracy", "test_accuracy") if c in table), None)
    if sort_by is not None:
        check_choice("sort_by", sort_by, table.columns)
        table = table.sort_values(sort_by, ascending=ascending, na_position="last")
    return table


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
