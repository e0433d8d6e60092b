"""Dashboard: the personal home page in French, panels from other features, the public health check."""

from __future__ import annotations

from datetime import timedelta

from esp_coord.activity.services import record_action
from esp_coord.core import signals
from esp_coord.core.extensions import db
from esp_coord.core.time import today_paris
from esp_coord.tasks.services import create_task


def test_dashboard_renders_in_french(app, client, f):
    team, _other, users = f.team_with_roles()
    me = users["member"]
    lonely = f.team("Équipe naissante")
    f.member(lonely, me, "admin")
    create_task(team_id=team.id, owner_id=me.id, title="Relancer le laboratoire",
                due_on=today_paris() - timedelta(days=1))
    create_task(team_id=team.id, owner_id=me.id, title="Préparer la RCP", due_on=today_paris() + timedelta(days=3))
    record_action(team=team, user_id=me.id, action_type="RCP_SANS", performed_on=today_paris(), patient_count=2)
    db.session.commit()
    f.login(client, me)
    resp = client.get("/")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert '<html lang="fr">' in html
    for text in ("Tableau de bord", "Bonjour", "Mes tâches en cours", "Mes actions récentes", "Mes équipes",
                 "Relancer le laboratoire", "En retard", "Préparer la RCP", "RCP sans patient", "À valider",
                 team.name, "Équipe naissante", "Règle de composition pas encore respectée"):
        assert text in html, text
    assert html.index("Relancer le laboratoire") < html.index("Préparer la RCP")
    # French dates, e.g. "mardi 24 novembre 2026"
    from esp_coord.core.time import format_date

    assert format_date(today_paris() + timedelta(days=3)) in html
    for english in ("My open tasks", "Hello ", "Overdue", "To validate"):
        assert english not in html


def test_dashboard_panels_from_hooks(app, client, f, monkeypatch):
    _team, _other, users = f.team_with_roles()

    def provider(user):
        return [{"title": "Prochaines réunions", "items": [("RCP diabète", "/reunions/x", "jeudi 26 novembre"),
                                                           ("Réunion d'équipe", None, None)]}]

    f.login(client, users["member"])
    with signals.dashboard_panels.connected_to(provider):
        resp = client.get("/")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "Prochaines réunions" in html and 'href="/reunions/x"' in html and "jeudi 26 novembre" in html
    assert "Réunion d&#39;équipe" in html or "Réunion d'équipe" in html


def test_dashboard_without_team(app, client, f):
    f.login(client, f.user("infirmier"))
    html = client.get("/").get_data(as_text=True)
    assert "membre d" in html and "Aucune tâche en cours" in html


def test_health_check_is_public(app, client):
    resp = client.get("/sante")
    assert resp.status_code == 200
    assert resp.get_data(as_text=True) == "ok"
