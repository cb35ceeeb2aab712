"""``init_to_safetensors``: a meta model streamed to a file that safetensors loads and that equals materialize."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch
from dist_models import Net
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn
from torch.nn.utils import parametrizations

from weight_initialization_system.distributed import init_to_safetensors, materialize
from weight_initialization_system.errors import WeightInitError


def _on_meta(dtype: torch.dtype = torch.float32) -> Net:
    with torch.device("meta"):
        return Net().to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_streamed_file_equals_materialize_bitwise_and_loads_strictly(tmp_path: Path, dtype: torch.dtype) -> None:
    path = tmp_path / "init.safetensors"
    streamed = _on_meta(dtype)
    init_to_safetensors(streamed, path, "trunc_normal", std=0.02, seed=5)
    loaded = load_file(path)
    model = _on_meta(dtype)
    materialize(model, "trunc_normal", std=0.02, seed=5)
    state = model.state_dict()
    assert loaded.keys() == state.keys()  # tied weights under both names
    assert [k for k in state if not torch.equal(loaded[k], state[k])] == []
    fresh = Net().to(dtype)
    fresh.load_state_dict(loaded, strict=True)
    assert all(t.is_meta for t in streamed.parameters())  # the model itself stays on meta


def test_header_is_length_prefixed_aligned_json_with_seed_metadata(tmp_path: Path) -> None:
    path = tmp_path / "init.safetensors"
    result = init_to_safetensors(_on_meta(), path, "normal", metadata={"run": "a"})
    raw = path.read_bytes()
    length = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + length])
    assert length % 8 == 0
    assert header["__metadata__"] == {"format": "pt", "seed": str(result.seed), "method": "normal", "run": "a"}
    ends = sorted(entry["data_offsets"] for name, entry in header.items() if name != "__metadata__")
    assert ends[0][0] == 0 and all(a[1] == b[0] for a, b in itertools.pairwise(ends))
    assert ends[-1][1] == len(raw) - 8 - length
    with safe_open(str(path), framework="pt") as f:
        assert f.metadata()["seed"] == str(result.seed)


def test_invalid_initialization_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "init.safetensors"
    with pytest.raises(WeightInitError, match="Unknown initializer"):
        init_to_safetensors(_on_meta(), path, "nromal", seed=0)
    assert not path.exists()


def test_error_while_drawing_writes_nothing_and_keeps_an_existing_file(tmp_path: Path) -> None:
    # an argument value is only checked when values are drawn, after the header is written.
    path = tmp_path / "init.safetensors"
    with pytest.raises(WeightInitError, match=r"`std`"):
        init_to_safetensors(_on_meta(), path, "normal", seed=0, std=-1.0)
    assert list(tmp_path.iterdir()) == []
    path.write_bytes(b"previous")
    with pytest.raises(WeightInitError, match=r"`std`"):
        init_to_safetensors(_on_meta(), path, "normal", seed=0, std=-1.0)
    assert list(tmp_path.iterdir()) == [path] and path.read_bytes() == b"previous"


def test_parametrized_weights_are_refused(tmp_path: Path) -> None:
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(4, 4))
    parametrizations.weight_norm(model[0])
    with pytest.raises(WeightInitError, match="parametrized"):
        init_to_safetensors(model, tmp_path / "x.safetensors", "normal", seed=0)
