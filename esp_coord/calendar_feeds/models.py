"""Secret calendar feed URLs (only the SHA-256 of the token is stored) and per-team change versions."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from esp_coord.core.db import Base, IdMixin, UTCDateTime, uuid_fk


class FeedToken(IdMixin, Base):
    """A per-user feed (team_id NULL) or a per-team feed seen through one member's token."""

    __tablename__ = "calendar_feed_token"
    __table_args__ = (sa.Index("ix_calendar_feed_token_owner", "user_id", "team_id"),)

    user_id: Mapped[uuid.UUID] = uuid_fk("user_account.id", ondelete="CASCADE", index=False)
    team_id: Mapped[uuid.UUID | None] = uuid_fk("team.id", nullable=True, ondelete="CASCADE", index=False)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # monotonic Last-Modified: bumped whenever the served content changes
    content_key: Mapped[str | None] = mapped_column(sa.String(64))
    last_modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user = relationship("User", lazy="joined")
    team = relationship("Team", lazy="joined")


class FeedVersion(Base):
    """Bumped by every change that affects a team's meetings in feeds (the cache key)."""

    __tablename__ = "calendar_feed_version"

    team_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), sa.ForeignKey("team.id", ondelete="CASCADE"),
                                               primary_key=True)
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
