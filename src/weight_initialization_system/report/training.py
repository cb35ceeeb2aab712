"""A few epochs of real training on scikit-learn's bundled digits (no download), for loss curves per initializer.

The digits are 1797 8×8 images (64 features, 10 classes) shipped inside scikit-learn. Features are
standardized with the training split's mean and std; the split (1437 train / 360 test) and the mini-batch
order are fixed by the seed, so every initializer sees exactly the same data in the same order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightInitError

__all__ = ["DigitsData", "TrainingCurve", "load_digits_data", "single_thread", "train"]

_TEST_FRACTION = 0.2


@dataclass(frozen=True)
class DigitsData:
    """Standardized digits: train/test tensors (float32 features, int64 labels)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def features(self) -> int:
        return int(self.x_train.shape[1])


@dataclass(frozen=True)
class TrainingCurve:
    """Loss per epoch on the training split (epoch 0 = before training) and test accuracy per epoch."""

    train_loss: list[float]
    test_accuracy: list[float]


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread inside the block, then restore the caller's setting.

    The comparison's networks are tiny (≈ 0.1 M parameters, batches of 64): intra-op threads only add
    synchronization, and on a busy 2-core machine they made training ~30× slower (7.9 s against 0.26 s for 8
    epochs, measured here with a load average of 6).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def load_digits_data(seed: int = 0) -> DigitsData:
    """scikit-learn's bundled digits, split 80/20 with ``seed`` and standardized on the training split."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise WeightInitError("Training curves need scikit-learn (its bundled digits data): "
                              "pip install scikit-learn") from None
    bunch = load_digits()
    x = torch.as_tensor(bunch.data, dtype=torch.float32)
    y = torch.as_tensor(bunch.target, dtype=torch.int64)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_test = int(len(x) * _TEST_FRACTION)
    test, train_idx = order[:n_test], order[n_test:]
    mean, std = x[train_idx].mean(0), x[train_idx].std(0).clamp_min(1e-6)
    return DigitsData((x[train_idx] - mean) / std, y[train_idx], (x[test] - mean) / std, y[test])


def _evaluate(model: nn.Module, data: DigitsData) -> tuple[float, float]:
    with torch.no_grad():
        loss = float(F.cross_entropy(model(data.x_train), data.y_train))
        accuracy = float((model(data.x_test).argmax(1) == data.y_test).float().mean())
    return loss, accuracy


def train(
    model: nn.Module,
    data: DigitsData,
    *,
    epochs: int = 8,
    batch_size: int = 64,
    lr: float = 0.05,
    seed: int = 0,
) -> TrainingCurve:
    """Train ``model`` (logits out) with plain SGD on cross-entropy; record the curve.

    Plain SGD, no momentum and no adaptive step, so that what the initialization does to the gradients shows in
    the curves instead of being corrected by the optimizer. A non-finite loss ends training early (the rest of
    the curve is ``inf``), as a diverging initialization would.
    """
    if epochs < 0:
        raise WeightInitError(f"Argument `epochs` must be >= 0. Received: epochs={epochs}")
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    loss, accuracy = _evaluate(model, data)
    losses, accuracies = [loss], [accuracy]
    model.train()
    for _ in range(epochs):
        if not torch.isfinite(torch.tensor(loss)):
            losses.append(float("inf"))
            accuracies.append(accuracies[-1])
            continue
        for batch in torch.split(torch.randperm(len(data.x_train), generator=generator), batch_size):
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(F.cross_entropy(model(data.x_train[batch]), data.y_train[batch]))
            optimizer.step()
        loss, accuracy = _evaluate(model, data)
        losses.append(loss)
        accuracies.append(accuracy)
    model.eval()
    return TrainingCurve(losses, accuracies)
