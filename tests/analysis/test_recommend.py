"""recommend / recommend_layer: one rule set, usable with initialize_model."""

from __future__ import annotations

import math

import pytest
import torch
from analysis_models import TinyGPT
from torch import nn

from weight_initialization_system.analysis import check_initialization_quality, recommend, trace_topology
from weight_initialization_system.analysis.recommend import recommend_layer
from weight_initialization_system.schemes import initialize_model


def test_rules_follow_the_input_nonlinearity() -> None:
    net = nn.Sequential(nn.Linear(8, 8), nn.LeakyReLU(0.2), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8), nn.SELU(),
                        nn.Linear(8, 2))
    recs = recommend(net)
    assert recs["0"].initializer == "lecun_normal" and "raw inputs" in recs["0"].reason
    assert (recs["2"].initializer, recs["2"].kwargs) == ("kaiming_normal", {"nonlinearity": "leaky_relu", "a": 0.2})
    assert recs["4"].initializer == "xavier_normal"
    assert recs["6"].initializer == "lecun_normal" and "selu" in recs["6"].reason


def test_transformer_recommendations_scale_residual_branches() -> None:
    model = TinyGPT(layers=3)
    recs = recommend(model)
    assert recs["tok"].initializer == "normal" and recs["tok"].kwargs == {"std": 0.02}
    out_proj = recs["encoder.layers.0.self_attn.out_proj"]
    assert out_proj.initializer == "variance_scaling" and "residual" in out_proj.reason
    assert out_proj.kwargs["scale"] == pytest.approx(1.0 / (2 * 6))  # 6 residual branches, linear input
    assert recs["encoder.layers.0.linear1"].initializer == "lecun_normal"
    info = trace_topology(model)["encoder.layers.0.linear2"]
    assert recommend_layer(info).initializer == "kaiming_normal"  # gelu input, no branch count given


def test_recommendations_feed_initialize_model_and_score_healthy() -> None:
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Linear(64, 64)]
    for _ in range(15):
        layers += [nn.ReLU(), nn.Linear(64, 64)]
    net = nn.Sequential(*layers)
    for rec in recommend(net).values():
        initialize_model(net, rec.initializer, include=[f"{rec.layer}.weight"], seed=0, **rec.kwargs)
    quality = check_initialization_quality(net)
    assert quality["diagnosis"] == "healthy" and quality["overall_score"] > 0.8
    # 6 sigma of a sample std of 64·64 values
    assert net[2].weight.std().item() == pytest.approx(math.sqrt(2 / 64), rel=6 / math.sqrt(2 * 64 * 64))
