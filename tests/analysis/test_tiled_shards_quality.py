"""check_initialization_quality reports shards that repeat one block (torch's CPU/gloo DTensor init bug) as errors."""

import torch
from torch import nn

from weight_initialization_system import check_initialization_quality, initialize_model


def _mlp() -> nn.Sequential:
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
    initialize_model(model, "kaiming_normal", nonlinearity="relu", seed=0)
    return model


def test_keyed_init_has_no_tiling_error() -> None:
    report = check_initialization_quality(_mlp())
    assert report["errors"] == []
    assert report["diagnosis"] == "healthy"


def test_a_weight_made_of_one_repeated_shard_is_an_error_naming_it() -> None:
    model = _mlp()
    with torch.no_grad():  # what a 4-rank Shard(0) DTensor gives when every rank draws the same block
        block = model[2].weight[:32].clone()
        model[2].weight.copy_(torch.cat([block] * 4))
    report = check_initialization_quality(model)
    assert len(report["errors"]) == 1 and "'2.weight'" in report["errors"][0]
    assert report["parameter_scores"]["2.weight"]["score"] == 0.0
    assert report["diagnosis"] == "broken"
