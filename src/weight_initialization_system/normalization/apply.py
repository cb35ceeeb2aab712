"""Model-level normalization: a weight parametrization on every covered layer, or norm layers inserted after
them inside ``nn.Sequential`` containers."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from torch import nn

from .._rollback import Restore, restore_all
from ..errors import WeightInitError
from ..graph import ModelGraph, trace
from ..initializers._common import check_choice
from ._select import Patterns, parent_of, select_layers
from .parametrizations import (
    _check_target,
    _module_restorer,
    normalization_of,
    orthogonal,
    spectral_norm,
    weight_norm,
    weight_norm_dim,
)

__all__ = ["COVERED_LAYERS", "InsertedNorm", "NormKind", "NormalizationReport", "apply_normalization"]

logger = logging.getLogger("weight_initialization_system")

NormKind = Literal["weight_norm", "spectral_norm", "orthogonal", "layer_norm", "batch_norm"]
_KINDS: tuple[str, ...] = ("weight_norm", "spectral_norm", "orthogonal", "layer_norm", "batch_norm")

#: The layers ``apply_normalization`` acts on: Linear (and subclasses) and every convolution, transposed too.
COVERED_LAYERS: tuple[type[nn.Module], ...] = (nn.Linear, nn.modules.conv._ConvNd)

_NORM_LAYERS: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
    *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()),
)


@dataclass(frozen=True)
class InsertedNorm:
    """A norm layer that :func:`apply_normalization` inserted.

    Attributes:
        name: its qualified name in the model after the insertion.
        after: the qualified name (after the insertion) of the layer it follows.
        module: its ``repr``, e.g. ``'BatchNorm1d(200, eps=1e-05, ...)'``.
    """

    name: str
    after: str
    module: str


@dataclass(frozen=True)
class NormalizationReport:
    """What :func:`apply_normalization` did.

    Attributes:
        kind: the normalization applied.
        applied: layers that got the parametrization (parametrization kinds).
        unchanged: layers that already had it, or already had a norm layer after them.
        skipped: layers left out, with the reason (e.g. ``orthogonal`` on a convolution).
        inserted: the norm layers inserted (``layer_norm`` / ``batch_norm``).
    """

    kind: str
    applied: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    inserted: list[InsertedNorm] = field(default_factory=list)


def _out_units(layer: nn.Module) -> int:
    if isinstance(layer, nn.Linear):
        return layer.out_features
    return int(layer.out_channels)  # type: ignore[arg-type]


def _make_norm(kind: str, layer: nn.Module) -> nn.Module:
    """BatchNorm{1,2,3}d over the output channels, or LayerNorm (GroupNorm(1, C) for convolutions, which is
    LayerNorm over ``(C, *spatial)``)."""
    units = _out_units(layer)
    spatial = len(layer.kernel_size) if isinstance(layer, nn.modules.conv._ConvNd) else 1  # type: ignore[arg-type]
    weight = layer.weight
    factory = {"device": weight.device, "dtype": weight.dtype}  # type: ignore[union-attr]
    if kind == "batch_norm":
        cls = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[spatial]
        return cls(units, **factory)  # type: ignore[arg-type]
    if isinstance(layer, nn.Linear):
        return nn.LayerNorm(units, **factory)  # type: ignore[arg-type]
    return nn.GroupNorm(1, units, **factory)  # type: ignore[arg-type]


def _norm_follows(graph: ModelGraph, name: str, container: nn.Sequential, index: int) -> bool:
    """Whether the layer's output is normalized before it reaches another weight layer (conv-relu-bn counts):
    read from the traced graph (any norm, by what it computes); for a model that cannot be traced, from the
    torch norm layers that follow it in its ``nn.Sequential``."""
    layer = graph.weights.get(f"{name}.weight" if name else "weight")
    if graph.traced and layer is not None:
        return layer.output == "norm"
    for child in list(container)[index + 1 :]:
        if isinstance(child, _NORM_LAYERS):
            return True
        if isinstance(child, COVERED_LAYERS):
            return False
    return False


def _insert_norms(model: nn.Module, plan: list[tuple[nn.Sequential, nn.Module, nn.Module]]) -> list[InsertedNorm]:
    by_container: dict[int, tuple[nn.Sequential, dict[int, nn.Module]]] = {}
    for container, layer, norm in plan:
        by_container.setdefault(id(container), (container, {}))[1][id(layer)] = norm
    suffix = "bn" if isinstance(plan[0][2], nn.modules.batchnorm._NormBase) else "ln"
    for container, norms in by_container.values():
        old = list(container._modules.items())
        numeric = [key for key, _ in old] == [str(i) for i in range(len(old))]
        items: list[tuple[str, nn.Module]] = []
        for key, child in old:
            items.append((key, child))  # type: ignore[arg-type]
            if child is not None and id(child) in norms:
                new_key = f"{key}_{suffix}"
                while new_key in container._modules:
                    new_key += "_"
                items.append((new_key, norms[id(child)]))
        if numeric:
            items = [(str(i), child) for i, (_, child) in enumerate(items)]
        container._modules = OrderedDict(items)  # type: ignore[assignment]
    names = {id(m): n for n, m in model.named_modules()}
    return [InsertedNorm(names[id(norm)], names[id(layer)], repr(norm)) for _, layer, norm in plan]


def apply_normalization(
    model: nn.Module, kind: NormKind, *, include: Patterns = None, exclude: Patterns = None
) -> NormalizationReport:
    """Normalize every Linear / Conv / ConvTranspose layer of ``model`` (those matched by ``include`` and not
    by ``exclude``, :mod:`fnmatch` globs on module names).

    Kinds:

    * ``weight_norm``: :func:`~.weight_norm` with one ``g`` per output unit (dim 0, dim 1 for transposed
      convolutions): :math:`w = g\\,v/\\lVert v\\rVert` (Salimans & Kingma, 2016). Outputs are unchanged.
    * ``spectral_norm``: :func:`~.spectral_norm`, :math:`W/\\sigma(W)` (Miyato et al., 2018).
    * ``orthogonal``: :func:`~.orthogonal` on 2-D weights; convolutions are reported as skipped.
    * ``batch_norm`` / ``layer_norm``: insert ``BatchNorm{1,2,3}d`` (Ioffe & Szegedy, 2015) or ``LayerNorm``
      (Ba et al., 2016; ``GroupNorm(1, C)`` after a convolution, i.e. LayerNorm over channels and space)
      right after each layer that sits in an ``nn.Sequential`` and is not already followed by a norm layer
      before the next covered layer. Numbered containers are renumbered (``'2'`` becomes ``'3'``, as
      :meth:`nn.Sequential.insert` does); named ones get ``'<name>_bn'`` / ``'<name>_ln'``. ``BatchNorm1d``
      after a ``Linear`` assumes ``(N, features)`` activations.

    Idempotent: what already has the normalization is listed under ``unchanged``. The attention
    ``out_proj`` inside ``nn.MultiheadAttention`` is covered by the parametrizations (attention reads the
    effective weight) but cannot be followed by a norm layer.

    Returns:
        A :class:`NormalizationReport`.

    Raises:
        WeightInitError: unknown ``kind``; a pattern that matches nothing; a layer already parametrized by
            another normalization; for ``batch_norm``/``layer_norm``, a selected layer whose parent is not an
            ``nn.Sequential`` (use ``exclude``). Everything is checked before the model is touched.

    >>> model = nn.Sequential(nn.Linear(100, 200), nn.ReLU(), nn.Linear(200, 100))
    >>> apply_normalization(model, "weight_norm").applied
    ['0', '2']
    """
    check_choice("kind", kind, _KINDS)
    layers = select_layers(model, COVERED_LAYERS, include=include, exclude=exclude)
    if not layers:
        raise WeightInitError(
            f"apply_normalization found no Linear/Conv/ConvTranspose layer to normalize "
            f"(include={include!r}, exclude={exclude!r})."
        )
    report = NormalizationReport(kind)
    if kind in ("layer_norm", "batch_norm"):
        plan: list[tuple[nn.Sequential, nn.Module, nn.Module]] = []
        refused = []
        graph = trace(model)
        for name, layer in layers:
            parent, key = parent_of(model, name) if name else (None, "")
            if not isinstance(parent, nn.Sequential):
                refused.append(f"{name or '<model>'} (in {type(parent).__name__ if parent is not None else 'nothing'})")
                continue
            if _norm_follows(graph, name, parent, list(parent._modules).index(key)):
                report.unchanged.append(name)
            else:
                plan.append((parent, layer, _make_norm(kind, layer)))
        if refused:
            raise WeightInitError(
                f"apply_normalization(kind={kind!r}) can only insert norm layers inside nn.Sequential containers; "
                f"these layers are elsewhere: {', '.join(refused)}. Exclude them (exclude=[...]) or add the norm "
                "layers in the model's code."
            )
        if plan:
            containers = {id(c): (c, c._modules) for c, _, _ in plan}.values()
            try:
                report.inserted.extend(_insert_norms(model, plan))
            except BaseException:  # put every container's children back (the insertion rebinds _modules)
                for container, children in containers:
                    container._modules = children
                raise
        logger.info("apply_normalization(%s): inserted %d norm layers", kind, len(report.inserted))
        return report

    apply: dict[str, Callable[[nn.Module], nn.Module]] = {
        "weight_norm": lambda m: weight_norm(m, "weight", dim=weight_norm_dim(m)),
        "spectral_norm": lambda m: spectral_norm(m, "weight"),
        "orthogonal": lambda m: orthogonal(m, "weight"),
    }
    todo = []
    conflicts = []
    for name, layer in layers:
        present = normalization_of(layer, "weight")
        if kind == "orthogonal" and layer.weight.dim() != 2:  # type: ignore[union-attr, operator]
            report.skipped[name] = "orthogonal needs a 2-D weight (convolution kernels are not matrices)"
        elif present == [kind]:
            if kind == "weight_norm" and layer.parametrizations.weight[0].dim != weight_norm_dim(layer):  # type: ignore[union-attr, index]
                conflicts.append(f"{name}: weight norm over dim={layer.parametrizations.weight[0].dim}")  # type: ignore[union-attr, index]
            else:
                report.unchanged.append(name)
        elif present:
            conflicts.append(f"{name}: {present}")
        else:
            todo.append((name, layer))
    if conflicts:
        raise WeightInitError(
            f"apply_normalization(kind={kind!r}) refuses to stack parametrizations; already parametrized: "
            f"{'; '.join(conflicts)}. Call remove_normalization(model) first or exclude these layers."
        )
    for _, layer in todo:  # everything that can be refused is refused before the first layer changes
        _check_target(layer, "weight", kind)
    undo: list[Restore] = []
    try:
        for name, layer in todo:
            undo.append(_module_restorer(layer))
            apply[kind](layer)
            report.applied.append(name)
    except BaseException as error:  # KeyboardInterrupt and MemoryError too: no layer is left parametrized
        restore_all(undo, error)
        raise
    logger.info("apply_normalization(%s): %d applied, %d unchanged", kind, len(report.applied), len(report.unchanged))
    return report
