"""The ``weight-init`` command line: outputs, formats, errors on stderr with exit 1, model resolution."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from weight_initialization_system.cli import main
from weight_initialization_system.cli.models import BUILTINS, load_model

GOLDEN = Path(__file__).parent / "golden"
ROOT = Path(__file__).resolve().parents[2]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("WEIGHT_INIT_REGEN_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text()


def test_init_human_output_matches_golden(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(capsys, "init", "mlp", "--method", "kaiming_normal", "--arg", "nonlinearity=relu")
    assert (status, err) == (0, "")
    _golden("init_mlp_kaiming.txt", out)


def test_init_saves_safetensors_that_reload_into_the_model(capsys: pytest.CaptureFixture[str],
                                                           tmp_path: Path) -> None:
    from safetensors.torch import load_file

    out = tmp_path / "w.safetensors"
    status, stdout, _ = _run(capsys, "init", "mlp", "--method", "orthogonal", "--out", str(out), "--format", "json")
    assert status == 0
    data = json.loads(stdout)
    assert data["method"] == "orthogonal" and data["seed"] == 0
    state = load_file(str(out))
    model = load_model("mlp").model
    model.load_state_dict(state)
    w = model[0].weight.detach()
    assert torch.allclose(w @ w.T, torch.eye(w.shape[0]), atol=1e-5)


def test_same_seed_gives_identical_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for name in ("a.pt", "b.pt"):
        assert _run(capsys, "init", "cnn", "--method", "kaiming_normal", "--seed", "7", "--out",
                    str(tmp_path / name))[0] == 0
    a = torch.load(tmp_path / "a.pt", weights_only=True)
    b = torch.load(tmp_path / "b.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_init_with_config_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "init.yaml"
    config.write_text("weight_initialization:\n  global:\n    default_method: he_normal\n"
                      "  overrides:\n    '8.*':\n      method: zeros\n")
    status, out, _ = _run(capsys, "init", "mlp", "--config", str(config), "--format", "json")
    rows = {r["name"]: r["initializer"] for r in json.loads(out)["parameters"]}
    assert status == 0 and rows["0.weight"] == "kaiming_normal" and rows["8.weight"] == "zeros"


def test_list_json_names_every_initializer_scheme_and_gain(capsys: pytest.CaptureFixture[str]) -> None:
    from weight_initialization_system.initializers import GAINS, list_initializers
    from weight_initialization_system.schemes.published import list_schemes

    status, out, _ = _run(capsys, "list", "--format", "json")
    data = json.loads(out)
    assert status == 0
    assert [i["name"] for i in data["initializers"]] == list_initializers()
    assert set(list_schemes()) <= {s["name"] for s in data["schemes"]}
    assert set(data["gains"]) == set(GAINS)


def test_list_human_is_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "list")
    assert status == 0
    assert "kaiming_normal" in out and "he_normal" in out and "gpt2" in out and "1.414" in out


@pytest.mark.parametrize(
    ("argv", "message", "hint"),
    [
        (["init", "mpl", "--method", "xavier_uniform"], "Unknown model 'mpl'. Did you mean 'mlp'?", "built-in"),
        (["init", "mlp", "--method", "xavier_unifrom"], "Did you mean 'xavier_uniform'?", "--help"),
        (["init", "mlp"], "one of the arguments --method --config is required", "--help"),
        (["init", "mlp", "--method", "normal", "--arg", "std"], "--arg expects KEY=VALUE", "std=0.02"),
        (["frobnicate"], "invalid choice: 'frobnicate'", "--help"),
        (["analyze", "missing.safetensors"], "No such checkpoint file", None),
        (["init", "nomodule_xyz:build", "--method", "zeros"], "Cannot import 'nomodule_xyz'", "module:factory"),
    ],
)
def test_user_errors_go_to_stderr_with_a_hint_and_exit_1(capsys: pytest.CaptureFixture[str], argv: list[str],
                                                         message: str, hint: str | None) -> None:
    status, out, err = _run(capsys, *argv)
    assert status == 1
    assert out == ""
    assert err.startswith("Error: ") and message in err
    assert "Traceback" not in err
    if hint is not None:
        assert "\nHint: " in err and hint in err


def test_debug_variable_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEIGHT_INIT_DEBUG", "1")
    with pytest.raises(ValueError, match="Unknown model"):
        main(["init", "mpl", "--method", "zeros"])


@pytest.mark.parametrize("command", ["report", "analyze", "init", "compare", "list"])
def test_every_subcommand_help_has_examples_format_and_seed(capsys: pytest.CaptureFixture[str],
                                                            command: str) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    assert "examples:" in out and "--format" in out and "--seed" in out


def test_checkpoint_is_loaded_weights_only(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("unpickled!",))

    path = tmp_path / "evil.pt"
    torch.save({"weight": torch.zeros(2, 2), "payload": Evil()}, path)
    with pytest.raises(ValueError, match="weights-only"):
        load_model(str(path))


def test_state_dict_checkpoint_keeps_parameter_names(tmp_path: Path) -> None:
    model = BUILTINS["cnn"].build()
    path = tmp_path / "cnn.pt"
    torch.save({"state_dict": model.state_dict()}, path)
    loaded = load_model(str(path))
    assert loaded.sample is None and "weights only" in loaded.data_free_reason
    names = {n for n, _ in loaded.model.named_parameters()}
    assert names == {n for n, _ in model.named_parameters()}


def test_module_factory_gets_the_graph_sample_redrawn_at_the_batch_size(tmp_path: Path) -> None:
    from weight_initialization_system.graph import build_sample

    source = tmp_path / "my_models.py"
    source.write_text("import torch.nn as nn\n\n\ndef build():\n"
                      "    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())\n")
    loaded = load_model(f"{source}:build")
    assert isinstance(loaded.model[0], nn.Conv2d)
    assert loaded.sample is not None
    template, _ = build_sample(loaded.model)
    x = loaded.sample(5, torch.Generator().manual_seed(0))
    y = loaded.sample(5, torch.Generator().manual_seed(1))
    assert x.shape == (5, *template.shape[1:]) and x.shape[1] == 1
    assert not torch.equal(x, y)


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_every_builtin_runs_forward_on_its_sample(name: str) -> None:
    loaded = load_model(name)
    assert loaded.sample is not None
    with torch.no_grad():
        out = loaded.model(loaded.sample(2, torch.Generator().manual_seed(0)))
    assert out.shape[0] == 2 and torch.isfinite(out).all()


@pytest.mark.slow
def test_python_dash_m_runs_the_cli() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-m", "weight_initialization_system", "init", "mpl", "--method", "zeros"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1
    assert done.stdout == "" and done.stderr.startswith("Error: Unknown model 'mpl'")


@pytest.mark.slow
def test_main_job_writes_the_report_with_verdict_and_comparison(capsys: pytest.CaptureFixture[str],
                                                                tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    status, stdout, err = _run(capsys, "report", "mlp", "--out", str(out), "--epochs", "2", "--format", "json")
    assert status == 0 and err == ""
    data = json.loads(stdout)
    assert data["out"] == str(out) and 0.0 <= data["quality_score"] <= 1.0
    assert data["diagnosis"] in ("healthy", "vanishing", "exploding", "saturated", "dead")
    page = out.read_text()
    for section in ("Most important fixes", "Signal propagation", "Gradient flow", "Input–output Jacobian",
                    "Comparison of initializers", "LSUV"):
        assert section in page
    assert "<script" not in page


def test_analyze_json_is_per_layer_data(capsys: pytest.CaptureFixture[str]) -> None:
    status, stdout, _ = _run(capsys, "analyze", "tanh-mlp", "--init", "orthogonal", "--arg", "gain=1.6667",
                             "--format", "json")
    data = json.loads(stdout)
    assert status == 0
    assert len(data["weights"]) == 5 and len(data["gradients"]) == 5
    assert data["signal_diagnosis"] == "healthy"


def test_analyze_state_dict_checkpoint_is_data_free(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in BUILTINS["mlp"].build().state_dict().items()}, str(path))
    status, stdout, _ = _run(capsys, "analyze", str(path), "--format", "json")
    data = json.loads(stdout)
    assert status == 0 and data["signal"] == [] and "weights only" in data["skipped"]["signal"]
    assert {w["name"] for w in data["weights"]} == {"0.weight", "2.weight", "4.weight", "6.weight", "8.weight"}


_TINY = "import torch.nn as nn\n\n\ndef build():\n    return nn.Sequential(nn.Linear(16, 16), nn.ReLU(), " \
        "nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))\n"


@pytest.fixture
def tiny(tmp_path: Path) -> str:
    (tmp_path / "tiny_models.py").write_text(_TINY)
    return f"{tmp_path / 'tiny_models.py'}:build"


def test_compare_human_table(capsys: pytest.CaptureFixture[str], tiny: str) -> None:
    status, stdout, _ = _run(capsys, "compare", tiny, "--methods", "kaiming_normal:nonlinearity=relu,"
                             "normal:std=0.001", "--seeds", "2")
    assert status == 0
    assert "mean ± std over 2 seeds" in stdout
    assert "Best by health score (mean of 2 seeds): kaiming_normal:nonlinearity=relu" in stdout
    assert "final loss" not in stdout  # no training outside the MLP built-ins: no empty column


def test_compare_json_reports_a_tie_whatever_the_order_of_methods(capsys: pytest.CaptureFixture[str],
                                                                   tiny: str) -> None:
    methods = ["kaiming_normal:nonlinearity=relu", "kaiming_uniform:nonlinearity=relu"]
    found = []
    for order in (methods, methods[::-1]):
        status, stdout, err = _run(capsys, "compare", tiny, "--methods", ",".join(order), "--format", "json")
        assert (status, err) == (0, "")
        data = json.loads(stdout)
        assert data["seeds"] == [0, 1, 2] and data["ranked_by"] == ["health", "scale_free_score"]
        assert all(r["stats"]["health"]["values"] and len(r["stats"]["health"]["values"]) == 3
                   for r in data["results"])
        found.append((data["best"], sorted(data["tied"])))
    assert found[0] == found[1] == (None, sorted(methods))


def test_compare_out_shows_only_columns_with_data(capsys: pytest.CaptureFixture[str], tiny: str,
                                                  tmp_path: Path) -> None:
    out = tmp_path / "compare.html"
    status, _, err = _run(capsys, "compare", tiny, "--methods", "kaiming_normal,normal:std=0.001", "--seeds", "2",
                          "--out", str(out))
    assert (status, err) == (0, "")
    page = out.read_text()
    table = page[page.index("<table"):page.index("</table>")]
    assert "final loss" not in table and "test acc" not in table and "–" not in table
    assert "± " in table


@pytest.mark.parametrize("seeds", ["1", "0"])
def test_compare_needs_two_seeds_for_a_spread(capsys: pytest.CaptureFixture[str], tiny: str, seeds: str) -> None:
    status, stdout, err = _run(capsys, "compare", tiny, "--methods", "kaiming_normal", "--seeds", seeds)
    assert status == 1 and stdout == ""
    assert err.startswith(f"Error: Argument `seeds` must be an integer >= 2. Received: seeds={seeds}")


def test_compare_default_seed_count_is_the_librarys(capsys: pytest.CaptureFixture[str]) -> None:
    from weight_initialization_system.report import DEFAULT_SEEDS

    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    assert f"(default {DEFAULT_SEEDS}, at least 2)" in " ".join(capsys.readouterr().out.split())


