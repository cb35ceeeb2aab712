"""Layer-sequential unit-variance initialization (Mishkin & Matas, 2016), calibrated in one forward pass."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from ..errors import WeightInitError
from ..graph import ModelGraph, call_model, trace
from ..initializers import orthogonal_, zeros_
from ..initializers._common import check_choice, check_module, integer, positive
from ..normalization import normalization_of
from ..normalization._select import Patterns, select_layers
from ..schemes.seeding import draw_seed, keyed_generator
from ._session import DataLike, calibration_session, prepare_batch

__all__ = ["LSUV_LAYERS", "LSUVReport", "LayerCalibration", "Statistic", "lsuv_init"]

logger = logging.getLogger("weight_initialization_system")

Statistic = Literal["std", "second_moment"]

#: The layers LSUV calibrates. ``nn.MultiheadAttention`` is one unit: its output is measured and its
#: ``out_proj`` weight scaled (attention applies ``out_proj`` functionally, so a hook on it never fires).
LSUV_LAYERS: tuple[type[nn.Module], ...] = (nn.Linear, nn.modules.conv._ConvNd, nn.MultiheadAttention)


@dataclass(frozen=True)
class LayerCalibration:
    """The calibration of one layer, measured on its output for the calibration batch.

    Attributes:
        name: qualified module name.
        module_type: class name.
        std_before: output std after the orthogonal pre-init, before any scaling.
        std_after: output std once calibrated.
        statistic_before: the calibrated statistic (std or mean of squares) before scaling.
        statistic_after: the same after scaling.
        iterations: weight rescalings applied (0 when already within tolerance).
        converged: whether ``|statistic_after - target| <= tol``.
        scale: product of the factors applied to the weight.
        trace: the statistic after each iteration, ``trace[0]`` being the value before scaling.
        note: why a layer was left as it was (zero output, non-rescalable parametrization, ...).
    """

    name: str
    module_type: str
    std_before: float
    std_after: float
    statistic_before: float
    statistic_after: float
    iterations: int
    converged: bool
    scale: float
    trace: tuple[float, ...]
    note: str = ""


@dataclass(frozen=True)
class LSUVReport:
    """What :func:`lsuv_init` did, one :class:`LayerCalibration` per layer in the order the forward reached them.

    Attributes:
        statistic: ``'std'`` or ``'second_moment'``.
        target: the value the statistic was driven to (``target_std`` or ``target_std**2``).
        tol: the tolerance on the statistic.
        layers: calibrated layers.
        unreached: selected layers whose forward hook never fired (not called by the forward pass).
    """

    statistic: str
    target: float
    tol: float
    layers: tuple[LayerCalibration, ...] = field(default_factory=tuple)
    unreached: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n_converged(self) -> int:
        """How many layers ended within tolerance."""
        return sum(layer.converged for layer in self.layers)

    @property
    def converged(self) -> bool:
        """Every selected layer was reached and ended within tolerance."""
        return not self.unreached and self.n_converged == len(self.layers)

    def __getitem__(self, name: str) -> LayerCalibration:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"No calibrated layer {name!r}. Calibrated: {[layer.name for layer in self.layers]}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists and floats), e.g. for JSON."""
        return asdict(self)


def _calibrated_layers(graph: ModelGraph) -> frozenset[str]:
    """Modules whose own forward is one linear map of the signal (``nn.Linear``, convolutions, HF ``Conv1D``,
    ``nn.MultiheadAttention`` as a whole): their output is the statistic LSUV sets, and scaling their weight
    scales it. Not calibrated: embeddings (a lookup), expert banks (no module per expert), a readout that
    reuses a tied embedding (rescaling it would rescale the embedding), recurrent layers."""
    return frozenset(
        layer.module for layer in graph.weights.values()
        if layer.op == "attention_in" or (layer.op in ("linear", "conv", "conv_transpose")
                                          and layer.module_scope == layer.module)
    )


def _primary(output: Any) -> torch.Tensor | None:
    """The tensor a layer's output is measured on (the first one of a tuple, e.g. attention's output)."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    return None


def _scaled_module(module: nn.Module) -> nn.Module:
    return module.out_proj if isinstance(module, nn.MultiheadAttention) else module


def _scalable(module: nn.Module) -> tuple[torch.Tensor | None, str]:
    """The tensor whose scaling scales the layer's output weight: the weight, or ``g`` of a weight norm."""
    target = _scaled_module(module)
    kinds = normalization_of(target, "weight")
    if not kinds:
        return target.weight, ""  # type: ignore[return-value]
    if kinds == ["weight_norm"]:
        return target.parametrizations.weight.original0, ""  # type: ignore[union-attr, return-value]
    return None, f"weight parametrized by {kinds}, which a rescaling cannot change"


def _orthogonal_preinit(name: str, module: nn.Module, seed: int) -> None:
    """Orthonormal weights (Saxe et al., 2014) and zero biases, drawn from generators keyed by parameter name."""

    def draw(tensor: torch.Tensor, key: str) -> None:
        orthogonal_(tensor, generator=keyed_generator(seed, f"{name}.{key}" if name else key, tensor.device))

    if isinstance(module, nn.MultiheadAttention):
        if module.in_proj_weight is not None:
            for i, block in enumerate(module.in_proj_weight.detach().chunk(3)):  # q, k, v: separate maps
                draw(block, f"in_proj_weight.{i}")
        else:
            for key in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                draw(getattr(module, key), key)
        if module.in_proj_bias is not None:
            zeros_(module.in_proj_bias)
        prefix = "out_proj."
    else:
        prefix = ""
    target = _scaled_module(module)
    if normalization_of(target, "weight"):
        return  # a parametrized weight is left to its parametrization
    draw(target.weight, prefix + "weight")  # type: ignore[arg-type]
    if getattr(target, "bias", None) is not None:
        zeros_(target.bias)  # type: ignore[arg-type]


#: Forwards whose output is exactly ``conv(x, W) + b`` / ``x Wᵀ + b`` (attention: in ``out_proj``'s weight),
#: so that scaling W by s turns an output y into ``s (y - b) + b`` without running the layer again.
_AFFINE_FORWARDS = frozenset(
    cls.forward
    for cls in (
        nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
        nn.MultiheadAttention,
    )
)


def _bias_view(module: nn.Module, y: torch.Tensor) -> torch.Tensor | None:
    """The layer's bias shaped to broadcast against its output ``y`` (channels on dim 1, or 0 unbatched)."""
    target = _scaled_module(module)
    bias: torch.Tensor | None = getattr(target, "bias", None)
    if bias is None or isinstance(target, nn.Linear):
        return bias
    weight: torch.Tensor = target.weight  # type: ignore[assignment]
    channel_dim = 1 if y.dim() == weight.dim() else 0
    return bias.view(-1, *([1] * (y.dim() - channel_dim - 1)))


def _with_primary(output: Any, y: torch.Tensor) -> Any:
    if isinstance(output, torch.Tensor):
        return y
    return type(output)((y, *output[1:]))


class _Calibrator:
    """The forward hook of one layer: on the first call, rescale until the statistic is within tolerance and
    hand the corrected output to the rest of the model.

    For torch's own Linear / Conv / ConvTranspose / MultiheadAttention forwards the output after scaling the
    weight by ``s`` is exactly ``s (y - b) + b``, an elementwise update; any other forward (a subclass that
    overrides it) is re-run on the cached input instead. Either way only this layer is involved.
    """

    def __init__(
        self, name: str, module: nn.Module, statistic: str, target: float, tol: float, target_std: float,
        max_iters: int, records: list[LayerCalibration],
    ) -> None:
        self.name, self.module, self.statistic, self.target, self.tol = name, module, statistic, target, tol
        self.target_std, self.max_iters, self.records = target_std, max_iters, records
        self.fired = False
        self.degenerate = ""

    def _measure(self, y: torch.Tensor) -> tuple[float, float]:
        """``(std, statistic)`` of an output."""
        y = y.float()
        std = float(y.std())
        return std, std if self.statistic == "std" else float(y.square().mean())

    def _factor(self, value: float) -> float:
        return self.target_std / (value if self.statistic == "std" else math.sqrt(value))

    def __call__(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Any:
        if self.fired:
            return None  # shared module: calibrated on its first call
        self.fired = True
        y = _primary(output)
        if y is None or y.numel() < 2:
            self.degenerate = "its output is not a tensor with at least 2 elements"
            return None
        tensor, note = _scalable(module)
        std0, value = self._measure(y)
        std = std0
        trace = [value]
        scale = 1.0
        iterations = 0
        if not math.isfinite(value) or std0 == 0.0:
            note = f"output std is {std0}: nothing to rescale"
            self.degenerate = note
        affine = type(module).forward in _AFFINE_FORWARDS
        bias = _bias_view(module, y) if affine else None
        z = y if bias is None else y - bias
        while tensor is not None and not note and abs(value - self.target) > self.tol and iterations < self.max_iters:
            factor = self._factor(value)
            tensor.mul_(factor)
            scale *= factor
            iterations += 1
            if affine:
                y = z * scale if bias is None else torch.add(bias, z, alpha=scale)
                output = _with_primary(output, y)
            else:
                output = module.forward(*args, **kwargs)
                rerun = _primary(output)
                if rerun is None:
                    note = "its forward stopped returning a tensor when re-run"
                    break
                y = rerun
            std, value = self._measure(y)
            trace.append(value)
            if not math.isfinite(value) or value == 0.0:
                note = f"statistic became {value} after rescaling"
        self.records.append(
            LayerCalibration(
                name=self.name,
                module_type=type(module).__name__,
                std_before=std0,
                std_after=std,
                statistic_before=trace[0],
                statistic_after=value,
                iterations=iterations,
                converged=abs(value - self.target) <= self.tol,
                scale=scale,
                trace=tuple(trace),
                note=note,
            )
        )
        return output if iterations else None


def lsuv_init(
    model: nn.Module,
    data: DataLike,
    *,
    target_std: float = 1.0,
    tol: float = 0.1,
    max_iters: int = 10,
    orthogonal_preinit: bool = True,
    include: Patterns = None,
    exclude: Patterns = None,
    seed: int | None = None,
    statistic: Statistic = "std",
    mode: Literal["eval", "train"] = "eval",
    get_input: Callable[[Any], Any] | None = None,
) -> LSUVReport:
    """Layer-sequential unit-variance initialization (Mishkin & Matas, 2016), in one forward pass.

    Every covered layer (``Linear``, ``Conv*``, ``ConvTranspose*``, and ``MultiheadAttention`` through its
    ``out_proj``) gets an orthonormal weight and zero bias (Saxe et al., 2014; skip with
    ``orthogonal_preinit=False``), then its weight is scaled so that its output on the calibration batch
    has the target statistic:

    .. math::
        W \\leftarrow W \\cdot \\frac{\\text{target\\_std}}{\\operatorname{std}(W x + b)}
        \\quad\\text{until}\\quad \\bigl|\\operatorname{std}(W x + b) - \\text{target\\_std}\\bigr| \\le \\text{tol}

    at most ``max_iters`` times. The ``lsuv`` package re-runs the whole model for every layer and every
    correction (O(depth²) forwards). Here one forward calibrates every layer in execution order: a forward
    hook on each layer measures its output, rescales the weight, recomputes *only that layer's* output until
    within tolerance, and returns the corrected output, so every later layer is calibrated on the input it
    will really get. For torch's Linear / Conv / ConvTranspose / MultiheadAttention the recomputation is the
    exact identity :math:`y(sW) = s\\,(y - b) + b` (elementwise, no second convolution); a subclass with its
    own ``forward`` is re-run on its cached input. This works for any module graph (residual branches,
    attention, several inputs); a module called several times (shared) is calibrated on its first call.
    A weight-normed layer is scaled through ``g``; other parametrized weights are measured but not scaled
    (see ``note``).

    ``statistic="second_moment"`` is the variant of the initialization notebook: it drives
    :math:`\\mathbb{E}[y^2]` to ``target_std**2`` (scale :math:`\\text{target\\_std}/\\sqrt{\\mathbb{E}[y^2]}`);
    the notebook's table is ``lsuv_init(model, x, statistic="second_moment", tol=0.01, max_iters=10)`` with
    each layer's ``trace`` giving the value per iteration.

    The model runs under ``no_grad`` in eval mode (``mode="train"`` uses batch statistics in BatchNorm and
    active dropout), with the fused attention fast paths off so that hooks fire. Afterwards every module's
    mode, every buffer (BatchNorm running statistics) and the user's hooks are as before; only the covered
    layers' weights (and, with the pre-init, their biases) changed.

    Args:
        model: any ``nn.Module``.
        data: a tensor (``model(x)``), a tuple/list (``model(*data)``), a dict (``model(**data)``), or a
            ``DataLoader``/iterable of those, whose first batch is used (first element of ``(x, y)`` batches).
        target_std: the target output std (> 0).
        tol: tolerance on the statistic (> 0).
        max_iters: most rescalings per layer (>= 0).
        orthogonal_preinit: draw orthonormal weights and zero biases first (the paper's step 1).
        include: globs on module names to calibrate (default: every covered layer).
        exclude: globs on module names to leave alone.
        seed: seeds the pre-init (name-keyed generators; same seed, same weights). ``None`` draws one from
            torch's global generator, so ``torch.manual_seed`` governs the result.
        statistic: ``'std'`` (the paper) or ``'second_moment'`` (the notebook).
        mode: ``'eval'`` (default) or ``'train'`` mode for the calibration forward.
        get_input: maps a batch to the model's input (e.g. ``lambda b: b["image"]``).

    Returns:
        An :class:`LSUVReport` (per layer: std before/after, iterations, converged, trace).

    Raises:
        WeightInitError: bad arguments, empty data, no covered layer, or an error in the model's forward
            (the model is then exactly as before).

    Warns:
        UserWarning: for selected layers the forward never reached, and for layers whose output std is 0.

    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 10))
    >>> report = lsuv_init(model, torch.randn(256, 32), seed=0)
    >>> report.converged
    True
    """
    target_std = positive("target_std", target_std)
    tol = positive("tol", tol)
    integer("max_iters", max_iters, minimum=0)
    check_choice("statistic", statistic, ("std", "second_moment"))
    check_choice("mode", mode, ("eval", "train"))
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise WeightInitError(f"Argument `seed` must be an int or None. Received: seed={seed!r}")
    check_module("model", model)
    batch = prepare_batch("lsuv_init", model, data, get_input)
    out_projs = frozenset(id(m.out_proj) for m in model.modules() if isinstance(m, nn.MultiheadAttention))
    try:
        graph = trace(model, batch)
    except WeightInitError as error:  # the model rejects the batch: say so as the calibration would
        cause = error.__cause__ if error.__cause__ is not None else error
        raise WeightInitError(f"lsuv_init: the model's forward pass on the calibration batch raised "
                              f"{type(cause).__name__}: {cause}. The model was left unchanged.") from cause
    calibrated = _calibrated_layers(graph)
    layers = select_layers(model, (nn.Module,), include=include, exclude=exclude, skip=out_projs, names=calibrated)
    # torch layers the traced forward never used: reported as unreached, as are layers the calibration misses
    spare = tuple(name for name, _ in select_layers(model, LSUV_LAYERS, include=include, exclude=exclude,
                                                    skip=out_projs) if name not in calibrated)
    if not layers:
        raise WeightInitError(
            f"lsuv_init found no linear, convolution or attention layer to calibrate "
            f"(include={include!r}, exclude={exclude!r})."
        )
    seed = draw_seed() if seed is None else seed
    target = target_std if statistic == "std" else target_std**2

    records: list[LayerCalibration] = []
    calibrators = [
        _Calibrator(name, module, statistic, target, tol, target_std, max_iters, records)
        for name, module in layers
    ]
    protect = list({id(p): p for _, module in layers for p in module.parameters()}.values())
    handles = []
    try:
        with calibration_session("lsuv_init", model, train=mode == "train", protect=protect):
            if orthogonal_preinit:
                for name, module in layers:
                    _orthogonal_preinit(name, module, seed)
            for calibrator in calibrators:
                # prepend: the user's own forward hooks then see the corrected output
                handles.append(calibrator.module.register_forward_hook(calibrator, prepend=True, with_kwargs=True))
            call_model(model, batch)
    finally:
        for handle in handles:
            handle.remove()

    unreached = (*spare, *(c.name for c in calibrators if not c.fired))
    if unreached:
        warnings.warn(
            f"lsuv_init: the forward pass never called {list(unreached)}; they were not calibrated.", stacklevel=2
        )
    degenerate = [f"{c.name} ({c.degenerate})" for c in calibrators if c.degenerate]
    if degenerate:
        warnings.warn(f"lsuv_init: could not calibrate {degenerate}.", stacklevel=2)
    report = LSUVReport(statistic, target, tol, tuple(records), unreached)
    logger.info("lsuv_init: %d/%d layers within tolerance", report.n_converged, len(layers))
    return report
