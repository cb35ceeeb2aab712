"""``weight-init compare``: the notebook's comparison of initializers, on any model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._common import CLIError, add_common_options, progress, write_json
from ._render import console, table
from .models import add_model_options, model_from_args

__all__ = ["register", "run"]

EXAMPLES = """examples:
  weight-init compare mlp                                    the notebook: six initializers + LSUV, digits training
  weight-init compare mlp --methods xavier_uniform,kaiming_normal,lsuv --out compare.html
  weight-init compare deep-tanh-mlp --methods xavier_normal,orthogonal,normal:std=1.0
  weight-init compare cnn --methods kaiming_normal:nonlinearity=relu,auto --format json

METHOD is a registry name with optional arguments (normal:std=0.01), 'auto', 'lsuv', or 'notebook' (the
notebook's six initializers and LSUV).

Every method runs with --seeds seeds (SEED, SEED+1, ...); numbers are mean ± std over them. The best method is
the one with the highest health score, then scale-free score, then lowest final loss; methods whose means are
within 2·√(s₁²/n + s₂²/n) of the leader's are reported as tied, never separated by the order of --methods.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare initializers on a model (the notebook's experiment)", epilog=EXAMPLES,
        description="Initialize copies of MODEL with each METHOD and compare the notebook's gradient statistics "
        "and 0-10 health score, our scale-free gradient score and the quality score; for the MLP built-ins, the "
        "notebook's setup (tanh for Xavier/random, ReLU for He and LSUV) plus a few epochs of training on "
        "scikit-learn's bundled digits.", formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", metavar="MODEL", help="built-in name, module:factory or zoo name")
    parser.add_argument("--methods", default="notebook", help="comma-separated methods (default: notebook)")
    parser.add_argument("--batch-size", type=int, default=100, help="sample batch (default 100)")
    parser.add_argument("--epochs", type=int, default=8, help="training epochs on digits (MLP built-ins)")
    # default None: the library's DEFAULT_SEEDS, read in run() (importing the report here would load matplotlib
    # for every command)
    parser.add_argument("--seeds", type=int, default=None,
                        help="runs per method, for mean ± std and ties (default 3, at least 2)")
    parser.add_argument("--out", help="also write an HTML report of the comparison")
    parser.add_argument("--input-shape", help="sample input shape without batch, e.g. 3,32,32")
    add_model_options(parser)
    add_common_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..report import (
        DEFAULT_SEEDS,
        compare_on_model,
        comparison_verdict,
        notebook_comparison,
        parse_methods,
        summary_rows,
        write_html,
    )

    setups = parse_methods(args.methods)
    seeds = DEFAULT_SEEDS if args.seeds is None else args.seeds
    note = ""
    with progress(len(setups)) as step:
        if args.model in ("mlp", "tanh-mlp"):
            if args.config_override:
                raise CLIError("--config-override applies to transformers:TYPE models only. "
                               f"Received: MODEL={args.model!r}")
            comparison = notebook_comparison(setups, seed=args.seed, seeds=seeds, epochs=args.epochs,
                                             on_step=step)
        else:
            loaded = model_from_args(args)
            note = loaded.note
            comparison = compare_on_model(loaded.model, loaded.name, loaded.sample, setups, seed=args.seed,
                                          seeds=seeds, batch_size=args.batch_size, on_step=step)
    if args.out:
        write_html(Path(args.out), None, comparison, title=f"Initializers compared on {args.model}")
    leaders = comparison.leaders()
    if args.format == "json":
        write_json({"model": comparison.model, "seeds": comparison.seeds,
                    "best": leaders[0].label if len(leaders) == 1 else None,
                    "tied": [r.label for r in leaders] if len(leaders) > 1 else [],
                    "ranked_by": comparison.criteria(), "out": args.out, "results": comparison.results})
        return 0
    headers, rows = summary_rows(comparison)
    out = console()
    out.print(table(f"Initializers on {comparison.model} (mean ± std over {len(comparison.seeds)} seeds)", headers,
                    rows, numeric=headers[1:]))
    out.print(comparison_verdict(comparison))
    if note:
        out.print(note)
    if args.out:
        out.print(f"Wrote {args.out}")
    return 0
