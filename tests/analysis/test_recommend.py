"""recommend / recommend_layer: the one rule set shared with ``initialize_model(model, "auto")``."""

from __future__ import annotations

import math

import pytest
import torch
from analysis_models import TinyGPT
from torch import nn

from weight_initialization_system.analysis import check_initialization_quality, recommend, trace_topology
from weight_initialization_system.analysis.recommend import recommend_layer
from weight_initialization_system.initializers import calculate_gain
from weight_initialization_system.models import CustomCNNModel, deep_mlp
from weight_initialization_system.schemes import initialize_model


def test_rules_follow_the_input_nonlinearity() -> None:
    net = nn.Sequential(nn.Linear(8, 8), nn.LeakyReLU(0.2), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8), nn.SELU(),
                        nn.Linear(8, 2))
    recs = recommend(net)
    assert (recs["0"].initializer, recs["0"].kwargs) == ("orthogonal", {"gain": 1.0})
    assert "raw inputs" in recs["0"].reason
    assert (recs["2"].initializer, recs["2"].kwargs) == (
        "kaiming_normal", {"a": 0.2, "mode": "fan_in", "nonlinearity": "leaky_relu"})
    # tanh: critical gain 1 (χ = σ_w²·E[tanh'(h)²] = 1 at q* = 0; Poole et al. 2016), not 1/√E[tanh(z)²] = 1.59
    assert recs["4"].initializer == "orthogonal" and recs["4"].kwargs["gain"] == 1.0
    assert "critical" in recs["4"].reason
    assert recs["6"].initializer == "lecun_normal" and "selu" in recs["6"].reason.lower()
    assert all(rec.weights == (f"{name}.weight",) and rec.layer == name for name, rec in recs.items())


def test_transformer_recommendations_scale_residual_branches() -> None:
    model = TinyGPT(layers=3)
    recs = recommend(model)
    assert recs["tok"].initializer == "normal" and recs["tok"].kwargs == {"std": 1.0}
    out_proj = recs["encoder.layers.0.self_attn.out_proj"]
    assert out_proj.initializer == "orthogonal" and "residual" in out_proj.reason
    assert out_proj.kwargs["gain"] == pytest.approx(1.0 / math.sqrt(6))  # 6 residual branches, linear input
    attn = recs["encoder.layers.0.self_attn"]
    assert attn.weights == ("encoder.layers.0.self_attn.in_proj_weight",) and attn.kwargs == {"gain": 1.0}
    assert recs["encoder.layers.0.linear1"].initializer == "orthogonal"
    assert recs["encoder.layers.0.linear1"].kwargs["gain"] == pytest.approx(2.0)  # 32 → 128: √(rows/row length)
    linear2 = recs["encoder.layers.0.linear2"]
    assert linear2.initializer == "variance_scaling"
    assert linear2.kwargs["scale"] == pytest.approx(calculate_gain("gelu") ** 2 / 6)
    info = trace_topology(model)["encoder.layers.0.linear2"]
    assert recommend_layer(info).kwargs["scale"] == pytest.approx(calculate_gain("gelu") ** 2)  # no branch count


def test_tied_embedding_gets_unit_variance_logits() -> None:
    model = TinyGPT(layers=1)
    model.head = nn.Linear(32, 50, bias=False)
    model.head.weight = model.tok.weight
    rec = recommend(model)["tok"]
    assert rec.kwargs == {"std": pytest.approx(32**-0.5)} and "tied" in rec.reason


def test_recommendations_feed_initialize_model_and_score_healthy() -> None:
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Linear(64, 64)]
    for _ in range(15):
        layers += [nn.ReLU(), nn.Linear(64, 64)]
    net = nn.Sequential(*layers)
    for rec in recommend(net).values():
        initialize_model(net, rec.initializer, include=list(rec.weights), seed=0, **rec.kwargs)
    quality = check_initialization_quality(net)
    assert quality["diagnosis"] == "healthy" and quality["overall_score"] > 0.8
    # 6 sigma of a sample std of 64·64 values
    assert net[2].weight.std().item() == pytest.approx(math.sqrt(2 / 64), rel=6 / math.sqrt(2 * 64 * 64))


def test_recommend_agrees_with_auto_on_every_layer() -> None:
    model = TinyGPT(layers=2)
    result = initialize_model(model, "auto", seed=0)
    for rec in recommend(model).values():
        if rec.initializer == "orthogonal" and rec.kwargs == {}:
            continue  # recurrent: auto applies the per-gate RNN rule
        for weight in rec.weights:
            assert (result[weight].initializer, result[weight].reason) == (rec.initializer, rec.reason)


@pytest.mark.slow
def test_recommendations_applied_one_by_one_equal_auto() -> None:
    """Feeding every recommendation to initialize_model gives the weights that auto draws (same seed)."""
    auto, manual = TinyGPT(layers=2), TinyGPT(layers=2)
    initialize_model(auto, "auto", seed=3)
    for rec in recommend(manual).values():
        initialize_model(manual, rec.initializer, include=list(rec.weights), seed=3, **rec.kwargs)
    for name in ("encoder.layers.1.self_attn.in_proj_weight", "encoder.layers.0.linear1.weight",
                 "encoder.layers.1.linear2.weight", "head.weight"):
        assert torch.equal(auto.get_parameter(name), manual.get_parameter(name)), name


def _mlp(activation: str) -> nn.Module:
    return deep_mlp(24, 128, activation)


@pytest.mark.slow
@pytest.mark.parametrize(
    "build",
    [lambda: _mlp("relu"), lambda: _mlp("tanh"),
     lambda: CustomCNNModel(3, 10, channels=(16, 32, 64), blocks_per_stage=3), lambda: TinyGPT(layers=4)],
    ids=["deep-relu-mlp", "deep-tanh-mlp", "residual-cnn", "small-transformer"],
)
def test_auto_initialized_models_score_healthy(build: object) -> None:
    torch.manual_seed(0)
    model = build()  # type: ignore[operator]
    initialize_model(model, "auto", seed=0)
    quality = check_initialization_quality(model)
    assert quality["diagnosis"] == "healthy", quality["warnings"]
    assert quality["overall_score"] > 0.9, quality["warnings"]
