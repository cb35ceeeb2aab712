"""``weight-init init``: initialize a model with a method, ``auto`` or a config file, and save its weights."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from .._io import atomic_path
from ._common import add_common_options, parse_key_values, write_json
from ._render import console, table
from .models import LoadedModel, add_model_options, model_from_args

__all__ = ["initialize", "register", "run"]

EXAMPLES = """examples:
  weight-init init mlp --method kaiming_normal --arg nonlinearity=relu --out mlp.safetensors
  weight-init init transformer --method auto --out transformer.safetensors
  weight-init init cnn --config init.yaml --out cnn.safetensors --format json
  weight-init init mypkg.models:build --method orthogonal --out model.pt
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "init", help="initialize a model and save its weights", epilog=EXAMPLES,
        description="Initialize MODEL with an initializer (--method NAME, with --arg KEY=VALUE), with the "
        "activation-aware 'auto' method, or with a YAML config (--config FILE), then save the state dict "
        "(.safetensors, or a torch file for any other suffix). Prints what was done per parameter.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", metavar="MODEL", help="built-in name, module:factory, or zoo name")
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument("--method", help="initializer name (see 'weight-init list') or 'auto'")
    how.add_argument("--config", help="a YAML config file (the seed's weight_initialization block)")
    parser.add_argument("--arg", action="append", metavar="KEY=VALUE", help="initializer argument (repeatable)")
    parser.add_argument("--out", help="where to save the weights (.safetensors or .pt)")
    parser.add_argument("--input-shape", help="sample input shape without batch, e.g. 3,32,32 (for auto)")
    add_model_options(parser)
    add_common_options(parser)
    parser.set_defaults(run=run)


def initialize(loaded: LoadedModel, method: str | None, config: str | None, arguments: dict[str, Any],
               seed: int) -> Any:
    """Run the initialization the options ask for and return its ``InitResult``."""
    from ..schemes import initialize_model

    if config is not None:
        from ..config import apply_config

        return apply_config(loaded.model, Path(config), seed=seed)
    if method == "auto":
        sample = None if loaded.sample is None else loaded.sample(32, torch.Generator().manual_seed(seed))
        return initialize_model(loaded.model, "auto", seed=seed, sample=sample, **arguments)
    return initialize_model(loaded.model, method or "xavier_uniform", seed=seed, **arguments)


def save_weights(model: torch.nn.Module, out: Path) -> None:
    """Save the state dict: safetensors (shared tensors de-duplicated) or ``torch.save`` for other suffixes.

    All or nothing: a save that fails (a tensor or extra state that cannot be serialized) leaves ``out`` as
    it was.
    """
    with atomic_path(out) as tmp:
        if out.suffix == ".safetensors":
            from safetensors.torch import save_model

            save_model(model, str(tmp))
        else:
            torch.save(model.state_dict(), tmp)


def run(args: argparse.Namespace) -> int:
    loaded = model_from_args(args)
    result = initialize(loaded, args.method, args.config, parse_key_values(args.arg, "--arg"), args.seed)
    if args.out:
        save_weights(loaded.model, Path(args.out))
    if args.format == "json":
        write_json({"model": args.model, "built": loaded.note or None, "method": result.method, "seed": result.seed,
                    "out": args.out,
                    "parameters": result.to_rows()})
        return 0
    out = console()
    rows = [(r["name"], r["initializer"], "" if r["fans"] is None else f"{r['fans'][0]}/{r['fans'][1]}",
             r["reason"]) for r in result.to_rows()]
    out.print(table(f"{args.model}: {result.method} (seed {result.seed})",
                    ["parameter", "initializer", "fans", "reason"], rows))
    if args.out:
        out.print(f"Saved {len(loaded.model.state_dict())} tensors to {args.out}")
    if loaded.note:
        out.print(loaded.note)
    return 0
