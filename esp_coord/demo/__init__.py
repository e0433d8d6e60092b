"""Demo data: one ESP CLAP team in Pays de la Loire and a second team sharing a member.

`esp-coord demo` runs the base below, then each feature's seed module of this package, in SEEDS order
(esp_coord/demo/<feature>.py: `seed(ctx)`, built on that feature's public services). Demo accounts share
one password and have fixed TOTP secrets, printed with the login instructions. Refused in production.
`esp-coord demo --scale region` builds the regional dataset instead (esp_coord/demo/region.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from dataclasses import dataclass, field
from datetime import date

import pyotp
import sqlalchemy as sa
from flask import current_app

from esp_coord.auth.models import User
from esp_coord.auth.passwords import hash_password
from esp_coord.auth.totp import set_secret
from esp_coord.core.extensions import db
from esp_coord.core.time import today_paris, utc_now
from esp_coord.demo import activity, care_plans, funding, meetings, patients, protocols, teams
from esp_coord.reference import ensure_all_reference_data
from esp_coord.teams.models import Membership, Team, TeamSite

CLISSON_ADDRESS = "12 rue du Docteur Guilbaud, 44190 Clisson"
DEMO_PASSWORD = "demo-esp-coord-2026"  # noqa: S105 - published demo password, refused in production  # nosec B105


@dataclass
class DemoContext:
    seed: int
    scale: str
    echo: object
    today: date
    rng: random.Random
    users: dict[str, User] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    data: dict = field(default_factory=dict)  # features share created objects here


DEMO_USERS = [
    # key, first, last, email, profession, rpps
    ("gp", "Claire", "Martin", "claire.martin@demo.esp-coord.fr", "medecin_generaliste", "10101010101"),
    ("nurse", "Sophie", "Bernard", "sophie.bernard@demo.esp-coord.fr", "infirmier", "20202020202"),
    ("pharmacist", "Julien", "Petit", "julien.petit@demo.esp-coord.fr", "pharmacien", "30303030303"),
    ("physio", "Thomas", "Moreau", "thomas.moreau@demo.esp-coord.fr", "masseur_kinesitherapeute", "40404040404"),
    ("dietitian", "Léa", "Dubois", "lea.dubois@demo.esp-coord.fr", "dieteticien", "50505050505"),
    ("gp2", "Antoine", "Leroy", "antoine.leroy@demo.esp-coord.fr", "medecin_generaliste", "60606060606"),
    ("speech", "Camille", "Roux", "camille.roux@demo.esp-coord.fr", "orthophoniste", "70707070707"),
    ("association", "Nathalie", "Garnier", "association@demo.esp-coord.fr", None, None),
]

DEMO_ROLES = {
    "clap": {"gp": "admin", "nurse": "coordinator", "pharmacist": "member", "physio": "member",
             "dietitian": "member"},
    "coteaux": {"gp2": "admin", "nurse": "member", "speech": "member"},
}


# Feature seeds, in dependency order (patients before the meetings and PPS that discuss them).
SEEDS = (teams, activity, patients, meetings, care_plans, protocols, funding)


def demo_totp_secret(email: str) -> str:
    """Stable per installation and account (so `esp-coord demo-totp` and the printed instructions stay valid
    across runs) but never public: keyed with the installation's SECRET_KEY, not derivable from the e-mail."""
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"esp-coord-demo:{email}".encode(), hashlib.sha256).digest()[:20]
    return base64.b32encode(digest).decode()


def run(scale: str = "team", seed: int = 1, if_empty: bool = False, echo=print,
        factor: float | None = None) -> DemoContext | None:
    if current_app.config["ENV"] == "production":  # every scale: demo accounts have a public password
        raise SystemExit("Les données de démonstration sont refusées en production / demo refused in production.")
    if if_empty and db.session.execute(sa.select(sa.func.count()).select_from(Team)).scalar():
        echo("Des données existent déjà : démonstration non rechargée.")
        print_logins(echo)
        return None
    if scale == "region":
        from esp_coord.demo import region

        return region.run(seed=seed, echo=echo, factor=factor)
    rng = random.Random(seed)  # reproducible demo data, never a secret  # nosec B311
    ctx = DemoContext(seed=seed, scale=scale, echo=echo, today=today_paris(), rng=rng)
    ensure_all_reference_data()
    seed_base(ctx)
    db.session.commit()
    for module in SEEDS:
        module.seed(ctx)
        db.session.commit()
    echo("Données de démonstration chargées.")
    print_logins(echo)
    return ctx


def seed_base(ctx: DemoContext) -> None:
    password_hash = hash_password(DEMO_PASSWORD)
    now = utc_now()
    for key, first, last, email, profession, rpps in DEMO_USERS:
        user = User(email=email, first_name=first, last_name=last, profession_code=profession, rpps=rpps,
                    password_hash=password_hash, totp_enabled_at=now,
                    global_role="association" if key == "association" else None,
                    practice_addresses=None if key == "association" else CLISSON_ADDRESS)
        db.session.add(user)
        db.session.flush()
        set_secret(user, demo_totp_secret(email))
        ctx.users[key] = user
    clap = Team(name="ESP CLAP du Val de Sèvre", kind="esp_clap", legal_form="association_1901",
                communes="Clisson\nGétigné\nGorges\nMonnières", formed_on=date(2024, 1, 15),
                ars_recognised_on=date(2024, 6, 3), convention_signed_on=date(2024, 9, 1))
    coteaux = Team(name="ESP des Coteaux de la Sanguèze", kind="esp", legal_form="none",
                   communes="Vallet\nMouzillon\nLe Pallet", formed_on=date(2025, 3, 1))
    db.session.add_all([clap, coteaux])
    db.session.flush()
    db.session.add_all([
        TeamSite(team_id=clap.id, label="Cabinet médical de Clisson", address=CLISSON_ADDRESS),
        TeamSite(team_id=clap.id, label="Pharmacie de Gétigné", address="3 place de l'Église, 44190 Gétigné"),
        TeamSite(team_id=coteaux.id, label="Maison médicale de Vallet", address="8 rue d'Anjou, 44330 Vallet"),
    ])
    ctx.teams = {"clap": clap, "coteaux": coteaux}
    for team_key, roles in DEMO_ROLES.items():
        for user_key, role in roles.items():
            db.session.add(Membership(team_id=ctx.teams[team_key].id, user_id=ctx.users[user_key].id, role=role,
                                      started_on=ctx.teams[team_key].formed_on))
    db.session.flush()


def print_logins(echo=print) -> None:
    base = current_app.config.get("BASE_URL", "http://127.0.0.1:5000")
    echo("")
    echo("=" * 78)
    echo(f"esp_coord — démonstration sur {base}")
    echo(f"Mot de passe de tous les comptes de démonstration : {DEMO_PASSWORD}")
    echo("Code TOTP : ajoutez la clé ci-dessous dans une application d'authentification")
    echo("(FreeOTP, Aegis, Google Authenticator…) ou affichez le code du moment avec :")
    echo("    .venv/bin/esp-coord demo-totp <e-mail>")
    echo("-" * 78)
    roles = {"gp": "médecin généraliste, admin ESP CLAP", "nurse": "infirmière, coordinatrice (2 équipes)",
             "pharmacist": "pharmacien", "physio": "kinésithérapeute", "dietitian": "diététicienne",
             "gp2": "médecin généraliste, admin 2e équipe", "speech": "orthophoniste",
             "association": "association régionale (lecture seule)"}
    for key, _first, _last, email, _p, _r in DEMO_USERS:
        echo(f"{email:<38} {roles[key]}")
        secret = demo_totp_secret(email)
        echo(f"    clé TOTP : {secret}   code actuel : {pyotp.TOTP(secret).now()}")
    echo("=" * 78)
