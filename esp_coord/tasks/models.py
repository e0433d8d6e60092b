"""Follow-up tasks (from RCP minutes, PPS actions, or created by hand).

When a task is about a patient, its title is encrypted with that patient's data key
(AAD task.title:<task id>:<patient id>) and `title` holds only a neutral label.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from esp_coord.core.db import Base, IdMixin, TimestampMixin, UTCDateTime, uuid_fk

TASK_STATUSES = {"open": _l("To do"), "in_progress": _l("In progress"), "done": _l("Done"),
                 "cancelled": _l("Cancelled")}


class Task(IdMixin, TimestampMixin, Base):
    __tablename__ = "task"
    __table_args__ = (sa.Index("ix_task_owner_status_due", "owner_id", "status", "due_on"),)

    team_id: Mapped[uuid.UUID] = uuid_fk("team.id", ondelete="CASCADE")
    owner_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                 index=False)
    patient_id: Mapped[uuid.UUID | None] = uuid_fk("patient.id", nullable=True, ondelete="CASCADE")
    title: Mapped[str] = mapped_column(sa.String(300), nullable=False)  # neutral, never patient data
    detail_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)  # encrypted when patient_id is set
    detail_plain: Mapped[str | None] = mapped_column(sa.Text)  # only for tasks without a patient
    due_on: Mapped[date | None] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="open")
    source_type: Mapped[str | None] = mapped_column(sa.String(40))
    source_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid())
    created_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                      index=False)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminded_on: Mapped[date | None] = mapped_column(sa.Date)

    team = relationship("Team", lazy="joined")
    owner = relationship("User", foreign_keys=[owner_id], lazy="joined")

    @property
    def status_label(self) -> str:
        return str(TASK_STATUSES.get(self.status, self.status))

    @property
    def is_open(self) -> bool:
        return self.status in ("open", "in_progress")
