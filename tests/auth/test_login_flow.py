import re
import time

import pyotp
import sqlalchemy as sa

from esp_coord.auth.models import AuthSession, RecoveryCode
from esp_coord.core.extensions import db
from tests.auth.helpers import audit_actions, code_step, password_step, text
from tests.conftest import csrf_from


def test_login_page_is_french_and_accessible(client):
    resp = client.get("/connexion")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "Connexion" in html
    assert '<label for="email">' in html and '<label for="password">' in html
    assert 'autocomplete="current-password"' in html
    assert resp.headers["Cache-Control"] == "no-store"


def test_login_http_flow_opens_a_server_session(client, f):
    user = f.user()
    resp = f.login_http(client, user)
    assert resp.status_code == 302
    page = client.get("/compte")
    assert page.status_code == 200
    assert user.email in page.get_data(as_text=True)
    rows = db.session.execute(sa.select(AuthSession).where(AuthSession.user_id == user.id)).scalars().all()
    assert len(rows) == 1 and rows[0].mfa_done and rows[0].revoked_at is None
    db.session.refresh(user)
    assert user.last_login_at is not None and user.failed_logins == 0
    assert [e.outcome for e in audit_actions("auth.login")] == ["success"]


def test_password_alone_does_not_log_in(client, f):
    user = f.user()
    resp = password_step(client, user.email)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/connexion/totp")
    resp = client.get("/compte")
    assert resp.status_code == 302 and "/connexion" in resp.headers["Location"]


def test_safe_next_is_followed_and_external_next_ignored(client, f):
    user = f.user()
    resp = password_step(client, user.email, next_url="/compte")
    resp = code_step(client, f.totp_code(user))
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/compte")
    client2 = client.application.test_client()
    user.totp_last_step = None
    db.session.commit()
    password_step(client2, user.email, next_url="//evil.example/x")
    resp = code_step(client2, f.totp_code(user))
    assert resp.status_code == 302 and "evil" not in resp.headers["Location"]


def test_pending_login_expires_after_five_minutes(client, f):
    user = f.user()
    password_step(client, user.email)
    with client.session_transaction() as sess:
        sess["auth_pending"] = {**sess["auth_pending"], "at": int(time.time()) - 301}
    resp = client.get("/connexion/totp")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/connexion")


def test_wrong_code_is_refused_in_french_with_400(client, f):
    user = f.user()
    password_step(client, user.email)
    code = f.totp_code(user)
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    resp = code_step(client, wrong)
    assert resp.status_code == 400
    assert "Ce code n'est pas valide" in text(resp)
    assert audit_actions("auth.totp")[-1].outcome == "failure"


def test_password_is_rehashed_when_parameters_change(app, client, f):
    user = f.user()
    old_hash = user.password_hash
    app.config["ARGON2_TIME_COST"] = 2
    try:
        f.login_http(client, user)
    finally:
        app.config["ARGON2_TIME_COST"] = 1
    db.session.refresh(user)
    assert user.password_hash != old_hash and "t=2" in user.password_hash


def test_account_without_totp_is_sent_to_enrolment_then_gets_recovery_codes(client, f):
    user = f.user(totp=False)
    resp = password_step(client, user.email)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/connexion/activation-totp")
    page = client.get("/connexion/activation-totp")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'src="data:image/svg+xml;base64,' in html
    secret = re.search(r'<code class="secret" id="totp-secret">([A-Z2-7 ]+)</code>', html).group(1).replace(" ", "")
    # a wrong code keeps the page, nothing enabled
    resp = client.post("/connexion/activation-totp", data={"code": "000000", "csrf_token": csrf_from(html)})
    assert resp.status_code == 400
    db.session.refresh(user)
    assert user.totp_enabled_at is None
    # same secret shown again (stable QR code)
    page = client.get("/connexion/activation-totp")
    assert secret in page.get_data(as_text=True).replace(" ", "")
    resp = client.post("/connexion/activation-totp", data={"code": pyotp.TOTP(secret).now(),
                                                           "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert resp.status_code == 200
    codes = re.findall(r"<code>(\d{5}-\d{5})</code>", resp.get_data(as_text=True))
    assert len(codes) == 10
    db.session.refresh(user)
    assert user.has_totp and user.totp_pending_enc is None
    stored = db.session.execute(sa.select(RecoveryCode).where(RecoveryCode.user_id == user.id)).scalars().all()
    assert len(stored) == 10 and all(c.code_hash.startswith("$argon2id$") for c in stored)
    assert not any(code.replace("-", "") in c.code_hash for c in stored for code in codes)
    # logged in now
    assert client.get("/compte").status_code == 200
    assert audit_actions("auth.totp_enrolment")[-1].outcome == "success"


def test_enrolment_page_needs_a_pending_login(client):
    resp = client.get("/connexion/activation-totp")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/connexion")


def test_disabled_account_cannot_log_in(client, f):
    user = f.user(active=False)
    resp = password_step(client, user.email)
    assert resp.status_code == 400
    assert audit_actions("auth.login")[-1].details == '{"reason": "disabled"}'


def test_logout_requires_post_and_ends_the_session(client, f):
    user = f.user()
    f.login_http(client, user)
    assert client.get("/deconnexion").status_code == 405
    resp = client.post("/deconnexion", data={"csrf_token": f.csrf(client, "/compte")})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/connexion")
    row = db.session.execute(sa.select(AuthSession).where(AuthSession.user_id == user.id)).scalar_one()
    db.session.refresh(row)
    assert row.revoked_at is not None
    assert client.get("/compte").status_code == 302
    assert audit_actions("auth.logout")
