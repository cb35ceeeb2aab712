"""The architecture schemes a config may name under ``architecture_specific``, and how to call them.

``transformer_init`` / ``cnn_init`` / ``rnn_init`` (the seed's ``WeightInitializer`` names, with the aliases
``transformer_initialization``, ``conv_init``, ``cnn_initialization``, ``lstm_init``, ``rnn_initialization``)
run the architecture schemes of :mod:`weight_initialization_system.schemes.architectures`; any name from
:func:`~weight_initialization_system.schemes.published.list_schemes` runs that published scheme. Arguments the
model already determines (``d_model``, ``num_layers``) are read from the model when the config leaves them out.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError
from torch import nn

from ..schemes import InitResult
from .arguments import format_pydantic_error, signature_model

__all__ = ["architecture_method_names", "check_architecture_method", "run_architecture_method"]

_ALIASES: dict[str, dict[str, str]] = {
    "transformer": {"transformer_init": "transformer_initialization",
                    "transformer_initialization": "transformer_initialization"},
    "cnn": {"cnn_init": "cnn_initialization", "conv_init": "cnn_initialization",
            "cnn_initialization": "cnn_initialization"},
    "rnn": {"rnn_init": "rnn_initialization", "lstm_init": "rnn_initialization",
            "rnn_initialization": "rnn_initialization"},
}
#: Config keys that are not scheme arguments (``d_model_scaling``: see :func:`run_architecture_method`).
_CONFIG_ONLY = ("d_model_scaling",)


def _published() -> list[str]:
    from ..schemes.published import list_schemes

    return list(list_schemes(aliases=True))


def architecture_method_names(arch: str) -> list[str]:
    """Scheme names valid under ``architecture_specific.<arch>``: the architecture's own and published ones."""
    return [*_ALIASES.get(arch, {}), *_published()]


def _architecture_function(arch: str, method: str) -> Callable[..., InitResult]:
    from ..schemes import architectures

    fn: Callable[..., InitResult] = getattr(architectures, _ALIASES[arch][method])
    return fn


def check_architecture_method(arch: str, method: str, arguments: Mapping[str, Any], path: str) -> list[str]:
    """Problems with ``arguments`` for the scheme ``method``, checked against its signature.

    Arguments the model determines (``d_model``, ``num_layers``) may be left out: they are inferred when applied.
    """
    problems = [f"{path}.{key}: expected true | false, got {arguments[key]!r}"
                for key in _CONFIG_ONLY if key in arguments and not isinstance(arguments[key], bool)]
    if method in _ALIASES.get(arch, {}):
        fn = _architecture_function(arch, method)
    else:
        from ..schemes.published import get_scheme

        fn = get_scheme(method).fn
    model = signature_model(fn, partial=True)
    try:
        model.model_validate({k: v for k, v in arguments.items() if k not in _CONFIG_ONLY})
    except ValidationError as error:
        allowed = [*model.model_fields, *_CONFIG_ONLY]
        problems += [format_pydantic_error(e, path, allowed) for e in error.errors()]
    return problems


def run_architecture_method(
    model: nn.Module, arch: str, method: str, arguments: Mapping[str, Any], *, seed: int
) -> InitResult:
    """Call the scheme on ``model`` with the config's arguments and ``seed``.

    ``d_model_scaling: true`` selects the transformer scheme's ``std = d_model^{-1/2}`` (``std=None``, also its
    default) unless the config sets ``std`` itself; ``false`` selects GPT-2's fixed ``std = 0.02``.
    """
    kwargs = {k: v for k, v in arguments.items() if k not in _CONFIG_ONLY}
    if method not in _ALIASES.get(arch, {}):
        from ..schemes.published import apply_scheme

        return apply_scheme(model, method, seed=seed, **kwargs)
    fn = _architecture_function(arch, method)
    if "std" in inspect.signature(fn).parameters and arguments.get("d_model_scaling") in (True, False):
        kwargs.setdefault("std", None if arguments["d_model_scaling"] else 0.02)
    return fn(model, seed=seed, **kwargs)
