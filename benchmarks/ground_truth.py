"""Ground-truth labels of a model's initialization, by direct measurement -- never from our package's output.

One forward and one backward pass on a fixed batch, on a deep copy of the model (``eval()``, except that
BatchNorm uses the batch's statistics, as in the first training step), with forward hooks on every module.

Measured
--------
* ``inputs``: the floating-point sample, and the output of every embedding call (a layer reading integers; a
  seq2seq model reads two token streams). ``x`` is the first of them. ``last hidden`` ``y``: the input of the
  readout (the last weight or norm layer called, when it is a weight layer producing the output's shape), else
  the model's output. ``RMS`` is the root mean square over all entries.
* ``F`` (forward gain) = RMS(y) / RMS(segment start), where the segment starts at the output of the last
  normalization layer or gated recurrent layer (whose output its gates bound) called before the readout,
  else at ``x``. ``F_full`` = RMS(y) / RMS(x), whatever lies between (reported only).
* ``J``: the Jacobian of ``y`` with respect to each input ``x_g``, probed by one vector-Jacobian product with
  ``u ~ N(0, I)`` (``E‖Jᵀu‖² = ‖J‖_F²``). ``msv_g = ‖J_gᵀu‖² / ‖u‖² ≈ ‖J_g‖_F² / N_y`` is the mean squared
  singular value per output dimension (= over ``min(D_in, D_out)`` when the map contracts), and
  ``K² = Σ_g msv_g · RMS(x_g)² / RMS(y)²`` how much a relative perturbation of the inputs grows relative to the
  signal: 1 for any linear or positively homogeneous map, ``∏_l χ_l`` over depth for a deep network
  (Poole et al. 2016; Schoenholz et al. 2017).
* ``corr``: the mean Pearson correlation (across features) between the last hidden vectors of distinct
  examples (tokens of a sequence count as examples), on at most 256 of them.
* ``dead``: the fraction of ReLU units (features; channels of a 4-D map) that are zero for every example of the
  batch, averaged over ``nn.ReLU`` modules. ``saturated``: the fraction of ``nn.Tanh``/``nn.Sigmoid`` outputs
  with ``|φ'| < 0.05``.
* ``constant layers``: weight layers (not the readout) whose weight is one repeated value, e.g. all zero.
* ``gain_l`` = RMS(output) / RMS(input) of every weight layer (first call). Its *peers* are the layers with the
  same name up to indices, the same weight shape and type; with at least 3 peers a layer whose gain is more
  than 3× off their median is an *outlier*, *absorbed* when its output tensor is the input of a normalization
  layer (Ioffe & Szegedy 2015: the norm divides the scale out).
* language models: the cross-entropy of the logits against uniformly random targets, against ``log V``.
* recurrent models (an ``nn.LSTM``/``GRU``/``RNN`` reading the sample): ``r_T = ‖∂L/∂x_1‖ / ‖∂L/∂x_T‖``, the
  gradient reaching the first time step relative to the last (``L = <u, y>``).
* the gradient norm of every weight, and their ratio first / last (reported only: in a homogeneous stack the
  forward and backward attenuations cancel in ``∇W = δ xᵀ``, so it misses Xavier-on-ReLU).

Rules (the first that applies wins)
-----------------------------------
1. ``broken``: a parameter holds NaN or Inf.
2. ``exploding``: an activation is NaN or Inf (overflow).
3. ``collapsed``: ``J == 0`` and a constant layer (named): no symmetry breaking, the input never arrives.
4. ``dead``: ``dead > 0.5`` (a majority of ReLU units off for every input).
5. ``collapsed``: ``J == 0``; or ``K² < 1e-3`` (the ordered phase, the mirror image of rule 6: perturbations
   die out 1e3× faster than the signal); or ``corr > 0.999`` (every input maps to the same vector). Not 0.99:
   a critical Kaiming ReLU stack, whose correlation map approaches 1 polynomially, measures 0.98-0.995 at
   depth 50.
6. ``chaotic``: ``1e-2 ≤ F ≤ 1e2`` (the forward signal stays bounded) but ``K² > 1e3``: nearby inputs are torn
   apart, the per-layer ``χ = (K²)^(1/L) > 1`` compounding to more than 1e3 over the depth.
7. ``saturated``: ``saturated > 0.5``.
8. ``inconsistent``: a non-absorbed outlier (named), if the outliers explain the forward gain:
   ``|log F − Σ log(outlier factor)| ≤ log 10``.
9. ``exploding`` / ``vanishing``: ``F > 10`` / ``F < 0.1``: the signal leaves the decade it started in.
   Critical tanh (σw = 1, σb = 0) decays as ``(1 + 2L)^(-1/2)``: 0.13 at depth 30, inside the decade.
10. ``exploding``: a language model whose initial loss exceeds ``log V + 1`` (confidently wrong logits).
11. ``vanishing`` / ``exploding``: a recurrent model with ``r_T < 1e-3`` / ``r_T > 1e3``.
12. ``inconsistent``: any remaining non-absorbed outlier. 13. ``healthy``.

The thresholds are the constants below; every one is a round decade or a majority, none was tuned to a case.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LABELS", "Measurement", "Verdict", "ground_truth", "label", "measure"]

LABELS = ("healthy", "vanishing", "exploding", "chaotic", "collapsed", "saturated", "dead", "inconsistent",
          "broken")

COLLAPSE_CORR = 0.999
ORDERED_K2 = 1e-3
CHAOS_K2 = 1e3
BOUNDED = (1e-2, 1e2)
DEAD = 0.5
SATURATED = 0.5
SATURATION_SLOPE = 0.05
DECADE = 10.0
OUTLIER = 3.0
LM_EXCESS_NATS = 1.0
TEMPORAL = 1e3
MAX_ROWS = 256

_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm, nn.LocalResponseNorm)
_NORM_NAME = re.compile(r"(Norm|Norm[123]d)$")


@dataclass
class Measurement:
    """What :func:`measure` saw; every field is a plain number, string or container of them."""

    nonfinite_parameters: list[str] = field(default_factory=list)
    nonfinite_activations: list[str] = field(default_factory=list)
    input_rms: float = math.nan
    last_hidden_rms: float = math.nan
    segment_start: str = "input"
    forward_gain: float = math.nan
    forward_gain_full: float = math.nan
    msv: float = math.nan
    k2: float = math.nan
    jacobian_zero: bool = False
    correlation: float = math.nan
    dead: float = math.nan
    saturated: float = math.nan
    constant_layers: list[str] = field(default_factory=list)
    gains: dict[str, float] = field(default_factory=dict)
    outliers: dict[str, float] = field(default_factory=dict)
    absorbed: list[str] = field(default_factory=list)
    lm_loss: float = math.nan
    log_vocab: float = math.nan
    logit_std: float = math.nan
    temporal_ratio: float = math.nan
    gradient_norms: dict[str, float] = field(default_factory=dict)
    gradient_ratio: float = math.nan
    depth: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {k: _jsonable(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Verdict:
    """The label, the layer it blames (``None`` for a model-wide fault or a healthy model) and why."""

    label: str
    layer: str | None
    reason: str


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _is_norm(module: nn.Module) -> bool:
    if isinstance(module, _NORM_TYPES):
        return True
    return next(module.children(), None) is None and bool(_NORM_NAME.search(type(module).__name__))


def _is_weight_layer(module: nn.Module) -> bool:
    if isinstance(module, nn.RNNBase):
        return True
    weight = module._parameters.get("weight")
    return weight is not None and weight.dim() >= 2


def _first_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for item in value:
            found = _first_tensor(item)
            if found is not None:
                return found
    if isinstance(value, dict):
        for item in value.values():
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def _first_float(args: Sequence[Any], kwargs: dict[str, Any]) -> torch.Tensor | None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            return value
    return None


def _constant(module: nn.Module) -> bool:
    weight = module._parameters.get("weight")
    if weight is None:
        weight = next((p for p in module.parameters(recurse=False) if p.dim() >= 2), None)
    return weight is not None and weight.numel() > 1 and bool((weight == weight.flatten()[0]).all())


def _rms(t: torch.Tensor) -> float:
    return float(t.detach().double().pow(2).mean().sqrt())


def _units(t: torch.Tensor) -> torch.Tensor:
    """``(examples, units)``: channels of a 4-D map, the last dimension otherwise."""
    t = t.detach()
    if t.dim() == 4:
        return t.transpose(0, 1).reshape(t.shape[1], -1).T
    return t.reshape(-1, t.shape[-1]) if t.dim() > 1 else t.reshape(1, -1)


def _mean_correlation(y: torch.Tensor) -> float:
    rows = y.detach().double().reshape(-1, y.shape[-1]) if y.dim() > 1 else y.detach().double().reshape(1, -1)
    if rows.shape[0] < 2:
        return math.nan
    if rows.shape[0] > MAX_ROWS:
        rows = rows[torch.linspace(0, rows.shape[0] - 1, MAX_ROWS).long()]
    centered = rows - rows.mean(dim=1, keepdim=True)
    norms = centered.norm(dim=1)
    if float(norms.max()) <= 1e-12 * max(float(rows.abs().max()), 1e-30):
        return 1.0  # every example maps to a constant vector
    if bool(torch.allclose(rows, rows[:1].expand_as(rows), rtol=1e-6, atol=0.0)):
        return 1.0
    unit = centered / norms.clamp_min(1e-30).unsqueeze(1)
    gram = unit @ unit.T
    n = rows.shape[0]
    return float((gram.sum() - gram.diagonal().sum()) / (n * (n - 1)))


@dataclass
class _Call:
    name: str
    module: nn.Module
    inp: torch.Tensor | None
    out: torch.Tensor | None


def measure(model: nn.Module, sample: Sequence[Any], *, vocab: int | None = None, seed: int = 0) -> Measurement:
    """Run ``model(*sample)`` once forward and once backward on a copy, and record the quantities above."""
    model = copy.deepcopy(model)
    model.eval()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.train()
    m = Measurement()
    m.nonfinite_parameters = [n for n, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
    names = {id(mod): n for n, mod in model.named_modules()}
    calls: list[_Call] = []
    acts: list[tuple[str, str, torch.Tensor]] = []

    def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        name = names.get(id(module), "?")
        y = _first_tensor(out)
        if isinstance(module, (nn.ReLU, nn.Tanh, nn.Sigmoid)) and y is not None:
            acts.append((name, type(module).__name__, y.detach()))
        if _is_weight_layer(module) or _is_norm(module):
            calls.append(_Call(name, module, _first_float(args, kwargs), y))
        if (y is not None and y.is_floating_point() and name not in m.nonfinite_activations
                and not bool(torch.isfinite(y.detach()).all())):
            m.nonfinite_activations.append(name)

    sample = list(sample)
    model_input: torch.Tensor | None = None
    for i, value in enumerate(sample):
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            sample[i] = model_input = value.detach().clone().requires_grad_(True)
            break
    handles = [mod.register_forward_hook(hook, with_kwargs=True) for mod in model.modules() if mod is not model]
    try:
        with torch.enable_grad():
            raw = model(*sample)
    finally:
        for handle in handles:
            handle.remove()
    output = _first_tensor(raw)
    if output is None:
        raise ValueError("the model returned no tensor")

    weight_calls = [c for c in calls if _is_weight_layer(c.module)]
    m.depth = len({c.name for c in weight_calls if c.inp is not None})
    # Inputs: the float sample, and every embedding output (seq2seq models read two token streams).
    inputs: list[torch.Tensor] = [] if model_input is None else [model_input]
    inputs += [c.out for c in weight_calls if c.inp is None and c.out is not None and c.out.is_floating_point()
               and c.out.requires_grad]
    if not inputs:
        raise ValueError("no floating-point input representation found")
    x = inputs[0]
    # The readout: the last weight or norm layer called, if it is a weight layer producing the output's shape
    # (logits may get a bias added outside any module, as BART's final_logits_bias).
    readout_index: int | None = len(calls) - 1 if calls else None
    readout = calls[readout_index] if readout_index is not None else None
    if (readout is not None and _is_weight_layer(readout.module) and readout.inp is not None
            and readout.out is not None and readout.out.shape == output.shape):
        y = readout.inp
    else:
        y, readout_index, readout = output, len(calls), None
    m.input_rms, m.last_hidden_rms = _rms(x), _rms(y)
    start_rms = m.input_rms
    for c in reversed(calls[:readout_index]):
        if (_is_norm(c.module) or isinstance(c.module, nn.RNNBase)) and c.out is not None:
            m.segment_start, start_rms = c.name, _rms(c.out)
            break
    m.forward_gain = m.last_hidden_rms / start_rms if start_rms > 0 else math.inf
    m.forward_gain_full = m.last_hidden_rms / m.input_rms if m.input_rms > 0 else math.inf
    m.constant_layers = [c.name for c in weight_calls if c.inp is not None and c is not readout
                         and _constant(c.module)]
    m.correlation = _mean_correlation(y)

    # Activations: dead ReLU units, saturated tanh/sigmoid outputs.
    dead: list[float] = []
    saturated: list[float] = []
    for _, kind, a in acts:
        if kind == "ReLU":
            dead.append(float((_units(a) <= 0).all(dim=0).double().mean()))
        else:
            slope = 1 - a.pow(2) if kind == "Tanh" else a * (1 - a)
            saturated.append(float((slope.abs() < SATURATION_SLOPE).double().mean()))
    m.dead = sum(dead) / len(dead) if dead else math.nan
    m.saturated = sum(saturated) / len(saturated) if saturated else math.nan

    # Layer gains, peers and outliers.
    first: dict[str, _Call] = {}
    for c in weight_calls:
        if c.inp is not None and c.out is not None and c.name not in first:
            first[c.name] = c
    for name, c in first.items():
        assert c.inp is not None and c.out is not None
        rin = _rms(c.inp)
        if rin > 0 and math.isfinite(rin):
            m.gains[name] = _rms(c.out) / rin
    groups: dict[tuple[Any, ...], list[str]] = {}
    for name in m.gains:
        module = first[name].module
        weight = module._parameters.get("weight")
        shape = tuple(weight.shape) if weight is not None else ()
        groups.setdefault((re.sub(r"\d+", "#", name), shape, type(module).__name__), []).append(name)
    norm_inputs = {id(c.inp) for c in calls if _is_norm(c.module) and c.inp is not None}
    for members in groups.values():
        if len(members) < 3:
            continue
        logs = sorted(math.log(m.gains[n]) for n in members if m.gains[n] > 0 and math.isfinite(m.gains[n]))
        if len(logs) < 3:
            continue
        median = logs[len(logs) // 2] if len(logs) % 2 else 0.5 * (logs[len(logs) // 2 - 1] + logs[len(logs) // 2])
        for n in members:
            g = m.gains[n]
            if g > 0 and math.isfinite(g) and abs(math.log(g) - median) > math.log(OUTLIER):
                m.outliers[n] = g / math.exp(median)
                if id(first[n].out) in norm_inputs:
                    m.absorbed.append(n)

    # Language models: the loss of the initial logits on random targets.
    if vocab is not None and output.shape[-1] == vocab:
        gen = torch.Generator().manual_seed(seed)
        logits = output.detach().reshape(-1, vocab).double()
        targets = torch.randint(0, vocab, (logits.shape[0],), generator=gen)
        m.lm_loss = float(F.cross_entropy(logits, targets))
        m.log_vocab = math.log(vocab)
        m.logit_std = float(logits.std())

    # Backward: L = <u, y> with u ~ N(0, I).
    gen = torch.Generator().manual_seed(seed + 1)
    u = torch.randn(y.shape, generator=gen, dtype=y.dtype)
    params = {c.name: p for c in weight_calls for p in c.module.parameters(recurse=False)
              if p.dim() >= 2 and p.requires_grad}
    if y.requires_grad and torch.isfinite(y.detach()).all():
        grads = torch.autograd.grad((u * y).sum(), [*inputs, *params.values()], allow_unused=True)
        input_grads, weight_grads = grads[:len(inputs)], grads[len(inputs):]
        squares = [float(g.double().pow(2).sum()) if g is not None else 0.0 for g in input_grads]
        m.jacobian_zero = sum(squares) == 0.0
        u_sq = float(u.double().pow(2).sum())  # self-normalized: exact for an orthogonal J
        m.msv = squares[0] / u_sq
        m.k2 = sum(sq / u_sq * _rms(t) ** 2 for sq, t in zip(squares, inputs, strict=True))
        m.k2 = m.k2 / m.last_hidden_rms**2 if m.last_hidden_rms > 0 else math.inf
        m.gradient_norms = {n: float(g.norm()) if g is not None else 0.0
                            for n, g in zip(params, weight_grads, strict=True)}
        norms = [v for v in m.gradient_norms.values() if v > 0]
        if len(norms) >= 2:
            m.gradient_ratio = norms[0] / norms[-1]
        gx = input_grads[0]
        if model_input is not None and gx is not None and any(isinstance(c.module, nn.RNNBase) and c.inp is not None
                                                              and c.inp is model_input for c in calls):
            per_step = gx.detach().double().pow(2).sum(dim=(0, 2)).sqrt()  # batch_first (B, T, D)
            m.temporal_ratio = float(per_step[0] / per_step[-1]) if per_step[-1] > 0 else math.inf
    elif not y.requires_grad:
        m.jacobian_zero = True
        m.msv = m.k2 = 0.0
    return m


def label(m: Measurement) -> Verdict:
    """Apply the rules of the module docstring, in order."""
    if m.nonfinite_parameters:
        return Verdict("broken", _layer_of(m.nonfinite_parameters[0]), f"non-finite {m.nonfinite_parameters[0]}")
    if m.nonfinite_activations:
        return Verdict("exploding", None, f"non-finite activations from {m.nonfinite_activations[0]}")
    if m.jacobian_zero and m.constant_layers:
        return Verdict("collapsed", m.constant_layers[0], f"J = 0; constant weights in {m.constant_layers[0]}")
    if m.dead > DEAD:
        return Verdict("dead", None, f"dead {m.dead:.2f}")
    if m.jacobian_zero or m.k2 < ORDERED_K2 or m.correlation > COLLAPSE_CORR:
        why = "J = 0" if m.jacobian_zero else f"K² {m.k2:.3g}, corr {m.correlation:.4f}"
        return Verdict("collapsed", None, why)
    if BOUNDED[0] <= m.forward_gain <= BOUNDED[1] and m.k2 > CHAOS_K2:
        return Verdict("chaotic", None, f"K² {m.k2:.3g} with F {m.forward_gain:.3g}")
    if m.saturated > SATURATED:
        return Verdict("saturated", None, f"saturated {m.saturated:.2f}")
    live = {n: f for n, f in m.outliers.items() if n not in m.absorbed}
    if live:
        explained = abs(math.log(m.forward_gain) - sum(math.log(f) for f in live.values())) <= math.log(DECADE)
        if explained:
            worst = max(live, key=lambda n: abs(math.log(live[n])))
            return Verdict("inconsistent", worst, f"gain {live[worst]:.3g}× its peers' median")
    if m.forward_gain > DECADE:
        return Verdict("exploding", None, f"F {m.forward_gain:.3g} from {m.segment_start}")
    if m.forward_gain < 1 / DECADE:
        return Verdict("vanishing", None, f"F {m.forward_gain:.3g} from {m.segment_start}")
    if m.lm_loss > m.log_vocab + LM_EXCESS_NATS:
        return Verdict("exploding", None, f"initial loss {m.lm_loss:.3g} > log V + 1 = {m.log_vocab + 1:.3g} "
                                          f"(logit std {m.logit_std:.3g})")
    if m.temporal_ratio < 1 / TEMPORAL:
        return Verdict("vanishing", None, f"r_T {m.temporal_ratio:.3g}")
    if m.temporal_ratio > TEMPORAL:
        return Verdict("exploding", None, f"r_T {m.temporal_ratio:.3g}")
    if live:
        worst = max(live, key=lambda n: abs(math.log(live[n])))
        return Verdict("inconsistent", worst, f"gain {live[worst]:.3g}× its peers' median")
    return Verdict("healthy", None, f"F {m.forward_gain:.3g}, K² {m.k2:.3g}, corr {m.correlation:.3f}")


def _layer_of(parameter: str) -> str:
    return parameter.rsplit(".", 1)[0] if "." in parameter else parameter


def ground_truth(model: nn.Module, sample: Sequence[Any], *, vocab: int | None = None) -> tuple[Verdict, Measurement]:
    """:func:`measure` then :func:`label`."""
    m = measure(model, sample, vocab=vocab)
    return label(m), m
