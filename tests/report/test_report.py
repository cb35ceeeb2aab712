"""The HTML report: self-contained, renders in a real headless browser, figures load; training on digits."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from weight_initialization_system.errors import WeightInitError
from weight_initialization_system.models import mlp
from weight_initialization_system.report import (
    NOTEBOOK_SETUPS,
    Comparison,
    Diagnosis,
    Fix,
    GradientLayer,
    MethodResult,
    SeedStat,
    SignalLayer,
    WeightLayer,
    comparison_verdict,
    histogram,
    load_digits_data,
    notebook_comparison,
    render_html,
    summary_rows,
    train,
)
from weight_initialization_system.report.data import METHOD_METRICS
from weight_initialization_system.report.plots import diagnosis_figures, has_weak_layers
from weight_initialization_system.schemes import initialize_model

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless chromium is not installed (Debian: apt-get install -y chromium)")


def _diagnosis() -> Diagnosis:
    """A diagnosis of a real (torch-default) MLP: real weights, real fans, the He reference std."""
    model = mlp(784, [128, 64, 32, 16], 10)
    weights = []
    for name, p in model.named_parameters():
        if p.dim() == 2:
            expected = math.sqrt(2.0 / p.shape[1])
            w = p.detach()
            weights.append(WeightLayer(name, list(p.shape), p.shape[1], p.shape[0], float(w.mean()), float(w.std()),
                                       float(w.min()), float(w.max()), expected, 0.5, ["too small"], histogram(w)))
    signal = [SignalLayer(f"{2 * i}", 0.0, 0.5**i, 0.1 * i, 0.0) for i in range(5)]
    grads = [GradientLayer(w.name, 10.0 ** -(i + 2), 1e-3) for i, w in enumerate(weights)]
    return Diagnosis("mlp", sum(p.numel() for p in model.parameters()), 0.55, weights, signal, "vanishing", grads,
                     0.09, 0, 2, 6.0, 4.5, [0.5 + 0.01 * i for i in range(40)],
                     [("0.weight", "kaiming_normal", "ReLU")],
                     [Fix("Signal is vanishing", "re-initialize", "weight-init init mlp --method auto", 1.0)])


def _comparison() -> Comparison:
    results = []
    for i, label in enumerate(["Xavier/Glorot Uniform", "He Normal", "LSUV"]):
        w = torch.randn(1000, generator=torch.Generator().manual_seed(i))
        results.append(MethodResult(label, "m", "relu", histogram(w), 0.0, 1.0, -3.0, 3.0,
                                    [10.0 ** -(j + i) for j in range(5)], 0.1, i, i, 10.0 - 3 * i, 9.0, 0.9,
                                    [2.3, 1.0, 0.5], [0.1, 0.8, 0.9], [[3.0, 1.1, 1.0]] if label == "LSUV" else []))
    return Comparison("the notebook's MLP", results, "training on digits", ["a note"])


@pytest.fixture(scope="module")
def page() -> str:
    """One rendering shared by the tests (rendering the figures is the slow part)."""
    return render_html(_diagnosis(), _comparison())


def test_report_is_one_self_contained_file(page: str) -> None:
    assert "<script" not in page
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/svg+xml;base64,") for s in sources)
    assert not re.search(r"(?:src|href|url)\s*[=(]\s*[\"']?(?:https?:)?//", page)


def test_report_leads_with_the_verdict_and_has_every_section(page: str) -> None:
    order = [page.index(marker) for marker in ("initialization quality", "Most important fixes", "<h2>Weights",
                                                "<h2>Signal propagation", "<h2>Gradient flow", "Jacobian",
                                                "Comparison of initializers")]
    assert order == sorted(order)
    assert "Signal is vanishing" in page and "0.55" in page


def test_sections_without_data_say_why() -> None:
    d = _diagnosis()
    d.signal, d.gradients, d.jacobian = [], [], []
    d.skipped = {"signal": "weights only", "gradients": "weights only", "jacobian": "weights only"}
    page = render_html(d)
    assert page.count("Not measured: weights only") == 3
    assert set(diagnosis_figures(d)) == {"histograms", "std"}


@pytest.mark.slow
def test_training_on_digits_learns_and_is_deterministic() -> None:
    data = load_digits_data(0)
    assert data.features == 64 and len(data.x_train) + len(data.x_test) == 1797
    curves = []
    for _ in range(2):
        model = mlp(64, [128, 64, 32, 16], 10)
        initialize_model(model, "kaiming_normal", nonlinearity="relu", seed=0)
        curves.append(train(model, data, epochs=3, seed=0))
    assert curves[0] == curves[1]
    assert curves[0].train_loss[-1] < 0.5 * curves[0].train_loss[0]
    assert curves[0].test_accuracy[-1] > 0.5  # chance is 0.1


_PROBE = """<script>window.__e=[];
addEventListener('error',e=>__e.push(String(e.message||(e.target&&e.target.src))),true);
const _ce=console.error;console.error=(...a)=>{__e.push(a.join(' '));_ce(...a)};
addEventListener('load',()=>{const im=[...document.images];document.body.dataset.images=im.length;
document.body.dataset.broken=im.filter(i=>!(i.complete&&i.naturalWidth>0)).length;
document.body.dataset.errors=JSON.stringify(__e)});</script>"""


def _chromium(tmp: Path, page: str, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp / 'profile'}",
         "--hide-scrollbars", "--virtual-time-budget=10000", *extra, page],
        capture_output=True, text=True, timeout=120)


def _probe(tmp: Path, page_html: str) -> dict[str, object]:
    probe = tmp / "probe.html"
    probe.write_text(page_html.replace("<head>", "<head>" + _PROBE, 1))
    done = _chromium(tmp, probe.as_uri(), "--dump-dom")
    body = re.search(r"<body([^>]*)>", done.stdout)
    assert body is not None, done.stderr[-2000:]
    attrs = dict(re.findall(r'data-(\w+)="([^"]*)"', body.group(1)))
    return {"images": int(attrs["images"]), "broken": int(attrs["broken"]),
            "errors": json.loads(attrs["errors"].replace("&quot;", '"'))}


@pytest.mark.browser
@needs_chromium
def test_report_renders_in_headless_chromium_images_load_no_console_errors(tmp_path: Path, page: str) -> None:
    result = _probe(tmp_path, page)
    assert result == {"images": page.count("<img "), "broken": 0, "errors": []}
    # The probe itself is live: a broken image and a script error are caught.
    broken = page.replace("<footer>", '<img src="data:image/png;base64,AAAA"><script>nope()</script><footer>')
    caught = _probe(tmp_path, broken)
    assert caught["broken"] == 1 and caught["errors"]


@pytest.mark.browser
@needs_chromium
def test_report_screenshot(tmp_path: Path, page: str) -> None:
    from PIL import Image

    report = tmp_path / "report.html"
    report.write_text(page)
    shot = tmp_path / "report.png"
    _chromium(tmp_path, report.as_uri(), "--window-size=1280,2400", f"--screenshot={shot}")
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2400)
    # Not blank: the verdict card's colour and the plots' ink are on the page.
    colours = image.resize((128, 240)).getcolors(128 * 240)
    assert colours is not None and len(colours) > 50


# --- comparisons over seeds: mean ± std, ties, columns with data ---------------------------------------------


def _method(label: str, health: list[float], scale_free: list[float], final_loss: list[float] | None = None,
            weak: list[float] | None = None) -> MethodResult:
    n = len(health)
    stats = {"health": SeedStat.of(health), "scale_free_score": SeedStat.of(scale_free),
             "weak": SeedStat.of(weak or [0.0] * n), "vanished": SeedStat.of([0.0] * n)}
    if final_loss is not None:
        stats["final_loss"] = SeedStat.of(final_loss)
        stats["test_accuracy"] = SeedStat.of([0.9] * n)
    w = torch.randn(100, generator=torch.Generator().manual_seed(0))
    curve = [2.3, stats["final_loss"].mean] if final_loss is not None else []
    return MethodResult(label, "m", "relu", histogram(w), 0.0, 1.0, -3.0, 3.0, [1e-2, 1e-3], 0.1,
                        0.0, stats["weak"].mean, stats["health"].mean, stats["scale_free_score"].mean, 0.9,
                        curve, [0.1, 0.9] if curve else [], seeds=list(range(n)), stats=stats)


def test_seed_stat_is_mean_and_bessel_corrected_std() -> None:
    s = SeedStat.of([1.0, 2.0, 4.0])
    assert (s.n, s.mean) == (3, pytest.approx(7 / 3))
    assert s.std == pytest.approx(math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2))
    assert SeedStat.of([8.0, 8.0, 8.0]).std == 0.0
    diverged = SeedStat.of([0.5, math.inf, 0.4])
    assert diverged.mean == math.inf and math.isnan(diverged.std)


def test_tie_rule_is_two_combined_standard_errors() -> None:
    a = SeedStat.of([1.0, 2.0, 3.0])  # mean 2, s 1, n 3
    # Against a spread-free mean the bound is 2·√(1/3) ≈ 1.155; against one with the same spread, 2·√(2/3) ≈ 1.633.
    assert a.ties(SeedStat.of([3.1] * 3)) and not a.ties(SeedStat.of([3.2] * 3))
    assert a.ties(SeedStat.of([2.6, 3.6, 4.6])) and not a.ties(SeedStat.of([2.7, 3.7, 4.7]))
    assert SeedStat.of([8.0] * 3).ties(SeedStat.of([8.0] * 3))  # equal, no spread
    assert not SeedStat.of([8.0] * 3).ties(SeedStat.of([7.0] * 3))  # different, no spread
    assert SeedStat.of([math.inf] * 3).ties(SeedStat.of([math.inf] * 3))
    assert not SeedStat.of([0.1, math.inf]).ties(SeedStat.of([0.1, 0.2]))


def test_tied_methods_are_reported_as_a_tie_whatever_their_order() -> None:
    methods = [_method("A", [10, 10, 10], [10, 10, 10]), _method("B", [10, 10, 10], [10, 10, 10]),
               _method("C", [5, 5, 6], [9, 9, 9])]
    for order in (methods, methods[::-1], [methods[1], methods[2], methods[0]]):
        comparison = Comparison("net", list(order), seeds=[0, 1, 2])
        assert {r.label for r in comparison.leaders()} == {"A", "B"}
        assert comparison_verdict(comparison).startswith("Tie by health score, then scale-free score")
        assert "A" in comparison_verdict(comparison) and "B" in comparison_verdict(comparison)


def test_later_criteria_separate_only_the_methods_still_tied() -> None:
    by_loss = [_method("A", [10] * 3, [10] * 3, [0.30, 0.31, 0.29]),
               _method("B", [10] * 3, [10] * 3, [0.10, 0.11, 0.09]),
               _method("C", [9, 9, 9], [10] * 3, [0.01, 0.01, 0.01])]  # best loss, but lower health: out first
    comparison = Comparison("net", by_loss, seeds=[0, 1, 2])
    assert comparison.criteria() == ["health", "scale_free_score", "final_loss"]
    assert [r.label for r in comparison.leaders()] == ["B"]
    assert comparison_verdict(comparison) == ("Best by health score, then scale-free score, then final loss "
                                              "(mean of 3 seeds): B")
    noisy = [_method("A", [10] * 3, [10] * 3, [0.30, 0.10, 0.20]),
             _method("B", [10] * 3, [10] * 3, [0.12, 0.10, 0.11])]
    assert {r.label for r in Comparison("net", noisy, seeds=[0, 1, 2]).leaders()} == {"A", "B"}


def test_columns_without_data_for_every_method_are_left_out() -> None:
    untrained = Comparison("cnn", [_method("A", [8] * 3, [8] * 3), _method("B", [7, 8, 8], [8] * 3)], seeds=[0, 1, 2])
    headers, rows = summary_rows(untrained)
    assert "final loss" not in headers and "test acc" not in headers
    assert headers[:3] == ["method", "health", "scale-free"]
    assert rows[1][1] == "7.67 ± 0.577"
    assert all(cell != "–" for row in rows for cell in row)
    trained = Comparison("mlp", [_method("A", [8] * 3, [8] * 3, [0.2] * 3)], seeds=[0, 1, 2])
    assert {"final loss", "test acc"} <= set(summary_rows(trained)[0])


@pytest.mark.slow
def test_comparison_without_training_or_weak_layers_renders_no_empty_column_or_zero_chart() -> None:
    untrained = Comparison("cnn", [_method("A", [8] * 3, [8] * 3), _method("B", [8] * 3, [8] * 3)], seeds=[0, 1, 2])
    assert not has_weak_layers(untrained)
    page = render_html(None, untrained)
    table = page[page.index("<table"):page.index("</table>")]
    assert "–" not in table and "final loss" not in table and "test acc" not in table
    assert "vanished-layers panel is left out" in page and "loss curves" not in page
    weak = Comparison("mlp", [_method("A", [8] * 3, [8] * 3, weak=[0, 1, 0]), _method("B", [8] * 3, [8] * 3)],
                      seeds=[0, 1, 2])
    assert has_weak_layers(weak)
    assert "vanished and weak layers" in render_html(None, weak)


def test_notebook_comparison_reports_every_metric_over_the_seeds() -> None:
    setups = [s for s in NOTEBOOK_SETUPS if s.label in ("Random Small", "He Normal")]
    comparison = notebook_comparison(setups, seed=3, seeds=2, epochs=1)
    assert comparison.seeds == [3, 4]
    for result in comparison.results:
        assert result.seeds == [3, 4]
        assert set(result.stats) == set(METHOD_METRICS)
        assert all(stat.n == 2 for stat in result.stats.values())
        assert result.health == pytest.approx(result.stats["health"].mean)
        assert result.train_loss[-1] == pytest.approx(result.stats["final_loss"].mean)
    small, he = comparison.results
    assert small.vanished >= 1 and he.vanished == 0  # std 0.01 tanh: the notebook's vanishing example
    assert [r.label for r in comparison.leaders()] == ["He Normal"]
    headers, rows = summary_rows(comparison)
    assert {"final loss", "test acc"} <= set(headers) and all("–" not in cell for row in rows for cell in row)


@pytest.mark.parametrize("seeds", [1, 0, 2.5])
def test_fewer_than_two_seeds_are_rejected(seeds: object) -> None:
    with pytest.raises(WeightInitError, match=rf"`seeds` must be an integer >= 2. Received: seeds={seeds!r}"):
        notebook_comparison(NOTEBOOK_SETUPS[:1], seeds=seeds)  # type: ignore[arg-type]
