"""The ``weight-init`` command line (also ``python -m weight_initialization_system``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: print the notebook's variance table and initializer comparison."""
    from ..report.tables import comparison_table, variance_table

    parser = argparse.ArgumentParser(prog="weight-init", description=__doc__)
    parser.add_argument("--seed", type=int, default=0, help="seed for the comparison (default 0)")
    args = parser.parse_args(argv)
    print("Optimal variance per layer (Xavier: 2/(n_in+n_out), He: 2/n_in)")
    print(variance_table())
    print()
    print("Initializers on the notebook's 784-128-64-32-16-10 MLP (tanh; ReLU for He)")
    print(comparison_table(args.seed))
    return 0
