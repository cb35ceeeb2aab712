"""The notebook's comparison of initializers, generalised: gradients, health scores, LSUV and real training.

The notebook (Keras) builds ``Dense(128)-Dense(64)-Dense(32)-Dense(16)-Dense(10, softmax)`` on 784 inputs with six
kernel initializers (tanh for Xavier and the random normals, ReLU for He), the output layer always Glorot
uniform (Keras' default) and zero biases; it measures per-layer gradient norms of ``mean((softmax(f(x)) - y)²)``
for ``x ~ N(0, 1)`` (100×784) and ``y ~ U(0, 1)``, then adds LSUV (ReLU, each hidden layer scaled until the
mean square of its output is within 0.01 of 1). :func:`notebook_comparison` reproduces exactly that in
PyTorch and adds what the notebook lacks: the same networks on 64 inputs trained for a few epochs on
scikit-learn's bundled digits, so that the health scores can be checked against real loss curves, and
repetition over seeds: every number is a mean ± std over ``seeds`` runs (each seed draws the weights, the
batch and the digits split), and methods whose means are within two combined standard errors are reported as
tied (:meth:`~.data.Comparison.leaders`) instead of one of them being named best by list order.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightInitError
from ..initializers._common import integer
from .collect import gradient_summary, histogram, quality_score
from .data import METHOD_METRICS, Comparison, MethodResult, SeedStat
from .training import load_digits_data, single_thread, train

__all__ = ["DEFAULT_SEEDS", "NOTEBOOK_SETUPS", "Setup", "compare_on_model", "notebook_comparison", "parse_methods"]

_HIDDEN = (128, 64, 32, 16)
_LSUV_SAMPLE = 1000
#: Runs per method by default: the fewest that give a standard deviation worth the name.
DEFAULT_SEEDS = 3


@dataclass(frozen=True)
class Setup:
    """One initializer in a comparison: a label, a method (registry name, ``auto`` or ``lsuv``) and arguments.

    ``activation`` is used where the comparison builds the network itself (the notebook's MLP).
    """

    label: str
    method: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    activation: str = "relu"


NOTEBOOK_SETUPS: tuple[Setup, ...] = (
    Setup("Random Normal (Bad)", "normal", {"std": 1.0}, "tanh"),
    Setup("Random Small", "normal", {"std": 0.01}, "tanh"),
    Setup("Xavier/Glorot Uniform", "xavier_uniform", {}, "tanh"),
    Setup("Xavier/Glorot Normal", "xavier_normal", {}, "tanh"),
    Setup("He Uniform", "kaiming_uniform", {"nonlinearity": "relu"}, "relu"),
    Setup("He Normal", "kaiming_normal", {"nonlinearity": "relu"}, "relu"),
    Setup("LSUV", "lsuv", {}, "relu"),
)

_RELU_FAMILY = ("kaiming_uniform", "kaiming_normal", "he_uniform", "he_normal", "lsuv", "auto")


def parse_methods(text: str) -> list[Setup]:
    """``"notebook"`` or ``"xavier_uniform,normal:std=0.01,lsuv"`` → setups (arguments as YAML scalars)."""
    import yaml

    from ..initializers import resolve_name

    setups: list[Setup] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item == "notebook":
            setups.extend(NOTEBOOK_SETUPS)
            continue
        name, *pairs = item.split(":")
        kwargs: dict[str, Any] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                raise WeightInitError(f"Method arguments are KEY=VALUE. Received: {item!r} (e.g. normal:std=0.01)")
            kwargs[key] = yaml.safe_load(value)
        if name not in ("lsuv", "auto"):
            name = resolve_name(name)
        activation = "relu" if name in _RELU_FAMILY else "tanh"
        setups.append(Setup(item, name, kwargs, activation))
    if not setups:
        raise WeightInitError(f"Argument `methods` names no method. Received: {text!r}")
    return setups


def _notebook_mlp(inputs: int, activation: str) -> nn.Sequential:
    from ..models import mlp

    return mlp(inputs, list(_HIDDEN), 10, activation=activation)  # type: ignore[arg-type]


def _init_notebook(model: nn.Sequential, setup: Setup, sample: torch.Tensor, seed: int) -> list[list[float]]:
    """Initialize like the notebook; returns LSUV's per-layer trace (empty for other methods)."""
    from ..data_dependent import lsuv_init
    from ..schemes import initialize_model

    output = f"{len(model) - 1}.*"
    initialize_model(model, "xavier_uniform", seed=seed, include=output)
    if setup.method == "lsuv":
        initialize_model(model, "xavier_uniform", seed=seed, exclude=output)
        report = lsuv_init(model, sample, statistic="second_moment", tol=0.01, max_iters=10,
                           orthogonal_preinit=False, exclude=str(len(model) - 1), seed=seed)
        return [list(layer.trace) for layer in report.layers]
    if setup.method == "auto":
        initialize_model(model, "auto", seed=seed, sample=sample, exclude=output)
    else:
        initialize_model(model, setup.method, seed=seed, exclude=output, **setup.kwargs)
    return []


def _notebook_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(output.softmax(-1), target)


def _hidden_weights(model: nn.Module) -> torch.Tensor:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return torch.cat([m.weight.detach().flatten() for m in linears[:-1] or linears])


def _result(setup: Setup, model: nn.Module, x: torch.Tensor, y: torch.Tensor | None,
            loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None) -> MethodResult:
    weights = _hidden_weights(model) if any(isinstance(m, nn.Linear) for m in model.modules()) else torch.cat(
        [p.detach().flatten() for p in model.parameters() if p.dim() >= 2])
    grads = gradient_summary(model, x, y, loss_fn)
    return MethodResult(
        label=setup.label, method=setup.method, activation=setup.activation, weights=histogram(weights),
        weight_mean=float(weights.mean()), weight_std=float(weights.std()), weight_min=float(weights.min()),
        weight_max=float(weights.max()), gradient_norms=grads.norms, loss=grads.loss, vanished=grads.vanished,
        weak=grads.weak, health=grads.health, scale_free_score=grads.scale_free, quality_score=quality_score(model))


def _seed_list(seed: int, seeds: int) -> list[int]:
    integer("seeds", seeds, minimum=2)  # one run has no standard deviation, so no tie can be judged
    return [seed + i for i in range(seeds)]


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def _columns(rows: Sequence[Sequence[float]]) -> list[float]:
    """Element-wise mean of equally long lists (per-layer gradients, per-epoch curves)."""
    return [_mean(column) for column in zip(*rows, strict=True)] if rows else []


def _aggregate(runs: Sequence[MethodResult], seeds: Sequence[int]) -> MethodResult:
    """One result per method: means over the runs (one per seed) and each metric's :class:`SeedStat`."""
    first = runs[0]
    per_seed: dict[str, list[float]] = {m: [] for m in METHOD_METRICS}
    for run in runs:
        for metric in METHOD_METRICS:
            found = run.stat(metric)
            if found is not None:
                per_seed[metric].append(found.mean)
    stats = {m: SeedStat.of(v) for m, v in per_seed.items() if len(v) == len(runs)}
    return MethodResult(
        label=first.label, method=first.method, activation=first.activation, weights=first.weights,
        weight_mean=first.weight_mean, weight_std=first.weight_std, weight_min=first.weight_min,
        weight_max=first.weight_max,
        gradient_norms=_columns([r.gradient_norms for r in runs]), loss=stats["loss"].mean,
        vanished=stats["vanished"].mean, weak=stats["weak"].mean, health=stats["health"].mean,
        scale_free_score=stats["scale_free_score"].mean, quality_score=stats["quality_score"].mean,
        train_loss=_columns([r.train_loss for r in runs]) if all(r.train_loss for r in runs) else [],
        test_accuracy=_columns([r.test_accuracy for r in runs]) if all(r.test_accuracy for r in runs) else [],
        lsuv_trace=first.lsuv_trace, seeds=list(seeds), stats=stats)


def _notebook_run(setup: Setup, seed: int, epochs: int) -> MethodResult:
    """One setup at one seed: the seed draws the gradient batch, LSUV's sample, the digits split and the weights."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(100, 784, generator=generator)
    y = torch.rand(100, 10, generator=generator)
    lsuv_sample = torch.randn(_LSUV_SAMPLE, 784, generator=generator)
    digits = load_digits_data(seed)
    model = _notebook_mlp(784, setup.activation)
    trace = _init_notebook(model, setup, lsuv_sample, seed)
    result = _result(setup, model, x, y, _notebook_loss)
    result.lsuv_trace = trace
    small = _notebook_mlp(digits.features, setup.activation)
    _init_notebook(small, setup, digits.x_train, seed)
    curve = train(small, digits, epochs=epochs, seed=seed)
    result.train_loss, result.test_accuracy = curve.train_loss, curve.test_accuracy
    return result


def notebook_comparison(
    setups: Sequence[Setup] = NOTEBOOK_SETUPS,
    *,
    seed: int = 0,
    seeds: int = DEFAULT_SEEDS,
    epochs: int = 8,
    on_step: Callable[[str], None] | None = None,
) -> Comparison:
    """The notebook's experiment on its 784-128-64-32-16-10 MLP, plus training on digits (64-128-...-10).

    Every setup runs once per seed ``seed, seed + 1, …, seed + seeds − 1``, and all setups see the same seeds;
    each seed draws the weights, the gradient batch (the notebook's 100 × 784, N(0, 1) inputs, U(0, 1) targets)
    and the digits split. The digits network has the same hidden widths and initialization and is trained with
    :func:`~.training.train` (plain SGD, lr 0.05, batch 64). Results are means ± std over the seeds.

    Args:
        setups: the initializers to compare.
        seed: the first seed.
        seeds: runs per setup (at least 2: the tie rule of :meth:`~.data.Comparison.leaders` needs a std).
        epochs: training epochs on digits.
        on_step: called with a description before each setup.
    """
    seed_list = _seed_list(seed, seeds)
    results = []
    with single_thread():
        for setup in setups:
            if on_step is not None:
                on_step(f"comparing: {setup.label}")
            results.append(_aggregate([_notebook_run(setup, s, epochs) for s in seed_list], seed_list))
    return Comparison(
        model="the notebook's MLP (784-128-64-32-16-10)", results=results, seeds=seed_list,
        training=(f"Training on scikit-learn's digits (1437 train / 360 test, 64 standardized features → "
                  f"128-64-32-16-10, same initialization): plain SGD, lr 0.05, batch 64, {epochs} epochs. "
                  f"Epoch 0 is the loss before training; curves are means over {len(seed_list)} seeds."),
        notes=["Gradients: one backward pass of mean((softmax(f(x)) − y)²), x ~ N(0, 1) of 100×784, y ~ U(0, 1), "
               "as in the notebook. Tanh for Xavier and the random normals, ReLU for He and LSUV; the output "
               "layer is Glorot uniform (Keras' default) in every model.",
               _seeds_note(seed_list)])


def _seeds_note(seed_list: Sequence[int]) -> str:
    return (f"Each method ran with seeds {seed_list[0]}–{seed_list[-1]} ({len(seed_list)} runs): numbers are "
            "mean ± std over them; methods whose means are within 2·√(s₁²/n + s₂²/n) tie.")


def compare_on_model(
    model: nn.Module,
    name: str,
    sample: Callable[[int, torch.Generator], Any] | None,
    setups: Sequence[Setup],
    *,
    seed: int = 0,
    seeds: int = DEFAULT_SEEDS,
    batch_size: int = 100,
    on_step: Callable[[str], None] | None = None,
) -> Comparison:
    """Each setup on copies of ``model`` (its own activations): gradient statistics and quality, no training.

    Every setup runs once per seed ``seed, …, seed + seeds − 1`` (the seed draws the weights and the sample
    batch); results are means ± std over the seeds. There is no training data for an arbitrary model, so the
    results have no loss curves (and the report shows no training columns).
    """
    from ..data_dependent import lsuv_init
    from ..schemes import initialize_model

    if sample is None:
        raise WeightInitError(f"compare needs a sample input for {name!r}; pass --input-shape")
    seed_list = _seed_list(seed, seeds)
    batches = {s: sample(batch_size, torch.Generator().manual_seed(s)) for s in seed_list}
    results = []
    for setup in setups:
        if on_step is not None:
            on_step(f"comparing: {setup.label}")
        runs = []
        for s in seed_list:
            x = batches[s]
            copy_ = copy.deepcopy(model)
            if setup.method == "lsuv":
                lsuv_init(copy_, x, seed=s, **setup.kwargs)
            elif setup.method == "auto":
                initialize_model(copy_, "auto", seed=s, sample=x, **setup.kwargs)
            else:
                initialize_model(copy_, setup.method, seed=s, **setup.kwargs)
            own = Setup(setup.label, setup.method, setup.kwargs, "model's own")
            runs.append(_result(own, copy_, x, None, None))
        results.append(_aggregate(runs, seed_list))
    return Comparison(model=name, results=results, seeds=seed_list,
                      notes=["Gradients: one backward pass of the notebook's default loss on a sample batch; "
                             "activations are the model's own. No training: there is no data set for an "
                             "arbitrary model.", _seeds_note(seed_list)])
