"""``transformers:TYPE`` at the command line: small configs by default, overrides, full size on the meta device."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from weight_initialization_system.cli import main
from weight_initialization_system.cli._hf import build_config, parse_overrides
from weight_initialization_system.report.training import single_thread

ROOT = Path(__file__).resolve().parents[2]
needs_transformers = pytest.mark.skipif(importlib.util.find_spec("transformers") is None,
                                        reason="transformers is not installed")

#: A small config stays far below this many parameters (each of the five below has under 0.35M).
SMALL_BOUND = 1_000_000
#: Peak resident memory of ``analyze transformers:llama --full-size``; float32 weights would take 27 GB.
FULL_SIZE_RSS_BOUND = 2 * 1024**3


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """The small configs have < 0.35M parameters: intra-op threads only add synchronization, and on a busy
    2-core machine (load average 6) they made this module 5x slower (66 s against 12 s)."""
    with single_thread():
        yield


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _parameters(line: str) -> int:
    found = re.match(r"\S+: ([\d,]+)", line)
    assert found, line
    return int(found.group(1).replace(",", ""))


@pytest.fixture(scope="module")
def full_size_llama() -> Iterator[subprocess.Popen[str]]:
    """``analyze transformers:llama --full-size --format json`` in a child process that prints its peak RSS
    (bytes) last on stderr. The tests below start it early so that it runs beside them (most of its time is
    the meta-device trace)."""
    script = ("import resource, sys\nfrom weight_initialization_system.cli import main\n"
              "status = main(['analyze', 'transformers:llama', '--full-size', '--format', 'json'])\n"
              "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, file=sys.stderr)\n"
              "sys.exit(status)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
    yield child
    if child.poll() is None:
        child.kill()
        child.communicate()


@needs_transformers
@pytest.mark.usefixtures("full_size_llama")
@pytest.mark.parametrize("model_type", ["llama", "t5", "vit", "whisper", "resnet"])
def test_analyze_builds_a_small_config_with_a_sample_for_its_modality(capsys: pytest.CaptureFixture[str],
                                                                      model_type: str) -> None:
    status, out, err = _run(capsys, "analyze", f"transformers:{model_type}", "--batch-size", "2")
    assert status == 0, err
    assert "Error" not in err
    first = out.splitlines()[0]
    assert _parameters(first) < SMALL_BOUND and "from a small config" in first
    assert re.search(r"^quality \d\.\d\d · gradient health", out, re.MULTILINE)  # the verdict line


@needs_transformers
def test_config_override_changes_the_layer_count(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(capsys, "analyze", "transformers:llama", "--config-override", "num_hidden_layers=3",
                            "--batch-size", "2", "--format", "json")
    assert status == 0, err
    data = json.loads(out)
    layers = {m.group(1) for w in data["weights"] if (m := re.match(r"model\.layers\.(\d+)\.", w["name"]))}
    assert layers == {"0", "1", "2"}
    assert "num_hidden_layers=3" in data["built"]


@pytest.mark.slow
@needs_transformers
def test_full_size_llama_is_analyzed_on_the_meta_device_in_little_memory(
        full_size_llama: subprocess.Popen[str]) -> None:
    stdout, stderr = full_size_llama.communicate(timeout=300)
    assert full_size_llama.returncode == 0, stderr
    peak = int(stderr.strip().splitlines()[-1])
    assert peak < FULL_SIZE_RSS_BOUND, f"peak RSS {peak / 2**30:.2f} GiB"
    data = json.loads(stdout)
    assert 6.6e9 < data["parameters"] < 6.8e9
    assert data["full_size"] and data["traced"] and "need real weights" in data["statistics"]
    roles = {row["name"]: row["role"] for row in data["layers"]}
    assert roles["lm_head.weight"] == "weight" and roles["model.norm.weight"] == "norm_scale"


@needs_transformers
def test_full_size_human_output_says_statistics_need_real_weights(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(capsys, "analyze", "transformers:llama", "--full-size", "--config-override",
                            "num_hidden_layers=1")
    assert status == 0, err
    # one layer of the 4096-wide default: embedding and head, 4 attention and 3 MLP projections, 3 RMSNorms
    assert _parameters(out.splitlines()[0]) == 2 * 32000 * 4096 + 4 * 4096**2 + 3 * 4096 * 11008 + 3 * 4096
    assert "meta device" in out and "statistics need real weights" in out
    assert "model.layers.0.mlp.down_proj.weight" in out and "quality" not in out


@needs_transformers
@pytest.mark.parametrize(
    ("argv", "message", "hint"),
    [
        (["--config-override", "num_hidden_layerz=3"],
         "Unknown config key 'num_hidden_layerz' for transformers:llama. Did you mean 'num_hidden_layers'", "e.g."),
        (["--config-override", "num_hidden_layers=three"], "must be an integer (the default is 32)",
         "num_hidden_layers=32"),
        (["--config-override", "num_attention_heads=3"], "could not build 'llama' with num_attention_heads=3",
         "--config-override"),
        (["--config-override", "num_hidden_layers"], "--config-override expects KEY=VALUE", "num_hidden_layers=3"),
    ],
)
def test_bad_overrides_are_user_errors(capsys: pytest.CaptureFixture[str], argv: list[str], message: str,
                                       hint: str) -> None:
    status, out, err = _run(capsys, "analyze", "transformers:llama", *argv)
    assert (status, out) == (1, "")
    assert err.startswith("Error: ") and message in err and "Traceback" not in err
    assert "\nHint: " in err and hint in err.split("\nHint: ", 1)[1]


@needs_transformers
def test_unknown_model_type_suggests_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run(capsys, "analyze", "transformers:llamma")
    assert status == 1 and "Unknown transformers model type 'llamma'. Did you mean 'llama'" in err
    assert "\nHint: " in err


def test_overrides_apply_to_transformers_models_only(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run(capsys, "init", "mlp", "--method", "zeros", "--config-override", "hidden_size=8")
    assert status == 1 and "--config-override applies to transformers:TYPE models only" in err


def test_missing_transformers_is_a_user_error(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "transformers" else real(name, *a, **k))
    status, _, err = _run(capsys, "analyze", "transformers:gpt2")
    assert status == 1 and "transformers is not installed" in err and "Hint: pip install transformers" in err


def test_override_values_are_read_as_json_numbers_booleans_and_lists() -> None:
    parsed = parse_overrides(["a=3", "b=1e-5", "c=true", "d=False", "e=[1, 2]", "f=silu", "g=none", 'h="7"'])
    assert parsed == {"a": 3, "b": 1e-5, "c": True, "d": False, "e": [1, 2], "f": "silu", "g": None, "h": "7"}


@needs_transformers
def test_small_config_shrinks_declared_sizes_and_lets_the_config_derive_the_rest() -> None:
    llama, _ = build_config("llama")
    assert (llama.hidden_size, llama.num_attention_heads, llama.num_hidden_layers) == (64, 4, 2)
    assert llama.head_dim == 16 and llama.num_key_value_heads == 4  # derived by LlamaConfig from the small sizes
    assert llama.vocab_size <= 1000 and llama.intermediate_size == round(11008 * 64 / 4096)
    mistral, _ = build_config("mistral")
    assert mistral.num_key_value_heads == 1  # grouped-query attention keeps its 32:8 ratio as far as it can
    t5, _ = build_config("t5")
    assert (t5.d_model, t5.num_heads, t5.d_kv, t5.num_layers, t5.num_decoder_layers) == (64, 4, 16, 2, 2)
    whisper, _ = build_config("whisper")
    ids = (whisper.decoder_start_token_id, whisper.pad_token_id, *whisper.begin_suppress_tokens)
    assert max(ids) < whisper.vocab_size and whisper.max_source_positions == 32
    resnet, _ = build_config("resnet")
    assert max(resnet.hidden_sizes) <= 128 and max(resnet.depths) == 1
    clip, sizes = build_config("clip", {"text_config.hidden_size": 32})
    assert (clip.text_config.hidden_size, clip.text_config.intermediate_size) == (32, 128)  # the FFN follows
    assert clip.vision_config.image_size == 32 and sizes["text_config"]["hidden_size"] == 32


@needs_transformers
def test_full_size_config_is_the_default_with_the_overrides_only() -> None:
    config, sizes = build_config("llama", {"num_hidden_layers": 3}, full_size=True)
    assert (config.hidden_size, config.num_hidden_layers, sizes) == (4096, 3, {"num_hidden_layers": 3})
