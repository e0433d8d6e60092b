from dataclasses import dataclass

import pytest

from esp_coord.core.extensions import db


@dataclass
class Ctx:
    team: object
    other: object
    users: dict
    patient: object


@pytest.fixture
def ctx(app, f):
    team, other, users = f.team_with_roles()
    patient = f.patient(team, users["admin"], birth_name="Lemaire", first_names="Odette")
    return Ctx(team, other, users, patient)


def build_plan(ctx, *, actor=None, problems=1, validate=False, text="Rester à domicile en sécurité"):
    """A plan through the real services: problems each with one objective and one member action."""
    from esp_coord.care_plans import services as svc

    actor = actor or ctx.users["admin"]
    plan = svc.create_plan(ctx.team, ctx.patient, svc.HeaderData(
        coordinator_id=ctx.users["admin"].id, participant_ids=[ctx.users["coordinator"].id],
        outside_participants="Fille (aidante)", trigger="Chutes répétées", expectations=text,
        internal_notes="NOTE INTERNE confidentielle"), actor=actor)
    for i in range(problems):
        prob = svc.save_problem(plan, category="health", label=f"Chutes {i + 1}", patient_priority=(i == 0),
                                actor=actor)
        obj = svc.save_objective(plan, prob, text=f"Marcher sans chute {i + 1}", criterion="Nombre de chutes",
                                 actor=actor)
        svc.save_action(plan, obj, svc.ActionData(what=f"Kinésithérapie équilibre {i + 1}", owner_kind="member",
                                                  owner_user_id=ctx.users["coordinator"].id,
                                                  when="2 fois par semaine"), actor=actor)
    if validate:
        svc.validate_plan(plan, actor=actor)
    db.session.commit()
    return plan
