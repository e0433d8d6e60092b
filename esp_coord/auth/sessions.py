"""Server-side sessions: the cookie carries a random token, the database decides.

Idle timeout and absolute lifetime come from settings; logout, password/MFA change and account
deactivation revoke rows, so a copied cookie is useless afterwards.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from flask import current_app, flash, request, session
from flask_babel import gettext as _

from esp_coord.auth.models import AuthSession, User
from esp_coord.core.extensions import db
from esp_coord.core.keys import token_hash
from esp_coord.core.time import utc_now

SESSION_KEY = "sid"
TOUCH_EVERY_SECONDS = 60


def start_session(user: User) -> AuthSession:
    """Create a new server session (new id at login: fixation-proof) and put its token in the cookie."""
    session.clear()
    token = secrets.token_urlsafe(32)
    now = utc_now()
    row = AuthSession(
        user_id=user.id,
        token_hash=token_hash(token),
        created_at=now,
        last_seen_at=now,
        expires_at=now + current_app.config["SESSION_ABSOLUTE_LIFETIME"],
        mfa_done=True,
        ip=request.remote_addr,
        user_agent=(request.user_agent.string or "")[:200],
    )
    db.session.add(row)
    session[SESSION_KEY] = token
    session.permanent = True
    return row


def current_session_row() -> AuthSession | None:
    token = session.get(SESSION_KEY)
    if not token or not isinstance(token, str):
        return None
    return db.session.execute(
        sa.select(AuthSession).where(AuthSession.token_hash == token_hash(token))
    ).scalar_one_or_none()


def load_user_from_session(user_id: str) -> User | None:
    """Flask-Login user_loader: valid only with a live, unexpired server session for that user."""
    row = current_session_row()
    if row is None or row.revoked_at is not None or str(row.user_id) != str(user_id) or not row.mfa_done:
        return None
    now = utc_now()
    idle = current_app.config["SESSION_IDLE_TIMEOUT"]
    if now >= row.expires_at or now - row.last_seen_at > idle:
        row.revoked_at = now
        db.session.commit()
        session.clear()
        flash(_("Your session has expired. Please log in again."), "warning")
        return None
    user = db.session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    if (now - row.last_seen_at).total_seconds() > TOUCH_EVERY_SECONDS:
        row.last_seen_at = now
        db.session.commit()
    return user


def end_session() -> None:
    row = current_session_row()
    if row is not None and row.revoked_at is None:
        row.revoked_at = utc_now()
    session.clear()


def revoke_all(user_id, except_row: AuthSession | None = None) -> int:
    stmt = sa.update(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    if except_row is not None:
        stmt = stmt.where(AuthSession.id != except_row.id)
    return db.session.execute(stmt.values(revoked_at=utc_now())).rowcount
