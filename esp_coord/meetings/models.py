"""Concertation meetings (RCP), date polls, agenda of cases, attendance and minutes.

Patient text (question, summary, decision) is encrypted with the patient's data key; nothing about a
patient ever leaves the app (e-mails and feeds only say "3 dossiers").
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from esp_coord.core.db import Base, IdMixin, TimestampMixin, UTCDateTime, uuid_fk

KINDS = ("rcp_sans", "rcp_avec", "team", "training")
PLACE_KINDS = ("practice", "home", "visio")
LEDGER_TYPES = {"rcp_sans": "RCP_SANS", "rcp_avec": "RCP_AVEC"}
ANSWERS = ("yes", "maybe", "no")


class Meeting(IdMixin, TimestampMixin, Base):
    __tablename__ = "meeting"
    __table_args__ = (sa.Index("ix_meeting_team_start", "team_id", "starts_at"),)

    team_id: Mapped[uuid.UUID] = uuid_fk("team.id", ondelete="CASCADE", index=False)
    kind: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="scheduled")  # poll/scheduled/cancelled
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    place_kind: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="practice")
    place: Mapped[str | None] = mapped_column(sa.String(300))  # practice address (never a patient's address)
    visio_url: Mapped[str | None] = mapped_column(sa.String(500))
    organiser_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                     index=False)
    uid: Mapped[str] = mapped_column(sa.String(120), unique=True, nullable=False)
    sequence: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    feed_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    poll_closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    poll_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    minutes_general: Mapped[str | None] = mapped_column(sa.Text)  # team-level text, no patient data
    minutes_version: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)
    minutes_validated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    minutes_validated_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True,
                                                                ondelete="SET NULL", index=False)

    team = relationship("Team", lazy="joined")
    organiser = relationship("User", foreign_keys=[organiser_id], lazy="joined")
    invitees = relationship("MeetingInvitee", back_populates="meeting", cascade="all, delete-orphan",
                            lazy="selectin", order_by="MeetingInvitee.created_at")
    slots = relationship("PollSlot", back_populates="meeting", cascade="all, delete-orphan", lazy="selectin",
                         order_by="PollSlot.starts_at")
    cases = relationship("MeetingCase", back_populates="meeting", cascade="all, delete-orphan", lazy="selectin",
                         order_by="MeetingCase.position")

    @property
    def is_rcp(self) -> bool:
        return self.kind in LEDGER_TYPES

    @property
    def duration_minutes(self) -> int | None:
        if self.starts_at and self.ends_at:
            return int((self.ends_at - self.starts_at).total_seconds() // 60)
        return None


class MeetingInvitee(IdMixin, TimestampMixin, Base):
    __tablename__ = "meeting_invitee"
    __table_args__ = (sa.UniqueConstraint("meeting_id", "user_id"),)

    meeting_id: Mapped[uuid.UUID] = uuid_fk("meeting.id", ondelete="CASCADE", index=False)
    user_id: Mapped[uuid.UUID] = uuid_fk("user_account.id", ondelete="CASCADE")
    response: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="needs_action")
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    present: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    check_in_method: Mapped[str | None] = mapped_column(sa.String(20))  # self / coordinator
    marked_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                     index=False)
    mark_reason: Mapped[str | None] = mapped_column(sa.String(300))

    meeting = relationship("Meeting", back_populates="invitees")
    user = relationship("User", foreign_keys=[user_id], lazy="joined")


class PollSlot(IdMixin, Base):
    __tablename__ = "meeting_poll_slot"

    meeting_id: Mapped[uuid.UUID] = uuid_fk("meeting.id", ondelete="CASCADE")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    meeting = relationship("Meeting", back_populates="slots")
    answers = relationship("PollAnswer", back_populates="slot", cascade="all, delete-orphan", lazy="selectin")


class PollAnswer(IdMixin, TimestampMixin, Base):
    __tablename__ = "meeting_poll_answer"
    __table_args__ = (sa.UniqueConstraint("slot_id", "user_id"),)

    slot_id: Mapped[uuid.UUID] = uuid_fk("meeting_poll_slot.id", ondelete="CASCADE", index=False)
    user_id: Mapped[uuid.UUID] = uuid_fk("user_account.id", ondelete="CASCADE")
    answer: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    comment: Mapped[str | None] = mapped_column(sa.String(300))

    slot = relationship("PollSlot", back_populates="answers")


class MeetingCase(IdMixin, TimestampMixin, Base):
    __tablename__ = "meeting_case"

    meeting_id: Mapped[uuid.UUID] = uuid_fk("meeting.id", ondelete="CASCADE")
    team_id: Mapped[uuid.UUID] = uuid_fk("team.id", ondelete="CASCADE", index=False)
    patient_id: Mapped[uuid.UUID] = uuid_fk("patient.id", ondelete="CASCADE")
    presenter_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                     index=False)
    created_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                      index=False)
    position: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    question_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    summary_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    decision_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)

    meeting = relationship("Meeting", back_populates="cases")
    patient = relationship("Patient", lazy="joined")
    presenter = relationship("User", foreign_keys=[presenter_id], lazy="joined")


class MinutesRevision(IdMixin, Base):
    """Content replaced by an edit made after validation (kept for the audit trail)."""

    __tablename__ = "meeting_minutes_revision"

    meeting_id: Mapped[uuid.UUID] = uuid_fk("meeting.id", ondelete="CASCADE")
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False)  # the version that was replaced
    case_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid())
    patient_id: Mapped[uuid.UUID | None] = uuid_fk("patient.id", nullable=True, ondelete="CASCADE", index=False)
    general_text: Mapped[str | None] = mapped_column(sa.Text)
    summary_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    decision_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    edited_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                     index=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class MeetingReminder(IdMixin, Base):
    """What `esp-coord send-reminders` already sent for a meeting (one per user and start time)."""

    __tablename__ = "meeting_reminder"
    __table_args__ = (sa.UniqueConstraint("meeting_id", "user_id", "starts_at"),)

    meeting_id: Mapped[uuid.UUID] = uuid_fk("meeting.id", ondelete="CASCADE", index=False)
    user_id: Mapped[uuid.UUID] = uuid_fk("user_account.id", ondelete="CASCADE", index=False)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
