"""The seed's demonstrations, real and small: each prints a concise table and returns its results as data.

- :func:`demonstrate_weight_initialization` (wired as ``WeightInitializer.demonstrate_weight_initialization``):
  every basic initializer on one matrix, measured std against the formula.
- :class:`AdvancedWeightInitExamples`: architecture-specific schemes on the reference models, the hybrid model
  initialized component by component, the seed's YAML config, and LSUV; ``run_all_advanced_examples`` runs all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["SEED_CONFIG", "AdvancedWeightInitExamples", "demonstrate_weight_initialization"]

#: The YAML block of the seed README, verbatim.
SEED_CONFIG = """\
weight_initialization:
  global:
    default_method: "xavier_uniform"
    enable_analysis: true
    quality_threshold: 0.7

  methods:
    xavier_uniform:
      enabled: true
      gain: 1.0

    kaiming_normal:
      enabled: true
      mode: "fan_in"
      nonlinearity: "leaky_relu"

  architecture_specific:
    transformer:
      enabled: true
      method: "transformer_init"
      d_model_scaling: true
"""


def _print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in text)) for i, c in enumerate(columns)]
    print(title)
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in text:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    print()


def demonstrate_weight_initialization(
    shape: tuple[int, int] = (256, 512), seed: int = 0, *, verbose: bool = True
) -> list[dict[str, Any]]:
    """Each basic initializer on a ``shape`` matrix: measured std against the std its formula gives.

    Xavier (Glorot & Bengio 2010): σ = √(2/(fan_in+fan_out)); Kaiming (He et al. 2015, ReLU): σ = √(2/fan_in);
    orthogonal (Saxe et al. 2014): σ = 1/√max(rows, cols) for a semi-orthogonal matrix; sparse (Martens 2010):
    σ·√(1−sparsity). Returns one row per initializer.
    """
    from ..initializers import (
        kaiming_normal_,
        kaiming_uniform_,
        orthogonal_,
        sparse_,
        xavier_normal_,
        xavier_uniform_,
    )

    fan_out, fan_in = shape
    xavier = math.sqrt(2.0 / (fan_in + fan_out))
    he = math.sqrt(2.0 / fan_in)
    cases: list[tuple[str, Callable[..., torch.Tensor], dict[str, Any], float]] = [
        ("xavier_uniform", xavier_uniform_, {}, xavier),
        ("xavier_normal", xavier_normal_, {}, xavier),
        ("kaiming_uniform", kaiming_uniform_, {"nonlinearity": "relu"}, he),
        ("kaiming_normal", kaiming_normal_, {"nonlinearity": "relu"}, he),
        ("orthogonal", orthogonal_, {}, 1.0 / math.sqrt(max(shape))),
        ("sparse", sparse_, {"sparsity": 0.1, "std": 0.01}, 0.01 * math.sqrt(1 - math.ceil(0.1 * fan_out) / fan_out)),
    ]
    rows = []
    for name, fn, kwargs, expected in cases:
        tensor = fn(torch.empty(shape), **kwargs, generator=torch.Generator().manual_seed(seed))
        std = float(tensor.std())
        rows.append({"initializer": name, "expected_std": expected, "std": std, "ratio": std / expected,
                     "mean": float(tensor.mean()), "zeros": float((tensor == 0).float().mean())})
    if verbose:
        _print_table(f"Basic initializers on a {shape[0]}x{shape[1]} weight (fan_in {fan_in}, fan_out {fan_out})",
                     ["initializer", "expected std", "measured std", "ratio", "zeros"],
                     [(r["initializer"], r["expected_std"], r["std"], r["ratio"], r["zeros"]) for r in rows])
    return rows


def _quality(model: nn.Module) -> float:
    from ..analysis import check_initialization_quality

    return float(check_initialization_quality(model)["overall_score"])


class AdvancedWeightInitExamples:
    """The seed's advanced demonstrations on the reference models (small sizes, CPU, a few seconds in all).

    >>> results = AdvancedWeightInitExamples(verbose=False).demonstrate_hybrid_model_initialization()
    """

    def __init__(self, seed: int = 0, *, verbose: bool = True) -> None:
        self.seed = seed
        self.verbose = verbose

    def _table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if self.verbose:
            _print_table(title, columns, rows)

    def demonstrate_architecture_specific_initialization(self) -> dict[str, dict[str, Any]]:
        """Transformer, CNN and RNN schemes on the reference models: what each touched, and the quality score."""
        from ..models import CustomCNNModel, CustomRNNModel, CustomTransformerModel
        from ..schemes.architectures import cnn_initialization, rnn_initialization, transformer_initialization

        cases: list[tuple[str, nn.Module, Callable[[nn.Module], Any]]] = [
            ("transformer", CustomTransformerModel(vocab_size=1000, d_model=128),
             lambda m: transformer_initialization(m, d_model=128, seed=self.seed)),
            ("cnn", CustomCNNModel(input_channels=3, num_classes=10), lambda m: cnn_initialization(m, seed=self.seed)),
            ("rnn", CustomRNNModel(input_size=100, hidden_size=128, num_layers=2),
             lambda m: rnn_initialization(m, num_layers=2, seed=self.seed)),
        ]
        results: dict[str, dict[str, Any]] = {}
        for name, model, scheme in cases:
            before = _quality(model)
            result = scheme(model)
            results[name] = {"method": result.method, "initialized": len(result.initialized),
                             "left_alone": len(result.skipped), "quality_before": before, "quality": _quality(model)}
        self._table("Architecture-specific initialization", ["model", "scheme", "initialized", "left alone",
                                                             "quality (torch default)", "quality (scheme)"],
                    [(k, v["method"], v["initialized"], v["left_alone"], v["quality_before"], v["quality"])
                     for k, v in results.items()])
        return results

    def demonstrate_hybrid_model_initialization(self) -> dict[str, Any]:
        """The seed's hybrid recipe, done so that later steps do not undo earlier ones.

        CNN scheme on the convolutional stem, transformer scheme on the encoder, then Xavier uniform on *only* the
        parameters neither scheme claimed (the seed's last line, ``initialize_model(hybrid, 'xavier_uniform')``,
        would otherwise re-initialize everything and erase both schemes).
        """
        from ..models import CNNTransformerHybrid
        from ..schemes import initialize_model
        from ..schemes.architectures import cnn_initialization, transformer_initialization

        model = CNNTransformerHybrid(input_channels=3, d_model=128)
        cnn = cnn_initialization(model, seed=self.seed)
        transformer = transformer_initialization(model, d_model=128, seed=self.seed)
        claimed = set(cnn.initialized) | set(transformer.initialized)
        remaining = [name for name, _ in model.named_parameters() if name not in claimed]
        rest = initialize_model(model, "xavier_uniform", seed=self.seed, include=remaining) if remaining else None
        steps = [("cnn_initialization", len(cnn.initialized)), ("transformer_initialization",
                                                                 len(transformer.initialized)),
                 ("xavier_uniform (the rest)", len(rest.initialized) if rest else 0)]
        quality = _quality(model)
        self._table(f"Hybrid model, component by component (quality {quality:.2f})", ["step", "parameters"], steps)
        return {"steps": dict(steps), "quality": quality,
                "initializer_of": {**{n: "cnn" for n in cnn.initialized},
                                   **{n: "transformer" for n in transformer.initialized},
                                   **({n: "xavier_uniform" for n in rest.initialized} if rest else {})}}

    def demonstrate_config_initialization(self) -> dict[str, Any]:
        """The seed README's YAML block applied to a transformer with ``apply_config``."""
        import warnings

        from ..config import apply_config, load_config
        from ..models import CustomTransformerModel

        model = CustomTransformerModel(vocab_size=1000, d_model=128)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = apply_config(model, load_config(SEED_CONFIG), seed=self.seed)
        methods: dict[str, int] = {}
        for entry in result.initialized.values():
            methods[entry.initializer] = methods.get(entry.initializer, 0) + 1
        self._table("The seed's YAML config on CustomTransformerModel", ["initializer", "parameters"],
                    sorted(methods.items()))
        return {"initializers": methods, "quality": _quality(model), "warnings": [str(w.message) for w in caught]}

    def demonstrate_lsuv(self) -> dict[str, Any]:
        """LSUV (Mishkin & Matas 2016) on a 20-layer ReLU MLP: per-layer output std before and after."""
        from ..data_dependent import lsuv_init
        from ..models import deep_mlp

        model = deep_mlp(20, 128, "relu")
        batch = torch.randn(256, 128, generator=torch.Generator().manual_seed(self.seed))
        report = lsuv_init(model, batch, seed=self.seed)
        rows = [(layer.name, layer.std_before, layer.std_after, layer.iterations) for layer in report.layers]
        self._table(f"LSUV on a 20-layer ReLU MLP ({report.n_converged}/{len(report.layers)} layers converged)",
                    ["layer", "std before", "std after", "iterations"], rows[:: max(1, len(rows) // 6)])
        return {"converged": report.converged, "layers": len(report.layers),
                "std_after": [layer.std_after for layer in report.layers]}

    def run_all_advanced_examples(self) -> dict[str, Any]:
        """Run every demonstration and return their results keyed by name."""
        return {
            "basic": demonstrate_weight_initialization(seed=self.seed, verbose=self.verbose),
            "architecture_specific": self.demonstrate_architecture_specific_initialization(),
            "hybrid": self.demonstrate_hybrid_model_initialization(),
            "config": self.demonstrate_config_initialization(),
            "lsuv": self.demonstrate_lsuv(),
        }
