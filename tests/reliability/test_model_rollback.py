"""Model-level operations are all or nothing: a failure at ANY write (an error, MemoryError or Ctrl-C raised
by the n-th ``Tensor.copy_`` or parametrization registration, for every n) leaves every parameter, buffer,
``requires_grad`` flag, ``training`` flag, hook, module class and ``state_dict`` key exactly as before."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from faults import (
    FAILURES,
    assert_raised_injected,
    assert_same_model,
    count_calls,
    inject,
    model_snapshot,
    run_failing,
)
from torch import nn
from torch.nn.utils import parametrize

from weight_initialization_system.config import apply_config
from weight_initialization_system.data_dependent import lsuv_init, weight_norm_data_init
from weight_initialization_system.models import CustomTransformerModel
from weight_initialization_system.normalization import apply_normalization, weight_norm
from weight_initialization_system.schemes import apply_scheme, initialize_model, transformer_initialization

Operation = Callable[[nn.Module], Any]


def _hook(module: nn.Module, args: Any, output: Any) -> None:
    return None


def small_mlp() -> nn.Module:
    """Linear → BatchNorm → ReLU, a weight-normed layer, a frozen layer, a user hook; in training mode."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3))
    weight_norm(model[3])
    model[5].bias.requires_grad_(False)
    model[0].register_forward_hook(_hook)
    model[1].running_mean.normal_()  # statistics a calibration forward would change
    return model.train()


def small_transformer() -> nn.Module:
    torch.manual_seed(0)
    model = CustomTransformerModel(vocab_size=32, d_model=16, nhead=2, num_layers=1, max_seq_len=8, dropout=0.1,
                                   tie_weights=True)
    return model.train()


def _tokens() -> torch.Tensor:
    return torch.randint(0, 32, (4, 8), generator=torch.Generator().manual_seed(1))


def _features() -> torch.Tensor:
    return torch.randn(16, 6, generator=torch.Generator().manual_seed(1))


CONFIG = {"weight_initialization": {
    "global": {"default_method": "he_normal"},
    "architecture_specific": {"transformer": {"method": "transformer_init"}},
    "overrides": {"*.mlp.*.weight": {"method": "orthogonal"}},
}}

#: name -> (model factory, operation)
OPERATIONS: dict[str, tuple[Callable[[], nn.Module], Operation]] = {
    "initialize_model kaiming_normal": (small_mlp, lambda m: initialize_model(m, "kaiming_normal", seed=0)),
    "initialize_model orthogonal": (small_mlp, lambda m: initialize_model(m, "orthogonal", seed=0)),
    "initialize_model auto": (small_transformer, lambda m: initialize_model(m, "auto", seed=0)),
    "initialize_model auto + sample": (small_mlp, lambda m: initialize_model(m, "auto", seed=0, sample=_features())),
    "apply_scheme gpt2": (small_transformer, lambda m: apply_scheme(m, "gpt2", seed=0)),
    "transformer_initialization": (small_transformer, lambda m: transformer_initialization(m, seed=0)),
    "apply_config": (small_transformer, lambda m: apply_config(m, CONFIG, seed=0)),
    "lsuv_init": (small_mlp, lambda m: lsuv_init(m, _features(), seed=0)),
    "lsuv_init transformer": (small_transformer, lambda m: lsuv_init(m, _tokens(), seed=0)),
    "weight_norm_data_init": (small_mlp, lambda m: weight_norm_data_init(m, _features())),
}


def _check_every_failure(factory: Callable[[], nn.Module], operation: Operation, owner: Any, attribute: str,
                         failures: tuple[type[BaseException], ...], sample: torch.Tensor | None = None) -> int:
    """Fail call n of ``owner.attribute`` for every n the operation makes; the model must be untouched.

    With several failure kinds, call n fails with kind ``(n + n // 3) % len(failures)``: every call is tested,
    and every kind meets every position of the commit's three copies per tensor (buffer, write, backup).
    With a ``sample``, the model must also still compute what it computed before.
    """
    probe = factory()
    calls = count_calls(owner, attribute, lambda: operation(probe))
    for at in range(1, calls + 1):
        failure = failures[(at + at // 3) % len(failures)]
        model = factory()
        before = model_snapshot(model)
        expected = None if sample is None else model(sample)
        run_failing(lambda: operation(model), owner, attribute, failure, at)  # noqa: B023 - run at once
        if sample is not None:
            assert torch.equal(model(sample), expected), f"{failure.__name__} at {attribute} call {at}: output"
        try:
            assert_same_model(before, model)
        except AssertionError as error:
            raise AssertionError(f"{failure.__name__} at {attribute} call {at} of {calls}: {error}") from None
    return calls


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_failure_at_every_tensor_copy_leaves_the_model_untouched(name: str) -> None:
    factory, operation = OPERATIONS[name]
    assert _check_every_failure(factory, operation, torch.Tensor, "copy_", FAILURES) > 0


@pytest.mark.slow
@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("name", ["initialize_model kaiming_normal", "apply_scheme gpt2"])
def test_each_failure_kind_at_every_tensor_copy_leaves_the_model_untouched(name: str,
                                                                           failure: type[BaseException]) -> None:
    factory, operation = OPERATIONS[name]
    assert _check_every_failure(factory, operation, torch.Tensor, "copy_", (failure,)) > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_operation_succeeds_after_a_failed_attempt_as_if_it_never_happened(name: str) -> None:
    factory, operation = OPERATIONS[name]
    reference = factory()
    operation(reference)
    model = factory()
    run_failing(lambda: operation(model), torch.Tensor, "copy_", KeyboardInterrupt, 2)
    operation(model)
    assert model_snapshot(model)["keys"] == model_snapshot(reference)["keys"]
    for (key, a), b in zip(model.state_dict().items(), reference.state_dict().values(), strict=True):
        assert torch.equal(a, b), key


# ---- normalization: parametrizations registered one layer at a time ------------------------------------


def plain_mlp() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))
    model[2].register_forward_pre_hook(lambda m, a: None)
    return model


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("kind", ["weight_norm", "spectral_norm", "orthogonal"])
def test_apply_normalization_failing_at_any_registration_or_copy_leaves_the_model(kind: str,
                                                                                failure: type[BaseException]) -> None:
    operation: Operation = lambda m: apply_normalization(m, kind)  # noqa: E731
    x = _features()
    assert _check_every_failure(plain_mlp, operation, parametrize, "register_parametrization", (failure,), x) == 3
    _check_every_failure(plain_mlp, operation, torch.Tensor, "copy_", (failure,), x)


@pytest.mark.parametrize("kind", ["weight_norm", "spectral_norm", "orthogonal"])
def test_apply_normalization_refusing_a_later_layer_leaves_earlier_ones_plain(kind: str) -> None:
    model = plain_mlp()
    model[4].weight = nn.Parameter(torch.zeros(3, 8, dtype=torch.int64), requires_grad=False)
    before = model_snapshot(model)
    with pytest.raises((ValueError, RuntimeError)):
        apply_normalization(model, kind)
    assert_same_model(before, model)


# ---- materialize ----------------------------------------------------------------------------------------


class WritesThenFails(nn.Module):
    """A module whose ``reset_parameters`` writes its real (non-meta) parameter, then fails."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(4))
        self.register_buffer("table", torch.arange(4.0))

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.scale.fill_(7.0)
            self.table.zero_()
        raise RuntimeError("reset_parameters failed after writing")


def _partly_meta() -> nn.Module:
    torch.manual_seed(0)
    real = nn.Linear(4, 4)
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 4))
    model[2] = real  # materialize keeps real tensors as they are
    return model


def test_materialize_restores_real_tensors_a_failing_recipe_wrote() -> None:
    from weight_initialization_system.distributed import materialize

    model = _partly_meta()
    odd = WritesThenFails()
    with torch.device("meta"):
        odd.weight = nn.Parameter(torch.empty(4))  # a meta tensor with no decision: the module's recipe fills it
    model.append(odd)
    before = model_snapshot(model)
    with pytest.raises(RuntimeError, match="after writing"):
        materialize(model, "normal", seed=0)
    assert_same_model(before, model)


@pytest.mark.parametrize("failure", FAILURES)
def test_materialize_failing_at_every_copy_leaves_the_meta_model(failure: type[BaseException]) -> None:
    from weight_initialization_system.distributed import materialize

    def factory() -> nn.Module:
        model = _partly_meta()
        weight_norm(model[2])
        return model

    _check_every_failure(factory, lambda m: materialize(m, "normal", seed=0), torch.Tensor, "copy_", (failure,))


# ---- the CLI --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_init_out_failing_at_every_copy_leaves_the_file(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from weight_initialization_system.cli import main

    out = tmp_path / "w.pt"
    argv = ["init", "cnn", "--method", "kaiming_normal", "--out", str(out)]
    calls = count_calls(torch.Tensor, "copy_", lambda: main(argv))
    out.write_bytes(b"previous")
    for at in range(1, calls + 1):
        failure = FAILURES[(at + at // 3) % len(FAILURES)]
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("WEIGHT_INIT_DEBUG", "1")  # errors propagate; Ctrl-C still ends in exit status 1
            with inject(torch.Tensor, "copy_", failure, at) as counter:
                try:
                    status = main(argv)
                except BaseException as error:
                    assert_raised_injected(error, counter)
                else:
                    assert status == 1 and isinstance(counter.raised, KeyboardInterrupt)
        capsys.readouterr()
        assert out.read_bytes() == b"previous" and sorted(p.name for p in tmp_path.iterdir()) == ["w.pt"]


# ---- targets that cannot be written are refused before the first write ------------------------------------


@pytest.mark.parametrize("method", ["kaiming_normal", "gpt2"])
def test_expanded_parameter_is_refused_before_anything_is_written(method: str) -> None:
    from weight_initialization_system.errors import WeightInitError

    model = small_transformer()
    head = model.lm_head
    head.weight = nn.Parameter(torch.randn(1, head.in_features).expand(head.out_features, -1))
    before = model_snapshot(model)
    with pytest.raises(WeightInitError, match=r"'lm_head.weight'.*expanded view.*stride 0 along dim 0"):
        if method == "gpt2":
            apply_scheme(model, "gpt2", seed=0)
        else:
            initialize_model(model, method, seed=0)
    assert_same_model(before, model)


def test_inference_tensor_parameter_is_refused_before_anything_is_written() -> None:
    from weight_initialization_system.errors import WeightInitError

    model = small_mlp()
    with torch.inference_mode():
        frozen = torch.randn(3, 8)
    model[5].weight = nn.Parameter(frozen, requires_grad=False)
    before = model_snapshot(model)
    with pytest.raises(WeightInitError, match=r"'5.weight' is an inference tensor"):
        initialize_model(model, "kaiming_normal", seed=0, skip_frozen=False)
    assert_same_model(before, model)


# ---- the commit's exchange: several steps per tensor, several threads -------------------------------------


def _wide_mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 6))


@pytest.mark.slow
@pytest.mark.parametrize("parallel", [False, True], ids=["one thread", "threads"])
def test_failure_inside_a_many_step_exchange_is_rolled_back(parallel: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tensors exchanged in many small steps (and, with threads, in pieces on several workers at once): a
    failure at any copy, including between the three copies of one step, restores every value."""
    from weight_initialization_system.schemes import walker

    monkeypatch.setattr(walker, "_SWAP_STEP_CPU", 7)
    monkeypatch.setattr(walker, "_SWAP_STEP_CPU_GRAIN", 7)
    if parallel:
        monkeypatch.setattr(walker, "_SWAP_PIECE", 50)
        monkeypatch.setattr(walker, "_PARALLEL_MIN_NUMEL", 0)
    operation: Operation = lambda m: initialize_model(m, "kaiming_normal", seed=0)  # noqa: E731
    reference = _wide_mlp()
    operation(reference)
    calls = _check_every_failure(_wide_mlp, operation, torch.Tensor, "copy_", FAILURES)
    assert calls > 3 * (16 * 12) // 7  # many steps
    model = _wide_mlp()
    operation(model)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values(),
                                                 strict=True))


@pytest.mark.parametrize("failure", FAILURES)
def test_remove_normalization_failing_at_any_layer_leaves_every_parametrization(failure: type[BaseException]) -> None:
    from weight_initialization_system.normalization import remove_normalization

    def factory() -> nn.Module:
        model = plain_mlp()
        apply_normalization(model, "weight_norm")
        return model

    x = _features()
    removed = _check_every_failure(factory, remove_normalization, parametrize, "remove_parametrizations", (failure,), x)
    assert removed == 3
    _check_every_failure(factory, remove_normalization, torch.Tensor, "copy_", (failure,), x)
