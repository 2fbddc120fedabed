"""Notebook 12 (monitoring): the drifts applied to live digits, a fast PSI scorer for many
windows, the "Try it" controls, the figures and the computed sentences.

`drift` changes raw 8×8 digits (pixel values 0 to 16) the way real traffic changes: a dimmer
scanner (`brightness`), a washed-out one (`contrast`), sensor noise (`noise`), digits moved
sideways (`shift`) or turned (`rotation`), each by a strength from 0 (none) to 1 (strong).
`PsiScorer` gives the same per-feature PSI as `labkit.monitor.psi` for many live windows
against one reference, cutting the reference's bins once. The sentences say what the
numbers say: an accuracy difference is called a change only beyond its sampling error,
√(p(1−p)/n), and a false alarm rate is given with its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from labkit.monitor import EPS
from labkit.validate import ConfigError, check_choice, check_float, check_int

KINDS = ("brightness", "contrast", "noise", "shift", "rotation")
WHAT = {  # what strength s does to an image, for the legends and the text
    "brightness": "ink × (1 − s/2): a dimmer scanner",
    "contrast": "pulled toward mid-grey by s/2: a washed-out scan",
    "noise": "Gaussian noise of std 4·s pixel levels",
    "shift": "moved right by 2·s pixels",
    "rotation": "turned by 30·s degrees",
}
PIXEL_MAX = 16.0  # the digits' pixel values run from 0 to 16
SIDE = 8  # 8×8 images
MAX_WINDOW = 360  # the test rows a live window is drawn from
STRENGTHS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)  # the sweep's drift strengths


def check_kind(drift: Any) -> str:
    """One of KINDS."""
    return check_choice("drift", drift, KINDS)


def check_strength(strength: Any) -> float:
    """A drift strength from 0 (no change) to 1."""
    return check_float("strength", strength, minimum=0.0, maximum=1.0)


def check_window(window: Any, rows: int = MAX_WINDOW) -> int:
    """Rows per live window: from 20 to `rows` (the test rows it is drawn from)."""
    if check_int("window", window, minimum=20) > rows:
        raise ConfigError(f"window must be at most {rows}, the test rows; got {window!r}")
    return window


def check_windows(windows: Any) -> int:
    """Clean windows drawn to measure the false alarm rate: from 20 to 5000."""
    if check_int("windows", windows, minimum=20) > 5000:
        raise ConfigError(f"windows must be at most 5000; got {windows!r}")
    return windows


class MonitorControls:
    """The "Try it" live window's widgets; `values()` returns {'drift', 'strength', 'window'}."""

    def __init__(self, drift: str = "rotation", strength: float = 0.5, window: int = 300) -> None:
        import ipywidgets as w

        check_kind(drift)
        check_strength(strength)
        check_window(window)
        style = {"description_width": "90px"}
        self.drift = w.Dropdown(options=KINDS, value=drift, description="drift", style=style)
        self.strength = w.FloatSlider(
            value=strength, min=0.0, max=1.0, step=0.05, readout_format=".2f",
            description="strength", continuous_update=False, style=style,
        )  # fmt: skip
        self.window = w.IntSlider(
            value=window, min=20, max=MAX_WINDOW, step=10, description="window rows",
            continuous_update=False, style=style,
        )  # fmt: skip
        self.box = w.VBox([self.drift, self.strength, self.window])

    def values(self) -> dict[str, Any]:
        return {
            "drift": str(self.drift.value),
            "strength": float(self.strength.value),
            "window": int(self.window.value),
        }

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        return self.box._repr_mimebundle_(**kwargs)


def drift(raw: np.ndarray, kind: str, strength: float, *, seed: int = 0) -> np.ndarray:
    """`raw` digits (N, 64), pixel values 0 to 16, changed by drift `kind` at `strength`
    (0: unchanged, 1: strong), clipped back to 0..16. Only `noise` draws random numbers,
    from a generator seeded by `seed`."""
    from scipy import ndimage

    check_kind(kind)
    s = check_strength(strength)
    x = np.asarray(raw, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != SIDE * SIDE:
        raise ConfigError(f"raw must be an array (N, {SIDE * SIDE}); got shape {x.shape}")
    if s == 0:
        return x.copy()
    img = x.reshape(-1, SIDE, SIDE)
    if kind == "brightness":
        out = img * (1 - s / 2)
    elif kind == "contrast":
        mid = PIXEL_MAX / 2
        out = mid + (img - mid) * (1 - s / 2)
    elif kind == "noise":
        out = img + np.random.default_rng(seed).normal(0.0, 4 * s, img.shape)
    elif kind == "shift":  # along the columns, by linear interpolation between pixels
        out = ndimage.shift(img, (0, 0, 2 * s), order=1, mode="constant", cval=0.0)
    else:  # rotation, counter-clockwise about the centre, in the image plane
        out = ndimage.rotate(img, 30 * s, axes=(2, 1), reshape=False, order=1, cval=0.0)
    return np.clip(out, 0.0, PIXEL_MAX).reshape(len(x), -1)


class PsiScorer:
    """Per-feature PSI of live windows against one reference window (rows × features), the
    same numbers as `labkit.monitor.psi` column by column, with the reference's quantile
    edges cut once: scoring thousands of windows takes a moment, not a minute."""

    def __init__(self, reference: np.ndarray, bins: int = 10) -> None:
        ref = np.asarray(reference, dtype=np.float64)
        if ref.ndim != 2 or len(ref) < 2:
            raise ConfigError(f"reference must be a 2-D array of >= 2 rows; got shape {ref.shape}")
        check_int("bins", bins, minimum=2)
        quantiles = np.quantile(ref, np.linspace(0, 1, bins + 1), axis=0)
        self.edges = [np.unique(quantiles[:, j]) for j in range(ref.shape[1])]
        self.shares = [self._shares(j, ref[:, j]) for j in range(ref.shape[1])]

    def _shares(self, j: int, v: np.ndarray) -> np.ndarray:
        edges = self.edges[j]
        idx = np.searchsorted(edges, v, side="left") + (v >= edges[0])
        return np.maximum(np.bincount(idx, minlength=len(edges) + 2) / len(v), EPS)

    def scores(self, live: np.ndarray) -> np.ndarray:
        """PSI of each feature (F,), reference → `live` (rows × F)."""
        x = np.asarray(live, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.edges):
            raise ConfigError(f"live must be (rows, {len(self.edges)}); got shape {x.shape}")
        out = np.empty(x.shape[1])
        for j, p in enumerate(self.shares):
            q = self._shares(j, x[:, j])
            out[j] = np.sum((q - p) * np.log(q / p))
        return out


def bootstrap_max_psi(
    scorer: PsiScorer, pool: np.ndarray, window: int, windows: int, *, seed: int = 0
) -> np.ndarray:
    """The largest per-feature PSI of `windows` live windows of `window` rows each, drawn
    with replacement from `pool` (rows × features) by a generator seeded with `seed`."""
    rng = np.random.default_rng(seed)
    pool = np.asarray(pool, dtype=np.float64)
    return np.array(
        [scorer.scores(pool[rng.integers(0, len(pool), window)]).max() for _ in range(windows)]
    )


def alarm_rate(max_psi: np.ndarray, thresholds: Sequence[float] | float) -> np.ndarray:
    """Share of windows whose largest PSI is above each threshold (the PSI alert's rate)."""
    scores = np.asarray(max_psi, dtype=np.float64)
    t = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    return (scores[None, :] > t[:, None]).mean(axis=1)


def sampling_error(p: float, n: int) -> float:
    """Standard error of a share p measured on n independent trials, √(p(1−p)/n)."""
    return math.sqrt(max(p * (1 - p), 0.0) / n)


# --- figures --------------------------------------------------------------------------------


def examples_figure(raw: np.ndarray, strength: float, *, seed: int = 0) -> Figure:
    """One row per drift kind: a few digits as the model sees them at `strength`."""
    shown = np.asarray(raw)[:6]
    fig = Figure(figsize=(7, 1.3 * (len(KINDS) + 1)), layout="constrained")
    axes = fig.subplots(len(KINDS) + 1, len(shown), squeeze=False)
    rows = {"clean": shown, **{k: drift(shown, k, strength, seed=seed) for k in KINDS}}
    for r, (name, images) in enumerate(rows.items()):
        for c, image in enumerate(images):
            ax = axes[r, c]
            ax.imshow(image.reshape(SIDE, SIDE), cmap="gray_r", vmin=0, vmax=PIXEL_MAX)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center")
    fig.suptitle(f"the live digits at drift strength {strength:g}")
    return fig


def sweep_figure(
    strengths: Sequence[float],
    accuracy: Mapping[str, Sequence[float]],
    max_psi: Mapping[str, Sequence[float]],
    psi_threshold: float,
    n: int,
) -> Figure:
    """Two panels over drift strength, one line per kind: the model's accuracy on the live
    window (with its sampling error at the clean accuracy, ±√(p(1−p)/n)) and the largest
    per-feature PSI (log scale, with the alert threshold)."""
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    acc_ax, psi_ax = fig.subplots(1, 2)
    for kind in accuracy:
        acc_ax.plot(strengths, accuracy[kind], marker="o", label=kind)
        psi_ax.plot(strengths, np.maximum(max_psi[kind], 1e-3), marker="o", label=kind)
    clean = float(np.mean([a[0] for a in accuracy.values()]))
    err = sampling_error(clean, n)
    acc_ax.axhspan(clean - 2 * err, clean + 2 * err, color="grey", alpha=0.2,
                   label="clean ± 2 s.e.")  # fmt: skip
    acc_ax.set(xlabel="drift strength", ylabel=f"accuracy on {n} live digits", ylim=(0, 1.02),
               title="what the model loses")  # fmt: skip
    psi_ax.axhline(psi_threshold, color="black", linestyle="--",
                   label=f"alert threshold {psi_threshold:g}")  # fmt: skip
    psi_ax.set(xlabel="drift strength", ylabel="largest per-feature PSI", yscale="log",
               title="what the monitor sees (no labels needed)")  # fmt: skip
    acc_ax.legend(fontsize=8)
    psi_ax.legend(fontsize=8)
    return fig


def false_alarm_figure(
    thresholds: Sequence[float],
    rates: Mapping[str, Sequence[float]],
    psi_threshold: float,
    windows: int,
) -> Figure:
    """Share of windows that alert against the PSI threshold, one line per label (clean
    windows of each size: the false alarm rate; drifted ones: the detection rate), with the
    chosen threshold marked."""
    fig = Figure(figsize=(6.5, 3.8), layout="constrained")
    ax = fig.subplots()
    for label, rate in rates.items():
        ax.plot(thresholds, rate, label=label)
    ax.axvline(psi_threshold, color="black", linestyle="--",
               label=f"threshold {psi_threshold:g}")  # fmt: skip
    ax.set(xlabel="PSI alert threshold", ylabel=f"share of {windows} windows alerting",
           xscale="log", ylim=(-0.02, 1.02),
           title="clean windows: false alarms; drifted: detections")  # fmt: skip
    ax.legend(fontsize=8)
    return fig


def live_figure(
    clean: np.ndarray,
    live: np.ndarray,
    psi: np.ndarray,
    threshold: float,
    accuracy: Mapping[str, float],
    n: int,
) -> Figure:
    """One live window: a digit as it was (`clean`, 64 pixels) and as the drift left it
    (`live`), each pixel's PSI on the 8×8 grid (× where above `threshold`), and the accuracy
    of the clean and the live window with ±2 sampling errors."""
    fig = Figure(figsize=(10, 2.8), layout="constrained")
    axes = fig.subplots(1, 4, width_ratios=(1, 1, 1.25, 1.2))
    for ax, image, title in ((axes[0], clean, "a clean digit"), (axes[1], live, "drifted")):
        ax.imshow(np.reshape(image, (SIDE, SIDE)), cmap="gray_r", vmin=0, vmax=PIXEL_MAX)
        ax.set(xticks=[], yticks=[], title=title)
    grid = np.reshape(psi, (SIDE, SIDE))
    shown = axes[2].imshow(grid, cmap="magma_r", vmin=0, vmax=max(4 * threshold, grid.max()))
    ys, xs = np.nonzero(grid > threshold)
    axes[2].scatter(xs, ys, marker="x", color="tab:cyan", s=18)
    axes[2].set(xticks=[], yticks=[], title=f"PSI per pixel (× > {threshold:g})")
    fig.colorbar(shown, ax=axes[2], shrink=0.8)
    names, values = list(accuracy), list(accuracy.values())
    errors = [2 * sampling_error(v, n) for v in values]
    axes[3].bar(names, values, yerr=errors, capsize=4, color=["tab:grey", "tab:red"][: len(names)])
    axes[3].set(ylim=(0, 1.05), ylabel=f"accuracy on {n} rows", title="accuracy, ± 2 s.e.")
    return fig


# --- sentences ------------------------------------------------------------------------------


def live_sentence(
    kind: str, strength: float, n: int, accuracy_clean: float, accuracy_live: float, report: Any
) -> str:
    """What one live window showed: which of the check's alerts fired (a
    `labkit.monitor.Report` of it against the reference), with the numbers behind them, and
    whether accuracy changed beyond 2 sampling errors of the difference."""
    head = f"{kind} at strength {strength:g}, a window of {n} rows: "
    fired = alert_kinds(report)
    t = report.thresholds
    numbers = {
        "PSI": f"{report.drifted_features} pixels > {t.psi:g}, largest {report.max_psi:.3g}",
        "KS": f"{report.ks_drifted_features} pixels reject",
        "predictions": f"class-mix PSI {report.prediction_psi or 0:.3g}",
    }
    on = [f"{name} ({numbers[name]})" for name, hit in fired.items() if hit]
    off = [f"{name} ({numbers[name]})" for name, hit in fired.items() if not hit]
    alerts = ("alerts fired: " + ", ".join(on)) if on else "no alert fired"
    if on and off:
        alerts += "; quiet: " + ", ".join(off)
    elif off:
        alerts += " (" + ", ".join(numbers[name] for name in fired) + ")"
    err = 2 * math.hypot(sampling_error(accuracy_clean, n), sampling_error(accuracy_live, n))
    change = accuracy_live - accuracy_clean
    moved = "fell" if change < -err else "rose" if change > err else ""
    if not moved and err == 0:  # both windows all right (or all wrong): no noise to show
        return f"{head}{alerts}; accuracy {accuracy_live:.3f} on both windows"
    accuracy = (f"accuracy {moved} from {accuracy_clean:.3f} to {accuracy_live:.3f}, beyond its "
                f"noise (±{err:.3f})" if moved else f"accuracy {accuracy_clean:.3f} → "
                f"{accuracy_live:.3f}, no change beyond its noise (±{err:.3f})")  # fmt: skip
    return f"{head}{alerts}; {accuracy}"


def first_alert(
    strengths: Sequence[float], max_psi: Sequence[float], threshold: float
) -> float | None:
    """The smallest strength from which every larger one alerts (max PSI > threshold)."""
    above = np.asarray(max_psi) > threshold
    if not above[-1]:
        return None
    quiet = np.flatnonzero(~above)
    return float(strengths[quiet[-1] + 1 if len(quiet) else 0])


def sweep_sentence(
    kind: str,
    strengths: Sequence[float],
    accuracy: Sequence[float],
    max_psi: Sequence[float],
    threshold: float,
    n: int,
) -> str:
    """What one kind's sweep shows: the accuracy at the strongest drift against the clean
    one (a change only beyond 2 sampling errors), and from which strength the PSI alert
    fires and what accuracy had lost there."""
    clean, worst = accuracy[0], accuracy[-1]
    err = 2 * math.hypot(sampling_error(clean, n), sampling_error(worst, n))
    drop = clean - worst
    if drop > err:
        verdict = f"falls from {clean:.3f} to {worst:.3f}"
    elif drop < -err:
        verdict = f"rises from {clean:.3f} to {worst:.3f}"
    else:
        verdict = f"stays at {clean:.3f} within noise (now {worst:.3f}, ±{err:.3f})"
    text = f"{kind}: accuracy {verdict} at strength {strengths[-1]:g}; "
    start = first_alert(strengths, max_psi, threshold)
    if start is None:
        return text + f"the PSI alert (> {threshold:g}) does not fire at strength {strengths[-1]:g}"
    if start == strengths[0]:
        return text + f"the PSI alert (> {threshold:g}) fires at every strength, clean included"
    i = list(strengths).index(start)
    lost = clean - accuracy[i]
    err_i = 2 * math.hypot(sampling_error(clean, n), sampling_error(accuracy[i], n))
    harm = (f"accuracy had already lost {lost:.3f}" if lost > err_i
            else "accuracy had not yet changed beyond its noise")  # fmt: skip
    return text + f"the PSI alert (> {threshold:g}) fires from strength {start:g} on, where {harm}"


def alert_kinds(report: Any) -> dict[str, bool]:
    """Which of a `labkit.monitor.Report`'s alerts fire: PSI, KS, prediction, latency."""
    kinds = {"PSI": False, "KS": False, "predictions": False}
    for alert in report.alerts:
        if alert.startswith("input drift") and "PSI" in alert:
            kinds["PSI"] = True
        elif alert.startswith("input drift") and "KS" in alert:
            kinds["KS"] = True
        elif alert.startswith("prediction drift"):
            kinds["predictions"] = True
    return kinds


def rate_text(hits: int, n: int) -> str:
    """A rate of `hits` in `n` trials with its sampling error, or, for 0 or n hits (whose
    sampling error is 0, which would claim certainty), the rule of three's 95 % bound, 3/n."""
    check_int("n", n, minimum=1)
    if hits == 0:
        return f"below about {3 / n:.3f} (95 % upper bound, 0 of {n})"
    if hits == n:
        return f"above about {1 - 3 / n:.3f} (95 % lower bound, {n} of {n})"
    rate = hits / n
    return f"{rate:.3f} ± {sampling_error(rate, n):.3f}"


def false_alarm_sentence(rate: float, windows: int, window: int, threshold: float) -> str:
    """The measured false alarm rate of a threshold over `windows` clean windows."""
    hits = round(rate * windows)
    return (f"at PSI > {threshold:g}, {hits} of {windows} clean windows of {window} rows "
            f"alerted: a false alarm rate {rate_text(hits, windows)}")  # fmt: skip


def ks_without_psi(
    strengths: Sequence[float], alerts: Mapping[str, Sequence[Mapping[str, bool]]]
) -> str:
    """Where the KS alert fired but the PSI alert did not (and the reverse), per kind, from
    `alerts[kind][i]` (the `alert_kinds` of strength i)."""
    only = {"KS": [], "PSI": []}
    for kind, row in alerts.items():
        for s, a in zip(strengths, row, strict=True):
            for test, other in (("KS", "PSI"), ("PSI", "KS")):
                if a[test] and not a[other]:
                    only[test].append(f"{kind} at {s:g}")
    where = {test: ", ".join(found) or "no strength of this sweep" for test, found in only.items()}
    return f"KS alerted without PSI at: {where['KS']}; PSI alerted without KS at: {where['PSI']}"


def kinds_summary(table: Any, accuracy_clean: float, n: int, strength: float) -> str:
    """Which alerts fired for each kind of drift (rows of `table`, with boolean columns PSI,
    KS, predictions and a column accuracy), and whether the prediction alert matched the
    kinds where accuracy fell beyond 2 sampling errors of the difference."""
    lines = []
    harmed, silent_harm, loud_harmless = [], [], []
    for kind, row in table.iterrows():
        fired = [name for name in ("PSI", "KS", "predictions") if bool(row[name])]
        err = 2 * math.hypot(sampling_error(accuracy_clean, n), sampling_error(row["accuracy"], n))
        fell = accuracy_clean - row["accuracy"] > err
        if fell:
            harmed.append(kind)
        if fell and not row["predictions"]:
            silent_harm.append(kind)
        if not fell and row["predictions"]:
            loud_harmless.append(kind)
        alerts = ", ".join(fired) if fired else "no alert"
        change = "fell beyond noise" if fell else "did not fall beyond noise"
        lines.append(f"{kind:>10s} at {strength:g}: {alerts}; accuracy {row['accuracy']:.3f} "
                     f"({change}, ±{err:.3f})")  # fmt: skip
    caught = [k for k in harmed if k not in silent_harm]
    if harmed:
        verdict = (
            f"the prediction alert fired on {len(caught)} of the {len(harmed)} kinds whose "
            f"accuracy fell beyond noise"
            + (f" (silent on: {', '.join(silent_harm)})" if silent_harm else "")
        )
    else:
        verdict = "no kind's accuracy fell beyond noise at this strength"
    if loud_harmless:
        verdict += (
            f"; it also fired on {len(loud_harmless)} kind(s) whose accuracy did not "
            f"({', '.join(loud_harmless)})"
        )
    lines.append(verdict)
    return "\n".join(lines)
