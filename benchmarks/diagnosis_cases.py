"""The cases of ``diagnosis_accuracy.py``: models that are healthy by construction and models with a planted fault.

Every :class:`Case` builds a seeded model, gives a sample (``model(*case.sample())``), says what was constructed
(``fault``), the label the construction should measure as (``expected``; ``None`` when only the measurement can
tell) and the layer it planted the fault in. The label that counts is the MEASURED one
(:func:`ground_truth.ground_truth`); ``expected`` only flags surprises. Importable on its own::

    from diagnosis_cases import CASES   # with benchmarks/ on sys.path
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for tests.graph.families

from tests.graph import families as fam  # noqa: E402

from weight_initialization_system.models import CustomCNNModel, CustomRNNModel, CustomTransformerModel  # noqa: E402
from weight_initialization_system.schemes import apply_scheme  # noqa: E402

__all__ = ["CASES", "Case", "plain_stack"]

BATCH = 64  # vectors and sequences of vectors
TOKEN_BATCH = 8  # x 8 tokens = 64 token positions
IMAGE_BATCH = 16
#: Deep plain stacks are 256 wide: a width-n ReLU stack drifts by about exp(-L/n) in log-variance and fluctuates
#: by sqrt(5L/n) (Hanin & Nica 2019); at n = 64 a Kaiming stack of depth 50 measured anywhere in 0.04-0.8.
WIDE = 256
NARROW = 64
SEQ_LEN = 16


@dataclass(frozen=True)
class Case:
    """One model to label."""

    name: str
    build: Callable[[], nn.Module]
    sample: Callable[[], tuple[Any, ...]]
    fault: str
    expected: str | None
    layer: str | None = None
    optimizer: str = ""
    vocab: int | None = None
    source: str = "ours"


# ------------------------------------------------------------------------------------------------ helpers ----


def _gen(seed: int = 1) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _vectors(width: int) -> Callable[[], tuple[Any, ...]]:
    return lambda: (torch.randn(BATCH, width, generator=_gen()),)


def _sequence(features: int = 8) -> tuple[Any, ...]:
    return (torch.randn(BATCH, SEQ_LEN, features, generator=_gen()),)


def _tokens() -> tuple[Any, ...]:
    return (torch.randint(3, fam.VOCAB, (TOKEN_BATCH, fam.SEQ), generator=_gen()),)


def _rebatch(sample: tuple[Any, ...], batch: int) -> tuple[Any, ...]:
    """The family's positional sample with ``batch`` examples: new tokens / noise, constant masks kept."""
    gen = _gen()
    out: list[Any] = []
    for value in sample:
        if not isinstance(value, torch.Tensor):
            out.append(value)
            continue
        shape = (batch, *value.shape[1:])
        if value.is_floating_point():
            out.append(torch.randn(shape, generator=gen))
        elif bool((value == value.flatten()[0]).all()):
            out.append(value.flatten()[0].expand(shape).clone())
        else:
            out.append(torch.randint(3, fam.VOCAB, shape, generator=gen))
    return tuple(out)


def _scaled(build: Callable[[], nn.Module], factors: dict[str, float]) -> Callable[[], nn.Module]:
    """``build`` with the weight of every named layer multiplied in place."""

    def make() -> nn.Module:
        model = build()
        modules = dict(model.named_modules())
        with torch.no_grad():
            for name, factor in factors.items():
                modules[name].weight.mul_(factor)  # type: ignore[operator]
        return model

    return make


def _seeded(make: Callable[[], nn.Module], seed: int = 0) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        torch.manual_seed(seed)
        return make().eval()

    return build


def plain_stack(depth: int, width: int, act: Callable[[], nn.Module], init: Callable[[torch.Tensor], Any], *,
                bias: float = 0.0, bias_std: float = 0.0, seed: int = 0) -> Callable[[], nn.Module]:
    """A builder of ``depth`` square ``Linear → φ`` layers and a 10-way readout (the signal-propagation setting).

    Biases are ``bias`` (0: as He et al. 2015, which keeps a ReLU stack positively homogeneous), plus
    ``N(0, bias_std²)`` noise (the σ_b of Poole et al. 2016).
    """

    def make() -> nn.Module:
        layers: list[nn.Module] = []
        for _ in range(depth):
            linear = nn.Linear(width, width)
            with torch.no_grad():
                init(linear.weight)
                if bias_std > 0:
                    linear.bias.normal_(bias, bias_std)
                else:
                    linear.bias.fill_(bias)
            layers += [linear, act()]
        layers.append(nn.Linear(width, 10))
        return nn.Sequential(*layers)

    return _seeded(make, seed)


def _kaiming(w: torch.Tensor) -> None:
    nn.init.kaiming_normal_(w, nonlinearity="relu")


def _kaiming_times(c: float) -> Callable[[torch.Tensor], None]:
    def init(w: torch.Tensor) -> None:
        nn.init.kaiming_normal_(w, nonlinearity="relu")
        w.mul_(c)

    return init


def _normal(std: float) -> Callable[[torch.Tensor], None]:
    return lambda w: nn.init.normal_(w, 0.0, std)


def _linear_index(depth_index: int) -> str:
    """Module name of the ``depth_index``-th Linear of :func:`_stack` (Linear, φ, Linear, φ, ...)."""
    return str(2 * depth_index)


# ------------------------------------------------------------------------------------------------- models ----


def _lstm(scale: float | None = None) -> Callable[[], nn.Module]:
    """CustomRNNModel with every W_hh gate block orthogonal (Saxe et al. 2014), then ×``scale``."""

    def make() -> nn.Module:
        model = CustomRNNModel(input_size=8, hidden_size=32, num_layers=1, output_size=10)
        with torch.no_grad():
            for name, p in model.recurrent.named_parameters():
                if name.startswith("weight_hh"):
                    for block in p.chunk(4, dim=0):
                        nn.init.orthogonal_(block)
                    if scale is not None:
                        p.mul_(scale)
        return model

    return _seeded(make)


def _our_transformer(scheme: str, layers: int = fam.LAYERS) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        model = CustomTransformerModel(fam.VOCAB, fam.HIDDEN, nhead=fam.HEADS, num_layers=layers,
                                       dim_feedforward=fam.FFN, max_seq_len=32)
        apply_scheme(model, scheme, seed=0)
        return model

    return _seeded(make)


def _resnet(blocks: int = 3) -> Callable[[], nn.Module]:
    return _seeded(lambda: CustomCNNModel(3, 10, channels=(8, 16), blocks_per_stage=blocks))


def _images() -> tuple[Any, ...]:
    return (torch.randn(IMAGE_BATCH, 3, fam.IMAGE, fam.IMAGE, generator=_gen()),)


def _llama(layers: int) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        import transformers

        config = transformers.LlamaConfig(**{**fam._DECODER_CONFIG, "num_hidden_layers": layers})
        return transformers.LlamaForCausalLM(config)

    return _seeded(make)


def _torch_encoder(norm_first: bool, layers: int = fam.LAYERS) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        layer = nn.TransformerEncoderLayer(fam.HIDDEN, fam.HEADS, fam.FFN, dropout=0.0, batch_first=True,
                                           norm_first=norm_first)
        return nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(fam.HIDDEN) if norm_first else None,
                                     enable_nested_tensor=False)

    return _seeded(make)


def _embedded_sequence() -> tuple[Any, ...]:
    return (torch.randn(TOKEN_BATCH, fam.SEQ, fam.HIDDEN, generator=_gen()),)


def _nan_at(build: Callable[[], nn.Module], parameter: str) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        model = build()
        with torch.no_grad():
            dict(model.named_parameters())[parameter].view(-1)[3] = math.nan
        return model

    return make


def _zero(build: Callable[[], nn.Module], layers: list[str], *, bias: bool = False) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        model = build()
        modules = dict(model.named_modules())
        with torch.no_grad():
            for name in layers:
                modules[name].weight.zero_()  # type: ignore[operator]
                if bias:
                    modules[name].bias.zero_()  # type: ignore[operator]
        return model

    return make


def _gpt2_tied_normal() -> nn.Module:
    model = fam.GPT2.build()
    with torch.no_grad():
        model.get_input_embeddings().weight.normal_(0.0, 1.0)  # lm_head shares it
    return model


# -------------------------------------------------------------------------------------------------- cases ----

_HF_HEALTHY = ("gpt2", "gpt_neox", "llama", "mistral", "qwen2", "gemma", "phi", "falcon", "mixtral", "bert",
               "roberta", "albert", "deberta-v2", "t5", "bart", "whisper", "vit", "convnext", "resnet", "swin",
               "wav2vec2", "mamba", "rwkv")
_LM_FAMILIES = {"gpt2", "gpt_neox", "llama", "mistral", "qwen2", "gemma", "phi", "falcon", "mixtral", "bert",
                "roberta", "albert", "t5", "bart", "whisper", "mamba", "rwkv"}
_HF_OPT = "own _init_weights (post_init); AdamW as published"


def _hf_case(name: str) -> Case:
    family = fam.FAMILIES[name]
    batch = TOKEN_BATCH if name not in ("vit", "convnext", "resnet", "swin", "wav2vec2") else IMAGE_BATCH
    return Case(f"hf:{name}", family.build, lambda: _rebatch(family.positional(), batch), "none (own init)",
                "healthy", optimizer=_HF_OPT, vocab=fam.VOCAB if name in _LM_FAMILIES else None, source="hf")


_RELU_W = plain_stack(8, NARROW, nn.ReLU, _kaiming)
_LLAMA4 = _llama(4)
_OURS4 = _our_transformer("gpt2", layers=4)

HEALTHY: list[Case] = [
    *(_hf_case(name) for name in _HF_HEALTHY),
    Case("torch:TransformerEncoder[pre-LN]", _torch_encoder(True), _embedded_sequence, "none (torch default)",
         "healthy", optimizer="Adam with warm-up", source="torch"),
    Case("torch:TransformerEncoder[post-LN]", _torch_encoder(False), _embedded_sequence, "none (torch default)",
         "healthy", optimizer="post-LN: needs warm-up (Xiong et al. 2020)", source="torch"),
    Case("ours:CustomTransformer+gpt2", _our_transformer("gpt2"), _tokens, "none (scheme gpt2)", "healthy",
         optimizer="AdamW", vocab=fam.VOCAB),
    Case("ours:CustomTransformer+bert", _our_transformer("bert"), _tokens, "none (scheme bert)", "healthy",
         optimizer="AdamW", vocab=fam.VOCAB),
    Case("ours:CustomCNN[BN]", _resnet(), _images, "none (torch default, BatchNorm)", "healthy",
         optimizer="SGD momentum"),
    Case("ours:CustomRNN[orthogonal W_hh]", _lstm(), _sequence, "none (orthogonal W_hh)", "healthy",
         optimizer="Adam; clip gradients"),
    Case("mlp:tanh orthogonal σw=1 L30", plain_stack(30, WIDE, nn.Tanh, nn.init.orthogonal_), _vectors(WIDE),
         "none (critical tanh, Pennington et al. 2017)", "healthy", optimizer="SGD"),
    Case("mlp:tanh N(0,1/n) L30", plain_stack(30, WIDE, nn.Tanh, _normal(WIDE**-0.5)), _vectors(WIDE),
         "none (critical tanh σw=1, σb=0; Poole et al. 2016)", "healthy", optimizer="SGD"),
    Case("mlp:SELU LeCun L30", plain_stack(30, WIDE, nn.SELU, _normal(WIDE**-0.5)), _vectors(WIDE),
         "none (Klambauer et al. 2017)", "healthy", optimizer="SGD"),
    Case("mlp:ReLU Kaiming L30", plain_stack(30, WIDE, nn.ReLU, _kaiming), _vectors(WIDE), "none (He et al. 2015)",
         "healthy", optimizer="SGD"),
]

FAULTY: list[Case] = [
    # one layer x10 / x0.1
    Case("mlp:ReLU L8, layer 4 ×10", _scaled(_RELU_W, {_linear_index(4): 10.0}), _vectors(NARROW),
         "one layer ×10", "inconsistent", _linear_index(4),
         "Adam: that layer's relative step is 10× smaller than its peers'"),
    Case("mlp:ReLU L8, layer 4 ×0.1", _scaled(_RELU_W, {_linear_index(4): 0.1}), _vectors(NARROW),
         "one layer ×0.1", "inconsistent", _linear_index(4),
         "Adam: that layer's relative step is 10× larger than its peers'"),
    Case("ours:CustomTransformer L4, blocks.2.mlp.fc_in ×10",
         _scaled(_OURS4, {"blocks.2.mlp.fc_in": 10.0}), _tokens, "one layer ×10", "inconsistent",
         "blocks.2.mlp.fc_in", "AdamW: the branch dominates the residual stream", vocab=fam.VOCAB),
    Case("ours:CustomTransformer L4, blocks.1.attention.value ×0.1",
         _scaled(_OURS4, {"blocks.1.attention.value": 0.1}), _tokens, "one layer ×0.1", "inconsistent",
         "blocks.1.attention.value", "AdamW: the attention branch is muted", vocab=fam.VOCAB),
    Case("hf:llama L4, layers.2.mlp.up_proj ×10", _scaled(_LLAMA4, {"model.layers.2.mlp.up_proj": 10.0}), _tokens,
         "one layer ×10", "inconsistent", "model.layers.2.mlp.up_proj", "AdamW", vocab=fam.VOCAB, source="hf"),
    Case("hf:llama L4, layers.1.self_attn.v_proj ×0.1",
         _scaled(_LLAMA4, {"model.layers.1.self_attn.v_proj": 0.1}), _tokens, "one layer ×0.1", "inconsistent",
         "model.layers.1.self_attn.v_proj", "AdamW", vocab=fam.VOCAB, source="hf"),
    Case("ours:CustomCNN[BN], stages.0.1.conv1 ×10 → BatchNorm", _scaled(_resnet(), {"stages.0.1.conv1": 10.0}),
         _images, "one layer ×10 feeding BatchNorm", "healthy", "stages.0.1.conv1",
         "harmless for the signal (the norm divides it out); SGD/Adam: effective step of that conv 100× smaller "
         "(van Laarhoven 2017)"),
    Case("hf:llama, embed_tokens ×50 → RMSNorm", _scaled(fam.LLAMA.build, {"model.embed_tokens": 50.0}), _tokens,
         "embedding ×50 (std 1) feeding pre-norm blocks", "healthy", "model.embed_tokens",
         "the embeddings dominate the residual stream; harmless for the signal", vocab=fam.VOCAB, source="hf"),
    # compounding per-layer bias
    Case("mlp:ReLU L50 Kaiming ×1.08", plain_stack(50, WIDE, nn.ReLU, _kaiming_times(1.08)), _vectors(WIDE),
         "every layer ×1.08 (1.08^50 = 47)", "exploding", optimizer="loss and gradients 47×-2200× too large"),
    Case("mlp:ReLU L50 Kaiming ×0.92", plain_stack(50, WIDE, nn.ReLU, _kaiming_times(0.92)), _vectors(WIDE),
         "every layer ×0.92 (0.92^50 = 0.016)", "vanishing", optimizer="SGD stalls; Adam rescales per parameter"),
    Case("mlp:ReLU L30 Xavier", plain_stack(30, WIDE, nn.ReLU, nn.init.xavier_normal_), _vectors(WIDE),
         "Xavier on ReLU (2^-15 in std; He et al. 2015)", "vanishing", optimizer="SGD stalls"),
    Case("mlp:ReLU L30 N(0,1)", plain_stack(30, WIDE, nn.ReLU, _normal(1.0)), _vectors(WIDE),
         "N(0,1) weights (√(n/2) per layer)", "exploding", optimizer="diverges"),
    Case("mlp:tanh L30 N(0,1)", plain_stack(30, WIDE, nn.Tanh, _normal(1.0)), _vectors(WIDE),
         "N(0,1) weights on tanh (σw = 16)", "chaotic", optimizer="gradients explode, the forward signal does not"),
    Case("mlp:tanh L30 σw=4", plain_stack(30, WIDE, nn.Tanh, _normal(4 * WIDE**-0.5)), _vectors(WIDE),
         "σw = 4 (Poole et al. 2016: chaotic phase)", "chaotic", optimizer="gradients explode"),
    Case("mlp:tanh L30 orthogonal gain 5/3", plain_stack(30, WIDE, nn.Tanh, lambda w: nn.init.orthogonal_(w, 5 / 3)),
         _vectors(WIDE), "orthogonal ×5/3 (torch's tanh gain) at depth 30", None,
         optimizer="mildly chaotic (χ > 1) -- measure"),
    Case("mlp:tanh L3 N(0,1)", plain_stack(3, NARROW, nn.Tanh, _normal(1.0)), _vectors(NARROW),
         "N(0,1) weights on a shallow tanh net", "saturated", optimizer="tanh' ≈ 0: slow start"),
    Case("mlp:sigmoid L20 Xavier", plain_stack(20, NARROW, nn.Sigmoid, nn.init.xavier_normal_),
         _vectors(NARROW), "sigmoid with Xavier (χ = 1/16 per layer; Glorot & Bengio 2010)", "collapsed",
         optimizer="only the last layers learn"),
    Case("mlp:ReLU L8 Kaiming, bias −3", plain_stack(8, NARROW, nn.ReLU, _kaiming, bias=-3.0), _vectors(NARROW),
         "every bias −3 (units off for every input)", "dead", optimizer="no gradient reaches dead units"),
    # recurrent
    Case("ours:CustomRNN, W_hh ×10", _lstm(10.0), _sequence, "orthogonal W_hh ×10", None,
         optimizer="measure the gradient to the first time step"),
    Case("ours:CustomRNN, W_hh ×0.01", _lstm(0.01), _sequence, "orthogonal W_hh ×0.01", None,
         optimizer="measure the gradient to the first time step"),
    # broken / collapsed / logits
    Case("mlp:ReLU L8, one NaN weight", _nan_at(_RELU_W, "6.weight"), _vectors(NARROW), "one NaN in a weight",
         "broken", "6", "NaN loss at step 0"),
    Case("ours:CustomTransformer, one NaN weight", _nan_at(_our_transformer("gpt2"), "blocks.0.mlp.fc_in.weight"),
         _tokens, "one NaN in a weight", "broken", "blocks.0.mlp.fc_in", "NaN loss at step 0", vocab=fam.VOCAB),
    Case("mlp:ReLU L8, hidden weights 0", _zero(_RELU_W, [_linear_index(i) for i in range(1, 8)], bias=False),
         _vectors(NARROW), "zero hidden weights (no symmetry breaking)", "collapsed",
         optimizer="units of a layer stay identical"),
    Case("mlp:ReLU L8, first layer 0", _zero(_RELU_W, [_linear_index(0)]), _vectors(NARROW),
         "zero first layer (output independent of the input)", "collapsed", _linear_index(0),
         "the first layer gets no gradient"),
    Case("hf:gpt2, tied embedding N(0,1)", _gpt2_tied_normal, lambda: _rebatch(fam.GPT2.positional(), TOKEN_BATCH),
         "tied wte/lm_head drawn N(0,1)", "exploding", "transformer.wte", "initial loss ≫ log V",
         vocab=fam.VOCAB, source="hf"),
]

CASES: list[Case] = HEALTHY + FAULTY
