from datetime import timedelta

from esp_coord.core.extensions import db


def test_keys_status_and_retention(app, f):
    team, _other, users = f.team_with_roles()
    old = f.patient(team, users["admin"])
    f.patient(team, users["admin"])
    old.last_activity_at = old.last_activity_at - timedelta(days=365 * 21)
    db.session.commit()
    runner = app.test_cli_runner()
    out = runner.invoke(args=["keys", "status"]).output
    assert "t1 (courante) : 2" in out and "Aucune rotation en attente" in out
    out = runner.invoke(args=["patients", "retention"]).output
    assert str(old.id) in out and "1 dossier(s)" in out
    out = runner.invoke(args=["keys", "rotate"]).output
    assert "0 restante(s)" in out


def test_demo_seed(app):
    import random

    from esp_coord import demo
    from esp_coord.core.time import today_paris
    from esp_coord.demo import patients as patients_demo

    ctx = demo.DemoContext(seed=1, scale="team", echo=lambda *_a: None, today=today_paris(), rng=random.Random(1))
    demo.seed_base(ctx)
    patients_demo.seed(ctx)
    db.session.commit()
    patients = ctx.data["patients"]
    assert len(patients) == 8
    assert {"falls", "diabetic", "avk", "child", "young_woman", "ankle"} <= set(patients)
    assert sum(1 for p in patients.values() if p.opposed_at) == 1
