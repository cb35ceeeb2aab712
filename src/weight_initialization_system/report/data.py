"""The plain data the report renders: one :class:`Diagnosis` per model, one :class:`Comparison` per experiment.

Collecting them (running the analyses) lives in :mod:`.collect` and :mod:`.experiments`; rendering in
:mod:`.plots` and :mod:`.html`. Everything here is plain floats, strings and lists, so it also goes to JSON.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

__all__ = [
    "METHOD_METRICS",
    "Comparison",
    "Diagnosis",
    "Fix",
    "GradientLayer",
    "Histogram",
    "MethodResult",
    "SeedStat",
    "SignalLayer",
    "WeightLayer",
]


@dataclass
class Histogram:
    """Density histogram of a tensor's values: ``len(edges) == len(density) + 1``."""

    edges: list[float]
    density: list[float]


@dataclass
class WeightLayer:
    """One weight tensor: its statistics, the variance-preserving reference, its quality score and warnings."""

    name: str
    shape: list[int]
    fan_in: int | None
    fan_out: int | None
    mean: float
    std: float
    min: float
    max: float
    expected_std: float | None
    score: float | None
    warnings: list[str]
    histogram: Histogram

    @property
    def ratio(self) -> float | None:
        """Actual std over the variance-preserving std."""
        return None if not self.expected_std else self.std / self.expected_std


@dataclass
class SignalLayer:
    """One layer's output on the sample batch."""

    name: str
    mean: float
    variance: float
    dead_fraction: float
    saturated_fraction: float


@dataclass
class GradientLayer:
    """One weight's gradient after a backward pass: norm, and norm relative to the weight's norm (scale-free)."""

    name: str
    norm: float
    relative: float


@dataclass
class Fix:
    """One recommended change: what is wrong, what to do, and the command that does it."""

    title: str
    detail: str
    command: str = ""
    severity: float = 0.0


@dataclass
class Diagnosis:
    """Everything the report says about one model's initialization.

    Sections that could not be computed are ``None``/empty, with the reason in ``skipped``.
    """

    model: str
    parameters: int
    quality_score: float
    weights: list[WeightLayer]
    signal: list[SignalLayer] = field(default_factory=list)
    #: the diagnosis measured on a batch (``signal_propagation``): the trend of activation variance over depth
    signal_diagnosis: str | None = None
    gradients: list[GradientLayer] = field(default_factory=list)
    loss: float | None = None
    vanished: int | None = None
    weak: int | None = None
    notebook_health: float | None = None
    scale_free_score: float | None = None
    jacobian: list[float] = field(default_factory=list)
    recommendations: list[tuple[str, str, str]] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    #: the data-free diagnosis of ``check_initialization_quality`` (weights against signal-propagation theory)
    weight_diagnosis: str | None = None


#: The per-seed scalars of a :class:`MethodResult`, summarized as mean ± std in :attr:`MethodResult.stats`.
METHOD_METRICS: tuple[str, ...] = (
    "health", "scale_free_score", "quality_score", "loss", "vanished", "weak", "min_gradient", "mean_gradient",
    "max_gradient", "final_loss", "test_accuracy",
)


@dataclass
class SeedStat:
    """One metric over the seeds of a comparison: the per-seed values, their mean and sample std (``n − 1``).

    A single value has ``std = 0`` (nothing to estimate it from). Non-finite values (a diverged loss is ``inf``)
    make the mean non-finite; the std is then 0 if all values are equal and NaN otherwise.
    """

    values: list[float]
    mean: float
    std: float

    @classmethod
    def of(cls, values: Sequence[float]) -> SeedStat:
        data = [float(v) for v in values]
        if not data:
            return cls([], math.nan, math.nan)
        if len(set(data)) == 1:
            return cls(data, data[0], 0.0)
        if not all(math.isfinite(v) for v in data):
            return cls(data, math.fsum(data) / len(data), math.nan)
        return cls(data, statistics.fmean(data), statistics.stdev(data))

    @property
    def n(self) -> int:
        return len(self.values)

    def ties(self, other: SeedStat) -> bool:
        """Whether two means are within two combined standard errors: ``|m₁ − m₂| ≤ 2·√(s₁²/n₁ + s₂²/n₂)``.

        Equal means always tie (also ``inf`` against ``inf``, and NaN against NaN); otherwise a non-finite mean or
        std never does.
        """
        if self.mean == other.mean or (math.isnan(self.mean) and math.isnan(other.mean)):
            return True
        if not all(math.isfinite(v) for v in (self.mean, other.mean, self.std, other.std)):
            return False
        return abs(self.mean - other.mean) <= 2.0 * math.sqrt(self.std**2 / self.n + other.std**2 / other.n)


@dataclass
class MethodResult:
    """One initializer in a comparison: weights, the notebook's gradient statistics, and training curves.

    Over several seeds, the scalars are the means over seeds and ``stats`` holds each metric's per-seed values,
    mean and std (:data:`METHOD_METRICS`); ``gradient_norms``, ``train_loss`` and ``test_accuracy`` are per-layer
    and per-epoch means; the weight histogram with its ``weight_*`` statistics and the LSUV trace are the first
    seed's.
    """

    label: str
    method: str
    activation: str
    weights: Histogram
    weight_mean: float
    weight_std: float
    weight_min: float
    weight_max: float
    gradient_norms: list[float]
    loss: float
    vanished: float
    weak: float
    health: float
    scale_free_score: float
    quality_score: float
    train_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    lsuv_trace: list[list[float]] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    stats: dict[str, SeedStat] = field(default_factory=dict)

    def stat(self, metric: str) -> SeedStat | None:
        """``metric`` over seeds (one value when the result has no ``stats``); ``None`` where there is no data,
        as ``final_loss`` and ``test_accuracy`` without training."""
        if metric in self.stats:
            return self.stats[metric]
        if metric == "final_loss":
            return SeedStat.of(self.train_loss[-1:]) if self.train_loss else None
        if metric == "test_accuracy":
            return SeedStat.of(self.test_accuracy[-1:]) if self.test_accuracy else None
        if metric in ("min_gradient", "mean_gradient", "max_gradient"):
            return SeedStat.of([_gradient(self.gradient_norms, metric)])
        if metric not in METHOD_METRICS:
            raise KeyError(f"Unknown metric {metric!r}. Available: {', '.join(METHOD_METRICS)}")
        return SeedStat.of([float(getattr(self, metric))])

    def _stat_mean(self, metric: str) -> float:
        found = self.stats.get(metric)
        return found.mean if found is not None else _gradient(self.gradient_norms, metric)

    @property
    def min_gradient(self) -> float:
        return self._stat_mean("min_gradient")

    @property
    def max_gradient(self) -> float:
        return self._stat_mean("max_gradient")

    @property
    def mean_gradient(self) -> float:
        return self._stat_mean("mean_gradient")


def _gradient(norms: Sequence[float], metric: str) -> float:
    if not norms:
        return 0.0
    if metric == "min_gradient":
        return min(norms)
    if metric == "max_gradient":
        return max(norms)
    return sum(norms) / len(norms)


def _score(stat: SeedStat, higher: bool) -> float:
    """Larger is better; NaN is worst."""
    if math.isnan(stat.mean):
        return -math.inf
    return stat.mean if higher else -stat.mean


#: How :meth:`Comparison.leaders` ranks: metric, and whether higher is better.
RANKING: tuple[tuple[str, bool], ...] = (("health", True), ("scale_free_score", True), ("final_loss", False))


@dataclass
class Comparison:
    """Several initializers on one architecture (the notebook's experiment, generalised)."""

    model: str
    results: list[MethodResult]
    training: str = ""
    notes: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)

    def criteria(self) -> list[str]:
        """The metrics :meth:`leaders` ranks by, in order: the final loss only when every method was trained."""
        return [m for m, _ in RANKING if all(r.stat(m) is not None for r in self.results)]

    def leaders(self) -> list[MethodResult]:
        """The methods that cannot be told apart at the top, in the order of ``results``.

        Ranked by the notebook's health score (higher is better), then the scale-free gradient score (higher),
        then the final training loss (lower; only when every method was trained). At each criterion the method
        with the best mean leads, and every method that ties with it stays in: two methods tie when their means
        are within two combined standard errors over the seeds,

        .. math::
            |m_1 - m_2| \\le 2\\sqrt{s_1^2/n_1 + s_2^2/n_2},

        with ``s`` the sample std over ``n`` seeds (:meth:`SeedStat.ties`). The next criterion only separates
        the methods still tied. One method left is the best; several are a tie, reported as such: the order of
        the list never decides.
        """
        return self._rank()[0]

    def decided_by(self) -> list[str]:
        """The criteria :meth:`leaders` used: those of :meth:`criteria` up to the one that left a single method
        (all of them for a tie)."""
        return self._rank()[1]

    def _rank(self) -> tuple[list[MethodResult], list[str]]:
        pool = list(self.results)
        higher = dict(RANKING)
        used: list[str] = []
        for metric in self.criteria():
            if len(pool) <= 1:
                break
            used.append(metric)
            scored = [(r, found) for r in pool if (found := r.stat(metric)) is not None]
            top = max((found for _, found in scored), key=partial(_score, higher=higher[metric]))
            pool = [r for r, found in scored if found.ties(top)]
        return pool, used
