"""method='auto': per-layer rules, signal propagation on deep plain MLPs and a residual CNN, LSUV correction.

Diagnosis used here: a forward pass on unit-variance inputs records the second moment E[y²] of every weight
layer's output (for the residual CNN: the residual stream, i.e. every block's output, plus the stem and the
classifier). It is ``healthy`` when every recorded value lies within a factor 4 of the input's (1), i.e.
|log₂ E[y²]| ≤ 2: a 30-layer stack that loses or gains more than a factor 4 in second moment is flagged.
Kaiming at width 256 fluctuates by up to ~3x over 30 ReLU layers from finite-width effects alone (measured
over seeds), which this bound tolerates while catching the geometric drift of GELU/SiLU.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from weight_initialization_system.analysis.recommend import recommend_layer
from weight_initialization_system.analysis.topology import LayerInfo, trace_topology
from weight_initialization_system.errors import WeightInitError
from weight_initialization_system.initializers import calculate_gain
from weight_initialization_system.models import CustomCNNModel, CustomTransformerModel, ResidualBlock, deep_mlp
from weight_initialization_system.schemes import initialize_model

DEPTH, WIDTH, BATCH = 30, 256, 512


def _moments(model: nn.Module, x: torch.Tensor, kinds: tuple[type[nn.Module], ...]) -> list[float]:
    values: list[float] = []
    hooks = [m.register_forward_hook(lambda _m, _i, o: values.append(float(o.detach().pow(2).mean())))
             for m in model.modules() if isinstance(m, kinds)]
    with torch.no_grad():
        model.eval()(x)
    for h in hooks:
        h.remove()
    return values


def _diagnose(values: list[float]) -> str:
    if any(v > 4 for v in values):
        return "exploding"
    if any(v < 0.25 for v in values):
        return "vanishing"
    return "healthy"


def _activation(name: str) -> str | type[nn.Module] | object:
    return (lambda: nn.LeakyReLU(0.2)) if name == "leaky_relu_0.2" else name


def test_auto_puts_a_30_layer_tanh_mlp_at_the_edge_of_chaos() -> None:
    """Measured directly: the input-output Jacobian's mean squared singular value, relative to the forward
    gain², stays O(1) (≈ 1 at criticality, Pennington et al. 2017), distinct inputs stay distinct, and the
    forward std decays only slowly (≈ 1/√(2l) at the q* = 0 fixed point); at 1/√E[tanh²] = 1.59, χ > 1 per
    layer and the relative Jacobian grows geometrically with depth (the chaotic side)."""
    torch.manual_seed(0)
    x = torch.randn(64, WIDTH)
    for gain, chaotic in ((None, False), (1.59, True)):  # None: what auto chooses
        model = deep_mlp(DEPTH, WIDTH, "tanh")
        result = initialize_model(model, "auto", seed=0)
        if gain is not None:
            initialize_model(model, "orthogonal", gain=gain, seed=0)
        else:
            assert "critical" in result["2.weight"].reason
        jac = torch.func.vmap(torch.func.jacrev(model))(x[:8])  # (8, out, in)
        mean_sq_singular = float(jac.pow(2).sum(dim=(1, 2)).mean()) / WIDTH
        with torch.no_grad():
            out = model(x)
        corr = torch.corrcoef(out)[~torch.eye(64, dtype=torch.bool)].abs().mean()
        forward = float(out.std() / x.std())
        relative = mean_sq_singular / forward**2  # the Jacobian against the signal's own change of scale
        if chaotic:  # χ > 1 per layer compounds: more than 30x the critical value at this depth
            assert relative > 30
        else:
            assert 1e-1 < relative < 10 and float(corr) < 0.5 and forward > 0.05


@pytest.mark.parametrize("activation", ["relu", "leaky_relu_0.2"])
def test_auto_keeps_30_layer_plain_mlp_healthy(activation: str) -> None:
    torch.manual_seed(0)
    model = deep_mlp(DEPTH, WIDTH, _activation(activation))  # type: ignore[arg-type]
    result = initialize_model(model, "auto", seed=0)
    values = _moments(model, torch.randn(BATCH, WIDTH), (nn.Linear,))
    assert len(values) == DEPTH
    assert _diagnose(values) == "healthy", values
    assert "first layer: raw inputs, gain 1" in result["0.weight"].reason


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["gelu", "silu", "mish"])
def test_auto_with_sample_fixes_smooth_activation_drift(activation: str) -> None:
    torch.manual_seed(0)
    model = deep_mlp(DEPTH, WIDTH, activation)
    sample = torch.randn(BATCH, WIDTH)
    result = initialize_model(model, "auto", seed=0, sample=sample)
    assert result.method == "auto+lsuv"
    assert "LSUV on sample" in result["2.weight"].reason
    assert _diagnose(_moments(model, sample, (nn.Linear,))) == "healthy"


def test_silu_without_sample_drifts_at_its_second_moment_gain() -> None:
    """The documented limitation: no constant gain has a stable fixed point for SiLU."""
    torch.manual_seed(0)
    model = deep_mlp(DEPTH, WIDTH, "silu")
    initialize_model(model, "auto", seed=0)
    values = _moments(model, torch.randn(BATCH, WIDTH), (nn.Linear,))
    assert values[-1] / values[0] > 10
    assert _diagnose(values) == "exploding"


@pytest.mark.slow
def test_auto_keeps_residual_cnn_stream_healthy() -> None:
    torch.manual_seed(0)
    model = CustomCNNModel(3, 10, channels=(16, 32, 64), blocks_per_stage=3)
    result = initialize_model(model, "auto", seed=0)
    branches = sum("residual branches" in p.reason for p in result.initialized.values())
    assert branches == 9
    values = _moments(model, torch.randn(64, 3, 16, 16), (ResidualBlock, nn.Linear))
    values.insert(0, _moments(model, torch.randn(64, 3, 16, 16), (nn.Conv2d,))[0])
    assert _diagnose(values) == "healthy", values


def _info(**overrides: object) -> LayerInfo:
    base: dict[str, object] = dict(name="l", module_type="Linear", weight_names=("l.weight",), fans=(64, 64),
                                   input_activation=None, input_activation_param=None, output_activation=None,
                                   output_activation_param=None, depth=1, residual_branch=False, is_first=False,
                                   is_last=False)
    base.update(overrides)
    return LayerInfo(**base)  # type: ignore[arg-type]


def test_recommend_layer_rules() -> None:
    first = recommend_layer(_info(is_first=True, depth=0))
    assert first.initializer == "orthogonal" and first.kwargs["gain"] == 1.0
    relu = recommend_layer(_info(input_activation="relu"))
    assert relu.initializer == "kaiming_normal" and relu.kwargs["nonlinearity"] == "relu"
    leaky = recommend_layer(_info(input_activation="leaky_relu", input_activation_param=0.2))
    assert leaky.kwargs["a"] == 0.2
    tanh = recommend_layer(_info(input_activation="tanh"))
    assert tanh.kwargs["gain"] == 1.0 and "critical" in tanh.reason  # σ_w = 1: the edge of chaos at σ_b = 0
    sigmoid = recommend_layer(_info(input_activation="sigmoid"))
    z = torch.randn(2_000_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert sigmoid.kwargs["gain"] == pytest.approx(1 / math.sqrt(float(torch.sigmoid(z).pow(2).mean())), rel=2e-3)
    assert "non-zero mean" in sigmoid.reason
    gelu = recommend_layer(_info(input_activation="gelu"))
    assert gelu.kwargs["scale"] == pytest.approx(calculate_gain("gelu") ** 2)
    assert recommend_layer(_info(input_activation="selu")).initializer == "lecun_normal"
    residual = recommend_layer(_info(input_activation="relu", residual_branch=True), residual_branches=4)
    assert residual.kwargs["scale"] == pytest.approx(2.0 / 4)
    expanding = recommend_layer(_info(fans=(16, 64)), matrix_shape=(64, 16))
    assert expanding.kwargs["gain"] == pytest.approx(2.0)
    conv = recommend_layer(_info(module_type="Conv2d", fans=(27, 144)), matrix_shape=(16, 27))
    assert conv.kwargs["gain"] == 1.0


def test_auto_agrees_with_recommend_layer_for_every_traced_layer() -> None:
    model = CustomTransformerModel(50, 32, num_layers=2)
    infos = trace_topology(model)
    result = initialize_model(model, "auto", seed=1)
    for info in infos.values():
        if info.module_type == "Linear":
            name = info.weight_names[0]
            shape = (model.get_parameter(name).shape[0], model.get_parameter(name).shape[1])
            rec = recommend_layer(info, residual_branches=4, matrix_shape=shape)
            assert result[name].initializer == rec.initializer and result[name].reason == rec.reason


def test_auto_reports_rnn_and_embedding_decisions() -> None:
    model = nn.Sequential(nn.Embedding(20, 8), nn.LSTM(8, 16, batch_first=True))
    result = initialize_model(model, "auto", seed=0)
    assert result["1.weight_hh_l0"].initializer == "orthogonal" and result["1.weight_hh_l0"].blocks == 4
    assert "embedding" in result["0.weight"].reason


def test_auto_errors_leave_model_untouched() -> None:
    model = deep_mlp(3, 8, "gelu")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(WeightInitError, match="`sample`"):
        initialize_model(model, "auto", sample=torch.randn(4, 5))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(WeightInitError, match="auto"):
        initialize_model(model, "auto", include="0.*")
    with pytest.raises(WeightInitError, match="`sample`"):  # any method traces on the sample it is given
        initialize_model(model, "xavier_uniform", sample=torch.randn(2, 5))
