"""Plans personnalisés de santé (PPS, HAS model): plan, problems, objectives, actions, reviews, versions.

Every free-text column (`*_enc`) is encrypted with the patient's data key in services.py
(AAD = table:column:row id:patient id). Consent to the plan is stored on the plan itself
(date, how, recorded by, scope) — what the plan page, PDFs and dashboard use — and, when the patients
feature's consent records exist, the same consent is also recorded there (scope "pps") and its id kept in
`consent_record_id` (no FK: the plan never depends on that table). An active "pps" consent recorded
from the patient's record also counts as consent for the plan.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from esp_coord.core.db import Base, IdMixin, TimestampMixin, UTCDateTime, uuid_fk

PLAN_STATUSES = ("draft", "active", "closed")
CATEGORIES = ("health", "autonomy", "psychological", "social", "environment", "other")
VOLETS = ("care", "help")
OWNER_KINDS = ("member", "profession", "outside")
CONSENT_METHODS = ("oral", "written", "electronic")
CONSENT_SCOPES = ("care_and_help", "care_only")

_OPEN = sa.text("status <> 'closed'")


class CarePlan(IdMixin, TimestampMixin, Base):
    __tablename__ = "care_plan"
    __table_args__ = (
        # At most one open (draft or active) plan per patient and team — on both engines.
        sa.Index("uq_care_plan_open_patient", "team_id", "patient_id", unique=True,
                 sqlite_where=_OPEN, postgresql_where=_OPEN),
        sa.Index("ix_care_plan_team_status_review", "team_id", "status", "next_review_on"),
    )

    team_id: Mapped[uuid.UUID] = uuid_fk("team.id", ondelete="CASCADE", index=False)
    patient_id: Mapped[uuid.UUID] = uuid_fk("patient.id", ondelete="CASCADE")
    number: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)  # n° of the plan in the team
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="draft")
    coordinator_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                       index=False)
    opened_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    trigger_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    expectations_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    outside_participants_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    internal_notes_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)  # team copy only
    source_meeting_case_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid())  # RCP decision, no FK coupling
    next_review_on: Mapped[date | None] = mapped_column(sa.Date)
    current_version: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    validated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consent_on: Mapped[date | None] = mapped_column(sa.Date)
    consent_method: Mapped[str | None] = mapped_column(sa.String(20))
    consent_scope: Mapped[str | None] = mapped_column(sa.String(20))
    consent_record_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid())  # patients' PatientConsent row
    consent_recorded_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True,
                                                               ondelete="SET NULL", index=False)
    closed_on: Mapped[date | None] = mapped_column(sa.Date)
    close_reason_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    closed_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                     index=False)
    created_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                      index=False)

    patient = relationship("Patient", lazy="joined")
    coordinator = relationship("User", foreign_keys=[coordinator_id], lazy="joined")
    consent_recorded_by = relationship("User", foreign_keys=[consent_recorded_by_id], lazy="select")
    participants = relationship("CarePlanParticipant", cascade="all, delete-orphan", lazy="selectin")
    problems = relationship("CarePlanProblem", cascade="all, delete-orphan", lazy="selectin",
                            order_by="CarePlanProblem.rank")
    reviews = relationship("CarePlanReview", cascade="all, delete-orphan", lazy="selectin",
                           order_by="CarePlanReview.created_at")


class CarePlanParticipant(Base):
    __tablename__ = "care_plan_participant"

    plan_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), sa.ForeignKey("care_plan.id", ondelete="CASCADE"),
                                               primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), sa.ForeignKey("user_account.id", ondelete="CASCADE"),
                                               primary_key=True)
    user = relationship("User", lazy="joined")


class CarePlanProblem(IdMixin, TimestampMixin, Base):
    __tablename__ = "care_plan_problem"

    plan_id: Mapped[uuid.UUID] = uuid_fk("care_plan.id", ondelete="CASCADE")
    rank: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)
    category: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="health")
    patient_priority: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    uncertain: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    label_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)

    objectives = relationship("CarePlanObjective", cascade="all, delete-orphan", lazy="selectin",
                              order_by="CarePlanObjective.position")


class CarePlanObjective(IdMixin, TimestampMixin, Base):
    __tablename__ = "care_plan_objective"

    problem_id: Mapped[uuid.UUID] = uuid_fk("care_plan_problem.id", ondelete="CASCADE")
    plan_id: Mapped[uuid.UUID] = uuid_fk("care_plan.id", ondelete="CASCADE")
    position: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)
    text_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    criterion_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)  # evaluation criteria
    result_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)  # result at the last review

    actions = relationship("CarePlanAction", cascade="all, delete-orphan", lazy="selectin",
                           order_by="CarePlanAction.position")


class CarePlanAction(IdMixin, TimestampMixin, Base):
    __tablename__ = "care_plan_action"

    objective_id: Mapped[uuid.UUID] = uuid_fk("care_plan_objective.id", ondelete="CASCADE")
    plan_id: Mapped[uuid.UUID] = uuid_fk("care_plan.id", ondelete="CASCADE")
    position: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)
    what_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    owner_kind: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    owner_user_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                      index=False)
    owner_profession_code: Mapped[str | None] = mapped_column(sa.String(40))
    owner_outside_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    when_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)  # when / how often
    due_on: Mapped[date | None] = mapped_column(sa.Date)
    volet: Mapped[str] = mapped_column(sa.String(10), nullable=False, default="care")
    task_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid())

    owner_user = relationship("User", lazy="joined")


class CarePlanReview(IdMixin, TimestampMixin, Base):
    __tablename__ = "care_plan_review"

    plan_id: Mapped[uuid.UUID] = uuid_fk("care_plan.id", ondelete="CASCADE")
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="draft")  # draft / validated
    review_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    outside_participants_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    changes_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    outcome_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    version_number: Mapped[int | None] = mapped_column(sa.Integer)
    validated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                      index=False)

    participants = relationship("CarePlanReviewParticipant", cascade="all, delete-orphan", lazy="selectin")


class CarePlanReviewParticipant(Base):
    __tablename__ = "care_plan_review_participant"

    review_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), sa.ForeignKey("care_plan_review.id",
                                                                          ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), sa.ForeignKey("user_account.id", ondelete="CASCADE"),
                                               primary_key=True)
    user = relationship("User", lazy="joined")


class CarePlanVersion(IdMixin, Base):
    """A frozen, encrypted JSON snapshot of the plan at a validation (plan or review). Never updated."""

    __tablename__ = "care_plan_version"
    __table_args__ = (sa.UniqueConstraint("plan_id", "number"),)

    plan_id: Mapped[uuid.UUID] = uuid_fk("care_plan.id", ondelete="CASCADE", index=False)
    number: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(20), nullable=False)  # initial / review
    review_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid())
    snapshot_enc: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                      index=False)
