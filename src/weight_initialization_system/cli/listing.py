"""``weight-init list``: the initializers (with aliases and arguments), the schemes, and the gains."""

from __future__ import annotations

import argparse
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


def _schemes() -> list[dict[str, str]]:
    from ..schemes.published import describe_scheme, list_schemes

    return [{"name": name, "summary": describe_scheme(name)} for name in list_schemes()]


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
    out.print(table("Schemes", ["name", "summary"], [(s["name"], s["summary"]) for s in data["schemes"]]))
    out.print(table("Gains (calculate_gain)", ["nonlinearity", "gain"], list(data["gains"].items()),
                    numeric=["gain"]))
    return 0
