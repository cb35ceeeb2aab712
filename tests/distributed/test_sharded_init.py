"""World-size invariance on a real engine: 2 and 4 gloo processes on loopback, FSDP2 and manual DTensor sharding.

Each rank initializes only its local shards; the gathered tensors must equal single-process init bitwise.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import dist_workers
import pytest
import torch.multiprocessing as mp

pytestmark = pytest.mark.slow  # starts 2 + 4 processes that each import torch.distributed

DEADLINE_S = 120


def _spawn(world: int, out_dir: Path) -> dict[str, Any]:
    # A fork server imports torch once; each rank is then forked from it, fresh of any thread pool.
    mp.set_forkserver_preload(["dist_workers"])
    context = mp.start_processes(dist_workers.run, args=(world, dist_workers.free_port(), str(out_dir)),
                                 nprocs=world, join=False, start_method="forkserver")
    deadline = time.monotonic() + DEADLINE_S
    try:
        while not context.join(timeout=1):
            if time.monotonic() > deadline:
                pytest.fail(f"{world} ranks did not finish within {DEADLINE_S} s")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.terminate()
    report: dict[str, Any] = json.loads((out_dir / f"report_{world}.json").read_text())
    return report


@pytest.fixture(scope="module", params=[2, 4], ids=["world2", "world4"])
def report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    result = _spawn(request.param, tmp_path_factory.mktemp(f"world{request.param}"))
    assert "error" not in result, result.get("error")
    return result


CASES = [f"{how}_{m}" for how in ("fsdp2_materialize", "tp_materialize") for m, _ in dist_workers.METHODS]
CASES += [f"{how}_{dist_workers.METHODS[0][0]}" for how in ("fsdp2_initialize", "tp_initialize")]


@pytest.mark.parametrize("case", CASES)
def test_gathered_shards_equal_single_process_init_bitwise(report: dict[str, Any], case: str) -> None:
    assert report[case] == []


def test_two_dimensional_mesh_rows_and_columns_equal_single_process(report: dict[str, Any]) -> None:
    if "mesh2d_materialize_trunc_normal" not in report:
        pytest.skip("the 2 x 2 mesh needs 4 ranks")
    assert report["mesh2d_materialize_trunc_normal"] == []


def test_guardrail_is_silent_after_keyed_init(report: dict[str, Any]) -> None:
    for method, _ in dist_workers.METHODS:
        assert report[f"tp_guardrail_after_ours_{method}"] == []


def test_guardrail_flags_every_sharded_parameter_after_torch_normal_on_cpu_mesh(report: dict[str, Any]) -> None:
    # torch 2.13 draws the same values on every rank of a CPU mesh: each sharded tensor is one block tiled.
    assert report["torch_normal_sharded"]
    assert report["torch_normal_tiled"] == report["torch_normal_sharded"]
    assert report["torch_normal_tiled_gathered"] == report["torch_normal_sharded"]
