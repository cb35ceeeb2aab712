"""Weight reparametrizations on :mod:`torch.nn.utils.parametrizations`: weight, spectral and orthogonal norm.

Each function is idempotent: applying the same normalization to the same tensor twice leaves one
parametrization (torch itself would stack a second one, and a second weight norm of an already normalized
weight is a silent no-op that doubles the parameters). Mixing two different normalizations on one tensor is
refused; :func:`remove_normalization` bakes the current effective weights back into plain parameters.
"""

from __future__ import annotations

import logging
from typing import Literal

import torch
from torch import nn
from torch.nn.utils import parametrizations as tp
from torch.nn.utils import parametrize

from .._rollback import Restore, restore_all, snapshot
from ..errors import WeightInitError
from ..initializers._common import check_module, integer, positive

__all__ = [
    "ParamNormKind",
    "effective_weights",
    "normalization_of",
    "orthogonal",
    "remove_normalization",
    "spectral_norm",
    "weight_norm",
    "weight_norm_dim",
]

logger = logging.getLogger("weight_initialization_system")

ParamNormKind = Literal["weight_norm", "spectral_norm", "orthogonal"]

_CLASS_KIND: dict[str, ParamNormKind] = {
    "_WeightNorm": "weight_norm",
    "_SpectralNorm": "spectral_norm",
    "_Orthogonal": "orthogonal",
}


def normalization_of(module: nn.Module, name: str = "weight") -> list[str]:
    """The parametrizations registered on ``module.<name>``, outermost last: our kind names for the three
    normalizations, the class name for anything else. Empty when the tensor is not parametrized."""
    if not parametrize.is_parametrized(module, name):
        return []
    plist = module.parametrizations[name]  # type: ignore[index, union-attr]
    return [_CLASS_KIND.get(type(p).__name__, type(p).__name__) for p in plist]


def weight_norm_dim(module: nn.Module) -> int:
    """The weight dimension that indexes output units: 1 for transposed convolutions (their weight is
    ``(in, out/groups, *k)``), 0 for everything else."""
    return 1 if isinstance(module, nn.modules.conv._ConvTransposeNd) else 0


def _check_target(module: nn.Module, name: str, function: str) -> torch.Tensor:
    if not isinstance(module, nn.Module):
        raise WeightInitError(f"{function} expects a torch.nn.Module as `module`. Received: {type(module).__name__}")
    if not isinstance(name, str):
        raise WeightInitError(f"Argument `name` must be a string. Received: name={name!r}")
    tensor = getattr(module, name, None)
    if not isinstance(tensor, torch.Tensor):
        available = [n for n, _ in module.named_parameters(recurse=False)]
        raise WeightInitError(
            f"{type(module).__name__} has no tensor {name!r} to normalize. Received: name={name!r}. "
            f"Its own parameters: {available}"
        )
    if isinstance(tensor, nn.parameter.UninitializedParameter):
        raise WeightInitError(
            f"{type(module).__name__}.{name} is lazy (uninitialized). Run one forward pass with a sample input first."
        )
    if not tensor.is_floating_point():
        raise WeightInitError(f"{function} needs a floating-point tensor. Received: {name} with dtype={tensor.dtype}")
    return tensor


def _existing(module: nn.Module, name: str, kind: ParamNormKind) -> nn.Module | None:
    """The parametrization of ``kind`` already on ``module.<name>``, ``None`` when there is none.

    Raises:
        WeightInitError: when another parametrization is there (stacking two is refused).
    """
    kinds = normalization_of(module, name)
    if not kinds:
        return None
    if kinds == [kind]:
        first: nn.Module = module.parametrizations[name][0]  # type: ignore[index, union-attr, assignment]
        return first
    raise WeightInitError(
        f"{type(module).__name__}.{name} is already parametrized by {kinds}; refusing to stack {kind!r} on it. "
        "Call remove_normalization(module) first."
    )


def weight_norm(module: nn.Module, name: str = "weight", dim: int | None = 0) -> nn.Module:
    """Reparametrize ``module.<name>`` as a direction and a magnitude (Salimans & Kingma, 2016).

    .. math::
        \\mathbf{w} = g\\,\\frac{\\mathbf{v}}{\\lVert\\mathbf{v}\\rVert}

    with the norm taken over every dimension but ``dim`` (``dim=None``: over the whole tensor). ``g`` starts
    at :math:`\\lVert\\mathbf{w}\\rVert` and ``v`` at ``w``, so the effective weight, and the module's output,
    are unchanged by this call. Built on :func:`torch.nn.utils.parametrizations.weight_norm`; the parameters
    are ``parametrizations.<name>.original0`` (g) and ``original1`` (v).

    Idempotent: when ``module.<name>`` already has a weight norm over the same ``dim``, nothing changes.

    Args:
        module: the layer (``nn.Linear``, a convolution, ...).
        name: the tensor to normalize.
        dim: the dimension kept (one ``g`` per slice along it); 0 is per output unit except for transposed
            convolutions, whose output units are along dim 1.

    Returns:
        ``module``.

    Raises:
        WeightInitError: no such floating-point tensor, another parametrization already on it, or a weight
            norm over a different ``dim``.

    >>> layer = weight_norm(nn.Linear(4, 3))
    >>> tuple(layer.parametrizations.weight.original0.shape)
    (3, 1)
    """
    tensor = _check_target(module, name, "weight_norm")
    bad_int = not isinstance(dim, int) or isinstance(dim, bool) or not -tensor.dim() <= dim < tensor.dim()
    if dim is not None and bad_int:
        raise WeightInitError(
            f"Argument `dim` must be None or an int in [{-tensor.dim()}, {tensor.dim() - 1}] for a tensor of shape "
            f"{tuple(tensor.shape)}. Received: dim={dim!r}"
        )
    existing = _existing(module, name, "weight_norm")
    if existing is not None:
        wanted = -1 if dim is None else dim
        if existing.dim != wanted:
            raise WeightInitError(
                f"{type(module).__name__}.{name} already has a weight norm over dim={existing.dim}; "
                f"refusing to re-apply it with dim={dim!r}. Call remove_normalization(module) first."
            )
        return module
    tp.weight_norm(module, name, dim=dim)  # type: ignore[arg-type]
    return module


def spectral_norm(
    module: nn.Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12
) -> nn.Module:
    """Divide ``module.<name>`` by its largest singular value (Miyato et al., 2018).

    .. math::
        \\mathbf{W}_{SN} = \\frac{\\mathbf{W}}{\\sigma(\\mathbf{W})},\\qquad
        \\sigma(\\mathbf{W}) = \\max_{\\lVert h\\rVert = 1} \\lVert \\mathbf{W} h \\rVert

    :math:`\\sigma` is estimated by ``n_power_iterations`` steps of the power method per training-mode forward.
    Built on :func:`torch.nn.utils.parametrizations.spectral_norm` (which views the weight as a matrix with
    output units along dim 0, dim 1 for transposed convolutions). Unlike :func:`weight_norm`, this changes
    the module's output.

    Idempotent: a second call with the same ``n_power_iterations`` changes nothing.

    Raises:
        WeightInitError: bad arguments, another parametrization on the tensor, or a spectral norm with a
            different ``n_power_iterations``.
    """
    tensor = _check_target(module, name, "spectral_norm")
    integer("n_power_iterations", n_power_iterations)
    positive("eps", eps)
    if tensor.dim() < 2:
        raise WeightInitError(
            f"spectral_norm needs a tensor with at least 2 dimensions. Received: {name} of shape {tuple(tensor.shape)}"
        )
    existing = _existing(module, name, "spectral_norm")
    if existing is not None:
        if existing.n_power_iterations != n_power_iterations:
            raise WeightInitError(
                f"{type(module).__name__}.{name} already has a spectral norm with "
                f"n_power_iterations={existing.n_power_iterations}. Received: n_power_iterations={n_power_iterations}"
            )
        return module
    tp.spectral_norm(module, name, n_power_iterations=n_power_iterations, eps=eps)
    return module


def orthogonal(module: nn.Module, name: str = "weight") -> nn.Module:
    """Constrain the matrix ``module.<name>`` to be orthogonal (Lezcano-Casado & Martínez-Rubio, 2019).

    .. math::
        \\mathbf{W}^\\top\\mathbf{W} = I \\ (\\text{rows} \\ge \\text{cols}),\\qquad
        \\mathbf{W}\\mathbf{W}^\\top = I \\ (\\text{rows} < \\text{cols})

    Built on :func:`torch.nn.utils.parametrizations.orthogonal` (matrix exponential / Cayley / Householder
    maps). Only 2-D weights: torch treats a conv kernel ``(out, in, kh, kw)`` as a batch of ``kh × kw``
    matrices, which is not an orthogonal layer.

    Idempotent: a second call changes nothing.

    Raises:
        WeightInitError: not a 2-D floating-point tensor, or another parametrization on it.
    """
    tensor = _check_target(module, name, "orthogonal")
    if tensor.dim() != 2:
        raise WeightInitError(
            f"orthogonal needs a 2-D weight (Linear); torch would treat a {tensor.dim()}-D tensor as a batch of "
            f"matrices. Received: {name} of shape {tuple(tensor.shape)}"
        )
    if _existing(module, name, "orthogonal") is None:
        tp.orthogonal(module, name)
    return module


def _module_restorer(module: nn.Module) -> Restore:
    """A function that undoes registering or removing parametrizations on ``module``.

    torch changes, besides the tensors: the module's class (a subclass is swapped in, and its properties are
    added or deleted), and the instance state of the module and its ``parametrizations`` children
    (parameters, buffers, children, hooks such as weight norm's state-dict hook). All of it is recorded here,
    with the storage and values of the tensors.
    """
    saved = []
    for m in module.modules():
        cls = type(m)
        properties = ({k: v for k, v in vars(cls).items() if isinstance(v, property)}
                      if parametrize.is_parametrized(m) else None)
        state = {k: (v, dict(v) if isinstance(v, dict) else None) for k, v in vars(m).items()}
        saved.append((m, cls, properties, state))
    values = snapshot((*module.parameters(), *module.buffers()))

    def restore() -> None:
        for m, cls, properties, state in saved:
            m.__class__ = cls
            if properties is not None:  # the parametrized class torch made for this module
                now = {k for k, v in vars(cls).items() if isinstance(v, property)}
                for key in now - properties.keys():
                    delattr(cls, key)
                for key in properties.keys() - now:
                    setattr(cls, key, properties[key])
            attributes = vars(m)
            for key in [k for k in attributes if k not in state]:
                del attributes[key]
            for key, (value, items) in state.items():
                attributes[key] = value
                if items is not None:
                    value.clear()
                    value.update(items)
        values()

    return restore


def _parametrized(model: nn.Module) -> list[tuple[str, nn.Module, str]]:
    """``(qualified name, module, tensor name)`` for every parametrized tensor of ``model``."""
    found = []
    for module_name, module in model.named_modules():
        if parametrize.is_parametrized(module):
            for local in module.parametrizations:  # type: ignore[union-attr]
                found.append((f"{module_name}.{local}" if module_name else local, module, local))
    return found


def remove_normalization(model: nn.Module) -> list[str]:
    """Bake every parametrized tensor of ``model`` back into a plain parameter holding its current value.

    ``W`` becomes the parameter :math:`g\\,v/\\lVert v\\rVert` (weight norm), :math:`W/\\sigma` (spectral
    norm), the current orthogonal matrix, ...; the model computes the same function afterwards, but the
    constraint is gone and ``state_dict`` keys are plain again (``0.weight``).

    Returns:
        The qualified names of the tensors that were baked (empty when nothing was parametrized).
    """
    check_module("model", model)
    baked = []
    undo: list[Restore] = []
    try:
        for qualified, module, local in _parametrized(model):
            undo.append(_module_restorer(module))
            parametrize.remove_parametrizations(module, local, leave_parametrized=True)
            baked.append(qualified)
    except BaseException as error:  # all or nothing, KeyboardInterrupt too
        restore_all(undo, error)
        raise
    if baked:
        logger.info("remove_normalization: baked %d tensors: %s", len(baked), baked)
    return baked


def effective_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The effective value of every parametrized tensor, keyed by the name the user knows.

    For ``weight_norm(model[0])`` the key is ``'0.weight'`` and the value :math:`g\\,v/\\lVert v\\rVert`,
    not the raw ``'0.parametrizations.weight.original0'`` / ``original1``. Covers ``torch.nn.utils.parametrize``
    (``parametrizations.weight_norm``, ``spectral_norm``, ``orthogonal``, ours) and the older hook-based
    ``torch.nn.utils.weight_norm`` (``weight_g``/``weight_v``) and ``spectral_norm`` (``weight_orig``). Plain
    parameters are not listed. Values are detached copies; reading them changes nothing (a spectral norm's
    power-iteration vectors are restored).
    """
    check_module("model", model)
    found = _parametrized(model)
    for module_name, module in model.named_modules():
        own = dict(module.named_parameters(recurse=False))
        # old-style hook parametrizations keep the effective weight as a plain attribute beside weight_v/_orig
        # (getattr last: on a parametrized module it computes the weight, which a spectral norm in training
        # mode does by advancing its power iteration)
        if "weight" not in own and ("weight_v" in own or "weight_orig" in own) and isinstance(
            getattr(module, "weight", None), torch.Tensor
        ):
            found.append((f"{module_name}.weight" if module_name else "weight", module, "weight"))
    # Reading a spectral norm in training mode runs a power-iteration step on its _u/_v buffers: the value is
    # the one the next training forward would use, and the buffers are put back so that reading changes nothing.
    restore = snapshot(b for _, module, _ in found for b in module.buffers())
    try:
        with torch.no_grad():
            return {qualified: getattr(module, local).detach().clone() for qualified, module, local in found}
    finally:
        restore()
