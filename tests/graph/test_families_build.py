"""Every family builds, runs both samples, and its hand-written truth names real parameters and modules."""

from __future__ import annotations

import functools
import math

import pytest
import torch
from torch import nn

from .families import FAMILIES, HF_FAMILIES, Family

REQUIRED_HF = {
    "gpt2", "gpt_neox", "llama", "mistral", "mixtral", "qwen2", "gemma", "phi", "falcon", "bert", "roberta",
    "deberta-v2", "albert", "t5", "bart", "vit", "clip", "whisper", "wav2vec2", "convnext", "resnet", "swin",
    "mamba", "rwkv",
}


def _family(name: str) -> Family:
    family = FAMILIES[name]
    if family.requires is not None:
        pytest.importorskip(family.requires, reason=f"{family.requires} is not installed")
    if family.skip_reason is not None:
        pytest.skip(family.skip_reason)
    return family


@functools.cache
def _built(name: str) -> nn.Module:
    return FAMILIES[name].build()


families = pytest.mark.parametrize("name", list(FAMILIES))


def test_registry_covers_the_requested_families() -> None:
    assert set(HF_FAMILIES) == REQUIRED_HF
    assert set(FAMILIES) >= REQUIRED_HF | {"torch.nn.Transformer", "CustomTransformerModel", "CustomCNNModel",
                                           "CustomRNNModel", "CNNTransformerHybrid", "mlp", "deep_mlp"}


@families
def test_skip_reason_is_set_only_when_the_build_fails(name: str) -> None:
    family = FAMILIES[name]
    if family.requires is not None:
        pytest.importorskip(family.requires)
    if family.skip_reason is None:
        model = _built(name)
        assert not model.training, "families are built in eval mode"
    else:
        with pytest.raises(Exception):  # noqa: B017 -- any failure justifies the skip
            family.build()


@pytest.mark.slow
@families
def test_model_runs_positional_and_keyword_samples(name: str) -> None:
    family = _family(name)
    model = _built(name)
    positional, keywords = family.positional(), family.kwargs()
    assert isinstance(positional, tuple) and all(isinstance(a, torch.Tensor) for a in positional)
    assert isinstance(keywords, dict) and all(isinstance(v, torch.Tensor) for v in keywords.values())
    with torch.no_grad():
        model(*positional)
        model(**keywords)


@families
def test_truth_names_exist_in_the_model(name: str) -> None:
    family = _family(name)
    model = _built(name)
    parameters = dict(model.named_parameters())
    modules = dict(model.named_modules())
    missing = [(field, n) for field, names in family.truth.parameter_names().items() for n in names
               if n not in parameters]
    missing += [(field, n) for field, names in family.truth.module_names().items() for n in names
                if n not in modules]
    assert not missing, f"{name}: names not in the model: {missing}"


@families
def test_readout_and_tying_match_the_model(name: str) -> None:
    family = _family(name)
    truth = family.truth
    if truth.readout is None:
        return
    model = _built(name)
    every = dict(model.named_parameters(remove_duplicate=False))
    deduplicated = dict(model.named_parameters())
    readout = every[truth.readout]
    assert readout.dim() == 2
    sharing = {n for n, p in deduplicated.items() if p is readout}
    if truth.tied_to is None:
        assert sharing == {truth.readout}, f"{name}: readout unexpectedly shares storage with {sharing}"
    else:
        assert sharing == {truth.tied_to}
        assert truth.tied_to in truth.embeddings
        inputs = getattr(model, "get_input_embeddings", None)
        if inputs is not None:
            assert model.get_output_embeddings().weight is model.get_input_embeddings().weight


@families
def test_norm_scales_are_vectors_at_their_neutral_value(name: str) -> None:
    family = _family(name)
    parameters = dict(_built(name).named_parameters())
    for norm, neutral in family.truth.norms.items():
        weight = parameters[norm]
        assert weight.dim() == 1, norm
        assert torch.all(weight == neutral), f"{name}: {norm} starts at {weight.flatten()[:3]}, not {neutral}"


@families
def test_weight_roles_have_matrix_shapes(name: str) -> None:
    family = _family(name)
    truth = family.truth
    parameters = dict(_built(name).named_parameters())
    for weight in {*truth.residual_ends, *truth.activation_into, *truth.scale_invariant, *truth.recurrent}:
        assert parameters[weight].dim() >= 2, weight
    for bank in truth.expert_banks:
        router = bank.endswith("gate.weight")
        assert parameters[bank].dim() == (2 if router else 3), bank
    experts = {parameters[b].shape[0] for b in truth.expert_banks}
    assert len(experts) <= 1, f"{name}: expert banks disagree on the number of experts: {experts}"
    for embedding, role in truth.embeddings.items():
        assert parameters[embedding].dim() >= (2 if role in {"token", "token_type", "relative_position"} else 1)


@families
def test_attention_scale_matches_the_modules_own_constant(name: str) -> None:
    family = _family(name)
    modules = dict(_built(name).named_modules())
    for attention, scale in family.truth.attention_scale.items():
        assert scale > 0
        module = modules[attention]
        declared = getattr(module, "scaling", getattr(module, "scale", None))
        if isinstance(declared, float):
            assert math.isclose(declared, scale), f"{attention}: declares {declared}, truth says {scale}"
        elif isinstance(module, nn.MultiheadAttention):
            assert math.isclose(module.head_dim**-0.5, scale)
