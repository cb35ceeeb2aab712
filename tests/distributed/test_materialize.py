"""``materialize``: a meta model gets storage and keyed values in one pass, equal to initialize_model's."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from dist_models import Net, Scaled
from torch import nn

from weight_initialization_system.distributed import materialize
from weight_initialization_system.errors import WeightInitError
from weight_initialization_system.schemes import initialize_model


def _on_meta(factory: type[nn.Module] = Net) -> nn.Module:
    with torch.device("meta"):
        return factory()


def _all_meta(model: nn.Module) -> bool:
    return all(t.is_meta for t in [*model.parameters(), *model.buffers()])


def _differing(a: nn.Module, b: nn.Module) -> list[str]:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return [k for k in sa if not torch.equal(sa[k], sb[k])]


@pytest.mark.parametrize(("method", "kwargs"), [
    ("trunc_normal", {"std": 0.02}),
    ("kaiming_normal", {"nonlinearity": "relu"}),
    ("xavier_uniform", {"bias_init": "uniform"}),
    ("orthogonal", {}),
])
def test_materialize_equals_initialize_model_on_a_cpu_built_model_bitwise(method: str, kwargs: dict[str, Any]) -> None:
    reference = Net()
    initialize_model(reference, method, seed=3, **kwargs)
    model = _on_meta()
    materialize(model, method, seed=3, **kwargs)
    assert _differing(model, reference) == []
    assert torch.equal(model.rot.inv_freq, reference.rot.inv_freq)  # non-persistent: not in the state dict


def test_materialize_sets_batchnorm_statistics_and_keeps_ties() -> None:
    model = _on_meta()
    materialize(model, "trunc_normal", std=0.02, seed=0)
    assert torch.equal(model.bn.running_mean, torch.zeros(32))
    assert torch.equal(model.bn.running_var, torch.ones(32))
    assert int(model.bn.num_batches_tracked) == 0
    assert model.head.weight is model.emb.weight
    assert not _all_meta(model) and not any(t.is_meta for t in model.buffers())


def test_materialize_of_bf16_model_equals_initialize_model() -> None:
    reference = Net().to(torch.bfloat16)
    initialize_model(reference, "kaiming_uniform", seed=8)
    model = _on_meta().to(torch.bfloat16)
    materialize(model, "kaiming_uniform", seed=8)
    assert _differing(model, reference) == []


def test_unknown_tensors_without_recipe_are_all_listed_and_the_model_stays_on_meta() -> None:
    model = _on_meta(Scaled)
    with pytest.raises(WeightInitError) as info:
        materialize(model, "normal", seed=0)
    assert "scale (Scaled, parameter)" in str(info.value)
    assert "mask (Scaled, buffer)" in str(info.value)
    assert "recipes=" in str(info.value)
    assert _all_meta(model)


def test_recipes_fill_uncovered_tensors_and_are_reported() -> None:
    def fill(module: nn.Module) -> None:
        module.scale.fill_(2.0)  # type: ignore[operator]
        module.mask.fill_(1.0)  # type: ignore[operator]

    model = _on_meta(Scaled)
    result = materialize(model, "normal", seed=0, recipes={Scaled: fill})
    assert torch.equal(model.scale, torch.full((4,), 2.0))
    assert torch.equal(model.mask, torch.ones(4, 4))
    assert "recipes[Scaled]" in result.skipped["scale"]
    reference = Scaled()
    initialize_model(reference, "normal", seed=0)
    assert torch.equal(model.lin.weight, reference.lin.weight)


def test_parameters_the_method_leaves_alone_come_from_reset_parameters() -> None:
    model = _on_meta()
    result = materialize(model, "normal", seed=0, bias_init="keep")
    assert "Linear.reset_parameters()" in result.skipped["big.bias"]
    bound = 1 / 300**0.5
    assert model.big.bias.abs().max().item() <= bound
    assert model.big.bias.unique().numel() == 700


def test_invalid_initialization_leaves_the_model_on_meta() -> None:
    model = _on_meta()
    with pytest.raises(WeightInitError, match="Unknown initializer"):
        materialize(model, "xavier_unifrom", seed=0)
    with pytest.raises(WeightInitError, match="include"):
        materialize(model, "normal", seed=0, include="nothing.*")
    assert _all_meta(model)


def test_errors_found_while_drawing_or_allocating_leave_the_model_on_meta() -> None:
    # initializers return meta tensors untouched, so an argument value is only checked when values are drawn,
    # after storage was allocated: the meta tensors must come back.
    model = _on_meta()
    with pytest.raises(WeightInitError, match=r"`std`.*std=-1"):
        materialize(model, "normal", seed=0, std=-1.0)
    assert _all_meta(model)
    with pytest.raises(WeightInitError, match=r"`device`.*'no_such_device'"):
        materialize(model, "normal", seed=0, device="no_such_device")
    assert _all_meta(model)


def test_tensors_not_on_meta_are_kept() -> None:
    model = _on_meta()
    model.bn.running_mean = torch.full((32,), 5.0)
    materialize(model, "normal", seed=0)
    assert torch.equal(model.bn.running_mean, torch.full((32,), 5.0))


def test_a_model_without_meta_tensors_is_refused() -> None:
    with pytest.raises(WeightInitError, match="no tensor on the meta device"):
        materialize(nn.Linear(2, 2), "normal", seed=0)


def test_init_fn_composes_several_initializations_like_on_cpu() -> None:
    def scheme(model: nn.Module) -> Any:
        first = initialize_model(model, "trunc_normal", std=0.02, seed=1)
        return first.merge(initialize_model(model, "orthogonal", include="big.weight", seed=1))

    reference = Net()
    scheme(reference)
    model = _on_meta()
    result = materialize(model, init_fn=scheme)
    assert _differing(model, reference) == []
    assert result["big.weight"].initializer == "orthogonal"


def test_init_fn_and_initializer_arguments_are_exclusive() -> None:
    with pytest.raises(WeightInitError, match="either `init_fn`"):
        materialize(_on_meta(), init_fn=lambda m: initialize_model(m), std=0.1)


def test_unseeded_materialize_reports_a_seed_that_reproduces_it() -> None:
    model = _on_meta()
    result = materialize(model, "normal")
    reference = Net()
    initialize_model(reference, "normal", seed=result.seed)
    assert _differing(model, reference) == []


def test_large_parameters_are_drawn_on_worker_threads_straight_into_their_storage() -> None:
    # Above 2^20 elements the blocks are drawn on a thread pool; grad mode is per thread, so the workers must
    # write into parameters that require grad without autograd complaining.
    reference = nn.Linear(1024, 1100)
    initialize_model(reference, "trunc_normal", std=0.02, seed=6)
    with torch.device("meta"):
        model = nn.Linear(1024, 1100)
    materialize(model, "trunc_normal", std=0.02, seed=6)
    assert model.weight.requires_grad
    assert torch.equal(model.weight, reference.weight)


def test_config_is_forwarded_to_initialize_model() -> None:
    from weight_initialization_system.config import load_config

    cfg = load_config({"weight_initialization": {"global": {"default_method": "kaiming_normal"},
                                                 "overrides": {"big.weight": {"method": "orthogonal"}}}})
    reference = Net()
    initialize_model(reference, config=cfg, seed=4)
    model = _on_meta()
    materialize(model, config=cfg, seed=4)
    assert _differing(model, reference) == []


@pytest.mark.parametrize("scheme", ["gpt2", "bert"])
def test_published_schemes_materialize_like_on_cpu(scheme: str) -> None:
    from weight_initialization_system.models import CustomTransformerModel
    from weight_initialization_system.schemes import apply_scheme

    reference = CustomTransformerModel(vocab_size=100, d_model=32)
    apply_scheme(reference, scheme, seed=0)
    with torch.device("meta"):
        model = CustomTransformerModel(vocab_size=100, d_model=32)
    materialize(model, init_fn=lambda m: apply_scheme(m, scheme, seed=0))
    assert _differing(model, reference) == []
