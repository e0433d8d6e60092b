"""Tiny extension points so features can contribute to each other without import cycles.

    hooks.register("patient_timeline", provider)      # provider(patient, viewer) -> list[TimelineItem]
    hooks.register("patient_export", provider)        # provider(patient) -> dict (section for the export)
    hooks.register("dashboard_panels", provider)      # provider(user) -> list[Panel]
    hooks.collect("patient_timeline", patient, user)  # concatenated results
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

_registry: dict[str, list] = defaultdict(list)


def register(name: str, provider) -> None:
    if provider not in _registry[name]:
        _registry[name].append(provider)


def providers(name: str) -> list:
    return list(_registry[name])


def collect(name: str, *args, **kwargs) -> list[Any]:
    out: list[Any] = []
    for provider in _registry[name]:
        result = provider(*args, **kwargs)
        if result is None:
            continue
        if isinstance(result, list):
            out.extend(result)
        else:
            out.append(result)
    return out


@dataclass
class TimelineItem:
    at: datetime
    kind: str  # "note", "meeting", "pps", "protocol", "consent"...
    title: str  # French, shown to the user (inside the app only)
    url: str | None = None
    detail: str | None = None
    extra: dict = field(default_factory=dict)
