"""Run the analyses of :mod:`weight_initialization_system.analysis` and gather a :class:`Diagnosis`.

This is the one module that reads the analysis results; everything downstream (tables, plots, HTML, JSON) works
on the plain dataclasses of :mod:`.data`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .data import Diagnosis, Fix, GradientLayer, Histogram, SignalLayer, WeightLayer

__all__ = ["GradientSummary", "diagnose", "gradient_summary", "histogram", "quality_score"]

logger = logging.getLogger("weight_initialization_system")

_BINS = 60
#: Examples of the sample batch used for the Jacobian (its cost grows with the input size, not the batch).
_JACOBIAN_BATCH = 8
Sample = Callable[[int, torch.Generator], Any]


def histogram(values: torch.Tensor, bins: int = _BINS) -> Histogram:
    """Density histogram of the finite values of a tensor (float64 on CPU)."""
    data = values.detach().flatten().double().cpu().numpy()
    data = data[np.isfinite(data)]
    if data.size == 0:
        return Histogram([0.0, 1.0], [0.0])
    lo, hi = float(data.min()), float(data.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    density, edges = np.histogram(data, bins=bins, range=(lo, hi), density=True)
    return Histogram(edges.tolist(), density.tolist())


def quality_score(model: nn.Module) -> float:
    """``check_initialization_quality(model)['overall_score']``."""
    from ..analysis import check_initialization_quality

    return float(check_initialization_quality(model)["overall_score"])


@dataclass(frozen=True)
class GradientSummary:
    """The notebook's gradient statistics of one backward pass, with its health score and ours."""

    names: list[str]
    norms: list[float]
    relative: list[float]
    loss: float
    vanished: int
    weak: int
    health: float
    scale_free: float


def gradient_summary(
    model: nn.Module,
    inputs: Any,
    targets: torch.Tensor | None = None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> GradientSummary:
    """:func:`~weight_initialization_system.analysis.gradient_flow` as a :class:`GradientSummary`."""
    from ..analysis import gradient_flow

    return _summary(gradient_flow(model, inputs, targets=targets, loss_fn=loss_fn))


def _summary(flow: dict[str, Any]) -> GradientSummary:
    norms: dict[str, float] = flow["gradient_norms"]
    ratios: dict[str, float] = flow["gradient_to_weight_ratios"]
    return GradientSummary(
        names=list(norms), norms=[float(v) for v in norms.values()],
        relative=[float(ratios.get(name, math.nan)) for name in norms], loss=float(flow["loss"]),
        vanished=int(flow["vanished_layers"]), weak=int(flow["weak_layers"]), health=float(flow["health_score"]),
        scale_free=float(flow["scale_free_score"]))


def _finite(value: float) -> float | None:
    """NaN marks a statistic that does not apply."""
    return float(value) if math.isfinite(value) else None


def _int(value: float) -> int | None:
    return int(value) if math.isfinite(value) else None


def _weights(model: nn.Module) -> tuple[list[WeightLayer], float, str]:
    from ..analysis import analyze_weights, check_initialization_quality

    stats = analyze_weights(model)
    quality = check_initialization_quality(model, stats=stats)
    scores = quality["parameter_scores"]
    params = dict(model.named_parameters())
    layers = []
    for name, s in stats.items():
        if name not in params or params[name].dim() < 2:
            continue
        q = scores.get(name, {})
        layers.append(WeightLayer(
            name=name, shape=list(params[name].shape), fan_in=_int(s["fan_in"]), fan_out=_int(s["fan_out"]),
            mean=float(s["mean"]), std=float(s["std"]), min=float(s["min"]), max=float(s["max"]),
            expected_std=_finite(s["expected_std"]), score=q.get("score"), warnings=list(q.get("warnings", [])),
            histogram=histogram(params[name])))
    return layers, float(quality["overall_score"]), str(quality["diagnosis"])


def _fixes(d: Diagnosis) -> list[Fix]:
    """The most important changes, most severe first: signal collapse, gradient loss, layers far off."""
    fixes: list[Fix] = []
    if d.signal_diagnosis not in (None, "healthy"):
        fixes.append(Fix(f"Signal is {d.signal_diagnosis} through depth",
                         "Re-initialize every layer for the nonlinearity that follows it (activation-aware).",
                         f"weight-init init {d.model} --method auto --out weights.safetensors", 100.0))
    if d.vanished:
        fixes.append(Fix(f"{d.vanished} layer(s) with vanished gradients (< 1e-6)",
                         "These layers will not learn; their weights or the layers above them are too small.",
                         f"weight-init init {d.model} --method auto --out weights.safetensors", 90.0))
    for layer in d.weights:
        ratio = layer.ratio
        if ratio is None or ratio <= 0:
            continue
        off = abs(math.log(ratio))
        if off > math.log(1.5):
            direction = "too large" if ratio > 1 else "too small"
            fixes.append(Fix(f"{layer.name}: std {layer.std:.3g} is {ratio:.2f}× the variance-preserving "
                             f"{layer.expected_std:.3g} ({direction})",
                             layer.warnings[0] if layer.warnings else "Scale it to the expected std.",
                             f"weight-init init {d.model} --method auto --out weights.safetensors",
                             10.0 * off))
    for layer in d.weights:
        for warning in layer.warnings:
            if "nan" in warning.lower() or "inf" in warning.lower() or "constant" in warning.lower():
                fixes.append(Fix(f"{layer.name}: {warning}", "Re-initialize this layer.", "", 200.0))
    fixes.sort(key=lambda f: -f.severity)
    seen: set[str] = set()
    return [f for f in fixes if not (f.title in seen or seen.add(f.title))]  # type: ignore[func-returns-value]


def diagnose(
    model: nn.Module,
    name: str,
    sample: Sample | None,
    *,
    batch_size: int = 100,
    seed: int = 0,
    data_free_reason: str = "",
    jacobian: bool = True,
) -> Diagnosis:
    """Every analysis the model allows, gathered for the report. The model is left as it was."""
    from ..analysis import dynamics, jacobian_spectrum, recommend

    weights, score, weight_diagnosis = _weights(model)
    diagnosis = Diagnosis(model=name, parameters=sum(p.numel() for p in model.parameters()), quality_score=score,
                          weights=weights, weight_diagnosis=weight_diagnosis)
    if sample is None:
        reason = data_free_reason or "no sample input"
        diagnosis.skipped.update(signal=reason, gradients=reason, jacobian=reason)
    else:
        x = sample(batch_size, torch.Generator().manual_seed(seed))
        measured = dynamics(model, x, seed=seed)
        signal = measured["signal"]
        diagnosis.signal = [SignalLayer(name, float(r["mean"]), float(r["variance"]), float(r["frac_dead"]),
                                        float(r["frac_saturated"]))
                            for name, r in signal["layers"].items() if r["kind"] == "weight" and "variance" in r]
        diagnosis.signal_diagnosis = str(signal["diagnosis"])
        grads = _summary(measured["gradients"])
        diagnosis.gradients = [GradientLayer(n, g, r) for n, g, r in zip(grads.names, grads.norms, grads.relative,
                                                                          strict=True)]
        diagnosis.loss, diagnosis.vanished, diagnosis.weak = grads.loss, grads.vanished, grads.weak
        diagnosis.notebook_health, diagnosis.scale_free_score = grads.health, grads.scale_free
        if jacobian and isinstance(x, torch.Tensor) and x.is_floating_point():
            spectrum = jacobian_spectrum(model, x[:_JACOBIAN_BATCH], seed=seed)
            diagnosis.jacobian = [float(v) for v in spectrum["singular_values"]]
        elif jacobian and isinstance(x, torch.Tensor):
            diagnosis.skipped["jacobian"] = "integer inputs (tokens): the input-output Jacobian is not defined"
        elif jacobian:
            diagnosis.skipped["jacobian"] = ("the input is several tensors (keyword or positional arguments): the "
                                             "Jacobian is taken with respect to one floating-point tensor")
    diagnosis.recommendations = [
        (layer, rec.initializer + "".join(f", {k}={v!r}" for k, v in rec.kwargs.items()), rec.reason)
        for layer, rec in recommend(model).items()]
    diagnosis.fixes = _fixes(diagnosis)
    return diagnosis
