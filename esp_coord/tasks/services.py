"""Follow-up tasks: created by meetings (minutes), PPS actions, or by hand."""

from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from flask_babel import gettext as _

from esp_coord.core import audit
from esp_coord.core.extensions import db
from esp_coord.core.time import utc_now
from esp_coord.tasks.models import TASK_STATUSES, Task


class TaskError(ValueError):
    pass


def create_task(
    *,
    team_id: uuid.UUID,
    owner_id: uuid.UUID | None,
    title: str,
    due_on: date | None = None,
    detail: str | None = None,
    patient_id: uuid.UUID | None = None,
    source_type: str | None = None,
    source_id: uuid.UUID | None = None,
    actor=None,
) -> Task:
    """`title` is shown everywhere (e-mails included): never patient data. `detail` may hold patient text:
    it is then encrypted with the patient's key."""
    if not title or not title.strip():
        raise TaskError(_("The task title is required."))
    task = Task(id=uuid.uuid4(), team_id=team_id, owner_id=owner_id, title=title.strip()[:300], due_on=due_on,
                patient_id=patient_id, source_type=source_type, source_id=source_id,
                created_by_id=actor.id if actor else None, status="open")
    if detail:
        if patient_id is not None:
            from esp_coord.patients.crypto_service import encrypt_text

            task.detail_enc = encrypt_text(patient_id, "task", "detail", task.id, detail)
        else:
            task.detail_plain = detail
    db.session.add(task)
    db.session.flush()
    audit.record("task.create", actor=actor, team_id=team_id, patient_id=patient_id, object_type="task",
                 object_id=task.id)
    return task


def task_detail(task: Task) -> str | None:
    if task.detail_enc is not None and task.patient_id is not None:
        from esp_coord.patients.crypto_service import read_text

        return read_text(task.patient_id, "task", "detail", task.id, task.detail_enc, team_id=task.team_id)
    return task.detail_plain


def set_task_status(task: Task, status: str, *, actor) -> None:
    if status not in TASK_STATUSES:
        raise TaskError(_("Unknown status."))
    task.status = status
    task.completed_at = utc_now() if status == "done" else None
    audit.record("task.status", actor=actor, team_id=task.team_id, patient_id=task.patient_id, object_type="task",
                 object_id=task.id, details={"status": status})


# --- lists and display -----------------------------------------------------------------------------

OPEN_STATUSES = ("open", "in_progress")


def _ordered(stmt, today: date, *, open_first: bool = False):
    """Overdue first, then by due date (tasks without a due date last), then oldest first."""
    is_open = Task.status.in_(OPEN_STATUSES)
    overdue = sa.case((sa.and_(is_open, Task.due_on.is_not(None), Task.due_on < today), 0), else_=1)
    no_due = sa.case((Task.due_on.is_(None), 1), else_=0)
    keys = [overdue, no_due, Task.due_on, Task.created_at]
    if open_first:
        keys.insert(0, sa.case((is_open, 0), else_=1))
    return stmt.order_by(*keys)


def tasks_for_user(user, *, include_closed: bool = False, today: date | None = None, limit: int | None = None):
    """"Mes tâches": the user's tasks in the teams they currently belong to."""
    from esp_coord.core.time import today_paris

    today = today or today_paris()
    team_ids = list(user.team_ids)
    if not team_ids:
        return []
    stmt = sa.select(Task).where(Task.owner_id == user.id, Task.team_id.in_(team_ids))
    if not include_closed:
        stmt = stmt.where(Task.status.in_(OPEN_STATUSES))
    stmt = _ordered(stmt, today, open_first=include_closed)
    if limit:
        stmt = stmt.limit(limit)
    return list(db.session.execute(stmt).scalars().unique())


def tasks_for_team(team_id, *, today: date | None = None, owner_id=None):
    from esp_coord.core.time import today_paris

    stmt = sa.select(Task).where(Task.team_id == team_id, Task.status.in_(OPEN_STATUSES))
    if owner_id is not None:
        stmt = stmt.where(Task.owner_id == owner_id)
    return list(db.session.execute(_ordered(stmt, today or today_paris())).scalars().unique())


def is_overdue(task: Task, today: date | None = None) -> bool:
    from esp_coord.core.time import today_paris

    return task.is_open and task.due_on is not None and task.due_on < (today or today_paris())


def can_change(task: Task, user, membership) -> bool:
    return (task.owner_id == user.id) or (membership is not None and membership.has_role("coordinator"))


def displayed_details(tasks, viewer) -> dict:
    """{task id: text or None} for display, with the opposition rule for patient tasks and one audit row per
    patient task whose text is shown."""
    from esp_coord.patients.models import Patient

    patient_ids = {t.patient_id for t in tasks if t.patient_id is not None}
    patients = {}
    if patient_ids:
        patients = {p.id: p for p in db.session.execute(
            sa.select(Patient).where(Patient.id.in_(patient_ids))).scalars()}
    from esp_coord.patients.crypto_service import prefetch_keys

    prefetch_keys(patient_ids)
    out: dict = {}
    reads: list[dict] = []
    for task in tasks:
        if task.patient_id is None:
            out[task.id] = task.detail_plain
            continue
        patient = patients.get(task.patient_id)
        if patient is None or patient.erased_at is not None:
            out[task.id] = None
            continue
        from esp_coord.patients.access import OPPOSITION_NOTICE, content_visible

        if not content_visible(patient, task.created_by_id, viewer):
            out[task.id] = OPPOSITION_NOTICE
            continue
        if task.detail_enc is None:
            out[task.id] = None
            continue
        out[task.id] = task_detail(task)
        reads.append({"team_id": task.team_id, "patient_id": task.patient_id, "object_type": "task",
                      "object_id": task.id})
    audit.record_many("task.read", reads, actor=viewer)
    return out


def visible_patients(tasks) -> set:
    """Ids of patients (of these tasks) whose file can be linked (not erased)."""
    from esp_coord.patients.models import Patient

    ids = {t.patient_id for t in tasks if t.patient_id is not None}
    if not ids:
        return set()
    return set(db.session.execute(
        sa.select(Patient.id).where(Patient.id.in_(ids), Patient.erased_at.is_(None))).scalars())


def tasks_of_patient(patient_id) -> list[Task]:
    return list(db.session.execute(
        sa.select(Task).where(Task.patient_id == patient_id).order_by(Task.created_at)).scalars().unique())


def timeline_items(patient, viewer):
    """Hook patient_timeline: the patient's follow-up tasks (text hidden under the opposition rule)."""
    from esp_coord.core.timeline import TimelineItem
    from esp_coord.patients.access import OPPOSITION_NOTICE, content_visible

    items = []
    for task in tasks_of_patient(patient.id):
        visible = content_visible(patient, task.created_by_id, viewer)
        detail = task_detail(task) if visible else OPPOSITION_NOTICE
        due = ""
        if task.due_on:
            from esp_coord.core.time import format_date

            due = " — " + _("due %(date)s", date=format_date(task.due_on))
        owner = task.owner.full_name if task.owner else _("nobody")
        items.append(TimelineItem(
            at=task.created_at, kind="task", title=_("Task: %(title)s", title=task.title),
            detail=f"{owner} · {task.status_label}{due}" + (f"\n{detail}" if detail else ""),
        ))
    return items


def export_section(patient) -> dict:
    """Hook patient_export: the patient's follow-up tasks for the patient-rights export."""
    return {"title": _("Follow-up tasks"), "key": "tasks", "tasks": [
        {"created_at": t.created_at.isoformat(), "title": t.title, "detail": task_detail(t),
         "owner": t.owner.full_name if t.owner else None, "due_on": t.due_on.isoformat() if t.due_on else None,
         "status": str(t.status_label)} for t in tasks_of_patient(patient.id)]}
