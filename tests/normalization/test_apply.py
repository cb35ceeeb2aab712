"""apply_normalization: parametrizations on every covered layer, norm layers inserted in Sequentials."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from weight_initialization_system.errors import WeightInitError
from weight_initialization_system.normalization import apply_normalization, normalization_of, spectral_norm


def _conv_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.ConvTranspose2d(8, 4, 2, stride=2),
        nn.Flatten(),
        nn.Linear(4 * 8 * 8, 10),
    )


def test_weight_norm_covers_linear_conv_and_transposed_conv_without_changing_output() -> None:
    model = _conv_model()
    x = torch.randn(2, 3, 4, 4)
    before = model(x)
    report = apply_normalization(model, "weight_norm")
    assert report.applied == ["0", "2", "4"]
    assert model[2].parametrizations.weight[0].dim == 1  # transposed conv: output units on dim 1
    assert tuple(model[2].parametrizations.weight.original0.shape) == (1, 4, 1, 1)
    torch.testing.assert_close(model(x), before, atol=1e-5, rtol=1e-5)


def test_applying_twice_lists_everything_as_unchanged() -> None:
    model = _conv_model()
    apply_normalization(model, "spectral_norm")
    report = apply_normalization(model, "spectral_norm")
    assert report.applied == []
    assert report.unchanged == ["0", "2", "4"]
    assert all(len(model[i].parametrizations.weight) == 1 for i in (0, 2, 4))


def test_orthogonal_skips_convolutions_with_a_reason() -> None:
    report = apply_normalization(_conv_model(), "orthogonal")
    assert report.applied == ["4"]
    assert set(report.skipped) == {"0", "2"}


def test_include_and_exclude_select_by_module_name() -> None:
    model = _conv_model()
    assert apply_normalization(model, "weight_norm", include="[02]").applied == ["0", "2"]
    assert normalization_of(model[4]) == []
    other = _conv_model()
    assert apply_normalization(other, "weight_norm", exclude=["0", "4"]).applied == ["2"]


def test_conflicting_parametrization_fails_before_touching_any_layer() -> None:
    model = _conv_model()
    spectral_norm(model[4])
    with pytest.raises(WeightInitError, match="refuses to stack"):
        apply_normalization(model, "weight_norm")
    assert normalization_of(model[0]) == [] and normalization_of(model[2]) == []


def test_batch_norm_is_inserted_after_each_layer_and_renumbers() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU())
    report = apply_normalization(model, "batch_norm")
    assert [(n.name, n.after) for n in report.inserted] == [("1", "0"), ("4", "3")]
    assert [type(m).__name__ for m in model] == ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU"]
    assert model[1].num_features == 8
    again = apply_normalization(model, "batch_norm")
    assert again.inserted == [] and again.unchanged == ["0", "3"]


def test_norm_after_the_activation_counts_as_following() -> None:
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.BatchNorm1d(6), nn.Linear(6, 2))
    report = apply_normalization(model, "layer_norm")
    assert report.unchanged == ["0"]
    assert [(n.name, n.after) for n in report.inserted] == [("4", "3")]
    assert isinstance(model[4], nn.LayerNorm)


def test_layer_norm_after_a_convolution_is_group_norm_with_one_group() -> None:
    model = nn.Sequential(OrderedDict(conv=nn.Conv1d(2, 5, 3), act=nn.Tanh()))
    report = apply_normalization(model, "layer_norm")
    assert [n.name for n in report.inserted] == ["conv_ln"]
    assert list(model._modules) == ["conv", "conv_ln", "act"]
    assert isinstance(model.conv_ln, nn.GroupNorm) and model.conv_ln.num_groups == 1
    assert model(torch.randn(3, 2, 9)).shape == (3, 5, 7)


class _Head(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x))


def test_insertion_outside_a_sequential_is_refused_and_nothing_is_inserted() -> None:
    model = _Head()
    with pytest.raises(WeightInitError, match=r"fc \(in _Head\)"):
        apply_normalization(model, "batch_norm")
    assert len(model.body) == 2
    report = apply_normalization(model, "batch_norm", exclude="fc")
    assert [n.name for n in report.inserted] == ["body.1"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "weight_normal"}, "Did you mean 'weight_norm'"),
        ({"kind": "weight_norm", "include": "encoder.*"}, "matches no module"),
        ({"kind": "weight_norm", "exclude": 3}, "Argument `exclude`"),
        ({"kind": "weight_norm", "include": "1"}, "found no Linear"),
    ],
)
def test_bad_arguments_raise_and_leave_the_model_unchanged(kwargs: dict[str, object], match: str) -> None:
    model = _conv_model()
    with pytest.raises(WeightInitError, match=match):
        apply_normalization(model, **kwargs)  # type: ignore[arg-type]
    assert not any(normalization_of(m) for m in model)
