"""The item type of a patient's timeline, contributed by features through `signals.patient_timeline`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class TimelineItem:
    at: datetime
    kind: str  # "note", "meeting", "pps", "protocol", "consent"...
    title: str  # French, shown to the user (inside the app only)
    url: str | None = None
    detail: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
