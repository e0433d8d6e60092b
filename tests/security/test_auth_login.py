"""Login security: generic errors, lockout, rate limiting, CSRF."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from esp_coord.core.extensions import db
from esp_coord.core.time import utc_now
from tests.auth.helpers import audit_actions, code_step, password_step, text


@pytest.fixture(autouse=True)
def _fresh_rate_limits(app):
    from esp_coord.core.extensions import limiter

    limiter.reset()
    yield
    limiter.reset()


def _error_block(resp) -> str:
    match = re.search(r'<div class="error-summary".*?</div>', text(resp), re.S)
    assert match, "no error summary"
    return match.group(0)


def test_wrong_password_and_unknown_account_give_the_same_answer(client, f):
    user = f.user()
    wrong = password_step(client, user.email, "not the right password")
    unknown = password_step(client, "nobody-here@example.org", "not the right password")
    assert wrong.status_code == unknown.status_code == 400
    assert _error_block(wrong) == _error_block(unknown)
    assert "Adresse e-mail ou mot de passe incorrect" in _error_block(wrong)
    # typed password is never sent back
    assert "not the right password" not in wrong.get_data(as_text=True)
    reasons = [json.loads(e.details)["reason"] for e in audit_actions("auth.login")]
    assert reasons == ["bad_password", "unknown_account"]
    assert all(e.outcome == "failure" for e in audit_actions("auth.login"))


def test_locked_account_answers_like_a_wrong_password(client, f):
    user = f.user()
    wrong = password_step(client, user.email, "not the right password")
    for _ in range(4):
        password_step(client, user.email, "not the right password")
    locked = password_step(client, user.email)  # right password, but locked
    assert locked.status_code == 400
    assert _error_block(locked) == _error_block(wrong)


def test_lockout_after_max_failures_is_audited_and_temporary(app, client, f):
    user = f.user()
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        assert password_step(client, user.email, "not the right password").status_code == 400
    db.session.refresh(user)
    assert user.locked_until is not None and user.locked_until > utc_now()
    lockouts = audit_actions("auth.lockout")
    assert len(lockouts) == 1 and lockouts[0].actor_id == user.id and lockouts[0].outcome == "failure"
    assert password_step(client, user.email).status_code == 400  # even the right password
    assert json.loads(audit_actions("auth.login")[-1].details)["reason"] == "locked"
    # the lockout ends by itself
    user.locked_until = utc_now() - timedelta(seconds=1)
    db.session.commit()
    resp = password_step(client, user.email)
    assert resp.status_code == 302
    assert code_step(client, f.totp_code(user)).status_code == 302
    db.session.refresh(user)
    assert user.failed_logins == 0 and user.locked_until is None


def test_wrong_totp_codes_count_towards_the_lockout(app, client, f):
    user = f.user()
    password_step(client, user.email)
    good = f.totp_code(user)
    wrong = f"{(int(good) + 500000) % 1000000:06d}"
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        code_step(client, wrong)
    assert audit_actions("auth.lockout")
    resp = code_step(client, good)
    assert resp.status_code == 400


def test_rate_limit_gives_a_french_429_page_and_is_audited(app, client, f):
    user = f.user()
    old = app.config["RATELIMIT_LOGIN"]
    app.config["RATELIMIT_LOGIN"] = "3 per minute"
    try:
        for _ in range(3):
            assert password_step(client, user.email, "not the right password").status_code == 400
        resp = password_step(client, user.email, "not the right password")
        assert resp.status_code == 429
        body = text(resp)
        assert "Trop de tentatives" in body and "Patientez quelques minutes" in body
        assert audit_actions("security.rate_limited")
        # the login page itself still loads
        assert client.get("/connexion").status_code == 200
    finally:
        app.config["RATELIMIT_LOGIN"] = old


def test_successful_logins_do_not_consume_the_rate_limit(app, client, f):
    old = app.config["RATELIMIT_LOGIN"]
    app.config["RATELIMIT_LOGIN"] = "2 per minute"
    try:
        for _ in range(3):
            user = f.user()
            assert f.login_http(app.test_client(), user).status_code == 302
    finally:
        app.config["RATELIMIT_LOGIN"] = old


def test_missing_csrf_token_gives_a_french_400(client, f):
    user = f.user()
    client.get("/connexion")
    resp = client.post("/connexion", data={"email": user.email, "password": "whatever it is"})
    assert resp.status_code == 400
    assert "jeton de sécurité" in text(resp)
    assert not audit_actions("auth.login")
    f.login(client, user)
    resp = client.post("/deconnexion")
    assert resp.status_code == 400 and "jeton de sécurité" in text(resp)
    assert client.get("/compte").status_code == 200  # still logged in


def test_login_page_never_redirects_off_site(client, f):
    user = f.user()
    password_step(client, user.email, next_url="https://evil.example/")
    resp = code_step(client, f.totp_code(user))
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/")
    assert "evil" not in resp.headers["Location"]
