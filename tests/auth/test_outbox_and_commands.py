import re

import sqlalchemy as sa

from esp_coord.auth import services
from esp_coord.auth.models import AuthSession, Invitation, User
from esp_coord.core.extensions import db
from tests.auth.helpers import text


def test_outbox_lists_and_shows_messages(app, client, f):
    team, _other, users = f.team_with_roles()
    services.create_invitation(team, "boite@example.org", "member", "Bo", "Ite", None, users["admin"])
    db.session.commit()
    f.login(client, users["member"])
    resp = client.get("/dev/outbox")
    assert resp.status_code == 200
    body = text(resp)
    assert "boite@example.org" in body and team.name in body
    message_id = re.search(r"/dev/outbox/([0-9a-f-]{36})", resp.get_data(as_text=True)).group(1)
    resp = client.get(f"/dev/outbox/{message_id}")
    assert resp.status_code == 200 and "/invitation/" in text(resp)
    assert client.get("/dev/outbox/not-an-id").status_code == 404


def test_outbox_is_404_with_a_real_mail_backend(app, client, f):
    f.login(client, f.user())
    app.config["MAIL_BACKEND"] = "smtp"
    try:
        assert client.get("/dev/outbox").status_code == 404
    finally:
        app.config["MAIL_BACKEND"] = "outbox"


def test_outbox_in_production_like_env_is_for_platform_admins(app, client, f):
    app.config["ENV"] = "production"
    try:
        f.login(client, f.user())
        assert client.get("/dev/outbox").status_code == 403
        f.login(client, f.user(None, global_role="platform_admin"))
        assert client.get("/dev/outbox").status_code == 200
    finally:
        app.config["ENV"] = "testing"


def test_cli_create_admin_prints_a_setup_link(app, client):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create-admin", "--email", "Admin@Example.org", "--first-name", "Ada",
                                 "--last-name", "Admin"])
    assert result.exit_code == 0, result.output
    link = re.search(r"http://localhost(/invitation/\S+)", result.output).group(1)
    user = db.session.execute(sa.select(User).where(User.email == "admin@example.org")).scalar_one()
    assert user.global_role == "platform_admin" and user.password_hash is None
    invitation = db.session.execute(sa.select(Invitation)).scalar_one()
    assert invitation.team_id is None and invitation.user_id == user.id
    page = client.get(link)
    assert page.status_code == 200 and "Créez votre compte" in text(page)
    from tests.conftest import csrf_from

    resp = client.post(link, data={"first_name": "Ada", "last_name": "Admin", "profession": "",
                                   "new_password": "la plateforme tourne rond", "confirm": "la plateforme tourne rond",
                                   "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/connexion/activation-totp")
    db.session.refresh(user)
    assert user.password_hash and user.global_role == "platform_admin"


def test_cli_rejects_bad_email(app):
    result = app.test_cli_runner().invoke(args=["users", "create-admin", "--email", "nope", "--first-name", "A",
                                                "--last-name", "B"])
    assert result.exit_code != 0 and "invalide" in result.output


def test_cli_disable_revokes_sessions(app, client, f):
    user = f.user()
    f.login(client, user)
    result = app.test_cli_runner().invoke(args=["users", "disable", user.email.upper()])
    assert result.exit_code == 0, result.output
    assert "1 session" in result.output
    db.session.expire_all()
    assert db.session.get(User, user.id).active is False
    assert db.session.execute(sa.select(AuthSession.revoked_at)).scalar_one() is not None
    assert client.get("/compte").status_code == 302
    result = app.test_cli_runner().invoke(args=["users", "disable", "nobody@example.org"])
    assert result.exit_code != 0
