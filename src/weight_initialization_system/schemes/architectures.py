"""Architecture schemes: transformer, CNN and RNN initialization that work on any model.

Each scheme finds the sub-modules it is about by type (see :mod:`._structure`), decides an initializer for
each of their parameters, leaves everything else alone (listed in ``result.skipped``), and writes all values
at once through :func:`~weight_initialization_system.schemes.apply_decisions`: seed-keyed per parameter
name, and all or nothing. They therefore compose, as in the seed's hybrid example::

    cnn_initialization(hybrid)                      # conv stem and patch projection, BatchNorm
    transformer_initialization(hybrid, d_model=128) # attention, MLP, LayerNorm, positional embedding, head
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import WeightInitError
from ..initializers import calculate_gain, get_initializer
from ..initializers._common import check_module, finite, integer, positive
from ._plan import Rule, constant, normal, run_rule, weight_decision
from ._structure import TransformerBlockInfo, is_linear_like, model_width, residual_blocks, transformer_blocks
from .result import InitResult
from .walker import Decision, ParamSite, norm_decision

__all__ = [
    "cnn_initialization",
    "conv_init",
    "lstm_bias_",
    "lstm_init",
    "rnn_initialization",
    "rnn_rule",
    "transformer_init",
    "transformer_initialization",
]


def _inside(name: str, prefix: str) -> bool:
    return prefix == "" or name == prefix or name.startswith(prefix + ".")


def _block_of(module_name: str, blocks: list[TransformerBlockInfo]) -> TransformerBlockInfo | None:
    return next((b for b in blocks if _inside(module_name, b.name)), None)


def _linear_dims(module: nn.Module) -> tuple[int, int]:
    if isinstance(module, nn.Linear):
        return int(module.in_features), int(module.out_features)
    weight: torch.Tensor = module.weight  # type: ignore[assignment]
    return int(weight.shape[0]), int(weight.shape[1])  # HF Conv1D stores (in, out)


def _is_layer_norm(module: nn.Module) -> bool:
    name = type(module).__name__
    return isinstance(module, nn.LayerNorm) or name.endswith("LayerNorm") or name.endswith("RMSNorm")


def transformer_initialization(
    model: nn.Module,
    d_model: int | None = None,
    *,
    n_layers: int | None = None,
    std: float | None = None,
    truncated: bool = False,
    seed: int | None = None,
) -> InitResult:
    """Initialize the transformer part of ``model``: width-scaled normal weights, GPT-2 residual scaling.

    .. math::
        W \\sim \\mathcal{N}(0, \\sigma^2),\\quad \\sigma = d_{\\text{model}}^{-1/2},\\qquad
        W_{\\text{out}} \\sim \\mathcal{N}\\big(0, (\\sigma / \\sqrt{2 N})^2\\big),\\qquad
        b = 0,\\quad \\gamma_{\\text{LN}} = 1,\\quad \\beta_{\\text{LN}} = 0

    ``σ = d_model^{-1/2}`` by default: the variance-preserving std of a projection that reads the model width
    (``Var[y] = d_model σ² Var[x]``), the ``d_model^{-1/2}`` scaling of Vaswani et al. (2017) (embeddings
    scaled by ``√d_model`` against weights of std ``d_model^{-1/2}``) and of Mesh-TensorFlow's default
    initializers (Shazeer et al. 2018). ``std=0.02`` gives GPT-2's constant (Radford et al. 2019; the
    ``"gpt2"`` scheme), which is ``0.16×`` the variance-preserving std at ``d_model = 64`` and ``0.72×`` at
    768: a constant std is only right for the width it was tuned at. ``N = n_layers`` (the number of
    transformer blocks); ``W_out`` are the two layers per block that write into the residual stream
    (attention output and second MLP layer): each block adds two terms to the stream, so their variance is
    divided by ``2N`` to keep the stream's variance O(1) at depth (Radford et al. 2019).

    Acts on: every embedding; every linear layer, ``nn.MultiheadAttention`` and LayerNorm inside a transformer
    block; LayerNorms outside blocks; linear layers outside blocks that read or write the model width
    (``lm_head``, a classifier on the tokens, BERT's pooler); raw positional/class-token parameters of the model
    width. Convolutions, BatchNorm, recurrent layers and other linear layers are left alone.

    Args:
        model: any model with transformer blocks (attention + MLP) or embeddings.
        d_model: the model width; inferred from the attention/embedding width when omitted, checked against
            it when given.
        n_layers: ``N`` in the residual scaling (default: the number of blocks found).
        std: ``σ``; ``None`` (default) for ``d_model^{-1/2}``, ``0.02`` for GPT-2's constant.
        truncated: draw from the normal truncated at ±2σ (BERT, Devlin et al. 2019) instead.
        seed: base seed; each parameter's values depend only on (seed, its name).

    Raises:
        WeightInitError: when the model has no transformer block and no embedding, ``d_model`` does not
            match it, or ``std=None`` and the width can be neither inferred nor read from ``d_model``; the
            model is untouched.

    >>> from weight_initialization_system.models import CustomTransformerModel
    >>> model = CustomTransformerModel(vocab_size=100, d_model=64, num_layers=2)
    >>> result = transformer_initialization(model, d_model=64, seed=0)
    >>> result["blocks.0.mlp.fc_in.weight"].kwargs["std"]  # 1 / sqrt(64)
    0.125
    >>> result["blocks.0.mlp.fc_out.weight"].kwargs["std"]  # 0.125 / sqrt(2 * 2)
    0.0625
    """
    check_module("model", model)
    blocks = transformer_blocks(model)
    has_embedding = any(isinstance(m, nn.Embedding | nn.EmbeddingBag) for m in model.modules())
    if not blocks and not has_embedding:
        raise WeightInitError(
            f"transformer_initialization found no transformer block (attention + MLP) and no embedding in "
            f"{type(model).__name__}. It applies to models with attention modules or embeddings."
        )
    width = model_width(model, blocks)
    if d_model is not None:
        integer("d_model", d_model)
        if width is not None and width != d_model:
            raise WeightInitError(
                f"Argument `d_model` does not match the model: its attention/embedding width is {width}. "
                f"Received: d_model={d_model}"
            )
        width = d_model
    if std is None:
        if width is None:
            raise WeightInitError("Argument `std=None` (the default, d_model^-1/2) needs the model width, which could "
                                  "not be inferred: pass `d_model`, or a fixed `std` such as 0.02. Received: "
                                  "d_model=None, std=None")
        sigma = width ** -0.5
    else:
        sigma = positive("std", std)
    layers = integer("n_layers", n_layers) if n_layers is not None else max(len(blocks), 1)
    out_sigma = sigma / math.sqrt(2 * layers)
    outputs = {o for b in blocks for o in b.output_projections}
    init, init_out = normal(sigma, truncated=truncated), normal(out_sigma, truncated=truncated)
    dist = "trunc-normal(±2σ)" if truncated else "N"
    skip = "outside the transformer part: left alone (transformer_initialization)"

    def rule(site: ParamSite) -> Decision | str:
        module = site.module
        block = _block_of(site.module_name, blocks)
        if site.kind == "embedding":
            return weight_decision(site, init, f"embedding ~ {dist}(0, {sigma:.4g}²) (Radford et al. 2019)")
        if site.kind in ("norm_weight", "norm_bias") and (block is not None or _is_layer_norm(module)):
            return norm_decision(site)
        if block is not None:
            if site.kind == "weight" and site.module_name in outputs:
                return weight_decision(site, init_out, f"residual output projection ~ {dist}(0, (σ/√(2·{layers}))²) "
                                       f"= {out_sigma:.4g} (GPT-2 residual scaling, Radford et al. 2019)")
            if site.kind == "weight":
                return weight_decision(site, init, f"{type(module).__name__} in block {block.name} ~ "
                                       f"{dist}(0, {sigma:.4g}²)")
            if site.kind == "bias":
                return Decision(constant(0.0), "bias = 0")
            return "transformer-block parameter that is not a layer weight: left alone"
        if is_linear_like(module) and width is not None and width in _linear_dims(module):
            if site.kind == "weight":
                return weight_decision(site, init, f"linear layer on the model width ({width}) ~ "
                                       f"{dist}(0, {sigma:.4g}²)")
            if site.kind == "bias":
                return Decision(constant(0.0), "bias = 0")
        local = site.local_name.lower()
        if (site.kind == "unknown" and site.tensor.dim() >= 2 and width is not None
                and site.tensor.shape[-1] == width and any(k in local for k in ("pos", "cls", "token"))):
            return Decision(init, f"positional/class-token parameter ~ {dist}(0, {sigma:.4g}²)")
        return skip

    return run_rule(model, "transformer_initialization", rule, seed=seed)


def cnn_initialization(
    model: nn.Module,
    *,
    zero_init_residual: bool = False,
    nonlinearity: str = "relu",
    seed: int | None = None,
) -> InitResult:
    """Initialize the convolutional part of ``model`` as in torchvision's ResNet (He et al. 2015, 2016).

    .. math::
        W_{\\text{conv}} \\sim \\mathcal{N}\\Big(0, \\frac{\\text{gain}^2}{\\text{fan\\_out}}\\Big),\\quad
        \\text{fan\\_out} = \\text{out\\_channels}/\\text{groups} \\cdot \\prod k,\\qquad
        b = 0,\\quad \\gamma_{\\text{BN}} = 1,\\quad \\beta_{\\text{BN}} = 0

    ``gain = √2`` for ReLU. The fan_out mode preserves the variance of the backward signal (He et al. 2015,
    eq. 14), as torchvision does. With ``zero_init_residual`` the last norm layer of each residual branch
    gets ``γ = 0``, so that every residual block starts as the identity (Goyal et al. 2017, "Accurate, Large
    Minibatch SGD"): the network behaves like a shallower one at step 0 and trains stably with large batches.

    Acts on: every convolution (and its bias), BatchNorm/GroupNorm/InstanceNorm. Linear layers, LayerNorm,
    embeddings, attention and recurrent layers are left alone.

    Args:
        model: any model with convolutions.
        zero_init_residual: zero the last norm layer's scale in each residual block.
        nonlinearity: the activation after the convolutions (sets the Kaiming gain).
        seed: base seed; each parameter's values depend only on (seed, its name).

    Raises:
        WeightInitError: when the model has no convolution, or ``zero_init_residual`` is set and no residual
            block ends in a norm layer; the model is untouched.
    """
    check_module("model", model)
    if not any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules()):
        raise WeightInitError(f"cnn_initialization found no convolution in {type(model).__name__}")
    calculate_gain(nonlinearity)
    zero_norms: set[str] = set()
    if zero_init_residual:
        zero_norms = {b.branch_norms[-1] for b in residual_blocks(model) if b.branch_norms}
        if not zero_norms:
            raise WeightInitError(
                "Argument `zero_init_residual=True` needs residual blocks whose branch ends in a norm layer; "
                f"none found in {type(model).__name__}"
            )
    kaiming = get_initializer("kaiming_normal", mode="fan_out", nonlinearity=nonlinearity)
    norm_types = (nn.modules.batchnorm._NormBase, nn.GroupNorm)

    def rule(site: ParamSite) -> Decision | str:
        module = site.module
        if isinstance(module, nn.modules.conv._ConvNd):
            if site.kind == "weight":
                return weight_decision(site, kaiming, f"conv: Kaiming normal, fan_out, {nonlinearity} gain "
                                       "(He et al. 2015)")
            if site.kind == "bias":
                return Decision(constant(0.0), "conv bias = 0")
        if isinstance(module, norm_types) and site.kind in ("norm_weight", "norm_bias"):
            if site.kind == "norm_bias":
                return Decision(constant(0.0), f"{type(module).__name__}: β = 0")
            if site.module_name in zero_norms:
                return Decision(constant(0.0), "last norm of a residual branch: γ = 0, the block starts as the "
                                "identity (Goyal et al. 2017)")
            return norm_decision(site)
        return "not a convolution or batch/group norm: left alone (cnn_initialization)"

    return run_rule(model, "cnn_initialization", rule, seed=seed)


def lstm_bias_(tensor: torch.Tensor, forget_bias: float = 1.0) -> torch.Tensor:
    """Fill an LSTM bias ``[b_i | b_f | b_g | b_o]`` with zeros and ``forget_bias`` in the forget-gate block."""
    with torch.no_grad():
        tensor.zero_()
        tensor.chunk(4, 0)[1].fill_(forget_bias)
    return tensor


_CELL_BLOCKS = {nn.LSTMCell: 4, nn.GRUCell: 3, nn.RNNCell: 1}


def rnn_initialization(
    model: nn.Module,
    num_layers: int | None = None,
    *,
    forget_bias: float = 1.0,
    seed: int | None = None,
) -> InitResult:
    """Initialize every RNN/LSTM/GRU (and cell) in ``model``, per gate block.

    .. math::
        W_{hh}^{(g)} \\in \\mathcal{O}(h),\\qquad
        W_{ih}^{(g)} \\sim \\mathcal{U}\\Big(\\pm\\sqrt{\\tfrac{6}{\\text{in} + h}}\\Big),\\qquad
        b = 0,\\quad b_{ih}^{(f)} = \\text{forget\\_bias}

    - recurrent weights: a random orthogonal matrix for each gate block ``g`` separately, so that repeated
      multiplication by ``W_hh`` neither explodes nor vanishes (Saxe et al. 2014);
    - input weights: Xavier uniform with the fans of one gate block (Glorot & Bengio 2010);
    - LSTM forget-gate bias 1 (Jozefowicz et al. 2015; Gers et al. 2000), so that the cell remembers by
      default; it is put in ``bias_ih`` and ``bias_hh``'s forget block is 0, so their sum is ``forget_bias``;
    - all other biases 0. Projection weights (``weight_hr``, LSTM ``proj_size``) get Xavier uniform.

    Acts on ``nn.RNN``, ``nn.LSTM``, ``nn.GRU`` (every layer and direction) and their cells; everything else
    is left alone.

    Args:
        model: any model with recurrent layers.
        num_layers: when given, checked against every ``nn.RNNBase``'s ``num_layers``.
        forget_bias: the LSTM forget-gate bias.
        seed: base seed; each parameter's values depend only on (seed, its name).

    Raises:
        WeightInitError: when the model has no recurrent layer or ``num_layers`` does not match it.
    """
    check_module("model", model)
    recurrent = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.RNNBase | nn.RNNCellBase)]
    if not recurrent:
        raise WeightInitError(f"rnn_initialization found no RNN/LSTM/GRU layer or cell in {type(model).__name__}")
    if num_layers is not None:
        integer("num_layers", num_layers)
        wrong = [f"{n or type(m).__name__} has {m.num_layers}" for n, m in recurrent
                 if isinstance(m, nn.RNNBase) and m.num_layers != num_layers]
        if wrong:
            raise WeightInitError(f"Argument `num_layers` does not match the model ({'; '.join(wrong)}). "
                                  f"Received: num_layers={num_layers}")
    forget = finite("forget_bias", forget_bias)
    return run_rule(model, "rnn_initialization", rnn_rule(forget), seed=seed)


def rnn_rule(forget: float = 1.0) -> Rule:
    """The per-parameter rule of :func:`rnn_initialization` (also used by ``auto`` for recurrent layers)."""
    xavier, orthogonal = get_initializer("xavier_uniform"), get_initializer("orthogonal")
    lstm_bias = get_initializer(lstm_bias_, forget_bias=forget)

    def rule(site: ParamSite) -> Decision | str:
        module, local = site.module, site.local_name
        if isinstance(module, nn.RNNBase):
            blocks, fans = site.blocks, site.fans
            is_lstm = module.mode == "LSTM"
        elif isinstance(module, nn.RNNCellBase):
            blocks = _CELL_BLOCKS.get(type(module), 1)
            fan_in = module.input_size if local.startswith("weight_ih") else module.hidden_size
            fans = (fan_in, module.hidden_size)
            is_lstm = isinstance(module, nn.LSTMCell)
        else:
            return "not a recurrent layer: left alone (rnn_initialization)"
        per_gate = f", each of {blocks} gate blocks separately" if blocks > 1 else ""
        if local.startswith("weight_hh"):
            return Decision(orthogonal, f"recurrent weight: orthogonal{per_gate} (Saxe et al. 2014)", fans, blocks)
        if local.startswith("weight_ih"):
            return Decision(xavier, f"input weight: Xavier uniform{per_gate} (Glorot & Bengio 2010)", fans, blocks)
        if local.startswith("weight_hr"):
            return Decision(xavier, "LSTM projection: Xavier uniform", site.fans)
        if local.startswith("bias_ih") and is_lstm:
            return Decision(lstm_bias, f"LSTM bias: forget gate = {forget:g}, others 0 (Jozefowicz et al. 2015)")
        if local.startswith("bias"):
            return Decision(constant(0.0), "bias = 0")
        return "unknown recurrent parameter: left alone"

    return rule


#: ``WeightInitializer.lstm_init``: :func:`rnn_initialization` on a module (an ``nn.LSTM`` or any model).
lstm_init = rnn_initialization
#: ``WeightInitializer.conv_init``: :func:`cnn_initialization` on a module (a ``Conv2d`` or any model).
conv_init = cnn_initialization
#: ``WeightInitializer.transformer_init``: :func:`transformer_initialization`.
transformer_init = transformer_initialization
