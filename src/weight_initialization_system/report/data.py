"""The plain data the report renders: one :class:`Diagnosis` per model, one :class:`Comparison` per experiment.

Collecting them (running the analyses) lives in :mod:`.collect` and :mod:`.experiments`; rendering in
:mod:`.plots` and :mod:`.html`. Everything here is plain floats, strings and lists, so it also goes to JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Comparison",
    "Diagnosis",
    "Fix",
    "GradientLayer",
    "Histogram",
    "MethodResult",
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


@dataclass
class MethodResult:
    """One initializer in a comparison: weights, the notebook's gradient statistics, and training curves."""

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
    vanished: int
    weak: int
    health: float
    scale_free_score: float
    quality_score: float
    train_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    lsuv_trace: list[list[float]] = field(default_factory=list)

    @property
    def min_gradient(self) -> float:
        return min(self.gradient_norms) if self.gradient_norms else 0.0

    @property
    def max_gradient(self) -> float:
        return max(self.gradient_norms) if self.gradient_norms else 0.0

    @property
    def mean_gradient(self) -> float:
        return sum(self.gradient_norms) / len(self.gradient_norms) if self.gradient_norms else 0.0


@dataclass
class Comparison:
    """Several initializers on one architecture (the notebook's experiment, generalised)."""

    model: str
    results: list[MethodResult]
    training: str = ""
    notes: list[str] = field(default_factory=list)

    def best(self) -> MethodResult:
        """The highest notebook health score; ties broken by the scale-free score, then final training loss."""
        return max(self.results, key=lambda r: (r.health, r.scale_free_score,
                                                -(r.train_loss[-1] if r.train_loss else 0.0)))
