"""The seed's demonstrations (also importable as ``weight_init_advanced_examples``)."""

from .demos import SEED_CONFIG, AdvancedWeightInitExamples, demonstrate_weight_initialization

__all__ = ["SEED_CONFIG", "AdvancedWeightInitExamples", "demonstrate_weight_initialization"]
