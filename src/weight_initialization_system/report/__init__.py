"""Rendering: text tables, plots and the HTML report. The only place that prints or draws."""
