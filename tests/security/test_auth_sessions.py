"""Server-side sessions: fixation, logout of copied cookies, idle and absolute timeouts, disabling."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from esp_coord.auth.models import AuthSession, User
from esp_coord.core.extensions import db
from esp_coord.core.keys import token_hash
from esp_coord.core.time import utc_now
from tests.auth.helpers import code_step, password_step, session_cookie, text


@pytest.fixture(autouse=True)
def _fresh_rate_limits(app):
    from esp_coord.core.extensions import limiter

    limiter.reset()
    yield
    limiter.reset()


def _rows(user):
    db.session.expire_all()
    return db.session.execute(sa.select(AuthSession).where(AuthSession.user_id == user.id)).scalars().all()


def test_session_id_changes_at_login(app, client, f):
    user = f.user()
    client.get("/connexion")
    with client.session_transaction() as sess:
        sess["sid"] = "attacker-chosen-session-id"
        sess["planted"] = "by an attacker"
    before = session_cookie(client)
    password_step(client, user.email)
    pending_cookie = session_cookie(client)
    code_step(client, f.totp_code(user))
    after = session_cookie(client)
    assert len({before, pending_cookie, after}) == 3
    with client.session_transaction() as sess:
        assert sess["sid"] != "attacker-chosen-session-id"
        assert "planted" not in sess
        new_sid = sess["sid"]
    (row,) = _rows(user)
    assert row.token_hash == token_hash(new_sid)
    # the cookie captured between the two steps does not give access
    attacker = app.test_client()
    attacker.set_cookie("esp_session", pending_cookie)
    assert attacker.get("/compte").status_code == 302
    assert client.get("/compte").status_code == 200


def test_cookie_stores_only_a_random_token(client, f):
    user = f.user()
    f.login_http(client, user)
    with client.session_transaction() as sess:
        token = sess["sid"]
    assert len(token) >= 40
    (row,) = _rows(user)
    assert row.token_hash != token and row.token_hash == token_hash(token)


def test_logout_invalidates_a_copied_cookie(app, client, f):
    user = f.user()
    f.login_http(client, user)
    copied = session_cookie(client)
    thief = app.test_client()
    thief.set_cookie("esp_session", copied)
    assert thief.get("/compte").status_code == 200
    resp = client.post("/deconnexion", data={"csrf_token": f.csrf(client, "/compte")})
    assert resp.status_code == 302
    assert thief.get("/compte").status_code == 302
    (row,) = _rows(user)
    assert row.revoked_at is not None


def test_idle_timeout(app, client, f):
    user = f.user()
    f.login_http(client, user)
    (row,) = _rows(user)
    row.last_seen_at = utc_now() - app.config["SESSION_IDLE_TIMEOUT"] + timedelta(minutes=1)
    db.session.commit()
    assert client.get("/compte").status_code == 200  # 29 minutes idle: still fine, and touched
    (row,) = _rows(user)
    assert utc_now() - row.last_seen_at < timedelta(minutes=1)
    row.last_seen_at = utc_now() - app.config["SESSION_IDLE_TIMEOUT"] - timedelta(seconds=5)
    db.session.commit()
    resp = client.get("/compte")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/connexion")
    assert "Votre session a expiré" in text(client.get(resp.headers["Location"]))
    (row,) = _rows(user)
    assert row.revoked_at is not None
    assert app.config["SESSION_IDLE_TIMEOUT"] == timedelta(minutes=30)


def test_absolute_lifetime(app, client, f):
    user = f.user()
    f.login_http(client, user)
    (row,) = _rows(user)
    assert row.expires_at - row.created_at == timedelta(hours=12)
    # active all along (recent last_seen) but opened more than 12 hours ago
    row.created_at = utc_now() - timedelta(hours=12, minutes=1)
    row.expires_at = row.created_at + app.config["SESSION_ABSOLUTE_LIFETIME"]
    row.last_seen_at = utc_now() - timedelta(minutes=2)
    db.session.commit()
    assert client.get("/compte").status_code == 302
    (row,) = _rows(user)
    assert row.revoked_at is not None


def test_disabling_an_account_ends_its_sessions(app, client, f):
    from esp_coord.auth.services import disable_user

    user = f.user()
    f.login_http(client, user)
    other = app.test_client()
    f.login(other, user)
    disable_user(db.session.get(User, user.id))
    db.session.commit()
    assert client.get("/compte").status_code == 302
    assert other.get("/compte").status_code == 302
    assert all(r.revoked_at is not None for r in _rows(user))


def test_session_cookie_flags(app, client, f):
    user = f.user()
    password_step(client, user.email)
    resp = code_step(client, f.totp_code(user))
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Expires=" in cookie  # no "remember me": the cookie ends with the server session
    assert "Secure" not in cookie  # testing/development only; production is checked in test_headers
