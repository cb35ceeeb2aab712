"""The YAML configuration: the seed's block loads as written, every problem is reported, application is atomic."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from weight_initialization_system.config import (
    InitializationQualityWarning,
    apply_config,
    architectures_in,
    dump_config,
    load_config,
)
from weight_initialization_system.errors import WeightInitError
from weight_initialization_system.examples import SEED_CONFIG
from weight_initialization_system.models import CustomTransformerModel, mlp


def _cfg(**block: object) -> dict[str, object]:
    return {"weight_initialization": block}


def _mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))


def test_seed_yaml_loads_as_written_with_typed_fields() -> None:
    cfg = load_config(SEED_CONFIG)
    block = cfg.settings
    assert block.global_.default_method == "xavier_uniform"
    assert block.global_.enable_analysis is True
    assert block.global_.quality_threshold == 0.7
    assert block.methods["kaiming_normal"].arguments == {"mode": "fan_in", "nonlinearity": "leaky_relu"}
    assert block.methods["xavier_uniform"].arguments == {"gain": 1.0}
    transformer = block.architecture_specific["transformer"]
    assert (transformer.method, transformer.arguments) == ("transformer_init", {"d_model_scaling": True})


def test_load_config_reads_a_file(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "init.yaml"  # type: ignore[operator]
    path.write_text(SEED_CONFIG)
    assert load_config(path) == load_config(SEED_CONFIG)


def test_dump_config_round_trips() -> None:
    cfg = load_config(SEED_CONFIG)
    assert load_config(dump_config(cfg)) == cfg
    with_overrides = load_config(_cfg(overrides={"*.attention.*.weight": {"method": "trunc_normal", "std": 0.02}}))
    assert load_config(dump_config(with_overrides)) == with_overrides


def test_invalid_config_lists_every_problem_with_its_path() -> None:
    bad = _cfg(
        **{"global": {"default_method": "xavier_unifrom", "quality_threshold": 2.0},
           "methods": {"kaiming_normal": {"mode": "fan_inn", "nonlinearity": "reluu", "gain": 2.0}},
           "architecture_specific": {"transfomer": {"method": "transformer_init"}},
           "overrides": {"*.weight": {"method": "orthogonall"}}})
    with pytest.raises(WeightInitError) as info:
        load_config(bad)
    message = str(info.value)
    expected = [
        "weight_initialization.methods.kaiming_normal.mode: expected fan_in | fan_out, got 'fan_inn'",
        "weight_initialization.methods.kaiming_normal.nonlinearity:",
        "weight_initialization.methods.kaiming_normal.gain: unknown key",
        "weight_initialization.global.quality_threshold:",
        "weight_initialization.global.default_method: unknown initializer 'xavier_unifrom' (did you mean "
        "'xavier_uniform'?)",
        "weight_initialization.architecture_specific.transfomer: unknown architecture (did you mean 'transformer'?)",
        "weight_initialization.overrides.*.weight.method: unknown initializer 'orthogonall' (did you mean "
        "'orthogonal'?)",
    ]
    for line in expected:
        assert line in message
    assert "(7 problems)" in message


def test_sources_and_configs_of_the_wrong_type_name_the_argument() -> None:
    with pytest.raises(WeightInitError, match=r"`path_or_dict` must be .*Received: int 5"):
        load_config(5)  # type: ignore[arg-type]
    model = _mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(WeightInitError, match=r"`path_or_dict`"):
        apply_config(model, 5)  # type: ignore[arg-type]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(WeightInitError, match=r"`config` must be a Config.*dict"):
        dump_config({"weight_initialization": {}})  # type: ignore[arg-type]


def test_missing_required_argument_and_disabled_method_are_reported() -> None:
    with pytest.raises(WeightInitError, match=r"methods\.sparse\.sparsity: required"):
        load_config(_cfg(methods={"sparse": {"std": 0.01}}))
    with pytest.raises(WeightInitError, match="disabled"):
        load_config(_cfg(**{"global": {"default_method": "orthogonal"}, "methods": {"orthogonal": {"enabled": False}}}))


@settings(max_examples=25, deadline=None)
@given(st.one_of(st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2), st.none()))
def test_garbage_in_any_section_raises_weight_init_error(value: object) -> None:
    for section in ("global", "methods", "architecture_specific", "overrides"):
        raw = _cfg(**{section: value})
        if value is None:
            # An empty YAML section (``global:`` with nothing under it) is an empty mapping: valid.
            load_config(raw)
            continue
        # Anything else that is not a mapping, falsy values included, is reported with its path.
        with pytest.raises(WeightInitError, match=rf"weight_initialization\.{section}"):
            load_config(raw)


def test_default_method_arguments_and_overrides_are_applied() -> None:
    model = _mlp()
    cfg = _cfg(**{"global": {"default_method": "kaiming_normal"},
                  "methods": {"kaiming_normal": {"nonlinearity": "relu"}},
                  "overrides": {"4.weight": {"method": "zeros"}, "2.*": {"method": "normal", "std": 0.5}}})
    result = apply_config(model, cfg, seed=0)
    assert result["0.weight"].initializer == "kaiming_normal"
    assert result["0.weight"].kwargs == {"nonlinearity": "relu"}
    assert torch.count_nonzero(model[4].weight) == 0
    assert result["2.bias"].initializer == "normal"
    # std of 128*128 N(0, 0.5²) draws: sampling std ≈ σ/√(2n); allow 6 of those.
    n = model[2].weight.numel()
    assert abs(float(model[2].weight.detach().std()) - 0.5) < 6 * 0.5 / math.sqrt(2 * n)
    expected = math.sqrt(2 / 64)
    assert abs(float(model[0].weight.detach().std()) - expected) < 6 * expected / math.sqrt(2 * model[0].weight.numel())


def test_same_seed_same_weights_and_config_seed_is_used() -> None:
    a, b = _mlp(), _mlp()
    apply_config(a, _cfg(**{"global": {"seed": 3}}))
    apply_config(b, _cfg(), seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_last_matching_override_wins() -> None:
    model = _mlp()
    result = apply_config(model, _cfg(overrides={"*.weight": {"method": "ones"}, "0.*": {"method": "zeros"}}), seed=0)
    assert result["0.weight"].initializer == "zeros"
    assert result["2.weight"].initializer == "ones"


def test_failing_step_leaves_the_model_exactly_as_it_was() -> None:
    model = _mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # dirac needs 3-5 dims: the override fails on the 2-D Linear weight, after the default step ran.
    with pytest.raises(WeightInitError):
        apply_config(model, _cfg(overrides={"2.weight": {"method": "dirac"}}), seed=0)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_architecture_scheme_runs_only_where_the_architecture_is_present() -> None:
    transformer = CustomTransformerModel(vocab_size=50, d_model=32, num_layers=2)
    assert architectures_in(transformer) == {"transformer"}
    assert architectures_in(_mlp()) == set()
    result = apply_config(transformer, SEED_CONFIG.replace("enable_analysis: true", "enable_analysis: false"),
                          seed=0)
    # d_model_scaling: true → std = d_model^-1/2 for the scheme's projections.
    assert result["blocks.0.attention.query.weight"].kwargs["std"] == pytest.approx(32**-0.5)
    # d_model_scaling: false → GPT-2's fixed 0.02.
    fixed = apply_config(transformer, SEED_CONFIG.replace("enable_analysis: true", "enable_analysis: false")
                         .replace("d_model_scaling: true", "d_model_scaling: false"), seed=0)
    assert fixed["blocks.0.attention.query.weight"].kwargs["std"] == pytest.approx(0.02)


def test_enable_analysis_warns_below_threshold_naming_layers() -> None:
    model = mlp(64, [64] * 8, 10, activation="relu")
    cfg = _cfg(**{"global": {"default_method": "normal", "enable_analysis": True, "quality_threshold": 0.99},
                  "methods": {"normal": {"std": 1.0}}})
    with pytest.warns(InitializationQualityWarning, match=r"Worst layers: .*weight"):
        apply_config(model, cfg, seed=0)


def test_enable_analysis_is_quiet_above_threshold() -> None:
    model = _mlp()
    cfg = _cfg(**{"global": {"default_method": "kaiming_normal", "enable_analysis": True, "quality_threshold": 0.0},
                  "methods": {"kaiming_normal": {"nonlinearity": "relu"}}})
    with warnings.catch_warnings():
        warnings.simplefilter("error", InitializationQualityWarning)
        apply_config(model, cfg, seed=0)


def test_override_matching_nothing_warns() -> None:
    with pytest.warns(UserWarning, match="matches no parameter"):
        apply_config(_mlp(), _cfg(overrides={"encoder.*": {"method": "zeros"}}), seed=0)
