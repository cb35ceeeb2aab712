"""The library's one exception type for user errors."""

from __future__ import annotations

__all__ = ["WeightInitError"]


class WeightInitError(ValueError):
    """A user error: a bad argument, an unknown name, a model we cannot handle.

    Subclasses :class:`ValueError`, so ``except ValueError`` keeps working. Messages name the argument,
    echo the value and say what would be valid.
    """
