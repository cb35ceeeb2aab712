"""Features that ask the graph, checked on real models against what their source code computes.

Each expectation is read from the model's code (cited beside it), or measured directly (the residual stream's
standard deviation after ``auto``), never taken from our own output.
"""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch
from torch import nn

from weight_initialization_system import initialize_model
from weight_initialization_system.analysis import dynamics, gradient_flow, signal_propagation

from .families import FAMILIES

pytestmark = pytest.mark.skipif(importlib.util.find_spec("transformers") is None,
                                reason="transformers is not installed (extra 'hf')")


def test_gemma_norms_are_set_to_their_neutral_value_zero() -> None:
    # GemmaRMSNorm.forward: output * (1.0 + self.weight.float()) -- w = 0 leaves the normalized signal as is
    model = FAMILIES["gemma"].build()
    result = initialize_model(model, "kaiming_normal", seed=0)
    norms = [(n, p) for n, p in model.named_parameters() if "norm" in n]
    assert norms and all(torch.count_nonzero(p) == 0 for _, p in norms)
    assert all(result[n].initializer == "zeros" for n, _ in norms)


def test_llama_norms_are_set_to_one() -> None:
    # LlamaRMSNorm.forward: self.weight * hidden_states -- w = 1 is neutral
    model = FAMILIES["llama"].build()
    initialize_model(model, "xavier_uniform", seed=0)
    assert all(torch.all(p == 1) for n, p in model.named_parameters() if "norm" in n)


def test_mixtral_expert_banks_are_initialized_per_expert() -> None:
    # MixtralExperts: gate_up_proj (E, 2I, D) and down_proj (E, D, I), applied as linear maps per expert
    model = FAMILIES["mixtral"].build()
    config = model.config
    result = initialize_model(model, "kaiming_normal", seed=0)
    down = model.get_parameter("model.layers.0.mlp.experts.down_proj")
    gate_up = model.get_parameter("model.layers.0.mlp.experts.gate_up_proj")
    assert result["model.layers.0.mlp.experts.down_proj"].fans == (config.intermediate_size, config.hidden_size)
    assert result["model.layers.0.mlp.experts.gate_up_proj"].fans[0] == config.hidden_size
    for bank, fan_in in ((down, config.intermediate_size), (gate_up, config.hidden_size)):
        expected = math.sqrt(2.0 / fan_in)  # Kaiming, leaky_relu(0) gain √2
        n = bank.numel()
        assert abs(float(bank.std()) - expected) <= 5 * expected * math.sqrt(2 / (4 * n)) * math.sqrt(2)


def test_mamba_time_step_bias_and_state_parameters_are_kept() -> None:
    # MambaMixer: softplus(dt_proj.weight @ x + dt_proj.bias) is the time step; A = -exp(A_log); D skips
    model = FAMILIES["mamba"].build()
    names = ("backbone.layers.0.mixer.dt_proj.bias", "backbone.layers.0.mixer.A_log", "backbone.layers.0.mixer.D")
    before = {n: model.get_parameter(n).detach().clone() for n in names}
    result = initialize_model(model, "kaiming_normal", seed=0)
    for n in names:
        assert torch.equal(before[n], model.get_parameter(n)), n
        assert n in result.skipped
    assert "backbone.layers.0.mixer.in_proj.weight" in result.initialized


@pytest.mark.slow
def test_auto_on_llama_without_a_sample_keeps_the_residual_stream_order_one() -> None:
    # measured: the std of every decoder layer's output (the residual stream) on random tokens
    import transformers

    config = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=16,
                                      num_attention_heads=4, vocab_size=100)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).eval()
    initialize_model(model, "auto", seed=0)
    stds: list[float] = []
    hooks = [layer.register_forward_hook(
        lambda m, a, out: stds.append(float((out[0] if isinstance(out, tuple) else out).std())))
        for layer in model.model.layers]
    with torch.no_grad():
        model(torch.randint(0, 100, (4, 16), generator=torch.Generator().manual_seed(1)))
    for h in hooks:
        h.remove()
    # O(1): the 16 branches add variance 1/L each on top of the unit-variance embedding, at most doubling it
    assert len(stds) == 16 and all(0.5 < s < math.sqrt(2) * 1.1 for s in stds), stds


@pytest.mark.parametrize("name", ["llama", "bert", "t5"])
def test_dict_samples_work_in_every_dynamic_analysis(name: str) -> None:
    family = FAMILIES[name]
    model = family.build()
    kwargs = family.kwargs()
    out = dynamics(model, kwargs, gradients=False)
    assert out["signal"]["layers"]
    assert signal_propagation(model, kwargs)["layers"]
    if name == "llama":  # one tensor output (logits) to differentiate
        grads = gradient_flow(model, kwargs, loss_fn=lambda output, target: output.float().pow(2).mean())
        # every weight layer the forward used has a gradient, in the graph's order
        assert "model.layers.0.mlp.down_proj.weight" in grads["gradient_norms"]
        assert grads["total_layers"] == len(grads["gradient_norms"]) > 0
        assert all(math.isfinite(v) and v > 0 for v in grads["gradient_norms"].values())


def test_a_module_without_forward_falls_back_to_torch_types_and_says_so() -> None:
    model = nn.ModuleDict({"fc": nn.Linear(8, 8), "ln": nn.LayerNorm(8)})
    with pytest.warns(UserWarning, match="only torch's own layer types are known"):
        result = initialize_model(model, "kaiming_normal", seed=0)
    assert {"fc.weight", "fc.bias", "ln.weight", "ln.bias"} <= set(result.initialized)


@pytest.mark.parametrize(("name", "applies"), [
    ("llama", False), ("gpt2", False), ("bert", True), ("albert", True),  # pre-LN refused, post-LN taken
])
def test_t_fixup_follows_the_norm_position_read_from_the_forward(name: str, applies: bool) -> None:
    # T-Fixup (Huang et al. 2020) is for post-LN (or norm-free) transformers: LlamaDecoderLayer and GPT2Block
    # normalize the branch input (pre-LN), BertLayer and AlbertLayer normalize the sum (post-LN)
    from weight_initialization_system.errors import WeightInitError
    from weight_initialization_system.schemes import apply_scheme

    model = FAMILIES[name].build()
    if applies:
        apply_scheme(model, "t_fixup")
    else:
        with pytest.raises(WeightInitError, match="post-LN"):
            apply_scheme(model, "t_fixup")


@pytest.mark.parametrize("name", ["mamba", "resnet"])
def test_fixup_refuses_residual_blocks_that_normalize(name: str) -> None:
    # MambaBlock: residual + mixer(norm(x)); ResNet's bottleneck branch holds BatchNorms (Fixup removes norms)
    from weight_initialization_system.errors import WeightInitError
    from weight_initialization_system.schemes import apply_scheme

    with pytest.raises(WeightInitError, match="norm"):
        apply_scheme(FAMILIES[name].build(), "fixup")


def test_lsuv_calibrates_hf_conv1d_and_leaves_the_tied_embedding_alone() -> None:
    # GPT2Attention/GPT2MLP use transformers' Conv1D (x @ W + b via addmm); lm_head shares wte's weight
    from weight_initialization_system import lsuv_init

    family = FAMILIES["gpt2"]
    model = family.build()
    wte = model.get_parameter("transformer.wte.weight").detach().clone()
    report = lsuv_init(model, family.kwargs(), seed=0)
    calibrated = {layer.name for layer in report.layers}
    assert {"transformer.h.0.attn.c_attn", "transformer.h.0.mlp.c_fc", "transformer.h.1.mlp.c_proj"} <= calibrated
    assert "lm_head" not in calibrated
    assert torch.equal(model.get_parameter("transformer.wte.weight"), wte)
