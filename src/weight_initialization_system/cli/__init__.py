"""The ``weight-init`` command line (also ``python -m weight_initialization_system``).

Subcommands (one module each): ``report`` (the main job: an HTML diagnosis), ``analyze`` (tables in the
terminal), ``init`` (initialize and save), ``compare`` (the notebook's comparison on any model), ``list``.
Data goes to stdout; errors to stderr as ``Error: ...`` and ``Hint: ...`` with exit status 1. Set
``WEIGHT_INIT_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from ..errors import WeightInitError
from . import analyze, compare, init, listing, report
from ._common import CLIError, Parser

__all__ = ["build_parser", "main"]

DEBUG_VARIABLE = "WEIGHT_INIT_DEBUG"

EXAMPLES = """examples:
  weight-init report mlp --out report.html      the main job: a self-contained HTML diagnosis
  weight-init analyze transformer               per-layer tables in the terminal
  weight-init init cnn --method auto --out cnn.safetensors
  weight-init compare mlp --methods xavier_uniform,kaiming_normal,lsuv
  weight-init list

MODEL is a built-in (mlp, tanh-mlp, deep-relu-mlp, deep-tanh-mlp, cnn, transformer, rnn, hybrid), a
module:factory path, torchvision:NAME / timm:NAME / transformers:TYPE when installed (built from code, never
downloaded; transformers:TYPE from a small config unless --full-size, with --config-override KEY=VALUE), or a
.safetensors / torch checkpoint (loaded with weights_only=True).
Set WEIGHT_INIT_DEBUG=1 to get tracebacks.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = Parser(prog="weight-init", description="Initialize, normalize and diagnose PyTorch weights.",
                    epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in (report, analyze, init, compare, listing):
        module.register(subparsers)
    return parser


def _fail(message: str, hint: str | None) -> int:
    sys.stderr.write(f"Error: {message}\n")
    if hint:
        sys.stderr.write(f"Hint: {hint}\n")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 user error, 2 internal error)."""
    debug = os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        status: int = args.run(args)
        return status
    except CLIError as error:
        if debug:
            raise
        return _fail(str(error), error.hint)
    except (WeightInitError, FileNotFoundError, IsADirectoryError, PermissionError) as error:
        if debug:
            raise
        command = getattr(locals().get("args"), "command", None)
        return _fail(str(error), f"run 'weight-init {command or ''} --help'".replace("  ", " "))
    except KeyboardInterrupt:
        return _fail("interrupted", None)
    except Exception as error:
        if debug:
            raise
        sys.stderr.write("".join(traceback.format_exception_only(error)).join(["Error: internal error: ", ""]))
        sys.stderr.write(f"Hint: this is a bug; rerun with {DEBUG_VARIABLE}=1 for the traceback and report it\n")
        return 2
