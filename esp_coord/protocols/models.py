"""Protocols: the team library (HAS 2015), the national cooperation protocols (2020) adopted by a team,
patients included in a protocol and the acts done under it.

Patient free text (criteria met, act comments, end reason) is encrypted with the patient's data key
(`*_enc`); everything else here is team-level data.
"""

from __future__ import annotations

import json
import uuid
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from esp_coord.core.db import Base, IdMixin, TimestampMixin, uuid_fk

STATUSES = ("draft", "validated", "archived")
OUTCOMES = ("pris_en_charge", "orientation_medecin", "refus_patient")
REFERRAL_OUTCOME = "orientation_medecin"
# French labels of the outcomes for data shown outside the forms (timeline, export)
OUTCOME_LABELS = {"pris_en_charge": "Pris en charge", "orientation_medecin": "Orientation vers le médecin",
                  "refus_patient": "Refus du patient"}


class Protocol(IdMixin, TimestampMixin, Base):
    """A pluriprofessional protocol of a team: the working copy of its current version."""

    __tablename__ = "protocol"

    team_id: Mapped[uuid.UUID] = uuid_fk("team.id", ondelete="CASCADE")
    title: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    theme: Mapped[str | None] = mapped_column(sa.String(200))
    problem: Mapped[str | None] = mapped_column(sa.Text)
    population: Mapped[str | None] = mapped_column(sa.Text)
    inclusion_criteria: Mapped[str | None] = mapped_column(sa.Text)
    exclusion_criteria: Mapped[str | None] = mapped_column(sa.Text)
    critical_points: Mapped[str | None] = mapped_column(sa.Text)
    steps_json: Mapped[str] = mapped_column(sa.Text, nullable=False, default="[]")
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="draft")
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)
    validated_on: Mapped[date | None] = mapped_column(sa.Date)
    next_review_on: Mapped[date | None] = mapped_column(sa.Date)
    created_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                      index=False)

    roles = relationship("ProtocolRole", cascade="all, delete-orphan", lazy="selectin",
                         order_by="ProtocolRole.sort")
    authors = relationship("ProtocolAuthor", cascade="all, delete-orphan", lazy="selectin")
    versions = relationship("ProtocolVersion", cascade="all, delete-orphan", lazy="selectin",
                            order_by="ProtocolVersion.number")
    documents = relationship("ProtocolDocument", cascade="all, delete-orphan", lazy="selectin",
                             order_by="ProtocolDocument.created_at")

    @property
    def steps(self) -> list[str]:
        return json.loads(self.steps_json or "[]")

    @steps.setter
    def steps(self, value: list[str]) -> None:
        self.steps_json = json.dumps(list(value), ensure_ascii=False)

    @property
    def current_documents(self) -> list:
        """Documents of the working copy (withdrawn ones stay stored for the frozen versions citing them)."""
        return [d for d in self.documents if not d.withdrawn]

    @property
    def author_ids(self) -> list[uuid.UUID]:
        return [a.user_id for a in self.authors]


class ProtocolRole(IdMixin, Base):
    __tablename__ = "protocol_role"
    __table_args__ = (sa.UniqueConstraint("protocol_id", "profession_code"),)

    protocol_id: Mapped[uuid.UUID] = uuid_fk("protocol.id", ondelete="CASCADE")
    profession_code: Mapped[str] = mapped_column(sa.String(40), sa.ForeignKey("profession.code"), nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False)
    sort: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)

    profession = relationship("Profession", lazy="joined")


class ProtocolAuthor(Base):
    """The writing group."""

    __tablename__ = "protocol_author"

    protocol_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), sa.ForeignKey("protocol.id", ondelete="CASCADE"),
                                                   primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), sa.ForeignKey("user_account.id", ondelete="CASCADE"),
                                               primary_key=True)

    user = relationship("User", lazy="joined")


class ProtocolVersion(IdMixin, TimestampMixin, Base):
    """A validated, frozen version (JSON snapshot of every field, roles, steps and writing group)."""

    __tablename__ = "protocol_version"
    __table_args__ = (sa.UniqueConstraint("protocol_id", "number"),)

    protocol_id: Mapped[uuid.UUID] = uuid_fk("protocol.id", ondelete="CASCADE")
    number: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    snapshot_json: Mapped[str] = mapped_column(sa.Text, nullable=False)
    validated_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    next_review_on: Mapped[date | None] = mapped_column(sa.Date)
    validated_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                        index=False)

    @property
    def snapshot(self) -> dict:
        return json.loads(self.snapshot_json)


class ProtocolDocument(IdMixin, TimestampMixin, Base):
    """An attached PDF, stored in the database (checked by its magic bytes, size-limited)."""

    __tablename__ = "protocol_document"

    protocol_id: Mapped[uuid.UUID] = uuid_fk("protocol.id", ondelete="CASCADE")
    title: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    filename: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    size: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    content: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    withdrawn: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    uploaded_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                       index=False)


class ProtocolMeeting(IdMixin, TimestampMixin, Base):
    """A writing meeting of the protocol's writing group."""

    __tablename__ = "protocol_meeting"

    protocol_id: Mapped[uuid.UUID] = uuid_fk("protocol.id", ondelete="CASCADE")
    team_id: Mapped[uuid.UUID] = uuid_fk("team.id", ondelete="CASCADE")
    held_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    duration_minutes: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    notes: Mapped[str | None] = mapped_column(sa.Text)
    created_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                      index=False)

    attendees = relationship("ProtocolMeetingAttendee", cascade="all, delete-orphan", lazy="selectin")


class ProtocolMeetingAttendee(Base):
    __tablename__ = "protocol_meeting_attendee"

    meeting_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid(), sa.ForeignKey("protocol_meeting.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), sa.ForeignKey("user_account.id", ondelete="CASCADE"),
                                               primary_key=True)

    user = relationship("User", lazy="joined")


class CooperationProtocol(Base):
    """Reference table: the national cooperation protocols (loaded from data/cooperation_protocols.json)."""

    __tablename__ = "cooperation_protocol"

    code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(300), nullable=False)
    short_title: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    population: Mapped[str] = mapped_column(sa.Text, nullable=False)
    sex: Mapped[str | None] = mapped_column(sa.String(1))  # "F", "M" or None (both)
    age_min: Mapped[int | None] = mapped_column(sa.Integer)
    age_min_unit: Mapped[str] = mapped_column(sa.String(10), nullable=False, default="years")
    age_max: Mapped[int | None] = mapped_column(sa.Integer)
    age_max_unit: Mapped[str] = mapped_column(sa.String(10), nullable=False, default="years")
    delegating_json: Mapped[str] = mapped_column(sa.Text, nullable=False, default="[]")
    delegated_json: Mapped[str] = mapped_column(sa.Text, nullable=False, default="[]")
    training_hours: Mapped[int | None] = mapped_column(sa.Integer)
    sources_json: Mapped[str] = mapped_column(sa.Text, nullable=False, default="[]")
    notes: Mapped[str | None] = mapped_column(sa.Text)
    sort: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)

    @property
    def delegating(self) -> list[str]:
        return json.loads(self.delegating_json)

    @property
    def delegated(self) -> list[str]:
        return json.loads(self.delegated_json)

    @property
    def sources(self) -> list[str]:
        return json.loads(self.sources_json)


class Adoption(IdMixin, TimestampMixin, Base):
    """A team's adoption of a national cooperation protocol."""

    __tablename__ = "protocol_adoption"
    __table_args__ = (sa.UniqueConstraint("team_id", "cooperation_code"),)

    team_id: Mapped[uuid.UUID] = uuid_fk("team.id", ondelete="CASCADE")
    cooperation_code: Mapped[str] = mapped_column(sa.String(40), sa.ForeignKey("cooperation_protocol.code"),
                                                  nullable=False)
    adopted_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    ars_declared_on: Mapped[date | None] = mapped_column(sa.Date)
    created_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                      index=False)

    cooperation = relationship("CooperationProtocol", lazy="joined")
    participants = relationship("AdoptionParticipant", cascade="all, delete-orphan", lazy="selectin")
    attestations = relationship("TrainingAttestation", cascade="all, delete-orphan", lazy="selectin",
                                order_by="TrainingAttestation.trained_on")

    def user_ids(self, role: str) -> list[uuid.UUID]:
        return [p.user_id for p in self.participants if p.role == role]

    def attestation_for(self, user_id, on: date | None = None):
        """The latest attestation of this professional dated on or before `on` (any when None)."""
        found = [a for a in self.attestations if a.user_id == user_id and (on is None or a.trained_on <= on)]
        return found[-1] if found else None


class AdoptionParticipant(Base):
    """A delegating physician ("delegating") or a delegated professional ("delegated")."""

    __tablename__ = "protocol_adoption_participant"

    adoption_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid(), sa.ForeignKey("protocol_adoption.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), sa.ForeignKey("user_account.id", ondelete="CASCADE"),
                                               primary_key=True)
    role: Mapped[str] = mapped_column(sa.String(20), primary_key=True)

    user = relationship("User", lazy="joined")


class TrainingAttestation(IdMixin, TimestampMixin, Base):
    __tablename__ = "protocol_training_attestation"

    adoption_id: Mapped[uuid.UUID] = uuid_fk("protocol_adoption.id", ondelete="CASCADE")
    user_id: Mapped[uuid.UUID] = uuid_fk("user_account.id", ondelete="CASCADE")
    trained_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    organisation: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    hours: Mapped[float] = mapped_column(sa.Numeric(6, 1), nullable=False)
    recorded_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                       index=False)

    user = relationship("User", lazy="joined", foreign_keys=[user_id])


class Inclusion(IdMixin, TimestampMixin, Base):
    """A patient included in a team protocol or in an adopted cooperation protocol (exactly one of the two)."""

    __tablename__ = "protocol_inclusion"
    __table_args__ = (
        sa.CheckConstraint("(protocol_id IS NULL) <> (adoption_id IS NULL)", name="one_target"),
    )

    team_id: Mapped[uuid.UUID] = uuid_fk("team.id", ondelete="CASCADE")
    patient_id: Mapped[uuid.UUID] = uuid_fk("patient.id", ondelete="CASCADE")
    protocol_id: Mapped[uuid.UUID | None] = uuid_fk("protocol.id", nullable=True, ondelete="CASCADE")
    adoption_id: Mapped[uuid.UUID | None] = uuid_fk("protocol_adoption.id", nullable=True, ondelete="CASCADE")
    included_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    included_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                       index=False)
    criteria_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    ended_on: Mapped[date | None] = mapped_column(sa.Date)
    end_reason_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    ended_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                    index=False)

    protocol = relationship("Protocol", lazy="joined")
    adoption = relationship("Adoption", lazy="joined")
    included_by = relationship("User", lazy="joined", foreign_keys=[included_by_id])
    acts = relationship("ProtocolAct", cascade="all, delete-orphan", lazy="selectin",
                        order_by="ProtocolAct.performed_on")

    @property
    def target_title(self) -> str:
        if self.protocol is not None:
            return self.protocol.title
        return self.adoption.cooperation.short_title if self.adoption else ""

    @property
    def is_active(self) -> bool:
        return self.ended_on is None


class ProtocolAct(IdMixin, TimestampMixin, Base):
    """An act done under a protocol for an included patient."""

    __tablename__ = "protocol_act"

    team_id: Mapped[uuid.UUID] = uuid_fk("team.id", ondelete="CASCADE")
    inclusion_id: Mapped[uuid.UUID] = uuid_fk("protocol_inclusion.id", ondelete="CASCADE")
    patient_id: Mapped[uuid.UUID] = uuid_fk("patient.id", ondelete="CASCADE")
    performed_on: Mapped[date] = mapped_column(sa.Date, nullable=False, index=True)
    professional_id: Mapped[uuid.UUID] = uuid_fk("user_account.id", ondelete="CASCADE")
    profession_code: Mapped[str | None] = mapped_column(sa.String(40))  # at the time of the act
    outcome: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    comment_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    recorded_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                       index=False)

    professional = relationship("User", lazy="joined", foreign_keys=[professional_id])
