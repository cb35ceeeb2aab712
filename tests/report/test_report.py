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

from weight_initialization_system.models import mlp
from weight_initialization_system.report import (
    Comparison,
    Diagnosis,
    Fix,
    GradientLayer,
    MethodResult,
    SignalLayer,
    WeightLayer,
    histogram,
    load_digits_data,
    render_html,
    train,
)
from weight_initialization_system.report.plots import diagnosis_figures
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
