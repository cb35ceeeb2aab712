"""Rendering: text tables, plots and the HTML report. The only place that prints or draws.

>>> from weight_initialization_system.report import diagnose, notebook_comparison, write_html  # doctest: +SKIP
>>> write_html("report.html", diagnose(model, "mine", sample), notebook_comparison())            # doctest: +SKIP
"""

from .collect import GradientSummary, diagnose, gradient_summary, histogram, quality_score
from .data import (
    Comparison,
    Diagnosis,
    Fix,
    GradientLayer,
    Histogram,
    MethodResult,
    SeedStat,
    SignalLayer,
    WeightLayer,
)
from .experiments import DEFAULT_SEEDS, NOTEBOOK_SETUPS, Setup, compare_on_model, notebook_comparison, parse_methods
from .html import render_html, write_html
from .tables import comparison_table, comparison_verdict, summary_rows, variance_table
from .training import DigitsData, TrainingCurve, load_digits_data, train

__all__ = [
    "DEFAULT_SEEDS",
    "NOTEBOOK_SETUPS",
    "Comparison",
    "Diagnosis",
    "DigitsData",
    "Fix",
    "GradientLayer",
    "GradientSummary",
    "Histogram",
    "MethodResult",
    "SeedStat",
    "Setup",
    "SignalLayer",
    "TrainingCurve",
    "WeightLayer",
    "compare_on_model",
    "comparison_table",
    "comparison_verdict",
    "diagnose",
    "gradient_summary",
    "histogram",
    "load_digits_data",
    "notebook_comparison",
    "parse_methods",
    "quality_score",
    "render_html",
    "summary_rows",
    "train",
    "variance_table",
    "write_html",
]
