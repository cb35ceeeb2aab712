"""Every Python block of the seed README runs, in order, in one namespace, against this library.

The seed README is read from ``../shared/seeds/`` next to the repository (or two levels up, for a git worktree
under ``wt/``); the test is skipped, saying so, when it is absent.

What the namespace gets beyond the blocks themselves, because the README assumes it from context:

- ``math`` and the reference models (``CustomTransformerModel`` ...), used by blocks that do not import them;
- before the custom attention-init block, ``model`` is a module with real attention weights: an
  ``nn.MultiheadAttention(128, 8, bias=False)`` named ``attention`` (the snippet unpacks ``fan_in, fan_out =
  tensor.shape``, so every parameter with 'attention' in its name must be a matrix).

The seed's unit tests are defined by their block and then called. ``test_xavier_initialization`` is wrong as
written, and is checked to fail, then run corrected (:func:`corrected_test_xavier_initialization`).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
_CANDIDATES = [ROOT.parent / "shared" / "seeds", ROOT.parent.parent / "shared" / "seeds"]
SEED = next((d / "weight_initialization_system_README.md" for d in _CANDIDATES
             if (d / "weight_initialization_system_README.md").is_file()), None)

pytestmark = [pytest.mark.skipif(SEED is None, reason="the seed README is not at ../shared/seeds/ next to the repo"),
              pytest.mark.slow]


def _blocks() -> list[str]:
    assert SEED is not None
    return re.findall(r"```python\n(.*?)```", SEED.read_text(encoding="utf-8"), flags=re.S)


def corrected_test_xavier_initialization() -> None:
    """The seed's ``test_xavier_initialization``, corrected.

    The seed asserts ``'0.weight' in stats`` and ``0.05 < std < 0.15`` for ``nn.Linear(10, 20)``. Both are wrong:

    - a bare ``nn.Linear`` names its parameters ``weight`` and ``bias``; ``0.weight`` exists only inside an
      ``nn.Sequential``;
    - Xavier uniform (Glorot & Bengio 2010) draws from U(±√(6/(fan_in+fan_out))), whose std is
      √(2/(fan_in+fan_out)) = √(2/30) ≈ 0.258, outside (0.05, 0.15).

    The corrected test checks the name the analysis really uses and the std the formula gives, with a tolerance
    from the sample size: the std of the sample std of n = 200 draws is about σ/√(2n) for a normal and less
    for a uniform (kurtosis 1.8), so 5 of those, ≈ 0.046, is a safe bound.
    """
    from weight_initialization_system import InitializationAnalyzer, WeightInitializer

    model = nn.Linear(10, 20)
    WeightInitializer.xavier_uniform(model.weight, generator=torch.Generator().manual_seed(0))
    stats = InitializationAnalyzer.analyze_weights(model)
    assert "weight" in stats
    expected = math.sqrt(2.0 / (10 + 20))
    assert abs(stats["weight"]["std"] - expected) < 5 * expected / math.sqrt(2 * 200)


def test_every_python_block_of_the_seed_readme_runs_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    from weight_initialization_system.models import (
        CNNTransformerHybrid,
        CustomCNNModel,
        CustomRNNModel,
        CustomTransformerModel,
    )

    namespace: dict[str, Any] = {"__name__": "seed_readme", "math": math, "CustomTransformerModel":
                                 CustomTransformerModel, "CustomCNNModel": CustomCNNModel,
                                 "CustomRNNModel": CustomRNNModel, "CNNTransformerHybrid": CNNTransformerHybrid}
    blocks = _blocks()
    assert len(blocks) >= 20
    ran = 0
    for block in blocks:
        if "def custom_attention_init" in block:
            namespace["model"] = nn.Sequential()
            namespace["model"].add_module("attention", nn.MultiheadAttention(128, 8, bias=False))
            before = namespace["model"].attention.in_proj_weight.detach().clone()
        exec(compile(block, f"<seed README block {ran}>", "exec"), namespace)
        ran += 1
        if "def custom_attention_init" in block:
            after = namespace["model"].attention.in_proj_weight.detach()
            assert not torch.equal(before, after)
            expected = math.sqrt(2.0 / (384 + 128)) / math.sqrt(8)
            assert abs(float(after.std()) - expected) < 6 * expected / math.sqrt(2 * after.numel())
        if "def test_xavier_initialization" in block:
            with pytest.raises(AssertionError):
                namespace["test_xavier_initialization"]()
            corrected_test_xavier_initialization()
            namespace["test_architecture_specific"]()
        if "def test_custom_model_initialization" in block:
            namespace["test_custom_model_initialization"]()
    assert ran == len(blocks)
    out = capsys.readouterr().out
    assert "Initialization quality score:" in out and "Transformer initialization quality:" in out


def test_the_seed_readme_yaml_block_loads() -> None:
    from weight_initialization_system.config import load_config

    assert SEED is not None
    yaml_blocks = re.findall(r"```yaml\n(.*?)```", SEED.read_text(encoding="utf-8"), flags=re.S)
    assert len(yaml_blocks) == 1
    from weight_initialization_system.examples import SEED_CONFIG

    cfg = load_config(yaml_blocks[0])
    assert cfg.settings.global_.default_method == "xavier_uniform"
    assert cfg == load_config(SEED_CONFIG)
