import random

import sqlalchemy as sa

from esp_coord.care_plans import services as svc
from esp_coord.care_plans.models import CarePlan
from esp_coord.core.extensions import db
from esp_coord.core.time import today_paris
from esp_coord.demo import care_plans as demo


def test_demo_seed_creates_two_realistic_plans(app, f):
    from esp_coord.demo import DemoContext

    team = f.team("ESP CLAP démo")
    users = {k: f.user(p) for k, p in [("gp", "medecin_generaliste"), ("nurse", "infirmier"),
                                       ("pharmacist", "pharmacien"), ("physio", "masseur_kinesitherapeute"),
                                       ("dietitian", "dieteticien")]}
    for user in users.values():
        f.member(team, user)
    ctx = DemoContext(seed=1, scale="team", echo=print, today=today_paris(), rng=random.Random(1), users=users,
                      teams={"clap": team})
    demo.seed(ctx)
    db.session.commit()
    plans = list(db.session.execute(sa.select(CarePlan).order_by(CarePlan.number)).unique().scalars())
    assert len(plans) == 2 and all(p.status == "active" for p in plans)
    assert plans[0].current_version == 2 and plans[1].consent_on is None
    rows = svc.diff(svc.load_version(plans[0], 1), svc.load_version(plans[0], 2))
    assert any("Tinetti" in r["after"] for r in rows)
