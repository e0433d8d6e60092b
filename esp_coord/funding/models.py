"""Funding: tariff grid per year, envelopes, claims (frozen on submission), projet de santé, ESP CLAP steps.

Amounts are data edited by the regional association (never constants in code): domain.md §3.1.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from esp_coord.core.db import Base, IdMixin, TimestampMixin, UTCDateTime, uuid_fk

UNITS = {
    "per_participant": _l("per participant and action"),
    "per_patient": _l("per patient"),
    "per_hour": _l("per hour"),
    "flat": _l("flat, once per professional and year"),
}
CAP_SCOPES = {"year": _l("per professional and year"), "source": _l("per professional, object and year")}
CLAIM_STATUSES = {
    "draft": _l("Draft"),
    "submitted": _l("Submitted"),
    "paid": _l("Paid"),
    "rejected": _l("Rejected"),
}
PERIOD_KINDS = {"s1": _l("First semester"), "s2": _l("Second semester"), "year": _l("Whole year"),
                "custom": _l("Custom period")}
DEFAULT_ENVELOPE = Decimal("10000.00")
MONEY = sa.Numeric(12, 2)


class TariffGrid(IdMixin, TimestampMixin, Base):
    """The regional grid of one year. `is_example` marks the shipped, invented figures."""

    __tablename__ = "funding_grid"

    year: Mapped[int] = mapped_column(sa.Integer, unique=True, nullable=False)
    is_example: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    team_admins_may_edit: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    note: Mapped[str | None] = mapped_column(sa.Text)
    updated_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                      index=False)

    rates = relationship("TariffRate", back_populates="grid", lazy="selectin", cascade="all, delete-orphan",
                         order_by="TariffRate.action_type")


class TariffRate(IdMixin, Base):
    __tablename__ = "funding_rate"
    __table_args__ = (sa.UniqueConstraint("grid_id", "action_type"),)

    grid_id: Mapped[uuid.UUID] = uuid_fk("funding_grid.id", ondelete="CASCADE")
    action_type: Mapped[str] = mapped_column(sa.String(30), sa.ForeignKey("action_type.code"), nullable=False)
    unit: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="per_participant")
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False, default=Decimal("0"))
    cap_units: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2))  # max paid units; None = no cap
    cap_scope: Mapped[str] = mapped_column(sa.String(10), nullable=False, default="year")

    grid = relationship("TariffGrid", back_populates="rates")
    type = relationship("ActionType", lazy="joined")

    @property
    def unit_label(self) -> str:
        return str(UNITS.get(self.unit, self.unit))

    @property
    def cap_scope_label(self) -> str:
        return str(CAP_SCOPES.get(self.cap_scope, self.cap_scope))


class Envelope(IdMixin, TimestampMixin, Base):
    __tablename__ = "funding_envelope"
    __table_args__ = (sa.UniqueConstraint("team_id", "year"),)

    team_id: Mapped[uuid.UUID] = uuid_fk("team.id", ondelete="CASCADE")
    year: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False, default=DEFAULT_ENVELOPE)


class Claim(IdMixin, TimestampMixin, Base):
    """A funding claim over a period. Once submitted, `snapshot` (canonical JSON) and `sha256` never change."""

    __tablename__ = "funding_claim"

    team_id: Mapped[uuid.UUID] = uuid_fk("team.id", ondelete="CASCADE")
    period_kind: Mapped[str] = mapped_column(sa.String(10), nullable=False, default="year")
    period_start: Mapped[date] = mapped_column(sa.Date, nullable=False)
    period_end: Mapped[date] = mapped_column(sa.Date, nullable=False)
    status: Mapped[str] = mapped_column(sa.String(12), nullable=False, default="draft", index=True)
    corrects_id: Mapped[uuid.UUID | None] = uuid_fk("funding_claim.id", nullable=True, ondelete="SET NULL")
    created_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                      index=False)
    snapshot: Mapped[str | None] = mapped_column(sa.Text)
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    total_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submitted_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                        index=False)
    paid_on: Mapped[date | None] = mapped_column(sa.Date)
    rejected_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rejection_reason: Mapped[str | None] = mapped_column(sa.Text)
    decided_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                      index=False)

    team = relationship("Team", lazy="joined")
    corrects = relationship("Claim", remote_side="Claim.id", lazy="select")
    payments = relationship("ClaimPayment", back_populates="claim", lazy="selectin", cascade="all, delete-orphan")

    @property
    def status_label(self) -> str:
        return str(CLAIM_STATUSES.get(self.status, self.status))

    @property
    def period_label(self) -> str:
        from esp_coord.core.time import format_short_date

        return f"{format_short_date(self.period_start)} – {format_short_date(self.period_end)}"

    @property
    def frozen(self) -> bool:
        return self.status != "draft"


class ClaimPayment(IdMixin, Base):
    """What the association paid one professional for one claim."""

    __tablename__ = "funding_claim_payment"
    __table_args__ = (sa.UniqueConstraint("claim_id", "user_id"),)

    claim_id: Mapped[uuid.UUID] = uuid_fk("funding_claim.id", ondelete="CASCADE")
    user_id: Mapped[uuid.UUID] = uuid_fk("user_account.id", ondelete="RESTRICT")
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    paid_on: Mapped[date] = mapped_column(sa.Date, nullable=False)

    claim = relationship("Claim", back_populates="payments")


PROJET_FIELDS = [
    # key, label, kind (text|int|bool) — domain.md §4, annex "liste minimale"
    ("people", _l("1. People involved (flag those not yet confirmed)"), "text"),
    ("themes", _l("Themes chosen"), "text"),
    ("health_problem", _l("2. Health problem in the patientèle and problematic pathway"), "text"),
    ("baseline_indicators", _l("2. Baseline indicators"), "text"),
    ("existing_arrangements", _l("3. Existing working arrangements"), "text"),
    ("planned_means", _l("4. Planned means"), "text"),
    ("objectives_patients", _l("5a. Objectives and coordination indicators for patients"), "text"),
    ("objectives_professionals", _l("5b. Objectives and coordination indicators for professionals"), "text"),
    ("nb_common_patients", _l("6. Number of patients shared by the members"), "int"),
    ("whole_patientele", _l("7. The whole shared patientèle is concerned"), "bool"),
    ("nb_patients_concerned", _l("7. Otherwise, number of patients concerned"), "int"),
    ("communes", _l("8. Communes of the project"), "text"),
    ("calendar", _l("9. Calendar"), "text"),
    ("evaluation", _l("10. Evaluation"), "text"),
]


class ProjetSante(IdMixin, TimestampMixin, Base):
    """One version of the team's projet de santé; every save is a new version (all are kept)."""

    __tablename__ = "funding_projet_sante"
    __table_args__ = (sa.UniqueConstraint("team_id", "version"),)

    team_id: Mapped[uuid.UUID] = uuid_fk("team.id", ondelete="CASCADE")
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    content: Mapped[str] = mapped_column(sa.Text, nullable=False)  # JSON of PROJET_FIELDS (no patient data)
    author_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL",
                                                  index=False)
    signed_on: Mapped[date | None] = mapped_column(sa.Date)
    sent_to_ars_on: Mapped[date | None] = mapped_column(sa.Date)

    author = relationship("User", lazy="joined")

    @property
    def data(self) -> dict:
        import json

        return json.loads(self.content or "{}")


CLAP_STEPS = [
    ("team_formed", _l("Team formed")),
    ("themes_chosen", _l("Themes chosen")),
    ("projet_written", _l("Projet de santé written")),
    ("ars_recognition", _l("ARS recognition")),
    ("convention_signed", _l("Convention signed")),
    ("actions_running", _l("Actions running")),
]


class ClapStep(IdMixin, TimestampMixin, Base):
    __tablename__ = "funding_clap_step"
    __table_args__ = (sa.UniqueConstraint("team_id", "step"),)

    team_id: Mapped[uuid.UUID] = uuid_fk("team.id", ondelete="CASCADE")
    step: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    done_on: Mapped[date | None] = mapped_column(sa.Date)
    note: Mapped[str | None] = mapped_column(sa.String(300))
