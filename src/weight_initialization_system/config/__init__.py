"""YAML configuration: the seed's ``weight_initialization`` block, validated and typed, and how to apply it.

>>> cfg = load_config("init.yaml")           # doctest: +SKIP
>>> result = apply_config(model, cfg, seed=0)  # doctest: +SKIP
"""

from .apply import InitializationQualityWarning, apply_config, architectures_in
from .loader import ConfigSource, dump_config, load_config
from .schema import (
    ArchitectureSettings,
    Config,
    GlobalSettings,
    MethodSettings,
    OverrideSettings,
    WeightInitializationSettings,
)

__all__ = [
    "ArchitectureSettings",
    "Config",
    "ConfigSource",
    "GlobalSettings",
    "InitializationQualityWarning",
    "MethodSettings",
    "OverrideSettings",
    "WeightInitializationSettings",
    "apply_config",
    "architectures_in",
    "dump_config",
    "load_config",
]
