"""A data-free initialization quality score grounded in signal propagation, with actionable warnings.

For every weight layer ``l`` (in execution order, from :func:`trace_chains`) with fan-in ``n_l``, weight second
moment ``σ_l² = E[w²]`` and input nonlinearity ``φ_l``, mean-field theory gives the layer's Jacobian gain

.. math::
    χ_l = n_l σ_l^2 \\, \\mathbb{E}_{h \\sim N(0, q_{l-1})}[φ_l'(h)^2], \\qquad
    q_l = n_l σ_l^2 \\, \\mathbb{E}[φ_l(h)^2],

(He et al. 2015; Poole et al. 2016; Schoenholz et al. 2017), ``χ_l = 1`` being variance-preserving
(``√2/√n`` for ReLU, ``1/√n`` for tanh near the origin). In units of std, ``log ρ_l = ½ log χ_l``, and along
a chain of layers not separated by a normalization or an addition the deviations compound:

.. math::
    P_l = \\sum_{j \\in \\text{chain},\\, j \\le l} \\log ρ_j .

``q`` restarts at 1 after a normalization layer, a residual sum or at the raw input. A chain that ends in a
normalization or a residual addition may shrink freely (the normalization or the identity path restores the
scale: Fixup, ReZero, GPT-2's ``1/√(2L)`` and zero-initialized last layers are all healthy), so only growth
counts there (``max(0, P_l)``); elsewhere both directions count (``|P_l|``), except the output layer, whose
scale is a free choice when small. Embeddings and recurrent layers are not judged by ``χ``.

Scale errors that the theory tolerates (a 10× on one of twelve identical transformer blocks) are caught by
consistency with peers: layers of the same role (same layer family, fan-in, input nonlinearity and residual
position) should share a scale, so ``π_l = log σ_l − median_peers(log σ)``.

With a tolerance ``t`` (std may be off by a factor ``1 + t``), the per-weight score is

.. math::
    s_l = \\exp\\!\\left(-\\tfrac12 d_l^2\\right), \\qquad
    d_l = \\frac{\\max(\\text{dev}(P_l) / \\sqrt{k_l},\\; |π_l|)}{\\log(1 + t)},

where ``k_l`` is the layer's position in its chain: per-layer errors within tolerance compound like a random
walk (``√k``), a systematic bias (xavier on ReLU: ``log ρ = −½ log 2`` per layer) linearly, so the latter is
caught however small per layer. ``s_l`` is 0 for NaN/Inf, and 0 for an all-zero or constant matrix where
symmetry must be broken. ``overall_score`` is the
mean of ``s_l`` over weight matrices (0 if any parameter is NaN/Inf). With ``target_std``, ``d_l`` is
``|log(std_l / target_std)| / log(1 + t)`` instead, for every weight matrix.
"""

from __future__ import annotations

import math
import statistics as pystats
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..initializers._common import positive
from ._state import read_only
from .guardrails import detect_tiled_shards
from .meanfield import ACTIVATIONS, activation_moments
from .recommend import recommend_layer
from .statistics import analyze_weights
from .topology import ChainLink, LayerInfo, trace_chains

__all__ = ["LayerGain", "check_initialization_quality", "layer_gains"]

#: Odd nonlinearities with φ'(0) = 1 (tanh, hardtanh, softsign): with zero bias a stack of them drives the
#: forward second moment to the fixed point q* of ``q ↦ n·σ²·E[φ(√q z)²]`` (q* = 0 when n·σ² ≤ 1, reached
#: slowly, as ~1/(2l) for tanh at n·σ² = 1). Their χ is judged at q*, where the stack spends its depth
#: (Poole et al. 2016; Schoenholz et al. 2017: the edge of chaos is n·σ² = 1 at σ_b = 0), not at the
#: transient early scale.
_ODD_UNIT_SLOPE = ("tanh", "hardtanh", "softsign")


def _fixed_point(info: LayerInfo, gain2: float, q: float, steps: int = 200) -> float:
    """The fixed point of ``q ↦ gain2·E[φ(√q z)²]`` reached from ``q`` (0 when ``gain2 ≤ 1``)."""
    if gain2 <= 1.0:
        return 0.0
    for _ in range(steps):
        q = gain2 * activation_moments(info.input_activation, info.input_activation_param, q)[0]
    return q

#: Weight operations not judged by ``χ``: embeddings (a lookup, not a sum over fan-in) and recurrent layers.
_UNJUDGED = ("embedding", "recurrent", "recurrent_input")
_ACT_LABEL = {None: "a linear input", "relu": "ReLU", "leaky_relu": "leaky ReLU", "tanh": "tanh",
              "sigmoid": "sigmoid", "gelu": "GELU", "silu": "SiLU", "selu": "SELU", "elu": "ELU"}


@dataclass(frozen=True)
class LayerGain:
    """Mean-field gain of one weight layer (see the module docstring for the formulas).

    Attributes:
        name: layer (module) name.
        weight: the parameter judged (its first weight).
        log_rho: ``½ log χ``, the layer's deviation from variance-preserving, in log std units (0 if unjudged).
        compounded: ``P_l``, the deviation compounded along its chain.
        chain_position: ``k_l``, how many judged layers of its chain end at it (1 for the first).
        critical_std: the std that makes ``χ = 1`` at this layer's input scale.
        q_in: second moment of the pre-activation feeding it.
        two_sided: whether shrinking counts as a fault (chains that do not end in a norm or a residual sum).
        judged: ``False`` for embeddings and recurrent layers.
    """

    name: str
    weight: str
    log_rho: float
    compounded: float
    chain_position: int
    critical_std: float
    q_in: float
    two_sided: bool
    judged: bool


def _terminal_two_sided(infos: dict[str, LayerInfo], links: dict[str, ChainLink]) -> dict[str, bool]:
    """Whether shrinking counts: only when the layer's signal ends up nowhere that resets or absorbs its
    scale — not in a norm, a residual sum (a small branch is a deliberate choice: GPT-2, ReZero, Fixup) or
    attention logits (q and k set how sharp the softmax is) — and not for the output layer itself."""
    return {name: links[name].end != "output" and links[name].sink not in ("residual", "norm", "attention")
            for name in infos}


@read_only
def layer_gains(model: nn.Module, stats: dict[str, dict[str, float]] | None = None) -> dict[str, LayerGain]:
    """Mean-field gain ``χ_l`` and its compounding ``P_l`` for every weight layer, in execution order."""
    stats = analyze_weights(model, spectral=False) if stats is None else stats
    infos, links = trace_chains(model)
    return _gains(infos, links, stats)


def _gains(infos: dict[str, LayerInfo], links: dict[str, ChainLink],
           stats: dict[str, dict[str, float]]) -> dict[str, LayerGain]:
    two_sided = _terminal_two_sided(infos, links)
    q_out: dict[str, float] = {}
    compounded: dict[str, float] = {}
    position: dict[str, int] = {}
    gains: dict[str, LayerGain] = {}
    for name, info in infos.items():
        weight = info.weight_names[0]
        st = stats.get(weight)
        link = links[name]
        q_in = q_out.get(link.prev, 1.0) if link.prev is not None else 1.0
        second = math.nan if st is None else st["mean"] ** 2 + st["std"] ** 2 * (1 - 1 / max(st["numel"], 2))
        judged = st is not None and link.op not in _UNJUDGED and not link.scale_invariant \
            and math.isfinite(second) and second > 0
        if not judged:
            q_out[name] = second if link.op == "embedding" and math.isfinite(second) else 1.0
            compounded[name] = compounded.get(link.prev, 0.0) if link.prev is not None else 0.0
            position[name] = position.get(link.prev, 0) if link.prev is not None else 0
            gains[name] = LayerGain(name, weight, 0.0, compounded[name], position[name], math.nan, q_in,
                                    two_sided[name], False)
            continue
        fan_in = max(info.fans[0], 1)
        m2, d2 = activation_moments(info.input_activation, info.input_activation_param, q_in)
        if info.input_activation in _ODD_UNIT_SLOPE:  # judged at the fixed point q* the stack approaches
            d2 = activation_moments(info.input_activation, info.input_activation_param,
                                    _fixed_point(info, fan_in * second, q_in))[1]
        q_out[name] = fan_in * second * m2
        log_rho = 0.5 * math.log(fan_in * second * d2) if d2 > 0 else -math.inf
        compounded[name] = (compounded.get(link.prev, 0.0) if link.prev is not None else 0.0) + log_rho
        position[name] = (position.get(link.prev, 0) if link.prev is not None else 0) + 1
        critical = 1.0 / math.sqrt(fan_in * d2) if d2 > 0 else math.inf
        gains[name] = LayerGain(name, weight, log_rho, compounded[name], position[name], critical, q_in,
                                two_sided[name], True)
    return gains


def _peer_key(info: LayerInfo, link: ChainLink) -> tuple[Any, ...]:
    """Layers with the same role in the graph: the same operation, fan-in, input nonlinearity, residual
    position, sink and readout flag (a 10-way readout is nobody's peer)."""
    return (link.op, info.fans[0], info.input_activation, info.input_activation_param, info.residual_branch,
            link.sink, link.readout)


def _fmt(x: float) -> str:
    return f"{x:.3g}"


@read_only
def check_initialization_quality(
    model: nn.Module,
    target_std: float | None = None,
    tolerance: float = 1.0,
    *,
    stats: dict[str, dict[str, float]] | None = None,
) -> dict[str, Any]:
    """Score a model's initialization in ``[0, 1]`` from signal propagation, with per-parameter warnings.

    Args:
        model: any ``nn.Module`` (not modified).
        target_std: if given, judge every weight matrix against this std instead of the theory.
        tolerance: how far a std may be off, as a relative factor: ``1.0`` accepts a factor of 2 (the spread
            between published schemes, e.g. GPT-2's 0.02 against 1/√768), ``0.5`` a factor of 1.5.
        stats: precomputed :func:`analyze_weights` output, to avoid a second pass.

    Returns:
        ``{"overall_score": float, "parameter_scores": {name: {"score", "warnings", ...}}, "diagnosis": str,
        "warnings": [str], "errors": [str], "layers": {layer: {"log_gain", "compounded_log_gain", "critical_std", ...}},
        "tolerance": float, "target_std": float | None}``. ``diagnosis`` is ``"healthy"``, ``"vanishing"``,
        ``"exploding"``, ``"chaotic"`` (the Jacobian grows through bounded nonlinearities), ``"saturated"``,
        ``"inconsistent"`` (peers disagree), ``"dead"`` (biases switch most ReLU units off) or
        ``"broken"`` (NaN/Inf, symmetric weights, or
        shards that repeat one block: ``errors`` lists those, see :func:`detect_tiled_shards`).

    For a model with DTensor parameters this is a collective (the shard comparison gathers a digest per
    parameter): call it on every rank.

    >>> net = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))
    >>> 0.0 <= check_initialization_quality(net)["overall_score"] <= 1.0
    True
    """
    positive("tolerance", tolerance)
    if target_std is not None:
        positive("target_std", target_std)
    stats = analyze_weights(model) if stats is None else stats
    infos, links = trace_chains(model)  # one trace for the whole check
    gains = _gains(infos, links, stats)
    scale = math.log1p(tolerance)

    layer_of: dict[str, LayerInfo] = {w: info for info in infos.values() for w in info.weight_names}
    groups: dict[tuple[Any, ...], list[str]] = {}
    for layer in infos.values():
        w = layer.weight_names[0]
        st = stats.get(w)
        if st is not None and st["std"] > 0 and st["nan_count"] == 0 and st["inf_count"] == 0 \
                and not links[layer.name].scale_invariant and links[layer.name].op != "embedding":
            # a layer normalized away has no scale to match; embeddings' scales are conventions of their role
            # (token 0.02 or 1, sinusoidal positions), not a shared variance-preserving value
            groups.setdefault(_peer_key(layer, links[layer.name]), []).append(w)

    scores: dict[str, dict[str, Any]] = {}
    any_nonfinite = False
    broken = False
    for name, st in stats.items():
        warnings: list[str] = []
        score = 1.0
        info = layer_of.get(name)
        entry: dict[str, Any] = {"std": st["std"], "reference_std": math.nan, "deviation": 0.0}
        label = f"layer '{name}'" if info is not None else f"parameter '{name}'"
        if st["nan_count"] or st["inf_count"]:
            any_nonfinite = True
            warnings.append(f"{label}: {int(st['nan_count'])} NaN and {int(st['inf_count'])} Inf values; "
                            "re-initialize it (and check the learning rate / loss scale if it was trained)")
            scores[name] = {"score": 0.0, "warnings": warnings, **entry}
            continue
        if max(abs(st["min"]), abs(st["max"])) > 10.0:
            warnings.append(f"{label}: extreme values in [{_fmt(st['min'])}, {_fmt(st['max'])}] (beyond ±10)")
        elif st["std"] > 0 and max(st["max"] - st["mean"], st["mean"] - st["min"]) > 12 * st["std"]:
            warnings.append(f"{label}: extreme values, {_fmt(max(abs(st['min']), abs(st['max'])))} is more than "
                            f"12 std from the mean (heavy tails, kurtosis {_fmt(st['kurtosis'])})")
        if info is None:  # bias, norm scale, custom parameter: only the checks above
            scores[name] = {"score": 1.0, "warnings": warnings, **entry}
            continue
        gain = gains.get(info.name)
        zero_ok = info.residual_branch or info.is_last
        if st["std"] == 0 and not (st["mean"] == 0 and zero_ok):
            broken = True
            what = "all-zero" if st["mean"] == 0 else f"constant ({_fmt(st['mean'])})"
            rec = recommend_layer(info)
            warnings.append(f"{label}: {what}: every unit computes the same function (no symmetry breaking); "
                            f"use {rec.initializer}_")
            scores[name] = {"score": 0.0, "warnings": warnings, **entry}
            continue
        if st["std"] == 0:
            scores[name] = {"score": 1.0, "warnings": warnings, **entry}  # zero-initialized residual/last layer
            continue
        if st.get("mp_ratio", math.nan) > 2.0:
            warnings.append(f"{label}: top singular value is {_fmt(st['mp_ratio'])}× the Marchenko–Pastur edge of "
                            f"an i.i.d. matrix with its std: low-rank, duplicated rows or structure")
            score *= 0.5
        if target_std is not None:
            dev = abs(math.log(st["std"] / target_std))
            entry["reference_std"] = target_std
            if dev > scale:
                warnings.append(f"{label}: std {_fmt(st['std'])} is outside target_std {_fmt(target_std)} "
                                f"± {tolerance:.0%}")
        else:
            dev = 0.0
            if gain is not None and gain.judged and name == gain.weight:
                raw = gain.compounded
                dev = _chain_deviation(gain)
                entry["reference_std"] = gain.critical_std
                if gain.judged and abs(gain.log_rho) > scale and (gain.two_sided or gain.log_rho > 0):
                    rec = recommend_layer(info)
                    warnings.append(
                        f"{label}: std {_fmt(st['std'])}, variance-preserving std for "
                        f"{_ACT_LABEL.get(info.input_activation, info.input_activation)} with fan_in "
                        f"{info.fans[0]} is {_fmt(gain.critical_std)}; use {rec.initializer}_"
                    )
                if dev > scale and gain.chain_position > 1:
                    trend = "exploding" if raw > 0 else "vanishing"
                    warnings.append(f"{label}: {trend}: the signal std compounds to {math.exp(raw):.2g}× "
                                    "along its chain of layers without normalization")
            peers = groups.get(_peer_key(info, links[info.name]), [])
            if len(peers) >= 2 and name in peers:
                median = pystats.median(math.log(stats[p]["std"]) for p in peers)
                pi = math.log(st["std"]) - median
                if abs(pi) > scale:
                    warnings.append(f"{label}: std {_fmt(st['std'])} is {math.exp(pi):.2g}× the median std "
                                    f"{_fmt(math.exp(median))} of the {len(peers)} layers with the same role "
                                    f"({info.module_type}, fan_in {info.fans[0]}); a scale error?")
                dev = max(dev, abs(pi))
        entry["deviation"] = dev
        score *= math.exp(-0.5 * (dev / scale) ** 2)
        scores[name] = {"score": score, "warnings": warnings, **entry}

    logits_explode = _readout_logits(model, infos, links, stats, scores)
    dead = _dead_units(model, infos, links, gains, stats, scores)
    recurrent = _recurrent_gain(model, infos, links, scores)
    saturated = _saturated_units(infos, gains, stats, scores)
    errors: list[str] = []
    for name in detect_tiled_shards(model):
        errors.append(f"ERROR: parameter '{name}': its full tensor is one block repeated across shards: every rank "
                      "drew the same values (torch's random init on a CPU/gloo DTensor mesh). Re-initialize it "
                      "with initialize_model(..., seed=...) or materialize(), which draw each shard from its own "
                      "keyed stream")
        broken = True
        if name in scores:
            scores[name]["score"] = 0.0
            scores[name]["warnings"].append(errors[-1])
    weight_scores = [scores[w]["score"] for w in layer_of if w in scores]
    pool = weight_scores or [s["score"] for s in scores.values()]
    overall = 0.0 if any_nonfinite or not pool else sum(pool) / len(pool)
    bounded = frozenset(n for n, i in infos.items() if i.input_activation in _SATURATING)
    diagnosis = _diagnosis(scores, gains, scale, any_nonfinite or broken, bounded)
    if diagnosis == "healthy" and logits_explode:
        diagnosis = "exploding"
    if diagnosis in ("healthy", "inconsistent") and dead:
        diagnosis = "dead"
    if diagnosis == "healthy" and recurrent is not None:
        diagnosis = recurrent
    if diagnosis in ("healthy", "exploding", "inconsistent") and saturated:  # chaos (measured first) stays
        diagnosis = "saturated"
    return {
        "overall_score": overall,
        "parameter_scores": scores,
        "diagnosis": diagnosis,
        "warnings": [w for s in scores.values() for w in s["warnings"]],
        "errors": errors,
        "layers": {
            n: {"log_gain": g.log_rho, "compounded_log_gain": g.compounded, "critical_std": g.critical_std,
                "q_in": g.q_in, "two_sided": g.two_sided, "judged": g.judged}
            for n, g in gains.items()
        },
        "tolerance": float(tolerance),
        "target_std": None if target_std is None else float(target_std),
    }


def _chain_deviation(gain: LayerGain) -> float:
    """``dev(P_l) / √k_l``: per-layer errors within tolerance add up like a random walk, a bias linearly."""
    dev = abs(gain.compounded) if gain.two_sided else max(0.0, gain.compounded)
    return dev / math.sqrt(max(gain.chain_position, 1))


def _flag(scores: dict[str, dict[str, Any]], weight: str, message: str) -> None:
    """Mark a parameter as faulty: its score drops to at most 0.25 and the message joins its warnings."""
    scores[weight]["score"] = min(scores[weight]["score"], 0.25)
    scores[weight]["warnings"].append(message)


#: Logits of std ``s`` (i.i.d. Gaussian) raise the initial cross-entropy by about ``s²/2`` nats over
#: ``log V``; above ``√2`` that is more than one nat: the readout starts confidently wrong.
_LOGIT_STD_LIMIT = math.sqrt(2.0)


def _readout_logits(model: nn.Module, infos: dict[str, LayerInfo], links: dict[str, ChainLink],
                    stats: dict[str, dict[str, float]], scores: dict[str, dict[str, Any]]) -> bool:
    """Warn about each readout whose logits start too large: std ``c·√(fan_in·E[w²])`` for a unit-variance
    input scaled by ``c`` (a readout after a norm; a tied embedding used as readout included). ``True`` when
    any does."""
    names = {id(p): n for n, p in model.named_parameters()}
    found = False
    for name, info in infos.items():
        if not links[name].readout or info.input_activation is not None or links[name].prev is not None:
            continue  # only a readout of a normalized (unit-variance) input: an LM head after its final norm
        canonical = names.get(id(model.get_parameter(info.weight_names[0])))
        st = stats.get(canonical or "")
        if canonical is None or st is None or canonical not in scores:
            continue
        logit_std = abs(links[name].input_scale) * math.sqrt(max(info.fans[0], 1) * (st["mean"] ** 2 + st["std"] ** 2))
        if logit_std > _LOGIT_STD_LIMIT:
            found = True
            tied = "" if canonical == info.weight_names[0] else f", tied to '{canonical}'"
            _flag(scores, canonical,
                f"layer '{info.weight_names[0]}' (readout{tied}): its logits start with std ≈ {_fmt(logit_std)} for a "
                f"unit-variance input (fan_in {info.fans[0]}), which adds ≈ {_fmt(logit_std ** 2 / 2)} nats to the "
                f"initial loss; use std ≤ {_fmt(1 / math.sqrt(max(info.fans[0], 1)))} (or zero, as μP does)")
    return found


#: The hidden-to-hidden map of a recurrent layer is applied once per time step, so its gain compounds over
#: the sequence: a spectral norm per gate block outside [1/3, 3] grows or shrinks the signal and its gradient
#: by more than 3^T over T steps (Pascanu et al. 2013: ‖W_hh‖ < 1 is sufficient for vanishing gradients;
#: orthogonal W_hh, norm 1, is the reference of Saxe et al. 2014 and Le et al. 2015).
_RECURRENT_LIMIT = 3.0


def _recurrent_gain(model: nn.Module, infos: dict[str, LayerInfo], links: dict[str, ChainLink],
                    scores: dict[str, dict[str, Any]]) -> str | None:
    """Warn about each ``W_hh`` whose per-gate spectral norm is far from 1; the verdict it implies, if any."""
    verdict: str | None = None
    for name, info in infos.items():
        if links[name].op not in ("recurrent", "recurrent_input"):
            continue
        for weight in info.weight_names:
            if "_hh" not in weight.rsplit(".", 1)[-1] or weight not in scores:
                continue
            w = model.get_parameter(weight).detach().double()
            hidden = w.shape[-1]
            blocks = w.reshape(-1, hidden, hidden) if w.shape[0] % hidden == 0 else w.unsqueeze(0)
            norms = torch.linalg.matrix_norm(blocks, ord=2)
            top, low = float(norms.max()), float(norms.min())
            if top > _RECURRENT_LIMIT or top < 1 / _RECURRENT_LIMIT:
                verdict = "exploding" if top > _RECURRENT_LIMIT else (verdict or "vanishing")
                _flag(scores, weight,
                    f"layer '{weight}': recurrent weight with spectral norm {_fmt(top)} (gate blocks {_fmt(low)}–"
                    f"{_fmt(top)}), applied once per time step: the signal and its gradient scale by about "
                    f"{_fmt(top)}^T over T steps; use orthogonal_ (norm 1)")
    return verdict


#: A saturating nonlinearity passes almost no gradient where ``|φ'(h)| < 0.05``; a layer is saturated when
#: its pre-activation ``h ~ N(0, q)`` lies there for more than half of the units and inputs.
_SATURATED_SLOPE = 0.05
_SATURATING = ("tanh", "sigmoid", "hardtanh", "softsign", "hardsigmoid")


def _flat_beyond(name: str, param: float | None) -> float:
    """The ``|h|`` beyond which ``|φ'(h)| < 0.05`` (bisection on φ's slope, which decreases in ``|h|``)."""
    lo, hi = 0.0, 60.0
    for _ in range(60):
        mid = (lo + hi) / 2
        h = torch.tensor(mid, dtype=torch.float64, requires_grad=True)
        (slope,) = torch.autograd.grad(ACTIVATIONS[name](h, param), h)
        lo, hi = (mid, hi) if abs(float(slope)) >= _SATURATED_SLOPE else (lo, mid)
    return hi


def _saturated_units(infos: dict[str, LayerInfo], gains: dict[str, LayerGain],
                     stats: dict[str, dict[str, float]], scores: dict[str, dict[str, Any]]) -> bool:
    """Warn about each layer whose output drives the saturating nonlinearity after it into its flat tails."""
    found = False
    for name, info in infos.items():
        gain, act = gains.get(name), info.output_activation
        st = stats.get(info.weight_names[0])
        if act not in _SATURATING or gain is None or not gain.judged or st is None:
            continue
        m2, _ = activation_moments(info.input_activation, info.input_activation_param, gain.q_in)
        q = max(info.fans[0], 1) * (st["mean"] ** 2 + st["std"] ** 2) * m2
        edge = _flat_beyond(act, info.output_activation_param)
        flat = math.erfc(edge / math.sqrt(2 * q)) if q > 0 else 0.0  # P(|h| > edge) for h ~ N(0, q)
        if flat > 0.5:
            found = True
            weight = info.weight_names[0]
            _flag(scores, weight,
                f"layer '{weight}': pre-activation std ≈ {_fmt(math.sqrt(q))} puts {flat:.0%} of the {act} "
                f"units beyond |h| = {_fmt(edge)}, where its slope is under {_SATURATED_SLOPE} (saturated: almost "
                f"no gradient passes); use std {_fmt(1 / math.sqrt(max(info.fans[0], 1)))} or orthogonal_")
    return found


#: ReLU units whose pre-activation ``h = Wx + b`` is negative for (almost) every input never pass a gradient:
#: with ``h ~ N(b, q)`` a unit is off with probability ``Φ(−b/√q)`` (Lu et al. 2019, "Dying ReLU"); the layer
#: is dead when more than half of its units are off for 95% of inputs (active for fewer than 1 in 20).
_DEAD_LIMIT = 0.5
_OFF_FOR_ALL_INPUTS = 0.95


def _dead_units(model: nn.Module, infos: dict[str, LayerInfo], links: dict[str, ChainLink],
                gains: dict[str, LayerGain], stats: dict[str, dict[str, float]],
                scores: dict[str, dict[str, Any]]) -> bool:
    """Warn about each layer followed by a ReLU whose biases switch most units off; ``True`` when any does."""
    found = False
    for name, info in infos.items():
        link, gain = links[name], gains.get(name)
        if info.output_activation != "relu" or link.bias is None or gain is None or not gain.judged:
            continue
        st = stats.get(info.weight_names[0])
        bias = model.get_parameter(link.bias).detach().double().flatten()
        if st is None or bias.numel() == 0:
            continue
        second = st["mean"] ** 2 + st["std"] ** 2
        m2, _ = activation_moments(info.input_activation, info.input_activation_param, gain.q_in)
        q = max(info.fans[0], 1) * second * m2
        if not q > 0:
            continue
        # a unit is dead when it is off for almost every input: Φ(−b/√q) > 0.95, i.e. b < −1.64·√q
        off = float((0.5 * torch.erfc(bias / math.sqrt(2 * q)) > _OFF_FOR_ALL_INPUTS).double().mean())
        if off > _DEAD_LIMIT:
            found = True
            weight = info.weight_names[0]
            if weight in scores:
                _flag(scores, weight,
                    f"layer '{weight}': its biases (mean {_fmt(float(bias.mean()))}) against a pre-activation std "
                    f"of {_fmt(math.sqrt(q))} leave {off:.0%} of the ReLU units after it off for 95% of inputs (dead: "
                    "no gradient flows through them); set the biases to 0")
    return found


#: A chain is exploding/vanishing when its compounded gain ``∏ χ_l`` -- the mean squared singular value of
#: its Jacobian -- leaves [10⁻³, 10³], however the change is spread over depth: a bias of x1.08 per layer
#: compounds to χ ≈ 2e3 over 50 layers. (In log-std units: ½ log 10³.)
_COMPOUND_LIMIT = 0.5 * math.log(1e3)


def _compounded_deviation(gain: LayerGain) -> float:
    """``dev(P_l)`` without depth normalization: the chain's total change of the signal's std (log units)."""
    return abs(gain.compounded) if gain.two_sided else max(0.0, gain.compounded)


def _diagnosis(scores: dict[str, dict[str, Any]], gains: dict[str, LayerGain], scale: float, broken: bool,
               bounded: frozenset[str] = frozenset()) -> str:
    """The verdict. A chain whose Jacobian grows while its layers' inputs pass a bounded nonlinearity is
    *chaotic* (Poole et al. 2016: the forward stays bounded, nearby inputs diverge), not exploding."""
    if broken:
        return "broken"
    judged = [g for g in gains.values() if g.judged]
    worst = max(judged, key=_compounded_deviation, default=None)
    if worst is not None and (_compounded_deviation(worst) > _COMPOUND_LIMIT
                              or _chain_deviation(worst) > 2 * scale):
        if worst.compounded > 0:
            chaos = worst.name in bounded and _compounded_deviation(worst) > _COMPOUND_LIMIT
            return "chaotic" if chaos else "exploding"
        return "vanishing"
    if any(s["deviation"] > scale for s in scores.values()):
        return "inconsistent"
    return "healthy"
