"""Package-level import checks: the distribution, its two seed-compatible top-level modules, and the exports."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    "module", ["weight_initialization_system", "custom_model_architectures", "weight_init_advanced_examples"]
)
def test_top_level_modules_import(module: str) -> None:
    imported = importlib.import_module(module)
    assert isinstance(imported.__all__, list)


def test_every_name_in_all_is_defined() -> None:
    for name in ("weight_initialization_system", "weight_initialization_system.initializers",
                 "weight_initialization_system.schemes"):
        module = importlib.import_module(name)
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert missing == [], f"{name}.__all__ names undefined attributes {missing}"


def test_weight_init_error_is_a_value_error() -> None:
    from weight_initialization_system import WeightInitError

    assert issubclass(WeightInitError, ValueError)


def test_package_is_typed() -> None:
    from importlib.resources import files

    assert files("weight_initialization_system").joinpath("py.typed").is_file()


def _fresh_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter on this checkout's sources (nothing imported yet)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.mark.slow
def test_importing_and_initializing_an_mlp_loads_neither_torch_distributed_tensor_nor_sympy() -> None:
    done = _fresh_python("""
        import sys
        import torch
        from torch import nn
        import weight_initialization_system as wis

        mlp = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
        wis.initialize_model(mlp, "kaiming_normal", seed=0)
        heavy = ["torch.distributed.tensor", "sympy", "matplotlib", "scipy", "transformers", "rich", "sklearn"]
        print(",".join(name for name in heavy if name in sys.modules))
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ""


@pytest.mark.slow
def test_dtensors_are_still_recognised_once_the_user_imports_torch_distributed_tensor() -> None:
    done = _fresh_python("""
        import torch
        import torch.distributed as dist
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.tensor import Shard, distribute_tensor
        from weight_initialization_system.initializers._common import is_dtensor
        from weight_initialization_system.schemes.seeding import local_region

        dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
        try:
            mesh = init_device_mesh("cpu", (1,))
            sharded = distribute_tensor(torch.zeros(6, 4), mesh, [Shard(0)])
            assert is_dtensor(sharded) and not is_dtensor(torch.zeros(6, 4))
            box = local_region(sharded)
            print(box.offset, box.size)
        finally:
            dist.destroy_process_group()
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "(0, 0) (6, 4)"
