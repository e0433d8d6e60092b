"""Tasks: "mes tâches" ordering, status changes, the team's open tasks, tasks created by hand."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from esp_coord.core.audit import AuditEvent
from esp_coord.core.extensions import db
from esp_coord.core.time import today_paris, utc_now
from esp_coord.tasks import services as svc
from esp_coord.tasks.models import Task


def _task(team, owner, title, days=None, **kw):
    task = svc.create_task(team_id=team.id, owner_id=owner.id if owner else None, title=title,
                           due_on=today_paris() + timedelta(days=days) if days is not None else None, **kw)
    db.session.commit()
    return task


def test_my_tasks_overdue_first_then_by_due_date(app, client, f):
    team, other, users = f.team_with_roles()
    me = users["member"]
    f.member(other, me)
    _task(team, me, "Sans échéance")
    _task(team, me, "Dans dix jours", 10)
    _task(other, me, "En retard de deux jours", -2)
    _task(team, me, "Demain", 1)
    _task(team, me, "En retard de cinq jours", -5)
    done = _task(team, me, "Déjà faite", -9)
    svc.set_task_status(done, "done", actor=me)
    _task(team, users["admin"], "Tâche d'un autre", -1)
    db.session.commit()
    titles = [t.title for t in svc.tasks_for_user(me)]
    assert titles == ["En retard de cinq jours", "En retard de deux jours", "Demain", "Dans dix jours",
                      "Sans échéance"]
    f.login(client, me)
    html = client.get("/taches/").get_data(as_text=True)
    positions = [html.index(t) for t in titles]
    assert positions == sorted(positions)
    assert "Déjà faite" not in html and "Tâche d'un autre" not in html
    assert "En retard" in html and "class=\"overdue\"" in html
    assert "Mes tâches" in html
    html = client.get("/taches/?toutes=1").get_data(as_text=True)
    assert "Déjà faite" in html and html.index("Déjà faite") > html.index("Sans échéance")


def test_my_tasks_hide_tasks_of_teams_i_left(app, client, f):
    team, other, users = f.team_with_roles()
    me = users["member"]
    m = f.member(other, me)
    _task(other, me, "Ancienne équipe", 1)
    from esp_coord.teams.models import Membership

    db.session.get(Membership, m.id).ended_on = today_paris()
    db.session.commit()
    db.session.expire_all()
    f.login(client, me)
    assert "Ancienne équipe" not in client.get("/taches/").get_data(as_text=True)


def test_status_change_by_owner(app, client, f):
    team, _other, users = f.team_with_roles()
    task = _task(team, users["member"], "Appeler le cabinet infirmier", 2)
    f.login(client, users["member"])
    resp = f.post_form(client, f"/taches/equipe/{team.id}/{task.id}/statut", {"statut": "in_progress"},
                       form_url="/taches/")
    assert resp.status_code == 303
    db.session.expire_all()
    assert db.session.get(Task, task.id).status == "in_progress"
    f.post_form(client, f"/taches/equipe/{team.id}/{task.id}/statut", {"statut": "done"}, form_url="/taches/")
    db.session.expire_all()
    row = db.session.get(Task, task.id)
    assert row.status == "done" and row.completed_at is not None
    resp = f.post_form(client, f"/taches/equipe/{team.id}/{task.id}/statut", {"statut": "bogus"},
                       form_url="/taches/")
    assert resp.status_code == 400
    events = db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "task.status")).scalars().all()
    assert len(events) == 2


def test_status_change_of_someone_elses_task(app, client, f):
    team, _other, users = f.team_with_roles()
    task = _task(team, users["admin"], "Tâche du médecin", 2)
    f.login(client, users["member"])
    token = f.csrf(client, "/taches/")
    resp = client.post(f"/taches/equipe/{team.id}/{task.id}/statut", data={"csrf_token": token, "statut": "done"})
    assert resp.status_code == 403
    coord = app.test_client()
    f.login(coord, users["coordinator"])
    resp = f.post_form(coord, f"/taches/equipe/{team.id}/{task.id}/statut", {"statut": "cancelled"},
                       form_url=f"/taches/equipe/{team.id}")
    assert resp.status_code == 303
    db.session.expire_all()
    assert db.session.get(Task, task.id).status == "cancelled"


def test_team_open_tasks_for_coordinators(app, client, f):
    team, _other, users = f.team_with_roles()
    _task(team, users["admin"], "Ouverte", 3)
    closed = _task(team, users["member"], "Fermée", 3)
    svc.set_task_status(closed, "done", actor=users["member"])
    db.session.commit()
    f.login(client, users["member"])
    assert client.get(f"/taches/equipe/{team.id}").status_code == 403
    f.login(client, users["coordinator"])
    html = client.get(f"/taches/equipe/{team.id}").get_data(as_text=True)
    assert "Ouverte" in html and "Fermée" not in html and users["admin"].full_name in html


def test_create_task_by_hand(app, client, f):
    team, _other, users = f.team_with_roles()
    f.login(client, users["member"])
    due = today_paris() + timedelta(days=5)
    resp = f.post_form(client, f"/taches/equipe/{team.id}/nouvelle", {
        "title": "Commander les brochures", "owner_id": str(users["admin"].id), "due_on": due.isoformat(),
        "detail": "Trois cartons"})
    assert resp.status_code == 302
    task = db.session.execute(sa.select(Task)).scalar_one()
    assert task.owner_id == users["admin"].id and task.patient_id is None and task.detail_plain == "Trois cartons"
    assert task.created_by_id == users["member"].id


def test_create_task_errors(app, client, f):
    team, _other, users = f.team_with_roles()
    f.login(client, users["member"])
    resp = f.post_form(client, f"/taches/equipe/{team.id}/nouvelle", {
        "title": "Tâche tapée", "owner_id": str(users["outsider"].id),
        "due_on": (today_paris() - timedelta(days=1)).isoformat()})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "Tâche tapée" in html and "membre de l" in html and "passé" in html
    assert db.session.execute(sa.select(sa.func.count()).select_from(Task)).scalar() == 0


def test_patient_task_detail_is_decrypted_and_linked(app, client, f):
    team, _other, users = f.team_with_roles()
    patient = f.patient(team, users["admin"])
    task = svc.create_task(team_id=team.id, owner_id=users["member"].id, title="Suivi après RCP",
                           detail="Vérifier l'INR de Mme Durand", patient_id=patient.id, actor=users["admin"],
                           due_on=today_paris())
    db.session.commit()
    assert task.detail_plain is None and task.detail_enc is not None
    f.login(client, users["member"])
    html = client.get("/taches/").get_data(as_text=True)
    assert "Vérifier l&#39;INR de Mme Durand" in html or "Vérifier l'INR de Mme Durand" in html
    if "patients.show" in app.view_functions:
        assert f"/{patient.id}" in html
    reads = db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "task.read")).scalars().all()
    assert len(reads) == 1 and reads[0].patient_id == patient.id
    # opposition: only the author sees the text
    patient.opposed_at = utc_now()
    db.session.commit()
    html = client.get("/taches/").get_data(as_text=True)
    assert "INR" not in html and "opposé" in html


def test_patient_hooks_timeline_and_export(app, f):
    from esp_coord.core import signals

    team, _other, users = f.team_with_roles()
    patient = f.patient(team, users["admin"])
    svc.create_task(team_id=team.id, owner_id=users["member"].id, title="Suivi pansement",
                    detail="Plaie talon gauche", patient_id=patient.id, actor=users["admin"],
                    due_on=today_paris())
    db.session.commit()
    items = [i for i in signals.collect(signals.patient_timeline, patient, viewer=users["member"]) if i.kind == "task"]
    assert len(items) == 1 and "Suivi pansement" in items[0].title and "Plaie talon gauche" in items[0].detail
    sections = [s for s in signals.collect(signals.patient_export, patient)
        if s and s.get("title") == "Tâches de suivi"]
    assert sections and sections[0]["tasks"][0]["detail"] == "Plaie talon gauche"
    patient.opposed_at = utc_now()
    db.session.commit()
    items = [i for i in signals.collect(signals.patient_timeline, patient, viewer=users["member"]) if i.kind == "task"]
    assert "Plaie" not in items[0].detail


def test_my_tasks_query_count_is_constant(app, client, f):
    from sqlalchemy import event

    team, other, users = f.team_with_roles()
    me = users["member"]
    f.member(other, me)
    f.login(client, me)

    def count(url):
        statements = []

        def listener(*_args, **_kw):
            statements.append(1)

        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert client.get(url).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(statements)

    from esp_coord.activity.services import record_action

    _task(team, me, "Une", 1)
    record_action(team=team, user_id=me.id, action_type="COORD_AUTRE", performed_on=today_paris(), label="n")
    db.session.commit()
    few = {url: count(url) for url in ("/taches/", "/", "/equipes/", "/actions/")}
    for i in range(8):
        _task(team if i % 2 else other, me, f"Tâche {i}", i - 3)
        record_action(team=team, user_id=me.id, action_type="COORD_AUTRE", performed_on=today_paris(),
                      label=f"n{i}")
        f.member(team if i % 2 else other, f.user("infirmier"))
    db.session.commit()
    many = {url: count(url) for url in few}
    assert many == few, (few, many)
