"""Model-level initialization: the parameter walker, ``initialize_model``, architecture and published schemes."""

from .model_init import initialize_model, method_decision
from .result import InitResult, ParamInit
from .seeding import draw_seed, keyed_generator, keyed_seed
from .walker import Decision, ParamSite, apply_decisions, bias_decision, classify, iter_sites, select_sites

__all__ = [
    "Decision",
    "InitResult",
    "ParamInit",
    "ParamSite",
    "apply_decisions",
    "bias_decision",
    "classify",
    "draw_seed",
    "initialize_model",
    "iter_sites",
    "keyed_generator",
    "keyed_seed",
    "method_decision",
    "select_sites",
]
