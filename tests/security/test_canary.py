"""Canary: unique strings put in identities and notes never appear in the database bytes (SQLite file and
WAL, pg_dump), the application log, or any response served to someone who must not see them."""

import io
import logging
import re
import secrets
from pathlib import Path

import sqlalchemy as sa

from esp_coord.core.extensions import db
from esp_coord.patients import services
from esp_coord.patients.models import Patient, PatientConsent, PatientNote
from tests.conftest import ENGINE, make_app


def _canaries():
    tag = secrets.token_hex(6).upper()
    return {
        "birth_name": f"Canarynaiss{tag}", "usage_name": f"Canaryusage{tag}", "first_names": f"Canaryprenom{tag}",
        "commune": f"Canaryville{tag}", "gp": f"Docteurcanary{tag}", "note": f"Canarynote{tag}",
        "note_v1": f"Canaryversion{tag}", "info": f"Canaryinfo{tag}", "consent": f"Canaryconsent{tag}",
        "later": f"Canarytardif{tag}",
    }


def _assert_absent(blob: bytes, canaries: dict, where: str):
    low = blob.lower()
    for name, value in canaries.items():
        for form in {value.encode(), value.lower().encode(), value.encode("utf-16-le"), value.encode().hex().encode()}:
            assert form.lower() not in low, f"canary {name} found in {where}"


def _populate(client, f, team, users, c):
    """Everything through the real forms, as a user would."""
    admin = users["admin"]
    f.login(client, admin)
    resp = f.post_form(client, f"/patients/{team.id}/nouveau", {
        "birth_name": c["birth_name"], "usage_name": c["usage_name"], "first_names": c["first_names"],
        "birth_date": "1941-06-18", "sex": "F", "commune": c["commune"], "gp_member_id": "",
        "gp_free_text": c["gp"], "follower_ids": [str(admin.id)]})
    assert resp.status_code == 302
    patient = db.session.execute(sa.select(Patient).where(Patient.team_id == team.id)).scalar_one()
    base = f"/patients/{team.id}/{patient.id}"
    assert f.post_form(client, f"{base}/notes/nouvelle", {"category": "clinical", "body": c["note_v1"]}).status_code \
        == 302
    note = db.session.execute(sa.select(PatientNote)).scalar_one()
    assert f.post_form(client, f"{base}/notes/{note.id}/modifier", {"category": "clinical",
                                                                    "body": c["note"]}).status_code == 302
    assert f.post_form(client, f"{base}/information", {"informed_on": "2026-01-05", "informed_by_id": str(admin.id),
                                                       "method": "oral", "comment": c["info"]}).status_code == 302
    resp = f.post_form(client, f"{base}/consentements/nouveau", {
        "scope": "pps", "given_on": "2026-01-05", "detail": c["consent"],
        "attachment": (io.BytesIO(b"%PDF-1.4 " + c["consent"].encode()), "f.pdf")}, content_type="multipart/form-data")
    assert resp.status_code == 302
    assert f.post_form(client, f"{base}/opposition", {"on": "2026-01-06"}).status_code == 302
    assert f.post_form(client, f"{base}/notes/nouvelle", {"category": "social", "body": c["later"]}).status_code == 302
    # the author and the team see what they may see (sanity check that the canaries are really there)
    html = client.get(base).get_data(as_text=True)
    assert c["note"] in html and c["birth_name"].upper() in html
    assert c["note_v1"] in client.get(f"{base}/notes/{note.id}/versions").get_data(as_text=True)
    f.post_form(client, f"/patients/{team.id}/", {"q": c["birth_name"][:6]})
    db.session.commit()
    return patient, note


def _urls(app, team, patient, note, consent):
    values = {"team_id": team.id, "patient_id": patient.id, "note_id": note.id, "consent_id": consent.id}
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("patients."):
            continue
        for fmt in ("pdf", "json") if "fmt" in rule.arguments else (None,):
            path = rule.rule
            for arg in rule.arguments:
                path = re.sub(rf"<(?:[a-z]+:)?{arg}>", str(fmt if arg == "fmt" else values[arg]), path)
            out.append(path)
    return out + [f"/patients/{team.id}/?q={'canary'}", f"/patients/{team.id}/{patient.id}/notes/nouvelle"
                  f"?corrige={note.id}"]


def test_canaries_never_leak(app, client, make_client, f, caplog, capfd, request):
    caplog.set_level(logging.DEBUG)
    c = _canaries()
    team, other, users = f.team_with_roles()
    extra = f.user("dieteticien")
    f.member(team, extra, "member")
    patient, note = _populate(client, f, team, users, c)
    consent = db.session.execute(sa.select(PatientConsent)).scalar_one()
    urls = _urls(app, team, patient, note, consent)

    identity_and_notes = c
    notes_only = {k: v for k, v in c.items() if k in ("note", "note_v1", "later", "info", "consent")}
    # info/consent texts are team-visible by design, but not to other teams: check them with the outsiders only
    hidden_from_members = {k: v for k, v in c.items() if k in ("note", "note_v1", "later")}
    served = 0
    for key, must_not_see in (("outsider", identity_and_notes), ("association", identity_and_notes),
                              ("member", hidden_from_members), ("coordinator", hidden_from_members),
                              ("extra", hidden_from_members)):
        other_client = make_client()
        f.login(other_client, users[key] if key != "extra" else extra)
        for url in urls:
            if key == "coordinator" and "/export." in url:
                continue  # the patient-rights export holds every note by design (for the patient)
            resp = other_client.get(url)
            assert resp.status_code < 500
            _assert_absent(resp.data + str(resp.headers).encode(), must_not_see, f"{key} GET {url}")
            served += 1
    assert served > 60
    assert notes_only

    # database bytes
    db.session.commit()
    db.session.remove()
    if ENGINE == "sqlite":
        path = Path(sa.make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database)
        files = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
        assert files and Path(f"{path}-wal") in files
        for p in files:
            _assert_absent(p.read_bytes(), c, p.name)
    else:
        cluster = request.getfixturevalue("pg_cluster")
        _assert_absent(cluster.pg_dump(app.config["SQLALCHEMY_DATABASE_URI"]), c, "pg_dump")

    # application log output (caplog and what handlers wrote to stdout/stderr)
    out, err = capfd.readouterr()
    _assert_absent((caplog.text + out + err).encode(), c, "application log")
    assert "audit patient.view" in caplog.text  # the log was really captured


def test_canaries_absent_from_pg_dump(pg_cluster, pg_url, f, caplog):
    """Same check on an explicit PostgreSQL database (runs under both test engines)."""
    import esp_coord.models  # noqa: F401
    from tests import factories

    pg_app = make_app(pg_url)
    c = _canaries()
    with pg_app.app_context():
        db.create_all()
        from esp_coord.reference import ensure_all_reference_data

        ensure_all_reference_data()
        pf = factories.Factories(pg_app)
        team = pf.team()
        user = pf.user("medecin_generaliste")
        pf.member(team, user, "admin")
        p = pf.patient(team, user, birth_name=c["birth_name"], first_names=c["first_names"],
                       usage_name=c["usage_name"], commune=c["commune"], gp_free_text=c["gp"])
        n = services.add_note(p, category="clinical", body=c["note_v1"], actor=user)
        services.edit_note(n, category="clinical", body=c["note"], actor=user)
        services.record_information(p, informed_on=p.created_at.date(), informed_by_id=user.id, method="oral",
                                    comment=c["info"], actor=user)
        services.record_consent(p, scope="pps", given_on=p.created_at.date(), detail=c["consent"], actor=user,
                                attachment=b"%PDF-1.4 " + c["later"].encode())
        db.session.commit()
        assert services.note_text(n) == c["note"]
        db.session.remove()
        dump = pg_cluster.pg_dump(pg_url)
        assert b"patient_note" in dump and len(dump) > 10_000
        _assert_absent(dump, c, "pg_dump")
        db.engine.dispose()
    _assert_absent(caplog.text.encode(), c, "log")

