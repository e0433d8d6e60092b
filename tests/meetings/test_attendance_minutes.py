from datetime import timedelta
from io import BytesIO

import sqlalchemy as sa
from click.testing import CliRunner  # noqa: F401
from pypdf import PdfReader

from esp_coord.activity.models import LedgerEntry
from esp_coord.core.audit import AuditEvent
from esp_coord.core.extensions import db
from esp_coord.core.time import utc_now
from esp_coord.meetings import services as svc
from esp_coord.meetings.models import Meeting, MeetingCase, MeetingInvitee, MinutesRevision
from esp_coord.tasks.models import Task
from tests.meetings.helpers import schedule


def _started(meeting, minutes_ago=10):
    """Move a meeting so that it is under way now."""
    meeting.starts_at = utc_now() - timedelta(minutes=minutes_ago)
    meeting.ends_at = meeting.starts_at + timedelta(minutes=90)
    db.session.commit()
    return meeting


def _pdf_text(data: bytes) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(BytesIO(data)).pages)


def test_self_check_in_only_during_the_meeting_and_coordinator_marks(app, f, client):
    team, _other, users = f.team_with_roles()
    meeting = schedule(team, users["coordinator"], [users["member"], users["admin"]])
    url = f"/reunions/{team.id}/{meeting.id}"
    member = f.login(client, users["member"])
    resp = f.post_form(member, url + "/presence", {}, form_url=url)
    assert resp.status_code == 400
    assert "pendant la réunion" in resp.get_data(as_text=True)
    _started(meeting)
    page = member.get(url).get_data(as_text=True)
    assert "Je suis présent" in page
    assert f.post_form(member, url + "/presence", {}, form_url=url).status_code == 302
    inv = db.session.execute(sa.select(MeetingInvitee).where(MeetingInvitee.user_id == users["member"].id)
                             ).scalar_one()
    assert inv.present and inv.checked_in_at is not None and inv.check_in_method == "self"
    assert db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "meeting.attendance.self")
                              ).scalar_one().actor_id == users["member"].id
    coord = f.login(app.test_client(), users["coordinator"])
    # a reason is required
    resp = f.post_form(coord, url + "/presence/marquer", {"user_id": str(users["admin"].id), "reason": ""},
                       form_url=url)
    assert resp.status_code == 400 and "motif" in resp.get_data(as_text=True)
    resp = f.post_form(coord, url + "/presence/marquer", {"user_id": str(users["admin"].id),
                                                          "reason": "a signé la feuille papier"}, form_url=url)
    assert resp.status_code == 302
    db.session.expire_all()
    admin_inv = db.session.execute(sa.select(MeetingInvitee).where(MeetingInvitee.user_id == users["admin"].id)
                                   ).scalar_one()
    assert admin_inv.present and admin_inv.marked_by_id == users["coordinator"].id
    # a member cannot mark others
    resp = f.post_form(member, url + "/presence/marquer", {"user_id": str(users["admin"].id), "reason": "x"},
                       form_url=url)
    assert resp.status_code == 403
    # attendance sheet PDF: names, professions, signature column
    resp = coord.get(url + "/emargement.pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    text = _pdf_text(resp.data)
    assert "Feuille d'émargement" in text and "Signature" in text
    assert users["member"].last_name.upper() in text and "Pharmacien" in text


def test_minutes_tasks_validation_versions_and_once_only_ledger(app, f, client):
    team, _other, users = f.team_with_roles()
    p1 = f.patient(team, users["coordinator"], birth_name="Lefèvre", first_names="Jeanne")
    p2 = f.patient(team, users["coordinator"], birth_name="Garnier", first_names="Paul")
    meeting = schedule(team, users["coordinator"], [users["member"], users["admin"]])
    url = f"/reunions/{team.id}/{meeting.id}"
    coord = f.login(client, users["coordinator"])
    # add cases through the form (patient from the registry)
    resp = f.post_form(coord, url + "/dossiers/ajouter", {"patient_id": str(p1.id), "question": "Chutes ?",
                                                           "presenter_id": str(users["member"].id)})
    assert resp.status_code == 302
    resp = f.post_form(coord, url + "/dossiers/ajouter", {"patient_id": str(p2.id), "question": "Douleurs",
                                                           "presenter_id": str(users["coordinator"].id)})
    assert resp.status_code == 302
    # unknown patient / another team's patient: 400, nothing saved
    other_team_patient_id = "00000000-0000-0000-0000-000000000000"
    resp = f.post_form(coord, url + "/dossiers/ajouter", {"patient_id": other_team_patient_id, "question": "x",
                                                           "presenter_id": str(users["member"].id)})
    assert resp.status_code == 400 and "Patient inconnu" in resp.get_data(as_text=True)
    assert db.session.execute(sa.select(sa.func.count()).select_from(MeetingCase)).scalar() == 2
    page = coord.get(url)
    html = page.get_data(as_text=True)
    assert "LEFÈVRE Jeanne" in html  # identity inside the app
    title = html.split("<title>")[1].split("</title>")[0]
    assert "LEF" not in title.upper() or "LEFÈVRE" not in title
    _started(meeting)
    m_user = users["member"]
    assert f.post_form(f.login(app.test_client(), m_user), url + "/presence", {}, form_url=url).status_code == 302
    cases = db.session.execute(sa.select(MeetingCase).order_by(MeetingCase.position)).scalars().all()
    c1 = cases[0]
    prefix = f"c{c1.id.hex[:8]}"
    minutes_url = url + "/compte-rendu"
    resp = f.post_form(coord, f"{minutes_url}/dossiers/{c1.id}", {f"{prefix}-summary": "Trois chutes en un mois",
                       f"{prefix}-decision": "Bilan kiné et adaptation du domicile"}, form_url=minutes_url)
    assert resp.status_code == 302
    db.session.expire_all()
    c1 = db.session.get(MeetingCase, c1.id)
    assert b"chutes" not in (c1.summary_enc or b"") and svc.case_text(c1, "decision").startswith("Bilan")
    # follow-up task: neutral title, patient text encrypted in detail
    tp = f"t{c1.id.hex[:8]}"
    resp = f.post_form(coord, f"{minutes_url}/dossiers/{c1.id}/tache", {f"{tp}-detail": "Prescrire bilan kiné",
                       f"{tp}-owner_id": str(users["admin"].id), f"{tp}-due_on": "2099-01-15"}, form_url=minutes_url)
    assert resp.status_code == 302
    task = db.session.execute(sa.select(Task)).scalar_one()
    assert task.patient_id == p1.id and "kiné" not in task.title and task.detail_enc is not None
    assert task.owner_id == users["admin"].id and task.source_id == c1.id
    # bad task: unknown owner
    resp = f.post_form(coord, f"{minutes_url}/dossiers/{c1.id}/tache", {f"{tp}-detail": "x",
                       f"{tp}-owner_id": str(users["outsider"].id)}, form_url=minutes_url)
    assert resp.status_code == 400 and "Membre inconnu" in resp.get_data(as_text=True)
    page = coord.get(minutes_url).get_data(as_text=True)
    assert "Prescrire bilan kiné" in page and "Trois chutes en un mois" in page
    assert "LEFÈVRE Jeanne" in page
    for html in (page, coord.get(url + "/dossiers/ajouter").get_data(as_text=True)):
        title = html.split("<title>")[1].split("</title>")[0]
        assert "LEF" not in title.upper() and "JEANNE" not in title.upper() and "GARNIER" not in title.upper()
    # validation: present professionals (coordinator is organiser but not checked in -> not counted)
    resp = f.post_form(coord, minutes_url + "/valider", {}, form_url=minutes_url)
    assert resp.status_code == 302
    entries = db.session.execute(sa.select(LedgerEntry)).scalars().all()
    assert [(e.user_id, e.action_type, e.patient_count, e.source_type) for e in entries] == [
        (users["member"].id, "RCP_SANS", 2, "meeting")]
    # validate again, after marking the coordinator present: member still once, coordinator added
    svc.mark_present(db.session.get(Meeting, meeting.id), users["coordinator"].id, reason="animatrice",
                     actor=users["coordinator"])
    db.session.commit()
    for _ in range(2):
        assert f.post_form(coord, minutes_url + "/valider", {}, form_url=minutes_url).status_code == 302
    entries = db.session.execute(sa.select(LedgerEntry)).scalars().all()
    assert sorted(str(e.user_id) for e in entries) == sorted([str(users["member"].id),
                                                              str(users["coordinator"].id)])
    # an edit after validation creates a new audited version
    resp = f.post_form(coord, f"{minutes_url}/dossiers/{c1.id}", {f"{prefix}-summary": "Trois chutes (corrigé)",
                       f"{prefix}-decision": "Bilan kiné"}, form_url=minutes_url)
    assert resp.status_code == 302
    resp = f.post_form(coord, f"{minutes_url}/general", {"general": "Prochaine RCP en janvier."},
                       form_url=minutes_url)
    assert resp.status_code == 302
    db.session.expire_all()
    meeting = db.session.get(Meeting, meeting.id)
    assert meeting.minutes_version == 3
    revs = db.session.execute(sa.select(MinutesRevision).order_by(MinutesRevision.version)).scalars().all()
    assert [r.version for r in revs] == [1, 2] and revs[0].case_id == c1.id
    assert db.session.execute(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "meeting.minutes.revise")).scalar() == 2
    # minutes PDF in French
    resp = coord.get(url + "/compte-rendu.pdf")
    assert resp.status_code == 200
    text = _pdf_text(resp.data)
    assert "Compte rendu" in text and "Trois chutes (corrigé)" in text and "Prochaine RCP" in text
    # the member (not manager, not presenter of case 2) cannot edit case 2
    c2 = cases[1]
    member = f.login(app.test_client(), users["member"])
    resp = f.post_form(member, f"{minutes_url}/dossiers/{c2.id}", {f"c{c2.id.hex[:8]}-summary": "x"},
                       form_url=minutes_url)
    assert resp.status_code == 403
    # patient timeline and export hooks
    from esp_coord.core import signals
    with app.test_request_context():
        items = [i for i in signals.collect(signals.patient_timeline, p1, viewer=users["member"])
            if i.kind == "meeting"]
        assert len(items) == 1 and "Lef" not in items[0].title
        assert [i for i in signals.collect(signals.patient_timeline, p1, viewer=users["outsider"])
            if i.kind == "meeting"] == []
        export = signals.collect(signals.patient_export, p1)
        section = next(sec for sec in export if isinstance(sec, dict)
                       and sec.get("title") == "Réunions de concertation (RCP)")
        assert section["items"][0]["decision"] == "Bilan kiné"


def test_send_reminders_is_idempotent(app, f, client):
    from esp_coord.auth.models import OutboxMessage
    from esp_coord.tasks.services import create_task

    team, _other, users = f.team_with_roles()
    schedule(team, users["coordinator"], [users["member"]], start=utc_now() + timedelta(hours=20),
             end=utc_now() + timedelta(hours=21))
    from esp_coord.core.time import today_paris
    create_task(team_id=team.id, owner_id=users["admin"].id, title="Suite de réunion",
                due_on=today_paris() - timedelta(days=2))
    create_task(team_id=team.id, owner_id=users["admin"].id, title="Plus tard",
                due_on=today_paris() + timedelta(days=30))
    db.session.commit()
    db.session.execute(sa.delete(OutboxMessage))
    db.session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["send-reminders"])
    assert result.exit_code == 0, result.output
    msgs = db.session.execute(sa.select(OutboxMessage)).scalars().all()
    assert sorted(m.recipients for m in msgs) == sorted([users["member"].email, users["coordinator"].email,
                                                         users["admin"].email])
    admin_mail = next(m for m in msgs if m.recipients == users["admin"].email).raw.decode("utf-8", "replace")
    assert "Suite de r" in admin_mail and "Plus tard" not in admin_mail
    result = runner.invoke(args=["send-reminders"])
    assert result.exit_code == 0
    assert db.session.execute(sa.select(sa.func.count()).select_from(OutboxMessage)).scalar() == 3
    assert "0 e-mail" in result.output
