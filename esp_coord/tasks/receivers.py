"""Signal receivers of the tasks feature (connected by the app factory through esp_coord/features.py)."""

from __future__ import annotations

from esp_coord.core import signals
from esp_coord.tasks import services


def connect() -> None:
    signals.patient_timeline.connect(services.timeline_items, weak=False)
    signals.patient_export.connect(services.export_section, weak=False)
