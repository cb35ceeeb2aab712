"""With data: how the signal propagates forward, and how gradients flow back, at initialization.

:func:`signal_propagation` records, with forward hooks in execution order, every weight layer's, activation
module's and normalization layer's output statistics, and diagnoses the model from the slope of the
log-variance of the weight layers' outputs over depth.

:func:`gradient_flow` is the notebook's gradient-flow analysis in PyTorch (random-normal inputs and uniform
targets with a mean-squared error by default; per weight matrix the gradient norm; min/max/mean/std; vanished
``< 1e-6`` and weak ``< 1e-4`` counts; the 0–10 health score with the notebook's exact rubric), plus a
scale-free score that depends on ratios only and therefore not on the loss scale.

:func:`dynamics` does both in a single forward and backward pass. None of them changes the model: parameters,
buffers (BatchNorm running statistics), train/eval flags, hooks, ``.grad`` and the RNG state are as before.
"""

from __future__ import annotations

import math
import statistics as pystats
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightInitError
from ..graph import call_model, trace
from ..initializers._common import check_module
from ._state import preserved_state, read_only
from .topology import layer_infos

__all__ = ["dynamics", "gradient_flow", "notebook_health_score", "relative_health_score", "signal_propagation"]

VANISHED = 1e-6
WEAK = 1e-4
_DEAD_ACTS = ("relu",)
_SATURATING = {"tanh": (-0.99, 0.99), "sigmoid": (0.01, 0.99)}
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def notebook_health_score(min_g: float, max_g: float, mean_g: float, std_g: float, vanished: int) -> int:
    """The notebook's 0–10 gradient health score, exactly.

    +3 no vanished layer (+1 if at most one); +3 min gradient > 1e-5 (+1 if > 1e-6); +2 max gradient < 10
    (+1 if < 100); +2 std of the gradient norms < their mean.
    """
    score = 0
    if vanished == 0:
        score += 3
    elif vanished <= 1:
        score += 1
    if min_g > 1e-5:
        score += 3
    elif min_g > 1e-6:
        score += 1
    if max_g < 10:
        score += 2
    elif max_g < 100:
        score += 1
    if std_g < mean_g:
        score += 2
    return score


def relative_health_score(relative: np.ndarray) -> int:
    """The notebook's rubric on loss-scale-free numbers ``r_l / median(r)``, ``r_l = ‖∇W_l‖ / ‖W_l‖``.

    +3 no layer below 1e-3 of the median (+1 if at most one); +3 min > 1e-2 (+1 if > 1e-3); +2 max < 1e2
    (+1 if < 1e3); +2 std < mean.
    """
    vanished = int((relative < 1e-3).sum())
    lo, hi = float(relative.min()), float(relative.max())
    score = 3 if vanished == 0 else 1 if vanished <= 1 else 0
    score += 3 if lo > 1e-2 else 1 if lo > 1e-3 else 0
    score += 2 if hi < 1e2 else 1 if hi < 1e3 else 0
    score += 2 if float(relative.std()) < float(relative.mean()) else 0
    return score


def _first_tensor(out: Any) -> torch.Tensor | None:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        for o in out:
            t = _first_tensor(o)
            if t is not None:
                return t
    if isinstance(out, dict):
        for o in out.values():
            t = _first_tensor(o)
            if t is not None:
                return t
    return None


def _output_stats(y: torch.Tensor, act: str | None) -> dict[str, float]:
    y = y.detach()
    if not y.is_floating_point():
        return {}
    y = y.float()
    var, mean = torch.var_mean(y, correction=0) if y.numel() else (torch.tensor(math.nan), torch.tensor(math.nan))
    out = {"mean": float(mean), "variance": float(var), "frac_dead": math.nan, "frac_saturated": math.nan,
           "nonfinite": float((~torch.isfinite(y)).sum()) if not torch.isfinite(var) else 0.0}
    if act in _DEAD_ACTS or act == "relu6":
        per_example = y.reshape(y.shape[0], -1) if y.dim() > 1 else y.reshape(1, -1)
        out["frac_dead"] = float((per_example == 0).all(dim=0).float().mean())
    if act in _SATURATING:
        lo, hi = _SATURATING[act]
        out["frac_saturated"] = float(((y <= lo) | (y >= hi)).float().mean())
    return out


def _broadcasts(targets: Any, output: torch.Tensor) -> bool:
    if not isinstance(targets, torch.Tensor):
        return False
    # numpy's broadcasting rule, which torch's elementwise loss follows: trailing dims equal or 1.
    return all(a == b or 1 in (a, b) for a, b in zip(reversed(targets.shape), reversed(output.shape), strict=False))


def _describe(value: Any) -> str:
    """A short description of an argument for error messages: tensors by shape and dtype."""
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)} ({value.dtype})"
    if isinstance(value, tuple):
        return "(" + ", ".join(_describe(v) for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_describe(v)}" for k, v in value.items()) + "}"
    return f"{type(value).__name__} {value!r}"[:200]


def _diagnose(layers: dict[str, dict[str, Any]]) -> tuple[str, float]:
    """Diagnosis and least-squares slope of ``log variance`` per weight layer over depth.

    ``exploding``/``vanishing`` when the fitted trend changes the variance by more than 100× over the depth
    (the std by 10×), or when any output is not finite; ``dead`` when on average more than half of the ReLU
    outputs are zero for the whole batch; ``saturated`` when more than half of the tanh/sigmoid outputs are
    within 0.01 of their bounds.
    """
    if any(v.get("nonfinite", 0) > 0 for v in layers.values()):
        return "exploding", math.inf
    weights = [v["variance"] for v in layers.values() if v["kind"] == "weight" and v["variance"] > 0]
    slope = 0.0
    if len(weights) >= 2:
        y = np.log(np.asarray(weights, dtype=np.float64))
        x = np.arange(len(y), dtype=np.float64)
        slope = float(np.polyfit(x, y, 1)[0])
    acts = [v for v in layers.values() if v["kind"] == "activation"]
    pool = acts or [v for v in layers.values() if v["kind"] == "weight"]
    dead = [v["frac_dead"] for v in pool if not math.isnan(v.get("frac_dead", math.nan))]
    sat = [v["frac_saturated"] for v in pool if not math.isnan(v.get("frac_saturated", math.nan))]
    if dead and pystats.fmean(dead) > 0.5:
        return "dead", slope
    if sat and pystats.fmean(sat) > 0.5:
        return "saturated", slope
    total = slope * max(len(weights) - 1, 1)
    if total > math.log(100.0):
        return "exploding", slope
    if total < -math.log(100.0):
        return "vanishing", slope
    return "healthy", slope


def _default_targets(output: torch.Tensor, seed: int) -> torch.Tensor:
    gen = torch.Generator(device=output.device).manual_seed(seed)
    return torch.rand(output.shape, generator=gen, device=output.device, dtype=output.dtype)


def _gradient_summary(norms: dict[str, float], wnorms: dict[str, float], loss: float) -> dict[str, Any]:
    values = list(norms.values())
    arr = np.asarray(values, dtype=np.float64)
    min_g = float(arr.min()) if values else 0.0
    max_g = float(arr.max()) if values else 0.0
    mean_g = float(arr.mean()) if values else 0.0
    std_g = float(arr.std()) if values else 0.0
    vanished = sum(1 for g in values if g < VANISHED)
    weak = sum(1 for g in values if g < WEAK)
    ratios = {n: norms[n] / wnorms[n] for n in norms if wnorms[n] > 0 and math.isfinite(norms[n])}
    positive = [r for r in ratios.values() if r > 0]
    median = pystats.median(positive) if positive else 0.0
    relative = {n: (r / median if median > 0 else math.nan) for n, r in ratios.items()}
    rel = np.asarray([r for r in relative.values() if not math.isnan(r)], dtype=np.float64)
    sf_vanished = int((rel < 1e-3).sum())
    scale_free = relative_health_score(rel) if rel.size else 0
    return {
        "gradient_norms": norms,
        "min_gradient": min_g,
        "max_gradient": max_g,
        "mean_gradient": mean_g,
        "std_gradient": std_g,
        "vanished_layers": vanished,
        "weak_layers": weak,
        "loss": loss,
        "total_layers": len(values),
        "health_score": notebook_health_score(min_g, max_g, mean_g, std_g, vanished),
        "scale_free_score": scale_free,
        "gradient_to_weight_ratios": ratios,
        "relative_ratios": relative,
        "relatively_vanished_layers": sf_vanished,
    }


@read_only
def dynamics(
    model: nn.Module,
    inputs: Any,
    targets: torch.Tensor | None = None,
    loss_fn: LossFn | None = None,
    *,
    signal: bool = True,
    gradients: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Signal propagation and gradient flow from one forward (and one backward) pass.

    Returns ``{"signal": ..., "gradients": ...}`` as :func:`signal_propagation` and :func:`gradient_flow`.
    """
    check_module("model", model)
    try:
        graph = trace(model, inputs)
    except WeightInitError as error:
        cause = error.__cause__ if error.__cause__ is not None else error
        raise WeightInitError(
            f"The model's forward pass on `inputs` raised {type(cause).__name__}: {cause}. `inputs` must be what "
            f"the model's forward takes (a tensor, a tuple of positional arguments or a dict of keyword "
            f"arguments). Received: {_describe(inputs)}"
        ) from cause
    infos, _ = layer_infos(model, graph)
    names = {id(m): n for n, m in model.named_modules()}
    params = dict(model.named_parameters())
    weight_modules = {layer.module for layer in graph.weights.values()}
    acts = {node.module if node.attrs.get("module_inputs") is None else node.detail: node.attrs["activation"]
            for node in graph.nodes if node.kind == "act"}
    order: list[str] = []
    records: dict[str, dict[str, Any]] = {}

    def hook(module: nn.Module, _args: Any, out: Any) -> None:
        name = names[id(module)]
        if name in order or name in records:
            return
        if name in weight_modules:
            order.append(name)
        if not signal:
            return
        y = _first_tensor(out)
        if y is None:
            return
        if name in weight_modules:
            info = infos.get(name)
            act = info.output_activation if info is not None else None
            stats = _output_stats(y, None)
            if act in ("relu", "tanh", "sigmoid"):  # the activation that follows, applied to this output
                after = _output_stats(_apply_act(y, act), act)
                stats["frac_dead"], stats["frac_saturated"] = after["frac_dead"], after["frac_saturated"]
            records[name] = {"kind": "weight", "module_type": type(module).__name__, **stats}
        elif graph.module_kinds.get(name) == "act":
            records[name] = {"kind": "activation", "module_type": type(module).__name__,
                             **_output_stats(y, acts.get(name, (None,))[0])}
        else:
            records[name] = {"kind": "norm", "module_type": type(module).__name__, **_output_stats(y, None)}

    watched = [m for n, m in model.named_modules() if m is not model and (
        n in weight_modules or (signal and n in graph.module_kinds))]
    handles = [m.register_forward_hook(hook) for m in watched]
    result: dict[str, Any] = {}
    try:
        with preserved_state(model):
            torch.set_grad_enabled(gradients)
            try:
                raw_output = call_model(model, inputs)
            except Exception as error:
                raise WeightInitError(
                    f"The model's forward pass on `inputs` raised {type(error).__name__}: {error}. `inputs` must "
                    f"be what the model's forward takes (a tensor, or a tuple of positional arguments). "
                    f"Received: {_describe(inputs)}"
                ) from error
            output = _first_tensor(raw_output)
            if output is None:
                raise WeightInitError("The model returned no tensor; gradient_flow needs a tensor output")
            if gradients:
                layer_names = order + [n for n in infos if n not in order]
                weights = [w for n in layer_names if n in infos for w in infos[n].weight_names
                           if w in params and params[w].requires_grad]
                tgt = _default_targets(output, seed) if targets is None else targets
                if loss_fn is None and not _broadcasts(tgt, output):
                    raise WeightInitError(
                        "Argument `targets` must be a tensor of the output's shape "
                        f"{tuple(output.shape)} for the default MSE loss (or pass `loss_fn`). "
                        f"Received: {_describe(tgt)}"
                    )
                loss = (loss_fn or F.mse_loss)(output, tgt)
                grads = torch.autograd.grad(loss, [params[w] for w in weights], allow_unused=True)
                norms = {w: (float(torch.linalg.vector_norm(g)) if g is not None else 0.0)
                         for w, g in zip(weights, grads, strict=True)}
                wnorms = {w: float(torch.linalg.vector_norm(params[w].detach())) for w in weights}
                result["gradients"] = _gradient_summary(norms, wnorms, float(loss.detach()))
    finally:
        for h in handles:
            h.remove()
    if signal:
        diagnosis, slope = _diagnose(records)
        result["signal"] = {"layers": records, "diagnosis": diagnosis, "log_variance_slope": slope}
    return result


def _apply_act(y: torch.Tensor, act: str | None) -> torch.Tensor:
    if act == "relu":
        return torch.relu(y)
    if act == "tanh":
        return torch.tanh(y)
    if act == "sigmoid":
        return torch.sigmoid(y)
    return y


def signal_propagation(model: nn.Module, inputs: Any) -> dict[str, Any]:
    """Per layer in execution order: output ``mean``, ``variance``, ``frac_dead`` (ReLU outputs zero for the
    whole batch), ``frac_saturated`` (tanh/sigmoid within 0.01 of a bound), and the model's ``diagnosis``
    (``healthy | vanishing | exploding | saturated | dead``) with the fitted ``log_variance_slope``.

    Weight layers followed by a functional activation (``F.relu`` in ``forward``) get ``frac_dead`` and
    ``frac_saturated`` of that activation applied to their output (exact unless a norm layer sits in between).
    """
    return dict(dynamics(model, inputs, signal=True, gradients=False)["signal"])


def gradient_flow(
    model: nn.Module,
    inputs: Any,
    targets: torch.Tensor | None = None,
    loss_fn: LossFn | None = None,
    *,
    seed: int = 0,
) -> dict[str, Any]:
    """The notebook's gradient-flow analysis, plus a loss-scale-free score.

    Args:
        model: any ``nn.Module`` (left exactly as it was; ``.grad`` is not touched).
        inputs: a batch (tensor or tuple of positional arguments). The notebook uses ``randn(100, 784)``.
        targets: defaults to ``U(0, 1)`` of the output's shape (seeded), as the notebook.
        loss_fn: defaults to the mean-squared error, as the notebook.
        seed: seed of the default targets.

    Returns:
        ``gradient_norms`` (per weight matrix, execution order), ``min_gradient``, ``max_gradient``,
        ``mean_gradient``, ``std_gradient`` (population std, as ``np.std``), ``vanished_layers`` (< 1e-6),
        ``weak_layers`` (< 1e-4), ``loss``, ``total_layers``, ``health_score`` (the notebook's rubric, see
        :func:`notebook_health_score`), and the scale-free variant: ``gradient_to_weight_ratios``
        ``r_l = ‖∇W_l‖/‖W_l‖``, ``relative_ratios`` ``r_l / median(r)``, and ``scale_free_score``
        (:func:`relative_health_score`, the same rubric with thresholds relative to the median).
        Multiplying the loss by any constant (sum instead of mean reduction, 1000×) multiplies every ``r_l``
        by it and leaves ``scale_free_score`` unchanged; the notebook's absolute thresholds do not.
    """
    return dict(dynamics(model, inputs, targets, loss_fn, signal=False, gradients=True, seed=seed)["gradients"])
