import io
import uuid
from datetime import date

import sqlalchemy as sa
from pypdf import PdfReader

from esp_coord.core import signals
from esp_coord.core.extensions import db
from esp_coord.reports import services as svc
from esp_coord.reports.models import GeneratedDocument
from tests.funding.helpers import entry, meeting_entries


def _team(f):
    team, other, users = f.team_with_roles()
    return team, other, users


def _fill(team, users):
    a, c, m = users["admin"], users["coordinator"], users["member"]
    meeting_entries(team, [a, c, m], date(2026, 1, 12), patient_count=4)
    meeting_entries(team, [a, c], date(2026, 3, 9), patient_count=2)
    meeting_entries(team, [a, m], date(2026, 3, 20), "RCP_AVEC", patient_count=1)
    pps = uuid.uuid4()
    entry(team, a, "PPS_INIT", date(2026, 4, 2), source_type="pps", source_id=pps, patient_count=1)
    entry(team, c, "PPS_REVUE", date(2026, 9, 2), source_type="pps_review", source_id=uuid.uuid4())
    proto = uuid.uuid4()
    entry(team, m, "PROTO_REDAC", date(2026, 5, 5), duration=90, source_type="protocol_writing", source_id=proto)
    entry(team, a, "PROTO_MEO", date(2026, 6, 5), source_type="protocol_validation", source_id=proto)
    entry(team, c, "PROTO_MEO", date(2026, 7, 5), source_type="protocol_act", source_id=uuid.uuid4())
    meeting_entries(team, [a, c], date(2025, 11, 3), patient_count=5)  # previous year


def test_annual_report_figures_and_svg(app, client, f):
    team, _other, users = _team(f)
    _fill(team, users)
    r = svc.annual_report(team, 2026)
    cur, prev = r["current"], r["previous"]
    assert (cur["rcp_sans"], cur["rcp_avec"], prev["rcp_sans"]) == (2, 1, 1)
    assert cur["patients_discussed"] == 4 + 2 + 1 and prev["patients_discussed"] == 5
    assert (cur["pps_opened"], cur["pps_reviewed"]) == (1, 1)
    assert (cur["protocols_written"], cur["protocols_validated"], cur["protocol_acts"]) == (1, 1, 2)
    assert cur["professions_count"] == 3 and cur["professionals_count"] == 3
    assert cur["months"][0] == 3 and cur["months"][2] == 4
    assert cur["distinct_patients"] == 0  # from the other features' tables: no case, plan or act here
    assert prev["pps_overdue"] is None  # only known for the current year
    # 5 RCP_SANS x 50 + 2 RCP_AVEC x 70 + PPS 100 + review 40 + 1.5 h x 45
    assert cur["amount"] == 250 + 140 + 100 + 40 + 67.5
    f.login(client, users["member"])
    html = client.get(f"/rapports/equipe/{team.id}/2026").get_data(as_text=True)
    assert html.count("<svg") == 2 and "Part des actions par profession" in html
    assert 'id="fig-rcp-sans">2<' in html and "non disponible" in html
    assert "style=" not in html.split("<main", 1)[1]


def test_extra_figures_hook(app, f):
    team, _other, users = _team(f)
    _fill(team, users)

    def provider(t, *, year):
        return {"distinct_patients": 6 if year == 2026 else 3, "attendance_rate": 87}

    with signals.annual_report_figures.connected_to(provider):
        r = svc.annual_report(team, 2026)
    assert r["current"]["distinct_patients"] == 6 and r["previous"]["distinct_patients"] == 3


def test_annual_pdf_background_job(app, client, f):
    team, _other, users = _team(f)
    _fill(team, users)
    f.login(client, users["coordinator"])
    token = f.csrf(client, f"/rapports/equipe/{team.id}/2026")
    resp = client.post(f"/rapports/equipe/{team.id}/2026/pdf", data={"csrf_token": token})
    assert resp.status_code == 302
    doc = db.session.execute(sa.select(GeneratedDocument)).scalar_one()
    db.session.refresh(doc)
    assert doc.status == "done" and doc.kind == "annual_report"
    status = client.get(f"/rapports/documents/{doc.id}/etat").get_json()
    assert status["done"] is True
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Télécharger" in page
    pdf = client.get(f"/rapports/documents/{doc.id}/telecharger")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages]
    text = "\n".join(pages)
    assert team.name in text and "Rapport d’activité 2026" in text
    assert "Part des actions par profession" in text or "Médecin généraliste" in text  # SVG labels embedded
    assert f"Page 1 / {len(pages)}" in pages[0]
    # another user cannot see the document
    other = app.test_client()
    f.login(other, users["member"])
    assert other.get(f"/rapports/documents/{doc.id}").status_code == 404
    assert other.get(f"/rapports/documents/{doc.id}/telecharger").status_code == 404


def test_progress_while_pending(app, client, f):
    team, _other, users = _team(f)
    doc = svc.new_document("annual_report", users["admin"], team_id=team.id, params={"year": 2026})
    db.session.commit()
    f.login(client, users["admin"])
    page = client.get(f"/rapports/documents/{doc.id}").get_data(as_text=True)
    assert "data-progress-url" in page
    assert client.get(f"/rapports/documents/{doc.id}/etat").get_json() == {
        "done": False, "progress": "En attente du traitement en arrière-plan…"}


def test_region_export_job_and_access(app, client, f):
    team, other, users = _team(f)
    _fill(team, users)
    f.login(client, users["association"])
    token = f.csrf(client, "/financement/region")
    resp = client.post("/financement/region/export?annee=2026", data={"csrf_token": token})
    assert resp.status_code == 302
    doc = db.session.execute(sa.select(GeneratedDocument)).scalar_one()
    db.session.refresh(doc)
    assert doc.status == "done"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(
        client.get(f"/rapports/documents/{doc.id}/telecharger").data)).pages)
    text = " ".join(text.split())
    assert team.name in text and other.name in text
    member = app.test_client()
    f.login(member, users["member"])
    token = f.csrf(member, "/financement/")
    assert member.post("/financement/region/export", data={"csrf_token": token}).status_code == 403
    assert member.get(f"/rapports/equipe/{other.id}/2026").status_code == 404


def test_report_query_count_constant(app, f):
    team, _other, users = _team(f)
    _fill(team, users)

    def count():
        n = 0

        def before(*_a, **_k):
            nonlocal n
            n += 1

        sa.event.listen(db.engine, "before_cursor_execute", before)
        try:
            db.session.expire_all()
            svc.annual_report(team, 2026)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", before)
        return n

    small = count()
    for i in range(15):
        meeting_entries(team, [users["admin"], users["member"]], date(2026, 10, 1 + i))
        entry(team, users["coordinator"], "PPS_INIT", date(2026, 11, 1 + i), source_type="pps",
              source_id=uuid.uuid4())
    assert count() == small
