"""Plain builders for tests: users, teams, memberships, and fast logins.

    user = f.user("infirmier"); team = f.team(); f.member(team, user, "coordinator")
    f.login(client, user)        # creates a real server-side session (no HTTP round trip)
    f.login_http(client, user)   # the real login form: password then TOTP
"""

from __future__ import annotations

import itertools
import secrets

import pyotp

from esp_coord.core.extensions import db
from esp_coord.core.time import utc_now

PASSWORD = "correct horse battery staple 42"  # noqa: S105 - test password
_seq = itertools.count(1)


class Factories:
    def __init__(self, app):
        self.app = app

    def user(self, profession: str | None = "infirmier", *, email: str | None = None, first_name: str = "Alex",
             last_name: str | None = None, global_role: str | None = None, password: str = PASSWORD,
             totp: bool = True, **kw):
        from esp_coord.auth.models import User
        from esp_coord.auth.passwords import hash_password
        from esp_coord.auth.totp import new_secret, set_secret

        n = next(_seq)
        user = User(email=email or f"user{n}@example.org", first_name=first_name, last_name=last_name or f"Testeur{n}",
                    profession_code=profession, password_hash=hash_password(password), global_role=global_role,
                    **kw)
        db.session.add(user)
        db.session.flush()
        if totp:
            secret = new_secret()
            set_secret(user, secret)
            user.totp_enabled_at = utc_now()
            user._test_totp_secret = secret
        db.session.commit()
        return user

    def totp_code(self, user) -> str:
        from esp_coord.auth.totp import get_secret

        return pyotp.TOTP(get_secret(user)).now()

    def team(self, name: str | None = None, *, kind: str = "esp_clap", legal_form: str = "association_1901", **kw):
        from esp_coord.teams.models import Team

        team = Team(name=name or f"Équipe {next(_seq)}", kind=kind, legal_form=legal_form, **kw)
        db.session.add(team)
        db.session.commit()
        return team

    def member(self, team, user, role: str = "member"):
        from esp_coord.teams.models import Membership

        m = Membership(team_id=team.id, user_id=user.id, role=role)
        db.session.add(m)
        db.session.commit()
        db.session.expire_all()
        return m

    def team_with_roles(self):
        """A team with admin (GP), coordinator (nurse), member (pharmacist), plus an outsider in another team."""
        team = self.team()
        other = self.team("Autre équipe")
        users = {
            "admin": self.user("medecin_generaliste"),
            "coordinator": self.user("infirmier"),
            "member": self.user("pharmacien"),
            "outsider": self.user("masseur_kinesitherapeute"),
            "association": self.user(None, global_role="association"),
        }
        self.member(team, users["admin"], "admin")
        self.member(team, users["coordinator"], "coordinator")
        self.member(team, users["member"], "member")
        self.member(other, users["outsider"], "admin")
        return team, other, users

    def login(self, client, user):
        """Open a real server-side session for `user` on this test client (skips the login form)."""
        from esp_coord.auth.models import AuthSession
        from esp_coord.core.keys import token_hash

        token = secrets.token_urlsafe(32)
        now = utc_now()
        db.session.add(AuthSession(user_id=user.id, token_hash=token_hash(token), created_at=now, last_seen_at=now,
                                   expires_at=now + self.app.config["SESSION_ABSOLUTE_LIFETIME"], mfa_done=True))
        db.session.commit()
        with client.session_transaction() as sess:
            sess["sid"] = token
            sess["_user_id"] = str(user.id)
            sess["_fresh"] = True
        return client

    def login_http(self, client, user, password: str = PASSWORD):
        """The real login journey: password form, then the TOTP form."""
        from tests.conftest import csrf_from

        user.totp_last_step = None
        db.session.commit()
        page = client.get("/connexion")
        resp = client.post("/connexion", data={"email": user.email, "password": password,
                                               "csrf_token": csrf_from(page.get_data(as_text=True))})
        assert resp.status_code == 302, resp.status_code
        page = client.get(resp.headers["Location"])
        resp = client.post(resp.headers["Location"], data={"code": self.totp_code(user),
                                                           "csrf_token": csrf_from(page.get_data(as_text=True))})
        return resp

    def post_form(self, client, url: str, data: dict, form_url: str | None = None, **kw):
        """GET the form page for a real CSRF token, then POST."""
        from tests.conftest import csrf_from

        page = client.get(form_url or url)
        assert page.status_code == 200, (form_url or url, page.status_code)
        return client.post(url, data={**data, "csrf_token": csrf_from(page.get_data(as_text=True))}, **kw)

    def csrf(self, client, url: str) -> str:
        from tests.conftest import csrf_from

        page = client.get(url)
        return csrf_from(page.get_data(as_text=True))


def make_patient(team, actor, *, birth_name="DURAND", first_names="Marie", birth_date=None, sex="F", **kw):
    """Create a patient through the real service (encrypted identity, data key, blind indexes)."""
    from datetime import date

    from esp_coord.patients.services import PatientData, create_patient

    patient = create_patient(team, PatientData(birth_name=birth_name, first_names=first_names,
                                               birth_date=birth_date or date(1948, 3, 14), sex=sex, **kw),
                             actor=actor)
    db.session.commit()
    return patient


Factories.patient = lambda self, team, actor, **kw: make_patient(team, actor, **kw)
