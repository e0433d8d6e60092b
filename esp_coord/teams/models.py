"""Teams (ESP / ESP CLAP), their sites, memberships with roles, and the professions reference table."""

from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from esp_coord.core.db import Base, IdMixin, TimestampMixin, uuid_fk

TEAM_KINDS = {"esp": "ESP", "esp_clap": "ESP CLAP"}
LEGAL_FORMS = {
    "none": _l("None (cooperation without a legal entity)"),
    "association_1901": _l("Association loi 1901"),
    "sisa": _l("SISA"),
    "other": _l("Other"),
}
ROLES = {"admin": _l("Team administrator"), "coordinator": _l("Coordinator"), "member": _l("Member")}
ROLE_RANK = {"member": 1, "coordinator": 2, "admin": 3}


class Profession(Base):
    """Reference table of professions (domain.md §2.3); admin-editable, seeded by migration."""

    __tablename__ = "profession"

    code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    label: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    csp_group: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    eligible: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    is_gp: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    is_physician: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    sort: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)


class Team(IdMixin, TimestampMixin, Base):
    __tablename__ = "team"

    name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="esp_clap")
    legal_form: Mapped[str] = mapped_column(sa.String(30), nullable=False, default="none")
    communes: Mapped[str | None] = mapped_column(sa.Text)  # one per line
    ars_recognised_on: Mapped[date | None] = mapped_column(sa.Date)
    convention_signed_on: Mapped[date | None] = mapped_column(sa.Date)
    formed_on: Mapped[date | None] = mapped_column(sa.Date)

    sites = relationship("TeamSite", back_populates="team", cascade="all, delete-orphan",
                         order_by="TeamSite.label")
    memberships = relationship(
        "Membership", back_populates="team", lazy="selectin",
        primaryjoin="and_(Membership.team_id == Team.id, Membership.ended_on.is_(None))", viewonly=True,
    )

    @property
    def kind_label(self) -> str:
        return TEAM_KINDS.get(self.kind, self.kind)

    @property
    def legal_form_label(self) -> str:
        return str(LEGAL_FORMS.get(self.legal_form, self.legal_form))

    @property
    def is_association(self) -> bool:
        return self.legal_form == "association_1901"

    @property
    def commune_list(self) -> list[str]:
        return [c.strip() for c in (self.communes or "").splitlines() if c.strip()]


class TeamSite(IdMixin, Base):
    __tablename__ = "team_site"

    team_id: Mapped[uuid.UUID] = uuid_fk("team.id", ondelete="CASCADE")
    label: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    address: Mapped[str] = mapped_column(sa.Text, nullable=False)

    team = relationship("Team", back_populates="sites")


class Membership(IdMixin, TimestampMixin, Base):
    __tablename__ = "membership"
    __table_args__ = (sa.UniqueConstraint("team_id", "user_id"),)

    team_id: Mapped[uuid.UUID] = uuid_fk("team.id", ondelete="CASCADE")
    user_id: Mapped[uuid.UUID] = uuid_fk("user_account.id", ondelete="CASCADE")
    role: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="member")
    started_on: Mapped[date | None] = mapped_column(sa.Date)
    ended_on: Mapped[date | None] = mapped_column(sa.Date)
    liberal: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    first_recourse: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)

    team = relationship("Team", back_populates="memberships", lazy="joined")
    user = relationship("User", back_populates="memberships", lazy="joined")

    @hybrid_property
    def is_current(self) -> bool:
        """The membership has not ended: use `Membership.is_current` in queries, never `ended_on.is_(None)`."""
        return self.ended_on is None

    @is_current.inplace.expression
    @classmethod
    def _is_current_expression(cls) -> sa.ColumnElement[bool]:
        return cls.ended_on.is_(None)

    @property
    def role_label(self) -> str:
        return str(ROLES.get(self.role, self.role))

    def has_role(self, minimum: str) -> bool:
        return ROLE_RANK.get(self.role, 0) >= ROLE_RANK[minimum]
