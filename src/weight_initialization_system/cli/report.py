"""``weight-init report``: the main job, a self-contained HTML diagnosis of a model's initialization."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._common import add_common_options, parse_key_values, progress, write_json
from ._render import console
from .init import initialize
from .models import add_model_options, model_from_args

if TYPE_CHECKING:
    from ..report import Comparison

__all__ = ["register", "run"]

EXAMPLES = """examples:
  weight-init report mlp --out report.html
  weight-init report transformer --init auto --out transformer.html
  weight-init report cnn --no-compare --batch-size 32
  weight-init report weights.safetensors --out ckpt.html      (data-free: weights only)
  weight-init report cnn --weights cnn.safetensors --out cnn.html
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report", help="write a self-contained HTML diagnosis (the main job)", epilog=EXAMPLES,
        description="Analyze MODEL's initialization (weights, signal propagation, gradient flow, Jacobian "
        "spectrum, recommendations) and write one self-contained HTML file with the verdict first. For MLP "
        "built-ins it also runs the notebook's comparison of initializers with LSUV and a few epochs of training "
        "on scikit-learn's bundled digits.", formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", metavar="MODEL", help="built-in name, module:factory, zoo name or checkpoint")
    parser.add_argument("--out", default="report.html", help="output HTML file (default report.html)")
    parser.add_argument("--batch-size", type=int, default=100,
                        help="sample batch for the forward/backward analyses (default 100, as the notebook)")
    parser.add_argument("--init", metavar="METHOD", help="initialize first with METHOD (or 'auto')")
    parser.add_argument("--arg", action="append", metavar="KEY=VALUE", help="argument for --init (repeatable)")
    parser.add_argument("--config", help="initialize first with a YAML config")
    parser.add_argument("--weights", help="load a state dict (.safetensors or torch file) into MODEL first")
    parser.add_argument("--input-shape", help="sample input shape without batch, e.g. 3,32,32")
    parser.add_argument("--compare", dest="compare", action="store_true", default=None,
                        help="add the comparison of initializers (default: on for the MLP built-ins)")
    parser.add_argument("--no-compare", dest="compare", action="store_false", help="skip the comparison")
    parser.add_argument("--epochs", type=int, default=8, help="training epochs on digits in the comparison")
    add_model_options(parser)
    add_common_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..report import comparison_verdict, diagnose, notebook_comparison, write_html
    from ._common import CLIError

    if args.batch_size <= 0:
        raise CLIError(f"--batch-size must be positive. Received: {args.batch_size}")
    compare = args.model in ("mlp", "tanh-mlp") if args.compare is None else args.compare
    if compare and args.model not in ("mlp", "tanh-mlp"):
        raise CLIError("--compare in a report is the notebook's MLP experiment",
                       f"use 'weight-init compare {args.model} --out compare.html' for other models")
    with progress(3 if compare else 2) as step:
        step("building the model")
        loaded = model_from_args(args)
        if args.init or args.config:
            initialize(loaded, args.init, args.config, parse_key_values(args.arg, "--arg"), args.seed)
        step("analyzing weights, signal and gradients")
        diagnosis = diagnose(loaded.model, loaded.name, loaded.sample, batch_size=args.batch_size,
                             seed=args.seed, data_free_reason=loaded.data_free_reason)
        comparison = None
        if compare:
            step("comparing initializers and training on digits")
            comparison = notebook_comparison(seed=args.seed, epochs=args.epochs)
        out = write_html(Path(args.out), diagnosis, comparison)
    if args.format == "json":
        write_json({"out": str(out), "model": args.model, "built": loaded.note or None,
                    "quality_score": diagnosis.quality_score,
                    "diagnosis": diagnosis.signal_diagnosis, "scale_free_score": diagnosis.scale_free_score,
                    "notebook_health": diagnosis.notebook_health,
                    "fixes": [f.title for f in diagnosis.fixes[:3]],
                    "best_method": _best(comparison)})
        return 0
    out_console = console()
    out_console.print(f"Wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")
    if loaded.note:
        out_console.print(loaded.note)
    out_console.print(f"quality {diagnosis.quality_score:.2f} · weights (theory) {diagnosis.weight_diagnosis or 'n/a'}"
                      f" · signal on a batch {diagnosis.signal_diagnosis or 'n/a'}")
    for i, fix in enumerate(diagnosis.fixes[:3], 1):
        out_console.print(f"{i}. {fix.title}")
    if comparison is not None:
        out_console.print(comparison_verdict(comparison))
    return 0


def _best(comparison: Comparison | None) -> str | None:
    """The one best method's label; ``None`` without a comparison or when methods tie."""
    leaders = comparison.leaders() if comparison is not None else []
    return leaders[0].label if len(leaders) == 1 else None
