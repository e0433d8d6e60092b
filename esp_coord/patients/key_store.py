"""Storage of patients' data keys (kept apart from the patient records so the encrypted-field descriptor,
which the record models use, can depend on the key service without an import cycle)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from esp_coord.core.db import Base, IdMixin, UTCDateTime, uuid_fk


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
