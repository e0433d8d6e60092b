import re
from datetime import timedelta

import sqlalchemy as sa
from icalendar import Calendar

from esp_coord.calendar_feeds import services as feeds
from esp_coord.calendar_feeds.models import FeedToken
from esp_coord.core.extensions import db
from esp_coord.core.time import PARIS, utc_now
from esp_coord.meetings import services as svc
from tests.meetings.helpers import at_paris, future, schedule


def _token(user, team_id=None):
    token = feeds.regenerate(user, team_id)
    db.session.commit()
    return token


def test_settings_page_creates_https_and_webcal_links_once(app, f, client):
    team, _other, users = f.team_with_roles()
    f.login(client, users["member"])
    page = client.get("/agenda/")
    assert page.status_code == 200 and "Google" in page.get_data(as_text=True)
    resp = f.post_form(client, "/agenda/jeton", {}, form_url="/agenda/")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    https = re.search(r'value="(http[^"]+/agenda/u/[^"]+\.ics)"', html).group(1)
    assert 'href="webcal://' in html
    token = https.rsplit("/", 1)[1][:-4]
    assert len(token) >= 43  # >= 256 bits
    row = db.session.execute(sa.select(FeedToken)).scalar_one()
    assert token not in row.token_hash and len(row.token_hash) == 64
    assert client.get(f"/agenda/u/{token}.ics").status_code == 200
    # the page no longer shows the secret
    assert token not in client.get("/agenda/").get_data(as_text=True)
    # regenerate -> old link 404; revoke -> 404
    resp = f.post_form(client, "/agenda/jeton", {}, form_url="/agenda/")
    assert client.get(f"/agenda/u/{token}.ics").status_code == 404
    new = re.search(r'/agenda/u/([^"]+)\.ics', resp.get_data(as_text=True)).group(1)
    assert client.get(f"/agenda/u/{new}.ics").status_code == 200
    f.post_form(client, "/agenda/jeton/revoquer", {}, form_url="/agenda/")
    assert client.get(f"/agenda/u/{new}.ics").status_code == 404
    # team feed link for a team the user belongs to; another team -> 404
    resp = f.post_form(client, f"/agenda/equipes/{team.id}/jeton", {}, form_url="/agenda/")
    assert "/agenda/e/" in resp.get_data(as_text=True)
    _t, other, _u = team, _other, users
    assert f.post_form(client, f"/agenda/equipes/{other.id}/jeton", {}, form_url="/agenda/").status_code == 404


def test_feed_content_http_behaviour_and_no_patient_data(app, f):
    team, other, users = f.team_with_roles()
    patient = f.patient(team, users["coordinator"], birth_name="Lefèvre", first_names="Jeanne")
    m1 = schedule(team, users["coordinator"], [users["member"]])
    svc.add_case(m1, patient=patient, question="Chutes répétées", presenter_id=users["member"].id,
                 actor=users["coordinator"])
    schedule(team, users["coordinator"], [users["member"]], kind="team", place_kind="visio", place=None,
             visio_url="https://visio.example.org/equipe", start=future(days=10)[0], end=future(days=10)[1])
    schedule(other, users["outsider"], [users["outsider"]])  # another team: not in this user's feed
    db.session.commit()
    token = _token(users["member"])
    feeds.clear_cache()
    client = app.test_client()  # no session: the token alone authenticates
    r1 = client.get(f"/agenda/u/{token}.ics")
    assert r1.status_code == 200
    assert r1.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert "Content-Disposition" not in r1.headers
    assert r1.headers["Cache-Control"] == "private, max-age=900"
    assert r1.headers["Referrer-Policy"] == "no-referrer"
    body = r1.data
    text = body.decode()
    assert "Lef" not in text and "LEF" not in text and "Jeanne" not in text and "Chutes" not in text
    assert "1 dossier" in text
    cal = Calendar.from_ical(body)
    assert str(cal["METHOD"]) == "PUBLISH" and str(cal["VERSION"]) == "2.0" and "PRODID" in cal
    assert "UID" not in cal  # a VCALENDAR UID breaks vdirsyncer
    assert "NAME:" in text and "X-WR-CALNAME:" in text
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H" in text and "X-PUBLISHED-TTL:PT1H" in text
    assert "TZID:Europe/Paris" in text and "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10" in text
    assert not cal.get_missing_tzids()
    assert len(cal.events) == 2
    for ev in cal.events:
        assert "UID" in ev and "DTSTAMP" in ev and "LAST-MODIFIED" in ev and "SEQUENCE" in ev
        assert "ATTENDEE" not in ev and "ORGANIZER" not in ev
        assert "DTSTART;TZID=Europe/Paris" in ev.to_ical().decode()
    assert "\r\n" in text
    # same data -> same bytes, ETag, Last-Modified, 304
    feeds.clear_cache()
    r2 = client.get(f"/agenda/u/{token}.ics")
    assert r2.data == body and r2.headers["ETag"] == r1.headers["ETag"]
    assert client.get(f"/agenda/u/{token}.ics", headers={"If-None-Match": r1.headers["ETag"]}).status_code == 304
    r304 = client.get(f"/agenda/u/{token}.ics", headers={"If-Modified-Since": r1.headers["Last-Modified"]})
    assert r304.status_code == 304
    assert client.get(f"/agenda/u/{token}.ics", headers={"If-Modified-Since": "garbage"}).status_code == 200
    # If-None-Match wins over If-Modified-Since
    assert client.get(f"/agenda/u/{token}.ics", headers={"If-None-Match": '"other"',
                      "If-Modified-Since": r1.headers["Last-Modified"]}).status_code == 200
    # a change: new SEQUENCE, new ETag, Last-Modified never goes backwards
    m1 = db.session.get(type(m1), m1.id)
    start, end = future(days=4, hour=9)
    svc.update_meeting(m1, actor=users["coordinator"], starts_at=start, ends_at=end, place_kind="practice",
                       place="Pharmacie de Gétigné", invitee_ids=[i.user_id for i in m1.invitees])
    db.session.commit()
    r3 = client.get(f"/agenda/u/{token}.ics")
    assert r3.headers["ETag"] != r1.headers["ETag"]
    assert r3.last_modified >= r1.last_modified
    ev = next(e for e in Calendar.from_ical(r3.data).events if str(e["UID"]) == m1.uid)
    assert int(ev["SEQUENCE"]) == 2 and "Gétigné" in str(ev["LOCATION"])
    assert ev.start.astimezone(PARIS).hour == 9
    assert client.get(f"/agenda/u/{token}.ics", headers={"If-None-Match": r1.headers["ETag"]}).status_code == 200
    # cancellation: kept with STATUS:CANCELLED and "ANNULÉ – "
    svc.cancel_meeting(m1, actor=users["coordinator"])
    db.session.commit()
    r4 = client.get(f"/agenda/u/{token}.ics")
    ev = next(e for e in Calendar.from_ical(r4.data).events if str(e["UID"]) == m1.uid)
    assert str(ev["STATUS"]) == "CANCELLED" and str(ev["SUMMARY"]).startswith("ANNULÉ – ")
    # 30 days after the cancellation it disappears, and Last-Modified still moves forward
    m1.cancelled_at = utc_now() - timedelta(days=31)
    db.session.commit()
    feeds.clear_cache()  # in real life the day changes, and the day is part of the cache key
    r5 = client.get(f"/agenda/u/{token}.ics")
    assert m1.uid not in r5.get_data(as_text=True)
    assert r5.last_modified >= r4.last_modified
    # invalid token -> 404
    assert client.get("/agenda/u/nope.ics").status_code == 404
    assert client.get(f"/agenda/e/{token}.ics").status_code == 404  # a user token is not a team token
    # disabled user -> 404
    users["member"].active = False
    db.session.commit()
    assert client.get(f"/agenda/u/{token}.ics").status_code == 404


def test_team_feed_and_leaving_the_team(app, f):
    team, _other, users = f.team_with_roles()
    schedule(team, users["coordinator"], [users["member"]])
    token = _token(users["member"], team.id)
    client = app.test_client()
    resp = client.get(f"/agenda/e/{token}.ics")
    assert resp.status_code == 200 and team.name in resp.get_data(as_text=True)
    from esp_coord.teams.models import Membership
    membership = db.session.execute(sa.select(Membership).where(Membership.user_id == users["member"].id)
                                    ).scalar_one()
    membership.ended_on = utc_now().date()
    db.session.commit()
    assert client.get(f"/agenda/e/{token}.ics").status_code == 404


def test_feed_bytes_are_deterministic_and_dst_times(app, f):
    team, _other, users = f.team_with_roles()
    # across the end-of-October DST change (2026-10-25 03:00 CEST -> 02:00 CET)
    from esp_coord.meetings.models import Meeting
    m = schedule(team, users["coordinator"], [users["member"]])
    m.starts_at, m.ends_at = at_paris(2026, 10, 24, 22), at_paris(2026, 10, 25, 4)
    m.feed_changed_at = at_paris(2026, 10, 1, 8)
    db.session.commit()
    from esp_coord.meetings.ics import feed_bytes
    with app.test_request_context():
        a = feed_bytes("x", [(db.session.get(Meeting, m.id), 0)])
        b = feed_bytes("x", [(db.session.get(Meeting, m.id), 0)])
    assert a == b
    ev = Calendar.from_ical(a).events[0]
    assert ev.end - ev.start == timedelta(hours=6)  # wall clock
    assert ev["DTEND"].dt.astimezone(PARIS).utcoffset() == timedelta(hours=1)
    assert ev["DTSTART"].dt.astimezone(PARIS).utcoffset() == timedelta(hours=2)
    assert "DTSTART;TZID=Europe/Paris:20261024T220000" in a.decode()


def test_feed_is_rate_limited(app, f):
    team, _other, users = f.team_with_roles()
    token = _token(users["member"])
    client = app.test_client()
    old = app.config["RATELIMIT_FEED"]
    app.config["RATELIMIT_FEED"] = "3 per minute"
    try:
        codes = [client.get(f"/agenda/u/{token}.ics", environ_base={"REMOTE_ADDR": "10.9.8.7"}).status_code
                 for _ in range(5)]
    finally:
        app.config["RATELIMIT_FEED"] = old
    assert codes[:3] == [200, 200, 200] and codes[-1] == 429


def test_cached_feed_costs_one_query(app, f):
    """The serialised feed is cached per change version: a repeat request only resolves the token."""
    team, _other, users = f.team_with_roles()
    for days in range(3, 8):
        schedule(team, users["coordinator"], [users["member"]], start=future(days=days)[0], end=future(days=days)[1])
    token = _token(users["member"])
    client = app.test_client()
    assert client.get(f"/agenda/u/{token}.ics").status_code == 200
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        resp = client.get(f"/agenda/u/{token}.ics")
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert resp.status_code == 200 and resp.data.count(b"BEGIN:VEVENT") == 5
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1, statements


DETERMINISM_SCRIPT = r"""
import sys, uuid
from datetime import datetime, timezone
from types import SimpleNamespace
from flask import Flask
from esp_coord.meetings.ics import feed_bytes
app = Flask("x"); app.config["BASE_URL"] = "https://esp.example.org"
team = SimpleNamespace(name="ESP du Val")
rows = []
for i, kind in enumerate(["rcp_sans", "team", "rcp_avec", "training"]):
    m = SimpleNamespace(id=uuid.UUID(int=i + 1), team_id=uuid.UUID(int=99), team=team, kind=kind,
                        is_rcp=kind.startswith("rcp"), status="cancelled" if i == 3 else "scheduled",
                        uid=f"rcp-{i}@esp", sequence=i, place_kind=["practice", "visio", "home", "practice"][i],
                        place="Cabinet", visio_url="https://visio.example.org/a", organiser=None,
                        starts_at=datetime(2026, 10, 24 + i, 20, tzinfo=timezone.utc),
                        ends_at=datetime(2026, 10, 24 + i, 22, tzinfo=timezone.utc),
                        created_at=datetime(2026, 9, 1, tzinfo=timezone.utc),
                        feed_changed_at=datetime(2026, 10, 1, 8, 0, 0, 123456, tzinfo=timezone.utc))
    rows.append((m, i))
with app.app_context():
    sys.stdout.buffer.write(feed_bytes("Mes réunions", rows))
"""


def test_same_data_same_bytes_across_processes_and_hash_seeds(tmp_path):
    import os
    import subprocess
    import sys

    outs = set()
    for seed in ("1", "2", "12345"):
        proc = subprocess.run([sys.executable, "-c", DETERMINISM_SCRIPT], capture_output=True, timeout=60,
                              env={**os.environ, "PYTHONHASHSEED": seed})
        assert proc.returncode == 0, proc.stderr.decode()
        outs.add(proc.stdout)
    assert len(outs) == 1
    body = outs.pop()
    cal = Calendar.from_ical(body)
    assert len(cal.events) == 4 and not cal.get_missing_tzids()
    assert b"DTSTAMP:20261001T080000Z" in body  # stored time, never "now"


def test_single_event_download_is_an_attachment(app, f, client):
    team, _other, users = f.team_with_roles()
    meeting = schedule(team, users["coordinator"], [users["member"]])
    f.login(client, users["member"])
    resp = client.get(f"/reunions/{team.id}/{meeting.id}/invitation.ics")
    assert resp.status_code == 200 and resp.headers["Content-Disposition"].startswith("attachment")
    assert Calendar.from_ical(resp.data).events[0]["UID"] == meeting.uid
    outsider = f.login(app.test_client(), users["outsider"])
    assert outsider.get(f"/reunions/{team.id}/{meeting.id}/invitation.ics").status_code == 404
