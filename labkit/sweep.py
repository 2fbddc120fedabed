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
import json
import math
import multiprocessing
import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from labkit.progress import progress
from labkit.records import (
    Claims,
    check_same_notebook,
    is_stale,
    pinned_threads,
    provenance,
    read_record,
    read_records,
    runs_table,
    write_record,
    write_table,
)
from labkit.search import (
    check_grid,
    check_point,
    make_grid,
    notebook_parameters,
    run_id,
    sample_points,
    significant,
    to_optuna,
)
from labkit.validate import ConfigError, check_choice, check_int
from labkit.zygote import THREAD_VARIABLES  # what a kernel's thread pools are sized from

if TYPE_CHECKING:  # pandas loads only when a table is built
    import pandas as pd

BACKENDS = ("local", "ray")
SAMPLERS = ("random", "tpe")  # with samples=N: random draws, or Optuna's TPE
KERNEL = "labkit"  # the fast-start kernel (labkit/kernel.py); "python3" starts fresh ones
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
    sampler: str = "random",
    objective: str = "val_accuracy",
    backend: str = "local",
    address: str | None = None,
    retry_failed: bool = False,
    kernel: str = KERNEL,
    show_progress: bool = True,
) -> pd.DataFrame:
    """Run every point of `grid` through `notebook`; return this grid's rows (a DataFrame).

    `grid` maps parameter names to the values to try (`{"lr": [0.01, 0.1]}`); an empty grid
    is one run with the notebook's defaults. With `samples=N` it is a search space instead:
    N points drawn with `sample_seed` from each parameter's distribution or list, at random
    (`sampler="random"`), or proposed `jobs` at a time by Optuna's TPE sampler from the
    results so far (`sampler="tpe"`, which maximizes the metric `objective`).
    `jobs` runs go at once, each kernel with `threads` threads: by default the count the
    folder's earlier runs used (so its runs stay comparable), else cores / jobs.
    `backend="ray"` sends each run to a Ray cluster as a task asking for that many CPUs:
    the one at `address`, or a local one started for the sweep. `kernel` names the Jupyter
    kernel: `labkit` forks each from a warm parent (about a second to start);
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
    check_choice("sampler", sampler, SAMPLERS)
    if samples is not None:
        check_int("samples", samples, minimum=1)
        check_int("sample_seed", sample_seed, minimum=0)
    if sampler == "tpe" and samples is None:
        raise ConfigError("sampler='tpe' proposes samples=N points: give samples")
    if sampler == "tpe":
        _require_optuna()
    declared = notebook_parameters(notebook)
    if samples is None:
        points = make_grid(check_grid(grid, declared))
    elif sampler == "random":
        points = [check_point(p, declared) for p in sample_points(grid, samples, sample_seed)]
    if sampler != "tpe" and len({run_id(p) for p in points}) < len(points):
        raise ConfigError("the grid repeats a point (a value is listed twice)")
    out.mkdir(parents=True, exist_ok=True)
    records = read_records(out)
    check_same_notebook(records, notebook, out)
    threads = threads or pinned_threads(records, out, default=max(1, _cores() // jobs))
    origin = provenance(notebook, threads)
    settings = (out, origin, jobs, backend, address, retry_failed, kernel, show_progress)
    if sampler == "tpe":
        ids = _tpe(notebook, grid, declared, samples, sample_seed, objective, settings)
    else:
        ids = _sweep_points(notebook, points, *settings)
    return runs_table(out, ids)


def _sweep_points(
    notebook: Path, points: list[dict], out: Path, origin: dict, jobs: int, backend: str,
    address: str | None, retry_failed: bool, kernel: str, show_progress: bool,
) -> list[str]:  # fmt: skip
    """Run the points not finished yet (each claimed first); return their run ids."""
    params = {run_id(point): point for point in points}
    with Claims(out) as claims:
        todo, waiting = [], []
        for rid in params:
            if not claims.take(rid, block=False):
                waiting.append(rid)  # another sweep into this folder is running it
            elif is_stale(read_record(out / rid), origin, retry_failed, rid):
                todo.append(rid)
        finished = len(params) - len(todo) - len(waiting)
        if finished:
            print(f"{finished} of {len(params)} runs already finished in {out}/")
        if waiting:
            print(f"{len(waiting)} runs are being run by another sweep into {out}/: waiting")
        _run(notebook, params, todo, out, origin, jobs, backend, address, kernel, show_progress)
        for rid in waiting:  # once the other sweep lets go: its record, or run it here
            claims.take(rid, block=True)
            if is_stale(read_record(out / rid), origin, retry_failed, rid):
                _run(notebook, params, [rid], out, origin, jobs, backend, address, kernel, False)
    return list(params)


def _tpe(
    notebook: Path, space: Mapping[str, Any], declared: dict, samples: int, seed: int,
    objective: str, settings: tuple,
) -> list[str]:  # fmt: skip
    """Optuna's TPE sampler proposes `jobs` points at a time from the results so far; a
    failed or diverged run, or one without `objective`, is told to it as a failed trial."""
    optuna = _require_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    distributions = {name: to_optuna(values) for name, values in space.items()}
    jobs, ids = settings[2], []
    while len(ids) < samples:
        trials = [study.ask(distributions) for _ in range(min(jobs, samples - len(ids)))]
        drawn = [{k: significant(v) if isinstance(v, float) else v for k, v in t.params.items()}
                 for t in trials]  # fmt: skip
        points = [check_point(point, declared) for point in drawn]
        ran = _sweep_points(notebook, points, *settings)
        rows = runs_table(settings[0], [run_id(point) for point in points]).to_dict("records")
        for trial, row in zip(trials, rows, strict=True):
            value = row.get(objective)
            usable = row.get("status") == "ok" and row.get("diverged") is not True
            if usable and isinstance(value, (int, float)) and math.isfinite(value):
                study.tell(trial, float(value))
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
        ids += ran
    return list(dict.fromkeys(ids))  # TPE may propose a point twice: one row


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
            write_record(out / outcome.run_id, asdict(outcome), params[outcome.run_id], origin)
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


def _require_optuna() -> Any:
    try:
        import optuna
    except ImportError as e:
        raise ImportError("sampler 'tpe' needs Optuna: pip install 'labkit[optuna]'") from e
    return optuna


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
