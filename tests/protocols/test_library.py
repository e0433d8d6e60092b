"""Team protocol library: versions, writing meetings, ledger entries, documents, PDF sheet, access."""

from __future__ import annotations

import io
from datetime import date

import sqlalchemy as sa
from pypdf import PdfReader

from esp_coord.activity.models import LedgerEntry
from esp_coord.core.extensions import db
from esp_coord.protocols import services as svc
from esp_coord.protocols.models import Protocol, ProtocolDocument, ProtocolMeeting, ProtocolVersion
from tests.protocols.conftest import make_protocol

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def ledger(type_=None, source_type=None):
    stmt = sa.select(LedgerEntry)
    if type_:
        stmt = stmt.where(LedgerEntry.action_type == type_)
    if source_type:
        stmt = stmt.where(LedgerEntry.source_type == source_type)
    return db.session.execute(stmt).scalars().all()


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_create_edit_validate_and_new_version(client, f, setup):
    u = setup.users
    f.login(client, u["coordinator"])
    base = f"/protocoles/{setup.team.id}"
    resp = f.post_form(client, f"{base}/nouveau", {
        "title": "Suivi des patients sous AVK", "theme": "Sécurité", "steps": "Repérer\n\nContrôler l'INR\n",
        "role_pharmacien": "Entretien pharmaceutique", "role_infirmier": "",
        "authors": [str(u["admin"].id), str(u["coordinator"].id)],
    })
    assert resp.status_code == 302, resp.get_data(as_text=True)
    protocol = db.session.execute(sa.select(Protocol)).scalar_one()
    assert protocol.steps == ["Repérer", "Contrôler l'INR"]
    assert [r.profession_code for r in protocol.roles] == ["pharmacien"]
    assert set(protocol.author_ids) == {u["admin"].id, u["coordinator"].id}
    url = f"{base}/{protocol.id}"
    page = client.get(url).get_data(as_text=True)
    assert "Brouillon" in page and "Entretien pharmaceutique" in page

    resp = f.post_form(client, f"{url}/valider", {"validated_on": "2025-03-01", "next_review_on": "2026-03-01"},
                       form_url=url)
    assert resp.status_code == 302
    db.session.expire_all()
    assert protocol.status == "validated" and protocol.validated_on == date(2025, 3, 1)
    assert [v.number for v in protocol.versions] == [1]

    # A validated version is frozen: the edit page redirects and a direct service call is refused.
    assert client.get(f"{url}/modifier").status_code == 302
    try:
        svc.update_protocol(protocol, setup.team, svc.ProtocolData(title="X"), actor=u["coordinator"])
        raise AssertionError("frozen version edited")
    except svc.ProtocolError:
        db.session.rollback()

    resp = f.post_form(client, f"{url}/nouvelle-version", {}, form_url=url)
    assert resp.status_code == 302
    db.session.expire_all()
    assert protocol.status == "draft" and protocol.version == 2
    resp = f.post_form(client, f"{url}/modifier", {
        "title": "Suivi des patients sous anticoagulants", "steps": "Repérer\nContrôler\nRevoir",
        "authors": [str(u["coordinator"].id)]})
    assert resp.status_code == 302
    # The old version stays readable, unchanged.
    old = client.get(f"{url}/versions/1").get_data(as_text=True)
    assert "Suivi des patients sous AVK" in old and "anticoagulants" not in old
    assert client.get(f"{url}/versions/2").status_code == 404
    assert "Suivi des patients sous AVK" in pdf_text(client.get(f"{url}/fiche.pdf?version=1").data)
    current = pdf_text(client.get(f"{url}/fiche.pdf").data)
    assert "anticoagulants" in current and "Revoir" in current
    resp = f.post_form(client, f"{url}/valider", {"validated_on": "2025-06-01"}, form_url=url)
    assert resp.status_code == 302
    db.session.expire_all()
    versions = db.session.execute(sa.select(ProtocolVersion).order_by(ProtocolVersion.number)).scalars().all()
    assert [v.number for v in versions] == [1, 2]
    assert versions[0].snapshot["title"] == "Suivi des patients sous AVK"
    assert versions[1].snapshot["steps"] == ["Repérer", "Contrôler", "Revoir"]


def test_pdf_sheet_content(client, f, setup):
    protocol = make_protocol(setup, validate=True)
    f.login(client, setup.users["member"])
    resp = client.get(f"/protocoles/{setup.team.id}/{protocol.id}/fiche.pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    text = pdf_text(resp.data)
    for expected in ("Suivi des patients sous AVK", "Contrôler l'INR", "Médecin généraliste", "Entretien AVK",
                     "Version 1", "1er mars 2025"):
        assert expected in text, expected
    assert text.index("Médecin généraliste") < text.index("Pharmacien")  # roles in the professions' order


def test_validation_ledger_once_for_writing_group(app, f, setup):
    protocol = make_protocol(setup, validate=True)
    entries = ledger("PROTO_REDAC", "protocol_validation")
    assert sorted(e.user_id for e in entries) == sorted(protocol.author_ids)
    version = protocol.versions[0]
    assert {e.source_id for e in entries} == {version.id}
    assert all(e.performed_on == date(2025, 3, 1) for e in entries)
    # Validating again is refused; recording the same source again does not duplicate.
    try:
        svc.validate_protocol(protocol, setup.team, validated_on=date(2025, 3, 2), next_review_on=None,
                              actor=setup.users["admin"])
        raise AssertionError("validated twice")
    except svc.ProtocolError:
        db.session.rollback()
    for uid in protocol.author_ids:
        svc._ledger(setup.team, uid, "PROTO_REDAC", date(2025, 3, 1), source_type="protocol_validation",
                    source_id=version.id, actor=None)
    db.session.commit()
    assert len(ledger("PROTO_REDAC", "protocol_validation")) == 3


def test_writing_meeting_records_ledger_for_attendees(client, f, setup):
    u = setup.users
    protocol = make_protocol(setup)
    url = f"/protocoles/{setup.team.id}/{protocol.id}"
    f.login(client, u["member"])
    resp = f.post_form(client, f"{url}/reunions", {"held_on": "2025-02-03", "duration_minutes": "90",
                                                   "attendees": [str(u["admin"].id), str(u["member"].id)]},
                       form_url=url)
    assert resp.status_code == 302
    meeting = db.session.execute(sa.select(ProtocolMeeting)).scalar_one()
    entries = ledger("PROTO_REDAC", "protocol_writing")
    assert sorted(e.user_id for e in entries) == sorted([u["admin"].id, u["member"].id])
    assert all(e.source_id == meeting.id and e.duration_minutes == 90 for e in entries)


def test_meeting_bad_input_is_400_and_nothing_saved(client, f, setup):
    u = setup.users
    protocol = make_protocol(setup)
    url = f"/protocoles/{setup.team.id}/{protocol.id}"
    f.login(client, u["member"])
    # physio is a member of the team but not of the writing group: not a valid choice
    resp = f.post_form(client, f"{url}/reunions", {"held_on": "2025-02-03", "duration_minutes": "90",
                                                   "attendees": [str(u["physio"].id)]}, form_url=url)
    assert resp.status_code == 400
    resp = f.post_form(client, f"{url}/reunions", {"held_on": "pas une date", "duration_minutes": "0",
                                                   "attendees": [str(u["admin"].id)]}, form_url=url)
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert "Saisissez une date valide" in page and "entre 1 et 600 minutes" in page
    resp = f.post_form(client, f"{url}/reunions", {"held_on": "2025-02-03", "duration_minutes": "60"},
                       form_url=url)
    assert resp.status_code == 400 and "Sélectionnez au moins un participant" in resp.get_data(as_text=True)
    assert db.session.execute(sa.select(sa.func.count()).select_from(ProtocolMeeting)).scalar() == 0
    assert ledger("PROTO_REDAC") == []


def test_bad_protocol_input(client, f, setup):
    f.login(client, setup.users["coordinator"])
    base = f"/protocoles/{setup.team.id}"
    resp = f.post_form(client, f"{base}/nouveau", {"title": "  ", "steps": "a"})
    assert resp.status_code == 400 and "Ce champ est obligatoire" in resp.get_data(as_text=True)
    protocol = make_protocol(setup)
    url = f"{base}/{protocol.id}"
    resp = f.post_form(client, f"{url}/valider", {"validated_on": "2025-03-01", "next_review_on": "2025-01-01"},
                       form_url=url)
    assert resp.status_code == 400
    assert "La date de prochaine révision doit être postérieure" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert protocol.status == "draft" and protocol.versions == [] and ledger() == []


def test_member_cannot_validate(client, f, setup):
    protocol = make_protocol(setup)
    url = f"/protocoles/{setup.team.id}/{protocol.id}"
    f.login(client, setup.users["member"])
    token = f.csrf(client, url)
    assert client.post(f"{url}/valider", data={"validated_on": "2025-03-01", "csrf_token": token}).status_code == 403


def test_documents_pdf_only_size_limited(app, client, f, setup):
    protocol = make_protocol(setup)
    url = f"/protocoles/{setup.team.id}/{protocol.id}"
    f.login(client, setup.users["member"])

    def upload(content, name):
        token = f.csrf(client, url)
        return client.post(f"{url}/documents", data={"title": "Carnet AVK", "csrf_token": token,
                                                     "file": (io.BytesIO(content), name)},
                           content_type="multipart/form-data")

    resp = upload(b"\x89PNG\r\n\x1a\n" + b"0" * 100, "faux.pdf")
    assert resp.status_code == 400 and "Seuls les fichiers PDF sont acceptés" in resp.get_data(as_text=True)
    old = app.config["UPLOAD_MAX_BYTES"]
    app.config["UPLOAD_MAX_BYTES"] = 1024 * 1024
    try:
        resp = upload(PDF_BYTES + b"0" * (1024 * 1024), "gros.pdf")
        assert resp.status_code == 400 and "trop volumineux" in resp.get_data(as_text=True)
    finally:
        app.config["UPLOAD_MAX_BYTES"] = old
    assert db.session.execute(sa.select(sa.func.count()).select_from(ProtocolDocument)).scalar() == 0
    resp = upload(PDF_BYTES, "carnet avk.pdf")
    assert resp.status_code == 302
    doc = db.session.execute(sa.select(ProtocolDocument)).scalar_one()
    assert doc.filename == "carnet_avk.pdf" and doc.size == len(PDF_BYTES)
    resp = client.get(f"{url}/documents/{doc.id}")
    assert resp.status_code == 200 and resp.data == PDF_BYTES and resp.mimetype == "application/pdf"
    # the frozen snapshot lists the document
    svc.validate_protocol(protocol, setup.team, validated_on=date(2025, 3, 1), next_review_on=None,
                          actor=setup.users["admin"])
    db.session.commit()
    assert protocol.versions[0].snapshot["documents"][0]["title"] == "Carnet AVK"
    assert upload(PDF_BYTES, "autre.pdf").status_code == 400  # frozen
    # In a new version the document can be removed from the working copy; version 1 still serves it.
    svc.new_version(protocol, actor=setup.users["admin"])
    db.session.commit()
    token = f.csrf(client, url)
    assert client.post(f"{url}/documents/{doc.id}/supprimer", data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    assert protocol.current_documents == [] and "Carnet AVK" in client.get(f"{url}/versions/1").get_data(as_text=True)
    assert client.get(f"{url}/documents/{doc.id}").data == PDF_BYTES
    assert upload(PDF_BYTES, "nouveau.pdf").status_code == 302
    new_doc = next(d for d in protocol.current_documents)
    token = f.csrf(client, url)
    assert client.post(f"{url}/documents/{new_doc.id}/supprimer", data={"csrf_token": token}).status_code == 302
    assert db.session.get(ProtocolDocument, new_doc.id) is None  # never cited by a version: deleted


def test_other_team_member_gets_404(client, f, setup):
    protocol = make_protocol(setup, validate=True)
    f.login(client, setup.users["outsider"])
    base = f"/protocoles/{setup.team.id}"
    for path in ("/", f"/{protocol.id}", f"/{protocol.id}/fiche.pdf", f"/{protocol.id}/versions/1",
                 f"/{protocol.id}/modifier", "/nouveau", "/inclusions/nouvelle", "/indicateurs",
                 "/indicateurs.csv"):
        assert client.get(base + path).status_code == 404, path
    # the outsider's own team does not expose this protocol either
    assert client.get(f"/protocoles/{setup.other.id}/{protocol.id}").status_code == 404
    assert setup.team.name not in client.get("/protocoles/").get_data(as_text=True)


def test_index_lists_my_teams(client, f, setup):
    make_protocol(setup, validate=True)
    f.login(client, setup.users["member"])
    page = client.get("/protocoles/").get_data(as_text=True)
    assert "Suivi des patients sous AVK" in page and "Validé" in page


def test_library_pages_no_n_plus_one(client, f, setup):
    from contextlib import contextmanager

    @contextmanager
    def counting():
        calls = []

        def listener(*_args, **_kw):
            calls.append(1)

        sa.event.listen(db.engine, "before_cursor_execute", listener)
        try:
            yield calls
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listener)

    f.login(client, setup.users["member"])
    make_protocol(setup, title="P0", validate=True)
    urls = ["/protocoles/", f"/protocoles/{setup.team.id}/", f"/protocoles/{setup.team.id}/indicateurs"]
    before = []
    for url in urls:
        db.session.expire_all()
        with counting() as calls:
            assert client.get(url).status_code == 200
        before.append(len(calls))
    for i in range(1, 6):
        make_protocol(setup, title=f"P{i}", validate=True)
    after = []
    for url in urls:
        db.session.expire_all()
        with counting() as calls:
            assert client.get(url).status_code == 200
        after.append(len(calls))
    assert after == before, (before, after)
