"""Reference data shipped with the app (professions, action types): idempotent upsert."""

from __future__ import annotations

from esp_coord.activity.data import ACTION_TYPES, PROFESSIONS
from esp_coord.activity.models import ActionType
from esp_coord.core.extensions import db
from esp_coord.teams.models import Profession


def ensure_reference_data() -> None:
    for code, label, group, eligible, is_gp, is_physician, sort in PROFESSIONS:
        if db.session.get(Profession, code) is None:
            db.session.add(Profession(code=code, label=label, csp_group=group, eligible=eligible, is_gp=is_gp,
                                      is_physician=is_physician, sort=sort))
    for code, label, requires_association, manual_allowed, sort in ACTION_TYPES:
        if db.session.get(ActionType, code) is None:
            db.session.add(ActionType(code=code, label=label, requires_association=requires_association,
                                      manual_allowed=manual_allowed, sort=sort))
    db.session.flush()


def ensure_all_reference_data() -> None:
    """Core reference data plus what features contribute through `signals.reference_data`."""
    from esp_coord.core import signals

    ensure_reference_data()
    signals.reference_data.send(None)
    db.session.flush()
