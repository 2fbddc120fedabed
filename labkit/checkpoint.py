"""Saving and loading training state and models, atomically and without unpickling code.

`torch.load` with `weights_only=True` only rebuilds tensors and plain containers
(dict, list, tuple, str, numbers, None), so a crafted file cannot run code on load;
such a file is refused with `CheckpointError`. A SHA-256 digest of the contents, stored
in the file and checked on load, catches files altered after they were written (torch's
zip container does not notice a changed weight); it checks integrity, it is no signature.
Writes go to a temporary file that is renamed into place, so a crash never leaves a torn
checkpoint.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from labkit.io import atomic_write
from labkit.models import ALL_MODELS, build_model, model_name

CHECKPOINT_FORMAT = "labkit.checkpoint/1"
MODEL_FORMAT = "labkit.model/1"


class CheckpointError(RuntimeError):
    """A checkpoint or model file is unsafe, corrupted, or not a labkit file."""


def save_state(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Atomically write a dict of tensors and plain values, with a digest of its contents."""
    state = {**state, "sha256": digest(state)}
    return atomic_write(path, lambda f: torch.save(state, f))


def digest(obj: Any) -> str:
    """SHA-256 over the structure, plain values and raw tensor bytes of `obj`."""
    h = hashlib.sha256()

    def walk(o: Any) -> None:
        if isinstance(o, torch.Tensor):
            t = o.detach().cpu().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(o, dict):
            h.update(b"{")
            for key in sorted(o, key=repr):
                h.update(repr(key).encode())
                walk(o[key])
            h.update(b"}")
        elif isinstance(o, (list, tuple)):
            h.update(b"[")
            for item in o:
                walk(item)
            h.update(b"]")
        else:
            h.update(repr(o).encode())

    walk(obj)
    return h.hexdigest()


def load_state(path: str | os.PathLike, expected_format: str) -> dict[str, Any]:
    """Load a file written by `save_state`, refusing anything but tensors and plain data."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"refusing to load {path}: it holds Python objects other than tensors and plain "
            f"containers, and loading those could run arbitrary code ({_first_line(e)})"
        ) from None
    except Exception as e:  # torch raises RuntimeError / EOFError / zip errors on damage
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated or corrupted?): {_first_line(e)}"
        ) from None
    if not isinstance(state, dict) or state.get("format") != expected_format:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path} is not a {expected_format} file (found {found!r})")
    stored = state.pop("sha256", None)
    if stored != digest(state):
        raise CheckpointError(
            f"refusing to load {path}: its contents do not match the SHA-256 digest written "
            "with them, so the file was modified or damaged after it was saved"
        )
    return state


def save_model(model: nn.Module, path: str | os.PathLike) -> Path:
    """Save a labkit model's architecture arguments and weights to one file."""
    state = {
        "format": MODEL_FORMAT,
        "model": model_name(model),
        "hparams": model.hparams,
        "state_dict": model.state_dict(),
    }
    return save_state(path, state)


def load_model(path: str | os.PathLike) -> nn.Module:
    """Rebuild a model saved by `save_model`, in eval mode, on the CPU."""
    state = load_state(path, MODEL_FORMAT)
    if state["model"] not in ALL_MODELS:
        raise CheckpointError(f"{path} names an unknown model {state['model']!r}")
    model = build_model(state["model"], **state["hparams"])
    model.load_state_dict(state["state_dict"])
    return model.eval()


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"
