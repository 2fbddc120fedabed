"""The `labkit` command.

    labkit sweep NOTEBOOK -p NAME V1 V2 … [-p NAME …] --out DIR [--jobs N] [--threads N]
                 [--samples N [--sample-seed S] [--sampler random|tpe] [--objective M]]
                 [--backend local|ray] [--address ADDR]
                 [--retry-failed] [-k KERNEL]
    labkit sweep --summary DIR [--sort METRIC] [--ascending]
    labkit serve MODEL.onnx [--host 127.0.0.1] [--port 8000] [--replicas N] [--threads N]
                 [--batching [--max-batch N] [--max-wait-ms MS]] [--max-rows N]

`-p` takes a parameter name and any number of values, each parsed as papermill's `-p`
parses one (True/False/None, int, float, else a string). A value that reads as a number,
such as -1 or -1e-3, is a value and not an option. With `--samples N` (random search) a
parameter may instead take one distribution: `loguniform:1e-4:1e-1`, `uniform:0:0.5` or
`int:1:8`; its listed values are chosen from uniformly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from labkit.records import summary
from labkit.search import parse_distribution, parse_value
from labkit.sweep import BACKENDS, KERNEL, SAMPLERS, sweep
from labkit.validate import ConfigError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    grid, rest = _take_params(argv, parser) if argv[:1] == ["sweep"] else ({}, argv)
    args = parser.parse_args(rest)
    try:
        return _serve(args) if args.command == "serve" else _sweep(args, grid, parser)
    except (ConfigError, ImportError) as e:  # labkit.serve.ModelError is a ConfigError
        parser.exit(2, f"labkit {args.command}: error: {e}\n")
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkit", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "sweep",
        help="run a notebook over a parameter grid with papermill",
        description="Run NOTEBOOK once per point of the grid, each run in DIR/<run-id>/, "
        "and collect one row per run in DIR/results.csv. Finished runs are skipped.",
    )
    run.add_argument("notebook", nargs="?", help="the notebook to run (.ipynb)")
    run.add_argument(
        "-p", "--param", nargs="+", metavar=("NAME", "VALUE"),
        help="a parameter and the values to try (repeat -p for more parameters)",
    )  # fmt: skip
    run.add_argument("--out", metavar="DIR", help="folder for the runs and results.csv")
    run.add_argument("--jobs", type=int, default=1, help="runs at a time (default 1)")
    run.add_argument(
        "--threads", type=int,
        help="threads per run (default: as the folder's runs, else cores / jobs)",
    )  # fmt: skip
    run.add_argument("--samples", type=int, help="random search: draw N points from -p")
    run.add_argument("--sample-seed", type=int, default=0, help="seed of the draws (default 0)")
    run.add_argument(
        "--sampler", choices=SAMPLERS, default="random",
        help="with --samples: random draws, or Optuna's TPE (labkit[optuna]) proposing from "
        "the results so far",
    )  # fmt: skip
    run.add_argument(
        "--objective", default="val_accuracy", help="the metric TPE maximizes (val_accuracy)"
    )
    run.add_argument("--backend", choices=BACKENDS, default="local", help="default: local")
    run.add_argument("--address", help="Ray cluster address (default: start a local one)")
    run.add_argument("--retry-failed", action="store_true", help="re-run failed runs too")
    run.add_argument(
        "-k", "--kernel", default=KERNEL,
        help="Jupyter kernel (default: labkit, forked from a warm parent; python3: fresh)",
    )  # fmt: skip
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--summary", metavar="DIR", help="print DIR's results table and exit")
    run.add_argument("--sort", metavar="METRIC", help="sort by this column (default: val_accuracy)")
    run.add_argument("--ascending", action="store_true", help="smallest first (e.g. losses)")
    serve = commands.add_parser(
        "serve",
        help="serve an ONNX model over HTTP (POST /predict, GET /health, GET /metrics)",
        description="Serve MODEL.onnx (from labkit.export.export_onnx) with FastAPI and ONNX "
        "Runtime until Ctrl-C. Binds 127.0.0.1 unless --host says otherwise.",
    )
    serve.add_argument("model", help="the .onnx file")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free)")
    serve.add_argument(
        "--replicas", type=int, default=1,
        help="N > 1: N Ray Serve replicas behind the same endpoint (labkit[ray])",
    )  # fmt: skip
    serve.add_argument("--threads", type=int, help="ONNX Runtime threads per process")
    serve.add_argument("--batching", action="store_true", help="gather concurrent requests")
    serve.add_argument("--max-batch", type=int, default=64, help="rows per model call (64)")
    serve.add_argument("--max-wait-ms", type=float, default=2.0, help="most a batch gathers (2 ms)")
    serve.add_argument("--max-rows", type=int, default=1024, help="rows per request (1024)")
    serve.add_argument("--log-level", default="warning", choices=["warning", "info", "debug"])
    return parser


def _serve(args: argparse.Namespace) -> int:
    from labkit import serve  # the web stack loads only for this command

    config = serve.ServeConfig(
        threads=args.threads, max_rows=args.max_rows, batching=args.batching,
        max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
    )  # fmt: skip
    if args.replicas == 1:
        serve.serve(args.model, host=args.host, port=args.port, config=config,
                    log_level=args.log_level)  # fmt: skip
    else:
        serve.serve_replicas(args.model, args.replicas, host=args.host, port=args.port,
                             config=config)  # fmt: skip
    return 0


def _take_params(
    argv: list[str], parser: argparse.ArgumentParser
) -> tuple[dict[str, list[Any]], list[str]]:
    """Pull every `-p NAME V …` group out of argv (argparse reads -1e-3 as an option)."""
    grid: dict[str, list[Any]] = {}
    rest: list[str] = []
    tokens = iter(enumerate(argv))
    for i, token in tokens:
        if token not in ("-p", "--param"):
            rest.append(token)
            continue
        values = []
        for text in argv[i + 1 :]:
            if text.startswith("-") and isinstance(parse_value(text), str):
                break  # the next option
            values.append(text)
        if len(values) < 2:
            parser.error(f"{token} needs a parameter name and at least one value")
        name = values[0]
        if name in grid:
            parser.error(f"parameter {name!r} is given twice; list all its values after one -p")
        try:
            drawn = [parse_distribution(text) for text in values[1:]]
        except ConfigError as e:
            parser.error(f"parameter {name!r}: {e}")
        if any(drawn) and len(values) > 2:
            parser.error(f"parameter {name!r}: a distribution is its only value")
        grid[name] = drawn[0] if drawn[0] else [parse_value(text) for text in values[1:]]
        for _ in values:
            next(tokens)
    return grid, rest


def _sweep(args: argparse.Namespace, grid: dict[str, list[Any]], parser) -> int:
    if args.summary:
        if args.notebook or grid:
            parser.error("--summary DIR only prints a table; give no NOTEBOOK or -p")
        _print(summary(args.summary, args.sort, ascending=args.ascending), args.sort)
        return 0
    if not args.notebook or not args.out:
        parser.error("give a NOTEBOOK and --out DIR (or --summary DIR)")
    table = sweep(
        args.notebook, grid, args.out, jobs=args.jobs, threads=args.threads,
        samples=args.samples, sample_seed=args.sample_seed, sampler=args.sampler,
        objective=args.objective, backend=args.backend,
        address=args.address, retry_failed=args.retry_failed, kernel=args.kernel,
        show_progress=not args.quiet,
    )  # fmt: skip
    ranked = summary(args.out, args.sort, ascending=args.ascending)
    _print(ranked[ranked["run_id"].isin(table["run_id"])], args.sort)
    failed = int((table["status"] == "failed").sum())
    others = len(ranked) - len(table)
    print(
        f"{len(table)} runs in this sweep, {failed} failed; {args.out}/results.csv holds "
        f"them{f' and {others} more from other sweeps (--summary shows all)' if others else ''}"
    )
    return 1 if failed else 0


def _print(table, sort_by: str | None) -> None:
    """One line per run: its id (the parameters), the sort metric, status, whether it diverged
    (when the notebook reports it), time and error."""
    import pandas as pd

    metric = sort_by or next((c for c in ("val_accuracy", "test_accuracy") if c in table), None)
    columns = ["run_id", *([metric] if metric else []), "status", "diverged", "duration_s", "error"]
    if "seed" in table and table["seed"].nunique() > 1:
        columns.insert(1, "seed")
        print("ranked within each seed: runs with different seeds differ in more than the rest")
    with pd.option_context("display.max_colwidth", 70, "display.width", 200):
        print(table[[c for c in columns if c in table]].to_string(index=False, na_rep=""))


if __name__ == "__main__":
    sys.exit(main())
