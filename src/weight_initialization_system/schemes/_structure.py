"""Find the parts of a model that architecture schemes act on: transformer blocks and residual blocks.

Detection is by module type and by the naming conventions shared by torch, torchvision, timm and Hugging Face,
so that schemes work on models they were not written for:

- an *attention module* is an ``nn.MultiheadAttention`` or a module whose class name contains ``Attention``
  (the outermost one when they nest, e.g. BERT's ``BertAttention`` around ``BertSelfAttention``);
- its *transformer block* is the closest ancestor that also holds a linear layer outside the attention (the
  MLP): ``nn.TransformerEncoderLayer``, GPT-2's ``GPT2Block``, BERT's ``BertLayer``, timm's ``Block``;
- a block's *output projections* are the last linear layer of its attention (``out_proj``, ``c_proj``,
  ``proj``, ``attention.output.dense``) and the last linear layer outside it (``fc2``, ``mlp.c_proj``,
  ``linear2``): the two layers that write into the residual stream, which GPT-2 scales by 1/√(2N);
- a *residual block* (CNN) is a module whose class name contains ``Block``, ``Bottleneck`` or ``Residual``, that
  holds convolutions and no attention; its *branch* is the convolutions (and norms) outside its shortcut
  (a child named ``downsample``, ``shortcut``, ``skip`` or ``proj``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

from ..initializers.fans import _is_hf_conv1d

__all__ = [
    "ResidualBlockInfo",
    "TransformerBlockInfo",
    "is_linear_like",
    "model_width",
    "residual_blocks",
    "transformer_blocks",
]

_QUERY = {"query", "q_proj", "q", "wq", "to_q", "q_lin"}
_KEY = {"key", "k_proj", "k", "wk", "to_k", "k_lin"}
_VALUE = {"value", "v_proj", "v", "wv", "to_v", "v_lin"}
_FUSED_QKV = {"qkv", "c_attn", "wqkv", "query_key_value", "in_proj"}
_SHORTCUT = {"downsample", "shortcut", "skip", "proj", "residual_proj"}
_RESIDUAL_CLASS = re.compile(r"block|bottleneck|residual", re.IGNORECASE)


def is_linear_like(module: nn.Module) -> bool:
    """``nn.Linear`` or Hugging Face's ``Conv1D`` (a linear layer with a transposed weight)."""
    return isinstance(module, nn.Linear) or _is_hf_conv1d(module)


def _is_attention(module: nn.Module) -> bool:
    return isinstance(module, nn.MultiheadAttention) or "attention" in type(module).__name__.lower()


def _inside(name: str, prefix: str) -> bool:
    return prefix == "" or name == prefix or name.startswith(prefix + ".")


@dataclass(frozen=True)
class TransformerBlockInfo:
    """One transformer block, by qualified module names.

    Attributes:
        name: the block.
        attention: its (outermost) attention module.
        width: the attention's embedding dimension.
        query: query projections (``nn.MultiheadAttention``: the attention itself, whose ``in_proj_weight``
            holds q, k and v).
        key: key projections.
        value: value projections.
        fused_qkv: fused q/k/v projections (``qkv``, ``c_attn``, ``in_proj``).
        output_projections: the layers that write into the residual stream.
        linears: every linear-like layer of the block (including ``nn.MultiheadAttention``).
        norm_first: ``True`` for pre-LN, ``False`` for post-LN, ``None`` when unknown.
    """

    name: str
    attention: str
    width: int
    query: tuple[str, ...]
    key: tuple[str, ...]
    value: tuple[str, ...]
    fused_qkv: tuple[str, ...]
    output_projections: tuple[str, ...]
    linears: tuple[str, ...]
    norm_first: bool | None


def _attention_width(attention: nn.Module, linears: list[tuple[str, nn.Module]]) -> int:
    if isinstance(attention, nn.MultiheadAttention):
        return int(attention.embed_dim)
    first = linears[0][1] if linears else None
    if isinstance(first, nn.Linear):
        return int(first.in_features)
    if first is not None and _is_hf_conv1d(first):
        weight: torch.Tensor = first.weight  # type: ignore[assignment]
        return int(weight.shape[0])
    return 0


def transformer_blocks(model: nn.Module) -> list[TransformerBlockInfo]:
    """Every transformer block of ``model``, in module order (see the module docstring for the rules)."""
    modules = dict(model.named_modules())
    attentions: list[str] = []
    for name, module in modules.items():
        if _is_attention(module) and not any(_inside(name, a) for a in attentions):
            attentions.append(name)
    blocks: list[TransformerBlockInfo] = []
    for attention in attentions:
        parts = attention.split(".") if attention else []
        block = None
        for cut in range(len(parts) - 1, -1, -1):
            candidate = ".".join(parts[:cut])
            if any(is_linear_like(m) and _inside(n, candidate) and not _inside(n, attention)
                   for n, m in modules.items()):
                block = candidate
                break
        if block is None or any(b.name == block for b in blocks):
            continue
        att_module = modules[attention]
        att_linears = [(n, m) for n, m in modules.items() if _inside(n, attention) and is_linear_like(m)]
        local = {n: n.rsplit(".", 1)[-1].lower() for n, _ in att_linears}
        query = tuple(n for n, _ in att_linears if local[n] in _QUERY)
        key = tuple(n for n, _ in att_linears if local[n] in _KEY)
        value = tuple(n for n, _ in att_linears if local[n] in _VALUE)
        fused = tuple(n for n, _ in att_linears if local[n] in _FUSED_QKV)
        if isinstance(att_module, nn.MultiheadAttention):
            fused = (attention,)
        rest = [n for n, _ in att_linears if n not in (*query, *key, *value, *fused)]
        mlp = [n for n, m in modules.items() if _inside(n, block) and not _inside(n, attention) and is_linear_like(m)]
        outputs = tuple(x for x in (rest[-1] if rest else None, mlp[-1] if mlp else None) if x is not None)
        linears = tuple(n for n, m in modules.items() if _inside(n, block)
                        and (is_linear_like(m) or isinstance(m, nn.MultiheadAttention)))
        norm_first = getattr(modules[block], "norm_first", None)
        if not isinstance(norm_first, bool):
            norm_first = _pre_ln_by_order(modules, block, attention)
        blocks.append(TransformerBlockInfo(
            block, attention, _attention_width(att_module, att_linears), query, key, value, fused, outputs,
            linears, norm_first if isinstance(norm_first, bool) else None,
        ))
    return blocks


def _pre_ln_by_order(modules: dict[str, nn.Module], block: str, attention: str) -> bool | None:
    """Pre-LN when the block's first LayerNorm (module order) comes before its attention (GPT-2 ``ln_1``,
    timm ``norm1``); post-LN when it comes later (BERT's ``attention.output.LayerNorm``); ``None`` without one."""
    seen_attention = False
    for name, module in modules.items():
        seen_attention = seen_attention or name == attention
        if _inside(name, block) and name != block and isinstance(module, nn.LayerNorm | nn.RMSNorm):
            return not seen_attention
    return None


def model_width(model: nn.Module, blocks: list[TransformerBlockInfo]) -> int | None:
    """The residual-stream width: the blocks' attention width, else the first embedding's dimension."""
    widths = {b.width for b in blocks if b.width}
    if len(widths) == 1:
        return widths.pop()
    for module in model.modules():
        if isinstance(module, nn.Embedding):
            return int(module.embedding_dim)
    return None


@dataclass(frozen=True)
class ResidualBlockInfo:
    """One convolutional residual block.

    Attributes:
        name: the block.
        branch_layers: weight layers (conv, linear) of the residual branch, in module order.
        branch_norms: norm layers of the branch, in module order (the last one is zero-initialized by
            ``zero_init_residual``).
        shortcut_layers: weight layers of the projection shortcut, if any.
        gates: scalar gate parameters of the block (ReZero/SkipInit), by qualified name.
    """

    name: str
    branch_layers: tuple[str, ...]
    branch_norms: tuple[str, ...]
    shortcut_layers: tuple[str, ...]
    gates: tuple[str, ...]


def _is_norm(module: nn.Module) -> bool:
    return isinstance(module, nn.modules.batchnorm._NormBase | nn.GroupNorm | nn.LayerNorm)


def residual_blocks(model: nn.Module) -> list[ResidualBlockInfo]:
    """Convolutional residual blocks of ``model`` (innermost matches), in module order."""
    modules = dict(model.named_modules())
    candidates = [
        n for n, m in modules.items()
        if _RESIDUAL_CLASS.search(type(m).__name__)
        and any(isinstance(c, nn.modules.conv._ConvNd) for c in m.modules())
        and not any(_is_attention(c) for c in m.modules())
    ]
    innermost = [n for n in candidates if not any(o != n and _inside(o, n) for o in candidates)]
    blocks: list[ResidualBlockInfo] = []
    for block in innermost:
        prefix = f"{block}." if block else ""
        shortcuts = [f"{prefix}{child}" for child, _ in modules[block].named_children() if child in _SHORTCUT]
        branch, norms, short = [], [], []
        for n, m in modules.items():
            if not _inside(n, block) or n == block:
                continue
            is_weight = isinstance(m, nn.modules.conv._ConvNd) or is_linear_like(m)
            if any(_inside(n, s) for s in shortcuts):
                if is_weight:
                    short.append(n)
            elif is_weight:
                branch.append(n)
            elif _is_norm(m):
                norms.append(n)
        gates = tuple(f"{prefix}{local}" for local, p in modules[block].named_parameters(recurse=False)
                      if p.numel() == 1)
        if len(branch) >= 2:
            blocks.append(ResidualBlockInfo(block, tuple(branch), tuple(norms), tuple(short), gates))
    return blocks
