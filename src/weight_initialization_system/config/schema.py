"""The typed schema of the YAML configuration (the seed's ``weight_initialization`` block, plus overrides).

.. code-block:: yaml

    weight_initialization:
      global:
        default_method: "xavier_uniform"
        enable_analysis: true
        quality_threshold: 0.7
      methods:
        xavier_uniform: {enabled: true, gain: 1.0}
        kaiming_normal: {enabled: true, mode: "fan_in", nonlinearity: "leaky_relu"}
      architecture_specific:
        transformer: {enabled: true, method: "transformer_init", d_model_scaling: true}
      overrides:
        "*.attn.*.weight": {method: trunc_normal, std: 0.02}

Every key besides ``enabled`` (methods) and ``method``/``enabled`` (architectures, overrides) is an argument
for the initializer or scheme, checked against its signature by :mod:`.validate`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ArchitectureName",
    "ArchitectureSettings",
    "Config",
    "GlobalSettings",
    "MethodSettings",
    "OverrideSettings",
    "WeightInitializationSettings",
]

ArchitectureName = Literal["transformer", "cnn", "rnn"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class _WithArguments(BaseModel):
    """A section whose unknown keys are arguments for an initializer or scheme."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    @property
    def arguments(self) -> dict[str, Any]:
        """The initializer or scheme arguments (every key that is not a field of the section)."""
        return dict(self.model_extra or {})


class GlobalSettings(_Strict):
    """``weight_initialization.global``.

    Attributes:
        default_method: the initializer for every weight no architecture scheme or override claims.
        enable_analysis: run the quality check after initializing and warn below ``quality_threshold``.
        quality_threshold: the lowest acceptable ``overall_score`` in [0, 1].
        bias_init: layer biases: ``zeros``, ``keep``, ``uniform`` (torch's U(±1/√fan_in)) or a number.
        seed: base seed for name-keyed generators (``None``: drawn from torch's global generator).
    """

    default_method: str = "xavier_uniform"
    enable_analysis: bool = False
    quality_threshold: float = Field(default=0.7, ge=0.0, le=1.0)
    bias_init: Literal["zeros", "keep", "uniform"] | float = "zeros"
    seed: int | None = Field(default=None, ge=0)


class MethodSettings(_WithArguments):
    """``weight_initialization.methods.<name>``: ``enabled`` plus the initializer's arguments."""

    enabled: bool = True


class ArchitectureSettings(_WithArguments):
    """``weight_initialization.architecture_specific.<transformer|cnn|rnn>``: a scheme and its arguments."""

    enabled: bool = True
    method: str


class OverrideSettings(_WithArguments):
    """``weight_initialization.overrides.<glob>``: an initializer for the parameters whose names match."""

    method: str


class WeightInitializationSettings(_Strict):
    """The ``weight_initialization`` block."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)

    global_: GlobalSettings = Field(default_factory=lambda: GlobalSettings(), alias="global")
    methods: dict[str, MethodSettings] = Field(default_factory=dict)
    architecture_specific: dict[ArchitectureName, ArchitectureSettings] = Field(default_factory=dict)
    overrides: dict[str, OverrideSettings] = Field(default_factory=dict)


class Config(_Strict):
    """A whole configuration file: one ``weight_initialization`` block."""

    weight_initialization: WeightInitializationSettings = Field(
        default_factory=lambda: WeightInitializationSettings())

    @property
    def settings(self) -> WeightInitializationSettings:
        """Shortcut for ``config.weight_initialization``."""
        return self.weight_initialization
