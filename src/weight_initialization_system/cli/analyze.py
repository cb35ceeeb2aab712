"""``weight-init analyze``: the diagnosis as tables in the terminal (or JSON)."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import add_common_options, parse_key_values, progress, write_json
from ._render import console, table
from .init import initialize, parse_shape
from .models import load_model

__all__ = ["register", "run"]

EXAMPLES = """examples:
  weight-init analyze mlp
  weight-init analyze deep-tanh-mlp --init orthogonal
  weight-init analyze transformer --format json > transformer.json
  weight-init analyze weights.safetensors          (data-free: weights only)
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "analyze", help="per-layer tables in the terminal", epilog=EXAMPLES,
        description="Analyze MODEL's initialization and print per-layer tables: weight statistics against the "
        "variance-preserving std, signal propagation, gradient flow, and the fixes that matter most.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", metavar="MODEL", help="built-in name, module:factory, zoo name or checkpoint")
    parser.add_argument("--batch-size", type=int, default=100, help="sample batch (default 100)")
    parser.add_argument("--init", metavar="METHOD", help="initialize first with METHOD (or 'auto')")
    parser.add_argument("--arg", action="append", metavar="KEY=VALUE", help="argument for --init (repeatable)")
    parser.add_argument("--config", help="initialize first with a YAML config")
    parser.add_argument("--weights", help="load a state dict into MODEL first")
    parser.add_argument("--input-shape", help="sample input shape without batch, e.g. 3,32,32")
    add_common_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..report import diagnose

    with progress(2) as step:
        step("building the model")
        loaded = load_model(args.model, weights=args.weights, input_shape=parse_shape(args.input_shape))
        if args.init or args.config:
            initialize(loaded, args.init, args.config, parse_key_values(args.arg, "--arg"), args.seed)
        step("analyzing")
        d = diagnose(loaded.model, loaded.name, loaded.sample, batch_size=args.batch_size, seed=args.seed,
                     data_free_reason=loaded.data_free_reason, jacobian=False)
    if args.format == "json":
        write_json(d)
        return 0
    out = console()
    out.print(table(f"{args.model}: weights", ["parameter", "shape", "std", "expected", "ratio", "score", "warnings"],
                    [(w.name, "x".join(map(str, w.shape)), w.std, w.expected_std, w.ratio, w.score,
                      "; ".join(w.warnings)) for w in d.weights],
                    numeric=["std", "expected", "ratio", "score"]))
    if d.signal:
        out.print(table(f"signal propagation: {d.signal_diagnosis}", ["layer", "mean", "variance", "dead",
                                                                     "saturated"],
                        [(s.name, s.mean, s.variance, s.dead_fraction, s.saturated_fraction) for s in d.signal],
                        numeric=["mean", "variance", "dead", "saturated"]))
    if d.gradients:
        out.print(table(f"gradient flow: loss {d.loss:.4g}, vanished {d.vanished}, weak {d.weak}",
                        ["weight", "grad norm", "grad/weight"],
                        [(g.name, g.norm, g.relative) for g in d.gradients], numeric=["grad norm", "grad/weight"]))
    for reason in d.skipped.values():
        out.print(f"skipped: {reason}")
    summary = f"quality {d.quality_score:.2f}"
    if d.scale_free_score is not None:
        summary += f" · gradient health (scale-free) {d.scale_free_score:.1f}/10"
    if d.notebook_health is not None:
        summary += f" · notebook health {d.notebook_health:g}/10"
    out.print(summary)
    for i, fix in enumerate(d.fixes[:3], 1):
        out.print(f"{i}. {fix.title}: {fix.detail}" + (f"  ->  {fix.command}" if fix.command else ""))
    return 0
