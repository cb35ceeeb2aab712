"""Published initialization schemes, in one registry: ``list_schemes()``, ``apply_scheme(model, name, **kw)``.

Every scheme is a rule over the model's parameters applied through
:func:`~weight_initialization_system.schemes.apply_decisions`: it returns the same :class:`InitResult` as
``initialize_model`` (per parameter: initializer, arguments, fans and the reason with its paper), its values
depend only on (seed, parameter name), and a scheme that does not fit the model raises a
:class:`~weight_initialization_system.errors.WeightInitError` before anything is written.

=================  ==============================================================  ===========================
name (aliases)     what                                                            needs
=================  ==============================================================  ===========================
gpt2 (nanogpt)     N(0, 0.02²); residual output projections /√(2N)                 transformer blocks
bert               trunc-normal(0, 0.02², ±2σ) for linear and embedding weights    transformer blocks/embeds
vit                timm ``default`` (trunc-normal 0.02) or ``jax`` (Xavier, zero   transformer blocks
                   head, LeCun patch projection)
fixup              Fixup: branch layers ·L^{-1/(2m-2)}, last branch layer and      norm-free residual blocks
                   classifier 0
t_fixup            T-Fixup: Xavier, v/out/MLP and embeddings ·0.67 N^{-1/4}        post-LN/LN-free blocks
deepnet (deepnorm) DeepNet: Xavier-normal, v/out/MLP ·β=(8N)^{-1/4}, α=(2N)^{1/4}  post-LN blocks with
                                                                                   ``residual_scale``
rezero (skipinit)  residual gates α = 0 (the rest untouched)                        scalar residual gates
zero (zero_init)   ZerO: deterministic (partial) identity / Hadamard weights,      linear or conv layers
                   last layer of each residual branch 0
delta_orthogonal   delta-orthogonal convolutions, orthogonal linear layers          convolutions
mup                μP: hidden N(0, σ²·base/fan_in), readout 0, query 0              a base width
=================  ==============================================================  ===========================
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from ..errors import WeightInitError
from ..initializers import calculate_gain, get_initializer
from ..initializers._common import check_choice, check_module, closest_match, integer, positive
from ..initializers.fans import _is_hf_conv1d
from ._plan import chunk_scaled_, constant, normal, run_rule, weight_decision
from ._structure import TransformerBlockInfo, is_linear_like, residual_blocks, transformer_blocks
from .architectures import transformer_initialization
from .result import InitResult
from .walker import Decision, ParamSite, norm_decision

__all__ = ["SchemeSpec", "apply_scheme", "get_scheme", "list_schemes", "zero_hadamard_"]

SchemeFn = Callable[..., InitResult]


@dataclass(frozen=True)
class SchemeSpec:
    """A registered scheme: its name, function, paper and aliases."""

    name: str
    fn: SchemeFn
    reference: str
    aliases: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """The first line of the scheme's docstring."""
        return (inspect.getdoc(self.fn) or "").split("\n", 1)[0]

    def arguments(self) -> list[str]:
        """The keyword arguments the scheme accepts (besides the model)."""
        return list(inspect.signature(self.fn).parameters)[1:]


def _inside(name: str, prefix: str) -> bool:
    return prefix == "" or name == prefix or name.startswith(prefix + ".")


def _block_of(name: str, blocks: list[TransformerBlockInfo]) -> TransformerBlockInfo | None:
    return next((b for b in blocks if _inside(name, b.name)), None)


def _need_blocks(model: nn.Module, scheme: str) -> list[TransformerBlockInfo]:
    blocks = transformer_blocks(model)
    if not blocks:
        raise WeightInitError(
            f"Scheme {scheme!r} needs transformer blocks (an attention module and an MLP), and "
            f"{type(model).__name__} has none."
        )
    return blocks


def _is_norm_site(site: ParamSite) -> bool:
    return site.kind in ("norm_weight", "norm_bias")


def _norm_decision(site: ParamSite) -> Decision:
    return norm_decision(site)


def _last_linear(model: nn.Module, blocks: list[TransformerBlockInfo]) -> str | None:
    names = [n for n, m in model.named_modules() if is_linear_like(m) and _block_of(n, blocks) is None]
    return names[-1] if names else None


def _fused_decision(site: ParamSite, initializer: str, scales: tuple[float, float, float], reason: str,
                    **init_kwargs: float) -> Decision:
    """A fused q/k/v weight with a different scale per block."""
    hf = _is_hf_conv1d(site.module)
    fans = site.fans
    if hf and fans is not None:
        fans = (fans[0], fans[1] // 3)
    init = get_initializer(chunk_scaled_, initializer=initializer, scales=scales, init_kwargs=init_kwargs,
                           dim=1 if hf else 0)
    return Decision(init, reason, fans)


def _zero(reason: str) -> Decision:
    return Decision(constant(0.0), reason)


# ---------------------------------------------------------------------------------------------- transformers


def gpt2(model: nn.Module, *, std: float = 0.02, n_layers: int | None = None, seed: int | None = None) -> InitResult:
    """GPT-2 / nanoGPT (Radford et al. 2019): N(0, 0.02²) everywhere, residual output projections /√(2N).

    .. math::
        W \\sim \\mathcal{N}(0, 0.02^2),\\quad W_{\\text{out}} \\sim \\mathcal{N}(0, (0.02/\\sqrt{2N})^2),\\quad
        b = 0,\\quad \\text{LN} = (1, 0)

    Same rule as :func:`~weight_initialization_system.schemes.architectures.transformer_initialization`.
    """
    _need_blocks(model, "gpt2")
    result = transformer_initialization(model, std=std, n_layers=n_layers, seed=seed)
    result.method = "gpt2"
    return result


def bert(model: nn.Module, *, std: float = 0.02, seed: int | None = None) -> InitResult:
    """BERT (Devlin et al. 2019): every linear and embedding weight ~ truncated N(0, 0.02²) at ±2σ.

    .. math::
        W \\sim \\mathcal{TN}(0, 0.02^2; -2\\sigma, 2\\sigma),\\quad b = 0,\\quad \\text{LN} = (1, 0)

    The TensorFlow original draws ``truncated_normal(stddev=0.02)`` (Hugging Face's port uses an untruncated
    normal). No residual scaling. Acts on all linear layers, ``nn.MultiheadAttention``, embeddings and
    LayerNorms of the model.
    """
    blocks = transformer_blocks(model)
    if not blocks and not any(isinstance(m, nn.Embedding) for m in model.modules()):
        raise WeightInitError(f"Scheme 'bert' needs transformer blocks or embeddings; {type(model).__name__} "
                              "has neither.")
    sigma = positive("std", std)
    init = normal(sigma, truncated=True)

    def rule(site: ParamSite) -> Decision | str:
        linear = is_linear_like(site.module) or isinstance(site.module, nn.MultiheadAttention)
        if site.kind == "embedding" or (site.kind == "weight" and linear):
            return weight_decision(site, init, f"trunc-normal(0, {sigma:g}², ±2σ) (Devlin et al. 2019)")
        if site.kind == "bias" and linear:
            return _zero("bias = 0")
        if _is_norm_site(site):
            return _norm_decision(site)
        return "not a linear, embedding or norm layer: left alone (bert)"

    result = run_rule(model, "bert", rule, seed=seed)
    return result


def vit(model: nn.Module, *, mode: Literal["default", "jax"] = "default", seed: int | None = None) -> InitResult:
    """Vision Transformer initialization as in timm (Dosovitskiy et al. 2021; Steiner et al. 2021).

    ``mode="default"`` (timm ``init_weights_vit_timm``): linear weights ~ trunc-normal(0, 0.02²) with timm's
    absolute bounds ±2 (so practically untruncated), biases 0, ``pos_embed`` trunc-normal(0, 0.02²),
    ``cls_token`` N(0, 10⁻¹²); the patch-projection convolution keeps torch's default.

    ``mode="jax"`` (the original big_vision/JAX init, timm ``init_weights_vit_jax``): linear weights Xavier
    uniform (fused ``qkv`` with the fans of one of q, k, v), biases 0 except the MLP biases ~ N(0, 10⁻¹²); the
    classification head (the last linear layer) is zero; convolutions LeCun normal; ``pos_embed`` N(0, 0.02²);
    ``cls_token`` 0. LayerNorm 1/0 in both modes.
    """
    check_choice("mode", mode, ("default", "jax"))
    blocks = _need_blocks(model, "vit")
    head = _last_linear(model, blocks)
    linear_init = get_initializer("trunc_normal", std=0.02, a=-2.0, b=2.0)
    xavier, lecun = get_initializer("xavier_uniform"), get_initializer("lecun_normal")
    tiny = get_initializer("normal", std=1e-6)

    def rule(site: ParamSite) -> Decision | str:
        module, local = site.module, site.local_name.lower()
        linear = is_linear_like(module) or isinstance(module, nn.MultiheadAttention)
        if _is_norm_site(site):
            return _norm_decision(site)
        if site.kind == "unknown" and site.tensor.dim() >= 2 and "pos" in local:
            init = linear_init if mode == "default" else normal(0.02)
            return Decision(init, f"position embedding ({mode} mode)")
        if site.kind == "unknown" and "cls" in local:
            return Decision(tiny if mode == "default" else constant(0.0), f"class token ({mode} mode)")
        if mode == "default":
            if site.kind == "weight" and linear:
                return weight_decision(site, linear_init, "trunc-normal(0, 0.02², [-2, 2]) (timm default)")
            if site.kind == "bias" and linear:
                return _zero("bias = 0")
            return "timm default mode: left at its current value"
        if linear and site.module_name == head:
            return _zero("classification head = 0 (jax mode)")
        if site.kind == "weight" and linear:
            fused = site.module_name.rsplit(".", 1)[-1].lower() in ("qkv", "in_proj") or site.blocks == 3
            if fused and site.blocks == 1 and site.fans is not None:
                return Decision(xavier, "Xavier uniform per q/k/v block (jax mode)",
                                (site.fans[0], site.fans[1] // 3), 3)
            return weight_decision(site, xavier, "Xavier uniform (jax mode)")
        if site.kind == "bias" and linear:
            block = _block_of(site.module_name, blocks)
            in_mlp = block is not None and not _inside(site.module_name, block.attention)
            return Decision(tiny, "MLP bias ~ N(0, 10⁻¹²) (jax mode)") if in_mlp else _zero("bias = 0")
        if isinstance(module, nn.modules.conv._ConvNd):
            if site.kind == "weight":
                return weight_decision(site, lecun, "patch projection: LeCun normal (jax mode)")
            return _zero("conv bias = 0")
        return "left alone (vit jax mode)"

    result = run_rule(model, f"vit_{mode}", rule, seed=seed)
    return result


def _post_ln_blocks(model: nn.Module, scheme: str) -> list[TransformerBlockInfo]:
    blocks = _need_blocks(model, scheme)
    pre = [b.name for b in blocks if b.norm_first is True]
    if pre:
        raise WeightInitError(
            f"Scheme {scheme!r} is for post-LN (or LayerNorm-free) transformers, and block(s) "
            f"{', '.join(pre[:3])} are pre-LN (norm_first=True). Use 'gpt2' for pre-LN models."
        )
    return blocks


def _scaled_transformer(model: nn.Module, scheme: str, blocks: list[TransformerBlockInfo], *, initializer: str,
                        scale: float, scale_text: str, embedding_std: float | None, seed: int | None) -> InitResult:
    """Xavier for q/k; Xavier·scale for v, out and MLP weights (T-Fixup, DeepNet)."""
    scaled_init = get_initializer(initializer, gain=scale)
    plain_init = get_initializer(initializer)
    qk = {n for b in blocks for n in (*b.query, *b.key)}

    def rule(site: ParamSite) -> Decision | str:
        if _is_norm_site(site):
            return _norm_decision(site)
        if site.kind == "embedding":
            if embedding_std is None:
                return "embedding: left alone"
            return weight_decision(site, normal(embedding_std), f"embedding ~ N(0, {embedding_std:.4g}²)")
        block = _block_of(site.module_name, blocks)
        linear = is_linear_like(site.module) or isinstance(site.module, nn.MultiheadAttention)
        if site.kind == "bias" and linear:
            return _zero("bias = 0")
        if site.kind != "weight" or not linear:
            return f"left alone ({scheme})"
        if block is None:
            return weight_decision(site, plain_init, f"{initializer} outside the blocks")
        if site.module_name in block.fused_qkv:
            return _fused_decision(site, initializer, (1.0, 1.0, scale),
                                   f"fused q/k/v: {initializer}, v block · {scale_text}")
        if site.module_name in qk:
            return weight_decision(site, plain_init, f"query/key: {initializer}, unscaled")
        return weight_decision(site, scaled_init, f"value/output/MLP: {initializer} · {scale_text}")

    result = run_rule(model, scheme, rule, seed=seed)
    return result


def t_fixup(model: nn.Module, *, n_layers: int | None = None, seed: int | None = None) -> InitResult:
    """T-Fixup (Huang et al. 2020): train post-LN/LN-free transformers without warmup.

    .. math::
        W_{q,k} \\sim \\text{Xavier},\\quad
        W_{v}, W_{o}, W_{\\text{MLP}} \\sim 0.67\\,N^{-1/4}\\cdot\\text{Xavier},\\quad
        E \\sim 0.67\\,N^{-1/4}\\cdot\\mathcal{N}(0, d^{-1})

    ``N`` is the number of blocks (the encoder formula, which also applies to decoder-only stacks: they have
    the same two sublayers per block; the encoder-decoder decoder uses ``(9N)^{-1/4}``).
    """
    blocks = _post_ln_blocks(model, "t_fixup")
    layers = integer("n_layers", n_layers) if n_layers is not None else len(blocks)
    scale = 0.67 * layers ** -0.25
    width = blocks[0].width
    return _scaled_transformer(model, "t_fixup", blocks, initializer="xavier_uniform", scale=scale,
                               scale_text=f"0.67·N^(-1/4) = {scale:.4g}",
                               embedding_std=scale * width ** -0.5 if width else None, seed=seed)


def deepnet(model: nn.Module, *, n_layers: int | None = None, seed: int | None = None) -> InitResult:
    """DeepNet / DeepNorm (Wang et al. 2022): ``x ← LN(α·x + f(x))`` with Xavier-normal ``f`` weights ·β.

    .. math::
        \\alpha = (2N)^{1/4},\\qquad \\beta = (8N)^{-1/4}

    (encoder-only or decoder-only stack of ``N`` blocks). ``W_v``, ``W_o`` and the MLP weights get
    Xavier normal with gain β, ``W_q``, ``W_k`` gain 1. α is part of the forward pass: every block must expose a
    ``residual_scale`` attribute (``CustomTransformerModel(norm_first=False)`` does), which is set to α after
    the weights were written.
    """
    blocks = _post_ln_blocks(model, "deepnet")
    modules = dict(model.named_modules())
    missing = [b.name for b in blocks if not isinstance(getattr(modules[b.name], "residual_scale", None), float)]
    if missing:
        raise WeightInitError(
            "Scheme 'deepnet' changes the residual connection to LN(α·x + f(x)); block(s) "
            f"{', '.join(missing[:3])} have no float `residual_scale` attribute to carry α. "
            "Use CustomTransformerModel(norm_first=False) or add the attribute to your block."
        )
    layers = integer("n_layers", n_layers) if n_layers is not None else len(blocks)
    alpha, beta = (2 * layers) ** 0.25, (8 * layers) ** -0.25
    result = _scaled_transformer(model, "deepnet", blocks, initializer="xavier_normal", scale=beta,
                                 scale_text=f"β = (8N)^(-1/4) = {beta:.4g}", embedding_std=None, seed=seed)
    for block in blocks:
        modules[block.name].residual_scale = alpha
    return result


def mup(model: nn.Module, *, base_width: int, std: float = 0.02, seed: int | None = None) -> InitResult:
    """μP initialization (Yang et al. 2022, "Tensor Programs V"), tuned at ``base_width``.

    .. math::
        W_{\\text{hidden}} \\sim \\mathcal{N}\\Big(0, \\sigma^2\\,\\frac{\\text{base\\_width}}{\\text{fan\\_in}}\\Big),
        \\quad W_{\\text{readout}} = 0,\\quad W_q = 0,\\quad E \\sim \\mathcal{N}(0, \\sigma^2)

    Hidden (and input) weights have variance ∝ 1/fan_in, equal to σ² at the base width; embeddings are
    width-independent; the readout (the last linear layer outside the blocks) and the query projections start
    at zero, so that hyperparameters tuned on the base model transfer to wider ones. μP also changes the
    forward pass (attention logits ``QKᵀ/d`` instead of ``/√d``, output multiplier ``base/width``) and the
    per-layer learning rates (``MuAdam``); this scheme sets only the initialization.

    Raises:
        WeightInitError: when the readout is tied to the input embedding (zeroing it would zero both).
    """
    base = integer("base_width", base_width)
    sigma = positive("std", std)
    blocks = transformer_blocks(model)
    readout = _last_linear(model, blocks)
    if readout is None:
        raise WeightInitError(f"Scheme 'mup' needs a linear readout layer; {type(model).__name__} has none.")
    readout_weight = dict(model.named_modules())[readout].weight
    for name, module in model.named_modules():
        if isinstance(module, nn.Embedding) and module.weight is readout_weight:
            raise WeightInitError(
                f"Scheme 'mup' zero-initializes the readout {readout}.weight, which is tied to the input "
                f"embedding {name}.weight; untie them (μP treats input and output embeddings differently)."
            )
    queries = {n for b in blocks for n in b.query}
    fused = {n for b in blocks for n in b.fused_qkv}
    emb = normal(sigma)

    def rule(site: ParamSite) -> Decision | str:
        module = site.module
        layer = is_linear_like(module) or isinstance(module, nn.MultiheadAttention | nn.modules.conv._ConvNd)
        if _is_norm_site(site):
            return _norm_decision(site)
        if site.kind == "embedding":
            return weight_decision(site, emb, f"embedding ~ N(0, {sigma:g}²), width-independent (μP)")
        if site.kind == "bias" and layer:
            return _zero("bias = 0")
        if site.kind != "weight" or not layer or site.fans is None:
            return "left alone (mup)"
        if site.module_name == readout:
            return _zero("readout = 0 (μP)")
        hidden_std = sigma * math.sqrt(base / site.fans[0])
        if site.module_name in queries:
            return _zero("query projection = 0 (μP)")
        if site.module_name in fused:
            return _fused_decision(site, "normal", (0.0, 1.0, 1.0),
                                   f"fused q/k/v: q = 0, k/v ~ N(0, σ²·{base}/{site.fans[0]}) (μP)",
                                   std=hidden_std)
        return weight_decision(site, normal(hidden_std),
                               f"hidden ~ N(0, σ²·base/fan_in) = N(0, {hidden_std:.4g}²), base {base} (μP)")

    result = run_rule(model, "mup", rule, seed=seed)
    return result


# --------------------------------------------------------------------------------------------- residual nets


def fixup(model: nn.Module, *, seed: int | None = None) -> InitResult:
    """Fixup (Zhang et al. 2019): train deep residual networks without normalization.

    .. math::
        W^{(i)}_{\\text{branch}} \\sim \\mathcal{N}\\Big(0, \\frac{2}{\\text{fan\\_in}}\\Big)\\cdot L^{-1/(2m-2)}
        \\ (i < m),\\qquad W^{(m)}_{\\text{branch}} = 0,\\qquad W_{\\text{classifier}} = 0,\\ b = 0

    ``L`` residual branches of ``m`` layers each; every other weight layer (stem, projection shortcuts) gets
    He normal. Fixup's scalar biases and multiplier are architecture additions: parameters of that kind are
    left at their values. Needs residual blocks without normalization layers in the branch.
    """
    blocks = residual_blocks(model)
    if not blocks:
        raise WeightInitError(f"Scheme 'fixup' needs convolutional residual blocks (a residual addition around "
                              f"convolutions, found by tracing the forward); {type(model).__name__} has none.")
    normed = [b.name for b in blocks if any(not isinstance(dict(model.named_modules())[n], nn.Identity)
                                            for n in b.branch_norms)]
    if normed:
        raise WeightInitError(
            f"Scheme 'fixup' replaces normalization; residual block(s) {', '.join(normed[:3])} have norm layers "
            "in their branch. Build the model without them (e.g. CustomCNNModel(norm=False)) or use "
            "cnn_initialization(model, zero_init_residual=True)."
        )
    count = len(blocks)
    scale_of: dict[str, tuple[float, str]] = {}
    last: set[str] = set()
    for block in blocks:
        m = len(block.branch_layers)
        factor = count ** (-1.0 / (2 * m - 2))
        for name in block.branch_layers[:-1]:
            scale_of[name] = (factor, f"L^(-1/(2m-2)) = {count}^(-1/{2 * m - 2}) = {factor:.4g}")
        last.add(block.branch_layers[-1])
    classifier = _last_linear(model, [])

    def rule(site: ParamSite) -> Decision | str:
        module = site.module
        layer = is_linear_like(module) or isinstance(module, nn.modules.conv._ConvNd)
        if site.kind == "bias" and layer:
            return _zero("bias = 0")
        if _is_norm_site(site):
            return _norm_decision(site)
        if site.kind != "weight" or not layer or site.fans is None:
            return "left alone (fixup)"
        if site.module_name == classifier:
            return _zero("classifier = 0 (Fixup)")
        if site.module_name in last:
            return _zero("last layer of the residual branch = 0 (Fixup)")
        he_std = math.sqrt(2.0 / site.fans[0])
        if site.module_name in scale_of:
            factor, text = scale_of[site.module_name]
            return weight_decision(site, normal(he_std * factor), f"He normal · {text} (Fixup)")
        return weight_decision(site, normal(he_std), "He normal, outside the residual branches")

    return run_rule(model, "fixup", rule, seed=seed)


_GATE_NAMES = ("gate", "alpha", "rezero", "skipinit")


def rezero(model: nn.Module, *, seed: int | None = None) -> InitResult:
    """ReZero (Bachlechner et al. 2021) / SkipInit (De & Smith 2020): residual gates ``α = 0``.

    .. math::
        x_{l+1} = x_l + \\alpha_l\\, F(x_l),\\qquad \\alpha_l = 0

    Every block starts as the identity, so signal and gradient pass unchanged through any depth. The gates are
    scalar parameters of the residual blocks (``attn_gate``/``mlp_gate``/``residual_gate`` in the
    reference models, or any one-element parameter whose name contains ``gate``, ``alpha``, ``rezero`` or
    ``skipinit``); all other parameters are left as they are.
    """
    gates = {g for b in residual_blocks(model) for g in b.gates}
    modules = dict(model.named_modules())
    for block in transformer_blocks(model):
        prefix = f"{block.name}." if block.name else ""
        gates |= {prefix + n for n, p in modules[block.name].named_parameters(recurse=False) if p.numel() == 1}
    gates |= {n for n, p in model.named_parameters()
              if p.numel() == 1 and any(k in n.rsplit(".", 1)[-1].lower() for k in _GATE_NAMES)}
    if not gates:
        raise WeightInitError(
            f"Scheme 'rezero' needs scalar residual gates and {type(model).__name__} has none; build the "
            "reference models with residual_gate=True."
        )

    def rule(site: ParamSite) -> Decision | str:
        if site.name in gates:
            return _zero("residual gate α = 0 (ReZero / SkipInit)")
        return "not a residual gate: left alone (rezero)"

    return run_rule(model, "rezero", rule, seed=seed)


def _hadamard(order: int, dtype: torch.dtype) -> torch.Tensor:
    h = torch.ones(1, 1, dtype=dtype)
    for _ in range(order):
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return h


def zero_hadamard_(tensor: torch.Tensor) -> torch.Tensor:
    """ZerO's deterministic matrix (Zhao et al. 2021, Algorithm 1) at the centre tap of a kernel.

    .. math::
        W = I^{*}_{\\text{out}\\times\\text{in}}\\ (\\text{out} \\le \\text{in}),\\qquad
        W = c\\, I^{*}_{\\text{out}\\times 2^m} H_m I^{*}_{2^m\\times\\text{in}},\\
        m = \\lceil\\log_2 \\text{out}\\rceil,\\ c = 2^{-(m-1)/2}\\ (\\text{out} > \\text{in})

    ``I*`` is the partial identity and ``H_m`` the Sylvester Hadamard matrix; for an expanding layer the
    Hadamard transform spreads the ``in`` inputs over all outputs instead of leaving ``out - in`` of them dead.
    """
    if tensor.dim() < 2:
        raise WeightInitError(f"zero_hadamard_ needs a tensor with at least 2 dimensions. "
                              f"Received: shape {tuple(tensor.shape)}")
    out, inp = tensor.shape[0], tensor.shape[1]
    with torch.no_grad():
        if out <= inp:
            matrix = torch.eye(out, inp, dtype=tensor.dtype, device=tensor.device)
        else:
            order = math.ceil(math.log2(out))
            matrix = _hadamard(order, tensor.dtype)[:out, :inp].to(tensor.device) * 2 ** (-(order - 1) / 2)
        tensor.zero_()
        index: tuple[slice | int, ...] = (slice(None), slice(None), *(k // 2 for k in tensor.shape[2:]))
        tensor[index] = matrix
    return tensor


def zero(model: nn.Module, *, seed: int | None = None) -> InitResult:
    """ZerO (Zhao et al. 2021): deterministic initialization with zeros and ones.

    Linear and convolution weights get :func:`zero_hadamard_` (identity, partial identity, or a scaled
    Hadamard transform for expanding layers, at the kernel centre); the last layer of each residual branch is
    0, so residual blocks start as the identity; biases 0, norms 1/0. No randomness: ``seed`` only names the
    run.
    """
    modules = dict(model.named_modules())
    if not any(is_linear_like(m) or isinstance(m, nn.modules.conv._ConvNd) for m in modules.values()):
        raise WeightInitError(f"Scheme 'zero' needs linear or convolution layers; {type(model).__name__} has none.")
    last = {b.branch_layers[-1] for b in residual_blocks(model)}
    last |= {b.output_projections[-1] for b in transformer_blocks(model) if b.output_projections}
    hadamard = get_initializer(zero_hadamard_)

    def rule(site: ParamSite) -> Decision | str:
        module = site.module
        layer = is_linear_like(module) or isinstance(module, nn.modules.conv._ConvNd)
        if _is_norm_site(site):
            return _norm_decision(site)
        if site.kind == "bias" and layer:
            return _zero("bias = 0")
        if site.kind != "weight" or not layer:
            return "left alone (zero)"
        if site.module_name in last:
            return _zero("last layer of a residual branch = 0 (ZerO)")
        if _is_hf_conv1d(module):
            return "HF Conv1D stores (in, out): left alone (zero)"
        return Decision(hadamard, "partial identity / Hadamard (ZerO, Zhao et al. 2021)")

    return run_rule(model, "zero", rule, seed=seed)


def delta_orthogonal(model: nn.Module, *, nonlinearity: str = "relu", seed: int | None = None) -> InitResult:
    """Delta-orthogonal convolutions (Xiao et al. 2018) and orthogonal linear layers (Saxe et al. 2014).

    .. math::
        W[:, :, c] = \\text{gain}\\cdot Q,\\ Q^\\top Q = I,\\qquad W[:, :, k \\ne c] = 0

    An orthogonal map at every spatial position gives dynamical isometry, which trains vanilla CNNs of
    thousands of layers. ``gain = calculate_gain(nonlinearity)``. Biases 0, norms 1/0.
    """
    if not any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules()):
        raise WeightInitError(f"Scheme 'delta_orthogonal' needs convolutions; {type(model).__name__} has none.")
    gain = calculate_gain(nonlinearity)
    delta, ortho = get_initializer("delta_orthogonal", gain=gain), get_initializer("orthogonal", gain=gain)

    def rule(site: ParamSite) -> Decision | str:
        module = site.module
        if _is_norm_site(site):
            return _norm_decision(site)
        if isinstance(module, nn.modules.conv._ConvNd | nn.Linear) and site.kind == "bias":
            return _zero("bias = 0")
        if isinstance(module, nn.modules.conv._ConvNd) and site.kind == "weight" and site.tensor.dim() >= 3:
            return Decision(delta, f"delta-orthogonal, gain {gain:.4g} ({nonlinearity}) (Xiao et al. 2018)")
        if isinstance(module, nn.Linear) and site.kind == "weight":
            return Decision(ortho, f"orthogonal, gain {gain:.4g} ({nonlinearity}) (Saxe et al. 2014)")
        return "left alone (delta_orthogonal)"

    return run_rule(model, "delta_orthogonal", rule, seed=seed)


# ------------------------------------------------------------------------------------------------- registry

_SCHEMES: dict[str, SchemeSpec] = {
    spec.name: spec
    for spec in (
        SchemeSpec("gpt2", gpt2, "Radford et al. 2019, Language Models are Unsupervised Multitask Learners",
                   ("nanogpt",)),
        SchemeSpec("bert", bert, "Devlin et al. 2019, BERT"),
        SchemeSpec("vit", vit, "Dosovitskiy et al. 2021, An Image is Worth 16x16 Words; timm"),
        SchemeSpec("fixup", fixup, "Zhang et al. 2019, Fixup Initialization"),
        SchemeSpec("t_fixup", t_fixup, "Huang et al. 2020, Improving Transformer Optimization Through Better "
                   "Initialization", ("tfixup",)),
        SchemeSpec("deepnet", deepnet, "Wang et al. 2022, DeepNet: Scaling Transformers to 1,000 Layers",
                   ("deepnorm",)),
        SchemeSpec("rezero", rezero, "Bachlechner et al. 2021, ReZero; De & Smith 2020, SkipInit", ("skipinit",)),
        SchemeSpec("zero", zero, "Zhao et al. 2021, ZerO Initialization", ("zero_init",)),
        SchemeSpec("delta_orthogonal", delta_orthogonal, "Xiao et al. 2018, Dynamical Isometry and a Mean Field "
                   "Theory of CNNs"),
        SchemeSpec("mup", mup, "Yang et al. 2022, Tensor Programs V (μP)"),
    )
}
_ALIASES = {alias: spec.name for spec in _SCHEMES.values() for alias in spec.aliases}


def list_schemes(*, aliases: bool = False) -> list[str]:
    """The registered scheme names, sorted (with their aliases when ``aliases=True``)."""
    return sorted(set(_SCHEMES) | (set(_ALIASES) if aliases else set()))


def get_scheme(name: str) -> SchemeSpec:
    """The :class:`SchemeSpec` registered under ``name`` or an alias.

    Raises:
        WeightInitError: for an unknown name, with the closest match and the list of schemes.
    """
    if not isinstance(name, str):
        raise WeightInitError(f"Argument `name` must be a scheme name. Received: name={name!r}")
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key in _SCHEMES:
        return _SCHEMES[key]
    hint = closest_match(key, list_schemes(aliases=True))
    did_you_mean = f" Did you mean {hint!r}?" if hint else ""
    raise WeightInitError(f"Unknown scheme {name!r}.{did_you_mean} Available: {', '.join(list_schemes())}")


def apply_scheme(model: nn.Module, name: str, **kwargs: Any) -> InitResult:
    """Apply the published scheme ``name`` to ``model`` in place; all or nothing.

    >>> from weight_initialization_system.models import CustomTransformerModel
    >>> model = CustomTransformerModel(vocab_size=100, d_model=32)
    >>> apply_scheme(model, "gpt2", seed=0).method
    'gpt2'

    Raises:
        WeightInitError: for an unknown scheme or argument, or a scheme that does not fit the model; the
            model is untouched.
    """
    check_module("model", model)
    spec = get_scheme(name)
    allowed = spec.arguments()
    unknown = [k for k in kwargs if k not in allowed]
    if unknown:
        raise WeightInitError(f"Scheme {spec.name!r} got unexpected argument(s) {', '.join(map(repr, unknown))}. "
                              f"It accepts: {', '.join(allowed)}")
    return spec.fn(model, **kwargs)
