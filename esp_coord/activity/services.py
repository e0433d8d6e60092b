"""Writing to the activity ledger. Every feature records fundable actions through record_action()."""

from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from esp_coord.activity.models import ActionType, LedgerEntry
from esp_coord.core import audit
from esp_coord.core.time import utc_now
from esp_coord.extensions import db


class LedgerError(ValueError):
    """A French message explaining why the entry is refused."""


def record_action(
    *,
    team,
    user_id: uuid.UUID,
    action_type: str,
    performed_on: date,
    duration_minutes: int | None = None,
    patient_count: int = 0,
    source_type: str | None = None,
    source_id: uuid.UUID | None = None,
    label: str | None = None,
    status: str = "to_validate",
    actor=None,
) -> tuple[LedgerEntry, bool]:
    """Record one fundable action, once. Returns (entry, created).

    With a source object (meeting, PPS, protocol…) the entry is unique per (team, professional,
    action type, source): calling again returns the existing entry, even under concurrency.
    `label` must never contain patient data.
    """
    kind = db.session.get(ActionType, action_type)
    if kind is None:
        raise LedgerError("Type d'action inconnu.")
    if kind.requires_association and not team.is_association:
        raise LedgerError(
            "Ce type d'action (prévention / ETP) n'est finançable que pour une équipe "
            "constituée en association loi 1901."
        )
    if patient_count < 0 or (duration_minutes is not None and duration_minutes < 0):
        raise LedgerError("Les nombres doivent être positifs.")
    if source_id is not None:
        existing = _find(team.id, user_id, action_type, source_type, source_id)
        if existing is not None:
            return existing, False
    entry = LedgerEntry(
        id=uuid.uuid4(), team_id=team.id, user_id=user_id, action_type=action_type, performed_on=performed_on,
        duration_minutes=duration_minutes, patient_count=patient_count, source_type=source_type,
        source_id=source_id, label=label, status=status, created_by_id=actor.id if actor else None,
    )
    if status == "validated":
        entry.validated_at = utc_now()
        entry.validated_by_id = actor.id if actor else None
    try:
        with db.session.begin_nested():
            db.session.add(entry)
            db.session.flush()
    except IntegrityError:
        existing = _find(team.id, user_id, action_type, source_type, source_id)
        if existing is None:
            raise
        return existing, False
    audit.record("ledger.record", actor=actor, team_id=team.id, object_type="ledger_entry", object_id=entry.id,
                 details={"type": action_type, "source": source_type})
    return entry, True


def _find(team_id, user_id, action_type, source_type, source_id):
    return db.session.execute(
        sa.select(LedgerEntry).where(
            LedgerEntry.team_id == team_id, LedgerEntry.user_id == user_id, LedgerEntry.action_type == action_type,
            LedgerEntry.source_type == source_type, LedgerEntry.source_id == source_id,
        )
    ).scalar_one_or_none()


def set_status(entry: LedgerEntry, status: str, *, actor) -> None:
    if status not in ("validated", "rejected", "to_validate"):
        raise LedgerError("Statut inconnu.")
    entry.status = status
    entry.validated_by_id = actor.id if status == "validated" else None
    entry.validated_at = utc_now() if status == "validated" else None
    audit.record(f"ledger.{status}", actor=actor, team_id=entry.team_id, object_type="ledger_entry",
                 object_id=entry.id)
