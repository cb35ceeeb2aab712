"""The registry and the contract every initializer keeps: names, aliases, errors, meta/empty tensors, dtypes."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from weight_initialization_system import WeightInitError
from weight_initialization_system.initializers import (
    dirac_,
    eye_,
    get_initializer,
    get_spec,
    list_initializers,
    normal_,
    orthogonal_,
    register_initializer,
    resolve_name,
    sparse_,
    trunc_normal_,
    uniform_,
    xavier_uniform_,
)

REQUIRED_KWARGS: dict[str, dict[str, Any]] = {"constant": {"val": 0.5}, "sparse": {"sparsity": 0.25}}


def shape_for(name: str) -> tuple[int, ...]:
    spec = get_spec(name)
    if spec.min_ndim >= 3:
        return (8, 4, 3, 3)
    return (12, 8)


@pytest.mark.parametrize("name", list_initializers())
def test_every_registered_initializer_fills_a_suitable_tensor(name: str) -> None:
    init = get_initializer(name, **REQUIRED_KWARGS.get(name, {}))
    tensor = torch.full(shape_for(name), math.nan)
    out = init(tensor, generator=torch.Generator().manual_seed(0))
    assert out is tensor
    assert torch.isfinite(tensor).all()
    if get_spec(name).random:
        again = init(torch.empty_like(tensor), generator=torch.Generator().manual_seed(0))
        assert torch.equal(again, tensor)


@pytest.mark.parametrize("name", list_initializers())
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64])
def test_every_initializer_works_in_every_float_dtype(name: str, dtype: torch.dtype) -> None:
    init = get_initializer(name, **REQUIRED_KWARGS.get(name, {}))
    tensor = torch.full(shape_for(name), math.nan, dtype=dtype)
    init(tensor, generator=torch.Generator().manual_seed(1))
    assert tensor.dtype == dtype
    assert torch.isfinite(tensor).all()


@pytest.mark.parametrize("name", list_initializers())
def test_meta_tensors_are_returned_untouched(name: str) -> None:
    tensor = torch.empty(shape_for(name), device="meta")
    out = get_initializer(name, **REQUIRED_KWARGS.get(name, {}))(tensor)
    assert out is tensor and out.is_meta


@pytest.mark.parametrize("name", list_initializers())
def test_zero_element_tensors_warn_and_return(name: str) -> None:
    shape = (0, *shape_for(name)[1:])
    tensor = torch.empty(shape)
    with pytest.warns(UserWarning, match="zero-element"):
        out = get_initializer(name, **REQUIRED_KWARGS.get(name, {}))(tensor)
    assert out is tensor


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [("glorot_uniform", "xavier_uniform"), ("glorot_normal", "xavier_normal"), ("he_uniform", "kaiming_uniform"),
     ("he_normal", "kaiming_normal"), ("truncated_normal", "trunc_normal"), ("xavier_uniform_", "xavier_uniform"),
     ("  He_Normal ", "kaiming_normal"), ("identity", "eye")],
)
def test_aliases_resolve(alias: str, canonical: str) -> None:
    assert resolve_name(alias) == canonical
    assert get_initializer(alias).spec is get_spec(canonical)


def test_list_initializers_with_aliases_is_a_sorted_superset() -> None:
    names, everything = list_initializers(), list_initializers(aliases=True)
    assert names == sorted(names) and everything == sorted(everything)
    assert set(names) < set(everything) and "glorot_uniform" in everything


def test_unknown_name_names_the_closest_match_and_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="Did you mean 'xavier_uniform'") as info:
        get_initializer("xavier_unifrom")
    assert isinstance(info.value, WeightInitError)
    for name in list_initializers(aliases=True):
        assert name in str(info.value)


def test_unknown_name_without_close_match_still_lists_names() -> None:
    with pytest.raises(WeightInitError, match=r"Unknown initializer 'qqqq'.*Available:") as info:
        get_initializer("qqqq")
    assert "Did you mean" not in str(info.value)


def test_bad_kwarg_names_it_and_lists_accepted_arguments() -> None:
    with pytest.raises(WeightInitError, match=r"'kaiming_normal' got unexpected argument\(s\) 'gian'.*accepts: a, "):
        get_initializer("kaiming_normal", gian=2.0)
    with pytest.raises(WeightInitError, match="no arguments"):
        get_initializer("zeros", val=1.0)


def test_a_callable_is_accepted_and_its_kwargs_checked() -> None:
    def halve_(tensor: torch.Tensor, factor: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
        return tensor.mul_(factor)

    init = get_initializer(halve_, factor=0.25)
    assert init.name == "halve" and init.spec.random
    assert torch.equal(init(torch.ones(3)), torch.full((3,), 0.25))
    with pytest.raises(WeightInitError, match="'bogus'"):
        get_initializer(halve_, bogus=1)


def test_register_initializer_adds_a_name_and_rejects_non_identifiers() -> None:
    def nines_(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.fill_(9.0)

    register_initializer("test_nines_registry", nines_, random=False)
    try:
        assert torch.equal(get_initializer("test_nines_registry")(torch.empty(2)), torch.full((2,), 9.0))
    finally:
        from weight_initialization_system.initializers import registry

        registry._REGISTRY.pop("test_nines_registry")
    with pytest.raises(WeightInitError, match="`name` must be an identifier"):
        register_initializer("not a name", nines_)


# Bad inputs: every message names the argument and echoes the value.
BAD_CALLS: list[tuple[str, Any, str]] = [
    ("normal_ negative std", lambda: normal_(torch.empty(3), std=-1.0), r"`std`.*std=-1\.0"),
    ("normal_ nan std", lambda: normal_(torch.empty(3), std=math.nan), r"`std`.*std=nan"),
    ("trunc_normal_ negative std", lambda: trunc_normal_(torch.empty(3), std=-0.1), r"`std`.*std=-0\.1"),
    ("trunc_normal_ zero std", lambda: trunc_normal_(torch.empty(3), std=0.0), r"`std`.*std=0\.0"),
    ("trunc_normal_ a>b", lambda: trunc_normal_(torch.empty(3), a=1.0, b=-1.0), r"a < b.*a=1\.0, b=-1\.0"),
    ("uniform_ a>b", lambda: uniform_(torch.empty(3), 2.0, 1.0), r"a <= b.*a=2\.0, b=1\.0"),
    ("sparse_ sparsity>1", lambda: sparse_(torch.empty(4, 4), 1.5), r"`sparsity`.*sparsity=1\.5"),
    ("sparse_ sparsity<0", lambda: sparse_(torch.empty(4, 4), -0.1), r"`sparsity`.*sparsity=-0\.1"),
    ("sparse_ negative std", lambda: sparse_(torch.empty(4, 4), 0.1, std=-1.0), r"`std`.*std=-1\.0"),
    ("eye_ 3-D", lambda: eye_(torch.empty(2, 2, 2)), r"eye_ needs a tensor with 2 dimensions.*\(2, 2, 2\)"),
    ("dirac_ 2-D", lambda: dirac_(torch.empty(2, 2)), r"dirac_ needs a tensor with 3 to 5 dimensions"),
    ("dirac_ groups", lambda: dirac_(torch.empty(6, 2, 3), groups=4), r"`groups`.*groups=4"),
    ("orthogonal_ 1-D", lambda: orthogonal_(torch.empty(5)), r"orthogonal_ needs .*at least 2.*\(5,\)"),
    ("xavier 1-D", lambda: xavier_uniform_(torch.empty(5)), r"fewer than 2 dimensions.*\(5,\)"),
    ("xavier gain", lambda: xavier_uniform_(torch.empty(3, 3), gain=-1.0), r"`gain`.*gain=-1\.0"),
    ("xavier fans", lambda: xavier_uniform_(torch.empty(3, 3), fans=(0, 3)), r"`fans`.*fans=\(0, 3\)"),
    ("kaiming mode", lambda: get_initializer("kaiming_normal", mode="fan_avg")(torch.empty(3, 3)),
     r"`mode`.*'fan_in', 'fan_out'.*mode='fan_avg'"),
    ("variance_scaling distribution", lambda: get_initializer("variance_scaling", distribution="normall")(
        torch.empty(3, 3)), r"`distribution`.*Did you mean 'normal'"),
    ("int tensor", lambda: normal_(torch.zeros(3, dtype=torch.int64)), r"floating-point.*dtype=torch\.int64"),
    ("not a tensor", lambda: normal_([1.0, 2.0]), r"expects a torch\.Tensor.*list"),
]


@pytest.mark.parametrize(("label", "call", "message"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_inputs_raise_weight_init_error_naming_the_argument(label: str, call: Any, message: str) -> None:
    with pytest.raises(WeightInitError, match=message):
        call()


FLOAT_DTYPES = st.sampled_from([torch.float32, torch.float64, torch.bfloat16, torch.float16])
SHAPES = st.lists(st.integers(1, 9), min_size=2, max_size=4).map(tuple)


@settings(max_examples=40, deadline=None)
@given(shape=SHAPES, dtype=FLOAT_DTYPES, seed=st.integers(0, 2**31))
def test_bounded_initializers_respect_their_bounds_for_any_shape_and_dtype(
    shape: tuple[int, ...], dtype: torch.dtype, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    # half precision rounds the float32 result once: allow one unit in the last place at the bound
    slack = 1 + torch.finfo(dtype).eps
    u = uniform_(torch.empty(shape, dtype=dtype), -0.3, 0.3, generator=g)
    assert u.abs().max() <= 0.3 * slack
    t = trunc_normal_(torch.empty(shape, dtype=dtype), 0.0, 0.02, -0.04, 0.04, generator=g)
    assert torch.isfinite(t).all() and t.abs().max() <= 0.04 * slack
    x = xavier_uniform_(torch.empty(shape, dtype=dtype), generator=g)
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(x)
    assert x.abs().max() <= math.sqrt(6 / (fan_in + fan_out)) * slack


@settings(max_examples=40, deadline=None)
@given(shape=SHAPES, seed=st.integers(0, 2**31))
def test_orthogonal_for_any_shape(shape: tuple[int, ...], seed: int) -> None:
    w = orthogonal_(torch.empty(shape, dtype=torch.float64), generator=torch.Generator().manual_seed(seed))
    m = w.reshape(shape[0], -1)
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    assert torch.allclose(gram, torch.eye(min(m.shape), dtype=torch.float64), atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(std=st.floats(max_value=0.0, exclude_max=True, allow_nan=False) | st.just(math.nan))
def test_any_non_positive_std_is_rejected_with_its_value(std: float) -> None:
    with pytest.raises(WeightInitError, match="`std`"):
        trunc_normal_(torch.empty(3), std=std)


@settings(max_examples=30, deadline=None)
@given(sparsity=st.floats(allow_nan=False).filter(lambda s: not 0.0 <= s <= 1.0))
def test_any_sparsity_outside_unit_interval_is_rejected(sparsity: float) -> None:
    with pytest.raises(WeightInitError, match="`sparsity`"):
        sparse_(torch.empty(3, 3), sparsity)
