"""Tiny models of 24 Hugging Face families, torch's transformers and our reference models, with their ground truth.

Every :class:`Family` builds a seeded, eval-mode model from a config (no download: ``from_pretrained`` is never
used), gives a positional sample (``model(*family.positional())``) and a keyword sample
(``model(**family.kwargs())``), and carries a :class:`~truth.Truth` written by reading the model's source. The
comment above each family names the file and the lines read (transformers 5.25, torch 2.13). Per-layer names are
expanded over the number of layers the tiny config builds.

Paths in the comments: ``tf/`` is ``transformers/models/``, ``torch/`` is ``torch/nn/modules/``, ``wis/`` is
``src/weight_initialization_system/models/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .truth import Truth, expand

__all__ = ["FAMILIES", "HF_FAMILIES", "Family"]

BATCH, SEQ, VOCAB = 2, 8, 128
#: The width, heads and layers of every tiny transformer below: head_dim 8, so most attention scales are 8**-0.5.
HIDDEN, HEADS, LAYERS, FFN = 32, 4, 2, 64
HEAD_DIM = HIDDEN // HEADS
INV_SQRT_HEAD_DIM = HEAD_DIM**-0.5
IMAGE = 16  # ViT / CLIP: 16x16 images, 4x4 patches
IMAGE_CNN = 32  # ConvNeXt / ResNet / Swin / our CNN-hybrids
NUM_LABELS = 10


@dataclass(frozen=True)
class Family:
    """One model to trace: how to build it, two samples to run it on, and what its forward computes."""

    name: str
    build: Callable[[], nn.Module]
    positional: Callable[[], tuple[Any, ...]]
    kwargs: Callable[[], dict[str, Any]]
    truth: Truth
    #: The class built, e.g. ``transformers.LlamaForCausalLM``.
    model_class: str
    #: An importable package the build needs (the test skips when it is missing).
    requires: str | None = None
    #: Why the installed libraries cannot build this family; ``None`` when it builds (the test checks both ways).
    skip_reason: str | None = None
    notes: tuple[str, ...] = field(default=())


# ----------------------------------------------------------------------------------------------- helpers ----


def _seeded(make: Callable[[], nn.Module]) -> nn.Module:
    torch.manual_seed(0)
    return make().eval()


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _tokens(vocab: int = VOCAB, length: int = SEQ, low: int = 0) -> torch.Tensor:
    return torch.randint(low, vocab, (BATCH, length), generator=_generator())


def _mask(length: int = SEQ) -> torch.Tensor:
    return torch.ones(BATCH, length, dtype=torch.long)


def _images(size: int, channels: int = 3) -> torch.Tensor:
    return torch.randn(BATCH, channels, size, size, generator=_generator())


def _hf(class_name: str, config_name: str, **config: Any) -> Callable[[], nn.Module]:
    """A builder of ``transformers.<class_name>(transformers.<config_name>(**config))``, seeded, in eval mode."""

    def build() -> nn.Module:
        import transformers

        cfg = getattr(transformers, config_name)(**config)
        return _seeded(lambda: getattr(transformers, class_name)(cfg))

    return build


def _all(value: Any, names: Iterable[str]) -> dict[str, Any]:
    return dict.fromkeys(names, value)


def _token_family(name: str, builder: Callable[[], nn.Module], model_class: str, truth: Truth,
                  *, requires: str | None = "transformers", extra_kwargs: tuple[str, ...] = ("attention_mask",),
                  vocab: int = VOCAB, notes: tuple[str, ...] = ()) -> Family:
    """A family whose forward takes ``input_ids`` first (positional) and ``input_ids`` + masks as keywords."""

    def kwargs() -> dict[str, Any]:
        sample: dict[str, Any] = {"input_ids": _tokens(vocab)}
        if "attention_mask" in extra_kwargs:
            sample["attention_mask"] = _mask()
        if "token_type_ids" in extra_kwargs:
            sample["token_type_ids"] = torch.zeros(BATCH, SEQ, dtype=torch.long)
        return sample

    return Family(name, builder, lambda: (_tokens(vocab),), kwargs, truth, model_class, requires, notes=notes)


# ------------------------------------------------------------------------------- decoder-only LMs (RoPE) ----


def _rope_decoder_truth(*, act: str, norm_neutral: float = 1.0, tied: bool = False, moe: bool = False) -> Truth:
    """Llama-style pre-norm decoders: ``x + o_proj(attn(norm(x)))``, ``x + mlp(norm(x))``, final ``model.norm``.

    One implementation for Llama, Mistral, Qwen2, Gemma and Mixtral, which share module names.
    """
    layer = "model.layers.{i}"
    down = f"{layer}.mlp.experts.down_proj" if moe else f"{layer}.mlp.down_proj.weight"
    return Truth(
        residual_ends=frozenset(expand(LAYERS, f"{layer}.self_attn.o_proj.weight", down)),
        norm_position=_all("pre", expand(LAYERS, layer)),
        activation_into=_all(act, expand(LAYERS, down)),
        embeddings={"model.embed_tokens.weight": "token"},
        norms=_all(norm_neutral, [*expand(LAYERS, f"{layer}.input_layernorm.weight",
                                          f"{layer}.post_attention_layernorm.weight"), "model.norm.weight"]),
        attention_scale=_all(INV_SQRT_HEAD_DIM, expand(LAYERS, f"{layer}.self_attn")),
        readout="lm_head.weight",
        tied_to="model.embed_tokens.weight" if tied else None,
        expert_banks=frozenset(expand(LAYERS, f"{layer}.mlp.experts.gate_up_proj", f"{layer}.mlp.experts.down_proj",
                                      f"{layer}.mlp.gate.weight")) if moe else frozenset(),
    )


_DECODER_CONFIG: dict[str, Any] = dict(
    vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
    num_attention_heads=HEADS, num_key_value_heads=2, max_position_embeddings=32, use_cache=False,
    attn_implementation="eager", bos_token_id=0, eos_token_id=1, pad_token_id=2,
)

# tf/llama/modeling_llama.py: LlamaRMSNorm L53-70 (weight·x̂, ones), LlamaMLP L152-165 (down(silu(gate)·up)),
# LlamaAttention L206-231 (scaling = head_dim**-0.5, head_dim = hidden/heads when unset, configuration_llama.py
# L83-87), LlamaDecoderLayer L274-316 (pre-norm, two residual adds), LlamaModel L337-408 (embed_tokens, norm),
# LlamaForCausalLM L412-423 (lm_head; tie_word_embeddings defaults to False).
LLAMA = _token_family("llama", _hf("LlamaForCausalLM", "LlamaConfig", **_DECODER_CONFIG),
                      "transformers.LlamaForCausalLM", _rope_decoder_truth(act="gated:silu"))

# tf/mistral/modeling_mistral.py: MistralMLP L35-48, MistralAttention L122-137 (scaling head_dim**-0.5),
# MistralRMSNorm L183-200, MistralDecoderLayer L203-243 (pre-norm), MistralModel L310-380, MistralForCausalLM
# L385-396 (untied by default). Same structure as Llama (sliding window only changes the mask).
MISTRAL = _token_family("mistral", _hf("MistralForCausalLM", "MistralConfig", **_DECODER_CONFIG),
                        "transformers.MistralForCausalLM", _rope_decoder_truth(act="gated:silu"))

# tf/qwen2/modeling_qwen2.py: Qwen2MLP L35-48, Qwen2Attention L168-184 (q/k/v with bias, o_proj without;
# scaling head_dim**-0.5), Qwen2RMSNorm L231-248, Qwen2DecoderLayer L251-293 (pre-norm), Qwen2ForCausalLM L400-411.
QWEN2 = _token_family("qwen2", _hf("Qwen2ForCausalLM", "Qwen2Config", **_DECODER_CONFIG),
                      "transformers.Qwen2ForCausalLM", _rope_decoder_truth(act="gated:silu"))

# tf/gemma/modeling_gemma.py: GemmaTextScaledWordEmbedding L50-61 (embedding × sqrt(hidden), a scalar),
# GemmaRMSNorm L64-81 (x̂·(1 + w), w initialised to zeros: neutral 0.0), GemmaMLP L84-97 (hidden_act
# "gelu_pytorch_tanh" by default: gated tanh-GELU), GemmaAttention L217-241 (scaling head_dim**-0.5; head_dim
# defaults to 256 in configuration_gemma.py L72, so we set it), GemmaDecoderLayer L285-326 (pre-norm), GemmaModel
# L356-426, GemmaForCausalLM L433-444 (tie_word_embeddings defaults to True).
GEMMA = _token_family("gemma", _hf("GemmaForCausalLM", "GemmaConfig", head_dim=HEAD_DIM, **_DECODER_CONFIG),
                      "transformers.GemmaForCausalLM",
                      _rope_decoder_truth(act="gated:gelu_tanh", norm_neutral=0.0, tied=True))

# tf/mixtral/modeling_mixtral.py: MixtralExperts L57-93 (3-D banks gate_up_proj [E, 2F, H] chunked into gate|up,
# down_proj [E, H, F]; act(gate)·up then down), MixtralTopKRouter L96-111 (weight [E, H]), MixtralSparseMoeBlock
# L114-131 (mlp.gate, mlp.experts), MixtralAttention L271-287, MixtralDecoderLayer L331-367 (pre-norm).
# The expert down_proj bank is the MLP branch end. experts_implementation="eager" selects the per-expert loop.
MIXTRAL = _token_family(
    "mixtral",
    _hf("MixtralForCausalLM", "MixtralConfig", num_local_experts=2, num_experts_per_tok=2,
        experts_implementation="eager", **_DECODER_CONFIG),
    "transformers.MixtralForCausalLM", _rope_decoder_truth(act="gated:silu", moe=True),
    notes=("2 experts, top-2 routing: every expert sees every token, weighted by the renormalized router softmax",),
)

# tf/gpt2/modeling_gpt2.py: GPT2Attention L76-229 (scaling = head_dim**-0.5 when scale_attn_weights, default True;
# c_attn/c_proj are Conv1D with weight [in, out]), GPT2MLP L231-245 (c_fc → act → c_proj; activation_function
# defaults to "gelu_new" = tanh GELU), GPT2Block L248-313 (pre-LN ln_1/ln_2), GPT2Model L485-622 (wte, wpe, ln_f),
# GPT2LMHeadModel L636-642 (lm_head tied to transformer.wte.weight; tie_word_embeddings defaults to True).
GPT2 = _token_family(
    "gpt2",
    _hf("GPT2LMHeadModel", "GPT2Config", vocab_size=VOCAB, n_positions=32, n_embd=HIDDEN, n_layer=LAYERS,
        n_head=HEADS, use_cache=False, attn_implementation="eager", bos_token_id=0, eos_token_id=1),
    "transformers.GPT2LMHeadModel",
    Truth(
        residual_ends=frozenset(expand(LAYERS, "transformer.h.{i}.attn.c_proj.weight",
                                       "transformer.h.{i}.mlp.c_proj.weight")),
        norm_position=_all("pre", expand(LAYERS, "transformer.h.{i}")),
        activation_into=_all("gelu_tanh", expand(LAYERS, "transformer.h.{i}.mlp.c_proj.weight")),
        embeddings={"transformer.wte.weight": "token", "transformer.wpe.weight": "position"},
        norms=_all(1.0, [*expand(LAYERS, "transformer.h.{i}.ln_1.weight", "transformer.h.{i}.ln_2.weight"),
                         "transformer.ln_f.weight"]),
        attention_scale=_all(INV_SQRT_HEAD_DIM, expand(LAYERS, "transformer.h.{i}.attn")),
        readout="lm_head.weight",
        tied_to="transformer.wte.weight",
    ),
    notes=("Conv1D weights are stored [in_features, out_features]",),
)

# tf/gpt_neox/modeling_gpt_neox.py: GPTNeoXMLP L38-49 (dense_h_to_4h → act → dense_4h_to_h; hidden_act "gelu"),
# GPTNeoXAttention L169-225 (fused query_key_value, scaling = head_size**-0.5, output `dense`), GPTNeoXLayer
# L228-271 (use_parallel_residual defaults to True: x + attn(ln1(x)) + mlp(ln2(x))), GPTNeoXModel L293-368 (embed_in,
# final_layer_norm), GPTNeoXForCausalLM L376-388 (lm_head; untied by default).
GPT_NEOX = _token_family(
    "gpt_neox",
    _hf("GPTNeoXForCausalLM", "GPTNeoXConfig", vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, intermediate_size=FFN, max_position_embeddings=32, use_cache=False,
        attn_implementation="eager", bos_token_id=0, eos_token_id=1),
    "transformers.GPTNeoXForCausalLM",
    Truth(
        residual_ends=frozenset(expand(LAYERS, "gpt_neox.layers.{i}.attention.dense.weight",
                                       "gpt_neox.layers.{i}.mlp.dense_4h_to_h.weight")),
        norm_position=_all("pre", expand(LAYERS, "gpt_neox.layers.{i}")),
        activation_into=_all("gelu", expand(LAYERS, "gpt_neox.layers.{i}.mlp.dense_4h_to_h.weight")),
        embeddings={"gpt_neox.embed_in.weight": "token"},
        norms=_all(1.0, [*expand(LAYERS, "gpt_neox.layers.{i}.input_layernorm.weight",
                                 "gpt_neox.layers.{i}.post_attention_layernorm.weight"),
                         "gpt_neox.final_layer_norm.weight"]),
        attention_scale=_all(INV_SQRT_HEAD_DIM, expand(LAYERS, "gpt_neox.layers.{i}.attention")),
        readout="lm_head.weight",
    ),
    notes=("parallel residual: both branches read the same x and are summed with it",),
)

# tf/phi/modeling_phi.py: PhiAttention L152-236 (q/k/v with bias, output `dense`, scaling head_dim**-0.5),
# PhiMLP L238-251 (fc1 → act → fc2; hidden_act "gelu_new"), PhiDecoderLayer L253-291 (ONE input_layernorm feeds
# both branches: x + attn(ln(x)) + mlp(ln(x))), PhiModel L312-382 (final_layernorm), PhiForCausalLM L390-401
# (lm_head with bias, untied by default).
PHI = _token_family(
    "phi",
    _hf("PhiForCausalLM", "PhiConfig", vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=FFN,
        num_hidden_layers=LAYERS, num_attention_heads=HEADS, num_key_value_heads=HEADS, max_position_embeddings=32,
        use_cache=False, attn_implementation="eager", bos_token_id=0, eos_token_id=1),
    "transformers.PhiForCausalLM",
    Truth(
        residual_ends=frozenset(expand(LAYERS, "model.layers.{i}.self_attn.dense.weight",
                                       "model.layers.{i}.mlp.fc2.weight")),
        norm_position=_all("pre", expand(LAYERS, "model.layers.{i}")),
        activation_into=_all("gelu_tanh", expand(LAYERS, "model.layers.{i}.mlp.fc2.weight")),
        embeddings={"model.embed_tokens.weight": "token"},
        norms=_all(1.0, [*expand(LAYERS, "model.layers.{i}.input_layernorm.weight"), "model.final_layernorm.weight"]),
        attention_scale=_all(INV_SQRT_HEAD_DIM, expand(LAYERS, "model.layers.{i}.self_attn")),
        readout="lm_head.weight",
    ),
)

# tf/falcon/modeling_falcon.py: FalconLinear L58-65 (nn.Linear), FalconAttention L237-338 (multi_query default:
# fused query_key_value, 1 KV head; scaling = inv_norm_factor = 1/sqrt(head_dim); output `dense`), FalconMLP
# L341-354 (dense_h_to_4h → gelu → dense_4h_to_h; `activation` defaults to "gelu", configuration_falcon.py L87),
# FalconDecoderLayer L357-438 (parallel_attn default True, new_decoder_architecture False: one input_layernorm,
# output = mlp(ln(x)) + attn(ln(x)) + x), FalconModel L471-486 (word_embeddings, ln_f), FalconForCausalLM L645-651
# (lm_head tied to transformer.word_embeddings.weight; tie_word_embeddings defaults to True).
FALCON = _token_family(
    "falcon",
    _hf("FalconForCausalLM", "FalconConfig", vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, max_position_embeddings=32, use_cache=False, attn_implementation="eager",
        bos_token_id=0, eos_token_id=1),
    "transformers.FalconForCausalLM",
    Truth(
        residual_ends=frozenset(expand(LAYERS, "transformer.h.{i}.self_attention.dense.weight",
                                       "transformer.h.{i}.mlp.dense_4h_to_h.weight")),
        norm_position=_all("pre", expand(LAYERS, "transformer.h.{i}")),
        activation_into=_all("gelu", expand(LAYERS, "transformer.h.{i}.mlp.dense_4h_to_h.weight")),
        embeddings={"transformer.word_embeddings.weight": "token"},
        norms=_all(1.0, [*expand(LAYERS, "transformer.h.{i}.input_layernorm.weight"), "transformer.ln_f.weight"]),
        attention_scale=_all(INV_SQRT_HEAD_DIM, expand(LAYERS, "transformer.h.{i}.self_attention")),
        readout="lm_head.weight",
        tied_to="transformer.word_embeddings.weight",
    ),
)

# --------------------------------------------------------------------------------------- BERT-like encoders ----

_ENCODER_CONFIG: dict[str, Any] = dict(
    vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
    intermediate_size=FFN, attn_implementation="eager",
)


def _bert_like_truth(prefix: str, head: dict[str, str], readout: str) -> Truth:
    """BERT/RoBERTa: post-LN ``LN(x + dropout(dense(·)))`` after attention and after the MLP."""
    layer = f"{prefix}.encoder.layer.{{i}}"
    return Truth(
        residual_ends=frozenset(expand(LAYERS, f"{layer}.attention.output.dense.weight",
                                       f"{layer}.output.dense.weight")),
        norm_position=_all("post", expand(LAYERS, layer)),
        activation_into=_all("gelu", expand(LAYERS, f"{layer}.output.dense.weight")),
        embeddings={f"{prefix}.embeddings.word_embeddings.weight": "token",
                    f"{prefix}.embeddings.position_embeddings.weight": "position",
                    f"{prefix}.embeddings.token_type_embeddings.weight": "token_type"},
        norms=_all(1.0, [f"{prefix}.embeddings.LayerNorm.weight",
                         *expand(LAYERS, f"{layer}.attention.output.LayerNorm.weight",
                                 f"{layer}.output.LayerNorm.weight"),
                         head["norm"]]),
        attention_scale=_all(INV_SQRT_HEAD_DIM, expand(LAYERS, f"{layer}.attention.self")),
        readout=readout,
        tied_to=f"{prefix}.embeddings.word_embeddings.weight",
    )


# tf/bert/modeling_bert.py: BertEmbeddings L54-108 (word + token_type + position → LayerNorm), BertSelfAttention
# L140-205 (scaling = head_size**-0.5), BertSelfOutput L283-294 (LN(dropout(dense(h)) + input)), BertIntermediate
# L327-339 (hidden_act "gelu"), BertOutput L342-353 (same post-LN add), BertLayer L356-419,
# BertPredictionHeadTransform L470-484 (dense → gelu → LayerNorm), BertLMPredictionHead L487-500 (decoder),
# BertForMaskedLM L917-937 (no pooler; decoder.weight tied to bert.embeddings.word_embeddings.weight).
BERT = _token_family(
    "bert",
    _hf("BertForMaskedLM", "BertConfig", max_position_embeddings=32, type_vocab_size=2, **_ENCODER_CONFIG),
    "transformers.BertForMaskedLM",
    _bert_like_truth("bert", {"norm": "cls.predictions.transform.LayerNorm.weight"}, "cls.predictions.decoder.weight"),
    extra_kwargs=("attention_mask", "token_type_ids"),
    notes=("embeddings: word + token_type + position summed then LayerNorm; none alone feeds the norm",),
)

# tf/roberta/modeling_roberta.py: RobertaEmbeddings L57-121 (as BERT, positions start at pad_token_id + 1),
# RobertaSelfAttention L185-250, RobertaSelfOutput L328-339, RobertaOutput L387-398 (post-LN), RobertaForMaskedLM
# L798-824 (lm_head.decoder tied to roberta.embeddings.word_embeddings.weight), RobertaLMHead L879-898
# (dense → gelu → layer_norm → decoder).
ROBERTA = _token_family(
    "roberta",
    _hf("RobertaForMaskedLM", "RobertaConfig", max_position_embeddings=SEQ + 4, type_vocab_size=1,
        pad_token_id=1, **_ENCODER_CONFIG),
    "transformers.RobertaForMaskedLM",
    _bert_like_truth("roberta", {"norm": "lm_head.layer_norm.weight"}, "lm_head.decoder.weight"),
    vocab=VOCAB,
)

# tf/deberta_v2/modeling_deberta_v2.py, with a DeBERTa-v3 config (relative_attention, pos_att_type p2c|c2p,
# position_biased_input False, type_vocab_size 0, norm_rel_ebd "layer_norm", share_att_key):
# DebertaV2SelfOutput L42-53 and DebertaV2Output L394-406 (post-LN: LN(dropout(dense(h)) + input)),
# DisentangledSelfAttention L131-340 (scale = 1/sqrt(head_dim · scale_factor), scale_factor = 1 + |{c2p, p2c}| = 3,
# L230-237; c2p/p2c terms divided by the same scale), DebertaV2Embeddings L480-556 (word only → LayerNorm),
# DebertaV2Encoder L559-593 (rel_embeddings.weight used as a matrix, only through encoder.LayerNorm in
# get_rel_embedding, then projected by query_proj/key_proj: relative-position vectors, and scale invariant),
# DebertaV2Model L695-. The masked-LM class (L880-) switches heads on `config.legacy`, so we trace the backbone.
_DEBERTA_SCALE_FACTOR = 3
DEBERTA_V2 = _token_family(
    "deberta-v2",
    _hf("DebertaV2Model", "DebertaV2Config", max_position_embeddings=32, relative_attention=True,
        pos_att_type=["p2c", "c2p"], position_biased_input=False, type_vocab_size=0, position_buckets=16,
        norm_rel_ebd="layer_norm", share_att_key=True, max_relative_positions=-1, **_ENCODER_CONFIG),
    "transformers.DebertaV2Model",
    Truth(
        residual_ends=frozenset(expand(LAYERS, "encoder.layer.{i}.attention.output.dense.weight",
                                       "encoder.layer.{i}.output.dense.weight")),
        norm_position=_all("post", expand(LAYERS, "encoder.layer.{i}")),
        activation_into=_all("gelu", expand(LAYERS, "encoder.layer.{i}.output.dense.weight")),
        embeddings={"embeddings.word_embeddings.weight": "token", "encoder.rel_embeddings.weight": "relative_position"},
        norms=_all(1.0, ["embeddings.LayerNorm.weight", "encoder.LayerNorm.weight",
                         *expand(LAYERS, "encoder.layer.{i}.attention.output.LayerNorm.weight",
                                 "encoder.layer.{i}.output.LayerNorm.weight")]),
        attention_scale=_all((HEAD_DIM * _DEBERTA_SCALE_FACTOR) ** -0.5,
                             expand(LAYERS, "encoder.layer.{i}.attention.self")),
        # With position_biased_input False, type_vocab_size 0 and no embed_proj, the word embeddings feed only
        # embeddings.LayerNorm (L534-544), and rel_embeddings only encoder.LayerNorm.
        scale_invariant=frozenset({"embeddings.word_embeddings.weight", "encoder.rel_embeddings.weight"}),
    ),
)

# tf/albert/modeling_albert.py: AlbertEmbeddings L49-106 (embedding_size 16 ≠ hidden 32), AlbertAttention L138-200
# (scaling head_size**-0.5; dense → dropout → LayerNorm(x + ·): post-LN inside the attention module), AlbertLayer
# L203-238 (ffn → act → ffn_output, full_layer_layer_norm(ffn_output + attention_output); hidden_act "gelu_new"),
# AlbertTransformer L258-285 (embedding_hidden_mapping_in, then the ONE shared layer applied num_hidden_layers
# times), AlbertMLMHead L511-529 (dense → act → LayerNorm → decoder), AlbertForMaskedLM L546-565
# (predictions.decoder tied to albert.embeddings.word_embeddings.weight).
_ALBERT_LAYER = "albert.encoder.albert_layer_groups.0.albert_layers.0"
ALBERT = _token_family(
    "albert",
    _hf("AlbertForMaskedLM", "AlbertConfig", embedding_size=16, max_position_embeddings=32, **_ENCODER_CONFIG),
    "transformers.AlbertForMaskedLM",
    Truth(
        residual_ends=frozenset({f"{_ALBERT_LAYER}.attention.dense.weight", f"{_ALBERT_LAYER}.ffn_output.weight"}),
        norm_position={_ALBERT_LAYER: "post"},
        activation_into={f"{_ALBERT_LAYER}.ffn_output.weight": "gelu_tanh"},
        embeddings={"albert.embeddings.word_embeddings.weight": "token",
                    "albert.embeddings.position_embeddings.weight": "position",
                    "albert.embeddings.token_type_embeddings.weight": "token_type"},
        norms=_all(1.0, ["albert.embeddings.LayerNorm.weight", f"{_ALBERT_LAYER}.attention.LayerNorm.weight",
                         f"{_ALBERT_LAYER}.full_layer_layer_norm.weight", "predictions.LayerNorm.weight"]),
        attention_scale={f"{_ALBERT_LAYER}.attention": INV_SQRT_HEAD_DIM},
        readout="predictions.decoder.weight",
        tied_to="albert.embeddings.word_embeddings.weight",
    ),
    extra_kwargs=("attention_mask", "token_type_ids"),
    notes=("one layer's weights are shared by all num_hidden_layers=2 applications",),
)

# ---------------------------------------------------------------------------------------- encoder-decoders ----


def _seq2seq_samples(first: str, make_first: Callable[[], torch.Tensor]) -> tuple[Callable[[], tuple[Any, ...]],
                                                                                   Callable[[], dict[str, Any]]]:
    """``(first, attention_mask, decoder_input_ids)`` -- the order of the HF seq2seq forward signatures."""

    def positional() -> tuple[Any, ...]:
        first_value = make_first()
        return first_value, torch.ones(first_value.shape[0], first_value.shape[-1], dtype=torch.long), _tokens(low=3)

    def kwargs() -> dict[str, Any]:
        return {first: make_first(), "decoder_input_ids": _tokens(low=3)}

    return positional, kwargs


def _t5_truth() -> Truth:
    enc, dec = "encoder.block.{i}", "decoder.block.{i}"
    return Truth(
        residual_ends=frozenset(expand(LAYERS, f"{enc}.layer.0.SelfAttention.o.weight",
                                       f"{enc}.layer.1.DenseReluDense.wo.weight",
                                       f"{dec}.layer.0.SelfAttention.o.weight",
                                       f"{dec}.layer.1.EncDecAttention.o.weight",
                                       f"{dec}.layer.2.DenseReluDense.wo.weight")),
        norm_position=_all("pre", expand(LAYERS, enc, dec)),
        activation_into=_all("relu", expand(LAYERS, f"{enc}.layer.1.DenseReluDense.wo.weight",
                                            f"{dec}.layer.2.DenseReluDense.wo.weight")),
        embeddings={"shared.weight": "token",
                    "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight": "relative_bias",
                    "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight": "relative_bias"},
        norms=_all(1.0, [*expand(LAYERS, f"{enc}.layer.0.layer_norm.weight", f"{enc}.layer.1.layer_norm.weight",
                                 f"{dec}.layer.0.layer_norm.weight", f"{dec}.layer.1.layer_norm.weight",
                                 f"{dec}.layer.2.layer_norm.weight"),
                         "encoder.final_layer_norm.weight", "decoder.final_layer_norm.weight"]),
        attention_scale=_all(1.0, expand(LAYERS, f"{enc}.layer.0.SelfAttention", f"{dec}.layer.0.SelfAttention",
                                         f"{dec}.layer.1.EncDecAttention")),
        readout="lm_head.weight",
        tied_to="shared.weight",
    )


# tf/t5/modeling_t5.py: T5LayerNorm L51-73 (RMS, weight·x̂, ones), T5DenseActDense L76-95 (wi → relu → wo;
# feed_forward_proj defaults to "relu", configuration_t5.py L55-74), T5LayerFF L127-142 (x + dropout(ff(ln(x)))),
# T5Attention L177-214 (scaling = 1.0: "does not scale the query/key dot product"; relative_attention_bias
# Embedding[buckets, heads] only where has_relative_attention_bias, i.e. block 0 of each stack, T5Stack L644-656),
# T5LayerSelfAttention L374-404 / T5LayerCrossAttention L407-436 (pre-norm residual), T5Block L439-451,
# T5ForConditionalGeneration L900-926 (shared; encoder/decoder embed_tokens and lm_head tied to shared.weight;
# scale_decoder_outputs multiplies by d_model**-0.5 before lm_head, L1047-1050).
_T5_POSITIONAL, _T5_KWARGS = _seq2seq_samples("input_ids", _tokens)
T5 = Family(
    "t5",
    _hf("T5ForConditionalGeneration", "T5Config", vocab_size=VOCAB, d_model=HIDDEN, d_kv=HEAD_DIM, d_ff=FFN,
        num_layers=LAYERS, num_decoder_layers=LAYERS, num_heads=HEADS, relative_attention_num_buckets=8,
        use_cache=False, attn_implementation="eager", decoder_start_token_id=0, pad_token_id=0, eos_token_id=1),
    _T5_POSITIONAL, _T5_KWARGS, _t5_truth(), "transformers.T5ForConditionalGeneration", "transformers",
    notes=("decoder output × d_model**-0.5 before the tied lm_head",),
)


def _bart_truth() -> Truth:
    enc, dec = "model.encoder.layers.{i}", "model.decoder.layers.{i}"
    return Truth(
        residual_ends=frozenset(expand(LAYERS, f"{enc}.self_attn.out_proj.weight", f"{enc}.fc2.weight",
                                       f"{dec}.self_attn.out_proj.weight", f"{dec}.encoder_attn.out_proj.weight",
                                       f"{dec}.fc2.weight")),
        norm_position=_all("post", expand(LAYERS, enc, dec)),
        activation_into=_all("gelu", expand(LAYERS, f"{enc}.fc2.weight", f"{dec}.fc2.weight")),
        embeddings={"model.shared.weight": "token", "model.encoder.embed_positions.weight": "position",
                    "model.decoder.embed_positions.weight": "position"},
        norms=_all(1.0, [*expand(LAYERS, f"{enc}.self_attn_layer_norm.weight", f"{enc}.final_layer_norm.weight",
                                 f"{dec}.self_attn_layer_norm.weight", f"{dec}.encoder_attn_layer_norm.weight",
                                 f"{dec}.final_layer_norm.weight"),
                         "model.encoder.layernorm_embedding.weight", "model.decoder.layernorm_embedding.weight"]),
        attention_scale=_all(INV_SQRT_HEAD_DIM, expand(LAYERS, f"{enc}.self_attn", f"{dec}.self_attn",
                                                       f"{dec}.encoder_attn")),
        readout="lm_head.weight",
        tied_to="model.shared.weight",
    )


# tf/bart/modeling_bart.py: BartLearnedPositionalEmbedding L75-97 (offset 2), BartScaledWordEmbedding L100-110
# (scale_embedding False: ×1), BartAttention L142-257 (scaling = head_dim**-0.5 passed to the attention function,
# not folded into q_proj), BartEncoderLayer L260-308 and BartDecoderLayer L311-391 (post-LN: LN(x + dropout(·))),
# activation_function "gelu"), BartEncoder L463-550 / BartDecoder L552-675 (layernorm_embedding after tokens +
# positions), BartModel L677-688 (shared; encoder/decoder embed_tokens tied to it), BartForConditionalGeneration
# L799-811 (lm_head tied to model.shared.weight; final_logits_bias is a buffer).
_BART_POSITIONAL, _BART_KWARGS = _seq2seq_samples("input_ids", lambda: _tokens(low=3))
BART = Family(
    "bart",
    _hf("BartForConditionalGeneration", "BartConfig", vocab_size=VOCAB, d_model=HIDDEN, encoder_layers=LAYERS,
        decoder_layers=LAYERS, encoder_attention_heads=HEADS, decoder_attention_heads=HEADS, encoder_ffn_dim=FFN,
        decoder_ffn_dim=FFN, max_position_embeddings=32, use_cache=False, attn_implementation="eager"),
    _BART_POSITIONAL, _BART_KWARGS, _bart_truth(), "transformers.BartForConditionalGeneration", "transformers",
)


def _whisper_truth() -> Truth:
    enc, dec = "model.encoder.layers.{i}", "model.decoder.layers.{i}"
    return Truth(
        residual_ends=frozenset(expand(LAYERS, f"{enc}.self_attn.out_proj.weight", f"{enc}.fc2.weight",
                                       f"{dec}.self_attn.out_proj.weight", f"{dec}.encoder_attn.out_proj.weight",
                                       f"{dec}.fc2.weight")),
        norm_position=_all("pre", expand(LAYERS, enc, dec)),
        activation_into=_all("gelu", expand(LAYERS, f"{enc}.fc2.weight", f"{dec}.fc2.weight")),
        embeddings={"model.decoder.embed_tokens.weight": "token", "model.decoder.embed_positions.weight": "position",
                    "model.encoder.embed_positions.weight": "position"},
        norms=_all(1.0, [*expand(LAYERS, f"{enc}.self_attn_layer_norm.weight", f"{enc}.final_layer_norm.weight",
                                 f"{dec}.self_attn_layer_norm.weight", f"{dec}.encoder_attn_layer_norm.weight",
                                 f"{dec}.final_layer_norm.weight"),
                         "model.encoder.layer_norm.weight", "model.decoder.layer_norm.weight"]),
        attention_scale=_all(INV_SQRT_HEAD_DIM, expand(LAYERS, f"{enc}.self_attn", f"{dec}.self_attn",
                                                       f"{dec}.encoder_attn")),
        readout="proj_out.weight",
        tied_to="model.decoder.embed_tokens.weight",
        meaningful_biases={"model.encoder.embed_positions.weight":
                           "frozen (requires_grad=False) sinusoidal table copied in by _init_weights; it is the "
                           "encoder's positional code"},
    )


# tf/whisper/modeling_whisper.py: WhisperPositionalEmbedding L206-215 (learned decoder positions),
# WhisperAttention L243-361 (q_proj(x)·scaling with scaling = head_dim**-0.5, then the attention function is called
# with scaling=1.0, L310-352: effective s = head_dim**-0.5), WhisperEncoderLayer L364-417 / WhisperDecoderLayer
# L420-511 (pre-LN; activation_function "gelu"), WhisperPreTrainedModel L514-530 (encoder embed_positions filled
# with sinusoids), WhisperEncoder L544-645 (conv1/conv2 + gelu stem; embed_positions frozen; final layer_norm;
# input length must equal 2·max_source_positions), WhisperDecoder L648-822, WhisperForConditionalGeneration
# L990-1007 (proj_out tied to model.decoder.embed_tokens.weight).
_MEL_BINS, _AUDIO_POSITIONS = 16, 8
_WHISPER_POSITIONAL, _WHISPER_KWARGS = _seq2seq_samples(
    "input_features", lambda: torch.randn(BATCH, _MEL_BINS, 2 * _AUDIO_POSITIONS, generator=_generator()))
WHISPER = Family(
    "whisper",
    _hf("WhisperForConditionalGeneration", "WhisperConfig", vocab_size=VOCAB, num_mel_bins=_MEL_BINS,
        d_model=HIDDEN, encoder_layers=LAYERS, decoder_layers=LAYERS, encoder_attention_heads=HEADS,
        decoder_attention_heads=HEADS, encoder_ffn_dim=FFN, decoder_ffn_dim=FFN,
        max_source_positions=_AUDIO_POSITIONS, max_target_positions=32, use_cache=False,
        attn_implementation="eager", pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
        suppress_tokens=[], begin_suppress_tokens=[]),
    _WHISPER_POSITIONAL, _WHISPER_KWARGS, _whisper_truth(), "transformers.WhisperForConditionalGeneration",
    "transformers",
)

# ----------------------------------------------------------------------------------------- vision / audio ----

# tf/vit/modeling_vit.py: ViTPatchEmbeddings L42-69 (projection conv), ViTEmbeddings L72-160 (cls_token and
# position_embeddings are nn.Parameters; concat then add), ViTAttention L192-238 (q/k/v/o_proj, scaling
# head_dim**-0.5), ViTMLP L241-254 (fc1 → gelu → fc2), ViTLayer L257-286 (pre-LN layernorm_before/after),
# ViTModel L335-387 (`layers` directly under the model, final layernorm), ViTForImageClassification L514-522
# (classifier on the CLS token).
VIT = Family(
    "vit",
    _hf("ViTForImageClassification", "ViTConfig", image_size=IMAGE, patch_size=4, num_channels=3,
        hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=FFN,
        num_labels=NUM_LABELS, attn_implementation="eager"),
    lambda: (_images(IMAGE),), lambda: {"pixel_values": _images(IMAGE)},
    Truth(
        residual_ends=frozenset(expand(LAYERS, "vit.layers.{i}.attention.o_proj.weight",
                                       "vit.layers.{i}.mlp.fc2.weight")),
        norm_position=_all("pre", expand(LAYERS, "vit.layers.{i}")),
        activation_into=_all("gelu", expand(LAYERS, "vit.layers.{i}.mlp.fc2.weight")),
        embeddings={"vit.embeddings.cls_token": "class_token", "vit.embeddings.position_embeddings": "position"},
        norms=_all(1.0, [*expand(LAYERS, "vit.layers.{i}.layernorm_before.weight",
                                 "vit.layers.{i}.layernorm_after.weight"), "vit.layernorm.weight"]),
        attention_scale=_all(INV_SQRT_HEAD_DIM, expand(LAYERS, "vit.layers.{i}.attention")),
        readout="classifier.weight",
    ),
    "transformers.ViTForImageClassification", "transformers",
)


def _clip_truth() -> Truth:
    layers = [f"{tower}.encoder.layers.{{i}}" for tower in ("text_model", "vision_model")]
    per_layer = [p for layer in layers for p in (f"{layer}.self_attn.out_proj.weight", f"{layer}.mlp.fc2.weight")]
    return Truth(
        residual_ends=frozenset(expand(LAYERS, *per_layer)),
        norm_position=_all("pre", expand(LAYERS, *layers)),
        activation_into=_all("quick_gelu", expand(LAYERS, *(f"{layer}.mlp.fc2.weight" for layer in layers))),
        embeddings={"text_model.embeddings.token_embedding.weight": "token",
                    "text_model.embeddings.position_embedding.weight": "position",
                    "vision_model.embeddings.class_embedding": "class_token",
                    "vision_model.embeddings.position_embedding.weight": "position"},
        norms=_all(1.0, [*expand(LAYERS, *(f"{layer}.layer_norm{k}.weight" for layer in layers for k in (1, 2))),
                         "text_model.final_layer_norm.weight", "vision_model.pre_layrnorm.weight",
                         "vision_model.post_layernorm.weight"]),
        attention_scale=_all(INV_SQRT_HEAD_DIM, expand(LAYERS, *(f"{layer}.self_attn" for layer in layers))),
        meaningful_biases={"logit_scale": "log inverse temperature of the contrastive logits (init 2.6592 = "
                                          "log(1/0.07)); exp(0) = 1 would flatten the similarities"},
        scale_invariant=frozenset({"visual_projection.weight", "text_projection.weight"}),
    )


# tf/clip/modeling_clip.py: CLIPVisionEmbeddings L138-218 (class_embedding Parameter, patch conv without bias,
# position_embedding nn.Embedding), CLIPTextEmbeddings L221-255 (token + position), CLIPAttention L280-335
# (scale = head_dim**-0.5 passed as scaling), CLIPMLP L338-350 (hidden_act "quick_gelu" in both tower configs),
# CLIPEncoderLayer L353-383 (pre-LN), CLIPTextModel L484-575 (final_layer_norm; pooled at eos/argmax token),
# CLIPVisionModel L584-645 (pre_layrnorm on the embeddings, post_layernorm on the CLS token), CLIPModel L650-820
# (visual/text_projection without bias; the projections are divided by their L2 norm before the cosine logits,
# L797-805, so their scale is irrelevant to the logits; logit_scale.exp() multiplies the logits). No readout layer:
# the logits are cosine similarities.
CLIP = Family(
    "clip",
    _hf("CLIPModel", "CLIPConfig",
        text_config=dict(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                         intermediate_size=FFN, max_position_embeddings=16, bos_token_id=0, eos_token_id=1,
                         pad_token_id=1),
        vision_config=dict(image_size=IMAGE, patch_size=4, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                           num_attention_heads=HEADS, intermediate_size=FFN),
        projection_dim=16, attn_implementation="eager"),
    lambda: (_tokens(), _images(IMAGE)),
    lambda: {"input_ids": _tokens(), "pixel_values": _images(IMAGE), "attention_mask": _mask()},
    _clip_truth(), "transformers.CLIPModel", "transformers",
    notes=("visual/text projections are scale invariant through the L2 normalization of the embeddings "
           "(the un-normalized projections are also returned as *_model_output.pooler_output)",),
)

# tf/wav2vec2/modeling_wav2vec2.py (base config: feat_extract_norm "group", do_stable_layer_norm False):
# Wav2Vec2GroupNormConvLayer L306-327 (conv → GroupNorm → gelu, first conv only; conv_bias False),
# Wav2Vec2NoLayerNormConvLayer L258-276 (conv → gelu), Wav2Vec2PositionalConvEmbedding L330-372 (grouped conv under
# torch weight_norm parametrization: original0 = g (magnitude), original1 = v (direction) -- the weight is
# g·v/‖v‖, so v's scale does not matter), Wav2Vec2FeatureProjection L426-439 (LayerNorm → projection),
# Wav2Vec2Attention L470-552 (scaling head_dim**-0.5), Wav2Vec2FeedForward L555-576 (intermediate_dense → gelu →
# output_dense), Wav2Vec2EncoderLayer L579-610 (post-LN: LN(x + attn(x)), then LN(x + ff(x))), Wav2Vec2Encoder
# L652-696 (x + pos_conv(x) → layer_norm → layers), Wav2Vec2Model L1196-1212 (masked_spec_embed when
# mask_time_prob > 0, default 0.05: the SpecAugment mask vector).
_WAV_SAMPLES, _WAV_FRAMES = 400, 39  # conv kernels (10, 3), strides (5, 2): 400 samples -> 79 -> 39 frames


def _wav2vec2_kwargs() -> dict[str, Any]:
    """Raw audio plus ``mask_time_indices``, so that the keyword sample exercises ``masked_spec_embed``."""
    mask = torch.zeros(BATCH, _WAV_FRAMES, dtype=torch.bool)
    mask[:, 3:6] = True
    return {"input_values": torch.randn(BATCH, _WAV_SAMPLES, generator=_generator()), "mask_time_indices": mask}


WAV2VEC2 = Family(
    "wav2vec2",
    _hf("Wav2Vec2Model", "Wav2Vec2Config", hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        intermediate_size=FFN, conv_dim=(16, 16), conv_stride=(5, 2), conv_kernel=(10, 3),
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, vocab_size=32, attn_implementation="eager"),
    lambda: (torch.randn(BATCH, _WAV_SAMPLES, generator=_generator()),),
    _wav2vec2_kwargs,
    Truth(
        residual_ends=frozenset(expand(LAYERS, "encoder.layers.{i}.attention.out_proj.weight",
                                       "encoder.layers.{i}.feed_forward.output_dense.weight")),
        norm_position=_all("post", expand(LAYERS, "encoder.layers.{i}")),
        activation_into=_all("gelu", expand(LAYERS, "encoder.layers.{i}.feed_forward.output_dense.weight")),
        embeddings={"masked_spec_embed": "mask_token"},
        norms=_all(1.0, ["feature_extractor.conv_layers.0.layer_norm.weight", "feature_projection.layer_norm.weight",
                         "encoder.layer_norm.weight",
                         *expand(LAYERS, "encoder.layers.{i}.layer_norm.weight",
                                 "encoder.layers.{i}.final_layer_norm.weight")]),
        attention_scale=_all(INV_SQRT_HEAD_DIM, expand(LAYERS, "encoder.layers.{i}.attention")),
        meaningful_biases={"encoder.pos_conv_embed.conv.parametrizations.weight.original0":
                           "weight-norm magnitude g of the positional conv (= ‖v‖ at construction); zero g zeroes "
                           "the conv"},
        scale_invariant=frozenset({"feature_extractor.conv_layers.0.conv.weight",
                                   "encoder.pos_conv_embed.conv.parametrizations.weight.original1"}),
    ),
    "transformers.Wav2Vec2Model", "transformers",
    notes=("the positional conv is a conv, not an embedding table",
           "masked_spec_embed is used only with mask_time_indices (the keyword sample) or in training"),
)


def _convnext_truth(depths: tuple[int, ...]) -> Truth:
    layers = [f"convnext.encoder.stages.{s}.layers.{j}" for s, depth in enumerate(depths) for j in range(depth)]
    return Truth(
        residual_ends=frozenset(f"{layer}.pwconv2.weight" for layer in layers),
        norm_position=_all("pre", layers),
        activation_into=_all("gelu", (f"{layer}.pwconv2.weight" for layer in layers)),
        norms=_all(1.0, ["convnext.embeddings.layernorm.weight", *(f"{layer}.layernorm.weight" for layer in layers),
                         *(f"convnext.encoder.stages.{s}.downsampling_layer.0.weight" for s in range(1, len(depths))),
                         "convnext.layernorm.weight"]),
        readout="classifier.weight",
        meaningful_biases=_all("LayerScale γ (layer_scale_init_value 1e-6) multiplying the branch output; "
                               "1e-6 keeps each block near identity at init",
                               (f"{layer}.layer_scale_parameter" for layer in layers)),
        scale_invariant=frozenset(["convnext.embeddings.patch_embeddings.weight",
                                   *(f"{layer}.dwconv.weight" for layer in layers)]),
    )


# tf/convnext/modeling_convnext.py: ConvNextLayerNorm L39-62 (nn.LayerNorm, weight·x̂), ConvNextEmbeddings L65-87
# (patch conv → channels-first LayerNorm: scale invariant), ConvNextLayer L114-154 (x + γ·pwconv2(gelu(pwconv1(
# LN(dwconv(x)))))): the norm sits inside the branch after the depthwise conv, which only feeds it),
# ConvNextStage L157-191 (downsampling_layer = [LayerNorm, conv] when channels/stride change), ConvNextModel
# L250-289 (final layernorm on the pooled features), ConvNextForImageClassification L292-310.
_CONVNEXT_DEPTHS = (1, 1)
CONVNEXT = Family(
    "convnext",
    _hf("ConvNextForImageClassification", "ConvNextConfig", num_channels=3, patch_size=4, hidden_sizes=[16, 32],
        num_stages=len(_CONVNEXT_DEPTHS),
        depths=list(_CONVNEXT_DEPTHS), num_labels=NUM_LABELS),
    lambda: (_images(IMAGE_CNN),), lambda: {"pixel_values": _images(IMAGE_CNN)},
    _convnext_truth(_CONVNEXT_DEPTHS), "transformers.ConvNextForImageClassification", "transformers",
)


def _resnet_truth(depths: tuple[int, ...]) -> Truth:
    layers = [f"resnet.encoder.stages.{s}.layers.{j}" for s, depth in enumerate(depths) for j in range(depth)]
    # Stage 0 maps embedding_size 8 -> 16 and stage 1 16 -> 32 (stride 2): the first layer of each has a shortcut.
    shortcuts = [f"resnet.encoder.stages.{s}.layers.0.shortcut" for s in range(len(depths))]
    conv_layers = ["resnet.embedder.embedder", *(f"{layer}.layer.{k}" for layer in layers for k in range(3)),
                   *shortcuts]
    return Truth(
        residual_ends=frozenset(f"{layer}.layer.2.convolution.weight" for layer in layers),
        norm_position=_all("pre", layers),
        norms=_all(1.0, (f"{conv}.normalization.weight" for conv in conv_layers)),
        readout="classifier.1.weight",
        scale_invariant=frozenset(f"{conv}.convolution.weight" for conv in conv_layers),
    )


# tf/resnet/modeling_resnet.py: ResNetConvLayer L39-69 (conv without bias → BatchNorm → act), ResNetEmbeddings
# L72-93 (7x7/2 conv layer + max pool), ResNetShortCut L96-110 (1x1 conv → BN on the skip path),
# ResNetBottleNeckLayer L139-178 (layer_type "bottleneck" by default: 1x1 → 3x3 → 1x1 without activation, + shortcut,
# then relu), ResNetStage L181-216, ResNetEncoder L219-237, ResNetForImageClassification L339-349 (classifier =
# Sequential(Flatten, Linear)). Every conv is followed directly by BatchNorm.
_RESNET_DEPTHS = (1, 1)
RESNET = Family(
    "resnet",
    _hf("ResNetForImageClassification", "ResNetConfig", num_channels=3, embedding_size=8, hidden_sizes=[16, 32],
        depths=list(_RESNET_DEPTHS), layer_type="bottleneck", num_labels=NUM_LABELS),
    lambda: (_images(IMAGE_CNN),), lambda: {"pixel_values": _images(IMAGE_CNN)},
    _resnet_truth(_RESNET_DEPTHS), "transformers.ResNetForImageClassification", "transformers",
)


def _swin_truth(depths: tuple[int, ...], heads: tuple[int, ...], embed_dim: int) -> Truth:
    blocks = [(s, f"swin.encoder.layers.{s}.blocks.{b}") for s, depth in enumerate(depths) for b in range(depth)]
    names = [block for _, block in blocks]
    return Truth(
        residual_ends=frozenset(p for b in names for p in (f"{b}.attention.o_proj.weight", f"{b}.mlp.fc2.weight")),
        norm_position=_all("pre", names),
        activation_into=_all("gelu", (f"{b}.mlp.fc2.weight" for b in names)),
        embeddings=_all("relative_bias",
                        (f"{b}.attention.relative_position_bias.relative_position_bias_table" for b in names)),
        norms=_all(1.0, ["swin.embeddings.norm.weight",
                         *(f"{b}.layernorm_{when}.weight" for b in names for when in ("before", "after")),
                         *(f"swin.encoder.layers.{s}.downsample.norm.weight" for s in range(len(depths) - 1)),
                         "swin.layernorm.weight"]),
        attention_scale={block: (embed_dim * 2**s // heads[s]) ** -0.5 for s, block in blocks},
        readout="classifier.weight",
        scale_invariant=frozenset({"swin.embeddings.patch_embeddings.projection.weight"}),
    )


# tf/swin/modeling_swin.py: SwinEmbeddings L167-244 (patch conv → flatten → norm: scale invariant; no absolute
# positions by default), SwinPatchMerging L289-326 (norm → reduction), SwinRelativePositionBias L329-372 (learned
# table [(2w-1)², heads] added to the logits), SwinAttention L401-468 (scaling head_dim**-0.5, head_dim =
# dim/heads of the stage), SwinMLP L471-483 (fc1 → gelu → fc2), SwinLayer L508-627 (pre-LN, window attention;
# blocks with odd index are shifted), SwinStage L629-707, SwinEncoder L752-775 (dim = embed_dim·2^stage),
# SwinModel L824-846 (final layernorm), SwinForImageClassification L1004-1017.
_SWIN_DEPTHS, _SWIN_HEADS, _SWIN_DIM = (2, 2), (2, 4), 16
SWIN = Family(
    "swin",
    _hf("SwinForImageClassification", "SwinConfig", image_size=IMAGE_CNN, patch_size=4, num_channels=3,
        embed_dim=_SWIN_DIM, depths=list(_SWIN_DEPTHS), num_heads=list(_SWIN_HEADS), window_size=4,
        drop_path_rate=0.0, num_labels=NUM_LABELS, attn_implementation="eager"),
    lambda: (_images(IMAGE_CNN),), lambda: {"pixel_values": _images(IMAGE_CNN)},
    _swin_truth(_SWIN_DEPTHS, _SWIN_HEADS, _SWIN_DIM), "transformers.SwinForImageClassification", "transformers",
)

# ------------------------------------------------------------------------------------ state-space / RNN LMs ----

# tf/mamba/modeling_mamba.py: MambaMixer L487-623 (in_proj → [x, z]; causal depthwise conv1d + silu; x_proj → dt, B,
# C; dt_proj; selective scan with A = -exp(A_log) and skip D; y·silu(z) → out_proj), init_mamba_weights L538-558
# (A_log = log(1..N), D = 1, dt_proj.bias = softplus⁻¹(dt), dt log-uniform in [time_step_min, time_step_max]),
# MambaRMSNorm L626-643, MambaBlock L646-671 (x + mixer(norm(x))), MambaModel L754-835 (embeddings, norm_f),
# MambaForCausalLM L850-856 (lm_head tied to backbone.embeddings.weight; tie_word_embeddings defaults to True).
# No MLP (activation_into empty) and no softmax attention. `recurrent` is empty: the recurrence is the diagonal,
# input-dependent exp(Δ·A) -- there is no W_hh matrix; A_log is listed under meaningful_biases instead.
MAMBA = _token_family(
    "mamba",
    _hf("MambaForCausalLM", "MambaConfig", vocab_size=VOCAB, hidden_size=HIDDEN, state_size=4,
        num_hidden_layers=LAYERS, expand=2, conv_kernel=4, use_cache=False, bos_token_id=0, eos_token_id=1,
        pad_token_id=2),
    "transformers.MambaForCausalLM",
    Truth(
        residual_ends=frozenset(expand(LAYERS, "backbone.layers.{i}.mixer.out_proj.weight")),
        norm_position=_all("pre", expand(LAYERS, "backbone.layers.{i}")),
        embeddings={"backbone.embeddings.weight": "token"},
        norms=_all(1.0, [*expand(LAYERS, "backbone.layers.{i}.norm.weight"), "backbone.norm_f.weight"]),
        readout="lm_head.weight",
        tied_to="backbone.embeddings.weight",
        meaningful_biases={
            **_all("S4D-real state matrix: A = -exp(A_log), log(1..N) at init; sets the decay rates",
                   expand(LAYERS, "backbone.layers.{i}.mixer.A_log")),
            **_all("skip connection D of the SSM (ones at init)", expand(LAYERS, "backbone.layers.{i}.mixer.D")),
            **_all("softplus⁻¹ of the time step Δ (log-uniform in [1e-3, 0.1] at init)",
                   expand(LAYERS, "backbone.layers.{i}.mixer.dt_proj.bias")),
        },
    ),
    extra_kwargs=("attention_mask",),
)

# tf/rwkv/modeling_rwkv.py: rwkv_linear_attention_cpu L169-206 (WKV recurrence with time_decay w = -exp(time_decay)
# and bonus time_first u; no softmax over q·k, so no attention scale), RwkvSelfAttention L217-284 (time-shift mixes
# time_mix_key/value/receptance; output(σ(receptance)·wkv)), RwkvFeedForward L287-322 (value(relu(key)²) gated by
# σ(receptance): relu_squared into `value`), RwkvBlock L325-357 (block 0 applies pre_ln to its input first; then
# x + attn(ln1(x)), x + ffn(ln2(x))), RwkvPreTrainedModel._init_weights L369-440 (time_* values by layer),
# RwkvModel L485-600 (embeddings, ln_out; in eval, layers are rescaled in place by 2^(id // rescale_every), a no-op
# for 2 layers with rescale_every 6), RwkvForCausalLM L665-671 (head; untied by default). `recurrent` is empty: the
# recurrence is the per-channel decay time_decay, not a W_hh matrix.
_RWKV_TIME = {
    "attention.time_decay": "per-channel WKV decay w = -exp(time_decay), spread across channels at init",
    "attention.time_first": "WKV bonus u for the current token",
    **dict.fromkeys(("attention.time_mix_key", "attention.time_mix_value", "attention.time_mix_receptance",
                     "feed_forward.time_mix_key", "feed_forward.time_mix_receptance"),
                    "token-shift interpolation between x_t and x_(t-1), in [0, 1] by layer at init"),
}
RWKV = _token_family(
    "rwkv",
    _hf("RwkvForCausalLM", "RwkvConfig", vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
        attention_hidden_size=HIDDEN, intermediate_size=FFN, context_length=16, use_cache=False, bos_token_id=0,
        eos_token_id=1),
    "transformers.RwkvForCausalLM",
    Truth(
        residual_ends=frozenset(expand(LAYERS, "rwkv.blocks.{i}.attention.output.weight",
                                       "rwkv.blocks.{i}.feed_forward.value.weight")),
        norm_position=_all("pre", expand(LAYERS, "rwkv.blocks.{i}")),
        activation_into=_all("relu_squared", expand(LAYERS, "rwkv.blocks.{i}.feed_forward.value.weight")),
        embeddings={"rwkv.embeddings.weight": "token"},
        norms=_all(1.0, ["rwkv.blocks.0.pre_ln.weight",
                         *expand(LAYERS, "rwkv.blocks.{i}.ln1.weight", "rwkv.blocks.{i}.ln2.weight"),
                         "rwkv.ln_out.weight"]),
        readout="head.weight",
        # The embeddings feed only blocks.0.pre_ln (RwkvBlock.forward L339-349): hidden = pre_ln(embeddings).
        scale_invariant=frozenset({"rwkv.embeddings.weight"}),
        meaningful_biases={f"rwkv.blocks.{i}.{name}": reason for i in range(LAYERS)
                           for name, reason in _RWKV_TIME.items()},
    ),
    extra_kwargs=(),
    notes=("block 0 normalizes its input (pre_ln) before the first skip: an embedding norm",
           "the FFN branch output value(·) is multiplied elementwise by σ(receptance(·)) before the add"),
)

HF_FAMILIES: dict[str, Family] = {f.name: f for f in (
    GPT2, GPT_NEOX, LLAMA, MISTRAL, MIXTRAL, QWEN2, GEMMA, PHI, FALCON, BERT, ROBERTA, DEBERTA_V2, ALBERT, T5, BART,
    VIT, CLIP, WHISPER, WAV2VEC2, CONVNEXT, RESNET, SWIN, MAMBA, RWKV,
)}

# ------------------------------------------------------------------------------------------ torch.nn models ----


def _torch_transformer() -> nn.Module:
    return nn.Transformer(d_model=HIDDEN, nhead=HEADS, num_encoder_layers=LAYERS, num_decoder_layers=LAYERS,
                          dim_feedforward=FFN, dropout=0.0, batch_first=True, norm_first=False)


def _sequence(length: int = SEQ) -> torch.Tensor:
    return torch.randn(BATCH, length, HIDDEN, generator=_generator())


# torch/transformer.py: Transformer L58-171 (encoder/decoder stacks plus a final LayerNorm on each, always),
# TransformerEncoderLayer L659-979 (norm_first False: x = norm1(x + sa(x)), x = norm2(x + ff(x)), L941-952;
# _ff_block = linear2(dropout(activation(linear1(x)))) with activation relu by default), TransformerDecoderLayer
# L981-1193 (norm1/self_attn, norm2/multihead_attn, norm3/ff), torch/activation.py MultiheadAttention
# (in_proj_weight, out_proj; softmax(q·kᵀ/sqrt(head_dim))). In eval without grad the encoder layer may take the
# fused fast path torch._transformer_encoder_layer_fwd: same math.
TORCH_TRANSFORMER = Family(
    "torch.nn.Transformer",
    lambda: _seeded(_torch_transformer),
    lambda: (_sequence(), _sequence(SEQ - 2)),
    lambda: {"src": _sequence(), "tgt": _sequence(SEQ - 2)},
    Truth(
        residual_ends=frozenset(expand(LAYERS, "encoder.layers.{i}.self_attn.out_proj.weight",
                                       "encoder.layers.{i}.linear2.weight",
                                       "decoder.layers.{i}.self_attn.out_proj.weight",
                                       "decoder.layers.{i}.multihead_attn.out_proj.weight",
                                       "decoder.layers.{i}.linear2.weight")),
        norm_position=_all("post", expand(LAYERS, "encoder.layers.{i}", "decoder.layers.{i}")),
        activation_into=_all("relu", expand(LAYERS, "encoder.layers.{i}.linear2.weight",
                                            "decoder.layers.{i}.linear2.weight")),
        norms=_all(1.0, [*expand(LAYERS, "encoder.layers.{i}.norm1.weight", "encoder.layers.{i}.norm2.weight",
                                 "decoder.layers.{i}.norm1.weight", "decoder.layers.{i}.norm2.weight",
                                 "decoder.layers.{i}.norm3.weight"),
                         "encoder.norm.weight", "decoder.norm.weight"]),
        attention_scale=_all(INV_SQRT_HEAD_DIM, expand(LAYERS, "encoder.layers.{i}.self_attn",
                                                       "decoder.layers.{i}.self_attn",
                                                       "decoder.layers.{i}.multihead_attn")),
    ),
    "torch.nn.Transformer",
)


def _torch_prenorm_encoder() -> nn.Module:
    layer = nn.TransformerEncoderLayer(HIDDEN, HEADS, FFN, dropout=0.0, batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, LAYERS, norm=nn.LayerNorm(HIDDEN), enable_nested_tensor=False)


# torch/transformer.py: TransformerEncoder L318-551 (clones of the layer, optional final `norm`),
# TransformerEncoderLayer L941-946 (norm_first True: x + sa(norm1(x)), x + ff(norm2(x))).
TORCH_PRENORM_ENCODER = Family(
    "torch.nn.TransformerEncoder[norm_first]",
    lambda: _seeded(_torch_prenorm_encoder),
    lambda: (_sequence(),),
    lambda: {"src": _sequence()},
    Truth(
        residual_ends=frozenset(expand(LAYERS, "layers.{i}.self_attn.out_proj.weight", "layers.{i}.linear2.weight")),
        norm_position=_all("pre", expand(LAYERS, "layers.{i}")),
        activation_into=_all("relu", expand(LAYERS, "layers.{i}.linear2.weight")),
        norms=_all(1.0, [*expand(LAYERS, "layers.{i}.norm1.weight", "layers.{i}.norm2.weight"), "norm.weight"]),
        attention_scale=_all(INV_SQRT_HEAD_DIM, expand(LAYERS, "layers.{i}.self_attn")),
    ),
    "torch.nn.TransformerEncoder",
)

# ---------------------------------------------------------------------------------------------- our models ----


def _custom_transformer_truth(*, post_ln: bool, tied: bool, gated: bool, learned_positions: bool) -> Truth:
    block = "blocks.{i}"
    return Truth(
        residual_ends=frozenset(expand(LAYERS, f"{block}.attention.out_proj.weight", f"{block}.mlp.fc_out.weight")),
        norm_position=_all("post" if post_ln else "pre", expand(LAYERS, block)),
        activation_into=_all("gelu", expand(LAYERS, f"{block}.mlp.fc_out.weight")),
        embeddings={"token_embedding.weight": "token",
                    **({"position_embedding.weight": "position"} if learned_positions else {})},
        norms=_all(1.0, [*expand(LAYERS, f"{block}.norm1.weight", f"{block}.norm2.weight"),
                         *([] if post_ln else ["final_norm.weight"])]),
        attention_scale=_all(INV_SQRT_HEAD_DIM, expand(LAYERS, f"{block}.attention")),
        readout="lm_head.weight",
        tied_to="token_embedding.weight" if tied else None,
        meaningful_biases=_all("scalar ReZero/SkipInit residual gate (1 at construction; only a scheme that means "
                               "to silence the branch sets it to 0)",
                               expand(LAYERS, f"{block}.attn_gate", f"{block}.mlp_gate")) if gated else {},
    )


def _ours(name: str) -> Any:
    from weight_initialization_system import models

    return getattr(models, name)


# wis/transformer.py L520-604 (token_embedding, learned position_embedding, blocks, final_norm = LayerNorm when
# norm_first else Identity, lm_head without bias; tie_weights assigns lm_head.weight = token_embedding.weight),
# wis/_layers.py: MultiHeadSelfAttention L95-131 (query/key/value/out_proj without bias;
# F.scaled_dot_product_attention with its default scale 1/sqrt(d_model/nhead)), FeedForward L134-145 (fc_in →
# activation ("gelu" = nn.GELU, erf) → fc_out), TransformerBlock L148-193 (pre-LN: x + g·drop(attn(norm1(x)));
# post-LN: norm1(α·x + g·drop(attn(x))); gates g only with residual_gate).
CUSTOM_TRANSFORMER = Family(
    "CustomTransformerModel",
    lambda: _seeded(lambda: _ours("CustomTransformerModel")(VOCAB, HIDDEN, nhead=HEADS, num_layers=LAYERS,
                                                           dim_feedforward=FFN, max_seq_len=32)),
    lambda: (_tokens(),), lambda: {"tokens": _tokens()},
    _custom_transformer_truth(post_ln=False, tied=False, gated=False, learned_positions=True),
    "weight_initialization_system.models.CustomTransformerModel",
)

# Same sources; norm_first=False, tie_weights=True, residual_gate=True, positional="sinusoidal" (a buffer, no
# parameter): post-LN blocks, final_norm is nn.Identity, lm_head.weight is token_embedding.weight.
CUSTOM_TRANSFORMER_POSTLN = Family(
    "CustomTransformerModel[post-LN,tied,gated]",
    lambda: _seeded(lambda: _ours("CustomTransformerModel")(VOCAB, HIDDEN, nhead=HEADS, num_layers=LAYERS,
                                                           dim_feedforward=FFN, max_seq_len=32, norm_first=False,
                                                           tie_weights=True, residual_gate=True,
                                                           positional="sinusoidal")),
    lambda: (_tokens(),), lambda: {"tokens": _tokens()},
    _custom_transformer_truth(post_ln=True, tied=True, gated=True, learned_positions=False),
    "weight_initialization_system.models.CustomTransformerModel",
)

# wis/cnn.py: ResidualBlock L224-250 (relu(shortcut(x) + bn2(conv2(relu(bn1(conv1(x)))))); shortcut = 1x1 conv + BN
# when stride or channels change; convs without bias when norm=True), CustomCNNModel L253-308 (conv1 → bn1 → relu
# stem; stage 0 keeps channels[0] with stride 1, stage s>0 starts with stride 2; classifier after global pool).
_CNN_CHANNELS = (8, 16)


def _custom_cnn_truth() -> Truth:
    blocks = [f"stages.{s}.0" for s in range(len(_CNN_CHANNELS))]
    convs = ["conv1", *(f"{b}.conv{k}" for b in blocks for k in (1, 2)), "stages.1.0.shortcut.conv"]
    bns = ["bn1", *(f"{b}.bn{k}" for b in blocks for k in (1, 2)), "stages.1.0.shortcut.bn"]
    return Truth(
        residual_ends=frozenset(f"{b}.conv2.weight" for b in blocks),
        norm_position=_all("pre", blocks),
        norms=_all(1.0, (f"{bn}.weight" for bn in bns)),
        readout="classifier.weight",
        scale_invariant=frozenset(f"{conv}.weight" for conv in convs),
    )


CUSTOM_CNN = Family(
    "CustomCNNModel",
    lambda: _seeded(lambda: _ours("CustomCNNModel")(3, NUM_LABELS, channels=_CNN_CHANNELS, blocks_per_stage=1)),
    lambda: (_images(IMAGE),), lambda: {"x": _images(IMAGE)},
    _custom_cnn_truth(), "weight_initialization_system.models.CustomCNNModel",
)

# wis/rnn.py L464-504: nn.LSTM as `recurrent` (weight_hh_l{k} are the recurrent matrices), head on the last step.
CUSTOM_RNN = Family(
    "CustomRNNModel",
    lambda: _seeded(lambda: _ours("CustomRNNModel")(input_size=8, hidden_size=16, num_layers=LAYERS,
                                                   output_size=NUM_LABELS)),
    lambda: (torch.randn(BATCH, SEQ, 8, generator=_generator()),),
    lambda: {"x": torch.randn(BATCH, SEQ, 8, generator=_generator())},
    Truth(readout="head.weight", recurrent=frozenset(expand(LAYERS, "recurrent.weight_hh_l{i}"))),
    "weight_initialization_system.models.CustomRNNModel",
)

# wis/hybrid.py L322-394: conv_stem = [conv, BN, ReLU, conv, BN, ReLU] (indices 0..5; convs without bias feed BN),
# patch_conv (+ pos_embedding Parameter), encoder = pre-LN TransformerBlocks (wis/_layers.py L148-193, gelu MLP),
# norm, mean over tokens, classifier.
CNN_HYBRID = Family(
    "CNNTransformerHybrid",
    lambda: _seeded(lambda: _ours("CNNTransformerHybrid")(3, HIDDEN, num_classes=NUM_LABELS, nhead=HEADS,
                                                         num_layers=LAYERS, stem_channels=8, patch_size=4,
                                                         image_size=IMAGE)),
    lambda: (_images(IMAGE),), lambda: {"images": _images(IMAGE)},
    Truth(
        residual_ends=frozenset(expand(LAYERS, "encoder.{i}.attention.out_proj.weight",
                                       "encoder.{i}.mlp.fc_out.weight")),
        norm_position=_all("pre", expand(LAYERS, "encoder.{i}")),
        activation_into=_all("gelu", expand(LAYERS, "encoder.{i}.mlp.fc_out.weight")),
        embeddings={"pos_embedding": "position"},
        norms=_all(1.0, ["conv_stem.1.weight", "conv_stem.4.weight",
                         *expand(LAYERS, "encoder.{i}.norm1.weight", "encoder.{i}.norm2.weight"), "norm.weight"]),
        attention_scale=_all(INV_SQRT_HEAD_DIM, expand(LAYERS, "encoder.{i}.attention")),
        readout="classifier.weight",
        scale_invariant=frozenset({"conv_stem.0.weight", "conv_stem.3.weight"}),
    ),
    "weight_initialization_system.models.CNNTransformerHybrid",
)

# wis/mlp.py L409-437: Sequential(Linear, φ, Linear, φ, ..., Linear) -- Linears at even indices, each one after
# the first reads an activation; no residuals, no norms. deep_mlp L440-451 = mlp(width, [width]*(depth-1), width).
MLP = Family(
    "mlp",
    lambda: _seeded(lambda: _ours("mlp")(16, [32, 16], NUM_LABELS)),
    lambda: (torch.randn(BATCH, 16, generator=_generator()),),
    lambda: {"input": torch.randn(BATCH, 16, generator=_generator())},
    Truth(activation_into={"2.weight": "relu", "4.weight": "relu"}, readout="4.weight"),
    "weight_initialization_system.models.mlp",
)

DEEP_MLP = Family(
    "deep_mlp",
    lambda: _seeded(lambda: _ours("deep_mlp")(4, 16, "tanh")),
    lambda: (torch.randn(BATCH, 16, generator=_generator()),),
    lambda: {"input": torch.randn(BATCH, 16, generator=_generator())},
    Truth(activation_into={"2.weight": "tanh", "4.weight": "tanh", "6.weight": "tanh"}, readout="6.weight"),
    "weight_initialization_system.models.deep_mlp",
)

FAMILIES: dict[str, Family] = {
    **HF_FAMILIES,
    **{f.name: f for f in (TORCH_TRANSFORMER, TORCH_PRENORM_ENCODER, CUSTOM_TRANSFORMER, CUSTOM_TRANSFORMER_POSTLN,
                           CUSTOM_CNN, CUSTOM_RNN, CNN_HYBRID, MLP, DEEP_MLP)},
}
