"""Real architectures built from configs (never downloaded): auto, every applicable scheme, analysis, training.

Each test is skipped with the reason when its package (transformers, torchvision, timm) is not installed.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from weight_initialization_system.analysis.topology import trace_topology
from weight_initialization_system.errors import WeightInitError
from weight_initialization_system.schemes import initialize_model
from weight_initialization_system.schemes.published import apply_scheme, list_schemes

KWARGS = {"mup": {"base_width": 16}}


def _apply_all(model: nn.Module) -> dict[str, str]:
    """Every scheme: 'ok' or the error message (a misfit must raise WeightInitError, nothing else)."""
    outcome = {}
    for name in list_schemes():
        try:
            apply_scheme(model, name, seed=0, **KWARGS.get(name, {}))
            outcome[name] = "ok"
        except WeightInitError as exc:
            outcome[name] = str(exc)
    return outcome


def _trains(model: nn.Module, loss_fn: object) -> None:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    loss = loss_fn()  # type: ignore[operator]
    assert torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    optimizer.step()


@pytest.mark.slow
def test_hf_gpt2_small_config() -> None:
    transformers = pytest.importorskip("transformers", reason="transformers is not installed (extra 'hf')")
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=128, n_positions=32, n_embd=32, n_layer=2, n_head=4,
                                     bos_token_id=0, eos_token_id=0)
    model = transformers.GPT2LMHeadModel(config)
    ids = torch.randint(0, 128, (2, 12))
    infos = trace_topology(model, ids)
    assert sum(info.residual_branch for info in infos.values()) == 4  # attn.c_proj and mlp.c_proj per block

    result = initialize_model(model, "auto", seed=0, sample=ids)
    assert "transformer.wte.weight" in result and result.tied.get("lm_head.weight") == "transformer.wte.weight"
    assert model.lm_head.weight is model.transformer.wte.weight
    outcome = _apply_all(model)
    assert outcome["gpt2"] == "ok" and outcome["bert"] == "ok"
    assert "pre-LN" in outcome["t_fixup"] and "tied" in outcome["mup"]
    assert model.lm_head.weight is model.transformer.wte.weight

    apply_scheme(model, "gpt2", seed=0)
    c_proj = model.transformer.h[1].mlp.c_proj.weight
    assert abs(c_proj.std().item() - 0.02 / 2) < 6 * 0.01 / (2 * c_proj.numel()) ** 0.5
    _trains(model, lambda: model(ids, labels=ids).loss)


def test_torchvision_resnet18() -> None:
    models = pytest.importorskip("torchvision.models", reason="torchvision is not installed")
    model = models.resnet18(weights=None, num_classes=10)
    result = initialize_model(model, "auto", seed=0)
    assert sum("residual branches" in p.reason for p in result.initialized.values()) == 8
    outcome = _apply_all(model)
    assert outcome["delta_orthogonal"] == "ok" and "norm layers" in outcome["fixup"]
    x = torch.randn(2, 3, 64, 64)
    _trains(model, lambda: nn.functional.cross_entropy(model(x), torch.tensor([1, 2])))


def test_timm_vit_tiny() -> None:
    timm = pytest.importorskip("timm", reason="timm is not installed")
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, num_classes=5)
    initialize_model(model, "auto", seed=0)
    outcome = _apply_all(model)
    assert outcome["vit"] == "ok" and outcome["gpt2"] == "ok"
    apply_scheme(model, "vit", mode="jax", seed=0)
    assert torch.all(model.head.weight == 0)
    x = torch.randn(2, 3, 32, 32)
    _trains(model, lambda: nn.functional.cross_entropy(model(x), torch.tensor([0, 1])))
