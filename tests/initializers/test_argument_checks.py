"""Argument checks reject non-numbers and non-finite numbers with a WeightInitError, never a TypeError."""

import math

import pytest
import torch

from weight_initialization_system import WeightInitError, normal_, trunc_normal_


@pytest.mark.parametrize("bad", ["0.02", None, math.inf, math.nan, -1.0, True])
def test_std_that_is_not_a_finite_positive_number_is_rejected_by_name(bad: object) -> None:
    with pytest.raises(WeightInitError, match=r"`std` must be a positive number. Received: std="):
        trunc_normal_(torch.empty(4, 4), std=bad)  # type: ignore[arg-type]


def test_zero_std_is_allowed_where_documented() -> None:
    assert torch.equal(normal_(torch.empty(3), mean=1.5, std=0.0), torch.full((3,), 1.5))
