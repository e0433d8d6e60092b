"""Signal receivers of the protocols feature (connected by the app factory through esp_coord/features.py)."""

from __future__ import annotations

from typing import Any

from esp_coord.core import signals
from esp_coord.protocols import services


def _reference_data(_sender: Any) -> None:
    services.ensure_cooperation_protocols()


def connect() -> None:
    signals.reference_data.connect(_reference_data, weak=False)
    signals.patient_timeline.connect(services.timeline_items, weak=False)
    signals.patient_export.connect(services.export_section, weak=False)
    signals.dashboard_panels.connect(services.dashboard_panels, weak=False)
