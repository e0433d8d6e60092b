"""Signal receivers of the meetings feature (connected by the app factory through esp_coord/features.py)."""

from __future__ import annotations

from esp_coord.core import signals
from esp_coord.meetings import views


def connect() -> None:
    signals.patient_timeline.connect(views.timeline_items, weak=False)
    signals.patient_export.connect(views.export_section, weak=False)
    signals.dashboard_panels.connect(views.dashboard_panels, weak=False)
