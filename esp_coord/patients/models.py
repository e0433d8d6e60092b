"""Patients (one record per team) and their per-patient data keys.

Every identity and free-text field is stored encrypted (`*_enc`, see core/crypto.py) with the
patient's data key. Search uses HMAC blind indexes (see patients/search.py for the rationale).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from esp_coord.core.db import Base, IdMixin, TimestampMixin, UTCDateTime, uuid_fk


class Patient(IdMixin, TimestampMixin, Base):
    __tablename__ = "patient"

    team_id: Mapped[uuid.UUID] = uuid_fk("team.id", ondelete="CASCADE")
    birth_name_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    usage_name_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    first_names_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    birth_date_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    sex_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    ins_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    commune_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    gp_free_text_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    gp_member_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                     index=False)
    birth_year_index: Mapped[bytes | None] = mapped_column(sa.LargeBinary(16))
    birth_date_index: Mapped[bytes | None] = mapped_column(sa.LargeBinary(16), index=True)
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    opposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # opposition to sharing (L1110-4)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                      index=False)

    team = relationship("Team", lazy="joined")
    gp_member = relationship("User", foreign_keys=[gp_member_id], lazy="joined")
    followers = relationship("PatientFollower", lazy="selectin", viewonly=True)

    @property
    def is_opposed(self) -> bool:
        return self.opposed_at is not None

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None




class PatientNameIndex(IdMixin, Base):
    """Blind-index tokens for name prefix search (HMAC of normalised prefixes, per team)."""

    __tablename__ = "patient_name_index"
    __table_args__ = (sa.Index("ix_patient_name_index_team_token", "team_id", "token"),)

    patient_id: Mapped[uuid.UUID] = uuid_fk("patient.id", ondelete="CASCADE")
    team_id: Mapped[uuid.UUID] = uuid_fk("team.id", ondelete="CASCADE", index=False)
    token: Mapped[bytes] = mapped_column(sa.LargeBinary(16), nullable=False)


class PatientFollower(Base):
    """Professionals of the team who follow the patient."""

    __tablename__ = "patient_follower"

    patient_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), sa.ForeignKey("patient.id", ondelete="CASCADE"),
                                                  primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), sa.ForeignKey("user_account.id", ondelete="CASCADE"),
                                               primary_key=True)
    user = relationship("User", lazy="joined")


NOTE_CATEGORIES = ("clinical", "social", "coordination")
INFORMATION_METHODS = ("oral", "leaflet", "oral_leaflet", "deferred")
CONSENT_SCOPES = ("pps", "outside_team", "protocol", "telehealth", "other")


class PatientNote(IdMixin, Base):
    """An encrypted note. `body_enc` is bound to (patient_note, body, note id, patient id)."""

    __tablename__ = "patient_note"
    __table_args__ = (sa.Index("ix_patient_note_patient_created", "patient_id", "created_at"),)

    patient_id: Mapped[uuid.UUID] = uuid_fk("patient.id", ondelete="CASCADE", index=False)
    team_id: Mapped[uuid.UUID] = uuid_fk("team.id", ondelete="CASCADE")
    author_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                  index=False)
    category: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    body_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)
    corrects_id: Mapped[uuid.UUID | None] = uuid_fk("patient_note.id", nullable=True, ondelete="SET NULL",
                                                    index=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    author = relationship("User", lazy="joined")


class PatientNoteVersion(IdMixin, Base):
    """An earlier version of a note, re-encrypted under its own row binding."""

    __tablename__ = "patient_note_version"

    note_id: Mapped[uuid.UUID] = uuid_fk("patient_note.id", ondelete="CASCADE")
    patient_id: Mapped[uuid.UUID] = uuid_fk("patient.id", ondelete="CASCADE", index=False)
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    category: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    body_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    written_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    replaced_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    replaced_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                       index=False)


class PatientInformation(IdMixin, Base):
    """The patient was informed that their data is shared within the care team (R1110-1 CSP)."""

    __tablename__ = "patient_information"

    patient_id: Mapped[uuid.UUID] = uuid_fk("patient.id", ondelete="CASCADE")
    informed_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    informed_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                       index=False)
    method: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    comment_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    recorded_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                       index=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    informed_by = relationship("User", foreign_keys=[informed_by_id], lazy="joined")


class PatientConsent(IdMixin, Base):
    """A consent (scope, date) and its withdrawal; an optional scanned form, encrypted in the database."""

    __tablename__ = "patient_consent"

    patient_id: Mapped[uuid.UUID] = uuid_fk("patient.id", ondelete="CASCADE")
    scope: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    detail_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    given_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    recorded_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                       index=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    withdrawn_on: Mapped[date | None] = mapped_column(sa.Date)
    withdrawn_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                        index=False)
    attachment_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    attachment_type: Mapped[str | None] = mapped_column(sa.String(20))  # "pdf", "jpeg", "png"
    attachment_size: Mapped[int | None] = mapped_column(sa.Integer)

    recorded_by = relationship("User", foreign_keys=[recorded_by_id], lazy="joined")
    withdrawn_by = relationship("User", foreign_keys=[withdrawn_by_id], lazy="joined")

    @property
    def is_active(self) -> bool:
        return self.withdrawn_on is None


class PatientOpposition(IdMixin, Base):
    """The patient objected to sharing within the team (L1110-4, R1110-3 CSP); may be lifted later."""

    __tablename__ = "patient_opposition"

    patient_id: Mapped[uuid.UUID] = uuid_fk("patient.id", ondelete="CASCADE")
    expressed_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    recorded_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                       index=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    lifted_on: Mapped[date | None] = mapped_column(sa.Date)
    lifted_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                     index=False)

    recorded_by = relationship("User", foreign_keys=[recorded_by_id], lazy="joined")
