"""The parts of a model that architecture schemes act on, read from the traced graph.

Everything here comes from :func:`weight_initialization_system.graph.trace` (what the forward computes), not
from class or attribute names:

- a *transformer block* is the smallest module holding an attention (a softmax over ``q·kᵀ``, or
  ``nn.MultiheadAttention``), the residual branch its output projection ends, and the next residual branch
  end that is not an attention (the MLP): ``nn.TransformerEncoderLayer``, GPT-2's ``GPT2Block``, BERT's
  ``BertLayer``, T5's ``T5Block``;
- its *output projections* are those two branch ends, which GPT-2 scales by 1/√(2N); its q/k/v projections
  are the weight layers behind the attention's scores and values (one fused layer when they coincide);
- pre-LN or post-LN is where the block's residual additions normalize (see the graph);
- a *residual block* (CNN) is a module running a residual addition whose branch holds convolutions and no
  attention; its *branch* is the weight layers and norms inside it that are not on the skip path (a
  projection shortcut).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..graph import ModelGraph
from ..initializers.fans import _is_hf_conv1d
from .walker import model_graph

__all__ = [
    "ResidualBlockInfo",
    "TransformerBlockInfo",
    "is_linear_like",
    "model_width",
    "residual_blocks",
    "transformer_blocks",
]


def is_linear_like(module: nn.Module) -> bool:
    """``nn.Linear`` or Hugging Face's ``Conv1D`` (a linear layer with a transposed weight)."""
    return isinstance(module, nn.Linear) or _is_hf_conv1d(module)


def _inside(name: str, prefix: str) -> bool:
    return prefix == "" or name == prefix or name.startswith(prefix + ".")


def _common(names: list[str]) -> str:
    parts = [n.split(".") if n else [] for n in names]
    out: list[str] = []
    for pieces in zip(*parts, strict=False):
        if any(p != pieces[0] for p in pieces):
            break
        out.append(pieces[0])
    return ".".join(out)


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


def transformer_blocks(model: nn.Module, graph: ModelGraph | None = None) -> list[TransformerBlockInfo]:
    """Every transformer block of ``model``, in execution order (see the module docstring for the rules)."""
    graph = model_graph(model) if graph is None else graph
    module_of = {name: layer.module for name, layer in graph.weights.items()}
    ends = sorted((graph.weights[p] for p in graph.residual_ends if p in graph.weights), key=lambda la: la.order)
    blocks: list[TransformerBlockInfo] = []
    for attention in graph.attention.values():
        into = [la for la in ends if la.feeds == "attention" and (
            _inside(la.module, attention.module) or _inside(attention.module, _common([la.module, attention.module]))
        )]
        out_proj = max(into, key=lambda la: len(_common([la.module, attention.module])), default=None)
        if out_proj is None:
            continue
        mlp = next((la for la in ends if la.order > out_proj.order and la.feeds != "attention"), None)
        parts = [attention.module, out_proj.module] + ([mlp.module] if mlp is not None else [])
        block = _common(parts)
        if block == attention.module or _inside(block, attention.module):
            block = attention.module.rsplit(".", 1)[0] if "." in attention.module else ""
        if any(b.name == block for b in blocks):
            continue
        query = tuple(dict.fromkeys(module_of[p] for p in attention.query if p in module_of))
        key = tuple(dict.fromkeys(module_of[p] for p in attention.key if p in module_of))
        value = tuple(dict.fromkeys(module_of[p] for p in attention.value if p in module_of))
        fused = tuple(m for m in query if m in key)
        if fused:
            query, key, value = (), (), ()
        first = attention.query[0] if attention.query else None
        width = graph.weights[first].fans[0] if first in graph.weights else 0
        outputs = tuple(la.module for la in (out_proj, mlp) if la is not None)
        linears = tuple(dict.fromkeys(la.module for la in graph.weights.values()
                                      if _inside(la.module, block) and la.op != "embedding"))
        positions = {r.norm for r in graph.residuals if _inside(r.block, block)}
        norm_first = True if positions == {"pre"} else False if positions == {"post"} else None
        blocks.append(TransformerBlockInfo(block, attention.module, int(width), query, key, value, fused, outputs,
                                           linears, norm_first))
    return blocks


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


def residual_blocks(model: nn.Module, graph: ModelGraph | None = None) -> list[ResidualBlockInfo]:
    """Convolutional residual blocks of ``model``, in execution order."""
    graph = model_graph(model) if graph is None else graph
    attention_modules = [a.module for a in graph.attention.values()]
    norm_modules = list(dict.fromkeys(info.module for info in graph.norms.values()))
    blocks: list[ResidualBlockInfo] = []
    for add in graph.residuals:
        block = add.block
        if any(b.name == block for b in blocks) or any(_inside(a, block) for a in attention_modules):
            continue
        layers = sorted((la for la in graph.weights.values() if _inside(la.module, block)), key=lambda la: la.order)
        if not any(la.op in ("conv", "conv_transpose") for la in layers):
            continue
        shortcut = {graph.weights[p].module for p in add.skip_layers if p in graph.weights}
        branch = tuple(la.module for la in layers if la.module not in shortcut)
        norms = tuple(n for n in norm_modules if _inside(n, block) and n not in add.skip_norms)
        module = model.get_submodule(block)
        prefix = f"{block}." if block else ""
        gates = tuple(f"{prefix}{local}" for local, p in module.named_parameters(recurse=False) if p.numel() == 1)
        if len(branch) >= 2:
            blocks.append(ResidualBlockInfo(block, branch, norms, tuple(sorted(shortcut)), gates))
    return blocks
