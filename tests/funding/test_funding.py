import csv
import io
import json
import uuid
from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from esp_coord.activity.sources import SourceType
from esp_coord.core import signals
from esp_coord.core.extensions import db
from esp_coord.funding import services as svc
from esp_coord.funding.models import Claim, TariffRate
from tests.funding.helpers import entry, meeting_entries

CANARY = "ZQXCANARYNOM"


def pdf_pages(data: bytes) -> list[str]:
    return [p.extract_text() for p in PdfReader(io.BytesIO(data)).pages]


def parse_csv(data: bytes):
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def fr(value) -> Decimal:
    return Decimal(value.replace("\u202f", "").replace(" ", "").replace(",", "."))


@pytest.fixture
def setup(f):
    team, other, users = f.team_with_roles()
    return SimpleNamespace(team=team, other=other, **users)


def claim_for(team, actor, kind="year", year=2026):
    start, end = svc.period_bounds(kind, year)
    c = svc.create_claim(team, kind, start, end, actor=actor)
    db.session.commit()
    return c


# ------------------------------------------------------------------ grid

def row(i, unit_type, on, *, user=1, pc=0, dur=None, source=None):
    return SimpleNamespace(id=i, team_id="t", user_id=user, action_type=unit_type, performed_on=on,
                           patient_count=pc, duration_minutes=dur, source_type="x" if source else None,
                           source_id=source, status="validated")


def test_grid_computations_per_unit(app):
    def rate(unit, amount, cap=None, scope="year"):
        return TariffRate(action_type="X", unit=unit, amount=Decimal(amount),
                          cap_units=Decimal(cap) if cap is not None else None, cap_scope=scope)

    d = date(2026, 2, 1)
    rates = {2026: {"P": rate("per_participant", "50", 2), "PAT": rate("per_patient", "10"),
                    "H": rate("per_hour", "45", 10, "source"), "F": rate("flat", "150")}}
    rows = [row(1, "P", d), row(2, "P", d), row(3, "P", d),  # cap 2 per year
            row(4, "PAT", d, pc=4),
            row(5, "H", d, dur=90, source="a"), row(6, "H", d, dur=600, source="a"), row(7, "H", d, dur=60, source="b"),
            row(8, "F", d), row(9, "F", d), row(10, "F", d, user=2),
            row(11, "NONE", d)]
    p = svc.price_rows(rows, rates)
    assert [p[i].amount for i in (1, 2, 3)] == [Decimal("50.00"), Decimal("50.00"), Decimal("0.00")]
    assert p[3].capped
    assert p[4].amount == Decimal("40.00")
    assert p[5].amount == Decimal("67.50")  # 1.5 h
    assert p[6].amount == Decimal("382.50")  # capped at 10 h per protocol: 8.5 h left
    assert p[7].amount == Decimal("45.00")  # another protocol: its own cap
    assert [p[i].amount for i in (8, 9, 10)] == [Decimal("150.00"), Decimal("0.00"), Decimal("150.00")]
    assert p[11].rate_missing and p[11].amount == 0
    # caps restart each year
    rows2 = [row(1, "P", date(2025, 12, 1)), row(2, "P", date(2025, 12, 2)), row(3, "P", date(2026, 1, 5))]
    rates[2025] = rates[2026]
    assert svc.price_rows(rows2, rates)[3].amount == Decimal("50.00")


def test_example_grid_seeded_labelled_idempotent(app, client, f, setup):
    year = date.today().year
    svc.reference_data()
    svc.reference_data()
    assert db.session.execute(sa.select(sa.func.count()).select_from(svc.TariffGrid)).scalar() == 2
    grid = svc.get_grid(year)
    assert grid.is_example and {r.action_type for r in grid.rates} >= {"RCP_SANS", "PROJET_SANTE"}
    f.login(client, setup.admin)
    html = client.get(f"/financement/grille/{year}").get_data(as_text=True)
    assert "exemple — à remplacer par la grille de votre convention" in html


def test_grid_editing_rights(app, client, f, setup):
    year = date.today().year
    f.login(client, setup.admin)
    url = f"/financement/grille/{year}"
    assert f.post_form(client, url, {"amount_RCP_SANS": "55"}).status_code == 403  # team admin, not allowed yet
    assoc = app.test_client()
    f.login(assoc, setup.association)
    from esp_coord.activity.models import ActionType

    form = {}
    for code in db.session.execute(sa.select(ActionType.code)).scalars():
        form.update({f"unit_{code}": "per_participant", f"scope_{code}": "year"})
    for r in svc.get_grid(year).rates:
        form.update({f"unit_{r.action_type}": r.unit, f"amount_{r.action_type}": str(r.amount),
                     f"scope_{r.action_type}": r.cap_scope})
    form.update({"amount_RCP_SANS": "55,00", "team_admins_may_edit": "y", "note": "Convention 2026"})
    resp = f.post_form(assoc, url, form)
    assert resp.status_code == 302
    db.session.expire_all()
    grid = svc.get_grid(year)
    assert not grid.is_example and grid.team_admins_may_edit
    assert next(r for r in grid.rates if r.action_type == "RCP_SANS").amount == Decimal("55.00")
    bad = dict(form, amount_RCP_SANS="-3")
    assert f.post_form(assoc, url, bad).status_code == 400
    form["amount_RCP_AVEC"] = "71"
    assert f.post_form(client, url, form).status_code == 302  # team admin, now allowed


def test_is_action_funded_hook(app, f):
    def provider(team, action_type, on):
        return signals.ask_one(signals.action_funded, team, action_type=action_type, on=on)
    assoc_team = f.team(legal_form="association_1901")
    plain = f.team(legal_form="none")
    today = date.today()
    assert provider(assoc_team, "RCP_SANS", today)
    assert provider(assoc_team, "PREV_ETP", today)
    assert not provider(plain, "PREV_ETP", today)
    assert not provider(assoc_team, "COORD_AUTRE", today)


# ------------------------------------------------------------------ envelope

def test_envelope_warning_not_cut(app, client, f, setup):
    svc.set_envelope(setup.team, 2026, Decimal("100"), actor=setup.association)
    db.session.commit()
    for day in (1, 2, 3):
        entry(setup.team, setup.admin, "RCP_AVEC", date(2026, 2, day), source_type="meeting",
              source_id=uuid.uuid4())
    st = svc.envelope_status(setup.team, 2026)
    assert st["logged"] == Decimal("210.00") and st["over"] and st["over_by"] == Decimal("110.00")
    f.login(client, setup.coordinator)
    html = client.get(f"/financement/equipe/{setup.team.id}?annee=2026").get_data(as_text=True)
    assert "dépassent l’enveloppe" in html or "dépassent l'enveloppe" in html
    c = claim_for(setup.team, setup.coordinator)
    assert Decimal(svc.claim_data(c)["total"]) == Decimal("210.00")  # warning only, nothing cut


def test_envelope_edit_by_association_only(app, client, f, setup):
    f.login(client, setup.coordinator)
    url = f"/financement/equipe/{setup.team.id}/enveloppe/2026"
    token = f.csrf(client, f"/financement/equipe/{setup.team.id}")
    assert client.post(url, data={"amount": "5000", "csrf_token": token}).status_code == 403
    assoc = app.test_client()
    f.login(assoc, setup.association)
    token = f.csrf(assoc, f"/financement/equipe/{setup.team.id}")
    assert assoc.post(url, data={"amount": "8000", "csrf_token": token}).status_code == 302
    assert svc.get_envelope_amount(setup.team.id, 2026) == Decimal("8000.00")


# ------------------------------------------------------------------ anomalies

def test_anomalies(app, f, setup):
    team = setup.team
    entry(team, setup.admin, "RCP_SANS", date(2026, 3, 1))  # RCP without meeting record
    entry(team, setup.member, "COORD_AUTRE", date(2026, 3, 2))
    entry(team, setup.member, "COORD_AUTRE", date(2026, 3, 2), status="validated",
          source_type=None)  # manual duplicate
    entry(team, setup.member, "PREV_ETP", date(2026, 3, 3))
    team.legal_form = "none"  # the team changed legal form: PREV_ETP no longer allowed
    db.session.commit()
    outsider_entry = entry(team, setup.outsider, "RCP_AVEC", date(2026, 3, 4), source_type="meeting",
                           source_id=uuid.uuid4())
    c = claim_for(team, setup.coordinator)
    codes = [a["code"] for a in svc.claim_data(c)["anomalies"]]
    assert "rcp_minutes" in codes
    assert "duplicate" in codes
    assert "legal_form" in codes
    assert "outside_period" in codes  # the outsider was not a member on that date
    assert "no_rate" in codes
    assert any(a["entry"] == str(outsider_entry.id) for a in svc.claim_data(c)["anomalies"])


def test_meeting_evidence_from_provider(app, f, setup):
    mid = uuid.uuid4()
    entry(setup.team, setup.admin, "RCP_SANS", date(2026, 4, 2), source_type="meeting", source_id=mid)
    entry(setup.team, setup.member, "RCP_SANS", date(2026, 4, 2), source_type="meeting", source_id=mid)

    def provider(source_type, ids):
        return {mid: {"label": "RCP diabète du 02/04/2026", "date": date(2026, 4, 2), "minutes_validated": False,
                      "present_user_ids": {setup.admin.id}}}

    with signals.funding_evidence.connected_to(provider, sender=SourceType.MEETING):
        data = svc.claim_data(claim_for(setup.team, setup.coordinator))
    codes = [a["code"] for a in data["anomalies"]]
    assert codes.count("rcp_minutes") == 2 and codes.count("attendance") == 1
    assert data["evidence"][0]["label"] == "RCP diabète du 02/04/2026" and data["evidence"][0]["entries"] == 2


def test_missing_model_degrades_to_piece(app, f, setup):
    entry(setup.team, setup.admin, "PPS_INIT", date(2026, 4, 2), source_type="pps_review_unknown",
          source_id=uuid.uuid4())
    data = svc.claim_data(claim_for(setup.team, setup.coordinator))
    assert data["evidence"][0]["label"] == "pièce : pps_review_unknown"


# ------------------------------------------------------------------ submission, outputs

def _submit(client, f, team, claim):
    base = f"/financement/equipe/{team.id}/demandes/{claim.id}"
    token = f.csrf(client, base)
    return client.post(base + "/soumettre", data={"csrf_token": token})


def test_claim_flow_submit_freezes_outputs(app, client, f, setup):
    team = setup.team
    meeting_entries(team, [setup.admin, setup.coordinator, setup.member], date(2026, 2, 5))
    meeting_entries(team, [setup.admin, setup.coordinator], date(2026, 5, 7), "RCP_AVEC")
    entry(team, setup.member, "PROTO_REDAC", date(2026, 6, 1), duration=120, source_type="protocol_writing",
          source_id=uuid.uuid4())
    entry(team, setup.coordinator, "RCP_SANS", date(2026, 6, 2), status="to_validate")  # not validated: excluded
    f.login(client, setup.coordinator)
    resp = f.post_form(client, f"/financement/equipe/{team.id}/demandes/nouvelle",
                       {"period_kind": "year", "year": "2026"})
    assert resp.status_code == 302
    claim = db.session.execute(sa.select(Claim)).scalar_one()
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Anomalies" in page
    assert _submit(client, f, team, claim).status_code == 302
    db.session.expire_all()
    claim = db.session.get(Claim, claim.id)
    assert claim.status == "submitted" and len(claim.sha256) == 64 and svc.verify_claim(claim)
    ledger_total = Decimal("150") + Decimal("140") + Decimal("90")
    assert claim.total_amount == ledger_total
    base = f"/financement/equipe/{team.id}/demandes/{claim.id}"
    pdf1 = client.get(base + "/demande.pdf")
    assert pdf1.status_code == 200 and pdf1.mimetype == "application/pdf"
    pages = pdf_pages(pdf1.data)
    for i, text in enumerate(pages, 1):
        assert claim.sha256 in text.replace("\n", "")
        assert f"Page {i} / {len(pages)}" in text
    full = "\n".join(pages)
    assert "380,00" in full and team.name in full
    csv1 = client.get(base + "/demande.csv")
    rows = parse_csv(csv1.data)
    total_row = next(r for r in rows if r and r[0] == "Total")
    assert fr(total_row[-1]) == ledger_total
    start = rows.index(["Professionnel", "Profession", "RPPS", "Actions", "Montant (€)"]) + 1
    prof_rows = rows[start:rows.index([], start)]
    assert len(prof_rows) == 3
    assert sum(fr(r[4]) for r in prof_rows) == ledger_total
    assert rows[0] == ["Équipe", team.name] and rows[2] == ["SHA-256", claim.sha256]
    assert "1 234" not in csv1.data.decode("utf-8-sig") and any("," in r[-1] for r in prof_rows)
    snapshot, sha = claim.snapshot, claim.sha256
    # later changes to the underlying data never change a submitted claim
    entry(team, setup.admin, "RCP_AVEC", date(2026, 7, 1), source_type="meeting", source_id=uuid.uuid4())
    from esp_coord.activity.models import LedgerEntry

    for e in db.session.execute(sa.select(LedgerEntry)).scalars():
        e.patient_count = 99
    setup.member.last_name = "Renommé"
    team.name = "Nom changé"
    svc.set_envelope(team, 2026, 1, actor=setup.association)
    db.session.commit()
    db.session.expire_all()
    claim = db.session.get(Claim, claim.id)
    assert claim.snapshot == snapshot and claim.sha256 == sha and svc.verify_claim(claim)
    assert client.get(base + "/demande.csv").data == csv1.data
    pages2 = pdf_pages(client.get(base + "/demande.pdf").data)

    def strip(texts):
        return [t for t in "\n".join(texts).splitlines() if "Imprimé le" not in t]

    assert strip(pages2) == strip(pages)
    # a second submission is refused
    assert _submit(client, f, team, claim).status_code == 303


def test_correction_paid_rejected(app, client, f, setup):
    team = setup.team
    meeting_entries(team, [setup.admin, setup.member], date(2026, 2, 5))
    first = claim_for(team, setup.coordinator, "s1")
    svc.submit_claim(first, actor=setup.coordinator)
    db.session.commit()
    entry(team, setup.member, "RCP_AVEC", date(2026, 3, 9), source_type="meeting", source_id=uuid.uuid4())
    f.login(client, setup.coordinator)
    resp = f.post_form(client, f"/financement/equipe/{team.id}/demandes/nouvelle?corrige={first.id}",
                       {"period_kind": "s1", "year": "2026", "corrige": str(first.id)})
    assert resp.status_code == 302
    corr = db.session.execute(sa.select(Claim).where(Claim.corrects_id == first.id)).scalar_one()
    data = svc.claim_data(corr)
    assert data["corrects"]["sha256"] == first.sha256
    assert not any(a["code"] == "duplicate" for a in data["anomalies"])  # the corrected claim is replaced
    svc.submit_claim(corr, actor=setup.coordinator)
    db.session.commit()
    assert svc.envelope_status(team, 2026)["claimed"] == Decimal("170.00")  # only the correction counts
    # association: reject the first with a reason, pay the correction per professional
    assoc = app.test_client()
    f.login(assoc, setup.association)
    base = f"/financement/equipe/{team.id}/demandes"
    assert f.post_form(assoc, f"{base}/{first.id}/rejet", {"reason": ""}).status_code == 400
    assert f.post_form(assoc, f"{base}/{first.id}/rejet", {"reason": "Remplacée par la correction"}
                       ).status_code == 302
    form = {"paid_on": "2026-10-01", f"amount_{setup.admin.id}": "50,00", f"amount_{setup.member.id}": "abc"}
    assert f.post_form(assoc, f"{base}/{corr.id}/paiement", form).status_code == 400
    form[f"amount_{setup.member.id}"] = "120,00"
    assert f.post_form(assoc, f"{base}/{corr.id}/paiement", form).status_code == 302
    db.session.expire_all()
    assert db.session.get(Claim, first.id).status == "rejected"
    corr = db.session.get(Claim, corr.id)
    assert corr.status == "paid" and corr.paid_on == date(2026, 10, 1)
    assert {p.user_id: p.amount for p in corr.payments} == {setup.admin.id: Decimal("50.00"),
                                                            setup.member.id: Decimal("120.00")}
    # a member cannot record payments
    assert client.get(f"{base}/{corr.id}/paiement").status_code == 403


def test_payment_statement_across_two_teams(app, client, f, setup):
    nurse = setup.coordinator
    f.member(setup.other, nurse, "member")
    meeting_entries(setup.team, [nurse, setup.admin], date(2026, 2, 5))
    meeting_entries(setup.other, [nurse, setup.outsider], date(2026, 2, 6), "RCP_AVEC")
    c1 = claim_for(setup.team, nurse)
    c2 = claim_for(setup.other, setup.outsider)
    svc.submit_claim(c1, actor=nurse)
    svc.submit_claim(c2, actor=setup.outsider)
    db.session.commit()
    svc.mark_paid(c2, date(2026, 9, 1), {str(nurse.id): Decimal("70"), str(setup.outsider.id): Decimal("70")},
                  actor=setup.association)
    db.session.commit()
    f.login(client, nurse)
    resp = client.get("/financement/releve.pdf")
    assert resp.status_code == 200
    text = "\n".join(pdf_pages(resp.data))
    assert setup.team.name in text and setup.other.name in text
    assert "120,00" in text and "70,00" in text  # claimed 50 + 70, paid 70
    assert nurse.full_name in text and setup.admin.full_name not in text


def test_no_patient_identity_in_outputs(app, client, f, setup):
    patient = f.patient(setup.team, setup.admin, birth_name=CANARY, first_names="Canariette")
    entry(setup.team, setup.admin, "PPS_INIT", date(2026, 3, 2), source_type="pps", source_id=patient.id,
          patient_count=1)
    meeting_entries(setup.team, [setup.admin, setup.member], date(2026, 3, 3))
    claim = claim_for(setup.team, setup.coordinator)
    svc.submit_claim(claim, actor=setup.coordinator)
    db.session.commit()
    f.login(client, setup.admin)
    base = f"/financement/equipe/{setup.team.id}/demandes/{claim.id}"
    outputs = [client.get(base).get_data(as_text=True), client.get(base + "/demande.csv").data.decode("utf-8"),
               "\n".join(pdf_pages(client.get(base + "/demande.pdf").data)),
               "\n".join(pdf_pages(client.get("/financement/releve.pdf").data)), claim.snapshot,
               client.get(f"/rapports/equipe/{setup.team.id}/2026").get_data(as_text=True)]
    for out in outputs:
        assert CANARY.lower() not in out.lower() and "canariette" not in out.lower()


def test_association_reads_totals_not_patients(app, client, f, setup):
    meeting_entries(setup.team, [setup.admin, setup.member], date(2026, 2, 5))
    meeting_entries(setup.other, [setup.outsider], date(2026, 2, 5))
    patient = f.patient(setup.team, setup.admin, birth_name=CANARY)
    f.login(client, setup.association)
    html = client.get("/financement/region?annee=2026").get_data(as_text=True)
    assert setup.team.name in html and setup.other.name in html and "100,00" in html and "50,00" in html
    rows = parse_csv(client.get("/financement/region.csv?annee=2026").data)
    assert {r[0] for r in rows[1:]} == {setup.team.name, setup.other.name}
    assert client.get(f"/financement/equipe/{setup.team.id}").status_code == 200
    assert client.get(f"/rapports/equipe/{setup.other.id}/2026").status_code == 200
    for url in (f"/patients/{setup.team.id}/", f"/patients/{setup.team.id}/{patient.id}"):
        assert client.get(url).status_code in (403, 404)
    assert CANARY not in html
    # a team member cannot see the region nor another team's funding
    member = app.test_client()
    f.login(member, setup.member)
    assert member.get("/financement/region").status_code == 403
    assert member.get(f"/financement/equipe/{setup.other.id}").status_code == 404


def test_member_cannot_create_or_submit(app, client, f, setup):
    f.login(client, setup.member)
    assert client.get(f"/financement/equipe/{setup.team.id}/demandes/nouvelle").status_code == 403
    claim = claim_for(setup.team, setup.coordinator)
    token = f.csrf(client, f"/financement/equipe/{setup.team.id}/demandes/{claim.id}")
    resp = client.post(f"/financement/equipe/{setup.team.id}/demandes/{claim.id}/soumettre",
                       data={"csrf_token": token})
    assert resp.status_code == 403
    assert client.get(f"/financement/equipe/{setup.team.id}/demandes/{uuid.uuid4()}").status_code == 404
    assert client.get(f"/financement/equipe/{setup.team.id}/demandes/pas-un-uuid").status_code == 404


def test_invalid_claim_form_400(app, client, f, setup):
    f.login(client, setup.coordinator)
    url = f"/financement/equipe/{setup.team.id}/demandes/nouvelle"
    resp = f.post_form(client, url, {"period_kind": "custom", "year": "2026", "start": "2026-05-01",
                                     "end": "2026-04-01"})
    assert resp.status_code == 400 and "2026-05-01" in resp.get_data(as_text=True)
    assert db.session.execute(sa.select(sa.func.count()).select_from(Claim)).scalar() == 0


def test_query_count_does_not_grow(app, f, setup):
    from tests.funding.helpers import entry as add

    def count_queries(fn):
        n = 0

        def before(*_a, **_k):
            nonlocal n
            n += 1

        sa.event.listen(db.engine, "before_cursor_execute", before)
        try:
            fn()
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", before)
        return n

    users = [setup.admin, setup.coordinator, setup.member]
    for i in range(3):
        meeting_entries(setup.team, users, date(2026, 1, 1 + i))
    add(setup.team, users[0], "PROTO_REDAC", date(2026, 1, 9), duration=60, source_type="protocol_writing",
        source_id=uuid.uuid4())
    c = claim_for(setup.team, setup.coordinator)
    db.session.expire_all()
    small = (count_queries(lambda: svc.build_claim_data(db.session.get(Claim, c.id))),
             count_queries(lambda: svc.envelope_statuses([setup.team.id, setup.other.id], 2026)))
    for i in range(20):
        meeting_entries(setup.team, users, date(2026, 2, 1 + i), "RCP_AVEC")
        add(setup.team, users[i % 3], "PROTO_REDAC", date(2026, 4, 1 + i), duration=60,
            source_type="protocol_writing", source_id=uuid.uuid4())
    db.session.expire_all()
    big = (count_queries(lambda: svc.build_claim_data(db.session.get(Claim, c.id))),
           count_queries(lambda: svc.envelope_statuses([setup.team.id, setup.other.id], 2026)))
    assert big == small


def test_projet_versions_and_steps(app, client, f, setup):
    f.login(client, setup.coordinator)
    url = f"/financement/equipe/{setup.team.id}/projet/modifier"
    assert f.post_form(client, url, {"people": "Dr Martin", "nb_common_patients": "-2"}).status_code == 400
    assert f.post_form(client, url, {"people": "Dr Martin", "health_problem": "Diabète de type 2",
                                     "nb_common_patients": "120", "communes": "Clisson"}).status_code == 302
    assert f.post_form(client, url, {"people": "Dr Martin, IDE Bernard", "evaluation": "HbA1c"}).status_code == 302
    versions = svc.projet_versions(setup.team.id)
    assert [v.version for v in versions] == [2, 1] and versions[1].data["nb_common_patients"] == 120
    pdf = client.get(f"/financement/equipe/{setup.team.id}/projet/v1.pdf")
    assert pdf.status_code == 200 and "Diabète de type 2" in "\n".join(pdf_pages(pdf.data))
    assert "IDE Bernard" in client.get(f"/financement/equipe/{setup.team.id}/projet").get_data(as_text=True)
    resp = f.post_form(client, f"/financement/equipe/{setup.team.id}/etapes",
                       {"date_team_formed": "2024-01-15", "date_ars_recognition": "2024-06-03",
                        "note_ars_recognition": "Courrier ARS"})
    assert resp.status_code == 302
    steps = {s["code"]: s for s in svc.clap_steps(setup.team)}
    assert steps["team_formed"]["done_on"] == date(2024, 1, 15)
    assert steps["projet_written"]["done_on"] is not None  # from the projet versions
    member = app.test_client()
    f.login(member, setup.member)
    assert member.get(url).status_code == 403


def test_funding_index_pages(app, client, f, setup):
    meeting_entries(setup.team, [setup.admin, setup.member], date(2026, 2, 5))
    f.login(client, setup.coordinator)
    html = client.get("/financement/?annee=2026").get_data(as_text=True)
    assert setup.team.name in html and "Enveloppe" in html
    assert client.get("/financement/releve").status_code == 200
    assert json.loads(json.dumps(svc.envelope_status(setup.team, 2026), default=str))["logged"] == "100.00"


def test_real_meeting_minutes_and_attendance(app, f, setup):
    """With the meetings feature's models: unvalidated minutes and absent attendees are flagged."""
    meetings = pytest.importorskip("esp_coord.meetings.models")
    from datetime import UTC, datetime

    from esp_coord.core.time import utc_now

    m = meetings.Meeting(id=uuid.uuid4(), team_id=setup.team.id, kind="rcp_sans", status="scheduled",
                         starts_at=datetime(2026, 3, 12, 12, 30, tzinfo=UTC), uid=f"{uuid.uuid4()}@test",
                         feed_changed_at=utc_now())
    db.session.add(m)
    db.session.flush()
    db.session.add_all([meetings.MeetingInvitee(meeting_id=m.id, user_id=setup.admin.id, present=True),
                        meetings.MeetingInvitee(meeting_id=m.id, user_id=setup.member.id, present=False)])
    db.session.commit()
    for u in (setup.admin, setup.member):
        entry(setup.team, u, "RCP_SANS", date(2026, 3, 12), source_type="meeting", source_id=m.id)
    c = claim_for(setup.team, setup.coordinator)
    data = svc.claim_data(c)
    codes = [a["code"] for a in data["anomalies"]]
    assert codes.count("rcp_minutes") == 2 and codes.count("attendance") == 1
    assert "12/03/2026" in data["evidence"][0]["label"]
    m.minutes_validated_at = utc_now()
    db.session.commit()
    codes = [a["code"] for a in svc.claim_data(c)["anomalies"]]
    assert "rcp_minutes" not in codes and codes.count("attendance") == 1


def test_sql_aggregation_equals_per_entry_pricing(app, f, setup):
    # per object cap (10 h per protocol): one 12 h writing session is paid 10 h; another protocol 3 h
    entry(setup.team, setup.member, "PROTO_REDAC", date(2026, 5, 4), duration=720, source_type="protocol_writing",
          source_id=uuid.uuid4())
    entry(setup.team, setup.member, "PROTO_REDAC", date(2026, 5, 6), duration=180, source_type="protocol_writing",
          source_id=uuid.uuid4())
    entry(setup.team, setup.admin, "PPS_REVUE", date(2026, 5, 1), source_type="pps_review", source_id=uuid.uuid4())
    for i in range(14):  # cap 12 RCP per professional and year
        entry(setup.team, setup.coordinator, "RCP_SANS", date(2026, 1, 1 + i), source_type="meeting",
              source_id=uuid.uuid4())
    entry(setup.team, setup.admin, "PROJET_SANTE", date(2026, 2, 1))
    entry(setup.team, setup.admin, "PROJET_SANTE", date(2026, 3, 1))  # flat: once a year
    rows = svc.ledger_rows([setup.team.id], date(2026, 1, 1), date(2026, 12, 31))
    per_entry = sum(p.amount for p in svc.price_rows(rows).values())
    aggregated = sum(a for _n, a in svc.aggregate_amounts([setup.team.id], 2026, 2026).values())
    assert per_entry == Decimal(45 * 10 + 45 * 3 + 40 + 50 * 12 + 150)
    assert aggregated == per_entry
