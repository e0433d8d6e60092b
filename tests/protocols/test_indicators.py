"""Indicators per protocol and year, the page and the yearly CSV for the ARS."""

from __future__ import annotations

import csv
import io
from datetime import date

from esp_coord.core.extensions import db
from esp_coord.protocols import services as svc
from tests.protocols.conftest import adopt_cystite, make_protocol


def populate(f, setup):
    u = setup.users
    adoption = adopt_cystite(setup)  # member (pharmacist) trained; coordinator (nurse) delegated, trained below
    svc.add_attestation(adoption, user_id=u["coordinator"].id, trained_on=date(2025, 1, 5), organisation="IFSI",
                        hours=7, actor=u["admin"])
    protocol = make_protocol(setup, validate=True, validated_on=date(2024, 11, 1))
    women = [f.patient(setup.team, u["admin"], birth_name=f"ZORGLUB{i}", first_names="Ursule",
                       birth_date=date(1980 + i, 1, 1), sex="F") for i in range(4)]
    # 2024 inclusion still followed in 2025, with one act in 2024 (not counted) and one in 2025
    inc0 = svc.include_patient(setup.team, women[0], adoption=adoption, included_on=date(2024, 12, 20),
                               criteria="x", actor=u["member"])
    svc.record_act(setup.team, inc0, women[0], performed_on=date(2025, 1, 12), professional_id=u["member"].id,
                   outcome="pris_en_charge", comment=None, actor=u["member"])
    inc0.acts  # noqa: B018
    acts_2025 = [(women[1], "member", "orientation_medecin"), (women[2], "member", "pris_en_charge"),
                 (women[3], "coordinator", "refus_patient")]
    for i, (patient, who, outcome) in enumerate(acts_2025):
        inc = svc.include_patient(setup.team, patient, adoption=adoption, included_on=date(2025, 3, 1 + i),
                                  criteria="y", actor=u[who])
        svc.record_act(setup.team, inc, patient, performed_on=date(2025, 3, 1 + i), professional_id=u[who].id,
                       outcome=outcome, comment="Commentaire ZORGLUB", actor=u[who])
    avk_patient = f.patient(setup.team, u["admin"], birth_name="ZORGLUB", first_names="Albert",
                            birth_date=date(1944, 1, 1), sex="M")
    inc = svc.include_patient(setup.team, avk_patient, protocol=protocol, included_on=date(2025, 2, 1),
                              criteria="AVK", actor=u["admin"])
    for day, who, outcome in [(2, "coordinator", "pris_en_charge"), (3, "member", "orientation_medecin")]:
        svc.record_act(setup.team, inc, avk_patient, performed_on=date(2025, 2, day), professional_id=u[who].id,
                       outcome=outcome, comment=None, actor=u[who])
    svc.end_inclusion(inc, avk_patient, ended_on=date(2025, 2, 28), reason=None, actor=u["admin"])
    db.session.commit()
    return adoption, protocol


def test_indicator_numbers(f, setup):
    populate(f, setup)
    rows = {r.code: r for r in svc.indicators(setup.team, 2025)}
    cys = rows["PC_CYSTITE"]
    assert (cys.inclusions, cys.active_inclusions, cys.acts, cys.referred) == (3, 4, 4, 1)
    assert cys.acts_by_profession == {"pharmacien": 3, "infirmier": 1}
    assert cys.referred_share == 25.0
    avk = rows["V1"]
    assert (avk.inclusions, avk.acts, avk.referred) == (1, 2, 1)
    assert avk.acts_by_profession == {"infirmier": 1, "pharmacien": 1}
    assert avk.referred_share == 50.0
    rows_2024 = {r.code: r for r in svc.indicators(setup.team, 2024)}
    assert (rows_2024["PC_CYSTITE"].inclusions, rows_2024["PC_CYSTITE"].acts) == (1, 0)
    assert rows_2024["PC_CYSTITE"].referred_share is None


def test_indicators_page(client, f, setup):
    populate(f, setup)
    f.login(client, setup.users["physio"])
    page = client.get(f"/protocoles/{setup.team.id}/indicateurs?annee=2025").get_data(as_text=True)
    assert "Indicateurs des protocoles 2025" in page
    assert "25,0" in page and "50,0" in page and "Pharmacien : 3" in page
    assert "ZORGLUB" not in page
    assert client.get(f"/protocoles/{setup.team.id}/indicateurs?annee=1800").status_code == 400


def test_ars_csv(client, f, setup):
    populate(f, setup)
    f.login(client, setup.users["member"])
    resp = client.get(f"/protocoles/{setup.team.id}/indicateurs.csv?annee=2025")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert resp.data.startswith(b"\xef\xbb\xbf")
    text = resp.data.decode("utf-8-sig")
    assert "ZORGLUB" not in text and "Ursule" not in text and "Commentaire" not in text
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][:6] == ["Année", "Type", "Code", "Protocole", "Profession", "Inclusions"]
    assert all(len(r) == len(rows[0]) for r in rows)
    by_key = {(r[2], r[4]): r for r in rows[1:]}
    total = by_key[("PC_CYSTITE", "Total")]
    assert total[0] == "2025" and total[5:] == ["3", "4", "4", "1", "25,0"]
    assert by_key[("PC_CYSTITE", "Pharmacien")][7:] == ["3", "1", "33,3"]
    assert by_key[("PC_CYSTITE", "Infirmier·ère")][7:] == ["1", "0", "0,0"]
    assert by_key[("V1", "Total")][3] == "Suivi des patients sous AVK"
    assert by_key[("V1", "Total")][7:] == ["2", "1", "50,0"]


def test_ars_csv_neutralises_formulas(client, f, setup):
    from tests.protocols.conftest import make_protocol

    make_protocol(setup, title="=HYPERLINK(\"http://x\";\"clic\")", validate=True)
    f.login(client, setup.users["member"])
    text = client.get(f"/protocoles/{setup.team.id}/indicateurs.csv?annee=2025").data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[1][3] == "'=HYPERLINK(\"http://x\";\"clic\")"


def test_association_reads_indicators_not_patients(client, f, setup):
    adoption, _p = populate(f, setup)
    f.login(client, setup.users["association"])
    assert client.get(f"/protocoles/{setup.team.id}/indicateurs?annee=2025").status_code == 200
    assert client.get(f"/protocoles/{setup.team.id}/indicateurs.csv?annee=2025").status_code == 200
    assert client.get(f"/protocoles/{setup.team.id}/cooperation/{adoption.id}").status_code == 404
