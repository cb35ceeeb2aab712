"""lsuv_init: every covered layer ends within tolerance, everything else is left as it was."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from weight_initialization_system.data_dependent import lsuv_init
from weight_initialization_system.errors import WeightInitError
from weight_initialization_system.normalization import apply_normalization

from .models import ResidualCNN, TinyTransformer, measure_output_stds, relu_mlp

TOL = 0.1


def _cases() -> list[tuple[str, Callable[[], nn.Module], torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [
        ("mlp20", relu_mlp, torch.randn(256, 32, generator=g)),
        ("rescnn", ResidualCNN, torch.randn(32, 3, 8, 8, generator=g)),
        ("transformer", TinyTransformer, torch.randn(16, 10, 12, generator=g)),
    ]


@pytest.mark.slow
@pytest.mark.parametrize(("label", "build", "x"), _cases(), ids=[c[0] for c in _cases()])
def test_every_layer_ends_within_tolerance(label: str, build: Callable[[], nn.Module], x: torch.Tensor) -> None:
    torch.manual_seed(0)
    model = build()
    report = lsuv_init(model, x, tol=TOL, seed=0)
    assert report.unreached == ()
    assert report.converged, [(r.name, r.std_after) for r in report.layers if not r.converged]
    stds = measure_output_stds(model, lambda m: m(x))
    assert set(stds) == {r.name for r in report.layers}
    bad = {name: s for name, s in stds.items() if abs(s - 1.0) > TOL}
    assert not bad
    if label == "transformer":
        assert {"encoder.layers.0.self_attn", "encoder.layers.1.linear2"} <= set(stds)


def test_a_20_layer_mlp_needs_one_calibration_forward_not_one_per_layer() -> None:
    model = relu_mlp()
    calls = []
    model.register_forward_pre_hook(lambda m, a: calls.append(1))
    lsuv_init(model, torch.randn(128, 32), seed=0)
    assert len(calls) == 2  # one traced forward that finds the layers, one that calibrates all 20


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_modes_buffers_norm_parameters_and_user_hooks_are_unchanged(mode: str) -> None:
    torch.manual_seed(0)
    model = ResidualCNN()
    model.train()
    model.blocks[1].eval()  # a mixed state must come back exactly
    modes = {name: m.training for name, m in model.named_modules()}
    fired = []
    model.blocks[0].conv1.register_forward_hook(lambda m, a, o: fired.append(float(o.std())))
    before = _state(model)
    fastpath = torch.backends.mha.get_fastpath_enabled()

    lsuv_init(model, torch.randn(16, 3, 8, 8), seed=0, mode=mode)  # type: ignore[arg-type]

    assert {name: m.training for name, m in model.named_modules()} == modes
    assert torch.backends.mha.get_fastpath_enabled() == fastpath
    after = model.state_dict()
    scaled = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    scaled |= {"head.bias"}  # zeroed by the orthogonal pre-init
    for key, value in before.items():
        if key not in scaled:
            assert torch.equal(after[key], value), key
    # the user's hook ran in the traced forward (before calibration), then saw the corrected output
    assert len(fired) == 2 and abs(fired[-1] - 1.0) <= TOL
    assert len(model.blocks[0].conv1._forward_hooks) == 1


def test_same_seed_same_weights_other_seed_other_weights() -> None:
    x = torch.randn(64, 32)
    a, b, c = relu_mlp(depth=4), relu_mlp(depth=4), relu_mlp(depth=4)
    lsuv_init(a, x, seed=7)
    lsuv_init(b, x, seed=7)
    lsuv_init(c, x, seed=8)
    for (key, va), vb, vc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values(), strict=True):
        assert torch.equal(va, vb), key
        if key.endswith("weight"):
            assert not torch.equal(va, vc), key


def test_without_preinit_only_weights_are_rescaled() -> None:
    torch.manual_seed(3)
    model = relu_mlp(depth=3)
    before = _state(model)
    report = lsuv_init(model, torch.randn(128, 32), orthogonal_preinit=False)
    assert report.converged
    for layer in report.layers:
        torch.testing.assert_close(model.state_dict()[f"{layer.name}.bias"], before[f"{layer.name}.bias"])
        w0, w1 = before[f"{layer.name}.weight"], model.state_dict()[f"{layer.name}.weight"]
        torch.testing.assert_close(w1, w0 * layer.scale)


def test_shared_module_is_calibrated_on_its_first_call() -> None:
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = nn.Linear(8, 16)
            self.block = nn.Linear(16, 16)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.block(torch.tanh(self.block(torch.tanh(self.inp(x)))))

    model = Shared()
    x = torch.randn(256, 8)
    report = lsuv_init(model, x, seed=0)
    assert [r.name for r in report.layers] == ["inp", "block"]
    first = measure_output_stds(model, lambda m: m(x))["block"]
    assert abs(first - 1.0) <= TOL


class _TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(6, 10)
        self.b = nn.Conv1d(2, 10, 3, padding=1)
        self.up = nn.ConvTranspose1d(10, 4, 2, stride=2)

    def forward(self, seq: torch.Tensor, vec: torch.Tensor) -> torch.Tensor:
        return self.up(torch.relu(self.b(seq) + self.a(vec).unsqueeze(-1)))


@pytest.mark.parametrize(
    ("data", "get_input"),
    [
        ((torch.randn(64, 2, 5), torch.randn(64, 6)), None),
        ({"seq": torch.randn(64, 2, 5), "vec": torch.randn(64, 6)}, None),
        (DataLoader(TensorDataset(torch.randn(64, 2, 5), torch.randn(64, 6)), batch_size=64), lambda b: tuple(b)),
    ],
    ids=["tuple", "dict", "dataloader"],
)
def test_several_inputs_as_tuple_dict_or_dataloader(data: object, get_input: object) -> None:
    model = _TwoInputs()
    report = lsuv_init(model, data, seed=0, get_input=get_input)  # type: ignore[arg-type]
    assert [r.name for r in report.layers] == ["b", "a", "up"]
    assert report.converged


def test_dataloader_of_pairs_uses_the_first_element() -> None:
    x = torch.randn(100, 32)
    loader = DataLoader(TensorDataset(x, torch.randint(0, 2, (100,))), batch_size=50)
    torch.manual_seed(0)
    from_loader = relu_mlp(depth=3)
    torch.manual_seed(0)
    from_batch = relu_mlp(depth=3)
    assert lsuv_init(from_loader, loader, seed=0).converged
    # the first batch's inputs (not the labels, not the other batch) are the calibration data.
    lsuv_init(from_batch, x[:50], seed=0)
    for (key, a), b in zip(from_loader.state_dict().items(), from_batch.state_dict().values(), strict=True):
        assert torch.equal(a, b), key


def test_weight_normed_layers_are_scaled_through_g() -> None:
    model = relu_mlp(depth=4)
    apply_normalization(model, "weight_norm")
    x = torch.randn(128, 32)
    report = lsuv_init(model, x, seed=0)
    assert report.converged and all(not r.note for r in report.layers)
    assert all(abs(s - 1.0) <= TOL for s in measure_output_stds(model, lambda m: m(x)).values())


def test_spectral_normed_layers_are_reported_not_scaled() -> None:
    model = relu_mlp(depth=2)
    apply_normalization(model, "spectral_norm", include="0")
    report = lsuv_init(model, torch.randn(64, 32), seed=0)
    assert report["0"].iterations == 0 and "cannot change" in report["0"].note


def test_second_moment_variant_reports_each_iteration() -> None:
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    report = lsuv_init(model, torch.randn(1000, 784), statistic="second_moment", tol=0.01, max_iters=10, seed=0)
    assert report.target == 1.0
    for layer in report.layers:
        assert len(layer.trace) == layer.iterations + 1
        assert layer.trace[-1] == layer.statistic_after
        assert abs(layer.statistic_after - 1.0) <= 0.01


def test_layer_never_called_warns() -> None:
    class Unused(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = nn.Linear(4, 4)
            self.spare = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.used(x)

    with pytest.warns(UserWarning, match="never called"):
        report = lsuv_init(Unused(), torch.randn(32, 4), seed=0)
    assert report.unreached == ("spare",)
    assert not report.converged


def test_zero_output_warns_instead_of_dividing_by_zero() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    with pytest.warns(UserWarning, match="output std is 0.0"):
        report = lsuv_init(model, torch.zeros(16, 4), seed=0)
    assert report.layers[0].iterations == 0
    assert torch.isfinite(model[0].weight).all()


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (torch.empty(0, 32), "empty"),
        (DataLoader(TensorDataset(torch.empty(0, 32)), batch_size=4), "empty iterable"),
        ({}, "no tensor"),
        (3.0, "must be a tensor"),
    ],
)
def test_empty_or_bad_data_raises(data: object, match: str) -> None:
    with pytest.raises(WeightInitError, match=match):
        lsuv_init(relu_mlp(depth=2), data)  # type: ignore[arg-type]


_BAD = [
    ("target_std", v) for v in (-1.0, 0.0, float("nan"), "x", True)
] + [("tol", v) for v in (-0.1, 0, float("inf"), "x")] + [
    ("max_iters", v) for v in (-1, 2.5, "x", True)
] + [("statistic", "variance"), ("mode", "inference"), ("seed", 1.5), ("seed", "x"), ("include", 3)]


@pytest.mark.parametrize(("key", "value"), _BAD)
def test_bad_arguments_raise_weight_init_error(key: str, value: object) -> None:
    with pytest.raises(WeightInitError, match=key):
        lsuv_init(relu_mlp(depth=1), torch.randn(4, 32), **{key: value})  # type: ignore[arg-type]


def test_error_in_forward_leaves_the_model_exactly_as_it_was() -> None:
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(12, 4))  # shape bug in the second layer
    before = _state(model)
    with pytest.raises(WeightInitError, match="left unchanged"):
        lsuv_init(model, torch.randn(32, 8), seed=0)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert not model[0]._forward_hooks


def test_include_restricts_the_calibrated_layers() -> None:
    model = relu_mlp(depth=4)
    before = _state(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = lsuv_init(model, torch.randn(64, 32), include=["2", "4"], seed=0)
    assert [r.name for r in report.layers] == ["2", "4"]
    assert torch.equal(model[0].weight, before["0.weight"])


class _ShiftedLinear(nn.Linear):
    """A subclass with its own forward: calibrated by re-running it, not by the affine shortcut."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(super().forward(x)) + 0.5


def test_layers_with_their_own_forward_are_re_run_until_within_tolerance() -> None:
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(16, 32), _ShiftedLinear(32, 32), nn.ReLU(), nn.Linear(32, 8))
    x = torch.randn(512, 16)
    calls = []
    model[1].register_forward_pre_hook(lambda m, a: calls.append(1))
    report = lsuv_init(model, x, target_std=0.25, tol=0.01, seed=0)
    # hooks ran once in the traced forward and once in the calibration: re-runs call forward directly
    assert report["1"].iterations >= 1 and len(calls) == 2
    stds = measure_output_stds(model, lambda m: m(x))
    assert all(abs(s - 0.25) <= 0.01 for s in stds.values()), stds
