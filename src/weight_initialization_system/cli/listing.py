"""``weight-init list``: the initializers (with aliases and arguments), the schemes, and the gains."""

from __future__ import annotations

import argparse
import inspect
from typing import Any

from ..initializers import GAINS, calculate_gain, get_spec, list_initializers, resolve_name
from ._common import add_common_options, write_json
from ._render import console, table

__all__ = ["register", "run"]

EXAMPLES = """examples:
  weight-init list
  weight-init list --format json | jq '.initializers[].name'
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("list", help="list initializers, schemes and gains", epilog=EXAMPLES,
                                   description="List the registered initializers (with their aliases and "
                                   "arguments), the model-level schemes, and the gain of every nonlinearity.",
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser)
    parser.set_defaults(run=run)


def _schemes() -> list[dict[str, Any]]:
    from ..schemes import architectures
    from ..schemes.published import get_scheme, list_schemes

    rows: list[dict[str, Any]] = []
    for name in ("transformer_initialization", "cnn_initialization", "rnn_initialization"):
        fn = getattr(architectures, name)
        doc = " ".join((inspect.getdoc(fn) or "").split("\n\n", 1)[0].split())
        rows.append({"name": name, "arguments": list(inspect.signature(fn).parameters)[1:], "summary": doc})
    for name in list_schemes():
        spec = get_scheme(name)
        rows.append({"name": spec.name, "arguments": spec.arguments(), "summary": spec.summary})
    return rows


def collect() -> dict[str, Any]:
    """Everything ``list`` shows, as data."""
    aliases: dict[str, list[str]] = {}
    for alias in sorted(set(list_initializers(aliases=True)) - set(list_initializers())):
        aliases.setdefault(resolve_name(alias), []).append(alias)
    initializers = [{"name": name, "aliases": aliases.get(name, []), "arguments": get_spec(name).arguments(),
                     "summary": get_spec(name).summary} for name in list_initializers()]
    gains = {name: calculate_gain(name) for name in GAINS}
    return {"initializers": initializers, "schemes": _schemes(), "gains": gains}


def run(args: argparse.Namespace) -> int:
    data = collect()
    if args.format == "json":
        write_json(data)
        return 0
    out = console()
    out.print(table("Initializers", ["name", "aliases", "arguments", "summary"],
                    [(i["name"], ", ".join(i["aliases"]), ", ".join(i["arguments"]), i["summary"])
                     for i in data["initializers"]]))
    out.print(table("Schemes (initialize_model(model, 'auto') chooses per layer)", ["name", "arguments", "summary"],
                    [(s["name"], ", ".join(s["arguments"]), s["summary"]) for s in data["schemes"]]))
    out.print(table("Gains (calculate_gain)", ["nonlinearity", "gain"], list(data["gains"].items()),
                    numeric=["gain"]))
    return 0
