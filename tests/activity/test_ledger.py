"""Activity ledger: once-only recording, manual entries, validation by coordinators, my actions, CSV."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from esp_coord.activity import services as svc
from esp_coord.activity.models import LedgerEntry
from esp_coord.core.audit import AuditEvent
from esp_coord.core.extensions import db
from esp_coord.core.time import today_paris


def _count(model=LedgerEntry):
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar()


def _audits(action):
    return db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == action)).scalars().all()


def _entry(team, user, kind="RCP_SANS", days=3, **kw):
    entry, _created = svc.record_action(team=team, user_id=user.id, action_type=kind,
                                        performed_on=today_paris() - timedelta(days=days), actor=user, **kw)
    db.session.commit()
    return entry


# --- record_action ---------------------------------------------------------------------------------

def test_record_action_once_only_per_source(app, f):
    team, _other, users = f.team_with_roles()
    source = uuid.uuid4()
    kwargs = dict(team=team, user_id=users["member"].id, action_type="RCP_AVEC", performed_on=date(2026, 3, 2),
                  patient_count=3, source_type="meeting", source_id=source, actor=users["coordinator"])
    first, created = svc.record_action(**kwargs)
    assert created
    second, created_again = svc.record_action(**kwargs)
    db.session.commit()
    assert not created_again and second.id == first.id
    assert _count() == 1
    assert len(_audits("ledger.record")) == 1
    # another professional of the same meeting gets their own entry
    svc.record_action(**{**kwargs, "user_id": users["admin"].id})
    db.session.commit()
    assert _count() == 2


def test_record_action_prev_etp_refused_without_association(app, f):
    team = f.team(legal_form="none")
    user = f.user("infirmier")
    f.member(team, user)
    with pytest.raises(svc.LedgerError) as exc:
        svc.record_action(team=team, user_id=user.id, action_type="PREV_ETP", performed_on=date(2026, 1, 5))
    assert "association loi 1901" in str(exc.value)
    assert _count() == 0
    association = f.team(legal_form="association_1901")
    f.member(association, user)
    _entry, created = svc.record_action(team=association, user_id=user.id, action_type="PREV_ETP",
                                        performed_on=date(2026, 1, 5))
    assert created


def test_record_action_refuses_unknown_type_and_negative(app, f):
    team, _other, users = f.team_with_roles()
    with pytest.raises(svc.LedgerError):
        svc.record_action(team=team, user_id=users["member"].id, action_type="NOPE", performed_on=date(2026, 1, 5))
    with pytest.raises(svc.LedgerError):
        svc.record_action(team=team, user_id=users["member"].id, action_type="RCP_SANS",
                          performed_on=date(2026, 1, 5), patient_count=-1)


# --- manual action form ------------------------------------------------------------------------------

def test_manual_action_recorded(app, client, f):
    team, _other, users = f.team_with_roles()
    f.login(client, users["member"])
    day = today_paris() - timedelta(days=2)
    resp = f.post_form(client, "/actions/nouvelle", {
        "team_id": str(team.id), "action_type": "PROTO_REDAC", "performed_on": day.isoformat(),
        "duration_minutes": "90", "patient_count": "0", "label": "Relecture protocole AVK"})
    assert resp.status_code == 302
    entry = db.session.execute(sa.select(LedgerEntry)).scalar_one()
    assert entry.user_id == users["member"].id and entry.status == "to_validate"
    assert entry.source_type == "manual" and entry.duration_minutes == 90
    html = client.get("/actions/").get_data(as_text=True)
    assert "Relecture protocole AVK" in html and "À valider" in html


@pytest.mark.parametrize("data, message", [
    ({"performed_on": "2999-01-01"}, "futur"),
    ({"performed_on": "pas une date"}, "date valide"),
    ({"patient_count": "-2"}, "entre 0 et 1000"),
    ({"duration_minutes": "0"}, "entre 1 et 1440"),
    ({"action_type": "INCONNU"}, "dans la liste"),
    ({"team_id": str(uuid.uuid4())}, "vos équipes"),
])
def test_manual_action_errors_redisplay_typed_values(app, client, f, data, message):
    team, _other, users = f.team_with_roles()
    f.login(client, users["member"])
    values = {"team_id": str(team.id), "action_type": "RCP_SANS",
              "performed_on": (today_paris() - timedelta(days=1)).isoformat(),
              "duration_minutes": "75", "patient_count": "4", "label": "Texte tapé 123", **data}
    resp = f.post_form(client, "/actions/nouvelle", values)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert message in html
    assert "Texte tapé 123" in html and f'value="{values["duration_minutes"]}"' in html
    assert "Le formulaire contient des erreurs" in html or "error-summary" in html
    assert _count() == 0


def test_manual_prev_etp_refused_in_french_for_non_association(app, client, f):
    team = f.team(legal_form="none")
    user = f.user("infirmier")
    f.member(team, user)
    f.login(client, user)
    resp = f.post_form(client, "/actions/nouvelle", {
        "team_id": str(team.id), "action_type": "PREV_ETP", "performed_on": today_paris().isoformat(),
        "patient_count": "5", "label": "Atelier"})
    assert resp.status_code == 400
    assert "association loi 1901" in resp.get_data(as_text=True)
    assert _count() == 0


def test_manual_form_only_offers_my_teams(app, client, f):
    team, other, users = f.team_with_roles()
    f.login(client, users["member"])
    html = client.get("/actions/nouvelle").get_data(as_text=True)
    assert team.name in html and other.name not in html
    resp = f.post_form(client, "/actions/nouvelle", {
        "team_id": str(other.id), "action_type": "RCP_SANS", "performed_on": today_paris().isoformat(),
        "patient_count": "1"})
    assert resp.status_code == 400 and _count() == 0


# --- my actions --------------------------------------------------------------------------------------

def test_my_actions_across_teams_with_filters_and_totals(app, client, f):
    team, other, users = f.team_with_roles()
    me = users["member"]
    f.member(other, me)
    _entry(team, me, "RCP_SANS", patient_count=3, duration_minutes=60)
    _entry(other, me, "PPS_INIT", patient_count=1, duration_minutes=30)
    _entry(team, users["admin"], "PROJET_SANTE", label="Pas à moi")
    f.login(client, me)
    html = client.get("/actions/").get_data(as_text=True)
    assert team.name in html and other.name in html and "Pas à moi" not in html
    assert "<strong>2</strong> actions" in html and "<strong>4</strong> patients" in html
    html = client.get(f"/actions/?equipe={other.id}").get_data(as_text=True)
    assert "<strong>1</strong> action" in html
    html = client.get("/actions/?statut=validated&annee=abc").get_data(as_text=True)
    assert "Aucune action ne correspond" in html


def test_member_deletes_own_entry_while_to_validate(app, client, f):
    team, _other, users = f.team_with_roles()
    mine = _entry(team, users["member"])
    validated = _entry(team, users["member"], "PPS_INIT")
    svc.set_status(validated, "validated", actor=users["coordinator"])
    theirs = _entry(team, users["admin"], "PPS_REVUE")
    db.session.commit()
    f.login(client, users["member"])
    token = f.csrf(client, "/actions/")
    assert client.post(f"/actions/equipe/{team.id}/{mine.id}/supprimer", data={"csrf_token": token}).status_code == 303
    client.post(f"/actions/equipe/{team.id}/{validated.id}/supprimer", data={"csrf_token": token})
    client.post(f"/actions/equipe/{team.id}/{theirs.id}/supprimer", data={"csrf_token": token})
    db.session.expire_all()
    assert db.session.get(LedgerEntry, mine.id) is None
    assert db.session.get(LedgerEntry, validated.id) is not None
    assert db.session.get(LedgerEntry, theirs.id) is not None
    assert len(_audits("ledger.delete")) == 1


# --- the team's ledger and validation ----------------------------------------------------------------

def test_validation_by_coordinator_only(app, client, f):
    team, _other, users = f.team_with_roles()
    entry = _entry(team, users["member"])
    # member: 403
    f.login(client, users["member"])
    token = f.csrf(client, "/actions/")
    assert client.get(f"/actions/equipe/{team.id}").status_code == 403
    resp = client.post(f"/actions/equipe/{team.id}/{entry.id}/statut", data={"csrf_token": token,
                                                                               "statut": "validated"})
    assert resp.status_code == 403
    # member of another team: 404
    outsider = app.test_client()
    f.login(outsider, users["outsider"])
    token_o = f.csrf(outsider, "/actions/")
    assert outsider.get(f"/actions/equipe/{team.id}").status_code == 404
    resp = outsider.post(f"/actions/equipe/{team.id}/{entry.id}/statut", data={"csrf_token": token_o,
                                                                                "statut": "validated"})
    assert resp.status_code == 404
    db.session.expire_all()
    assert db.session.get(LedgerEntry, entry.id).status == "to_validate"
    # coordinator: validated and audited
    coord = app.test_client()
    f.login(coord, users["coordinator"])
    resp = f.post_form(coord, f"/actions/equipe/{team.id}/{entry.id}/statut", {"statut": "validated"},
                       form_url=f"/actions/equipe/{team.id}")
    assert resp.status_code == 303
    db.session.expire_all()
    row = db.session.get(LedgerEntry, entry.id)
    assert row.status == "validated" and row.validated_by_id == users["coordinator"].id
    assert len(_audits("ledger.validated")) == 1


def test_bulk_validation_ignores_other_teams(app, client, f):
    team, other, users = f.team_with_roles()
    a = _entry(team, users["member"])
    b = _entry(team, users["admin"], "PPS_INIT")
    foreign = _entry(other, users["outsider"])
    f.login(client, users["coordinator"])
    resp = f.post_form(client, f"/actions/equipe/{team.id}/lot",
                       {"statut": "validated", "entree": [str(a.id), str(b.id), str(foreign.id), "garbage"]},
                       form_url=f"/actions/equipe/{team.id}")
    assert resp.status_code == 303
    db.session.expire_all()
    assert db.session.get(LedgerEntry, a.id).status == "validated"
    assert db.session.get(LedgerEntry, b.id).status == "validated"
    assert db.session.get(LedgerEntry, foreign.id).status == "to_validate"
    assert len(_audits("ledger.validated")) == 2
    resp = f.post_form(client, f"/actions/equipe/{team.id}/lot", {"statut": "rejected", "entree": [str(a.id)]},
                       form_url=f"/actions/equipe/{team.id}")
    db.session.expire_all()
    assert db.session.get(LedgerEntry, a.id).status == "rejected"


def test_team_ledger_page_and_csv(app, client, f):
    team, _other, users = f.team_with_roles()
    _entry(team, users["member"], patient_count=1234, duration_minutes=90, label="=HYPERLINK(x)")
    _entry(team, users["admin"], "PPS_INIT", patient_count=2)
    f.login(client, users["coordinator"])
    html = client.get(f"/actions/equipe/{team.id}?membre={users['member'].id}").get_data(as_text=True)
    assert "Registre des actions" in html and users["member"].full_name in html
    resp = client.get(f"/actions/equipe/{team.id}/export.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    text = resp.get_data().decode("utf-8-sig")
    lines = text.strip().split("\r\n")
    assert lines[0].startswith("Date;Professionnel")
    assert len(lines) == 3
    assert "1\u202f234" in text  # French thousands separator
    assert "'=HYPERLINK(x)" in text
    assert len(_audits("ledger.export")) == 1
