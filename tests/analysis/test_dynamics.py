"""signal_propagation, gradient_flow, jacobian_spectrum: diagnoses, the notebook rubric, loss-scale invariance."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from analysis_models import TinyGPT, deep_net, gpt2_init
from torch import nn

from weight_initialization_system import InitializationAnalyzer
from weight_initialization_system.analysis import (
    gradient_flow,
    jacobian_spectrum,
    notebook_health_score,
    signal_propagation,
)
from weight_initialization_system.errors import WeightInitError
from weight_initialization_system.initializers import kaiming_normal_, orthogonal_


def test_notebook_rubric_exactly() -> None:
    assert notebook_health_score(1e-3, 1.0, 0.1, 0.05, 0) == 10
    assert notebook_health_score(5e-6, 50.0, 0.1, 0.2, 1) == 1 + 1 + 1 + 0
    assert notebook_health_score(1e-7, 500.0, 0.1, 0.05, 3) == 0 + 0 + 0 + 2


@pytest.mark.parametrize(("init", "expected"), [
    (lambda w: kaiming_normal_(w, nonlinearity="relu"), "healthy"),
    (lambda w: nn.init.normal_(w, 0, 0.01), "vanishing"),
    (lambda w: nn.init.normal_(w, 0, 1.0), "exploding"),
])
def test_signal_propagation_diagnosis_on_deep_relu_net(init: object, expected: str) -> None:
    net = deep_net(nn.ReLU, init, depth=20)  # type: ignore[arg-type]
    result = signal_propagation(net, torch.randn(64, 64, generator=torch.Generator().manual_seed(0)))
    assert result["diagnosis"] == expected
    kinds = [v["kind"] for v in result["layers"].values()]
    assert kinds[:2] == ["weight", "activation"] and len(kinds) == 39


def test_dead_and_saturated_units() -> None:
    dead = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU())
    with torch.no_grad():
        for m in dead:
            if isinstance(m, nn.Linear):
                m.bias.fill_(-100.0)
    x = torch.randn(32, 16, generator=torch.Generator().manual_seed(0))
    result = signal_propagation(dead, x)
    assert result["diagnosis"] == "dead" and result["layers"]["1"]["frac_dead"] == 1.0
    saturated = deep_net(nn.Tanh, lambda w: nn.init.normal_(w, 0, 1.0), depth=4, width=64)
    result = signal_propagation(saturated, torch.randn(32, 64, generator=torch.Generator().manual_seed(0)))
    assert result["diagnosis"] == "saturated" and result["layers"]["3"]["frac_saturated"] > 0.5


def test_functional_activation_is_judged_from_the_layer_output() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(8, 8), nn.Linear(8, 8)
            with torch.no_grad():
                self.a.bias.fill_(-100.0)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(F.relu(self.a(x)))

    result = signal_propagation(Net(), torch.randn(16, 8))
    assert result["layers"]["a"]["frac_dead"] == 1.0


def test_gradient_flow_has_the_notebook_fields_and_counts() -> None:
    net = deep_net(nn.ReLU, lambda w: kaiming_normal_(w, nonlinearity="relu"), depth=6, width=64)
    x = torch.randn(100, 64, generator=torch.Generator().manual_seed(0))
    g = gradient_flow(net, x)
    assert list(g["gradient_norms"]) == [f"{i}.weight" for i in range(0, 11, 2)]
    norms = list(g["gradient_norms"].values())
    assert g["min_gradient"] == min(norms) and g["max_gradient"] == max(norms)
    assert g["std_gradient"] == pytest.approx(float(torch.tensor(norms, dtype=torch.float64).std(correction=0)))
    assert g["total_layers"] == 6 and g["vanished_layers"] == sum(n < 1e-6 for n in norms)
    assert 0 <= g["health_score"] <= 10 and 0 <= g["scale_free_score"] <= 10
    out = net(x).detach()
    target = torch.rand(out.shape, generator=torch.Generator().manual_seed(0))
    assert g["loss"] == pytest.approx(float(F.mse_loss(out, target)), rel=1e-5)


@pytest.mark.slow
def test_scale_free_score_does_not_depend_on_the_loss_reduction() -> None:
    model = gpt2_init(TinyGPT(layers=4))
    idx = torch.randint(0, 50, (16, 8), generator=torch.Generator().manual_seed(0))
    losses = {
        "mean": lambda o, t: F.mse_loss(o, t),
        "sum": lambda o, t: F.mse_loss(o, t, reduction="sum"),
        "1000x mean": lambda o, t: 1000 * F.mse_loss(o, t),
    }
    results = {k: gradient_flow(model, idx, loss_fn=f) for k, f in losses.items()}
    assert len({r["scale_free_score"] for r in results.values()}) == 1
    base = results["mean"]["relative_ratios"]
    for r in results.values():
        for name, value in r["relative_ratios"].items():
            assert value == pytest.approx(base[name], rel=1e-3)
    assert results["sum"]["max_gradient"] > 100 * results["mean"]["max_gradient"]


def test_jacobian_estimates_match_the_dense_jacobian() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(24, 24), nn.Tanh(), nn.Linear(24, 24))
    x = torch.randn(1, 24)
    probes = 40
    r = jacobian_spectrum(net, x, k=24, probes=probes)
    jac = torch.autograd.functional.jacobian(net, x).reshape(24, 24)
    lam = torch.linalg.svdvals(jac).double() ** 2
    assert r["max_singular_value"] ** 2 == pytest.approx(float(lam.max()), rel=1e-6)  # full Krylov space
    # Each probe is exact quadrature of vᵀ(JᵀJ)v for a uniform unit v: variance 2·Var(λ)/(D+2) about mean(λ).
    sigma = math.sqrt(2 * float(lam.var(correction=0)) / (24 + 2) / probes)
    assert abs(r["mean_squared_singular_value"] - float(lam.mean())) < 5 * sigma


def _linear_map(d_in: int, d_out: int, scale: float = 1.0) -> nn.Linear:
    net = nn.Linear(d_in, d_out, bias=False)
    with torch.no_grad():
        nn.init.orthogonal_(net.weight, generator=torch.Generator().manual_seed(0)).mul_(scale)
    return net


# Float32 products: moments are exact to ~1e-6; the spread √(m₂/m₁² − 1) turns that into ~1e-3.
_MOMENT_TOL, _SPREAD_TOL = 1e-5, 3e-3


@pytest.mark.parametrize(("d_in", "d_out", "batch"), [(64, 10, 1), (64, 10, 3), (10, 64, 1), (10, 64, 2), (17, 17, 2)])
@pytest.mark.parametrize("scale", [1.0, 0.3])
def test_semi_orthogonal_map_has_all_singular_values_equal_and_no_spread(
    d_in: int, d_out: int, batch: int, scale: float
) -> None:
    x = torch.randn(batch, d_in, generator=torch.Generator().manual_seed(1))
    r = jacobian_spectrum(_linear_map(d_in, d_out, scale), x, k=16, probes=3)
    assert r["num_singular_values"] == batch * min(d_in, d_out)
    assert r["input_dim"] == batch * d_in and r["output_dim"] == batch * d_out
    assert r["singular_values"] == pytest.approx([scale] * len(r["singular_values"]), rel=_MOMENT_TOL)
    assert r["min_singular_value"] == pytest.approx(scale, rel=_MOMENT_TOL)  # was 0 for 64 → 10
    assert r["max_singular_value"] == pytest.approx(scale, rel=_MOMENT_TOL)
    assert r["mean_squared_singular_value"] == pytest.approx(scale**2, rel=_MOMENT_TOL)
    assert r["second_moment"] == pytest.approx(scale**4, rel=_MOMENT_TOL)
    assert r["spread"] < _SPREAD_TOL  # was 2.49 for 64 → 10


@pytest.mark.slow
@pytest.mark.parametrize(("d_in", "hidden", "d_out", "batch"), [
    (12, 20, 5, 1), (5, 16, 12, 1), (8, 8, 3, 2), (3, 10, 9, 2), (9, 6, 9, 1),
])
def test_jacobian_spectrum_matches_svdvals_of_the_dense_jacobian_on_small_mlps(
    d_in: int, hidden: int, d_out: int, batch: int
) -> None:
    torch.manual_seed(d_in * 100 + d_out)
    net = nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                        nn.Linear(hidden, d_out))
    x = torch.randn(batch, d_in, generator=torch.Generator().manual_seed(2))
    jac = torch.autograd.functional.jacobian(net, x).reshape(batch * d_out, batch * d_in)
    sigma = torch.linalg.svdvals(jac.double())  # min(D_in, D_out) values, descending
    rank = sigma.numel()
    probes = 200
    r = jacobian_spectrum(net, x, k=rank, probes=probes)  # k = r: a complete Krylov space, Ritz values exact
    assert r["num_singular_values"] == rank
    top = float(sigma[0])
    # Every Ritz value is a singular value (fewer Ritz values when the Krylov space closes early, as behind the
    # 6-wide bottleneck whose three zero singular values are one eigenvalue of G).
    # Compared as σ² (the eigenvalues of G): float32 products leave ~1e-7·σ_max² of noise, which √ magnifies
    # near zero.
    close = {"rel": 1e-4, "abs": 1e-6 * top**2}
    for value in r["singular_values"]:
        nearest = float(sigma[(sigma - value).abs().argmin()])
        assert value**2 == pytest.approx(nearest**2, **close), value
    assert r["max_singular_value"] ** 2 == pytest.approx(top**2, **close)
    assert r["min_singular_value"] ** 2 == pytest.approx(float(sigma[-1]) ** 2, **close)
    # Each probe is exact quadrature of vᵀG^p v for a uniform unit v in r dimensions: mean over the r values of
    # λ^p, variance 2·Var(λ^p)/(r+2).
    lam = sigma**2
    for key, values in (("mean_squared_singular_value", lam), ("second_moment", lam**2)):
        sd = math.sqrt(2 * float(values.var(correction=0)) / (rank + 2) / probes)
        assert abs(r[key] - float(values.mean())) < 5 * sd + 1e-5 * float(values.mean()), key


def test_jacobian_docstring_example_runs() -> None:
    import doctest

    from weight_initialization_system.analysis import jacobian as module

    torch.manual_seed(0)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(module.jacobian_spectrum, "jacobian_spectrum", globs=vars(module).copy()):
        runner.run(test)
    assert runner.failures == 0 and runner.tries > 0


@pytest.mark.slow
def test_orthogonal_tanh_net_is_far_more_isometric_than_gaussian_of_same_variance() -> None:
    width = 96
    x = torch.randn(4, width, generator=torch.Generator().manual_seed(0))

    def net(init: object) -> nn.Sequential:
        torch.manual_seed(0)
        layers: list[nn.Module] = []
        for _ in range(32):
            layers += [nn.Linear(width, width, bias=False), nn.Tanh()]
        model = nn.Sequential(*layers)
        with torch.no_grad():
            for m in model:
                if isinstance(m, nn.Linear):
                    init(m.weight)  # type: ignore[operator]
        return model

    ortho = jacobian_spectrum(net(orthogonal_), x, k=16)
    gauss = jacobian_spectrum(net(lambda w: nn.init.normal_(w, 0, 1 / math.sqrt(width))), x, k=16)
    assert ortho["spread"] < gauss["spread"] / 2
    assert ortho["products"] == 32


def test_jacobian_rejects_integer_inputs() -> None:
    with pytest.raises(WeightInitError, match="inputs"):
        jacobian_spectrum(nn.Embedding(4, 4), torch.tensor([1, 2]))


def test_inputs_the_model_rejects_and_mismatched_targets_are_weight_init_errors() -> None:
    net = deep_net(nn.ReLU, lambda w: kaiming_normal_(w, nonlinearity="relu"), depth=2, width=8)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(WeightInitError, match=r"forward pass on `inputs` raised RuntimeError.*shape \(3, 5\)"):
        signal_propagation(net, torch.randn(3, 5))
    with pytest.raises(WeightInitError, match=r"`targets` must be a tensor of the output's shape \(4, 8\)"):
        gradient_flow(net, torch.randn(4, 8), targets=torch.randn(7))
    with pytest.raises(WeightInitError, match=r"forward pass on `inputs` raised RuntimeError.*shape \(3, 5\)"):
        jacobian_spectrum(net, torch.randn(3, 5))
    with pytest.raises(WeightInitError, match=r"`k` and `probes` must be integers >= 1.*k=2.5"):
        jacobian_spectrum(net, torch.randn(4, 8), k=2.5)  # type: ignore[arg-type]
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_analyzer_wrappers_and_single_pass_dynamics() -> None:
    net = deep_net(nn.ReLU, lambda w: kaiming_normal_(w, nonlinearity="relu"), depth=3, width=16)
    x = torch.randn(8, 16, generator=torch.Generator().manual_seed(0))
    both = InitializationAnalyzer().dynamics(net, x)
    assert both["signal"]["diagnosis"] == InitializationAnalyzer.signal_propagation(net, x)["diagnosis"]
    assert both["gradients"]["gradient_norms"] == InitializationAnalyzer.gradient_flow(net, x)["gradient_norms"]
