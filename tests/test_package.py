"""Package-level import checks: the distribution, its two seed-compatible top-level modules, and the exports."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize(
    "module", ["weight_initialization_system", "custom_model_architectures", "weight_init_advanced_examples"]
)
def test_top_level_modules_import(module: str) -> None:
    imported = importlib.import_module(module)
    assert isinstance(imported.__all__, list)


def test_every_name_in_all_is_defined() -> None:
    for name in ("weight_initialization_system", "weight_initialization_system.initializers",
                 "weight_initialization_system.schemes"):
        module = importlib.import_module(name)
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert missing == [], f"{name}.__all__ names undefined attributes {missing}"


def test_weight_init_error_is_a_value_error() -> None:
    from weight_initialization_system import WeightInitError

    assert issubclass(WeightInitError, ValueError)


def test_package_is_typed() -> None:
    from importlib.resources import files

    assert files("weight_initialization_system").joinpath("py.typed").is_file()
