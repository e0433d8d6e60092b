"""Signal receivers of the funding feature (connected by the app factory through esp_coord/features.py)."""

from __future__ import annotations

from datetime import date
from typing import Any

from esp_coord.core import signals
from esp_coord.funding import services


def _reference_data(_sender: Any) -> None:
    services.reference_data()


def _action_funded(team: Any, *, action_type: str, on: date) -> bool:
    return services.is_action_funded(team, action_type, on)


def connect() -> None:
    signals.reference_data.connect(_reference_data, weak=False)
    signals.action_funded.connect(_action_funded, weak=False)
