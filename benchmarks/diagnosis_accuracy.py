"""Does our diagnosis tell a healthy initialization from a faulty one, and name the faulty layer?

Against ground truth from DIRECT MEASUREMENT (``ground_truth.py``), never from our package. One forward and
one backward pass per model on a fixed batch; the rules, in the order they are applied (details and reasons in
``ground_truth.py``):

==== ============== ===================================================================================
 1   broken         a parameter is NaN/Inf
 2   exploding      an activation is NaN/Inf
 3   collapsed      the input–output Jacobian J is 0 and a weight matrix is constant (no symmetry breaking)
 4   dead           > 50% of ReLU units are zero on every example of the batch
 5   collapsed      J = 0, or K² < 1e-3, or the last hidden vectors of distinct inputs correlate > 0.999
 6   chaotic        forward gain F in [1e-2, 1e2] but K² > 1e3 (perturbations outgrow the signal 1e3×)
 7   saturated      > 50% of tanh/sigmoid outputs have |φ'| < 0.05
 8   inconsistent   a layer's measured gain is > 3× off the median of its ≥ 3 same-role peers, its output
                    does not feed a norm, and it explains F (named)
 9   exploding      F > 10  /  vanishing: F < 0.1 -- last hidden RMS over the RMS where the last norm (or
                    recurrent layer, or the input) left it
 10  exploding      language models: initial loss on random targets > log V + 1
 11  vanishing      recurrent models: gradient at the first time step < 1e-3 × the last (exploding > 1e3)
 12  healthy        none of the above
==== ============== ===================================================================================

``K² = Σ_g (‖J_g‖_F² / N_y) · RMS(x_g)² / RMS(y)²``: the mean squared singular value of the Jacobian per output
dimension, relative to the forward gain -- 1 for a linear or ReLU map, ``∏ χ_l`` for a deep stack.

Our verdicts in the same vocabulary: ``check_initialization_quality(model)["diagnosis"]`` says ``healthy``,
``vanishing``, ``exploding``, ``inconsistent`` or ``broken``, which map to themselves; it cannot say
``chaotic``, ``collapsed``, ``saturated`` or ``dead``. ``analysis.diagnose(model, sample=...)`` (a column only
when it exists) maps to itself when its word is in the vocabulary, else to ``other:<word>``. Three grades:

* exact: the same word;
* family: the same among {healthy}, {vanishing, collapsed, dead, saturated} (the signal or its gradient dies),
  {exploding, chaotic} (it grows), {inconsistent}, {broken};
* detection: faulty vs healthy. A false alarm is a healthy model called faulty; a miss the reverse. A verdict
  that raised (``other:error``) is wrong in every grade.

For faults with a layer (planted, or named by the measurement), whether our warnings quote that layer
(``'layer'`` or ``'layer.weight'``) and how many other layers they quote; for a planted change that measures
harmless, whether we flag it anyway.

Run (about a minute on 2 cores)::

    PYTHONPATH=src python benchmarks/diagnosis_accuracy.py [--only SUBSTRING ...]

Prints a table and writes ``benchmarks/results/diagnosis_accuracy.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import platform
import re
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from diagnosis_cases import CASES, Case
from ground_truth import LABELS, ground_truth

import weight_initialization_system.analysis as analysis
from weight_initialization_system.analysis import check_initialization_quality

RESULTS = Path(__file__).resolve().parent / "results" / "diagnosis_accuracy.json"
FAMILY = {"healthy": "healthy", "vanishing": "shrinks", "collapsed": "shrinks", "dead": "shrinks",
          "saturated": "shrinks", "exploding": "grows", "chaotic": "grows", "inconsistent": "inconsistent",
          "broken": "broken"}
ERROR = "other:error"
_QUOTED = re.compile(r"['\"`]([^'\"`]+)['\"`]")


def _finite(value: Any) -> Any:
    """``value`` with NaN/Inf floats as strings (strict JSON has none)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _map(word: Any) -> str:
    """A verdict in the ground-truth vocabulary (see the module docstring)."""
    text = str(word)
    return text if text in LABELS else f"other:{text}"


def _names(text: str, layer: str) -> bool:
    """Whether ``text`` quotes ``layer`` or one of its parameters."""
    return any(q == layer or q.startswith(layer + ".") for q in _QUOTED.findall(text))


def _others(text: str, layer: str, modules: set[str]) -> int:
    """How many other layers of the model ``text`` quotes (by module or parameter name)."""
    quoted = {q.rsplit(".", 1)[0] if q not in modules else q for q in _QUOTED.findall(text)}
    return len({q for q in quoted if q in modules and q != layer and not q.startswith(layer + ".")})


def _diagnose_verdict(result: Any) -> tuple[str, str]:
    """The word and the searchable text of whatever ``diagnose`` returns (a dict or an object)."""
    for key in ("diagnosis", "label", "verdict", "kind"):
        if isinstance(result, dict) and key in result:
            return _map(result[key]), json.dumps(result, default=str)
        if hasattr(result, key):
            return _map(getattr(result, key)), repr(result)
    return _map(result), repr(result)


def _run_case(case: Case, diagnose: Any) -> dict[str, Any]:
    start = time.perf_counter()
    model = case.build()
    sample = case.sample()
    verdict, measured = ground_truth(model, sample, vocab=case.vocab)
    truth_s = time.perf_counter() - start
    start = time.perf_counter()
    quality = check_initialization_quality(model)
    ours_s = time.perf_counter() - start
    ours_text = "\n".join([*quality["warnings"], *quality["errors"]])
    row: dict[str, Any] = {
        "case": case.name, "source": case.source, "fault": case.fault, "expected": case.expected,
        "planted_layer": case.layer, "optimizer_note": case.optimizer,
        "truth": verdict.label, "truth_layer": verdict.layer, "truth_reason": verdict.reason,
        "agrees_with_construction": None if case.expected is None else case.expected == verdict.label,
        "measurement": measured.as_dict(),
        "quality": {"diagnosis": _map(quality["diagnosis"]), "overall_score": quality["overall_score"],
                    "warnings": quality["warnings"], "errors": quality["errors"], "seconds": ours_s},
        "truth_seconds": truth_s,
    }
    layer = case.layer if case.layer is not None else verdict.layer
    modules = {name for name, _ in model.named_modules() if name}
    row["layer"] = layer
    if layer is not None:
        row["quality"]["names_layer"] = _names(ours_text, layer)
        row["quality"]["other_layers_named"] = _others(ours_text, layer, modules)
    if diagnose is not None:
        start = time.perf_counter()
        try:
            word, text = _diagnose_verdict(diagnose(model, sample=sample))
        except Exception as error:  # a crash is a verdict too
            word, text = ERROR, f"{type(error).__name__}: {error}"
        row["diagnose"] = {"diagnosis": word, "text": text[:4000], "seconds": time.perf_counter() - start}
        if layer is not None:
            row["diagnose"]["names_layer"] = _names(text, layer)
            row["diagnose"]["other_layers_named"] = _others(text, layer, modules)
    return row


def _grade(rows: list[dict[str, Any]], column: str) -> dict[str, Any]:
    pairs = [(r["truth"], r[column]["diagnosis"]) for r in rows if column in r]
    confusion: dict[str, Counter[str]] = {}
    for truth, pred in pairs:
        confusion.setdefault(truth, Counter())[pred] += 1
    located = [r for r in rows if column in r and "names_layer" in r[column] and r["truth"] != "healthy"]
    harmless = [r for r in rows if column in r and "names_layer" in r[column] and r["truth"] == "healthy"]
    n = max(len(pairs), 1)
    return {
        "cases": len(pairs),
        "exact": sum(t == p for t, p in pairs) / n,
        "family": sum(FAMILY.get(t) == FAMILY.get(p) for t, p in pairs) / n,
        "detection": sum((t == "healthy") == (p == "healthy") and p != ERROR for t, p in pairs) / n,
        "errors": [r["case"] for r in rows if column in r and r[column]["diagnosis"] == ERROR],
        "confusion": {t: dict(c) for t, c in confusion.items()},
        "false_alarms": [r["case"] for r in rows if column in r and r["truth"] == "healthy"
                         and r[column]["diagnosis"] != "healthy"],
        "misses": [r["case"] for r in rows if column in r and r["truth"] != "healthy"
                   and r[column]["diagnosis"] == "healthy"],
        "wrong_kind": [r["case"] for r in rows if column in r and "healthy" not in (r["truth"], r[column]["diagnosis"])
                       and r[column]["diagnosis"] != ERROR
                       and FAMILY.get(r["truth"]) != FAMILY.get(r[column]["diagnosis"])],
        "layer_named": {r["case"]: r[column]["names_layer"] for r in located},
        "other_layers_named": {r["case"]: r[column]["other_layers_named"] for r in located},
        "harmless_layer_flagged": {r["case"]: r[column]["names_layer"] for r in harmless},
    }


def _confusion_table(confusion: dict[str, dict[str, int]]) -> str:
    truths = [label for label in LABELS if label in confusion]
    preds = sorted({p for c in confusion.values() for p in c}, key=lambda p: (p not in LABELS,
                                                                                LABELS.index(p) if p in LABELS else 0,
                                                                                p))
    width = max(len(p) for p in [*preds, "truth \\ ours"]) + 1
    lines = ["truth \\ ours".ljust(14) + "".join(p[:width].rjust(width) for p in preds)]
    for t in truths:
        lines.append(t.ljust(14) + "".join(str(confusion[t].get(p, "")).rjust(width) for p in preds))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--only", nargs="*", default=[], help="run the cases whose name contains any of these")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # transformers' fallback notices
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)  # tiny models: threads only contend (LAPACK's QR on 2 busy cores: 50× slower)
    diagnose = getattr(analysis, "diagnose", None)
    cases = [c for c in CASES if not args.only or any(s in c.name for s in args.only)]
    start = time.perf_counter()
    rows = [_run_case(case, diagnose) for case in cases]
    total = time.perf_counter() - start

    columns = ["quality"] + (["diagnose"] if diagnose is not None else [])
    header = f"{'case':58s} {'truth':12s} {'construction':13s} " + " ".join(f"{c:13s}" for c in columns)
    print(header)
    print("-" * len(header))
    for r in rows:
        agree = "" if r["agrees_with_construction"] is None else ("=" if r["agrees_with_construction"] else "≠ ")
        construction = f"{agree}{r['expected'] or 'measure'}"
        print(f"{r['case'][:58]:58s} {r['truth']:12s} {construction:13s} "
              + " ".join(f"{r[c]['diagnosis']:13s}" for c in columns) + f"  {r['truth_reason']}")
    grades = {c: _grade(rows, c) for c in columns}
    for c, g in grades.items():
        print(f"\n== {c}: exact {g['exact']:.0%}, family {g['family']:.0%}, detection {g['detection']:.0%} "
              f"on {g['cases']} cases")
        print(_confusion_table(g["confusion"]))
        print(f"false alarms ({len(g['false_alarms'])}): {', '.join(g['false_alarms']) or '-'}")
        print(f"misses ({len(g['misses'])}): {', '.join(g['misses']) or '-'}")
        print(f"wrong kind ({len(g['wrong_kind'])}): {', '.join(g['wrong_kind']) or '-'}")
        if g["errors"]:
            print(f"raised ({len(g['errors'])}): {', '.join(g['errors'])}")
        named, others = g["layer_named"], g["other_layers_named"]
        print(f"faulty layer named in {sum(named.values())}/{len(named)} located faults (other layers quoted): "
              + ", ".join(f"{k} {'yes' if v else 'NO'} ({others[k]})" for k, v in named.items()))
        flagged = g["harmless_layer_flagged"]
        print(f"harmless planted layer flagged in {sum(flagged.values())}/{len(flagged)}: "
              + ", ".join(f"{k} {'YES' if v else 'no'}" for k, v in flagged.items()))
    surprises = [r for r in rows if r["agrees_with_construction"] is False]
    print(f"\nconstruction ≠ measurement ({len(surprises)}): "
          + (", ".join(f"{r['case']} (built as {r['expected']}, measures {r['truth']})" for r in surprises) or "-"))
    print(f"{len(rows)} cases in {total:.1f} s; diagnose() {'present' if diagnose else 'absent: column skipped'}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(_finite({
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "threads": torch.get_num_threads()},
        "seconds": total,
        "mapping": {"check_initialization_quality": "its diagnosis word, unchanged",
                    "diagnose": "its word if in the vocabulary, else other:<word>", "families": FAMILY},
        "grades": grades,
        "cases": rows,
    }), indent=1, default=str) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
