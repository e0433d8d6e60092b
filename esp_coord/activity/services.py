"""Writing to the activity ledger. Every feature records fundable actions through record_action()."""

from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from esp_coord.activity.models import ActionType, LedgerEntry
from esp_coord.core import audit
from esp_coord.core.extensions import db
from esp_coord.core.time import utc_now


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
        raise LedgerError(_("Unknown action type."))
    if kind.requires_association and not team.is_association:
        raise LedgerError(_(
            "This type of action (prevention / patient education) can only be funded for a team "
            "constituted as an association loi 1901."
        ))
    if patient_count < 0 or (duration_minutes is not None and duration_minutes < 0):
        raise LedgerError(_("Numbers must be positive."))
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
        raise LedgerError(_("Unknown status."))
    entry.status = status
    entry.validated_by_id = actor.id if status == "validated" else None
    entry.validated_at = utc_now() if status == "validated" else None
    audit.record(f"ledger.{status}", actor=actor, team_id=entry.team_id, object_type="ledger_entry",
                 object_id=entry.id)


# --- manual entries, queries, validation ------------------------------------------------------------

MANUAL_SOURCE = "manual"


def manual_types(team=None) -> list[ActionType]:
    """Action types a professional may log by hand (PREV_ETP only for an association loi 1901 when a team is
    given)."""
    types = db.session.execute(
        sa.select(ActionType).where(ActionType.manual_allowed.is_(True)).order_by(ActionType.sort)
    ).scalars().all()
    if team is not None and not team.is_association:
        types = [t for t in types if not t.requires_association]
    return list(types)


def record_manual(*, team, user, action_type: str, performed_on: date, duration_minutes: int | None,
                  patient_count: int, label: str | None) -> LedgerEntry:
    """An action done outside the app, logged by the professional themself (status: to validate)."""
    from esp_coord.core.time import today_paris

    kind = db.session.get(ActionType, action_type)
    if kind is None or not kind.manual_allowed:
        raise LedgerError(_("This type of action cannot be logged by hand."))
    if performed_on > today_paris():
        raise LedgerError(_("The date cannot be in the future."))
    entry, _created = record_action(
        team=team, user_id=user.id, action_type=action_type, performed_on=performed_on,
        duration_minutes=duration_minutes, patient_count=patient_count, source_type=MANUAL_SOURCE,
        label=(label or "").strip() or None, actor=user,
    )
    return entry


def delete_own_entry(entry: LedgerEntry, *, actor) -> None:
    """A professional may withdraw their own entry while it is still to validate."""
    if entry.user_id != actor.id or entry.status != "to_validate":
        raise LedgerError(_("Only your own entries still to validate can be deleted."))
    audit.record("ledger.delete", actor=actor, team_id=entry.team_id, object_type="ledger_entry",
                 object_id=entry.id, details={"type": entry.action_type})
    db.session.delete(entry)
    db.session.flush()


def bulk_set_status(team_id, entry_ids, status: str, *, actor) -> int:
    """Validate or reject several entries of one team; ids of other teams are ignored."""
    if not entry_ids:
        return 0
    entries = db.session.execute(
        sa.select(LedgerEntry).where(LedgerEntry.team_id == team_id, LedgerEntry.id.in_(list(entry_ids)))
    ).scalars().unique().all()
    count = 0
    for entry in entries:
        if entry.status != status:
            set_status(entry, status, actor=actor)
            count += 1
    db.session.flush()
    return count


def ledger_query(*, team_ids=None, user_id=None, year: int | None = None, status: str | None = None,
                 action_type: str | None = None, member_id=None):
    stmt = sa.select(LedgerEntry)
    if team_ids is not None:
        stmt = stmt.where(LedgerEntry.team_id.in_(list(team_ids)))
    if user_id is not None:
        stmt = stmt.where(LedgerEntry.user_id == user_id)
    if member_id is not None:
        stmt = stmt.where(LedgerEntry.user_id == member_id)
    if year:
        stmt = stmt.where(LedgerEntry.performed_on >= date(year, 1, 1), LedgerEntry.performed_on <= date(year, 12, 31))
    if status:
        stmt = stmt.where(LedgerEntry.status == status)
    if action_type:
        stmt = stmt.where(LedgerEntry.action_type == action_type)
    return stmt.order_by(LedgerEntry.performed_on.desc(), LedgerEntry.created_at.desc())


def list_entries(**filters) -> list[LedgerEntry]:
    return list(db.session.execute(ledger_query(**filters)).scalars().unique())


PAGE_SIZE = 100


def list_page(page: int = 1, **filters) -> tuple[list[LedgerEntry], int]:
    """One page of entries (newest first) and the number of pages; the totals come from totals_sql()."""
    total = db.session.execute(
        sa.select(sa.func.count()).select_from(ledger_query(**filters).order_by(None).subquery())).scalar_one()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    stmt = ledger_query(**filters).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    return list(db.session.execute(stmt).scalars().unique()), pages


def totals_sql(**filters) -> dict:
    """Counts, patients, minutes, per status and per type, aggregated by the database (no row is loaded)."""
    sub = ledger_query(**filters).order_by(None).subquery()
    rows = db.session.execute(
        sa.select(sub.c.status, sub.c.action_type, sa.func.count(),
                  sa.func.coalesce(sa.func.sum(sub.c.patient_count), 0),
                  sa.func.coalesce(sa.func.sum(sub.c.duration_minutes), 0))
        .group_by(sub.c.status, sub.c.action_type)).all()
    labels = dict(db.session.execute(sa.select(ActionType.code, ActionType.label)).all())
    out = {"count": 0, "patients": 0, "minutes": 0, "by_status": {}, "by_type": {}}
    for status, code, count, patients, minutes in rows:
        out["count"] += count
        out["patients"] += int(patients)
        out["minutes"] += int(minutes)
        out["by_status"][status] = out["by_status"].get(status, 0) + count
        label = labels.get(code, code)
        out["by_type"][label] = out["by_type"].get(label, 0) + count
    return out


def ledger_csv(entries) -> str:
    """';'-separated, French numbers, never patient data (labels are neutral by rule)."""
    from esp_coord.core.pdf import csv_text
    from esp_coord.core.time import format_number, format_short_date

    rows = [[_("Date"), _("Professional"), _("Profession"), _("Action type"), _("Duration (min)"),
             _("Patients"), _("Status"), _("Label"), _("Origin")]]
    for e in entries:
        rows.append([
            format_short_date(e.performed_on), e.user.full_name, e.user.profession_label,
            e.type.label if e.type else e.action_type,
            format_number(e.duration_minutes, 0) if e.duration_minutes is not None else "",
            format_number(e.patient_count, 0), e.status_label, e.label or "", source_label(e.source_type),
        ])
    return csv_text(rows)


def source_label(source_type: str | None) -> str:
    labels = {
        MANUAL_SOURCE: _("logged by hand"), "meeting": _("meeting"), "care_plan": _("care plan"),
        "pps": _("care plan"), "protocol": _("protocol"),
    }
    return labels.get(source_type or "", source_type or "")
