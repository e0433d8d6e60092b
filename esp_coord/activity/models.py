"""The activity ledger: every fundable ESP CLAP action lands here, once."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from esp_coord.core.db import Base, IdMixin, TimestampMixin, UTCDateTime, uuid_fk

LEDGER_STATUSES = {"to_validate": _l("To validate"), "validated": _l("Approved"), "rejected": _l("Rejected")}


class ActionType(Base):
    """Reference list of fundable action kinds (domain.md §2.4). Amounts live in the funding grid."""

    __tablename__ = "action_type"

    code: Mapped[str] = mapped_column(sa.String(30), primary_key=True)
    label: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    requires_association: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    manual_allowed: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    sort: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)


class LedgerEntry(IdMixin, TimestampMixin, Base):
    __tablename__ = "ledger_entry"
    __table_args__ = (
        # once-only: one entry per professional, action type and source object
        sa.UniqueConstraint("team_id", "user_id", "action_type", "source_type", "source_id"),
        sa.Index("ix_ledger_entry_team_date", "team_id", "performed_on"),
    )

    team_id: Mapped[uuid.UUID] = uuid_fk("team.id", ondelete="CASCADE", index=False)
    user_id: Mapped[uuid.UUID] = uuid_fk("user_account.id", ondelete="RESTRICT")
    action_type: Mapped[str] = mapped_column(sa.String(30), sa.ForeignKey("action_type.code"), nullable=False)
    performed_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    duration_minutes: Mapped[int | None] = mapped_column(sa.Integer)
    patient_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    source_type: Mapped[str | None] = mapped_column(sa.String(40))
    source_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid())
    label: Mapped[str | None] = mapped_column(sa.String(300))  # never patient data
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="to_validate", index=True)
    created_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                      index=False)
    validated_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                        index=False)
    validated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    team = relationship("Team", lazy="joined")
    user = relationship("User", foreign_keys=[user_id], lazy="joined")
    type = relationship("ActionType", lazy="joined")

    @property
    def status_label(self) -> str:
        return str(LEDGER_STATUSES.get(self.status, self.status))
