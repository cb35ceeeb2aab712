"""Meta-device materialization, streamed init and sharded init on a ~1.1B-parameter Llama-shaped decoder.

Run it under ``flock /tmp/bench.lock python3 benchmarks/materialize_speed.py`` (other jobs share the cores).

The model is built in code (no download): TinyLlama-1.1B's shapes, d = 2048, 22 layers, 32 heads with 4 KV
heads, SwiGLU 5632, vocab 32000, untied output, RMSNorm, a rotary cache as a non-persistent buffer. Every
measurement runs in a fresh subprocess; wall time covers construction + initialization (imports excluded),
peak RSS is the child's ``ru_maxrss``, and the RSS after imports is reported beside it.

(a) torch's usual path: construct on CPU (constructor default init), then re-initialize every Linear and
    Embedding weight with ``torch.nn.init.trunc_normal_(w, std=0.02)`` (torchtitan's call).
(a') torchtitan's meta path: construct on meta, ``to_empty(device="cpu")``, rotary cache recomputed, then
    the same ``trunc_normal_`` calls.
(b) ours: construct on meta, ``materialize(model, "trunc_normal", std=0.02, seed=0)``.
(c) ours, streamed: ``init_to_safetensors`` of the meta model to a file (peak RSS ≈ the largest tensor).
(d) per-rank ``materialize`` time of an FSDP2-sharded ~0.4B model (d = 1024, 24 layers) at world sizes
    1, 2, 4 over gloo on loopback, with ``max(1, cores // world)`` threads per rank.

Targets (issue 5): (b) ≤ 0.5x (a) in time, peak RSS of (b) ≤ 1.1x the parameter bytes.
A table on stdout and JSON in ``benchmarks/results/materialize_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

RESULTS = Path(__file__).parent / "results" / "materialize_speed.json"


@dataclass(frozen=True)
class LlamaConfig:
    vocab: int = 32000
    dim: int = 2048
    layers: int = 22
    heads: int = 32
    kv_heads: int = 4
    ffn: int = 5632


CONFIGS = {"llama1b": LlamaConfig(), "llama400m": LlamaConfig(dim=1024, layers=24, heads=16, kv_heads=4, ffn=2816)}


class Rotary(nn.Module):
    def __init__(self, head_dim: int, positions: int = 2048) -> None:
        super().__init__()
        self.head_dim, self.positions = head_dim, positions
        self.register_buffer("freqs", torch.empty(positions, head_dim // 2), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        inv = 1.0 / 10000 ** (torch.arange(0, self.head_dim, 2, device=self.freqs.device) / self.head_dim)
        with torch.no_grad():
            self.freqs.copy_(torch.outer(torch.arange(self.positions, device=self.freqs.device), inv))


class Attention(nn.Module):
    def __init__(self, c: LlamaConfig) -> None:
        super().__init__()
        kv = c.dim // c.heads * c.kv_heads
        self.wq, self.wk = nn.Linear(c.dim, c.dim, bias=False), nn.Linear(c.dim, kv, bias=False)
        self.wv, self.wo = nn.Linear(c.dim, kv, bias=False), nn.Linear(c.dim, c.dim, bias=False)


class FeedForward(nn.Module):
    def __init__(self, c: LlamaConfig) -> None:
        super().__init__()
        self.w1, self.w3 = nn.Linear(c.dim, c.ffn, bias=False), nn.Linear(c.dim, c.ffn, bias=False)
        self.w2 = nn.Linear(c.ffn, c.dim, bias=False)


class Layer(nn.Module):
    def __init__(self, c: LlamaConfig) -> None:
        super().__init__()
        self.attention_norm, self.attention = nn.RMSNorm(c.dim), Attention(c)
        self.ffn_norm, self.feed_forward = nn.RMSNorm(c.dim), FeedForward(c)


class Llama(nn.Module):
    def __init__(self, c: LlamaConfig) -> None:
        super().__init__()
        self.tok_embeddings = nn.Embedding(c.vocab, c.dim)
        self.rope = Rotary(c.dim // c.heads)
        self.layers = nn.ModuleList(Layer(c) for _ in range(c.layers))
        self.norm = nn.RMSNorm(c.dim)
        self.output = nn.Linear(c.dim, c.vocab, bias=False)


def rss_now() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def torch_reinit(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.trunc_normal_(module.weight, std=0.02)


def child(mode: str, config: str, path: str | None) -> dict[str, Any]:
    from weight_initialization_system.distributed import init_to_safetensors, materialize

    c = CONFIGS[config]
    baseline = rss_now()
    start = time.perf_counter()
    if mode == "a":
        model = Llama(c)
        torch_reinit(model)
    elif mode == "a_meta":
        with torch.device("meta"):
            model = Llama(c)
        model.to_empty(device="cpu")
        model.rope.reset_parameters()
        for module in model.modules():
            if isinstance(module, nn.RMSNorm):
                module.reset_parameters()
        torch_reinit(model)
    elif mode == "b":
        with torch.device("meta"):
            model = Llama(c)
        materialize(model, "trunc_normal", std=0.02, seed=0)
    elif mode == "c":
        with torch.device("meta"):
            model = Llama(c)
        assert path is not None
        init_to_safetensors(model, path, "trunc_normal", std=0.02, seed=0)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    seconds = time.perf_counter() - start
    params = sum(p.numel() for p in model.parameters())
    return {"seconds": seconds, "peak_rss": peak_rss(), "rss_after_imports": baseline, "params": params,
            "param_bytes": params * 4}


def rank_main(rank: int, world: int, port: int, config: str) -> dict[str, Any]:
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    from weight_initialization_system.distributed import materialize

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    mesh = init_device_mesh("cpu", (world,))
    with torch.device("meta"):
        model = Llama(CONFIGS[config])
    for layer in model.layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    dist.barrier()
    start = time.perf_counter()
    materialize(model, "trunc_normal", std=0.02, seed=0)
    seconds = time.perf_counter() - start
    local = sum(p.to_local().numel() for p in model.parameters())  # type: ignore[operator]
    dist.barrier()
    dist.destroy_process_group()
    return {"rank": rank, "seconds": seconds, "local_params": local, "peak_rss": peak_rss()}


def run_child(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True,
                         timeout=900)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_world(world: int, config: str) -> list[dict[str, Any]]:
    port = str(free_port())
    procs = [subprocess.Popen([sys.executable, __file__, "--rank", str(r), "--world", str(world), "--port", port,
                               "--config", config], stdout=subprocess.PIPE, text=True) for r in range(world)]
    results = []
    for proc in procs:
        stdout, _ = proc.communicate(timeout=900)
        if proc.returncode:
            raise SystemExit(f"rank failed with {proc.returncode}")
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    return results


def gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--config", default="llama1b", choices=sorted(CONFIGS))
    parser.add_argument("--child", choices=["a", "a_meta", "b", "c"])
    parser.add_argument("--path")
    parser.add_argument("--rank", type=int)
    parser.add_argument("--world", type=int)
    parser.add_argument("--port", type=int)
    parser.add_argument("--skip-distributed", action="store_true")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.config, args.path)))
        return
    if args.rank is not None:
        print(json.dumps(rank_main(args.rank, args.world, args.port, args.config)))
        return

    runs: dict[str, list[dict[str, Any]]] = {"a": [], "a_meta": [], "b": [], "c": []}
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        path = os.path.join(tmp, "init.safetensors")
        for _ in range(args.repeats):
            for mode in ("a", "a_meta", "b"):
                runs[mode].append(run_child("--child", mode, "--config", args.config))
        runs["c"].append(run_child("--child", "c", "--config", args.config, "--path", path))
        file_bytes = os.path.getsize(path)
    summary = {mode: {"median_s": statistics.median(r["seconds"] for r in rs),
                      "peak_rss": max(r["peak_rss"] for r in rs),
                      "rss_after_imports": statistics.median(r["rss_after_imports"] for r in rs)}
               for mode, rs in runs.items()}
    param_bytes = runs["b"][0]["param_bytes"]
    with torch.device("meta"):
        largest = max(p.numel() * p.element_size() for p in Llama(CONFIGS[args.config]).parameters())

    print(f"{args.config}: {runs['b'][0]['params'] / 1e9:.3f}B parameters = {gib(param_bytes)} float32; "
          f"largest tensor {gib(largest)}; {torch.get_num_threads()} threads")
    labels = {"a": "(a) CPU default init + torch trunc_normal_", "a_meta": "(a') meta + to_empty + trunc_normal_",
              "b": "(b) meta + materialize", "c": "(c) meta + init_to_safetensors"}
    print(f"\n{'path':<44} {'median s':>9} {'x (a)':>7} {'peak RSS':>11} {'/ params':>9} {'- imports':>11}")
    for mode, s in summary.items():
        print(f"{labels[mode]:<44} {s['median_s']:>9.2f} {s['median_s'] / summary['a']['median_s']:>7.2f} "
              f"{gib(s['peak_rss']):>11} {s['peak_rss'] / param_bytes:>9.2f} "
              f"{gib(s['peak_rss'] - s['rss_after_imports']):>11}")
    print(f"safetensors file: {gib(file_bytes)}")

    sharded: dict[str, Any] = {}
    if not args.skip_distributed:
        head = f"{'ranks':>5} {'max s/rank':>11} {'mean s':>8} {'local params':>13}"
        print(f"\n{'FSDP2 llama400m, materialize':<30} {head}")
        for world in (1, 2, 4):
            ranks = run_world(world, "llama400m")
            sharded[str(world)] = ranks
            print(f"{'':<30} {world:>5} {max(r['seconds'] for r in ranks):>11.2f} "
                  f"{statistics.mean(r['seconds'] for r in ranks):>8.2f} {ranks[0]['local_params']:>13,}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "config": asdict(CONFIGS[args.config]), "param_bytes": param_bytes, "largest_tensor_bytes": largest,
        "threads": torch.get_num_threads(), "torch": torch.__version__, "runs": runs, "summary": summary,
        "time_ratio_b_over_a": summary["b"]["median_s"] / summary["a"]["median_s"],
        "peak_rss_b_over_param_bytes": summary["b"]["peak_rss"] / param_bytes,
        "safetensors_file_bytes": file_bytes, "sharded_per_rank": sharded,
    }, indent=2))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
