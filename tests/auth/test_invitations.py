import re
from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa

from esp_coord.auth import services
from esp_coord.auth.models import Invitation, User
from esp_coord.core.extensions import db
from esp_coord.core.keys import token_hash
from esp_coord.core.time import utc_now
from esp_coord.teams.models import Membership
from tests.auth.helpers import audit_actions, text
from tests.conftest import csrf_from
from tests.factories import PASSWORD

NEW_PASSWORD = "trois tortues traversent la route"  # noqa: S105 - test value


def _invite(client, f, team, **data):
    form = {"email": "marc.durand@example.org", "first_name": "Marc", "last_name": "Durand",
            "profession": "sage_femme", "role": "member", **data}
    return f.post_form(client, f"/equipes/{team.id}/invitations", form)


def _link(message) -> str:
    body = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"http://localhost(/invitation/[A-Za-z0-9_\-]+)", body).group(1)


def test_coordinator_invites_and_the_mail_goes_through_smtp(client, f, smtp_server):
    team, _other, users = f.team_with_roles()
    f.login(client, users["coordinator"])
    page = client.get(f"/equipes/{team.id}/invitations")
    assert page.status_code == 200
    resp = _invite(client, f, team)
    assert resp.status_code == 302
    assert len(smtp_server.messages) == 1
    msg = smtp_server.messages[0]
    assert msg["To"] == "marc.durand@example.org"
    assert team.name in msg["Subject"]
    assert msg.get_body(preferencelist=("html",)) is not None
    plain = msg.get_body(preferencelist=("plain",)).get_content()
    assert "Bonjour Marc Durand" in plain and "une fois" in plain
    link = _link(msg)
    token = link.rsplit("/", 1)[1]
    invitation = db.session.execute(sa.select(Invitation)).scalar_one()
    assert invitation.token_hash == token_hash(token) and token not in invitation.token_hash
    assert invitation.expires_at - utc_now() > timedelta(days=6)
    assert audit_actions("auth.invitation_created")[0].team_id == team.id
    listing = text(client.get(f"/equipes/{team.id}/invitations"))
    assert "marc.durand@example.org" in listing and "En attente" in listing


def test_full_acceptance_creates_account_membership_and_totp(app, client, f, smtp_server):
    team, _other, users = f.team_with_roles()
    f.login(client, users["coordinator"])
    _invite(client, f, team, role="coordinator")
    link = _link(smtp_server.messages[0])
    visitor = app.test_client()
    page = visitor.get(link)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'value="Marc"' in html and "marc.durand@example.org" in html
    # policy applies
    resp = visitor.post(link, data={"first_name": "Marc", "last_name": "Durand", "profession": "sage_femme",
                                    "new_password": "azertyuiop12", "confirm": "azertyuiop12",
                                    "csrf_token": csrf_from(html)})
    assert resp.status_code == 400
    assert db.session.execute(sa.select(User).where(User.email == "marc.durand@example.org")).first() is None
    resp = visitor.post(link, data={"first_name": "Marc", "last_name": "Durand", "profession": "sage_femme",
                                    "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
                                    "csrf_token": csrf_from(html)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/connexion/activation-totp")
    user = db.session.execute(sa.select(User).where(User.email == "marc.durand@example.org")).scalar_one()
    membership = db.session.execute(sa.select(Membership).where(Membership.user_id == user.id)).scalar_one()
    assert membership.team_id == team.id and membership.role == "coordinator"
    assert not user.has_totp
    # not logged in before TOTP enrolment
    assert visitor.get("/compte").status_code == 302
    page = visitor.get("/connexion/activation-totp")
    html = page.get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")
    resp = visitor.post("/connexion/activation-totp", data={"code": pyotp.TOTP(secret).now(),
                                                            "csrf_token": csrf_from(html)})
    assert resp.status_code == 200
    assert visitor.get("/compte").status_code == 200
    # single use
    again = app.test_client().get(link)
    assert again.status_code == 410 and "déjà été utilisée" in text(again)
    assert audit_actions("auth.invitation_accepted")


def test_unknown_expired_and_revoked_links(app, client, f):
    team, _other, users = f.team_with_roles()
    assert client.get("/invitation/not-a-real-token").status_code == 404
    invitation = services.create_invitation(team, "late@example.org", "member", "", "", None,
                                            users["coordinator"])
    token = invitation.plain_token
    invitation.expires_at = utc_now() - timedelta(minutes=1)
    db.session.commit()
    resp = client.get(f"/invitation/{token}")
    assert resp.status_code == 410 and "expiré" in text(resp)
    invitation2 = services.create_invitation(team, "gone@example.org", "member", "", "", None,
                                             users["coordinator"])
    db.session.commit()
    f.login(client, users["coordinator"])
    resp = f.post_form(client, f"/equipes/{team.id}/invitations/{invitation2.id}/revoquer", {},
                       form_url=f"/equipes/{team.id}/invitations")
    assert resp.status_code == 302
    anonymous = app.test_client()
    resp = anonymous.get(f"/invitation/{invitation2.plain_token}")
    assert resp.status_code == 410 and "annulée" in text(resp)


def test_existing_user_logs_in_then_joins(app, client, f, smtp_server):
    team, other, users = f.team_with_roles()
    outsider = users["outsider"]
    f.login(client, users["coordinator"])
    _invite(client, f, team, email=outsider.email.upper(), first_name="", last_name="")
    link = _link(smtp_server.messages[0])
    visitor = app.test_client()
    page = visitor.get(link)
    assert page.status_code == 200 and "Connectez-vous" in text(page)
    resp = f.login_http(visitor, outsider)
    page = visitor.get(link)
    assert "Accepter et rejoindre" in text(page)
    resp = visitor.post(link, data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert resp.status_code == 302
    roles = {m.team_id: m.role for m in db.session.execute(
        sa.select(Membership).where(Membership.user_id == outsider.id)).scalars()}
    assert roles == {other.id: "admin", team.id: "member"}


def test_other_logged_in_account_cannot_use_the_invitation(client, f):
    team, _other, users = f.team_with_roles()
    invitation = services.create_invitation(team, "someone@example.org", "member", "", "", None,
                                            users["coordinator"])
    db.session.commit()
    f.login(client, users["member"])
    resp = client.get(f"/invitation/{invitation.plain_token}")
    assert resp.status_code == 403
    db.session.refresh(invitation)
    assert invitation.accepted_at is None


def test_access_rules_for_invitations(client, f):
    team, other, users = f.team_with_roles()
    f.login(client, users["member"])
    assert client.get(f"/equipes/{team.id}/invitations").status_code == 403
    f.login(client, users["outsider"])
    assert client.get(f"/equipes/{team.id}/invitations").status_code == 404
    assert client.get("/equipes/not-a-uuid/invitations").status_code == 404
    # an invitation of another team cannot be revoked through this team's URL
    invitation = services.create_invitation(team, "x@example.org", "member", "", "", None, users["admin"])
    db.session.commit()
    resp = f.post_form(client, f"/equipes/{other.id}/invitations/{invitation.id}/revoquer", {},
                       form_url=f"/equipes/{other.id}/invitations")
    assert resp.status_code == 404
    db.session.refresh(invitation)
    assert invitation.revoked_at is None


def test_coordinator_cannot_invite_an_admin_and_members_are_refused(client, f):
    team, _other, users = f.team_with_roles()
    f.login(client, users["coordinator"])
    resp = _invite(client, f, team, role="admin")
    assert resp.status_code == 400
    resp = _invite(client, f, team, email=users["member"].email)
    assert resp.status_code == 400 and "déjà membre" in text(resp)
    resp = _invite(client, f, team, email="not-an-email")
    assert resp.status_code == 400
    assert db.session.execute(sa.select(Invitation)).first() is None
    with pytest.raises(services.InvitationError):
        services.create_invitation(team, "a@example.org", "admin", "", "", None, users["coordinator"])


def test_new_invitation_replaces_the_pending_one(f):
    team, _other, users = f.team_with_roles()
    first = services.create_invitation(team, "dup@example.org", "member", "", "", None, users["admin"])
    second = services.create_invitation(team, "DUP@example.org", "coordinator", "", "", None, users["admin"])
    db.session.commit()
    db.session.refresh(first)
    assert first.status == "revoked" and second.status == "pending"


def test_invitation_with_existing_password_cannot_overwrite_it(app, f):
    team, _other, users = f.team_with_roles()
    invitation = services.create_invitation(team, users["outsider"].email, "member", "", "", None, users["admin"])
    db.session.commit()
    with pytest.raises(services.InvitationError):
        services.accept_invitation_new_account(invitation, "quelque chose de long", "A", "B", None)
    from esp_coord.auth.passwords import verify_password

    assert verify_password(users["outsider"].password_hash, PASSWORD)
