"""Check initializer and scheme arguments from a config against the function's own signature.

Each registered initializer's keyword arguments become a pydantic model built from its signature and type
hints (``Literal`` options included), so ``mode: fan_inn`` fails with the options the function really accepts.
Values that only the function itself can judge (``nonlinearity`` names, positive gains) are checked by calling
it once on a small scratch tensor.
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Callable, Mapping
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from ..errors import WeightInitError
from ..initializers import get_initializer, get_spec
from ..initializers._common import closest_match

__all__ = ["check_arguments", "format_pydantic_error", "signature_model"]

_SKIPPED = ("fans", "generator")


@functools.lru_cache(maxsize=256)
def signature_model(fn: Callable[..., Any], *, partial: bool = False) -> type[BaseModel]:
    """A pydantic model of ``fn``'s arguments after the first (the tensor or model), without fans/generator.

    With ``partial``, required arguments may be left out (they are supplied later).
    """
    hints = typing.get_type_hints(fn)
    fields: dict[str, Any] = {}
    for param in list(inspect.signature(fn).parameters.values())[1:]:
        if param.name in _SKIPPED or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = hints.get(param.name, Any)
        default = (None if partial else ...) if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    name = f"{getattr(fn, '__name__', 'fn')}_arguments"
    return create_model(name, __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True), **fields)


def _options(expected: str) -> str:
    found = re.findall(r"'([^']*)'", expected)
    return " | ".join(found) if found else expected


def format_pydantic_error(error: Mapping[str, Any], prefix: str, fields: list[str] | None = None) -> str:
    """One line ``path: expected ..., got ...`` for a pydantic error dict."""
    loc = ".".join(str(part) for part in (prefix, *error.get("loc", ())) if str(part))
    kind = error.get("type", "")
    value = error.get("input")
    if kind == "literal_error":
        return f"{loc}: expected {_options(str(error.get('ctx', {}).get('expected', '')))}, got {value!r}"
    if kind == "extra_forbidden":
        key = str(error.get("loc", ("",))[-1])
        hint = closest_match(key, fields or [])
        allowed = f"; allowed: {', '.join(fields)}" if fields else ""
        return f"{loc}: unknown key{f' (did you mean {hint!r}?)' if hint else ''}{allowed}"
    if kind == "missing":
        return f"{loc}: required, missing"
    message = str(error.get("msg", "invalid"))
    return f"{loc}: {message[:1].lower()}{message[1:]}, got {value!r}"


def _scratch(min_ndim: int) -> torch.Tensor:
    return torch.empty((4, 4, *([3] * max(0, min_ndim - 2))))


def check_arguments(method: str, arguments: Mapping[str, Any], path: str) -> list[str]:
    """Problems with calling initializer ``method`` with ``arguments``; ``path`` prefixes every message."""
    spec = get_spec(method)
    model = signature_model(spec.fn)
    problems: list[str] = []
    valid = dict(arguments)
    try:
        model.model_validate(valid)
    except ValidationError as error:
        problems = [format_pydantic_error(e, path, list(model.model_fields)) for e in error.errors()]
        bad = {str(e["loc"][0]) for e in error.errors() if e.get("loc")}
        if any(e.get("type") == "missing" for e in error.errors()):
            return problems
        valid = {k: v for k, v in valid.items() if k not in bad}
    try:
        get_initializer(spec.name, **valid)(_scratch(spec.min_ndim), fans=(4, 4))
    except WeightInitError as error:
        found = re.match(r"Argument `(\w+)`", str(error))
        where = f"{path}.{found.group(1)}" if found else path
        problems.append(f"{where}: {error}")
    return problems
