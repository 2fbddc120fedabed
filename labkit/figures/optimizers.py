"""Notebook 02 (optimizers), sections 1 and 3: its verdicts with their noise, the harness and
table that check the from-scratch rules against torch.optim (`parity`), the seven on digits,
and one training run (`fit_run`: `labkit.fit` with a blow-up recorded in a `Run`, not raised).

The notebook keeps the update rules, the experiments and the checks; the layout of a
multi-panel figure and the wording of a table live here. Every verdict between two
settings carries its noise: the sampling error of a mean over the n validation examples,
std/√n (for an accuracy p that is √(p(1−p)/n)), and for a difference of two such numbers
σ = √(σa² + σb²). The course's one rule: a difference is beyond the noise only when
|d| > 2σ (for two numbers with the same error σ0, 2·√2·σ0); otherwise it is a tie. A 1σ rule
would call about a third of the differences between two equally good settings a win.
A printed band "d ± b" shows b = 2σ: a difference inside its band is a tie. The rule itself
lives in `labkit.noise`; this module words it. Section 2 (the 2-D paths) is in
`labkit.figures.optim_paths`, sections 4-5 (the learning-rate finder and
the schedules) are in `labkit.figures.optim_rates`, sections 6-7 (batch size) in
`labkit.figures.optim_batch`, section 8 (the FAQ) and the results in
`labkit.figures.optim_faq`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch
from matplotlib.figure import Figure

from labkit import noise
from labkit.data import Split
from labkit.optim import DEFAULT_WEIGHT_DECAY, OPTIMIZER_DEFAULTS, OPTIMIZERS, make_optimizer
from labkit.train import History, TrainConfig, TrainingDiverged, fit

COLORS = {name: f"C{i}" for i, name in enumerate(OPTIMIZERS)}  # one colour per optimizer
Surface = Callable[[torch.Tensor], torch.Tensor]


class RunLike(Protocol):
    history: History  # per-epoch curves, up to the last good epoch
    diverged: str  # "" when the run trained, else why not


class Run(NamedTuple):
    """One training run of the notebook: what `labkit.fit` left, and whether it counts."""

    model: torch.nn.Module  # the trained network (its last good weights if fit stopped it)
    history: History  # per-epoch curves, up to the last good epoch
    diverged: str  # "" when training finished and did not blow up, else why not


BLOWN_UP = 10 * math.log(10)  # a final validation loss above 10x an untrained network's (ln 10)


def blew_up(history: History) -> str:
    """Why a finished run counts as diverged ("" when it does not): its final validation loss
    is not finite, or above BLOWN_UP (the weights grew huge without reaching infinity)."""
    loss = history.val_loss[-1]
    if math.isfinite(loss) and loss <= BLOWN_UP:
        return ""
    return f"blew up: its validation loss ended at {loss:.2g}, far above an untrained network's 2.3"


def fit_run(
    model: torch.nn.Module,
    train: Split,
    config: TrainConfig,
    *,
    val: Split,
    on_epoch: Callable[[History], Any] | None = None,
) -> Run:
    """`labkit.fit` without its progress bar, recording a blow-up instead of raising it: when
    the loss becomes NaN or infinite, fit raises `TrainingDiverged` and restores the last good
    weights, and the Run says so; a run that ends with a finite but huge validation loss is
    flagged by `blew_up` (its weights are then the blown-up ones)."""
    try:
        history = fit(model, train, config, val=val, on_epoch=on_epoch, show_progress=False)
    except TrainingDiverged as e:  # e.history: the epochs before; the weights from then
        return Run(model, e.history, str(e).split(";")[0] + " (fit kept the weights from before)")
    return Run(model, history, blew_up(history))  # "" unless val loss ended > 10 ln 10


def final(run: RunLike, key: str = "val_accuracy") -> float:
    """The last epoch's validation number (`key` of the history), or nan for a run that
    diverged."""
    values = getattr(run.history, key)
    return values[-1] if values and not run.diverged else math.nan


def tried_line(
    run: RunLike, *, optimizer: str, lr: float, batch_size: int, epochs: int, schedule: str
) -> str:
    """One line on a run the learner started from the widgets: its settings, then its final
    validation accuracy, or why it does not count."""
    result = run.diverged or f"val accuracy {final(run):.3f}"
    return f"{optimizer}, lr {lr:g}, batch size {batch_size}, {epochs} epochs, {schedule}: {result}"


# ---- noise and verdicts -------------------------------------------------------------------


accuracy_error = noise.sampling_error  # an accuracy p on n examples: √(p(1−p)/n)


def mean_error(values: Sequence[float] | np.ndarray) -> float:
    """The sampling error of the mean of per-example values (e.g. losses): std/√n."""
    values = np.asarray(values, dtype=float)
    return float(values.std(ddof=1) / math.sqrt(len(values)))


VERDICTS = ("better", "worse", "tie", "both diverged")
BAND = noise.BAND  # a difference is beyond the noise only when |d| > BAND · √(σa² + σb²)


class Comparison(NamedTuple):
    """a − b, the noise of that difference, and the verdict for a."""

    diff: float  # a − b (nan when either diverged)
    noise: float  # σ = √(σa² + σb²); the band that decides is BAND · σ
    verdict: str  # "better", "worse", "tie" or "both diverged"

    @property
    def limit(self) -> float:
        """The half-width of the band: a difference inside ±2σ is a tie."""
        return BAND * self.noise

    def band(self, scale: float = 100.0, unit: str = " points", digits: int = 1) -> str:
        """The difference and its 2σ band, e.g. '+1.1 ± 4.4 points' (or who diverged)."""
        if math.isnan(self.diff):
            return {"worse": "worse (it diverged)", "better": "better (the other diverged)"}.get(
                self.verdict, self.verdict
            )
        return f"{scale * self.diff:+.{digits}f} ± {scale * self.limit:.{digits}f}{unit}"

    def text(self, scale: float = 100.0, unit: str = " points", digits: int = 1) -> str:
        """The band and the verdict, e.g. '+1.1 ± 4.4 points: tie'."""
        band = self.band(scale, unit, digits)
        return band if math.isnan(self.diff) else f"{band}: {self.verdict}"


def compare(
    a: float, a_error: float, b: float, b_error: float, *, higher_is_better: bool = True
) -> Comparison:
    """Compare two measured numbers with their sampling errors; nan stands for a run that
    diverged, which is worse than any number. Beyond the noise only when
    |a − b| > 2·√(a_error² + b_error²) (`labkit.noise`'s rule); otherwise a tie."""
    if math.isnan(a) or math.isnan(b):
        verdict = {(True, True): "both diverged", (True, False): "worse"}.get(
            (math.isnan(a), math.isnan(b)), "better"
        )
        return Comparison(math.nan, math.nan, verdict)
    diff, sigma = a - b, math.hypot(a_error, b_error)
    said = noise.verdict(diff, noise.difference_band(a_error, b_error))
    if said == "tie":
        return Comparison(diff, sigma, "tie")
    return Comparison(diff, sigma, "better" if (said == "higher") == higher_is_better else "worse")


def compare_accuracies(a: float, b: float, n: int) -> Comparison:
    """Two accuracies, each on n examples (nan: diverged), higher is better.

    This treats the two errors √(p(1−p)/n) as independent, a rough rule: on the same n
    examples the two models' mistakes are correlated (usually they share hard examples, and
    then this band is too wide, a conservative rule; not always). The exact way for two
    models on the same examples is a paired test on the examples where they disagree
    (McNemar's, as notebook 03 does)."""
    return compare(a, accuracy_error(a, n), b, accuracy_error(b, n))


def tally(comparisons: Mapping[Any, Comparison]) -> str:
    """How many comparisons went each way, e.g. 'better in 1, worse in 0, tied in 6'."""
    count = {v: sum(c.verdict == v for c in comparisons.values()) for v in VERDICTS}
    text = f"better in {count['better']}, worse in {count['worse']}, tied in {count['tie']}"
    return text + (f", both diverged in {count['both diverged']}" if count["both diverged"] else "")


# ---- section 1: parity ---------------------------------------------------------------------

# (w, g, state, lr, **hyper) -> the new w; `state` is a dict the rule keeps between steps
StepRule = Callable[..., torch.Tensor]
# each rule's rate in the parity check: large enough that the weights move visibly in 20 steps
PARITY_LR = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.5, "rmsprop": 0.01,
             "adam": 0.05, "adamw": 0.05}  # fmt: skip


def parity(
    rule: StepRule,
    name: str,
    *,
    seed: int = 0,
    device: torch.device | str = "cpu",
    steps: int = 20,
    **hyper: float,
) -> tuple[float, float]:
    """Run the from-scratch `rule` and `labkit.make_optimizer(name)` (a torch.optim class)
    side by side for `steps` steps from the same start on one small least-squares loss
    (64 examples, 8 weights, drawn from `seed`), at `PARITY_LR[name]` and `hyper`. Each reads
    its gradient at its own weights, so one wrong step makes them drift apart from then on.
    Returns the largest |difference| between the two sets of weights over all steps, and how
    far the weights moved (max |w − w0|)."""
    gen = torch.Generator().manual_seed(seed)
    X, y = torch.randn(64, 8, generator=gen).to(device), torch.randn(64, generator=gen).to(device)
    w0 = torch.randn(8, generator=gen).to(device)

    def loss_at(w: torch.Tensor) -> torch.Tensor:
        return ((X @ w - y) ** 2).mean()  # least squares: (64, 8) @ (8,) -> (64,)

    lr = PARITY_LR[name]
    p = w0.clone().requires_grad_(True)
    opt = make_optimizer(name, [p], lr, **hyper)
    w, state, worst = w0.clone(), {}, 0.0
    for _ in range(steps):
        opt.zero_grad()
        loss_at(p).backward()
        opt.step()
        w_ = w.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(loss_at(w_), w_)
        w = rule(w, g, state, lr, **hyper)
        worst = max(worst, (w - p.detach()).abs().max().item())
    return worst, (w - w0).abs().max().item()


def parity_table(parity: Mapping[str, tuple[float, float]]) -> str:
    """From-scratch vs torch.optim: the largest difference and how far the weights moved."""
    lines = [
        f"{'optimizer':24s} {'max |from scratch - torch|':>27s}  {'max |w - w0| (it moved)':>23s}"
    ]
    lines += [f"{name:24s} {diff:27.1e}  {moved:23.3f}" for name, (diff, moved) in parity.items()]
    return "\n".join(lines)


# ---- section 3: the seven on digits -------------------------------------------------------


def hyper_table(rates: Mapping[str, float]) -> str:
    """What each optimizer is given: its torch class, rate, weight decay and the rest."""
    lines = [
        f"{'name':9s} {'torch class':12s} {'lr here':>8s}  {'weight decay':>12s}  "
        "other hyper-parameters"
    ]
    for name, (cls, hyper) in OPTIMIZER_DEFAULTS.items():
        shown = ", ".join(f"{k}={v}" for k, v in hyper.items())
        decay = DEFAULT_WEIGHT_DECAY.get(name, 0.0)
        lines.append(f"{name:9s} {cls.__name__:12s} {rates[name]:8g}  {decay:12g}  {shown}")
    return "\n".join(lines)


def curves_figure(
    named_histories: Mapping[str, History],
    *,
    title: str,
    colors: Mapping[str, str] | None = None,
    dashed: Sequence[str] = (),
) -> Figure:
    """Validation loss (log scale) and accuracy per epoch, one line per run."""
    fig = Figure(figsize=(11, 3.6), dpi=80, layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    for i, (label, history) in enumerate(named_histories.items()):
        style = {
            "color": (colors or {}).get(label, f"C{i}"),
            "label": label,
            "linestyle": "--" if label in dashed else "-",
        }
        loss_ax.plot(history.epoch, history.val_loss, ".", **style)
        acc_ax.plot(history.epoch, history.val_accuracy, ".", **style)
    loss_ax.set(yscale="log", xlabel="epoch", ylabel="validation loss (log scale)")
    acc_ax.set(xlabel="epoch", ylabel="validation accuracy")
    acc_ax.set_ylim(max(0.0, acc_ax.get_ylim()[0]), 1.0)
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
    acc_ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(title, fontsize=11)
    return fig


def seven_figure(
    runs: Mapping[str, RunLike], rates: Mapping[str, float], *, batch_size: int, schedule: str
) -> Figure:
    """`curves_figure` of the optimizers' runs, each labelled with its rate and drawn in its
    own colour, AdamW dashed (with Adam's rate it lies on Adam's curve)."""
    labels = {n: f"{n} ({rates[n]:g})" for n in runs}
    return curves_figure(
        {labels[n]: r.history for n, r in runs.items()},
        colors={labels[n]: COLORS[n] for n in runs},
        dashed=[labels["adamw"]] if "adamw" in runs else [],
        title=f"the seven optimizers on digits (batch size {batch_size}, schedule {schedule})",
    )


def results_table(
    runs: Mapping[str, RunLike],
    rates: Mapping[str, float],
    n: int,
    *,
    batch_size: int | None = None,
    tuned_at: int | None = None,
) -> str:
    """Each optimizer's final validation accuracy (± its sampling error on n examples), its
    accuracy after epoch 1 and its final validation loss; a diverged run says why. A last
    line notes when the runs' `batch_size` is not the one the rates were `tuned_at`."""
    lines = [
        f"{'optimizer':10s} {'lr':>6s} {'val accuracy':>15s} {'after epoch 1':>14s} "
        f"{'val loss':>9s}"
    ]
    for name, run in runs.items():
        first = f"{run.history.val_accuracy[0]:.3f}" if run.history.val_accuracy else "-"
        if run.diverged:
            lines.append(
                f"{name:10s} {rates[name]:6g} {'diverged':>15s} {first:>14s} "
                f"{'-':>9s}   {run.diverged}"
            )
        else:
            p = final(run)
            lines.append(
                f"{name:10s} {rates[name]:6g} {p:7.3f} ± {accuracy_error(p, n):.3f} "
                f"{first:>14s} {final(run, 'val_loss'):9.4g}"
            )
    if batch_size != tuned_at:
        lines.append(f"(the rates were tuned at batch size {tuned_at}; this run used {batch_size})")
    return "\n".join(lines)


def spread_verdict(
    first: Mapping[str, float], last: Mapping[str, float], n: int, epochs: int
) -> str:
    """Best minus worst validation accuracy of the runs that trained, at the end and after
    epoch 1, each against its noise (two accuracies on n examples), and whether the spread
    shrank by more than the noise of the two spreads."""
    if not last:
        return "no optimizer trained at these settings: no spread to compare"

    def spread(acc: Mapping[str, float]) -> Comparison:
        return compare_accuracies(max(acc.values()), min(acc.values()), n)

    end = spread(last)
    within = "a tie, within the noise" if end.verdict == "tie" else "apart, beyond the noise"
    text = f"best minus worst validation accuracy at the end: {end.band()} ({within})"
    if epochs == 1:
        return text + "; with 1 epoch the end is epoch 1, so there is nothing to compare it with"
    start = spread(first)
    change = compare(start.diff, start.noise, end.diff, end.noise)
    said = {
        "better": "closer together at the end than after epoch 1",
        "worse": "further apart at the end than after epoch 1",
        "tie": "about as far apart at the end as after epoch 1 (a tie)",
    }[change.verdict]
    return (
        f"{text}; after epoch 1: {start.band()}. The {len(last)} ended {said}: the spread "
        f"changed by {(-change.diff * 100):+.1f} ± {100 * change.limit:.1f} points"
    )


def adamw_lines(runs: Mapping[str, RunLike], lr: float, total_steps: int) -> str:
    """How much AdamW's decoupled decay (1 − lr·λ)^steps shrinks the weights over the run, and
    the largest difference between Adam's and AdamW's validation loss (when both trained)."""
    decay = DEFAULT_WEIGHT_DECAY["adamw"]
    text = (
        f"AdamW's decoupled decay over the run's {total_steps} steps: the weights shrink by a "
        f"factor (1 - {lr:g} * {decay:g})^{total_steps} = {(1 - lr * decay) ** total_steps:.4f}"
    )
    if not (runs["adam"].diverged or runs["adamw"].diverged):
        losses = (runs["adam"].history.val_loss, runs["adamw"].history.val_loss)
        differ = np.abs(np.subtract(*losses)).max()
        text += (
            "\nlargest difference between Adam's and AdamW's validation loss over the epochs: "
            f"{differ:.2g}"
        )
    return text
