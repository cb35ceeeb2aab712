"""The seed's demonstrations return their results as data and print concise tables."""

from __future__ import annotations

import math

import pytest

from weight_initialization_system.examples import AdvancedWeightInitExamples, demonstrate_weight_initialization


def test_basic_demonstration_matches_each_formula(capsys: pytest.CaptureFixture[str]) -> None:
    rows = demonstrate_weight_initialization((256, 512), seed=0)
    assert [r["initializer"] for r in rows] == ["xavier_uniform", "xavier_normal", "kaiming_uniform",
                                                "kaiming_normal", "orthogonal", "sparse"]
    n = 256 * 512
    for row in rows:
        # std of the sample std ≈ σ/√(2n) (normal; smaller for uniform); 6 of those. Orthogonal is exact.
        assert abs(row["ratio"] - 1) < 6 / math.sqrt(2 * n * (1 - row["zeros"])) + 1e-6, row
    assert "measured std" in capsys.readouterr().out


@pytest.mark.slow
def test_hybrid_demonstration_keeps_both_schemes() -> None:
    results = AdvancedWeightInitExamples(verbose=False).demonstrate_hybrid_model_initialization()
    owners = results["initializer_of"]
    assert owners["conv_stem.0.weight"] == "cnn"
    assert any(o == "transformer" for o in owners.values())
    assert 0.0 <= results["quality"] <= 1.0


@pytest.mark.slow
def test_run_all_returns_every_demonstration(capsys: pytest.CaptureFixture[str]) -> None:
    results = AdvancedWeightInitExamples().run_all_advanced_examples()
    assert set(results) == {"basic", "architecture_specific", "hybrid", "config", "lsuv"}
    assert set(results["architecture_specific"]) == {"transformer", "cnn", "rnn"}
    assert results["lsuv"]["converged"]
    assert "Architecture-specific initialization" in capsys.readouterr().out
