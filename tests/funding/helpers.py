"""Shared builders for funding/report tests: validated ledger entries."""

from __future__ import annotations

import uuid
from datetime import date

from esp_coord.activity.services import record_action
from esp_coord.core.extensions import db


def entry(team, user, action_type="RCP_SANS", on=date(2026, 3, 10), *, source_type=None, source_id=None,
          patient_count=0, duration=None, status="validated", actor=None):
    e, _created = record_action(team=team, user_id=user.id, action_type=action_type, performed_on=on,
                                duration_minutes=duration, patient_count=patient_count, source_type=source_type,
                                source_id=source_id, status=status, actor=actor or user)
    db.session.commit()
    return e


def meeting_entries(team, users, on, action_type="RCP_SANS", patient_count=3):
    """One meeting (fake source id) attended by `users`."""
    sid = uuid.uuid4()
    return [entry(team, u, action_type, on, source_type="meeting", source_id=sid, patient_count=patient_count)
            for u in users]
