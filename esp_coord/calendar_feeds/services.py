"""Feed tokens (only the SHA-256 is stored), change versions and the cached, deterministic feed body."""

from __future__ import annotations

import hashlib
import secrets
import threading
import uuid
from collections import OrderedDict
from datetime import timedelta

import sqlalchemy as sa

from esp_coord.core import audit
from esp_coord.core.keys import token_hash
from esp_coord.core.time import today_paris, utc_now
from esp_coord.extensions import db

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


def resolve(token: str) -> FeedToken | None:
    """The live token row for a URL secret, or None (unknown, revoked, user disabled, left the team)."""
    if not token or len(token) > 100:
        return None
    row = db.session.execute(
        sa.select(FeedToken).where(FeedToken.token_hash == token_hash(token), FeedToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    if row is None or not row.user.active:
        return None
    if row.team_id is not None and row.team_id not in _team_ids(row.user_id):
        return None
    return row


def _team_ids(user_id) -> list[uuid.UUID]:
    from esp_coord.teams.models import Membership

    return sorted(db.session.execute(
        sa.select(Membership.team_id).where(Membership.user_id == user_id, Membership.ended_on.is_(None))
    ).scalars().all())


def _versions(team_ids) -> list[tuple]:
    if not team_ids:
        return []
    rows = db.session.execute(
        sa.select(FeedVersion.team_id, FeedVersion.version, FeedVersion.changed_at).where(
            FeedVersion.team_id.in_(team_ids))
    ).all()
    return sorted((r[0], r[1], r[2]) for r in rows)


def _meetings(team_ids, today):
    from datetime import datetime
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
    return [(m, int(n)) for m, n in db.session.execute(stmt).unique().all()]


def feed_for(row: FeedToken) -> tuple[bytes, str, object]:
    """(body, etag, last_modified) for a live token; the body is cached per change version."""
    from esp_coord.meetings.ics import feed_bytes

    team_ids = [row.team_id] if row.team_id is not None else _team_ids(row.user_id)
    versions = _versions(team_ids)
    today = today_paris()
    key_src = f"{row.team_id}|{[str(t) for t in team_ids]}|{[(str(t), v) for t, v, _c in versions]}|{today}"
    key = hashlib.sha256(key_src.encode()).hexdigest()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
    if hit is None:
        if row.team_id is not None:
            name = f"esp_coord – {row.team.name}"
        else:
            name = "esp_coord – Mes réunions"
        body = feed_bytes(name, _meetings(team_ids, today) if team_ids else [])
        hit = (body, hashlib.sha256(body).hexdigest()[:32])
        with _cache_lock:
            _cache[key] = hit
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    body, etag = hit
    now = utc_now()
    changed = max((c for _t, _v, c in versions), default=row.created_at)
    dirty = False
    if row.content_key != key:
        # Last-Modified never goes backwards (an event leaving the feed is also a change)
        previous = row.last_modified_at
        last = changed if previous is None or changed > previous else now
        row.content_key, row.last_modified_at = key, last
        dirty = True
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_GRANULARITY:
        row.last_used_at = now
        dirty = True
    if dirty:
        db.session.commit()
    return body, etag, row.last_modified_at.replace(microsecond=0)


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
