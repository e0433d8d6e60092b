from datetime import timedelta

import sqlalchemy as sa

from esp_coord.core.extensions import db
from esp_coord.core.time import PARIS, utc_now
from esp_coord.meetings.models import Meeting, MeetingInvitee, PollAnswer, PollSlot
from tests.meetings.helpers import body_text, calendars, future, schedule


def _slot_fields(slots):
    data = {}
    for i, (start, end) in enumerate(slots):
        s, e = start.astimezone(PARIS), end.astimezone(PARIS)
        data[f"slot-{i}-day"] = s.date().isoformat()
        data[f"slot-{i}-start"] = s.strftime("%H:%M")
        data[f"slot-{i}-end"] = e.strftime("%H:%M")
    return data


def _poll_data(users, slots, **extra):
    data = {"kind": "rcp_sans", "place_kind": "practice", "place": "Cabinet médical, Clisson",
            "invitees": [str(users["member"].id), str(users["admin"].id)], **_slot_fields(slots)}
    data.update(extra)
    return data


def test_poll_flow_from_slots_to_invitations(app, f, client, smtp_server):
    team, _other, users = f.team_with_roles()
    patient = f.patient(team, users["coordinator"], birth_name="Lefèvre", first_names="Jeanne")
    coord = f.login(app.test_client(), users["coordinator"])
    s1, s2 = future(days=5, hour=12), future(days=6, hour=18)
    url = f"/reunions/{team.id}/sondage"
    resp = f.post_form(coord, url, _poll_data(users, [s1, s2]))
    assert resp.status_code == 302, resp.get_data(as_text=True)
    meeting = db.session.execute(sa.select(Meeting)).scalar_one()
    assert meeting.status == "poll" and len(meeting.slots) == 2 and len(meeting.invitees) == 3
    # a case on the agenda: its patient must never reach e-mails
    from esp_coord.meetings.services import add_case
    add_case(meeting, patient=patient, question="Chutes répétées ?", presenter_id=users["coordinator"].id,
             actor=users["coordinator"])
    db.session.commit()
    detail = f"/reunions/{team.id}/{meeting.id}"
    slots = sorted(meeting.slots, key=lambda s: s.starts_at)

    member = f.login(app.test_client(), users["member"])
    page = member.get(detail)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Sondage de dates" in html and "Si besoin" in html
    title = html.split("<title>")[1].split("</title>")[0]
    assert "Lef" not in title and "LEF" not in title
    resp = f.post_form(member, detail + "/sondage/repondre", {f"answer-{slots[0].id}": "maybe",
                       f"answer-{slots[1].id}": "yes", f"comment-{slots[1].id}": "après 18 h"}, form_url=detail)
    assert resp.status_code == 302
    # answering again updates, never duplicates
    resp = f.post_form(member, detail + "/sondage/repondre", {f"answer-{slots[0].id}": "no",
                       f"answer-{slots[1].id}": "yes"}, form_url=detail)
    assert resp.status_code == 302
    assert db.session.execute(sa.select(sa.func.count()).select_from(PollAnswer)).scalar() == 2
    # a duplicate answer for one slot in one submission is refused, nothing changes
    resp = f.post_form(member, detail + "/sondage/repondre", {f"answer-{slots[0].id}": ["yes", "no"],
                       f"answer-{slots[1].id}": "no"}, form_url=detail)
    assert resp.status_code == 400
    assert "Une seule réponse par créneau" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert {a.answer for a in db.session.execute(sa.select(PollAnswer)).scalars()} == {"no", "yes"}

    # results: best slot is the second one; one-click reminder reaches the admin only
    page = coord.get(detail).get_data(as_text=True)
    assert "meilleur créneau" in page
    resp = f.post_form(coord, detail + "/sondage/relancer", {}, form_url=detail)
    assert resp.status_code == 302
    assert [m["To"] for m in smtp_server.messages] == [users["admin"].email]
    assert "sondage" in str(smtp_server.messages[0]["Subject"]).lower()
    smtp_server.clear()

    # close by picking the best slot: scheduled + REQUEST invitations
    resp = f.post_form(coord, detail + "/sondage/cloturer", {"slot_id": str(slots[1].id)}, form_url=detail)
    assert resp.status_code == 302
    db.session.expire_all()
    meeting = db.session.get(Meeting, meeting.id)
    assert meeting.status == "scheduled" and meeting.starts_at == slots[1].starts_at
    msgs = smtp_server.messages
    assert sorted(m["To"] for m in msgs) == sorted(u.email for u in (users["member"], users["admin"],
                                                                     users["coordinator"]))
    for msg in msgs:
        text = body_text(msg)
        assert "Lef" not in text and "LEF" not in text and "Jeanne" not in text and "Chutes" not in text
        assert "1 dossier" in text
        assert "Invitation" in str(msg["Subject"])
        parts = calendars(msg)
        inline = [p for p in parts if p[0] == "text/calendar"]
        assert inline and inline[0][1] == "REQUEST"
        cal = inline[0][2]
        assert str(cal["METHOD"]) == "REQUEST"
        ev = cal.events[0]
        assert str(ev["UID"]) == meeting.uid and int(ev["SEQUENCE"]) == 0
        assert "mailto:" in str(ev["ORGANIZER"]).lower()
        attendees = ev.get("ATTENDEE")
        assert len(attendees) == 3
        assert all(a.params["RSVP"] == "TRUE" for a in attendees)
        assert ev.start.astimezone(PARIS).hour == 18
        assert msg.get_body(preferencelist=("html",)) is not None


def test_change_resends_with_higher_sequence_and_cancel(app, f, client, smtp_server):
    team, _other, users = f.team_with_roles()
    meeting = schedule(team, users["coordinator"], [users["member"]])
    assert len(smtp_server.messages) == 2
    smtp_server.clear()
    coord = f.login(app.test_client(), users["coordinator"])
    start, end = future(days=9, hour=14)
    edit = f"/reunions/{team.id}/{meeting.id}/modifier"
    data = {"kind": "rcp_sans", "day": start.date().isoformat(), "start": start.strftime("%H:%M"),
            "end": end.strftime("%H:%M"), "place_kind": "visio", "visio_url": "https://visio.example.org/rcp",
            "invitees": [str(users["member"].id), str(users["coordinator"].id)]}
    resp = f.post_form(coord, edit, data)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    msgs = smtp_server.messages
    assert len(msgs) == 2
    for msg in msgs:
        assert "Modification" in str(msg["Subject"])
        method, cal = calendars(msg)[0][1:]
        assert method == "REQUEST"
        ev = cal.events[0]
        assert int(ev["SEQUENCE"]) == 1 and str(ev["UID"]) == meeting.uid
        assert "visio.example.org" in str(ev["LOCATION"])
        assert ev.start.astimezone(PARIS).hour == 14
    smtp_server.clear()
    resp = f.post_form(coord, f"/reunions/{team.id}/{meeting.id}/annuler", {},
                       form_url=f"/reunions/{team.id}/{meeting.id}")
    assert resp.status_code == 302
    msgs = smtp_server.messages
    assert len(msgs) == 2
    for msg in msgs:
        assert "Annulation" in str(msg["Subject"])
        parts = calendars(msg)
        assert parts[0][1] == "CANCEL"
        cal = parts[0][2]
        assert str(cal["METHOD"]) == "CANCEL"
        ev = cal.events[0]
        assert str(ev["STATUS"]) == "CANCELLED" and int(ev["SEQUENCE"]) == 2


def test_accept_and_decline_in_the_app(app, f, client):
    team, _other, users = f.team_with_roles()
    meeting = schedule(team, users["coordinator"], [users["member"]])
    member = f.login(client, users["member"])
    url = f"/reunions/{team.id}/{meeting.id}"
    assert f.post_form(member, url + "/reponse", {"response": "declined"}, form_url=url).status_code == 302
    inv = db.session.execute(sa.select(MeetingInvitee).where(MeetingInvitee.user_id == users["member"].id)).scalar_one()
    assert inv.response == "declined"
    assert f.post_form(member, url + "/reponse", {"response": "accepted"}, form_url=url).status_code == 302
    db.session.expire_all()
    assert db.session.get(MeetingInvitee, inv.id).response == "accepted"
    assert f.post_form(member, url + "/reponse", {"response": "maybe"}, form_url=url).status_code == 400


def _count(model):
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar()


def test_bad_inputs_give_french_messages_and_save_nothing(app, f, client):
    team, other, users = f.team_with_roles()
    coord = f.login(client, users["coordinator"])
    url = f"/reunions/{team.id}/sondage"
    past = (utc_now() - timedelta(days=2), utc_now() - timedelta(days=2) + timedelta(hours=1))
    start, end = future()
    cases = [
        (_poll_data(users, []), "Proposez au moins un créneau"),
        (_poll_data(users, [future(days=4), past]), "passé"),
        (_poll_data(users, [(start, start - timedelta(hours=1))]), "La fin doit être après le début"),
        (_poll_data(users, [future()], invitees=[str(users["outsider"].id)]), "Membre inconnu"),
        (_poll_data(users, [future()], invitees=["not-a-uuid"]), "Membre inconnu"),
        (_poll_data(users, [future()], **{"slot-0-start": "25:99"}), "Date ou heure invalide"),
        (_poll_data(users, [future()], place_kind="visio", visio_url="javascript:alert(1)"), "https://"),
    ]
    for data, message in cases:
        resp = f.post_form(coord, url, data)
        assert resp.status_code == 400, message
        assert message in resp.get_data(as_text=True), message
    # direct scheduling: end before start
    resp = f.post_form(coord, f"/reunions/{team.id}/nouvelle", {
        "kind": "rcp_avec", "day": start.date().isoformat(), "start": "14:00", "end": "13:00",
        "place_kind": "home", "invitees": [str(users["member"].id)]})
    assert resp.status_code == 400 and "La fin doit être après le début" in resp.get_data(as_text=True)
    assert _count(Meeting) == 0 and _count(PollSlot) == 0 and _count(MeetingInvitee) == 0
    # roles: a member cannot open a poll, another team's member gets 404
    member = f.login(app.test_client(), users["member"])
    assert member.get(url).status_code == 403
    outsider = f.login(app.test_client(), users["outsider"])
    assert outsider.get(url).status_code == 404


def test_index_lists_polls_to_answer_and_upcoming(app, f, client):
    team, _other, users = f.team_with_roles()
    schedule(team, users["coordinator"], [users["member"]])
    from esp_coord.meetings.services import create_meeting
    create_meeting(team, kind="team", place_kind="visio", visio_url="https://visio.example.org/x",
                   invitee_ids=[users["member"].id], actor=users["coordinator"], slots=[future(days=8)])
    db.session.commit()
    member = f.login(client, users["member"])
    html = member.get("/reunions/").get_data(as_text=True)
    assert "Sondages en attente de votre réponse" in html
    assert "Réunion d&#39;équipe" in html or "Réunion d'équipe" in html
    # dashboard panel hook
    from esp_coord.core import signals
    with app.test_request_context():
        panels = signals.collect(signals.dashboard_panels, users["member"])
    assert any(p["items"] for p in panels)
