"""Matplotlib figures of a :class:`Diagnosis` and a :class:`Comparison`, as self-contained ``data:`` URIs.

Figures are built on :class:`matplotlib.figure.Figure` directly (the Agg canvas, never pyplot), so rendering
neither needs a display nor changes the caller's backend or global state.
"""

from __future__ import annotations

import base64
import functools
import io
import math
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, cast

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .data import Comparison, Diagnosis, GradientLayer, Histogram, MethodResult, SignalLayer, WeightLayer

__all__ = [
    "VANISHED",
    "WEAK",
    "comparison_panels",
    "figure_uri",
    "gradient_norms",
    "has_weak_layers",
    "jacobian_spectrum",
    "loss_curves",
    "lsuv_traces",
    "signal_by_depth",
    "std_by_depth",
    "weight_distributions",
    "weight_histograms",
]

#: The notebook's thresholds on a layer's gradient norm: below VANISHED it has vanished, below WEAK it is weak.
VANISHED = 1e-6
WEAK = 1e-4

_INK = "#1f2933"
_MUTED = "#7b8794"
_ACCENT = "#2563eb"
_REFERENCE = "#d97706"
_BAD = "#dc2626"
_PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#475569")
P = ParamSpec("P")
_RC = {
    "font.size": 9, "axes.titlesize": 10, "axes.titleweight": "bold", "axes.labelsize": 9, "axes.edgecolor": "#cbd2d9",
    "axes.labelcolor": _INK, "xtick.color": _MUTED, "ytick.color": _MUTED, "axes.spines.top": False,
    "axes.spines.right": False, "axes.grid": True, "grid.color": "#e4e7eb", "grid.linewidth": 0.6,
    "legend.frameon": False, "legend.fontsize": 8, "svg.fonttype": "path", "svg.hashsalt": "weight-init",
}


def _styled(fn: Callable[P, Figure]) -> Callable[P, Figure]:
    """Build the figure under the report's rc settings (read when artists are created), leaving the global ones."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Figure:
        with matplotlib.rc_context(cast(Any, _RC)):
            return fn(*args, **kwargs)

    return wrapper


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    figure.set_facecolor("white")
    return figure


def _axes(figure: Figure, rows: int = 1, cols: int = 1) -> list[Axes]:
    grid = figure.subplots(rows, cols, squeeze=False)
    return [ax for row in grid for ax in row]


def figure_uri(figure: Figure) -> str:
    """The figure as a base64 ``data:image/svg+xml`` URI (text as paths: no fonts needed in the browser)."""
    buffer = io.BytesIO()
    with matplotlib.rc_context(cast(Any, _RC)):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _short(name: str, width: int = 28) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1):]


def _pick(layers: Sequence[WeightLayer], limit: int) -> list[WeightLayer]:
    """At most ``limit`` layers: the worst-scored ones first, the rest spread evenly over depth, in model order."""
    if len(layers) <= limit:
        return list(layers)
    scores = [1.0 if layer.score is None else layer.score for layer in layers]
    worst = sorted(range(len(layers)), key=lambda i: scores[i])
    chosen = set(worst[: limit // 2])
    for i in np.linspace(0, len(layers) - 1, limit).round().astype(int):
        if len(chosen) < limit:
            chosen.add(int(i))
    return [layers[i] for i in sorted(chosen)]


def _bars(ax: Axes, histogram: Histogram, color: str) -> None:
    edges = np.asarray(histogram.edges)
    ax.stairs(histogram.density, edges, fill=True, color=color, alpha=0.35)
    ax.stairs(histogram.density, edges, color=color, linewidth=0.8)


@_styled
def weight_histograms(layers: Sequence[WeightLayer], limit: int = 12) -> Figure:
    """Per layer: the density of its weights and the variance-preserving normal N(0, expected_std²) (dashed)."""
    shown = _pick(layers, limit)
    cols = 4
    rows = math.ceil(len(shown) / cols)
    figure = _figure(10.8, 2.2 * rows + 0.3)
    axes = _axes(figure, rows, cols)
    for ax, layer in zip(axes, shown, strict=False):
        _bars(ax, layer.histogram, _ACCENT)
        if layer.expected_std:
            lo, hi = layer.histogram.edges[0], layer.histogram.edges[-1]
            reach = max(abs(lo), abs(hi), 3 * layer.expected_std)
            x = np.linspace(-reach, reach, 200)
            pdf = np.exp(-0.5 * (x / layer.expected_std) ** 2) / (layer.expected_std * math.sqrt(2 * math.pi))
            ax.plot(x, pdf, "--", color=_REFERENCE, linewidth=1.1, label="variance-preserving")
        ratio = f" · ×{layer.ratio:.2f}" if layer.ratio is not None else ""
        ax.set_title(_short(layer.name), loc="left", fontsize=8.5)
        ax.text(0.98, 0.95, f"σ={layer.std:.3g}{ratio}", transform=ax.transAxes, ha="right", va="top",
                fontsize=7.5, color=_BAD if layer.ratio is not None and not 0.5 < layer.ratio < 2 else _MUTED)
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
    for ax in axes[len(shown):]:
        ax.set_visible(False)
    if shown and shown[0].expected_std:
        figure.legend(*axes[0].get_legend_handles_labels(), loc="outside upper right", fontsize=8)
    return figure


@_styled
def std_by_depth(layers: Sequence[WeightLayer]) -> Figure:
    """Actual weight std per layer against the variance-preserving std for its fans and activation (log scale)."""
    figure = _figure(10.8, 3.3)
    (ax,) = _axes(figure)
    depth = np.arange(1, len(layers) + 1)
    expected = [layer.expected_std if layer.expected_std else np.nan for layer in layers]
    ax.plot(depth, expected, "-", color=_REFERENCE, linewidth=2, alpha=0.8, label="variance-preserving std")
    ax.plot(depth, [max(layer.std, 1e-12) for layer in layers], "o", color=_ACCENT, markersize=5,
            label="actual std")
    ax.set_yscale("log")
    ax.set_xlabel("weight layer (execution order)")
    ax.set_ylabel("std")
    ax.set_title("Actual vs expected weight std by depth", loc="left")
    ax.legend(loc="best")
    _layer_ticks(ax, [layer.name for layer in layers])
    return figure


def _layer_ticks(ax: Axes, names: Sequence[str]) -> None:
    if len(names) <= 12:
        ax.set_xticks(np.arange(1, len(names) + 1), [_short(n, 18) for n in names], rotation=30, ha="right",
                      fontsize=7)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


@_styled
def signal_by_depth(signal: Sequence[SignalLayer], diagnosis: str | None) -> Figure:
    """Output variance per layer (log scale) and the fractions of dead and saturated units."""
    figure = _figure(10.8, 3.3)
    left, right = _axes(figure, 1, 2)
    depth = np.arange(1, len(signal) + 1)
    left.plot(depth, [max(s.variance, 1e-30) for s in signal], "o-", color=_ACCENT, markersize=4)
    left.axhline(1.0, color=_MUTED, linestyle=":", linewidth=1)
    left.set_yscale("log")
    left.set_title(f"Activation variance by depth ({diagnosis or 'n/a'})", loc="left")
    left.set_xlabel("layer (execution order)")
    left.set_ylabel("output variance")
    right.plot(depth, [s.dead_fraction for s in signal], "o-", color=_BAD, markersize=4, label="dead")
    right.plot(depth, [s.saturated_fraction for s in signal], "s-", color=_REFERENCE, markersize=4,
               label="saturated")
    right.set_ylim(-0.03, 1.03)
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_title("Dead / saturated units", loc="left")
    right.set_xlabel("layer (execution order)")
    right.set_ylabel("fraction of units")
    right.legend(loc="best")
    return figure


def _thresholds(ax: Axes) -> None:
    ax.axhline(VANISHED, color=_BAD, linestyle="--", linewidth=1, alpha=0.7, label="vanishing (1e-6)")
    ax.axhline(WEAK, color=_REFERENCE, linestyle="--", linewidth=1, alpha=0.7, label="weak (1e-4)")


@_styled
def gradient_norms(gradients: Sequence[GradientLayer]) -> Figure:
    """Gradient norm per weight layer on a log scale, with the notebook's vanishing and weak thresholds."""
    figure = _figure(10.8, 3.3)
    (ax,) = _axes(figure)
    depth = np.arange(1, len(gradients) + 1)
    norms = [max(g.norm, 1e-30) for g in gradients]
    colors = [_BAD if g.norm < VANISHED else _REFERENCE if g.norm < WEAK else _ACCENT for g in gradients]
    ax.bar(depth, norms, color=colors, alpha=0.8, width=0.7)
    _thresholds(ax)
    ax.set_yscale("log")
    low = min([*norms, VANISHED])
    ax.set_ylim(low / 10, max([*norms, WEAK]) * 10)
    ax.set_xlabel("weight layer (execution order)")
    ax.set_ylabel("‖∇W‖ (log scale)")
    ax.set_title("Gradient norm by layer", loc="left")
    ax.legend(loc="best")
    _layer_ticks(ax, [g.name for g in gradients])
    return figure


@_styled
def jacobian_spectrum(singular_values: Sequence[float]) -> Figure:
    """The input-output Jacobian's singular values, sorted, against 1 (dynamical isometry)."""
    figure = _figure(10.8, 3.1)
    left, right = _axes(figure, 1, 2)
    values = np.sort(np.asarray(singular_values, dtype=float))[::-1]
    left.plot(np.arange(1, len(values) + 1), np.maximum(values, 1e-30), "o-", color=_ACCENT, markersize=3)
    left.axhline(1.0, color=_MUTED, linestyle=":", linewidth=1)
    left.set_yscale("log")
    left.set_xlabel("index")
    left.set_ylabel("singular value")
    left.set_title("Jacobian singular values", loc="left")
    positive = values[values > 0]
    if positive.size:
        right.hist(np.log10(positive), bins=min(30, max(5, positive.size // 2)), color=_ACCENT, alpha=0.7)
    right.axvline(0.0, color=_MUTED, linestyle=":", linewidth=1)
    right.set_xlabel("log10 singular value")
    right.set_ylabel("count")
    right.set_title("Spread (isometry: all at 0)", loc="left")
    return figure


def _labels(comparison: Comparison) -> list[str]:
    return [r.label.replace(" ", "\n", 1) for r in comparison.results]


def has_weak_layers(comparison: Comparison) -> bool:
    """Whether any method, at any seed, left a layer's gradient below :data:`WEAK` (vanished ones included)."""
    return any(max(stat.values) > 0 for r in comparison.results if (stat := r.stat("weak")) is not None)


def _std(result: MethodResult, metric: str) -> float:
    stat = result.stat(metric)
    return stat.std if stat is not None and math.isfinite(stat.std) else 0.0


@_styled
def comparison_panels(comparison: Comparison) -> Figure:
    """The notebook's panels: gradients by layer, vanished and weak layers, min/mean/max, health score.

    Bars are means over the comparison's seeds with ±1 std error bars. The vanished/weak panel is drawn only
    when some method has a weak layer (:func:`has_weak_layers`): otherwise it would be a row of zeros.
    """
    figure = _figure(10.8, 7.6)
    weak_panel = has_weak_layers(comparison)
    axes = figure.subplot_mosaic("FV;SH" if weak_panel else "FF;SH")  # Flow, Vanished, Stats, Health
    ax1, ax3, ax4 = axes["F"], axes["S"], axes["H"]
    results = comparison.results
    colors = [_PALETTE[i % len(_PALETTE)] for i in range(len(results))]
    x = np.arange(len(results))
    for result, color in zip(results, colors, strict=True):
        layers = np.arange(1, len(result.gradient_norms) + 1)
        ax1.plot(layers, np.maximum(result.gradient_norms, 1e-30), "o-", color=color, label=result.label,
                 linewidth=1.6, markersize=4)
    ax1.set_yscale("log")
    _thresholds(ax1)
    ax1.set_xlabel("layer number")
    ax1.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax1.set_ylabel("gradient magnitude (log scale)")
    ax1.set_title("Gradient flow by initialization method", loc="left")
    ax1.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.0, 1.0))

    bar_axes = [ax3, ax4]
    if weak_panel:
        ax2 = axes["V"]
        width = 0.38
        for offset, metric, label, color in ((-width / 2, "vanished", f"vanished (< {VANISHED:g})", _BAD),
                                             (width / 2, "weak", f"weak (< {WEAK:g})", _REFERENCE)):
            means = [getattr(r, metric) for r in results]
            bars = ax2.bar(x + offset, means, width, yerr=[_std(r, metric) for r in results], color=color,
                           alpha=0.8, label=label, capsize=2)
            ax2.bar_label(bars, labels=[f"{m:.3g}" for m in means], fontsize=7)
        ax2.set_ylim(0, max([*(r.weak for r in results), 1]) * 1.3)
        ax2.set_ylabel("layers (mean over seeds)")
        ax2.set_title("Vanished and weak layers by initialization", loc="left")
        ax2.legend(loc="best")
        bar_axes.insert(0, ax2)

    width = 0.27
    for offset, metric, label, color in ((-width, "min_gradient", "min", _ACCENT),
                                         (0.0, "mean_gradient", "mean", "#059669"),
                                         (width, "max_gradient", "max", _BAD)):
        values = np.asarray([getattr(r, metric) for r in results], dtype=float)
        spread = np.asarray([_std(r, metric) for r in results], dtype=float)
        ax3.bar(x + offset, np.maximum(values, 1e-30), width, label=label, color=color, alpha=0.75,
                yerr=[np.minimum(spread, values * (1 - 1e-9)), spread], capsize=2)
    ax3.set_yscale("log")
    ax3.set_ylabel("gradient magnitude (log scale)")
    ax3.set_title("Gradient statistics by initialization", loc="left")
    ax3.legend(loc="best")

    health = [r.health for r in results]
    bars = ax4.bar(x, health, color=colors, alpha=0.8, yerr=[_std(r, "health") for r in results], capsize=3)
    ax4.bar_label(bars, labels=[f"{h:.3g}/10" for h in health], fontsize=8, fontweight="bold")
    ax4.set_ylim(0, 11)
    ax4.set_ylabel("health score (0-10, mean over seeds)")
    ax4.set_title("Overall initialization health score", loc="left")
    for ax in bar_axes:
        ax.set_xticks(x, _labels(comparison), rotation=35, ha="right", fontsize=7)
    return figure


@_styled
def weight_distributions(comparison: Comparison) -> Figure:
    """The notebook's weight-distribution grid: all hidden weights of each initializer, mean and ±1σ marked."""
    results = comparison.results
    cols = 4
    rows = math.ceil(len(results) / cols)
    figure = _figure(10.8, 2.3 * rows)
    axes = _axes(figure, rows, cols)
    for i, (ax, result) in enumerate(zip(axes, results, strict=False)):
        color = _PALETTE[i % len(_PALETTE)]
        _bars(ax, result.weights, color)
        for value, style in ((result.weight_mean, "-"), (result.weight_mean + result.weight_std, ":"),
                             (result.weight_mean - result.weight_std, ":")):
            ax.axvline(value, color=_INK, linestyle=style, linewidth=0.8, alpha=0.7)
        ax.set_title(result.label, loc="left", fontsize=8.5)
        ax.text(0.98, 0.95, f"σ={result.weight_std:.3g}\n[{result.weight_min:.2f}, {result.weight_max:.2f}]",
                transform=ax.transAxes, ha="right", va="top", fontsize=7, color=_MUTED)
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
    for ax in axes[len(results):]:
        ax.set_visible(False)
    return figure


@_styled
def loss_curves(comparison: Comparison) -> Figure:
    """Training loss and test accuracy per epoch, one line per initializer."""
    figure = _figure(10.8, 3.4)
    left, right = _axes(figure, 1, 2)
    for i, result in enumerate(comparison.results):
        color = _PALETTE[i % len(_PALETTE)]
        epochs = np.arange(0, len(result.train_loss))
        left.plot(epochs, result.train_loss, "-", color=color, label=result.label, linewidth=1.6)
        right.plot(np.arange(0, len(result.test_accuracy)), result.test_accuracy, "-", color=color,
                   linewidth=1.6)
    left.set_yscale("log")
    left.set_xlabel("epoch")
    left.set_ylabel("training loss (cross-entropy)")
    left.set_title("Training loss", loc="left")
    left.legend(fontsize=6.5, ncol=2, loc="best")
    right.set_ylim(0, 1.02)
    right.set_xlabel("epoch")
    right.set_ylabel("test accuracy")
    right.set_title("Test accuracy", loc="left")
    return figure


@_styled
def lsuv_traces(traces: Sequence[Sequence[float]], target: float) -> Figure:
    """The notebook's LSUV calibration plot: the statistic per iteration for each layer, and the target."""
    figure = _figure(10.8, 3.1)
    (ax,) = _axes(figure)
    for i, trace in enumerate(traces):
        ax.plot(np.arange(1, len(trace) + 1), trace, "o-", color=_PALETTE[i % len(_PALETTE)],
                label=f"layer {i + 1}", markersize=4)
    ax.axhline(target, color=_BAD, linestyle="--", linewidth=1, label=f"target ({target:g})")
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("E[y²] of the layer output")
    ax.set_title("LSUV calibration", loc="left")
    ax.legend(loc="best", ncol=2)
    return figure


def diagnosis_figures(diagnosis: Diagnosis) -> dict[str, str]:
    """Every figure the diagnosis has data for, as data URIs keyed by section."""
    out = {"histograms": figure_uri(weight_histograms(diagnosis.weights)),
           "std": figure_uri(std_by_depth(diagnosis.weights))}
    if diagnosis.signal:
        out["signal"] = figure_uri(signal_by_depth(diagnosis.signal, diagnosis.signal_diagnosis))
    if diagnosis.gradients:
        out["gradients"] = figure_uri(gradient_norms(diagnosis.gradients))
    if diagnosis.jacobian:
        out["jacobian"] = figure_uri(jacobian_spectrum(diagnosis.jacobian))
    return out
