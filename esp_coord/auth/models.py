"""Professionals (user accounts), recovery codes, server-side sessions, invitations."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from esp_coord.core.db import Base, IdMixin, TimestampMixin, UTCDateTime, uuid_fk

GLOBAL_ROLES = ("association", "platform_admin")


class User(IdMixin, TimestampMixin, Base):
    """A professional (or a regional association viewer) with an account."""

    __tablename__ = "user_account"

    email: Mapped[str] = mapped_column(sa.String(254), unique=True, nullable=False)
    first_name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    last_name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    profession_code: Mapped[str | None] = mapped_column(
        sa.String(40), sa.ForeignKey("profession.code"), nullable=True
    )
    rpps: Mapped[str | None] = mapped_column(sa.String(11))
    practice_addresses: Mapped[str | None] = mapped_column(sa.Text)
    phone: Mapped[str | None] = mapped_column(sa.String(30))
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    totp_secret_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    # secret being enrolled (first enrolment or replacement), moved to totp_secret_enc once a code confirms it
    totp_pending_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    global_role: Mapped[str | None] = mapped_column(sa.String(20))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True, nullable=False)
    failed_logins: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    profession = relationship("Profession", lazy="joined")
    memberships = relationship("Membership", back_populates="user", lazy="selectin",
                               primaryjoin="and_(Membership.user_id == User.id, Membership.ended_on.is_(None))",
                               viewonly=True)

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def profession_label(self) -> str:
        return self.profession.label if self.profession else "—"

    @property
    def is_association(self) -> bool:
        return self.global_role == "association"

    @property
    def is_platform_admin(self) -> bool:
        return self.global_role == "platform_admin"

    @property
    def has_totp(self) -> bool:
        return self.totp_enabled_at is not None and self.totp_secret_enc is not None

    @property
    def team_ids(self) -> list[uuid.UUID]:
        return [m.team_id for m in self.memberships]


class RecoveryCode(IdMixin, Base):
    __tablename__ = "recovery_code"

    user_id: Mapped[uuid.UUID] = uuid_fk("user_account.id", ondelete="CASCADE")
    code_hash: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuthSession(IdMixin, Base):
    """Server-side session: the cookie only carries a random token whose SHA-256 is stored here."""

    __tablename__ = "auth_session"

    user_id: Mapped[uuid.UUID] = uuid_fk("user_account.id", ondelete="CASCADE")
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    mfa_done: Mapped[bool] = mapped_column(sa.Boolean, default=False, nullable=False)
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Invitation(IdMixin, TimestampMixin, Base):
    """Single-use link to join a team (or, without team, to set up an account created by the CLI)."""

    __tablename__ = "invitation"

    team_id: Mapped[uuid.UUID | None] = uuid_fk("team.id", nullable=True, ondelete="CASCADE")
    email: Mapped[str] = mapped_column(sa.String(254), nullable=False)
    first_name: Mapped[str] = mapped_column(sa.String(100), nullable=False, default="")
    last_name: Mapped[str] = mapped_column(sa.String(100), nullable=False, default="")
    profession_code: Mapped[str | None] = mapped_column(sa.String(40), sa.ForeignKey("profession.code"))
    role: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="member")
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True, nullable=False)
    invited_by_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    user_id: Mapped[uuid.UUID | None] = uuid_fk("user_account.id", nullable=True, ondelete="SET NULL")

    team = relationship("Team")
    invited_by = relationship("User", foreign_keys=[invited_by_id])

    @property
    def status(self) -> str:
        from esp_coord.core.time import utc_now

        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= utc_now():
            return "expired"
        return "pending"


class OutboxMessage(IdMixin, Base):
    """Development/testing mail outbox (MAIL_BACKEND=outbox). Never used in production."""

    __tablename__ = "outbox_message"

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    recipients: Mapped[str] = mapped_column(sa.Text, nullable=False)
    subject: Mapped[str] = mapped_column(sa.String(300), nullable=False)
    raw: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)


