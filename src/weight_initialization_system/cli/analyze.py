"""``weight-init analyze``: the diagnosis as tables in the terminal (or JSON)."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from ._common import CLIError, add_common_options, parse_key_values, progress, to_jsonable, write_json
from ._render import console, table
from .init import initialize
from .models import LoadedModel, add_model_options, model_from_args

__all__ = ["register", "run"]

EXAMPLES = """examples:
  weight-init analyze mlp
  weight-init analyze deep-tanh-mlp --init orthogonal
  weight-init analyze transformer --format json > transformer.json
  weight-init analyze weights.safetensors          (data-free: weights only)
  weight-init analyze transformers:llama           (a small Llama config: 2 layers, width 64)
  weight-init analyze transformers:llama --config-override num_hidden_layers=3 --config-override hidden_size=128
  weight-init analyze transformers:llama --full-size   (the 6.7B default on the meta device: structure only)
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
    add_model_options(parser, full_size=True)
    add_common_options(parser)
    parser.set_defaults(run=run)


#: Why a model on the meta device gets the structure only.
NEEDS_WEIGHTS = ("statistics need real weights: the model was built on the meta device (--full-size); drop "
                 "--full-size to analyze a small config of the same architecture")


def _billions(n: int) -> str:
    return f"{n:,} ({n / 1e9:.2f}B)" if n >= 10**8 else f"{n:,}"


def structure(loaded: LoadedModel) -> dict[str, Any]:
    """What is known without weights' values: every parameter's shape and role, and each weight layer's op,
    fans and input, from one trace on the meta device (nothing allocated)."""
    from ..graph import trace

    graph = trace(loaded.model, device="meta")
    layers = []
    for name, p in loaded.model.named_parameters():
        layer = graph.weights.get(name)
        act = layer.activation if layer is not None else None
        layers.append({
            "name": name, "shape": list(p.shape), "role": graph.role(name),
            "op": layer.op if layer else None, "fan_in": layer.fans[0] if layer else None,
            "fan_out": layer.fans[1] if layer else None,
            "input": None if layer is None else layer.feeds + (f" ({act.name})" if act is not None else "")})
    return {"model": loaded.name, "built": loaded.note, "full_size": loaded.full_size,
            "parameters": sum(p.numel() for p in loaded.model.parameters()), "traced": graph.traced,
            "trace": graph.reason, "roles": dict(Counter(row["role"] for row in layers)), "layers": layers,
            "statistics": NEEDS_WEIGHTS}


def _run_structure(args: argparse.Namespace, loaded: LoadedModel) -> int:
    if args.init or args.config:
        raise CLIError("--init and --config need real weights; --full-size builds the model on the meta device",
                       "drop --full-size to initialize a small config of the same architecture")
    data = structure(loaded)
    if args.format == "json":
        write_json(data)
        return 0
    out = console()
    out.print(f"{args.model}: {_billions(data['parameters'])} parameters · {loaded.note}")
    out.print(table(f"{args.model}: structure ({'traced on the meta device' if data['traced'] else data['trace']})",
                    ["parameter", "shape", "role", "op", "fan in", "fan out", "input"],
                    [(r["name"], "x".join(map(str, r["shape"])), r["role"], r["op"], r["fan_in"], r["fan_out"],
                      r["input"]) for r in data["layers"]], numeric=["fan in", "fan out"]))
    out.print("roles: " + ", ".join(f"{role} {n}" for role, n in sorted(data["roles"].items())))
    out.print(NEEDS_WEIGHTS)
    return 0


def run(args: argparse.Namespace) -> int:
    from ..report import diagnose

    with progress(2) as step:
        step("building the model")
        loaded = model_from_args(args)
        if loaded.full_size:
            step("tracing on the meta device")
            return _run_structure(args, loaded)
        if args.init or args.config:
            initialize(loaded, args.init, args.config, parse_key_values(args.arg, "--arg"), args.seed)
        step("analyzing")
        d = diagnose(loaded.model, loaded.name, loaded.sample, batch_size=args.batch_size, seed=args.seed,
                     data_free_reason=loaded.data_free_reason, jacobian=False)
    if args.format == "json":
        write_json({**to_jsonable(d), "built": loaded.note} if loaded.note else d)
        return 0
    out = console()
    out.print(f"{args.model}: {_billions(d.parameters)} parameters" + (f" · {loaded.note}" if loaded.note else ""))
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
