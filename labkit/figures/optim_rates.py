"""Notebook 02 (optimizers), sections 4-5: the learning-rate finder and the schedules.

The notebook runs `labkit.optim.lr_finder` for every optimizer and trains at its suggestions,
then trains under four schedules at two base rates; what is here maps the lesson's schedule
names onto `TrainConfig` (and the rate multiplier each applies per step), checks that the
finder left an optimizer's state as it was, and lays out the tables, figures and verdicts.
Every verdict carries its noise and follows the course's one rule
(`labkit.figures.optimizers.compare`): beyond the noise only outside ±2√(σa² + σb²),
otherwise a tie.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from labkit.data import Split
from labkit.figures.optimizers import (
    COLORS,
    Comparison,
    Run,
    accuracy_error,
    compare,
    compare_accuracies,
    mean_error,
    tally,
)
from labkit.optim import LRFinderResult, lr_finder, make_optimizer, schedule_factor
from labkit.train import History, predict

SCHEDULES = ("constant", "step", "cosine", "warmup_cosine")  # the lesson's four schedules


def schedule_fields(name: str, total_steps: int) -> dict[str, Any]:
    """TrainConfig's schedule fields for one of the lesson's schedules: `warmup_cosine` is a
    linear warm-up over the first 10 % of the steps (at least 1), then cosine."""
    if name == "warmup_cosine":
        return {"schedule": "cosine", "warmup_steps": max(1, total_steps // 10)}
    return {"schedule": name, "warmup_steps": 0}


def schedule_factors(total_steps: int, names: Sequence[str] = SCHEDULES) -> dict[str, np.ndarray]:
    """Each schedule's multiplier of the base rate at every one of `total_steps` steps, as
    `labkit.fit` applies it (`labkit.optim.schedule_factor` of its `schedule_fields`)."""
    factors = {}
    for name in names:
        fields = schedule_fields(name, total_steps)
        factor = schedule_factor(
            fields["schedule"], total_steps, warmup_steps=fields["warmup_steps"]
        )
        factors[name] = np.array([factor(t) for t in range(total_steps)])
    return factors


def same_state(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Two optimizer state_dicts hold the same settings and the same tensors."""
    if a["param_groups"] != b["param_groups"] or a["state"].keys() != b["state"].keys():
        return False
    return all(
        torch.equal(torch.as_tensor(a["state"][k][n]), torch.as_tensor(b["state"][k][n]))
        for k in a["state"]
        for n in a["state"][k]
    )


def finder_keeps_state(model: torch.nn.Module, train: Split, *, batch_size: int, seed: int) -> bool:
    """Give an Adam optimizer state (one real step on 64 training examples), run `lr_finder`
    with it, and say whether its state (m, v, step count, lr) came back exactly as it was.
    The step changes `model`'s weights; the finder puts back the ones it found."""
    busy = make_optimizer("adam", model.parameters(), 1e-3)
    device = next(model.parameters()).device
    x, y = train.x[:64].to(device), train.y[:64].to(device)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    busy.step()
    saved = copy.deepcopy(busy.state_dict())
    lr_finder(model, train, busy, min_lr=1e-5, max_lr=10.0, steps=100, batch_size=batch_size,
              seed=seed)  # fmt: skip
    return same_state(saved, busy.state_dict())


# ---- section 4: the learning-rate finder --------------------------------------------------


def finder_table(finds: Mapping[str, LRFinderResult], rates: Mapping[str, float]) -> str:
    """Each optimizer's suggestion beside its lowest-loss rate and section 3's rate, and
    where the suggestions lie relative to each other and to those rates."""
    lines = [
        f"{'optimizer':10s} {'suggested':>10s} {'lowest loss at':>15s} "
        f"{'rate in section 3':>18s} {'ratio':>6s}"
    ]
    for name, f in finds.items():
        lowest = f.lrs[int(np.argmin(f.losses))]
        lines.append(
            f"{name:10s} {f.suggested_lr:10.3g} {lowest:15.3g} {rates[name]:18g} "
            f"{f.suggested_lr / rates[name]:6.1f}"
        )
    above = sum(f.suggested_lr > rates[name] for name, f in finds.items())
    lines.append(
        f"{above} of {len(finds)} suggestions lie above section 3's rates "
        f"({len(finds) - above} at or below)"
    )
    if {"sgd", "momentum", "adam"} <= finds.keys():
        decades = {
            n: math.log10(finds["sgd"].suggested_lr / finds[n].suggested_lr)
            for n in ("momentum", "adam")
        }
        lines.append(
            "SGD's suggestion lies "
            + ", ".join(
                f"{abs(d):.1f} decades {'right of' if d > 0 else 'left of'} {n}'s"
                if d
                else f"at {n}'s"
                for n, d in decades.items()
            )
        )
    return "\n".join(lines)


def finder_figure(finds: Mapping[str, LRFinderResult], chosen: str) -> Figure:
    """Left: the chosen optimizer's curve, its lowest point and suggestion; right: all."""
    fig = Figure(figsize=(11, 3.8), dpi=80, layout="constrained")
    one, all_ = fig.subplots(1, 2)

    def at(f: LRFinderResult) -> float:  # the curve's height at the suggestion
        return float(np.interp(np.log(f.suggested_lr), np.log(f.lrs), f.losses))

    f = finds[chosen]
    one.plot(f.lrs, f.losses, color=COLORS[chosen])
    low = int(np.argmin(f.losses))
    one.plot(
        f.lrs[low],
        f.losses[low],
        "x",
        color="k",
        markersize=9,
        label=f"lowest loss, lr {f.lrs[low]:.2g}: the edge",
    )
    one.plot(
        f.suggested_lr,
        at(f),
        "o",
        color="red",
        markersize=8,
        label=f"suggested (steepest fall): {f.suggested_lr:.2g}",
    )
    one.set_title(f"{chosen}: loss while the learning rate grows", fontsize=10)
    for name, g in finds.items():
        all_.plot(g.lrs, g.losses, color=COLORS[name], label=name)
        all_.plot(g.suggested_lr, at(g), "o", color=COLORS[name])
    all_.set_title(f"all {len(finds)} (dots: suggestions)", fontsize=10)
    for ax in (one, all_):
        ax.set(xscale="log", xlabel="learning rate (log scale)", ylabel="smoothed training loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def suggestion_table(
    finds: Mapping[str, LRFinderResult],
    at_suggestion: Mapping[str, float],
    at_rate: Mapping[str, float],
    rates: Mapping[str, float],
    n: int,
) -> tuple[str, dict[str, Comparison]]:
    """Validation accuracy at each finder suggestion vs at section 3's rate (nan: diverged),
    with the verdict of each comparison against its noise; and the comparisons."""
    versus = {name: compare_accuracies(at_suggestion[name], at_rate[name], n) for name in finds}

    def shown(p: float) -> str:
        return "diverged" if math.isnan(p) else f"{p:.3f}"

    lines = [
        f"{'optimizer':10s} {'suggested lr':>12s} {'val acc':>9s}   {'section 3 lr':>12s} "
        f"{'val acc':>9s}   suggestion minus section 3"
    ]
    for name, f in finds.items():
        lines.append(
            f"{name:10s} {f.suggested_lr:12.3g} {shown(at_suggestion[name]):>9s}   "
            f"{rates[name]:12g} {shown(at_rate[name]):>9s}   {versus[name].text()}"
        )
    lines.append(
        f"at its suggestion, compared with section 3's rate, an optimizer ended {tally(versus)} "
        f"of {len(finds)} cases (tie: inside ±2√(σa² + σb²), σ the sampling error of an "
        f"accuracy on {n} validation images; diverging is worse)"
    )
    return "\n".join(lines), versus


# ---- section 5: schedules -----------------------------------------------------------------


def lr_follows_schedule(
    history: History, schedule: str, base: float, total_steps: int, steps_per_epoch: int
) -> bool:
    """The rate `labkit.fit` recorded after each epoch is `base` times the lesson's `schedule`
    factor at that step (`schedule_fields`, then `labkit.optim.schedule_factor`)."""
    fields = schedule_fields(schedule, total_steps)
    factor = schedule_factor(fields["schedule"], total_steps, warmup_steps=fields["warmup_steps"])
    recorded = [base * factor(e * steps_per_epoch) for e in history.epoch]
    return bool(np.allclose(history.lr, recorded))


def val_losses(run: Run, val: Split) -> np.ndarray | None:
    """The loss on each validation example of a run's model (None when the run diverged): the
    numbers whose mean is the validation loss, and whose spread gives its sampling error."""
    if run.diverged:
        return None
    logits = predict(run.model, val.x)  # (n_val, classes)
    return torch.nn.functional.cross_entropy(logits, val.y, reduction="none").numpy()


def schedules_figure(
    factors: Mapping[str, np.ndarray],
    histories: Mapping[tuple[str, float], History],
    *,
    steps_per_epoch: int,
    optimizer: str,
) -> Figure:
    """The schedules' factors per step, then validation accuracy per epoch at each base rate."""
    names = list(factors)
    bases = list(dict.fromkeys(base for _, base in histories))
    fig = Figure(figsize=(12, 3.6), dpi=80, layout="constrained")
    lr_ax, *acc_axes = fig.subplots(1, 1 + len(bases))
    for i, (name, f) in enumerate(factors.items()):
        lr_ax.plot(np.arange(len(f)) / steps_per_epoch, f, color=f"C{i}", label=name)
    lr_ax.set(xlabel="epoch", ylabel="learning rate / base rate", title="the schedules")
    for ax, base in zip(acc_axes, bases, strict=True):
        for i, name in enumerate(names):
            h = histories[name, base]
            ax.plot(h.epoch, h.val_accuracy, ".-", color=f"C{i}", label=name)
        ax.set(xlabel="epoch", ylabel="validation accuracy", title=f"{optimizer}, base lr {base:g}")
        ax.set_ylim(max(0.0, ax.get_ylim()[0]), 1.0)
    for ax in (lr_ax, *acc_axes):
        ax.title.set_fontsize(10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def schedule_report(
    losses: Mapping[tuple[str, float], np.ndarray | None],
    accuracy: Mapping[tuple[str, float], float],
    n: int,
) -> tuple[str, dict[tuple[str, str, float], Comparison]]:
    """Per schedule and base rate: validation loss and accuracy, each ± its sampling error
    (None / nan: diverged); then each schedule against `constant`, and the warm-up
    (`warmup_cosine` against `cosine`), by validation loss (lower is better).

    `losses` holds each run's per-example validation losses. Returns the text and the
    comparisons, keyed (schedule, reference, base rate)."""
    names = list(dict.fromkeys(name for name, _ in losses))
    bases = list(dict.fromkeys(base for _, base in losses))

    def loss_of(key: tuple[str, float]) -> tuple[float, float]:
        v = losses[key]
        return (math.nan, math.nan) if v is None else (float(np.mean(v)), mean_error(v))

    lines = [
        f"{'schedule':14s}" + "".join(f"{f'lr {b:g}: val loss / val accuracy':>38s}" for b in bases)
    ]
    for name in names:
        cells = []
        for base in bases:
            loss, err = loss_of((name, base))
            p = accuracy[name, base]
            cells.append(
                f"{'diverged':>38s}"
                if math.isnan(loss)
                else f"{loss:11.3f} ± {err:.3f} / {p:.3f} ± {accuracy_error(p, n):.3f}"
            )
        lines.append(f"{name:14s}" + "".join(cells))
    pairs = [(name, "constant") for name in names if name != "constant"]
    pairs += [("warmup_cosine", "cosine")] if {"warmup_cosine", "cosine"} <= set(names) else []
    comparisons = {}
    for base in bases:
        for a, b in pairs:
            comparisons[a, b, base] = compare(
                *loss_of((a, base)), *loss_of((b, base)), higher_is_better=False
            )
        versus = ", ".join(
            f"{a} {comparisons[a, 'constant', base].text(1.0, '', 3)}"
            for a, b in pairs
            if b == "constant"
        )
        lines.append(f"at lr {base:g}, validation loss minus constant's: {versus}")
    if ("warmup_cosine", "cosine") in pairs:
        warm = {base: comparisons["warmup_cosine", "cosine", base] for base in bases}
        said = {
            "better": "helped (lower loss)",
            "worse": "hurt (higher loss)",
            "tie": "a tie",
            "both diverged": "both diverged",
        }
        lines.append(
            "warm-up (warmup_cosine minus cosine, validation loss): "
            + "; ".join(
                f"at lr {base:g} "
                + (
                    said[c.verdict]
                    if math.isnan(c.diff)
                    else f"{c.band(1.0, '', 3)}: {said[c.verdict]}"
                )
                for base, c in warm.items()
            )
        )
    lines.append(
        f"(one training seed each; in the table ± is each number's sampling error on the {n} "
        "validation images; a difference's ± is 2√(σa² + σb²), and inside it is a tie)"
    )
    return "\n".join(lines), comparisons


def step_drops_line(factor: np.ndarray) -> str:
    """Where the `step` schedule's factor (one per step) drops, and where it ends."""
    drops = (np.flatnonzero(np.diff(factor) != 0) + 1).tolist()
    return (
        f"step: the rate drops 10x at steps {drops} of {len(factor)}, so it ends at "
        f"{factor[-1]:g}x the base rate"
    )
