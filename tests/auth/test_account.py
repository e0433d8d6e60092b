import re

import pyotp
import sqlalchemy as sa

from esp_coord.auth.models import AuthSession, RecoveryCode, User
from esp_coord.auth.passwords import verify_password
from esp_coord.core.extensions import db
from tests.auth.helpers import audit_actions, text
from tests.conftest import csrf_from
from tests.factories import PASSWORD

NEW_PASSWORD = "un pinson chante sur la haie du jardin"  # noqa: S105 - test value


def _profile(user, **changes):
    data = {"first_name": user.first_name, "last_name": user.last_name, "profession": user.profession_code or "",
            "rpps": "", "phone": "", "practice_addresses": ""}
    data.update(changes)
    return data


def test_account_page_shows_identity_and_sessions(client, f):
    team = f.team("ESP du Marais")
    user = f.user("infirmier", first_name="Inès")
    f.member(team, user, "coordinator")
    f.login_http(client, user)
    resp = client.get("/compte")
    body = text(resp)
    assert resp.status_code == 200
    assert "Inès" in body and user.email in body and "ESP du Marais" in body
    assert "Mes sessions ouvertes" in body and "Cette session" in body


def test_profile_update_with_valid_rpps(client, f):
    user = f.user()
    f.login(client, user)
    resp = f.post_form(client, "/compte", _profile(user, first_name="Lucie", rpps="10 123 456 789",
                                                   practice_addresses="1 rue Haute, 44190 Clisson\n2 rue Basse"))
    assert resp.status_code == 302
    db.session.refresh(user)
    assert user.first_name == "Lucie" and user.rpps == "10123456789"
    assert user.practice_addresses.splitlines()[1] == "2 rue Basse"
    assert audit_actions("auth.profile_updated")


def test_invalid_rpps_rerenders_with_400_and_writes_nothing(client, f):
    user = f.user()
    f.login(client, user)
    resp = f.post_form(client, "/compte", _profile(user, first_name="Changé", rpps="12345"))
    assert resp.status_code == 400
    body = text(resp)
    assert "exactement 11 chiffres" in body
    assert 'value="Changé"' in resp.get_data(as_text=True)
    assert 'aria-describedby="rpps-hint rpps-error"' in resp.get_data(as_text=True)
    db.session.refresh(user)
    assert user.first_name != "Changé" and user.rpps is None


def test_unknown_profession_is_refused(client, f):
    user = f.user()
    f.login(client, user)
    resp = f.post_form(client, "/compte", _profile(user, profession="astrologue"))
    assert resp.status_code == 400


def test_change_password_applies_policy(client, f):
    user = f.user()
    f.login(client, user)
    resp = f.post_form(client, "/compte/mot-de-passe", {"current_password": PASSWORD, "new_password": "short",
                                                         "confirm": "short"}, form_url="/compte")
    assert resp.status_code == 400
    assert "au moins 12 caractères" in text(resp)
    resp = f.post_form(client, "/compte/mot-de-passe", {"current_password": PASSWORD, "new_password": "password1234",
                                                         "confirm": "password1234"}, form_url="/compte")
    assert resp.status_code == 400
    assert "trop courant" in text(resp)
    db.session.refresh(user)
    assert verify_password(user.password_hash, PASSWORD)


def test_change_password_needs_current_password(client, f):
    user = f.user()
    f.login(client, user)
    resp = f.post_form(client, "/compte/mot-de-passe", {"current_password": "not my password",
                                                         "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
                       form_url="/compte")
    assert resp.status_code == 400
    assert "Mot de passe incorrect" in text(resp)
    db.session.refresh(user)
    assert verify_password(user.password_hash, PASSWORD)


def test_change_password_ends_other_sessions(app, client, f):
    user = f.user()
    other = app.test_client()
    f.login(other, user)
    f.login_http(client, user)
    resp = f.post_form(client, "/compte/mot-de-passe", {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                                         "confirm": NEW_PASSWORD}, form_url="/compte")
    assert resp.status_code == 302
    db.session.refresh(user)
    assert verify_password(user.password_hash, NEW_PASSWORD)
    assert client.get("/compte").status_code == 200
    assert other.get("/compte").status_code == 302
    assert audit_actions("auth.password_changed")


def _reauth(client, f, password=PASSWORD, next_url="/compte"):
    return f.post_form(client, f"/compte/confirmation?next={next_url}", {"password": password})


def test_recovery_codes_regeneration_needs_reauthentication(client, f):
    user = f.user()
    f.login(client, user)
    resp = client.get("/compte/codes-de-secours")
    assert resp.status_code == 302 and "/compte/confirmation" in resp.headers["Location"]
    resp = _reauth(client, f, password="wrong password here", next_url="/compte/codes-de-secours")
    assert resp.status_code == 400
    resp = _reauth(client, f, next_url="/compte/codes-de-secours")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/compte/codes-de-secours")
    resp = f.post_form(client, "/compte/codes-de-secours", {})
    assert resp.status_code == 200
    codes = re.findall(r"<code>(\d{5}-\d{5})</code>", resp.get_data(as_text=True))
    assert len(codes) == 10
    resp = f.post_form(client, "/compte/codes-de-secours", {})
    new_codes = re.findall(r"<code>(\d{5}-\d{5})</code>", resp.get_data(as_text=True))
    assert set(codes).isdisjoint(new_codes)
    count = db.session.execute(sa.select(sa.func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user.id)).scalar_one()
    assert count == 10


def test_reauth_rejects_external_next(client, f):
    user = f.user()
    f.login(client, user)
    resp = _reauth(client, f, next_url="https://evil.example/")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/compte")


def test_replace_totp_after_reauth(app, client, f):
    user = f.user()
    other = app.test_client()
    f.login(other, user)
    f.login_http(client, user)
    old_secret = user._test_totp_secret
    assert client.get("/connexion/activation-totp").status_code == 302  # re-auth first
    _reauth(client, f, next_url="/connexion/activation-totp")
    page = client.get("/connexion/activation-totp")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")
    assert secret != old_secret
    # until confirmed, the old secret still works
    db.session.refresh(user)
    from esp_coord.auth.totp import get_secret
    assert get_secret(user) == old_secret
    resp = client.post("/connexion/activation-totp", data={"code": pyotp.TOTP(secret).now(),
                                                           "csrf_token": csrf_from(html)})
    assert resp.status_code == 200 and "codes de secours" in text(resp)
    db.session.refresh(user)
    assert get_secret(user) == secret
    assert other.get("/compte").status_code == 302  # other sessions ended
    assert client.get("/compte").status_code == 200


def test_end_one_other_session_and_all_others(app, client, f):
    user = f.user()
    second, third = app.test_client(), app.test_client()
    f.login(second, user)
    f.login(third, user)
    f.login_http(client, user)
    page = client.get("/compte")
    ids = re.findall(r'/compte/sessions/([0-9a-f-]{36})/fin', page.get_data(as_text=True))
    assert len(ids) == 2
    resp = f.post_form(client, f"/compte/sessions/{ids[0]}/fin", {}, form_url="/compte")
    assert resp.status_code == 302
    alive = [c.get("/compte").status_code for c in (second, third)]
    assert sorted(alive) == [200, 302]
    resp = f.post_form(client, "/compte/sessions/fin-autres", {}, form_url="/compte")
    assert resp.status_code == 302
    assert second.get("/compte").status_code == 302 and third.get("/compte").status_code == 302
    assert client.get("/compte").status_code == 200


def test_cannot_end_someone_elses_session(app, client, f):
    user, stranger = f.user(), f.user()
    f.login(app.test_client(), stranger)
    row = db.session.execute(sa.select(AuthSession).where(AuthSession.user_id == stranger.id)).scalar_one()
    f.login(client, user)
    resp = f.post_form(client, f"/compte/sessions/{row.id}/fin", {}, form_url="/compte")
    assert resp.status_code == 404
    resp = f.post_form(client, "/compte/sessions/not-a-uuid/fin", {}, form_url="/compte")
    assert resp.status_code == 404
    db.session.refresh(row)
    assert row.revoked_at is None


def test_disabled_user_is_logged_out_everywhere(app, client, f):
    from esp_coord.auth.services import disable_user

    user = f.user()
    f.login(client, user)
    assert client.get("/compte").status_code == 200
    ended = disable_user(db.session.get(User, user.id))
    db.session.commit()
    assert ended == 1
    assert client.get("/compte").status_code == 302
    assert audit_actions("auth.user_disabled")
