"""``load_config`` / ``dump_config``: YAML (or a dict) to a validated :class:`Config` and back.

Validation collects every problem before raising, each with its path in the file::

    weight_initialization.methods.kaiming_normal.mode: expected fan_in | fan_out, got 'fan_inn'
    weight_initialization.global.default_method: unknown initializer 'xavier_unifrom' (did you mean ...)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .._io import write_text
from ..errors import WeightInitError
from ..initializers import list_initializers, resolve_name
from ..initializers._common import closest_match
from .arguments import check_arguments, format_pydantic_error
from .schema import (
    ArchitectureSettings,
    Config,
    GlobalSettings,
    MethodSettings,
    OverrideSettings,
    WeightInitializationSettings,
)
from .schemes import architecture_method_names, check_architecture_method

__all__ = ["ConfigSource", "dump_config", "load_config"]

ConfigSource = str | os.PathLike[str] | Mapping[str, Any] | Config

_ROOT = "weight_initialization"


def _read(source: str | os.PathLike[str]) -> Any:
    if not isinstance(source, (str, os.PathLike)):
        raise WeightInitError("Argument `path_or_dict` must be a YAML file path, YAML text, a dict or a Config. "
                              f"Received: {type(source).__name__} {source!r}"[:300])
    text = str(source)
    if isinstance(source, str) and "\n" in text:
        origin = "<string>"
    else:
        path = Path(source)
        if not path.is_file():
            raise WeightInitError(f"Argument `path_or_dict`: no such config file. Received: {text!r}")
        origin, text = str(path), path.read_text(encoding="utf-8")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise WeightInitError(f"Config {origin} is not valid YAML: {error}") from None


def _section(model: type[BaseModel], raw: Any, path: str, errors: list[str]) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        fields = [f.alias or name for name, f in model.model_fields.items()]
        errors.extend(format_pydantic_error(e, path, fields) for e in error.errors())
        return None


def _initializer_name(name: Any, path: str, errors: list[str]) -> str | None:
    try:
        return resolve_name(name)
    except WeightInitError:
        hint = closest_match(str(name), list_initializers(aliases=True))
        errors.append(f"{path}: unknown initializer {name!r}" + (f" (did you mean {hint!r}?)" if hint else "")
                      + f"; available: {', '.join(list_initializers())}")
        return None


def _method_use(
    name: str, extra: Mapping[str, Any], methods: Mapping[str, MethodSettings], path: str, errors: list[str]
) -> None:
    """Check one use of an initializer: its name, that it is enabled, and the merged arguments."""
    canonical = _initializer_name(name, path, errors)
    if canonical is None:
        return
    settings = next((s for key, s in methods.items() if _resolves_to(key, canonical)), None)
    if settings is not None and not settings.enabled:
        errors.append(f"{path}: initializer {name!r} is disabled (methods.{canonical}.enabled: false)")
        return
    arguments = {**(settings.arguments if settings else {}), **extra}
    errors.extend(check_arguments(canonical, arguments, path))


def _resolves_to(key: str, canonical: str) -> bool:
    try:
        return resolve_name(key) == canonical
    except WeightInitError:
        return False


def _validate(raw: Any) -> tuple[Config | None, list[str]]:
    errors: list[str] = []
    if not isinstance(raw, Mapping):
        return None, [f"<root>: expected a mapping with the key {_ROOT!r}, got {type(raw).__name__}"]
    for key in raw:
        if key != _ROOT:
            hint = closest_match(str(key), [_ROOT])
            errors.append(f"{key}: unknown top-level key" + (f" (did you mean {hint!r}?)" if hint else "")
                          + f"; expected {_ROOT!r}")
    block = _or_empty(raw.get(_ROOT))
    if not isinstance(block, Mapping):
        return None, [*errors, f"{_ROOT}: expected a mapping, got {block!r}"]
    sections = ["global", "methods", "architecture_specific", "overrides"]
    for key in block:
        if key not in sections:
            hint = closest_match(str(key), sections)
            errors.append(f"{_ROOT}.{key}: unknown key" + (f" (did you mean {hint!r}?)" if hint else "")
                          + f"; allowed: {', '.join(sections)}")

    glob = _section(GlobalSettings, _or_empty(block.get("global")), f"{_ROOT}.global", errors)
    methods: dict[str, MethodSettings] = {}
    for name, entry in _mapping(block, "methods", errors).items():
        path = f"{_ROOT}.methods.{name}"
        settings = _section(MethodSettings, _or_empty(entry), path, errors)
        if settings is None:
            continue
        methods[str(name)] = settings
        canonical = _initializer_name(name, path, errors)
        if canonical is not None:
            errors.extend(check_arguments(canonical, settings.arguments, path))
    raw_global = _or_empty(block.get("global"))
    default_method = glob.default_method if glob is not None else (
        raw_global.get("default_method") if isinstance(raw_global, Mapping) else None)
    if isinstance(default_method, str):
        _method_use(default_method, {}, methods, f"{_ROOT}.global.default_method", errors)

    architectures: dict[str, ArchitectureSettings] = {}
    for arch, entry in _mapping(block, "architecture_specific", errors).items():
        path = f"{_ROOT}.architecture_specific.{arch}"
        if arch not in ("transformer", "cnn", "rnn"):
            hint = closest_match(str(arch), ["transformer", "cnn", "rnn"])
            errors.append(f"{path}: unknown architecture" + (f" (did you mean {hint!r}?)" if hint else "")
                          + "; expected transformer | cnn | rnn")
            continue
        settings = _section(ArchitectureSettings, _or_empty(entry), path, errors)
        if settings is None:
            continue
        architectures[str(arch)] = settings
        if settings.enabled:
            errors.extend(_architecture_problems(str(arch), settings, methods, path))

    overrides: dict[str, OverrideSettings] = {}
    for pattern, entry in _mapping(block, "overrides", errors).items():
        path = f"{_ROOT}.overrides.{pattern}"
        settings = _section(OverrideSettings, _or_empty(entry), path, errors)
        if settings is not None:
            overrides[str(pattern)] = settings
            _method_use(settings.method, settings.arguments, methods, f"{path}.method", errors)

    if errors or glob is None:
        return None, errors
    settings_block = WeightInitializationSettings.model_validate(
        {"global": glob, "methods": methods, "architecture_specific": architectures, "overrides": overrides})
    return Config(weight_initialization=settings_block), []


def _architecture_problems(
    arch: str, settings: ArchitectureSettings, methods: Mapping[str, MethodSettings], path: str
) -> list[str]:
    if settings.method in architecture_method_names(arch):
        return check_architecture_method(arch, settings.method, settings.arguments, path)
    problems: list[str] = []
    try:
        resolve_name(settings.method)
    except WeightInitError:
        choices = [*architecture_method_names(arch), *list_initializers()]
        hint = closest_match(settings.method, choices)
        return [f"{path}.method: unknown scheme or initializer {settings.method!r}"
                + (f" (did you mean {hint!r}?)" if hint else "") + f"; available: {', '.join(choices)}"]
    _method_use(settings.method, settings.arguments, methods, f"{path}.method", problems)
    return problems


def _or_empty(value: Any) -> Any:
    """An empty YAML section (``global:`` with nothing under it) reads as ``None``: treat it as ``{}``.

    Only ``None``: other falsy values (``0``, ``''``, ``[]``, ``false``) are not mappings and are reported.
    """
    return {} if value is None else value


def _mapping(block: Mapping[str, Any], key: str, errors: list[str]) -> Mapping[Any, Any]:
    value = _or_empty(block.get(key))
    if not isinstance(value, Mapping):
        errors.append(f"{_ROOT}.{key}: expected a mapping, got {value!r}")
        return {}
    return value


def load_config(path_or_dict: ConfigSource) -> Config:
    """Load and validate a configuration: a YAML file path, YAML text (a string with a newline), or a dict.

    Every problem is collected and reported in one :class:`WeightInitError`, one line per problem with its path.
    Nothing is applied here; :func:`apply_config` applies a loaded config.

    >>> cfg = load_config({"weight_initialization": {"global": {"default_method": "he_normal"}}})
    >>> cfg.settings.global_.default_method
    'he_normal'
    """
    if isinstance(path_or_dict, Config):
        return path_or_dict
    raw = path_or_dict if isinstance(path_or_dict, Mapping) else _read(path_or_dict)
    config, errors = _validate(raw)
    if config is None:
        lines = "\n".join(f"  - {e}" for e in errors)
        raise WeightInitError(f"Invalid weight initialization config ({len(errors)} problem"
                              f"{'s' if len(errors) != 1 else ''}):\n{lines}")
    return config


def dump_config(config: Config, path: str | os.PathLike[str] | None = None) -> str:
    """The YAML text of ``config`` (written to ``path`` when given, all or nothing); ``load_config`` of it gives
    ``config`` back."""
    if not isinstance(config, Config):
        raise WeightInitError(
            f"Argument `config` must be a Config (from load_config). Received: {type(config).__name__}"
        )
    data = config.model_dump(mode="json", by_alias=True)
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    if path is not None:
        write_text(path, text)
    return text
