"""Signal receivers of the reports feature (connected by the app factory through esp_coord/features.py)."""

from __future__ import annotations

from esp_coord.core import signals
from esp_coord.reports import figures


def connect() -> None:
    signals.annual_report_figures.connect(figures.provider, weak=False)
