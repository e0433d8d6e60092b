"""Feed tokens (only the SHA-256 is stored), change versions and the cached, deterministic feed body."""

from __future__ import annotations

import hashlib
import secrets
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from esp_coord.core import audit
from esp_coord.core.db import UTCDateTime
from esp_coord.core.extensions import db
from esp_coord.core.keys import token_hash
from esp_coord.core.time import today_paris, utc_now

from .models import FeedToken, FeedVersion

PAST_DAYS = 180
CANCELLED_KEEP_DAYS = 30
LAST_USED_GRANULARITY = timedelta(hours=1)

_cache: OrderedDict = OrderedDict()
_cache_lock = threading.Lock()
CACHE_SIZE = 256


def bump(team_id) -> None:
    """Record that something shown in this team's feeds changed (invalidates cached feeds)."""
    now = utc_now()
    row = db.session.get(FeedVersion, team_id)
    if row is None:
        db.session.add(FeedVersion(team_id=team_id, version=1, changed_at=now))
    else:
        row.version += 1
        row.changed_at = max(now, row.changed_at)


def active_token(user, team_id=None) -> FeedToken | None:
    stmt = sa.select(FeedToken).where(FeedToken.user_id == user.id, FeedToken.revoked_at.is_(None))
    stmt = stmt.where(FeedToken.team_id.is_(None) if team_id is None else FeedToken.team_id == team_id)
    return db.session.execute(stmt.order_by(FeedToken.created_at.desc())).scalars().first()


def regenerate(user, team_id=None) -> str:
    """Revoke the current token (if any) and return a new secret (shown once; only its hash is kept)."""
    revoke(user, team_id, _audit=False)
    token = secrets.token_urlsafe(32)  # 256 bits
    row = FeedToken(id=uuid.uuid4(), user_id=user.id, team_id=team_id, token_hash=token_hash(token),
                    created_at=utc_now())
    db.session.add(row)
    db.session.flush()
    audit.record("feed.token.create", actor=user, team_id=team_id, object_type="calendar_feed_token",
                 object_id=row.id)
    return token


def revoke(user, team_id=None, *, _audit=True) -> int:
    stmt = sa.select(FeedToken).where(FeedToken.user_id == user.id, FeedToken.revoked_at.is_(None))
    stmt = stmt.where(FeedToken.team_id.is_(None) if team_id is None else FeedToken.team_id == team_id)
    rows = db.session.execute(stmt).scalars().all()
    now = utc_now()
    for row in rows:
        row.revoked_at = now
        if _audit:
            audit.record("feed.token.revoke", actor=user, team_id=team_id, object_type="calendar_feed_token",
                         object_id=row.id)
    return len(rows)


@dataclass
class LiveToken:
    """The few columns a feed request needs (read with one Core query, no ORM objects)."""

    id: uuid.UUID
    user_id: uuid.UUID
    team_id: uuid.UUID | None
    created_at: datetime
    content_key: str | None
    last_modified_at: datetime | None
    last_used_at: datetime | None
    team_ids: list = field(default_factory=list)
    versions: list = field(default_factory=list)


_UTC = UTCDateTime()


def _aware(value):
    return None if value is None else _UTC.process_result_value(value, db.engine.dialect) \
        if value.tzinfo is None else value


def resolve(token: str) -> LiveToken | None:
    """The live token for a URL secret, or None (unknown, revoked, user disabled, left the team)."""
    from esp_coord.auth.models import User
    from esp_coord.teams.models import Membership

    if not token or len(token) > 100:
        return None
    # one round trip: the token, its user's current teams and their change versions
    rows = db.session.execute(
        sa.select(FeedToken.id, FeedToken.user_id, FeedToken.team_id, FeedToken.created_at, FeedToken.content_key,
                  FeedToken.last_modified_at, FeedToken.last_used_at, Membership.team_id, FeedVersion.version,
                  FeedVersion.changed_at)
        .join(User, User.id == FeedToken.user_id)
        .outerjoin(Membership, sa.and_(Membership.user_id == FeedToken.user_id, Membership.ended_on.is_(None)))
        .outerjoin(FeedVersion, FeedVersion.team_id == Membership.team_id)
        .where(FeedToken.token_hash == token_hash(token), FeedToken.revoked_at.is_(None), User.active.is_(True))
    ).all()
    if not rows:
        return None
    live = LiveToken(*rows[0][:7])
    teams = {r[7]: (r[8] or 0, r[9]) for r in rows if r[7] is not None}
    if live.team_id is not None:
        if live.team_id not in teams:
            return None
        teams = {live.team_id: teams[live.team_id]}
    live.team_ids = sorted(teams)
    live.versions = [(t, teams[t][0], teams[t][1]) for t in live.team_ids]
    return live


def _meetings(team_ids, today):
    from datetime import time as dtime

    from esp_coord.core.time import paris_to_utc
    from esp_coord.meetings.models import Meeting, MeetingCase

    midnight = paris_to_utc(datetime.combine(today, dtime(0, 0)))
    past_limit = midnight - timedelta(days=PAST_DAYS)
    cancel_limit = midnight - timedelta(days=CANCELLED_KEEP_DAYS)
    counts = sa.select(MeetingCase.meeting_id, sa.func.count(sa.distinct(MeetingCase.patient_id)).label("n")) \
        .group_by(MeetingCase.meeting_id).subquery()
    stmt = (
        sa.select(Meeting, sa.func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.meeting_id == Meeting.id)
        .where(Meeting.team_id.in_(team_ids), Meeting.starts_at.is_not(None), Meeting.starts_at >= past_limit,
               Meeting.status.in_(("scheduled", "cancelled")),
               sa.or_(Meeting.status != "cancelled", Meeting.cancelled_at >= cancel_limit))
        .order_by(Meeting.starts_at, Meeting.uid)
    )
    return [(m, int(n)) for m, n in db.session.execute(stmt).all()]


def _team_name(team_id) -> str:
    from esp_coord.teams.models import Team

    return db.session.execute(sa.select(Team.name).where(Team.id == team_id)).scalar_one()


def feed_for(live: LiveToken) -> tuple[bytes, str, datetime]:
    """(body, etag, last_modified) for a live token; the body is cached per change version."""
    from esp_coord.meetings.ics import feed_bytes

    today = today_paris()
    key_src = f"{live.team_id}|{[(str(t), v) for t, v, _c in live.versions]}|{today}"
    key = hashlib.sha256(key_src.encode()).hexdigest()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
    if hit is None:
        name = f"esp_coord – {_team_name(live.team_id)}" if live.team_id else "esp_coord – Mes réunions"
        body = feed_bytes(name, _meetings(live.team_ids, today) if live.team_ids else [])
        hit = (body, hashlib.sha256(body).hexdigest()[:32])
        with _cache_lock:
            _cache[key] = hit
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    body, etag = hit
    now = utc_now()
    values = {}
    last_modified = _aware(live.last_modified_at)
    if live.content_key != key:
        # Last-Modified never goes backwards (an event leaving the feed is also a change)
        changed = max((_aware(c) for _t, _v, c in live.versions if c is not None),
                      default=_aware(live.created_at))
        last_modified = changed if last_modified is None or changed > last_modified else now
        values.update(content_key=key, last_modified_at=last_modified)
    last_used = _aware(live.last_used_at)
    if last_used is None or now - last_used > LAST_USED_GRANULARITY:
        values["last_used_at"] = now
    if values:
        db.session.execute(sa.update(FeedToken).where(FeedToken.id == live.id).values(**values))
        db.session.commit()
    return body, etag, last_modified.replace(microsecond=0)


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
