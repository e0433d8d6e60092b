"""Small helpers shared by the auth and security tests."""

from __future__ import annotations

import sqlalchemy as sa

from tests.conftest import csrf_from
from tests.factories import PASSWORD


def password_step(client, email: str, password: str = PASSWORD, next_url: str | None = None):
    url = "/connexion" + (f"?next={next_url}" if next_url else "")
    page = client.get(url)
    return client.post(url, data={"email": email, "password": password,
                                  "csrf_token": csrf_from(page.get_data(as_text=True))})


def code_step(client, code: str, url: str = "/connexion/totp"):
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    return client.post(url, data={"code": code, "csrf_token": csrf_from(page.get_data(as_text=True))})


def audit_actions(action: str | None = None):
    from esp_coord.core.audit import AuditEvent
    from esp_coord.core.extensions import db

    stmt = sa.select(AuditEvent).order_by(AuditEvent.seq)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return db.session.execute(stmt).scalars().all()


def session_cookie(client) -> str | None:
    cookie = client.get_cookie("esp_session")
    return cookie.value if cookie else None


def text(resp) -> str:
    """Response body with HTML entities decoded (French apostrophes are escaped as &#39;)."""
    import html

    return html.unescape(resp.get_data(as_text=True))
