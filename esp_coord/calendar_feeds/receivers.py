"""Signal receivers of the calendar-feeds feature (connected by the app factory through esp_coord/features.py)."""

from __future__ import annotations

import uuid

from esp_coord.calendar_feeds import services
from esp_coord.core import signals


def _team_calendar_changed(team_id: uuid.UUID) -> None:
    services.bump(team_id)


def connect() -> None:
    signals.team_calendar_changed.connect(_team_calendar_changed, weak=False)
