"""initialize_model: per-layer fans and blocks, skips, ties, parametrizations, atomicity, name-keyed seeding."""

from __future__ import annotations

import math
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from weight_initialization_system import WeightInitError
from weight_initialization_system.schemes import initialize_model

SIGMAS = 6.0


def assert_std(sample: torch.Tensor, std: float, what: str, kurtosis: float = 3.0) -> None:
    """Sample std within SIGMAS standard errors (σ·√((κ-1)/4n)) of ``std``; mean within SIGMAS·σ/√n of 0."""
    x = sample.detach().double().flatten()
    n = x.numel()
    assert abs(float(x.mean())) <= SIGMAS * std / math.sqrt(n), f"{what}: mean {float(x.mean())}"
    tol = SIGMAS * std * math.sqrt((kurtosis - 1) / (4 * n))
    assert abs(float(x.std()) - std) <= tol, f"{what}: std {float(x.std()):.5g} vs {std:.5g} (tol {tol:.2g})"


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_unchanged(model: nn.Module, before: dict[str, torch.Tensor]) -> None:
    after = model.state_dict()
    assert after.keys() == before.keys()
    for k, v in before.items():
        assert torch.equal(after[k], v), f"{k} changed"


class Conv1D(nn.Module):
    """Hugging Face GPT-2's Conv1D: weight stored as (in, out), applied by addmm (as in transformers)."""

    def __init__(self, nf: int, nx: int) -> None:
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.empty(nx, nf))
        self.bias = nn.Parameter(torch.ones(nf))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return out.view(*x.shape[:-1], self.nf)


def mixed_model() -> nn.Module:
    return nn.ModuleDict({
        "fc": nn.Linear(256, 384),
        "conv": nn.Conv2d(32, 64, 3, groups=2),
        "convT": nn.ConvTranspose2d(64, 32, 4, stride=2),
        "emb": nn.Embedding(512, 64),
        "hf": Conv1D(nf=96, nx=160),
        "bn": nn.BatchNorm2d(16),
        "ln": nn.LayerNorm(32),
    })


def test_std_per_layer_type_uses_the_layer_fans() -> None:
    model = mixed_model()
    with pytest.warns(UserWarning, match="only torch's own layer types"):  # a ModuleDict has no forward
        result = initialize_model(model, "kaiming_normal", nonlinearity="relu", seed=0)
    gain = math.sqrt(2.0)
    expected_fan_in = {"fc.weight": 256, "conv.weight": 16 * 9, "convT.weight": 64 * 2 * 2, "emb.weight": 1}
    assert "hf.weight" in result.skipped  # an unknown module that never ran: left alone, and said so
    hf = nn.Sequential(Conv1D(nf=96, nx=160))  # run: the trace sees addmm with the weight stored (in, out)
    hf_result = initialize_model(hf, "kaiming_normal", nonlinearity="relu", seed=0, sample=torch.randn(4, 160))
    assert hf_result["0.weight"].fans == (160, 96)
    assert_std(hf.get_parameter("0.weight"), gain / math.sqrt(160), "HF Conv1D")
    assert torch.count_nonzero(hf.get_parameter("0.bias")) == 0
    for name, fan_in in expected_fan_in.items():
        assert result[name].fans is not None and result[name].fans[0] == fan_in, name
        assert_std(model.get_parameter(name), gain / math.sqrt(fan_in), name)
        assert result[name].initializer == "kaiming_normal"
        assert result[name].kwargs == {"nonlinearity": "relu"}
    for name in ("fc.bias", "conv.bias", "convT.bias"):
        assert torch.count_nonzero(model.get_parameter(name)) == 0, name


def test_xavier_uses_fan_out_per_layer_type() -> None:
    model = mixed_model()
    initialize_model(model, "xavier_normal", seed=1)
    conv_fans = (16 * 9, 32 * 9)  # grouped: out/g·k²
    assert_std(model.get_parameter("conv.weight"), math.sqrt(2 / sum(conv_fans)), "grouped conv")
    convT_fans = (64 * 2 * 2, 32 * 16)  # (in, out/g, k, k), stride 2: in/g·(k/s)², out/g·k²
    assert_std(model.get_parameter("convT.weight"), math.sqrt(2 / sum(convT_fans)), "transposed conv")


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_recurrent_gate_blocks_each_have_the_std_of_one_block(mode: str) -> None:
    hidden, inp = 128, 64
    rnn = getattr(nn, mode)(inp, hidden, num_layers=2, bidirectional=True)
    result = initialize_model(rnn, "xavier_normal", seed=0)
    blocks = 4 if mode == "LSTM" else 3
    for name, param in rnn.named_parameters():
        if not name.startswith("weight"):
            assert torch.count_nonzero(param) == 0, name
            continue
        fan_in = param.shape[1]
        assert result[name].blocks == blocks and result[name].fans == (fan_in, hidden)
        chunks = param.chunk(blocks, 0)
        for i, block in enumerate(chunks):
            # xavier over the whole stacked matrix would give sqrt(2/(fan_in + blocks·hidden)): far outside tol
            assert_std(block, math.sqrt(2 / (fan_in + hidden)), f"{name} block {i}")
        assert not torch.equal(chunks[0], chunks[1]), "gate blocks must be independent draws"


def test_attention_q_k_v_blocks_use_embed_dim_fans() -> None:
    embed = 256
    mha = nn.MultiheadAttention(embed, 8)
    result = initialize_model(mha, "xavier_uniform", seed=0)
    assert result["in_proj_weight"].blocks == 3 and result["in_proj_weight"].fans == (embed, embed)
    bound = math.sqrt(6 / (2 * embed))
    for i, block in enumerate(mha.in_proj_weight.chunk(3, 0)):
        assert float(block.detach().abs().max()) <= bound
        assert_std(block, bound / math.sqrt(3), f"in_proj block {i}", kurtosis=1.8)
    assert torch.count_nonzero(mha.in_proj_bias) == 0


def test_attention_with_kdim_vdim_uses_separate_projection_fans() -> None:
    mha = nn.MultiheadAttention(64, 4, kdim=32, vdim=48)
    result = initialize_model(mha, "kaiming_uniform", seed=0)
    assert result["q_proj_weight"].fans == (64, 64)
    assert result["k_proj_weight"].fans == (32, 64)
    assert result["v_proj_weight"].fans == (48, 64)


def test_embedding_padding_row_stays_zero() -> None:
    emb = nn.Embedding(200, 32, padding_idx=7)
    initialize_model(emb, "normal", std=0.5, seed=0)
    assert torch.count_nonzero(emb.weight[7]) == 0
    others = torch.cat([emb.weight[:7], emb.weight[8:]])
    assert torch.count_nonzero(others) == others.numel()
    assert_std(others, 0.5, "embedding")


def test_norm_layers_get_weight_one_bias_zero() -> None:
    model = nn.Sequential(nn.BatchNorm1d(8), nn.LayerNorm(8), nn.GroupNorm(2, 8), nn.InstanceNorm1d(8, affine=True))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()
    result = initialize_model(model, "kaiming_normal", seed=0)
    for name, p in model.named_parameters():
        expected = torch.ones_like(p) if name.endswith("weight") else torch.zeros_like(p)
        assert torch.equal(p, expected), name
        assert result[name].initializer == ("ones" if name.endswith("weight") else "zeros")


class WithCustomParams(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.pos_embedding = nn.Parameter(torch.randn(1, 4, 8))
        self.cls_token = nn.Parameter(torch.randn(8))


def test_unknown_parameters_are_left_alone_and_reported() -> None:
    model = WithCustomParams()
    pos, cls = model.pos_embedding.detach().clone(), model.cls_token.detach().clone()
    result = initialize_model(model, "xavier_uniform", seed=0)
    assert torch.equal(model.pos_embedding, pos) and torch.equal(model.cls_token, cls)
    assert set(result.skipped) == {"pos_embedding", "cls_token"}
    assert "unknown" in result.skipped["pos_embedding"]
    assert set(result) == {"fc.weight", "fc.bias"}


class TiedLM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(100, 16)
        self.body = nn.Linear(16, 16)
        self.head = nn.Linear(16, 100, bias=False)
        self.head.weight = self.emb.weight


def test_tied_weights_are_initialized_once_and_stay_tied() -> None:
    model = TiedLM()
    calls: list[tuple[int, ...]] = []

    def counting_(tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        calls.append(tuple(tensor.shape))
        return tensor.normal_(0.0, 1.0, generator=generator)

    result = initialize_model(model, counting_, seed=0)
    assert result.tied == {"head.weight": "emb.weight"}
    assert "head.weight" not in result and "emb.weight" in result
    assert calls.count((100, 16)) == 1
    assert model.head.weight is model.emb.weight


def test_frozen_parameters_are_skipped_unless_asked() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8))
    model[0].requires_grad_(False)
    before = snapshot(model)
    result = initialize_model(model, "orthogonal", seed=0)
    assert torch.equal(model[0].weight, before["0.weight"]) and torch.equal(model[0].bias, before["0.bias"])
    assert result.skipped["0.weight"].startswith("frozen")
    assert not torch.equal(model[1].weight, before["1.weight"])
    initialize_model(model, "orthogonal", seed=0, skip_frozen=False)
    assert not torch.equal(model[0].weight, before["0.weight"])


def test_include_and_exclude_globs() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8))
    before = snapshot(model)
    result = initialize_model(model, "kaiming_normal", seed=0, include="1.*")
    assert set(result) == {"1.weight", "1.bias"}
    assert torch.equal(model[0].weight, before["0.weight"]) and torch.equal(model[2].weight, before["2.weight"])
    assert result.skipped["0.weight"] == "not matched by include"

    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8))
    before = snapshot(model)
    result = initialize_model(model, "kaiming_normal", seed=0, exclude=["*.bias", "0.*"])
    assert set(result) == {"1.weight"}
    assert torch.equal(model[1].bias, before["1.bias"]) and torch.equal(model[0].weight, before["0.weight"])


@pytest.mark.parametrize(("argument", "value"), [("include", 3), ("exclude", [1, "0.*"])])
def test_patterns_that_are_not_globs_are_an_error_naming_the_argument(argument: str, value: object) -> None:
    model = nn.Sequential(nn.Linear(4, 4))
    before = snapshot(model)
    with pytest.raises(WeightInitError, match=rf"`{argument}` must be a glob.*{argument}="):
        initialize_model(model, seed=0, **{argument: value})
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_include_matching_nothing_is_an_error() -> None:
    with pytest.raises(WeightInitError, match=r"`include` matched no parameter.*include='decoder\.\*'"):
        initialize_model(nn.Linear(2, 2), include="decoder.*")


def test_weight_norm_is_initialized_through_the_parametrization() -> None:
    plain = nn.Sequential(nn.Linear(256, 128))
    normed = nn.Sequential(nn.utils.parametrizations.weight_norm(nn.Linear(256, 128)))
    result = initialize_model(normed, "kaiming_normal", seed=3)
    initialize_model(plain, "kaiming_normal", seed=3)
    assert "0.weight" in result and result["0.weight"].fans == (256, 128)
    # the effective weight g·v/‖v‖ is what was drawn: same name, same seed, same values as a plain layer
    assert torch.allclose(normed[0].weight, plain[0].weight, rtol=1e-5, atol=1e-7)
    assert parametrize.is_parametrized(normed[0], "weight")


def test_lazy_module_is_a_clear_error() -> None:
    with pytest.raises(WeightInitError, match=r"'0\.weight' of LazyLinear is lazy.*forward pass"):
        initialize_model(nn.Sequential(nn.LazyLinear(4)))


def test_meta_module_is_a_clear_error() -> None:
    with pytest.raises(WeightInitError, match=r"meta device.*to_empty"):
        initialize_model(nn.Linear(4, 4, device="meta"), seed=0)


def deep_model() -> nn.Module:
    # two parameters above the thread-pool threshold (2^20 elements) so the parallel path runs too
    return nn.Sequential(nn.Linear(1024, 1024), nn.Linear(1024, 1025), nn.LSTM(8, 8), nn.Linear(16, 4),
                         nn.LayerNorm(4), nn.Conv1d(4, 4, 3))


def test_atomic_when_the_initializer_fails_on_the_third_call() -> None:
    model = deep_model()
    before = snapshot(model)
    count = 0

    def flaky_(tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        nonlocal count
        count += 1
        if count == 3:
            raise RuntimeError("third call fails")
        return tensor.normal_(generator=generator)

    with pytest.raises(RuntimeError, match="third call"):
        initialize_model(model, flaky_, seed=0)
    assert count >= 3
    assert_unchanged(model, before)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"method": "kaiming_normal", "stdd": 0.1}, r"unexpected argument\(s\) 'stdd'"),
     ({"method": "kaiming_normal", "nonlinearity": "rellu"}, r"nonlinearity='rellu'"),
     ({"method": "eye"}, r"'eye' needs a tensor with 2 dimensions.*'2\.weight_ih_l0'|'5\.weight'"),
     ({"method": "xavier_uniform", "bias_init": "ones"}, r"`bias_init`.*bias_init='ones'"),
     ({"method": "xavier_uniform", "bias_init": float("nan")}, r"`bias_init`.*finite number.*bias_init=nan"),
     ({"method": "xavier_uniform", "bias_init": float("inf")}, r"`bias_init`.*finite number.*bias_init=inf"),
     ({"method": "xavier_uniform", "seed": -1}, r"`seed`.*seed=-1")],
)
def test_atomic_on_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    model = deep_model()
    before = snapshot(model)
    with pytest.raises(WeightInitError, match=match):
        initialize_model(model, **kwargs)
    assert_unchanged(model, before)


class Scale(nn.Module):
    """A parametrization whose right_inverse fails after ``fail_after`` calls."""

    def __init__(self, fail_after: int) -> None:
        super().__init__()
        self.calls, self.fail_after = 0, fail_after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x

    def right_inverse(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls > self.fail_after:
            raise RuntimeError("right_inverse fails")
        return x / 2


def test_atomic_when_writing_through_a_parametrization_fails() -> None:
    # the first parametrized weight is written, the second fails: the first must be rolled back
    model = nn.Sequential(nn.Linear(6, 6), nn.Linear(6, 6), nn.Linear(6, 6))
    parametrize.register_parametrization(model[0], "weight", Scale(fail_after=10))
    parametrize.register_parametrization(model[1], "weight", Scale(fail_after=1))  # 1 call at registration
    before = snapshot(model)
    with pytest.raises(RuntimeError, match="right_inverse fails"):
        initialize_model(model, "orthogonal", seed=0)
    assert_unchanged(model, before)


def named(*names: str, sizes: dict[str, tuple[int, int]] | None = None) -> nn.Module:
    sizes = sizes or {}
    return nn.Sequential(OrderedDict((n, nn.Linear(*sizes.get(n, (32, 48)))) for n in names))


@pytest.mark.parametrize("method", ["kaiming_normal", "xavier_uniform", "orthogonal", "trunc_normal"])
def test_values_depend_only_on_seed_and_name(method: str) -> None:
    base = named("a", "b")
    initialize_model(base, method, seed=11)
    variants = [named("pre", "a", "b"), named("a", "b", "post"), named("b", "a"),
                named("a", "x", "b", sizes={"x": (7, 5)})]
    for variant in variants:
        initialize_model(variant, method, seed=11)
        for name in ("a.weight", "b.weight"):
            assert torch.equal(variant.get_parameter(name), base.get_parameter(name)), (method, name)
    # different names: different values; different seed: different values
    assert not torch.equal(base.get_parameter("a.weight"), base.get_parameter("b.weight"))
    other = named("a", "b")
    initialize_model(other, method, seed=12)
    assert not torch.equal(other.get_parameter("a.weight"), base.get_parameter("a.weight"))


def test_values_do_not_depend_on_the_thread_count() -> None:
    first, second = deep_model(), deep_model()
    initialize_model(first, "kaiming_normal", seed=5)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        initialize_model(second, "kaiming_normal", seed=5)
    finally:
        torch.set_num_threads(threads)
    assert_unchanged(second, snapshot(first))


@pytest.mark.slow
def test_bitwise_reproducible_run_to_run_and_in_a_fresh_process(tmp_path: Path) -> None:
    model = deep_model()
    initialize_model(model, "trunc_normal", std=0.02, seed=2024)
    again = deep_model()
    initialize_model(again, "trunc_normal", std=0.02, seed=2024)
    assert_unchanged(again, snapshot(model))

    out = tmp_path / "state.pt"
    script = (
        "import sys, torch\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_initialize_model import deep_model\n"
        "from weight_initialization_system.schemes import initialize_model\n"
        "torch.manual_seed(999)\n"  # the global generator must not matter when a seed is given
        "m = deep_model()\n"
        "initialize_model(m, 'trunc_normal', std=0.02, seed=2024)\n"
        f"torch.save(m.state_dict(), {str(out)!r})\n"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    env_path = {"PYTHONPATH": src}
    subprocess.run([sys.executable, "-c", script], check=True, env={**_base_env(), **env_path}, timeout=120)
    assert_unchanged(model, torch.load(out))


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def test_seed_none_follows_torch_manual_seed_and_result_seed_reproduces_it() -> None:
    models = [named("a", "b") for _ in range(3)]
    torch.manual_seed(123)
    r0 = initialize_model(models[0], "kaiming_normal")
    torch.manual_seed(123)
    r1 = initialize_model(models[1], "kaiming_normal")
    assert r0.seed is not None and r0.seed == r1.seed
    initialize_model(models[2], "kaiming_normal", seed=r0.seed)
    for m in models[1:]:
        assert_unchanged(m, snapshot(models[0]))
    torch.manual_seed(124)
    assert initialize_model(named("a"), "kaiming_normal").seed != r0.seed


@pytest.mark.parametrize(("bias_init", "check"), [
    ("zeros", lambda b, w: torch.count_nonzero(b) == 0),
    (0.1, lambda b, w: torch.equal(b, torch.full_like(b, 0.1))),
    ("keep", lambda b, w: torch.equal(b, w)),
    ("uniform", lambda b, w: float(b.detach().abs().max()) <= 1 / math.sqrt(64)
     and torch.count_nonzero(b) == b.numel()),
])
def test_bias_init_options(bias_init: Any, check: Any) -> None:
    layer = nn.Linear(64, 32)
    before = layer.bias.detach().clone()
    result = initialize_model(layer, "kaiming_normal", bias_init=bias_init, seed=0)
    assert check(layer.bias, before)
    assert ("bias" in result) == (bias_init != "keep")


def test_result_reports_initializer_arguments_and_summary() -> None:
    model = nn.Sequential(nn.Linear(10, 20), nn.Tanh(), nn.Linear(20, 5))
    result = initialize_model(model, "he_normal", nonlinearity="tanh", seed=0)
    assert result.method == "kaiming_normal" and result.seed == 0
    assert result["0.weight"].kwargs == {"nonlinearity": "tanh"} and result["0.weight"].fans == (10, 20)
    rows = result.to_rows()
    assert [r["name"] for r in rows] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert "0.weight" in result.summary() and "kaiming_normal" in result.summary()
