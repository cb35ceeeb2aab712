"""What a model-level initialization did, per parameter."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["InitResult", "ParamInit"]


@dataclass(frozen=True)
class ParamInit:
    """How one parameter was initialized.

    Attributes:
        name: the qualified parameter name (the effective name for parametrized weights, e.g. ``0.weight``).
        module_type: the class name of the owning module.
        initializer: the registry name of the initializer used.
        kwargs: the arguments it was called with (besides ``fans`` and ``generator``).
        fans: ``(fan_in, fan_out)`` passed to fan-based initializers, ``None`` otherwise.
        blocks: how many blocks along dim 0 were initialized separately (LSTM gates, q/k/v).
        reason: why this initializer and these arguments.
    """

    name: str
    module_type: str
    initializer: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    fans: tuple[int, int] | None = None
    blocks: int = 1
    reason: str = ""


@dataclass
class InitResult:
    """The outcome of :func:`initialize_model` and of every scheme.

    Attributes:
        method: the method or scheme name.
        seed: the base seed used (drawn from torch's global generator when none was given), so that any run
            can be reproduced with ``initialize_model(..., seed=result.seed)``.
        initialized: parameter name → :class:`ParamInit`, in module order.
        skipped: parameter name → why it was left alone (unknown kind, frozen, excluded, ...).
        tied: alias name → the canonical name it shares storage with (initialized once).
    """

    method: str
    seed: int | None
    initialized: dict[str, ParamInit] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    tied: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> ParamInit:
        return self.initialized[name]

    def __contains__(self, name: object) -> bool:
        return name in self.initialized

    def __iter__(self) -> Iterator[str]:
        return iter(self.initialized)

    def __len__(self) -> int:
        return len(self.initialized)

    def merge(self, other: InitResult) -> InitResult:
        """Combine with a later result: later decisions win, skips resolved by ``other`` are dropped."""
        initialized = {**self.initialized, **other.initialized}
        skipped = {k: v for k, v in {**self.skipped, **other.skipped}.items() if k not in initialized}
        return InitResult(f"{self.method}+{other.method}", other.seed, initialized, skipped,
                          {**self.tied, **other.tied})

    def to_rows(self) -> list[dict[str, Any]]:
        """One plain dict per parameter (initialized and skipped), for tables and JSON."""
        rows: list[dict[str, Any]] = [
            {"name": p.name, "module": p.module_type, "initializer": p.initializer, "kwargs": p.kwargs,
             "fans": p.fans, "blocks": p.blocks, "reason": p.reason}
            for p in self.initialized.values()
        ]
        rows += [{"name": n, "module": "", "initializer": "skipped", "kwargs": {}, "fans": None, "blocks": 1,
                  "reason": why} for n, why in self.skipped.items()]
        return rows

    def summary(self) -> str:
        """A plain-text table of what was done."""
        lines = [f"{'parameter':<48} {'initializer':<18} {'fans':<14} reason"]
        for row in self.to_rows():
            fans = "" if row["fans"] is None else f"{row['fans'][0]}/{row['fans'][1]}"
            lines.append(f"{row['name']:<48} {row['initializer']:<18} {fans:<14} {row['reason']}")
        return "\n".join(lines)
