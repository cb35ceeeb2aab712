"""Plumbing shared by the subcommands: errors with hints, output formats, progress, argument parsing."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from typing import Any, NoReturn, TextIO

from ..errors import WeightInitError

__all__ = [
    "CLIError",
    "Parser",
    "Step",
    "add_common_options",
    "parse_key_values",
    "parse_shape",
    "progress",
    "to_jsonable",
    "write_json",
]


class CLIError(WeightInitError):
    """A user error at the command line, with a hint on what to do instead."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class Parser(argparse.ArgumentParser):
    """``argparse`` with ``Error:``/``Hint:`` on stderr and exit status 1 for usage errors."""

    def error(self, message: str) -> NoReturn:
        raise CLIError(message, f"run '{self.prog} --help' for usage and examples")


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """``--format`` and ``--seed``, which every subcommand takes."""
    parser.add_argument("--format", choices=("human", "json"), default="human",
                        help="human-readable tables (default) or JSON on stdout")
    parser.add_argument("--seed", type=int, default=0, help="base seed for initialization and data (default 0)")


def parse_key_values(items: Sequence[str] | None, option: str) -> dict[str, Any]:
    """``["std=0.02", "mode=fan_out"]`` → ``{"std": 0.02, "mode": "fan_out"}`` (values parsed as YAML scalars)."""
    import yaml

    result: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CLIError(f"{option} expects KEY=VALUE. Received: {item!r}", f"for example: {option} std=0.02")
        result[key.strip()] = yaml.safe_load(value)
    return result


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """``"3,32,32"`` → ``(3, 32, 32)``."""
    if text is None:
        return None
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise CLIError(f"--input-shape expects integers separated by commas. Received: {text!r}",
                       "for example: --input-shape 3,32,32") from None
    if not shape or min(shape) <= 0:
        raise CLIError(f"--input-shape needs positive sizes. Received: {text!r}")
    return shape


def to_jsonable(value: Any) -> Any:
    """Plain JSON types for dataclasses, tensors, numpy scalars, tuples; NaN/Inf become strings."""
    if is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bool | int | str) or value is None:
        return value
    if hasattr(value, "tolist"):
        return to_jsonable(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


def write_json(data: Any, stream: TextIO | None = None) -> None:
    """Write ``data`` as indented JSON and a newline to stdout."""
    out = stream or sys.stdout
    json.dump(to_jsonable(data), out, indent=2)
    out.write("\n")


Step = Callable[[str], None]


@contextlib.contextmanager
def progress(total: int, *, enabled: bool | None = None) -> Iterator[Step]:
    """A rich progress bar on stderr when it is a terminal (quiet when piped); yields ``step(description)``.

    Each call to ``step`` marks the previous step done and shows the next description.
    """
    show = sys.stderr.isatty() if enabled is None else enabled
    if not show:
        yield lambda description: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("starting", total=total)
        started = False

        def step(description: str) -> None:
            nonlocal started
            if started:
                bar.advance(task)
            started = True
            bar.update(task, description=description)

        yield step
        bar.update(task, completed=total)
