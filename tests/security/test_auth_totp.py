"""Second factor: TOTP replay refused, recovery codes single use and stored hashed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from esp_coord.auth import services
from esp_coord.auth.models import RecoveryCode, User
from esp_coord.core.extensions import db
from tests.auth.helpers import audit_actions, code_step, password_step, text


@pytest.fixture(autouse=True)
def _fresh_rate_limits(app):
    from esp_coord.core.extensions import limiter

    limiter.reset()
    yield
    limiter.reset()


def _logout(client, f):
    resp = client.post("/deconnexion", data={"csrf_token": f.csrf(client, "/compte")})
    assert resp.status_code == 302


def test_totp_code_replay_is_refused(app, client, f):
    user = f.user()
    code = f.totp_code(user)
    password_step(client, user.email)
    assert code_step(client, code).status_code == 302
    _logout(client, f)
    # same code again, from another browser, within its validity window
    other = app.test_client()
    password_step(other, user.email)
    resp = code_step(other, code)
    assert resp.status_code == 400
    assert "déjà servi" in text(resp)
    assert other.get("/compte").status_code == 302
    assert audit_actions("auth.totp")[-1].outcome == "failure"


def test_replay_is_refused_at_the_service_level(app, f):
    from esp_coord.auth.totp import verify_code

    user = f.user()
    code = f.totp_code(user)
    with app.test_request_context():
        assert verify_code(user, code) is True
        assert verify_code(user, code) is False


def test_recovery_code_works_once(app, client, f):
    user = f.user()
    codes = services.regenerate_recovery_codes(db.session.get(User, user.id))
    db.session.commit()
    password_step(client, user.email)
    resp = code_step(client, codes[3])
    assert resp.status_code == 302
    assert client.get("/compte").status_code == 200
    assert audit_actions("auth.recovery_code_used")
    _logout(client, f)
    other = app.test_client()
    password_step(other, user.email)
    assert code_step(other, codes[3]).status_code == 400
    # another code, typed without the dash and with spaces, still works
    resp = code_step(other, " " + codes[4].replace("-", " ") + " ")
    assert resp.status_code == 302
    used = db.session.execute(sa.select(sa.func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_not(None))).scalar_one()
    assert used == 2


def test_recovery_codes_are_stored_hashed(f):
    user = f.user()
    codes = services.regenerate_recovery_codes(db.session.get(User, user.id))
    db.session.commit()
    hashes = db.session.execute(sa.select(RecoveryCode.code_hash)).scalars().all()
    assert len(hashes) == 10
    for code in codes:
        assert not any(code.replace("-", "") in h or code in h for h in hashes)
    assert all(h.startswith("$argon2id$") for h in hashes)


def test_totp_secret_is_encrypted_at_rest(f):
    user = f.user()
    raw = db.session.execute(sa.select(User.totp_secret_enc).where(User.id == user.id)).scalar_one()
    assert user._test_totp_secret.encode() not in raw
