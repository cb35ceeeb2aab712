"""Cost of tracing a model's graph against one plain forward pass, and a meta trace of a 7B-parameter Llama.

Goals (the model-graph issue): a trace costs at most 2x one forward pass on the same sample; a 7B-parameter
Llama config traced on the meta device in at most 10 s and 1 GiB peak RSS.

- ratio: ``trace(model, sample)`` against ``model(**sample)`` under ``torch.no_grad()``, interleaved in the
  same process, medians (and minima) over ``--repeats`` rounds, on tiny-config Hugging Face models (hidden
  256, 4 layers, batch 2 x 64 tokens) and our own models.
- 7B: a fresh interpreter builds ``LlamaForCausalLM`` (Llama-2-7B shape) on the meta device and traces it
  with ``device="meta"``; the wall time of the trace and the process's peak RSS are reported.

A table on stdout and JSON in ``benchmarks/results/trace_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import torch
from _timing import interleaved

from weight_initialization_system.graph import trace
from weight_initialization_system.models import CustomCNNModel, CustomTransformerModel

_SEVEN_B = textwrap.dedent("""
    import json, resource, time, torch, transformers
    from weight_initialization_system.graph import trace
    config = transformers.LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                                      num_attention_heads=32, num_key_value_heads=32, vocab_size=32000)
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(config)
    params = sum(p.numel() for p in model.parameters())
    start = time.perf_counter()
    graph = trace(model, device="meta")
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({"params": params, "trace_s": seconds, "peak_rss_gib": peak,
                      "weight_layers": len(graph.weights), "residual_adds": len(graph.residuals)}))
""")


def _models() -> dict[str, tuple[torch.nn.Module, Any]]:
    import transformers

    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 1000, (2, 64), generator=g)
    small = dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=8,
                 vocab_size=1000)
    out: dict[str, tuple[torch.nn.Module, Any]] = {
        "llama": (transformers.LlamaForCausalLM(transformers.LlamaConfig(**small)), {"input_ids": ids}),
        "gpt2": (transformers.GPT2LMHeadModel(transformers.GPT2Config(n_embd=256, n_layer=4, n_head=8,
                                                                      vocab_size=1000)), {"input_ids": ids}),
        "bert": (transformers.BertModel(transformers.BertConfig(**small)), {"input_ids": ids}),
        "our transformer": (CustomTransformerModel(1000, 256, 8, 4), (ids,)),
        "our cnn": (CustomCNNModel(3, 10), (torch.randn(8, 3, 32, 32, generator=g),)),
    }
    for model, _ in out.values():
        model.eval()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--skip-7b", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows: dict[str, dict[str, float]] = {}
    for name, (model, sample) in _models().items():

        def forward(model: torch.nn.Module = model, sample: Any = sample) -> None:
            with torch.no_grad():
                model(**sample) if isinstance(sample, dict) else model(*sample)

        def traced(model: torch.nn.Module = model, sample: Any = sample) -> None:
            trace(model, sample)

        t = interleaved({"forward": forward, "trace": traced}, args.repeats)
        rows[name] = {"forward_s": t["forward"]["median_s"], "trace_s": t["trace"]["median_s"],
                      "ratio": t["trace"]["median_s"] / t["forward"]["median_s"],
                      "ratio_min": t["trace"]["min_s"] / t["forward"]["min_s"]}
    print(f"{'model':<18}{'forward':>10}{'trace':>10}{'ratio':>8}{'(min)':>8}   goal <= 2x")
    for name, r in rows.items():
        print(f"{name:<18}{r['forward_s'] * 1e3:>8.1f}ms{r['trace_s'] * 1e3:>8.1f}ms{r['ratio']:>8.2f}"
              f"{r['ratio_min']:>8.2f}")
    result: dict[str, Any] = {"machine": platform.platform(), "threads": 2, "models": rows}
    if not args.skip_7b:
        src = str(Path(__file__).resolve().parents[1] / "src")
        done = subprocess.run([sys.executable, "-c", _SEVEN_B], capture_output=True, text=True, check=True,
                              env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"})
        seven = json.loads(done.stdout.strip().splitlines()[-1])
        result["llama_7b_meta"] = seven
        print(f"\nLlama 7B ({seven['params'] / 1e9:.2f}B parameters) on meta: trace {seven['trace_s']:.2f} s "
              f"(goal <= 10 s), peak RSS {seven['peak_rss_gib']:.2f} GiB (goal <= 1 GiB), "
              f"{seven['weight_layers']} weight layers, {seven['residual_adds']} residual additions")
    out = Path(__file__).resolve().parent / "results" / "trace_speed.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
