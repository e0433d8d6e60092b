"""Opposition hides notes from every other member; another team's member gets 404 on every patient URL."""

import re

import pytest
import sqlalchemy as sa

from esp_coord.core.extensions import db
from esp_coord.patients import services
from esp_coord.patients.access import OPPOSITION_NOTICE
from esp_coord.patients.models import PatientConsent

SECRET = "Contenu confidentiel du médecin 7f3a"


def _patient_urls(app, team, patient, note, consent):
    values = {"team_id": team.id, "patient_id": patient.id, "note_id": note.id, "consent_id": consent.id,
              "fmt": "json"}
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("patients.") or "patient_id" not in rule.arguments:
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = re.sub(rf"<(?:[a-z]+:)?{arg}>", str(values[arg]), path)
        urls.append((path, sorted(rule.methods - {"HEAD", "OPTIONS"})))
    return urls


@pytest.fixture
def world(app, f):
    team, other, users = f.team_with_roles()
    extra = f.user("dieteticien")
    f.member(team, extra, "member")
    users["extra"] = extra
    p = f.patient(team, users["admin"])
    note = services.add_note(p, category="clinical", body=SECRET, actor=users["admin"])
    consent = services.record_consent(p, scope="pps", given_on=p.created_at.date(), detail=None,
                                      actor=users["admin"], attachment=b"%PDF-1.4 formulaire")
    db.session.commit()
    return team, other, users, p, note, consent


def test_other_team_member_gets_404_on_every_patient_url(app, client, f, world):
    team, other, users, p, note, consent = world
    urls = _patient_urls(app, team, p, note, consent)
    assert len(urls) >= 14
    f.login(client, users["outsider"])
    csrf = f.csrf(client, f"/patients/{other.id}/nouveau")
    for url, methods in urls + [(f"/patients/{team.id}/", ["GET"]), (f"/patients/{team.id}/nouveau", ["GET", "POST"])]:
        for method in methods:
            resp = client.open(url, method=method, data={"csrf_token": csrf} if method == "POST" else None)
            assert resp.status_code == 404, (method, url, resp.status_code)
            assert SECRET not in resp.get_data(as_text=True)
    # also with the fmt=pdf variant and the association (regional) viewer
    assert client.get(f"/patients/{team.id}/{p.id}/export.pdf").status_code == 404
    f.login(client, users["association"])
    assert client.get(f"/patients/{team.id}/{p.id}").status_code == 404


def test_opposition_hides_notes_from_every_other_member(app, client, f, world):
    team, _other, users, p, note, consent = world
    f.login(client, users["member"])
    resp = f.post_form(client, f"/patients/{team.id}/{p.id}/opposition", {"on": "2026-01-10"})
    assert resp.status_code == 302
    later = services.add_note(p, category="social", body=SECRET + " bis", actor=users["admin"])
    db.session.commit()
    base = f"/patients/{team.id}/{p.id}"
    pages = [base, f"{base}/notes/{note.id}/versions", f"{base}/notes/{later.id}/versions",
             f"{base}/information", f"{base}/consentements/nouveau", f"{base}/opposition", f"{base}/modifier",
             f"{base}/notes/nouvelle", f"/patients/{team.id}/"]
    for key in ("coordinator", "member", "extra"):
        f.login(client, users[key])
        for url in pages:
            resp = client.get(url)
            assert resp.status_code == 200, (key, url)
            html = resp.get_data(as_text=True)
            assert SECRET not in html, (key, url)
            if url != f"/patients/{team.id}/":
                assert OPPOSITION_NOTICE.replace("'", "&#39;") in html, (key, url)
        for url in (f"{base}/notes/{note.id}/modifier", f"{base}/notes/nouvelle?corrige={note.id}"):
            resp = client.get(url)
            assert resp.status_code in (403, 404) and SECRET not in resp.get_data(as_text=True)
    # the author still sees their notes; the patient-rights export (coordinator) contains them
    f.login(client, users["admin"])
    assert SECRET in client.get(base).get_data(as_text=True)
    f.login(client, users["coordinator"])
    assert SECRET in client.get(f"{base}/export.json").get_data(as_text=True)
    assert db.session.execute(sa.select(PatientConsent)).scalar_one()
