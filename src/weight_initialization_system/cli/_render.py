"""Rich tables on stdout: colour on a terminal, plain fixed-width text when piped (stable for golden tests)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["console", "fmt", "table"]

_PIPED_WIDTH = 140


def console() -> Console:
    """A console on stdout; when piped: no colour, no markup surprises, a fixed width."""
    if sys.stdout.isatty():
        return Console()
    return Console(file=sys.stdout, width=_PIPED_WIDTH, no_color=True, highlight=False, emoji=False,
                   color_system=None, soft_wrap=False)


def fmt(value: Any, digits: int = 4) -> str:
    """Numbers with ``digits`` significant digits (scientific below 1e-3), everything else ``str``."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.{max(digits - 1, 1)}e}"
        return f"{value:.{digits}g}"
    return str(value)


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]],
          *, numeric: Sequence[str] = ()) -> Table:
    """A rich table; columns named in ``numeric`` are right-aligned."""
    out = Table(title=title, title_justify="left", show_lines=False, header_style="bold")
    for column in columns:
        out.add_column(column, justify="right" if column in numeric else "left", overflow="fold")
    for row in rows:
        out.add_row(*(escape(fmt(v)) for v in row))  # names and docstrings may contain [brackets]
    return out
