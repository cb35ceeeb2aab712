"""Model-level initialization: the parameter walker, ``initialize_model``, architecture and published schemes."""

from .architectures import (
    cnn_initialization,
    conv_init,
    lstm_init,
    rnn_initialization,
    transformer_init,
    transformer_initialization,
)
from .auto import auto_initialize
from .model_init import initialize_model, method_decision
from .published import SchemeSpec, apply_scheme, get_scheme, list_schemes
from .result import InitResult, ParamInit
from .seeding import draw_seed, keyed_generator, keyed_seed
from .walker import Decision, ParamSite, apply_decisions, bias_decision, classify, iter_sites, select_sites

__all__ = [
    "Decision",
    "InitResult",
    "ParamInit",
    "ParamSite",
    "SchemeSpec",
    "apply_decisions",
    "apply_scheme",
    "auto_initialize",
    "bias_decision",
    "classify",
    "cnn_initialization",
    "conv_init",
    "draw_seed",
    "get_scheme",
    "initialize_model",
    "iter_sites",
    "keyed_generator",
    "keyed_seed",
    "list_schemes",
    "lstm_init",
    "method_decision",
    "rnn_initialization",
    "select_sites",
    "transformer_init",
    "transformer_initialization",
]
