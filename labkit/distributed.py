"""Data-parallel training of the tiny GPT: DistributedDataParallel over labkit's one loop.

Launched by torchrun, one process per rank (gloo on CPU, nccl on GPU):

    torchrun --standalone --nproc-per-node 2 -m labkit.distributed --out-dir runs/ddp

and on several machines, the same command on each with a rendezvous endpoint:

    torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d \\
        --rdzv-endpoint HOST:29500 --rdzv-id sort -m labkit.distributed --out-dir runs/ddp

Every rank builds the same model from the seed and draws the same batches; each trains on
its rows of every batch (`Batches(shard=...)`) and DistributedDataParallel averages the
gradients, so after every step all ranks hold the weights one process gets with the same
global batch. Rank 0 alone writes the checkpoint (so `--resume` continues a killed run,
bit for bit), `model.pt` and `metrics.json`. `launch(...)` runs the command as a
subprocess, as notebook 06 does.

`train_seconds` in metrics.json is the training alone: the sum of the epochs' seconds as
`fit` records them (`epoch_seconds_1`, `epoch_seconds_2`, …, read back by `epoch_seconds`;
a resumed run counts its earlier epochs too). The start-up is not in it: the imports,
joining the process group, building the model and the first optimizer (which imports
`torch._dynamo`, seconds on a CPU), so one process and several compare like for like.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from labkit.checkpoint import save_model
from labkit.data import exact_match, sequence_loss, sort_task
from labkit.io import write_metrics
from labkit.models import TinyGPT, parameter_count
from labkit.optim import OPTIMIZERS
from labkit.train import PRECISIONS, TrainConfig, fit, seed_everything
from labkit.validate import ConfigError, check_choice, check_float, check_int

SETTINGS = {  # name: (type, default, help); the command's options, also launch's keywords
    "n_layer": (int, 2, "transformer blocks"),
    "n_head": (int, 4, "attention heads per block"),
    "n_embd": (int, 64, "width of the residual stream"),
    "length": (int, 6, "digits to sort; sequences are 2 x length tokens"),
    "digits": (int, 10, "vocabulary: digits 0 .. digits-1"),
    "n_train": (int, 2048, "training sequences"),
    "n_test": (int, 256, "held-out sequences (prompts not in training)"),
    "lr": (float, 3e-3, "learning rate"),
    "batch_size": (int, 64, "global batch: split evenly over the ranks"),
    "epochs": (int, 2, "passes over the training sequences"),
    "optimizer": (str, "adam", f"one of {', '.join(OPTIMIZERS)}"),
    "precision": (str, "fp32", f"one of {', '.join(PRECISIONS)}"),
    "grad_accum": (int, 1, "micro-batches per optimizer step"),
    "grad_clip": (float, 0.0, "clip the gradient norm to this; 0 turns clipping off"),
    "seed": (int, 0, "seeds the model, the data and the shuffling"),
    "threads": (int, 1, "torch threads per rank"),
    "device": (str, "auto", "auto (a GPU per rank if there is one each, else the CPU) or cpu"),
}
DEVICES = ("auto", "cpu")


def train(out_dir: str | os.PathLike, *, resume: bool = False, **settings: Any) -> dict:
    """Train on this process's share (the whole data outside torchrun); rank 0 writes the
    checkpoint, model.pt and metrics.json to `out_dir` and every rank returns the metrics."""
    s = _settings(settings)
    torch.set_num_threads(check_int("threads", s["threads"], minimum=1))
    check_float("grad_clip", s["grad_clip"], minimum=0.0)
    check_choice("device", s["device"], DEVICES)
    rank, world = _start(s["device"])
    try:
        if world > s["n_train"]:
            raise ConfigError(
                f"the world size {world} is larger than the data: n_train={s['n_train']} "
                "sequences; use fewer processes or more data"
            )
        if s["batch_size"] % world:
            raise ConfigError(
                f"batch_size={s['batch_size']} must be divisible by the world size {world}, so "
                "every rank gets the same number of rows of each full batch (the same work)"
            )
        train_split, test = sort_task(
            s["n_train"], s["n_test"], length=s["length"], digits=s["digits"], seed=s["seed"]
        )
        model = initial_model(**s)
        device = _device(s["device"])
        model.to(device)
        wrapped = DistributedDataParallel(model) if world > 1 else model
        config = TrainConfig(
            lr=s["lr"],
            batch_size=s["batch_size"],
            epochs=s["epochs"],
            optimizer=s["optimizer"],
            precision=s["precision"],
            grad_accum=s["grad_accum"],
            grad_clip=s["grad_clip"],
            seed=s["seed"],
            device=str(device),
        )
        out = Path(out_dir)
        history = fit(
            wrapped,
            train_split,
            config,
            loss_fn=sequence_loss,
            checkpoint_dir=out / "checkpoints",
            resume=resume,
            show_progress=False,
        )
        metrics = {
            "world_size": world,
            "final_loss": history.train_loss[-1],
            "heldout_accuracy": exact_match(model, test),
            "params": parameter_count(model),
            # the epochs alone: no imports, process group or first optimizer (torch._dynamo)
            "train_seconds": sum(history.seconds),
            # every epoch reads each training token once, spread over the ranks
            "tokens_per_s": len(history) * train_split.x.numel() / sum(history.seconds),
        } | {f"epoch_seconds_{i}": t for i, t in enumerate(history.seconds, 1)}
        metrics |= {name: s[name] for name in SETTINGS}
        if rank == 0:
            save_model(model.cpu(), out / "model.pt")
            write_metrics(out, metrics)
        return metrics
    finally:
        if world > 1:
            dist.destroy_process_group()


def initial_model(**settings: Any) -> TinyGPT:
    """The untrained model `train` starts from with these settings, built from the seed."""
    s = _settings(settings)
    seed_everything(s["seed"])
    return TinyGPT(
        vocab=s["digits"],
        context=2 * s["length"],
        n_layer=s["n_layer"],
        n_head=s["n_head"],
        n_embd=s["n_embd"],
    )


def epoch_seconds(metrics: dict) -> list[float]:
    """The seconds of each training epoch, in order, from a run's metrics."""
    return [metrics[f"epoch_seconds_{i}"] for i in range(1, len(metrics) + 1)
            if f"epoch_seconds_{i}" in metrics]  # fmt: skip


def launch(
    out_dir: str | os.PathLike,
    *,
    nproc: int = 2,
    resume: bool = False,
    timeout: float = 600,
    **settings: Any,
) -> subprocess.CompletedProcess:
    """Run `torchrun --standalone --nproc-per-node nproc -m labkit.distributed ...` and wait;
    a failure raises with the ranks' output."""
    check_int("nproc", nproc, minimum=1)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "labkit.distributed",
        "--out-dir",
        str(out_dir),
        *_options(settings),
    ]
    if resume:
        command.append("--resume")
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise RuntimeError(
            f"torchrun exited with {done.returncode}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    return done


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m labkit.distributed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out-dir", required=True, help="checkpoint, model.pt, metrics.json")
    parser.add_argument("--resume", action="store_true", help="continue the checkpoint there")
    for name, (kind, default, help_text) in SETTINGS.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=kind,
            default=default,
            help=f"{help_text} (default {default})",
        )
    args = vars(parser.parse_args(argv))
    out_dir, resume = args.pop("out_dir"), args.pop("resume")
    try:
        train(out_dir, resume=resume, **args)
    except ConfigError as e:
        sys.exit(f"labkit.distributed: {e}")


def _start(choice: str = "auto") -> tuple[int, int]:
    """Join the process group torchrun set up (nccl on GPU, else gloo); (rank, world)."""
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) == 1:
        return 0, 1
    dist.init_process_group("nccl" if choice == "auto" and _gpu_each() else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _gpu_each() -> bool:
    """Whether every process on this machine gets a GPU of its own (NCCL needs one each);
    more processes than GPUs, e.g. 2 on a one-GPU laptop, train on the CPU with gloo."""
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    return torch.cuda.is_available() and torch.cuda.device_count() >= local_world


def _device(choice: str = "auto") -> torch.device:
    """This rank's device: with "auto" its own GPU where every process gets one, else the CPU."""
    if choice == "auto" and _gpu_each():
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def _check_known(settings: dict[str, Any]) -> None:
    unknown = settings.keys() - SETTINGS.keys()
    if unknown:
        raise ConfigError(f"unknown settings {sorted(unknown)}; known: {', '.join(SETTINGS)}")


def _settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings given, over SETTINGS' defaults; unknown names refused."""
    _check_known(settings)
    return {name: default for name, (_, default, _) in SETTINGS.items()} | settings


def _options(settings: dict[str, Any]) -> list[str]:
    _check_known(settings)
    return [f"--{name.replace('_', '-')}={value}" for name, value in settings.items()]


if __name__ == "__main__":
    main()
