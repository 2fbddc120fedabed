"""Notebook 12 (monitoring): the drifts applied to live digits, a fast PSI scorer for many
windows, the "Try it" controls, the figures and the computed sentences.

`drift` changes raw 8×8 digits (pixel values 0 to 16) the way real traffic changes: a dimmer
scanner (`brightness`), a washed-out one (`contrast`), sensor noise (`noise`), digits moved
sideways (`shift`) or turned (`rotation`), each by a strength from 0 (none) to 1 (strong).
`PsiScorer` gives the same per-feature PSI as `labkit.monitor.psi` for many live windows
against one reference, cutting the reference's bins once; `fresh_splits` draws the clean
windows a false alarm rate is measured on, each with its own reference. The sentences say
what the numbers say: an accuracy change between a clean window and the same rows drifted is
called a change only when McNemar's exact test on the rows that changed their answer rejects
at 5 % (a paired test: the rows are the same, so their own difficulty cancels), and a false
alarm rate is given with its sampling error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

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
LEVEL = 0.05  # an accuracy change is beyond noise when McNemar's two-sided p is below this
# The largest PSI one feature can score: every value left its only bin, both shares at EPS.
PSI_CEILING = 2 * (1 - EPS) * math.log(1 / EPS)  # ≈ 18.4188


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
        self.rows = len(ref)
        self.edges = [np.unique(quantiles[:, j]) for j in range(ref.shape[1])]
        self.raw_shares = [self.bin_shares(j, ref[:, j]) for j in range(ref.shape[1])]
        self.shares = [np.maximum(r, EPS) for r in self.raw_shares]

    def bin_shares(self, j: int, v: np.ndarray) -> np.ndarray:
        """Share of the values `v` of feature j in each of its bins: below the reference's
        min | = its min | (e0, e1] | ... | above its max (not lifted to EPS)."""
        edges = self.edges[j]
        idx = np.searchsorted(edges, v, side="left") + (v >= edges[0])
        return np.bincount(idx, minlength=len(edges) + 2) / len(v)

    def _shares(self, j: int, v: np.ndarray) -> np.ndarray:
        return np.maximum(self.bin_shares(j, v), EPS)

    def filled_bins(self) -> np.ndarray:
        """Bins each feature's reference values fill (F,): the min's own bin and one per gap
        between its deduplicated edges; the outer bins are empty for the reference."""
        return np.array([int((r > 0).sum()) for r in self.raw_shares])

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


def fresh_splits(
    rows: int, reference_rows: int, window: int, windows: int, *, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """`windows` fresh splits of `rows` row indices, each a reference of `reference_rows`
    rows and a live window of `window` other rows (disjoint, no row twice), drawn by a
    generator seeded with `seed`. Clean windows drawn so are independent draws of the
    traffic, reference included: resampling one fixed pool instead makes every window share
    that pool's chance difference from the reference, and repeats rows."""
    check_int("window", window, minimum=1)
    if check_int("reference_rows", reference_rows, minimum=2) + window > rows:
        raise ConfigError(
            f"reference_rows + window must be at most the {rows} rows; got "
            f"{reference_rows} + {window}"
        )
    rng = np.random.default_rng(seed)
    splits = []
    for _ in range(check_int("windows", windows, minimum=1)):
        order = rng.permutation(rows)
        splits.append((order[:reference_rows], order[reference_rows : reference_rows + window]))
    return splits


def noise_floor(scorer: PsiScorer, live: np.ndarray) -> dict[str, Any]:
    """A clean window's per-feature PSI against the sampling noise expected of it,
    (k − 1)·(1/n_ref + 1/n_live) with k the bins the reference fills, over the features
    that vary (k > 1); and how many filled bins expect fewer than 5 live values or are empty
    in the live window (lifted to EPS), where that approximation fails."""
    x = np.asarray(live, dtype=np.float64)
    k = scorer.filled_bins()
    expected = (k - 1) * (1 / scorer.rows + 1 / len(x))
    psi = scorer.scores(x)
    varied = k > 1
    sparse = sum(int(((r > 0) & (len(x) * r < 5)).sum()) for r in scorer.raw_shares)
    empty = sum(
        int(((r > 0) & (scorer.bin_shares(j, x[:, j]) == 0)).sum())
        for j, r in enumerate(scorer.raw_shares)
    )
    measured, wanted = float(psi[varied].mean()), float(expected[varied].mean())
    return {
        "bins": k, "varied": int(varied.sum()), "measured": measured, "expected": wanted,
        "ratio": measured / wanted, "largest": float(psi.max()), "n_live": len(x),
        "filled": int(k.sum()), "sparse": sparse, "empty": empty,
    }  # fmt: skip


def mean_shift(reference: np.ndarray, live: np.ndarray) -> float:
    """How far the values moved, on average over the features: the mean per-feature
    Wasserstein (earth mover's) distance between the two windows (scipy), in the features'
    units (pixel levels here). It grows with the size of a shift, where PSI and the KS test
    only see that values left their bins or their places."""
    from scipy.stats import wasserstein_distance

    ref, x = np.asarray(reference, dtype=np.float64), np.asarray(live, dtype=np.float64)
    return float(np.mean([wasserstein_distance(ref[:, j], x[:, j]) for j in range(ref.shape[1])]))


def alarm_rate(max_psi: np.ndarray, thresholds: Sequence[float] | float) -> np.ndarray:
    """Share of windows whose largest PSI is above each threshold (the PSI alert's rate)."""
    scores = np.asarray(max_psi, dtype=np.float64)
    t = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    return (scores[None, :] > t[:, None]).mean(axis=1)


def sampling_error(p: float, n: int) -> float:
    """Standard error of a share p measured on n independent trials, √(p(1−p)/n)."""
    return math.sqrt(max(p * (1 - p), 0.0) / n)


class PairedChange(NamedTuple):
    """An accuracy change between two windows of the same rows, and McNemar's exact test."""

    before: float  # accuracy of the first (clean) window
    after: float  # accuracy of the same rows drifted
    worse: int  # rows right before, wrong after
    better: int  # rows wrong before, right after
    pvalue: float  # two-sided: the chance of a split this lopsided if neither way were likelier

    @property
    def fell(self) -> bool:
        return self.after < self.before and self.pvalue < LEVEL

    @property
    def rose(self) -> bool:
        return self.after > self.before and self.pvalue < LEVEL

    def __str__(self) -> str:
        rows = "row" if self.worse == 1 else "rows"
        return (f"{self.after - self.before:+.3f}: {self.worse} {rows} turned wrong, "
                f"{self.better} right, McNemar p {self.pvalue:.2g}")  # fmt: skip


def paired_change(clean_correct: Any, live_correct: Any) -> PairedChange:
    """Compare per-row correctness (booleans) of a window and of the same rows drifted.
    Paired, because the rows are the same: only the rows that changed their answer carry
    information, and McNemar's exact test asks whether they split more lopsidedly than a
    fair coin would (scipy's binomial test). Treating the two accuracies as independent,
    √(p₁(1−p₁)/n + p₂(1−p₂)/n), counts each row's own difficulty twice and calls real drops
    ties."""
    from scipy.stats import binomtest

    a = np.asarray(clean_correct, dtype=bool)
    b = np.asarray(live_correct, dtype=bool)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 1:
        raise ConfigError(f"need two 1-D windows of the same rows; got {a.shape}, {b.shape}")
    worse, better = int((a & ~b).sum()), int((~a & b).sum())
    p = binomtest(worse, worse + better, 0.5).pvalue if worse + better else 1.0
    return PairedChange(float(a.mean()), float(b.mean()), worse, better, float(p))


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
    correct: Mapping[str, Sequence[Any]],
    shift: Mapping[str, Sequence[float]],
    alerted: Mapping[str, Sequence[bool]],
    psi_threshold: float,
) -> Figure:
    """Two panels over drift strength, one line per kind: the model's accuracy on the live
    window (`correct[kind][i]`: per-row correctness at strength i; a filled marker where it
    changed beyond noise from strength 0, `paired_change`) and how far the pixel values moved
    (`shift`, `mean_shift`; a filled marker where the PSI alert fired, `alerted`)."""
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    acc_ax, shift_ax = fig.subplots(1, 2)
    n = len(next(iter(correct.values()))[0])
    for kind, rows in correct.items():
        acc = [float(np.mean(r)) for r in rows]
        changed = [paired_change(rows[0], r).pvalue < LEVEL for r in rows]
        (line,) = acc_ax.plot(strengths, acc, label=kind)
        _markers(acc_ax, strengths, acc, changed, line.get_color())
        (line,) = shift_ax.plot(strengths, shift[kind], label=kind)
        _markers(shift_ax, strengths, shift[kind], alerted[kind], line.get_color())
    acc_ax.set(xlabel="drift strength", ylabel=f"accuracy on {n} live digits", ylim=(0, 1.02),
               title="what the model loses (filled: beyond noise)")  # fmt: skip
    title = f"what the monitor sees (filled: PSI alert > {psi_threshold:g})"
    shift_ax.set(xlabel="drift strength", ylabel="how far pixel values moved (mean W1)",
                 title=title)  # fmt: skip
    shift_ax.set_ylim(bottom=0)
    acc_ax.legend(fontsize=8)
    shift_ax.legend(fontsize=8)
    return fig


def _markers(ax: Any, x: Sequence[float], y: Sequence[float], on: Sequence[bool], color: str):
    """Filled markers where `on`, hollow ones elsewhere."""
    on = np.asarray(on, dtype=bool)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ax.scatter(x[on], y[on], color=color, zorder=3, s=22)
    ax.scatter(x[~on], y[~on], facecolors="white", edgecolors=color, zorder=3, s=22)


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
    kind: str, strength: float, clean_correct: Any, live_correct: Any, report: Any
) -> str:
    """What one live window showed: which of the check's alerts fired (a
    `labkit.monitor.Report` of it against the reference), with the numbers behind them, and
    whether accuracy changed beyond noise (`paired_change` of the per-row correctness of the
    clean window and of the same rows drifted)."""
    n = len(clean_correct)
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
    c = paired_change(clean_correct, live_correct)
    if c.worse + c.better == 0:  # no row changed its answer: no noise to show
        return f"{head}{alerts}; accuracy {c.after:.3f}, no row changed its answer"
    moved = "fell" if c.fell else "rose" if c.rose else ""
    accuracy = (f"accuracy {moved} from {c.before:.3f} to {c.after:.3f}, beyond noise ({c})"
                if moved else f"accuracy {c.before:.3f} → {c.after:.3f}, no change beyond "
                f"noise ({c})")  # fmt: skip
    return f"{head}{alerts}; {accuracy}"


def first_alert(strengths: Sequence[float], alerted: Sequence[bool]) -> float | None:
    """The smallest strength from which every larger one alerts."""
    above = np.asarray(alerted, dtype=bool)
    if not above[-1]:
        return None
    quiet = np.flatnonzero(~above)
    return float(strengths[quiet[-1] + 1 if len(quiet) else 0])


def sweep_sentence(
    kind: str,
    strengths: Sequence[float],
    correct: Sequence[Any],
    max_psi: Sequence[float],
    threshold: float,
) -> str:
    """What one kind's sweep shows: the accuracy at the strongest drift against the clean
    one (`correct[i]`: per-row correctness at strength i, the same rows throughout; a change
    only beyond noise, `paired_change`), and from which strength the PSI alert fires and
    what accuracy had lost there."""
    c = paired_change(correct[0], correct[-1])
    if c.fell:
        verdict = f"falls from {c.before:.3f} to {c.after:.3f}"
    elif c.rose:
        verdict = f"rises from {c.before:.3f} to {c.after:.3f}"
    else:
        verdict = f"stays at {c.before:.3f} within noise (now {c.after:.3f}; {c})"
    text = f"{kind}: accuracy {verdict} at strength {strengths[-1]:g}; "
    start = first_alert(strengths, np.asarray(max_psi) > threshold)
    if start is None:
        return text + f"the PSI alert (> {threshold:g}) does not fire at strength {strengths[-1]:g}"
    if start == strengths[0]:
        return text + f"the PSI alert (> {threshold:g}) fires at every strength, clean included"
    i = list(strengths).index(start)
    c = paired_change(correct[0], correct[i])
    harm = (f"accuracy had already lost {c.before - c.after:.3f} ({c})" if c.fell
            else f"accuracy had not yet changed beyond noise ({c})")  # fmt: skip
    return text + f"the PSI alert (> {threshold:g}) fires from strength {start:g} on, where {harm}"


def ceiling_sentence(strengths: Sequence[float], max_psi: Mapping[str, Sequence[float]]) -> str:
    """Which kinds' largest PSI sat at PSI_CEILING (every value of a pixel left its only bin:
    it cannot grow further), and which did not grow from the weakest drift to the strongest:
    why the figure plots how far the values moved instead."""
    at_ceiling, flat = [], []
    for kind, scores in max_psi.items():
        hit = [s for s, v in zip(strengths, scores, strict=True) if v >= PSI_CEILING - 1e-9]
        if hit:
            at_ceiling.append(f"{kind} (from strength {hit[0]:g})")
        elif len(scores) > 2 and scores[-1] <= scores[1] + 1e-9:
            flat.append(f"{kind} ({scores[1]:.3g} at {strengths[1]:g}, {scores[-1]:.3g} at "
                        f"{strengths[-1]:g})")  # fmt: skip
    parts = []
    if at_ceiling:
        parts.append(
            f"the largest PSI reached its ceiling 2·(1 − EPS)·ln(1/EPS) = {PSI_CEILING:.4g}, "
            f"the most one pixel can score (all its values left the one bin a constant "
            f"reference pixel has), for {', '.join(at_ceiling)}: past that it cannot grow"
        )
    if flat:
        parts.append(f"it did not grow from the weakest drift to the strongest for "
                     f"{', '.join(flat)}")  # fmt: skip
    if not parts:
        return ("the largest PSI grew from the weakest drift to the strongest for every kind, "
                "below its ceiling")  # fmt: skip
    return ("; ".join(parts) + ". PSI tells whether values left their bins, not how far "
            "they moved: the right panel plots that distance")  # fmt: skip


def noise_floor_sentence(floor: Mapping[str, Any]) -> str:
    """A `noise_floor` in words, saying when the approximation fails (the measured mean
    more than 1.5× from the expected one) and why."""
    text = (f"clean window: mean PSI {floor['measured']:.3f} over the {floor['varied']} pixels "
            f"that vary, against {floor['expected']:.3f} expected from sampling noise alone "
            f"(ratio {floor['ratio']:.2f}); the largest is {floor['largest']:.3f}")  # fmt: skip
    if 1 / 1.5 <= floor["ratio"] <= 1.5:
        return text
    return (text + f". The approximation fails at {floor['n_live']} live rows: "
            f"{floor['sparse']} of the {floor['filled']} bins the reference fills expect fewer "
            f"than 5 live values, and {floor['empty']} are empty in the live window, each lifted "
            f"to EPS = {EPS:g} where a bin of share p scores about p·ln(p/EPS)")  # fmt: skip


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
    strengths: Sequence[float], alerts: Mapping[str, Sequence[Mapping[str, bool]]], n: int
) -> str:
    """Where the KS alert fired but the PSI alert did not (and the reverse), per kind, from
    `alerts[kind][i]` (the `alert_kinds` of strength i; strength 0 is the clean window, the
    same for every kind), and what each case means at these `n` rows."""
    only: dict[str, list[str]] = {"KS": [], "PSI": []}
    clean_only = set()
    for kind, row in alerts.items():
        for s, a in zip(strengths, row, strict=True):
            for test, other in (("KS", "PSI"), ("PSI", "KS")):
                if a[test] and not a[other]:
                    if s == 0:
                        clean_only.add(test)
                    else:
                        only[test].append(f"{kind} at {s:g}")
    where = {}
    for test in only:
        found = (["the clean window (strength 0)"] if test in clean_only else []) + only[test]
        where[test] = ", ".join(found) or "no strength of this sweep"
    text = f"KS alerted without PSI at: {where['KS']}; PSI alerted without KS at: {where['PSI']}"
    why = []
    if only["KS"]:
        why.append("where KS alerts alone, values moved without leaving enough of PSI's bins: "
                   "the KS test sees every value move")  # fmt: skip
    if clean_only:
        tests = " and ".join(sorted(clean_only))
        why.append(f"{tests} alerted on the clean window itself: at {n} rows that is sampling "
                   f"noise, a false alarm (section 5)")  # fmt: skip
    if only["PSI"] and "PSI" in clean_only:
        why.append("where PSI alerts alone on a drifted window, its noise alone would too")
    elif only["PSI"]:
        why.append("where PSI alerts alone, values crossed bin edges in a way the KS test, at "
                   "its Bonferroni level, does not call significant")  # fmt: skip
    if not why:
        return text
    sentence = "; ".join(why)
    return f"{text}. {sentence[0].upper()}{sentence[1:]}"


def latency_sentence(latency: Any, client_p99_ms: float) -> str:
    """The server's histogram estimate of p99 (a `labkit.monitor.LatencyCheck` over the same
    requests) against the client's own p99, which also counts the network and the client:
    when the server's is higher, the bucket interpolation is why."""
    (lo, hi), server = latency.bucket_ms, latency.estimate_ms
    if server <= client_p99_ms:
        return (f"the server's histogram puts p99 at {server:.3g} ms, at most the client's "
                f"{client_p99_ms:.3g} ms, which also counts the network and the client: the "
                f"histogram only says it lies between {lo:g} and {hi:g} ms")  # fmt: skip
    return (f"the server's histogram puts p99 at {server:.3g} ms, above the client's "
            f"own {client_p99_ms:.3g} ms, which also counts the network: the histogram only "
            f"knows that p99 lies between {lo:g} and {hi:g} ms (its bucket), and interpolating "
            f"linearly within that bucket puts it near the top; the server cannot be slower "
            f"than its client, so this gap is the buckets' coarseness")  # fmt: skip


def kinds_summary(
    table: Any, clean_correct: Any, correct: Mapping[str, Any], strength: float
) -> str:
    """Which alerts fired for each kind of drift (rows of `table`, with boolean columns PSI,
    KS, predictions), and whether the prediction alert matched the kinds where accuracy fell
    beyond noise (`paired_change` of `clean_correct` and `correct[kind]`: per-row correctness
    of the clean window and of the same rows drifted)."""
    lines = []
    harmed, silent_harm, loud_harmless = [], [], []
    for kind, row in table.iterrows():
        fired = [name for name in ("PSI", "KS", "predictions") if bool(row[name])]
        c = paired_change(clean_correct, correct[kind])
        fell = c.fell
        if fell:
            harmed.append(kind)
        if fell and not row["predictions"]:
            silent_harm.append(kind)
        if not fell and row["predictions"]:
            loud_harmless.append(kind)
        alerts = ", ".join(fired) if fired else "no alert"
        verdict = "fell beyond noise" if fell else "did not fall beyond noise"
        lines.append(f"{kind:>10s} at {strength:g}: {alerts}; accuracy {c.after:.3f} "
                     f"({verdict}, {c})")  # fmt: skip
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
