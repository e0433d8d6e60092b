"""Helpers for the protocols tests: a team with a GP, a nurse, a pharmacist and a physio."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from esp_coord.core.extensions import db


@dataclass
class Setup:
    team: object
    other: object
    users: dict


@pytest.fixture
def setup(f):
    team, other, users = f.team_with_roles()  # admin GP, coordinator nurse, member pharmacist, outsider
    users["physio"] = f.user("masseur_kinesitherapeute")
    f.member(team, users["physio"], "member")
    return Setup(team, other, users)


def make_protocol(setup, *, title="Suivi des patients sous AVK", validate=False, validated_on=date(2025, 3, 1)):
    from esp_coord.protocols import services as svc

    u = setup.users
    p = svc.create_protocol(setup.team, svc.ProtocolData(
        title=title, theme="Médicaments", steps=["Repérer", "Contrôler l'INR"],
        roles={"medecin_generaliste": "Adapte la dose", "pharmacien": "Entretien AVK"},
        author_ids=[u["admin"].id, u["coordinator"].id, u["member"].id]), actor=u["coordinator"])
    if validate:
        svc.validate_protocol(p, setup.team, validated_on=validated_on, next_review_on=None, actor=u["admin"])
    db.session.commit()
    return p


def adopt_cystite(setup, *, trained_on=date(2025, 1, 10)):
    from esp_coord.protocols import services as svc

    u = setup.users
    a = svc.adopt(setup.team, "PC_CYSTITE", adopted_on=date(2024, 12, 1), ars_declared_on=date(2024, 12, 15),
                  delegating_ids=[u["admin"].id], delegated_ids=[u["member"].id, u["coordinator"].id],
                  actor=u["admin"])
    if trained_on:
        svc.add_attestation(a, user_id=u["member"].id, trained_on=trained_on, organisation="URPS", hours=10,
                            actor=u["admin"])
    db.session.commit()
    return a
