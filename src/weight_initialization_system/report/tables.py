"""Plain-text tables of the notebook's theory: optimal Xavier and He variances per layer."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from ..initializers import variance_scaling_std

__all__ = ["NOTEBOOK_LAYERS", "comparison_rows", "comparison_table", "variance_rows", "variance_table"]

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
