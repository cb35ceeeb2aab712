"""Pick the layers a model-level operation acts on: covered module types, ``include``/``exclude`` globs."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from torch import nn
from torch.nn.utils import parametrize

from ..errors import WeightInitError
from ..initializers._common import check_module

__all__ = ["Patterns", "check_patterns", "parent_of", "select_layers"]

#: ``include``/``exclude``: one :mod:`fnmatch` glob or a list of globs on qualified module names.
Patterns = str | Sequence[str] | None


def check_patterns(argument: str, patterns: Patterns) -> list[str] | None:
    """Normalize ``patterns`` to a list of globs; raise a ``WeightInitError`` for anything else."""
    if patterns is None:
        return None
    if isinstance(patterns, str):
        return [patterns]
    if isinstance(patterns, Sequence) and all(isinstance(p, str) for p in patterns):
        return list(patterns)
    raise WeightInitError(
        f"Argument `{argument}` must be a glob on module names or a list of globs (e.g. 'encoder.*'). "
        f"Received: {argument}={patterns!r}"
    )


def _matches(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def select_layers(
    model: nn.Module,
    types: tuple[type[nn.Module], ...],
    *,
    include: Patterns = None,
    exclude: Patterns = None,
    skip: frozenset[int] = frozenset(),
    names: frozenset[str] | None = None,
) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` for every module of ``types`` in ``model``, in registration order.

    A module reachable under several names (shared) is listed once, under its first name. ``skip`` holds the
    ``id`` of modules never to list (e.g. the ``out_proj`` of an attention layer handled as a whole); ``names``,
    when given, the only module names to list (e.g. the weight layers a traced graph found).

    Raises:
        WeightInitError: when ``model`` is not a module, when a pattern matches no module at all (a typo),
            or when a selected module is lazy (its weight has no shape yet).
    """
    check_module("model", model)
    inc = check_patterns("include", include)
    exc = check_patterns("exclude", exclude)
    named = [
        (name, module)
        for name, module in model.named_modules()
        if not isinstance(module, parametrize.ParametrizationList)
        and not isinstance(module, nn.ParameterList | nn.ParameterDict)
    ]
    for argument, patterns in (("include", inc), ("exclude", exc)):
        for pattern in patterns or ():
            if not any(fnmatch.fnmatchcase(name, pattern) for name, _ in named):
                sample = ", ".join(repr(n) for n, _ in named[1:9])
                raise WeightInitError(
                    f"Argument `{argument}` pattern {pattern!r} matches no module of the model. "
                    f"Module names look like: {sample}"
                )
    chosen = []
    for name, module in named:
        if not isinstance(module, types) or id(module) in skip or (names is not None and name not in names):
            continue
        if inc is not None and not _matches(name, inc):
            continue
        if exc is not None and _matches(name, exc):
            continue
        if any(isinstance(p, nn.parameter.UninitializedParameter) for p in module.parameters()):
            raise WeightInitError(
                f"Module {name!r} ({type(module).__name__}) is lazy (uninitialized). Run one forward pass with "
                "a sample input first so that its shape is known."
            )
        chosen.append((name, module))
    return chosen


def parent_of(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    """The module that holds ``name`` as a direct child, and the child's key in it."""
    parent_name, _, key = name.rpartition(".")
    return (model.get_submodule(parent_name) if parent_name else model), key
