import random

import sqlalchemy as sa

from esp_coord.core.extensions import db
from esp_coord.core.time import today_paris
from esp_coord.funding import services as svc
from esp_coord.funding.models import Claim


def test_funding_demo_seed(app, client, f):
    from esp_coord import demo
    from esp_coord.demo import funding as funding_demo

    ctx = demo.DemoContext(seed=1, scale="team", echo=lambda *a: None, today=today_paris(), rng=random.Random(1))
    demo.seed_base(ctx)
    db.session.commit()
    funding_demo.seed(ctx)
    db.session.commit()
    claims = db.session.execute(sa.select(Claim).order_by(Claim.period_start)).scalars().all()
    assert [c.status for c in claims] == ["submitted", "draft"]
    assert svc.verify_claim(claims[0]) and claims[0].total_amount > 0
    data = svc.claim_data(claims[1])
    assert data["anomalies"] and {a["code"] for a in data["anomalies"]} >= {"duplicate", "rcp_minutes"}
    assert svc.projet_versions(ctx.teams["clap"].id)[0].version == 1
    f.login(client, ctx.users["association"])
    html = client.get("/financement/region").get_data(as_text=True)
    assert ctx.teams["clap"].name in html and ctx.teams["coteaux"].name in html
    f.login(client, ctx.users["nurse"])
    assert client.get(f"/financement/equipe/{ctx.teams['clap'].id}/demandes/{claims[1].id}").status_code == 200
    assert client.get("/financement/releve.pdf").status_code == 200
