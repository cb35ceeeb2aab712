"""One self-contained HTML file: inline CSS, figures as ``data:`` URIs, no script, no network.

Layout: the verdict first (score, diagnosis, the three most important fixes), then per-layer tables and the
figures of :mod:`.plots`, then, when there is one, the comparison of initializers (the notebook's four panels,
its final table with health scores, LSUV, and loss curves from real training).
"""

from __future__ import annotations

import datetime
import html
from collections.abc import Sequence
from pathlib import Path

from .._io import write_text
from .data import Comparison, Diagnosis, MethodResult
from .plots import (
    WEAK,
    comparison_panels,
    diagnosis_figures,
    figure_uri,
    has_weak_layers,
    loss_curves,
    lsuv_traces,
    weight_distributions,
)
from .tables import comparison_verdict, summary_rows

__all__ = ["render_html", "write_html"]

_CSS = """
:root{--ink:#1f2933;--muted:#616e7c;--line:#e4e7eb;--bg:#f5f7fa;--ok:#059669;--warn:#d97706;--bad:#dc2626;
--accent:#2563eb}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",
Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1120px;margin:0 auto;padding:28px 24px 60px}
header h1{font-size:22px;margin:0 0 2px}header p{margin:0;color:var(--muted)}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:18px 22px;margin:18px 0}
h2{font-size:17px;margin:0 0 10px}h3{font-size:14px;margin:16px 0 6px}
.verdict{display:grid;grid-template-columns:220px 1fr;gap:22px;align-items:start}
.score{border-radius:10px;padding:16px;text-align:center;color:#fff}
.score .value{font-size:44px;font-weight:700;line-height:1.1}.score .label{opacity:.9;font-size:12px}
.ok{background:var(--ok)}.warn{background:var(--warn)}.bad{background:var(--bad)}
.chips{display:flex;flex-wrap:wrap;gap:8px;margin:0 0 12px}
.chip{border:1px solid var(--line);border-radius:999px;padding:3px 10px;font-size:12.5px;background:#fafbfc}
.chip b{font-weight:600}
ol.fixes{margin:0;padding-left:20px}ol.fixes li{margin:0 0 8px}
code{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f1f3f5;padding:1px 5px;
border-radius:4px}
table{border-collapse:collapse;width:100%;font-size:12.5px}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#fafbfc;font-weight:600;position:sticky;top:0}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.flag td{background:#fff7ed}
.scroll{max-height:460px;overflow:auto;border:1px solid var(--line);border-radius:6px}
figure{margin:10px 0}figure img{display:block;max-width:100%;height:auto;margin:0 auto}
figcaption{color:var(--muted);font-size:12.5px;margin-top:4px}
.note{color:var(--muted);font-size:12.5px}
.pill{display:inline-block;border-radius:4px;padding:0 6px;font-size:12px;font-weight:600;color:#fff}
footer{color:var(--muted);font-size:12px;text-align:center}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float | int | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    if value != value:
        return "nan"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e4):
        return f"{value:.2e}"
    return f"{value:.{digits}g}"


def _figure(uri: str, caption: str, alt: str) -> str:
    return f'<figure><img src="{uri}" alt="{_e(alt)}"><figcaption>{caption}</figcaption></figure>'


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = (),
           flagged: Sequence[bool] = (), scroll: bool = False) -> str:
    head = "".join(f'<th class="num">{_e(h)}</th>' if i in numeric else f"<th>{_e(h)}</th>"
                   for i, h in enumerate(headers))
    body = []
    for r, row in enumerate(rows):
        cls = ' class="flag"' if r < len(flagged) and flagged[r] else ""
        cells = "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f'<div class="scroll">{table}</div>' if scroll else table


def _tone(score: float) -> str:
    return "ok" if score >= 0.8 else "warn" if score >= 0.5 else "bad"


def _verdict(d: Diagnosis) -> str:
    chips = [f"<span class=chip>weights (theory) <b>{_e(d.weight_diagnosis or 'not measured')}</b></span>",
             f"<span class=chip>signal on a batch <b>{_e(d.signal_diagnosis or 'not measured')}</b></span>",
             f"<span class=chip>{d.parameters:,} parameters in {len(d.weights)} tensors</span>"]
    if d.scale_free_score is not None:
        chips.append(f"<span class=chip>gradient health (scale-free) <b>{_num(d.scale_free_score)}/10</b></span>")
    if d.notebook_health is not None:
        chips.append(f"<span class=chip>notebook health <b>{_num(d.notebook_health)}/10</b></span>")
    if d.vanished is not None:
        chips.append(f"<span class=chip>vanished / weak layers <b>{d.vanished} / {d.weak}</b></span>")
    fixes = "".join(
        f"<li><b>{_e(f.title)}</b><br>{_e(f.detail)}" + (f"<br><code>{_e(f.command)}</code>" if f.command else "")
        + "</li>" for f in d.fixes[:3]) or "<li>Nothing to fix: every check passed.</li>"
    return (f'<section class="verdict"><div class="score {_tone(d.quality_score)}"><div class="value">'
            f'{d.quality_score:.2f}</div><div class="label">initialization quality (0–1)</div></div><div>'
            f'<div class="chips">{"".join(chips)}</div><h3>Most important fixes</h3><ol class="fixes">{fixes}</ol>'
            "</div></section>")


def _weights_section(d: Diagnosis, figures: dict[str, str]) -> str:
    rows, flags = [], []
    for layer in d.weights:
        ratio = layer.ratio
        off = ratio is not None and not 0.67 < ratio < 1.5
        flags.append(off or bool(layer.warnings))
        rows.append([f"<code>{_e(layer.name)}</code>", _e("×".join(map(str, layer.shape))),
                     _num(layer.fan_in), _num(layer.fan_out), _num(layer.mean), _num(layer.std),
                     _num(layer.expected_std), _num(ratio), _num(layer.score),
                     _e("; ".join(layer.warnings))])
    table = _table(["parameter", "shape", "fan in", "fan out", "mean", "std", "expected std", "ratio", "score",
                    "warnings"], rows, numeric=(2, 3, 4, 5, 6, 7, 8), flagged=flags, scroll=True)
    return ("<section><h2>Weights</h2><p class=note>Expected std: what a variance-preserving initialization "
            "gives for the layer's fans and the nonlinearity that follows it (He et al. 2015; Glorot &amp; "
            "Bengio 2010). Highlighted rows are off by more than 1.5× or carry a warning.</p>"
            + table
            + _figure(figures["std"], "Actual weight std (dots) against the variance-preserving std (line).",
                      "actual vs expected std by depth")
            + _figure(figures["histograms"], "Weight histograms per layer; dashed: the variance-preserving "
                      "normal N(0, expected std²). Red label: more than 2× off.", "weight histograms")
            + "</section>")


def _signal_section(d: Diagnosis, figures: dict[str, str]) -> str:
    if not d.signal:
        return _skipped("Signal propagation", d.skipped.get("signal"))
    rows = [[f"<code>{_e(s.name)}</code>", _num(s.mean), _num(s.variance), _num(s.dead_fraction),
             _num(s.saturated_fraction)] for s in d.signal]
    return ("<section><h2>Signal propagation</h2>"
            + _figure(figures["signal"], "Variance of each layer's output on the sample batch (left); fraction "
                      "of units dead (ReLU output 0 for the whole batch) or saturated (right).",
                      "activation variance by depth")
            + "<details><summary>Per-layer values</summary>"
            + _table(["layer", "mean", "variance", "dead", "saturated"], rows, numeric=(1, 2, 3, 4), scroll=True)
            + "</details></section>")


def _gradient_section(d: Diagnosis, figures: dict[str, str]) -> str:
    if not d.gradients:
        return _skipped("Gradient flow", d.skipped.get("gradients"))
    rows = [[f"<code>{_e(g.name)}</code>", _num(g.norm), _num(g.relative)] for g in d.gradients]
    flags = [g.norm < 1e-4 for g in d.gradients]
    return ("<section><h2>Gradient flow</h2><p class=note>One backward pass of the notebook's loss (MSE "
            f"between the softmax output and uniform targets); loss {_num(d.loss)}. The scale-free score uses "
            "‖∇W‖/‖W‖ across layers and does not change with the loss scale.</p>"
            + _figure(figures["gradients"], "Gradient norm per weight layer; dashed: the notebook's vanishing "
                      "(1e-6) and weak (1e-4) thresholds.", "gradient norms by layer")
            + "<details><summary>Per-layer values</summary>"
            + _table(["weight", "‖∇W‖", "‖∇W‖ / ‖W‖"], rows, numeric=(1, 2), flagged=flags, scroll=True)
            + "</details></section>")


def _jacobian_section(d: Diagnosis, figures: dict[str, str]) -> str:
    if not d.jacobian:
        return _skipped("Jacobian spectrum", d.skipped.get("jacobian"))
    values = sorted(d.jacobian)
    mean_sq = sum(v * v for v in values) / len(values)
    return ("<section><h2>Input–output Jacobian</h2>"
            f"<p class=note>{len(values)} singular values; mean squared {_num(mean_sq)}, largest/smallest "
            f"{_num(values[-1] / values[0] if values[0] > 0 else float('inf'))}. Dynamical isometry (all ≈ 1) "
            "trains fastest (Saxe et al. 2014; Pennington et al. 2017).</p>"
            + _figure(figures["jacobian"], "Singular values of the input–output Jacobian on the sample batch.",
                      "jacobian singular values")
            + "</section>")


def _recommendations(d: Diagnosis) -> str:
    if not d.recommendations:
        return ""
    rows = [[f"<code>{_e(n)}</code>", f"<code>{_e(i)}</code>", _e(why)] for n, i, why in d.recommendations]
    return ("<section><h2>Recommended initialization per layer</h2>"
            + _table(["layer", "initializer", "why"], rows, scroll=True) + "</section>")


def _skipped(title: str, reason: str | None) -> str:
    return f"<section><h2>{_e(title)}</h2><p class=note>Not measured: {_e(reason or 'no sample input')}.</p></section>"


def _health_pill(result: MethodResult, text: str) -> str:
    tone = "ok" if result.health >= 7 else "warn" if result.health >= 5 else "bad"
    return f'<span class="pill {tone}">{_e(text)}</span>'


def _comparison_section(c: Comparison) -> str:
    leaders = c.leaders()
    headers, cells = summary_rows(c)
    health = headers.index("health") - 1  # among the value columns
    rows = []
    for r, (label, *values) in zip(c.results, cells, strict=True):
        shown = [_e(v) for v in values]
        shown[health] = _health_pill(r, values[health])
        rows.append([_e(label), _e(r.activation), *shown])
    headers = [headers[0], "activation", *headers[1:]]
    table = _table(headers, rows, numeric=tuple(range(2, len(headers))),
                   flagged=[any(r is leader for leader in leaders) for r in c.results])
    weak_panel = has_weak_layers(c)
    panels = ("The notebook's panels, means over seeds with ±1 std bars: gradient norms by layer, "
              + ("vanished and weak layers, " if weak_panel else "")
              + "min/mean/max gradient, and the 0–10 health score."
              + ("" if weak_panel else f" No method left any layer's gradient below {WEAK:g} (weak) at any seed, "
                 "so the vanished-layers panel is left out."))
    parts = [f"<section><h2>Comparison of initializers on {_e(c.model)}</h2>",
             "".join(f"<p class=note>{_e(n)}</p>" for n in c.notes),
             f"<p><b>{_e(comparison_verdict(c))}</b> (highlighted).</p>", table,
             _figure(figure_uri(comparison_panels(c)), _e(panels), "comparison panels"),
             _figure(figure_uri(weight_distributions(c)), "Initial weight distributions (all hidden layers, first "
                     "seed); solid: mean, dotted: ±1σ.", "weight distributions")]
    if all(r.train_loss for r in c.results):
        parts.append(_figure(figure_uri(loss_curves(c)), _e(c.training), "loss curves"))
    lsuv = next((r for r in c.results if r.lsuv_trace), None)
    if lsuv is not None:
        parts.append(_figure(figure_uri(lsuv_traces(lsuv.lsuv_trace, 1.0)), "LSUV (Mishkin &amp; Matas 2016), "
                             "the notebook's variant: each hidden layer's E[y²] per rescaling, until within "
                             "0.01 of 1.", "lsuv calibration"))
    parts.append("</section>")
    return "".join(parts)


def render_html(diagnosis: Diagnosis | None, comparison: Comparison | None = None, *, title: str = "") -> str:
    """The report as one HTML string (no external resources)."""
    name = diagnosis.model if diagnosis else comparison.model if comparison else "model"
    heading = title or f"Initialization report: {name}"
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = [f"<header><h1>{_e(heading)}</h1><p>weight_initialization_system · {stamp}</p></header>"]
    if diagnosis is not None:
        figures = diagnosis_figures(diagnosis)
        body += [_verdict(diagnosis), _weights_section(diagnosis, figures), _signal_section(diagnosis, figures),
                 _gradient_section(diagnosis, figures), _jacobian_section(diagnosis, figures),
                 _recommendations(diagnosis)]
    if comparison is not None:
        body.append(_comparison_section(comparison))
    body.append("<footer>Self-contained report: no scripts, no network requests.</footer>")
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            f"<title>{_e(heading)}</title><style>{_CSS}</style></head><body><main>{''.join(body)}</main></body></html>")


def write_html(path: str | Path, diagnosis: Diagnosis | None, comparison: Comparison | None = None,
               *, title: str = "") -> Path:
    """Render and write the report (all or nothing: a failed write leaves ``path`` as it was); returns the path."""
    return write_text(path, render_html(diagnosis, comparison, title=title))
