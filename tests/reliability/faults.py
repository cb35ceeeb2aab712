"""Fault injection and exact snapshots for the reliability tests.

``inject`` makes the n-th call of a patched callable raise; ``model_snapshot`` / ``folder_snapshot`` capture
everything an all-or-nothing operation promises to leave alone, bitwise.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

#: The failures every write point is tested with: an ordinary error, out of memory, and Ctrl-C.
FAILURES: tuple[type[BaseException], ...] = (RuntimeError, MemoryError, KeyboardInterrupt)


class Injected:
    """Counts the calls of one patched callable and raises ``failure`` at call number ``at`` (1-based)."""

    def __init__(self, failure: type[BaseException] | None = None, at: int = 0) -> None:
        self.failure, self.at, self.calls = failure, at, 0
        self.raised: BaseException | None = None
        self.lock = threading.Lock()  # the commit may copy on several threads

    def wrap(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def patched(*args: Any, **kwargs: Any) -> Any:
            if args and isinstance(args[0], torch.Tensor) and args[0].is_meta:
                # a write into a meta tensor stores no data (the graph's stand-ins on the meta device):
                # it cannot change a model, so it is not a write point
                return original(*args, **kwargs)
            with self.lock:
                self.calls += 1
                fail = self.failure is not None and self.calls == self.at
                if fail:
                    self.raised = self.failure(f"injected at call {self.at}")  # type: ignore[misc]
            if fail:
                raise self.raised  # type: ignore[misc]
            return original(*args, **kwargs)

        return patched


@contextlib.contextmanager
def inject(owner: Any, attribute: str, failure: type[BaseException] | None = None,
           at: int = 0) -> Iterator[Injected]:
    """Patch ``owner.attribute`` so that its ``at``-th call raises ``failure`` (only count when ``None``)."""
    counter = Injected(failure, at)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(owner, attribute, counter.wrap(getattr(owner, attribute)))
        yield counter


def count_calls(owner: Any, attribute: str, operation: Callable[[], Any]) -> int:
    """How many times ``operation`` calls ``owner.attribute``."""
    with inject(owner, attribute) as counter:
        operation()
    return counter.calls


def assert_raised_injected(error: BaseException, counter: Injected) -> None:
    """``error`` is the injected failure, or wraps it (a ``WeightInitError`` ``from`` it)."""
    assert counter.raised is not None, "the fault was never injected"
    if isinstance(counter.raised, KeyboardInterrupt):
        assert error is counter.raised  # never swallowed or wrapped
        return
    chain: list[BaseException] = []
    cause: BaseException | None = error
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    assert counter.raised in chain, f"unexpected {type(error).__name__}: {error}"


def run_failing(operation: Callable[[], Any], owner: Any, attribute: str, failure: type[BaseException],
                at: int) -> None:
    """Run ``operation`` with the ``at``-th call of ``owner.attribute`` failing; it must raise that failure."""
    with inject(owner, attribute, failure, at) as counter:
        try:
            operation()
        except BaseException as error:  # KeyboardInterrupt too: it is what is being tested
            assert_raised_injected(error, counter)
        else:
            pytest.fail(f"{attribute} call {at} raised {failure.__name__} but the operation succeeded")


def _bits(t: torch.Tensor) -> torch.Tensor:
    """The raw bytes of a tensor (NaN payloads and -0.0 compare exactly)."""
    if t.is_meta:
        return torch.empty(0, dtype=torch.uint8)
    return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).clone()


def _tensor_record(t: torch.Tensor) -> tuple[Any, ...]:
    return (type(t), t.dtype, t.device, tuple(t.shape), t.stride(), t.requires_grad,
            None if t.is_meta else t.data_ptr(), _bits(t))


def _hooks(module: nn.Module) -> tuple[Any, ...]:
    names = sorted(k for k, v in vars(module).items() if "hook" in k and isinstance(v, dict))
    return tuple((name, tuple(getattr(module, name).items())) for name in names)


def model_snapshot(model: nn.Module) -> dict[str, Any]:
    """Every parameter and buffer (values, identity, storage, ``requires_grad``), every module's class,
    ``training`` flag, children and hooks, and ``state_dict`` keys."""
    modules: dict[str, Any] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        modules[name] = (
            type(module), id(module), module.training, tuple(module._modules),
            tuple((k, id(v), None if v is None else _tensor_record(v)) for k, v in module._parameters.items()),
            tuple((k, id(v), None if v is None else _tensor_record(v)) for k, v in module._buffers.items()),
            _hooks(module),
        )
    return {"modules": modules, "keys": tuple(model.state_dict())}


def assert_same_model(before: dict[str, Any], model: nn.Module) -> None:
    """``model`` is exactly as ``before`` recorded it; the message names the first difference."""
    after = model_snapshot(model)
    assert after["keys"] == before["keys"], "state_dict keys changed"
    assert after["modules"].keys() == before["modules"].keys(), "modules added or removed"
    fields = ("class", "identity", "training", "children", "parameters", "buffers", "hooks")
    for name, then in before["modules"].items():
        for field, a, b in zip(fields, then, after["modules"][name], strict=True):
            if field in ("parameters", "buffers"):
                _assert_same_tensors(f"{name}.{field}", a, b)
            else:
                assert a == b, f"module {name!r}: {field} changed from {a!r} to {b!r}"


_TENSOR_FIELDS = ("type", "dtype", "device", "shape", "stride", "requires_grad", "data_ptr", "bytes")


def _assert_same_tensors(where: str, a: tuple[Any, ...], b: tuple[Any, ...]) -> None:
    assert [(k, i) for k, i, _ in a] == [(k, i) for k, i, _ in b], f"{where}: tensors replaced or renamed"
    for (key, _, then), (_, _, now) in zip(a, b, strict=True):
        if then is None or now is None:
            assert then is now, f"{where}[{key!r}] changed to/from None"
            continue
        for field, x, y in zip(_TENSOR_FIELDS, then, now, strict=True):
            same = torch.equal(x, y) if field == "bytes" else x == y
            assert same, f"{where}[{key!r}]: {field} changed" + ("" if field == "bytes" else f" ({x!r} -> {y!r})")


def folder_snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (``None``) under ``folder``, with permissions of files."""
    found: dict[str, bytes | None] = {}
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            found[os.path.relpath(os.path.join(root, d), folder)] = None
        for f in files:
            path = Path(root, f)
            found[os.path.relpath(path, folder)] = path.read_bytes() + oct(path.stat().st_mode).encode()
    return found
