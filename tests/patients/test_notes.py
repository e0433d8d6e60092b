import io
import json
from datetime import timedelta

import sqlalchemy as sa
from pypdf import PdfReader

from esp_coord.core.audit import AuditEvent
from esp_coord.core.extensions import db
from esp_coord.patients import services
from esp_coord.patients.models import PatientConsent, PatientNote, PatientNoteVersion

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n" + b"0" * 64


def _actions(patient_id):
    return [e.action for e in db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.patient_id == patient_id).order_by(AuditEvent.seq)).scalars()]


def test_note_create_edit_versions_delete(app, client, f):
    team, _other, users = f.team_with_roles()
    p = f.patient(team, users["admin"])
    f.login(client, users["member"])
    base = f"/patients/{team.id}/{p.id}"
    resp = f.post_form(client, f"{base}/notes/nouvelle", {"category": "clinical", "body": "Première version"})
    assert resp.status_code == 302
    note = db.session.execute(sa.select(PatientNote)).scalar_one()
    assert b"Premi" not in note.body_enc
    resp = f.post_form(client, f"{base}/notes/{note.id}/modifier", {"category": "social", "body": "Deuxième"})
    assert resp.status_code == 302
    db.session.expire_all()
    version = db.session.execute(sa.select(PatientNoteVersion)).scalar_one()
    assert b"Premi" not in version.body_enc
    assert services.version_text(version) == "Première version"
    html = client.get(f"{base}/notes/{note.id}/versions").get_data(as_text=True)
    assert "Première version" in html and "Deuxième" in html
    html = client.get(base).get_data(as_text=True)
    assert "Deuxième" in html and "Social" in html
    # another member may not edit it
    f.login(client, users["coordinator"])
    assert client.get(f"{base}/notes/{note.id}/modifier").status_code == 403
    resp = f.post_form(client, f"{base}/notes/{note.id}/supprimer", {}, form_url=base)
    assert db.session.get(PatientNote, note.id) is not None
    # the author deletes within 24 h
    f.login(client, users["member"])
    resp = f.post_form(client, f"{base}/notes/{note.id}/supprimer", {}, form_url=base)
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(PatientNote, note.id) is None
    assert {"note.create", "note.update", "note.read", "note.delete", "patient.view"} <= set(_actions(p.id))


def test_old_note_cannot_be_deleted_but_corrected(app, client, f):
    team, _other, users = f.team_with_roles()
    p = f.patient(team, users["admin"])
    note = services.add_note(p, category="clinical", body="Dose erronée", actor=users["member"])
    note.created_at = note.created_at - timedelta(hours=25)
    db.session.commit()
    f.login(client, users["member"])
    base = f"/patients/{team.id}/{p.id}"
    resp = f.post_form(client, f"{base}/notes/{note.id}/supprimer", {}, form_url=base)
    assert resp.status_code == 302
    assert db.session.get(PatientNote, note.id) is not None
    assert "note de correction" in client.get(base).get_data(as_text=True)
    resp = f.post_form(client, f"{base}/notes/nouvelle?corrige={note.id}",
                       {"category": "clinical", "body": "Dose correcte : 5 mg", "corrige": str(note.id)})
    assert resp.status_code == 302
    corr = db.session.execute(sa.select(PatientNote).where(PatientNote.corrects_id == note.id)).scalar_one()
    assert services.note_text(corr) == "Dose correcte : 5 mg"


def test_empty_note_is_400(app, client, f):
    team, _other, users = f.team_with_roles()
    p = f.patient(team, users["admin"])
    f.login(client, users["member"])
    resp = f.post_form(client, f"/patients/{team.id}/{p.id}/notes/nouvelle", {"category": "clinical", "body": ""})
    assert resp.status_code == 400
    assert db.session.execute(sa.select(sa.func.count()).select_from(PatientNote)).scalar() == 0


def test_information_consent_with_scanned_form(app, client, f):
    team, _other, users = f.team_with_roles()
    p = f.patient(team, users["admin"])
    f.login(client, users["member"])
    base = f"/patients/{team.id}/{p.id}"
    resp = f.post_form(client, f"{base}/information", {"informed_on": "2026-01-05",
                                                       "informed_by_id": str(users["admin"].id),
                                                       "method": "oral_leaflet", "comment": "fille présente"})
    assert resp.status_code == 302
    # a renamed executable is refused (type checked by content)
    resp = f.post_form(client, f"{base}/consentements/nouveau", {
        "scope": "pps", "given_on": "2026-01-05", "detail": "",
        "attachment": (io.BytesIO(b"MZ\x90\x00evil"), "formulaire.pdf")}, content_type="multipart/form-data")
    assert resp.status_code == 400
    app.config["UPLOAD_MAX_BYTES"] = 100
    resp = f.post_form(client, f"{base}/consentements/nouveau", {
        "scope": "pps", "given_on": "2026-01-05", "attachment": (io.BytesIO(PDF + b"x" * 200), "f.pdf")},
        content_type="multipart/form-data")
    app.config["UPLOAD_MAX_BYTES"] = 5 * 1024 * 1024
    assert resp.status_code == 400 and "volumineux" in resp.get_data(as_text=True)
    resp = f.post_form(client, f"{base}/consentements/nouveau", {
        "scope": "pps", "given_on": "2026-01-05", "detail": "PPS chutes",
        "attachment": (io.BytesIO(PNG), "scan.png")}, content_type="multipart/form-data")
    assert resp.status_code == 302
    consent = db.session.execute(sa.select(PatientConsent)).scalar_one()
    assert consent.attachment_type == "png" and PNG not in consent.attachment_enc
    dl = client.get(f"{base}/consentements/{consent.id}/formulaire")
    assert dl.status_code == 200 and dl.data == PNG and dl.mimetype == "image/png"
    resp = f.post_form(client, f"{base}/consentements/{consent.id}/retrait", {"on": "2026-02-01"})
    assert resp.status_code == 302
    html = client.get(base).get_data(as_text=True)
    assert "retiré" in html and "Informé" in html
    assert {"patient.information", "consent.create", "consent.attachment_download", "consent.withdraw"} <= set(
        _actions(p.id))


def test_access_history_and_exports(app, client, f):
    team, _other, users = f.team_with_roles()
    p = f.patient(team, users["admin"], birth_name="Morin", first_names="Bernard")
    services.add_note(p, category="clinical", body="INR 4,2 ce matin", actor=users["member"])
    db.session.commit()
    base = f"/patients/{team.id}/{p.id}"
    f.login(client, users["member"])
    client.get(base)
    assert client.get(f"{base}/acces").status_code == 403
    assert client.get(f"{base}/export.json").status_code == 403
    f.login(client, users["coordinator"])
    html = client.get(f"{base}/acces").get_data(as_text=True)
    assert users["member"].full_name in html and "Fiche patient consultée" in html
    resp = client.get(f"{base}/export.json")
    data = json.loads(resp.data)
    assert data["identity"]["birth_name"] == "Morin"
    assert data["notes"][0]["text"] == "INR 4,2 ce matin"
    assert any(a["action"] == "patient.view" for a in data["access_history"])
    resp = client.get(f"{base}/export.pdf")
    assert resp.mimetype == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(resp.data)).pages)
    assert "Morin" in text and "INR 4,2" in text and "Historique des accès" in text
    assert _actions(p.id).count("patient.export") == 2


def test_erase_then_404(app, client, f):
    team, _other, users = f.team_with_roles()
    p = f.patient(team, users["admin"])
    f.login(client, users["coordinator"])
    base = f"/patients/{team.id}/{p.id}"
    assert f.post_form(client, f"{base}/effacer", {"confirm": "non"}).status_code == 400
    resp = f.post_form(client, f"{base}/effacer", {"confirm": "EFFACER"})
    assert resp.status_code == 302
    assert client.get(base).status_code == 404
