"""Plain-text tables: the notebook's theory (optimal Xavier and He variances per layer) and the summary of a
comparison of initializers (mean ± std over seeds, and which methods lead or tie)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from ..initializers import variance_scaling_std
from .data import Comparison, SeedStat

__all__ = [
    "NOTEBOOK_LAYERS",
    "SUMMARY_COLUMNS",
    "comparison_rows",
    "comparison_table",
    "comparison_verdict",
    "format_stat",
    "summary_columns",
    "summary_rows",
    "variance_rows",
    "variance_table",
]

#: The layer sizes of the notebook's variance table (784-512-256-128-64-10).
NOTEBOOK_LAYERS: tuple[tuple[int, int], ...] = ((784, 512), (512, 256), (256, 128), (128, 64), (64, 10))


def variance_rows(layers: Sequence[tuple[int, int]] = NOTEBOOK_LAYERS) -> list[dict[str, float]]:
    """Per layer: Xavier variance 2/(n_in + n_out) (Glorot & Bengio 2010) and He variance 2/n_in (He et al. 2015).

    Computed with the library's own :func:`variance_scaling_std`, so the table is the formula the
    initializers use, not a copy of it.
    """
    rows = []
    for n_in, n_out in layers:
        xavier_std = variance_scaling_std((n_in, n_out), 1.0, "fan_avg")
        he_std = variance_scaling_std((n_in, n_out), 2.0, "fan_in")
        rows.append({"n_in": n_in, "n_out": n_out, "xavier_var": xavier_std**2, "he_var": he_std**2,
                     "xavier_std": xavier_std, "he_std": he_std})
    return rows


def variance_table(layers: Sequence[tuple[int, int]] = NOTEBOOK_LAYERS) -> str:
    """The notebook's "optimal variance calculations" table as text."""
    header = (f"{'Layer':<8} {'Input':>6} {'Output':>7} {'Xavier Var':>11} {'He Var':>10} "
              f"{'Xavier Std':>11} {'He Std':>9}")
    lines = [header, "-" * len(header)]
    for i, r in enumerate(variance_rows(layers), 1):
        lines.append(f"{i:<8} {r['n_in']:>6} {r['n_out']:>7} {r['xavier_var']:>11.6f} {r['he_var']:>10.6f} "
                     f"{r['xavier_std']:>11.6f} {r['he_std']:>9.6f}")
    return "\n".join(lines)


def comparison_rows(seed: int = 0) -> list[dict[str, float | str]]:
    """The notebook's six initializers on its 784-128-64-32-16-10 MLP: weight statistics and the std of
    the last hidden activation for a N(0, 1) batch of 100 (tanh for Xavier/random, ReLU for He)."""
    import torch
    from torch import nn

    from ..schemes import initialize_model

    setups: list[tuple[str, str, dict[str, Any], type[nn.Module]]] = [
        ("Random Normal (Bad)", "normal", {"std": 1.0}, nn.Tanh),
        ("Random Small", "normal", {"std": 0.01}, nn.Tanh),
        ("Xavier/Glorot Uniform", "xavier_uniform", {}, nn.Tanh),
        ("Xavier/Glorot Normal", "xavier_normal", {}, nn.Tanh),
        ("He Uniform", "kaiming_uniform", {"nonlinearity": "relu"}, nn.ReLU),
        ("He Normal", "kaiming_normal", {"nonlinearity": "relu"}, nn.ReLU),
    ]
    x = torch.randn(100, 784, generator=torch.Generator().manual_seed(seed))
    rows: list[dict[str, float | str]] = []
    for label, method, kwargs, act in setups:
        sizes = [784, 128, 64, 32, 16]
        layers: list[nn.Module] = []
        for n_in, n_out in itertools.pairwise(sizes):
            layers += [nn.Linear(n_in, n_out), act()]
        hidden = nn.Sequential(*layers)
        initialize_model(hidden, method, seed=seed, **kwargs)
        weights = torch.cat([m.weight.detach().flatten() for m in hidden if isinstance(m, nn.Linear)])
        with torch.no_grad():
            h = hidden(x)
        rows.append({"method": label, "mean": float(weights.mean()), "std": float(weights.std()),
                     "min": float(weights.min()), "max": float(weights.max()), "last_hidden_std": float(h.std())})
    return rows


def comparison_table(seed: int = 0) -> str:
    """:func:`comparison_rows` as text."""
    header = f"{'Method':<24} {'Mean':>9} {'Std':>9} {'Min':>9} {'Max':>9} {'Last hidden std':>16}"
    lines = [header, "-" * len(header)]
    for r in comparison_rows(seed):
        lines.append(f"{r['method']:<24} {r['mean']:>9.5f} {r['std']:>9.5f} {r['min']:>9.4f} {r['max']:>9.4f} "
                     f"{r['last_hidden_std']:>16.5f}")
    return "\n".join(lines)


#: The columns of a comparison summary: header and :data:`~.data.METHOD_METRICS` key.
SUMMARY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("health", "health"), ("scale-free", "scale_free_score"), ("quality", "quality_score"),
    ("min grad", "min_gradient"), ("mean grad", "mean_gradient"), ("max grad", "max_gradient"),
    ("vanished", "vanished"), ("weak", "weak"), ("final loss", "final_loss"), ("test acc", "test_accuracy"),
)

_CRITERIA = {"health": "health score", "scale_free_score": "scale-free score", "final_loss": "final loss"}


def _number(value: float) -> str:
    if value != value:
        return "nan"
    if value != 0 and math.isfinite(value) and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.2e}"
    return f"{value:.3g}"


def format_stat(stat: SeedStat | None) -> str:
    """``"mean ± std"`` (``"–"`` without data; the mean alone for a single value)."""
    if stat is None or not stat.values:
        return "–"
    if stat.n == 1:
        return _number(stat.mean)
    return f"{_number(stat.mean)} ± {_number(stat.std)}"


def summary_columns(comparison: Comparison) -> list[tuple[str, str]]:
    """The columns every method has data for: a column none or only some methods have (the training columns of a
    comparison without training) is left out, never shown empty."""
    return [(header, metric) for header, metric in SUMMARY_COLUMNS
            if all(r.stat(metric) is not None for r in comparison.results)]


def summary_rows(comparison: Comparison) -> tuple[list[str], list[list[str]]]:
    """Headers (``method`` then :func:`summary_columns`) and one row per method of ``"mean ± std"`` cells."""
    columns = summary_columns(comparison)
    rows = [[r.label, *(format_stat(r.stat(metric)) for _, metric in columns)] for r in comparison.results]
    return ["method", *(header for header, _ in columns)], rows


def comparison_verdict(comparison: Comparison) -> str:
    """One sentence: the best method, or the methods tied for best (:meth:`~.data.Comparison.leaders`), and the
    criteria that decided."""
    leaders = comparison.leaders()
    order = ", then ".join(_CRITERIA[m] for m in comparison.decided_by()) or _CRITERIA["health"]
    runs = len(comparison.seeds) or 1
    over = f"mean of {runs} seeds" if runs > 1 else "one seed"
    if len(leaders) == 1:
        return f"Best by {order} ({over}): {leaders[0].label}"
    rule = "means within 2·√(s₁²/n + s₂²/n)" if runs > 1 else "equal"
    return f"Tie by {order} ({rule}, {over}): {', '.join(r.label for r in leaders)}"
