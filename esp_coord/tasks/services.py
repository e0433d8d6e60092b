"""Follow-up tasks: created by meetings (minutes), PPS actions, or by hand."""

from __future__ import annotations

import uuid
from datetime import date

from esp_coord.core import audit
from esp_coord.core.time import utc_now
from esp_coord.extensions import db
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
        raise TaskError("Le titre de la tâche est obligatoire.")
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
        raise TaskError("Statut inconnu.")
    task.status = status
    task.completed_at = utc_now() if status == "done" else None
    audit.record("task.status", actor=actor, team_id=task.team_id, patient_id=task.patient_id, object_type="task",
                 object_id=task.id, details={"status": status})
