"""``apply_config``: initialize a model from a loaded configuration, all or nothing.

Order, later steps winning where they overlap:

1. ``global.default_method`` (with its ``methods.<name>`` arguments) for every weight the walker knows
   (norm layers 1/0, biases by ``global.bias_init``), except parameters an override claims;
2. each enabled ``architecture_specific`` scheme whose architecture is present in the model (transformer:
   attention modules; cnn: convolutions; rnn: RNN/LSTM/GRU);
3. ``overrides``: ``{glob: {method, **args}}`` on parameter names (:mod:`fnmatch`); when several globs match a
   parameter, the last one in the file wins.

Every step is validated before anything is written, and the parameters and buffers are restored if any step
fails, so an error leaves the model exactly as it was. With ``global.enable_analysis`` the quality check of
:func:`~weight_initialization_system.analysis.check_initialization_quality` runs afterwards and an
:class:`InitializationQualityWarning` names the worst layers when ``overall_score < quality_threshold``.
"""

from __future__ import annotations

import fnmatch
import logging
import warnings
from typing import Any

from torch import nn

from .._rollback import all_or_nothing
from ..initializers import get_initializer, resolve_name
from ..initializers._common import check_module
from ..schemes import Decision, InitResult, ParamSite, apply_decisions, draw_seed, method_decision, select_sites
from ..schemes.walker import model_graph
from .loader import ConfigSource, load_config
from .schema import ArchitectureName, Config, WeightInitializationSettings
from .schemes import run_architecture_method

__all__ = ["InitializationQualityWarning", "apply_config", "architectures_in"]

logger = logging.getLogger("weight_initialization_system")

_WORST_SHOWN = 3


class InitializationQualityWarning(UserWarning):
    """The quality check after a configured initialization scored below ``quality_threshold``."""


def architectures_in(model: nn.Module) -> set[ArchitectureName]:
    """Which of transformer / cnn / rnn the model contains, from its traced graph (an attention, a
    convolution, a recurrent layer); for a model that cannot be traced, from torch's own layer types."""
    check_module("model", model)
    graph = model_graph(model)
    found: set[ArchitectureName] = set()
    if graph.traced:
        ops = {layer.op for uses in graph.uses.values() for layer in uses}
        if graph.attention:
            found.add("transformer")
        if ops & {"conv", "conv_transpose"}:
            found.add("cnn")
        if ops & {"recurrent", "recurrent_input"}:
            found.add("rnn")
        return found
    for module in model.modules():
        if isinstance(module, nn.MultiheadAttention):
            found.add("transformer")
        elif isinstance(module, nn.modules.conv._ConvNd):
            found.add("cnn")
        elif isinstance(module, nn.RNNBase):
            found.add("rnn")
    return found


def _arguments(settings: WeightInitializationSettings, method: str, extra: dict[str, Any]) -> dict[str, Any]:
    canonical = resolve_name(method)
    base = next((s.arguments for key, s in settings.methods.items() if resolve_name(key) == canonical), {})
    return {**base, **extra}


def _override_of(site: ParamSite, patterns: list[str]) -> str | None:
    matched = [p for p in patterns if fnmatch.fnmatchcase(site.name, p)]
    return matched[-1] if matched else None


def _plan(
    model: nn.Module, settings: WeightInitializationSettings
) -> tuple[list[tuple[ParamSite, Decision]], list[tuple[ParamSite, Decision]], dict[str, str], dict[str, str]]:
    """Default and override decisions, the skipped parameters and the tied aliases."""
    glob = settings.global_
    default = get_initializer(glob.default_method, **_arguments(settings, glob.default_method, {}))
    overrides = {pattern: get_initializer(o.method, **_arguments(settings, o.method, o.arguments))
                 for pattern, o in settings.overrides.items()}
    sites, skipped, tied = select_sites(model)
    base: list[tuple[ParamSite, Decision]] = []
    claimed: list[tuple[ParamSite, Decision]] = []
    used: set[str] = set()
    for site in sites:
        pattern = _override_of(site, list(overrides))
        if pattern is not None:
            used.add(pattern)
            claimed.append((site, Decision(overrides[pattern], f"override {pattern!r}", site.fans, site.blocks)))
            continue
        decision = method_decision(site, default, glob.bias_init)
        if decision is None:
            skipped[site.name] = ("bias_init='keep'" if site.kind == "bias"
                                  else f"unknown parameter of {type(site.module).__name__}: left as is")
        else:
            base.append((site, decision))
    for pattern in overrides:
        if pattern not in used:
            warnings.warn(f"Config override {pattern!r} matches no parameter of {type(model).__name__}",
                          stacklevel=3)
    return base, claimed, skipped, tied


def apply_config(model: nn.Module, config: ConfigSource, *, seed: int | None = None) -> InitResult:
    """Initialize ``model`` as ``config`` says (see the module docstring for the order of the steps).

    Args:
        model: the module to initialize in place.
        config: a :class:`Config`, or anything :func:`load_config` accepts (path, YAML text, dict).
        seed: base seed for the name-keyed generators; overrides ``global.seed``.

    Returns:
        The merged :class:`InitResult` of all steps.

    Raises:
        WeightInitError: for an invalid config or a decision that does not fit the model; nothing is applied.

    >>> model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> cfg = {"weight_initialization": {"global": {"default_method": "he_normal"},
    ...        "overrides": {"2.weight": {"method": "zeros"}}}}
    >>> apply_config(model, cfg, seed=0)["2.weight"].initializer
    'zeros'
    """
    cfg: Config = load_config(config)
    settings = cfg.settings
    glob = settings.global_
    base_seed = seed if seed is not None else glob.seed if glob.seed is not None else draw_seed()
    base, claimed, skipped, tied = _plan(model, settings)
    present = architectures_in(model)
    schemes = [(arch, s) for arch, s in settings.architecture_specific.items() if s.enabled and arch in present]

    with all_or_nothing((*model.parameters(), *model.buffers())):  # any failure, Ctrl-C too, undoes every step
        result = apply_decisions(model, glob.default_method, base, seed=base_seed, skipped=skipped, tied=tied)
        for arch, scheme in schemes:
            result = result.merge(run_architecture_method(model, arch, scheme.method, scheme.arguments,
                                                          seed=base_seed))
        if claimed:
            result = result.merge(apply_decisions(model, "overrides", claimed, seed=base_seed))
    result.method = f"config({glob.default_method})"
    result.seed = base_seed
    if glob.enable_analysis:
        _quality_gate(model, glob.quality_threshold)
    return result


def _quality_gate(model: nn.Module, threshold: float) -> None:
    from ..analysis import check_initialization_quality

    quality = check_initialization_quality(model)
    score = float(quality["overall_score"])
    logger.info("initialization quality after config: %.3f (threshold %.3f)", score, threshold)
    if score >= threshold:
        return
    worst = sorted(quality["parameter_scores"].items(), key=lambda item: float(item[1]["score"]))[:_WORST_SHOWN]
    detail = "; ".join(f"{name} (score {float(q['score']):.2f}"
                       + (f": {q['warnings'][0]}" if q.get("warnings") else "") + ")" for name, q in worst)
    warnings.warn(f"Initialization quality {score:.2f} is below quality_threshold {threshold:.2f}. "
                  f"Worst layers: {detail}", InitializationQualityWarning, stacklevel=3)
