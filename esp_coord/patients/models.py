"""Patients (one record per team) and their per-patient data keys.

Every identity and free-text field is stored encrypted (`*_enc`, see core/crypto.py) with the
patient's data key. Search uses HMAC blind indexes (see patients/search.py for the rationale).
"""

from __future__ import annotations

import uuid
from datetime import datetime

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

    @property
    def is_opposed(self) -> bool:
        return self.opposed_at is not None

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None


class PatientKey(IdMixin, Base):
    """A patient's data key, wrapped under the KEK derived from one master key."""

    __tablename__ = "patient_key"
    __table_args__ = (sa.UniqueConstraint("patient_id", "version"),)

    patient_id: Mapped[uuid.UUID] = uuid_fk("patient.id", ondelete="CASCADE")
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)
    master_key_id: Mapped[str] = mapped_column(sa.String(40), nullable=False, index=True)
    wrapped_dek: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    rewrapped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


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
