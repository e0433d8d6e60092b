"""National cooperation protocols: catalogue, adoption, trained delegates, scope checks, acts, ledger."""

from __future__ import annotations

import json
from datetime import date

import pytest
import sqlalchemy as sa

from esp_coord.activity.models import LedgerEntry
from esp_coord.core.extensions import db
from esp_coord.funding import services as funding_services
from esp_coord.protocols import services as svc
from esp_coord.protocols.models import Adoption, CooperationProtocol, Inclusion, ProtocolAct
from tests.protocols.conftest import adopt_cystite


def count(model):
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar()


def test_catalogue_loaded_from_data_idempotent(app):
    data = json.loads(svc.DATA_FILE.read_text(encoding="utf-8"))["protocols"]
    assert len(data) == 6
    svc.ensure_cooperation_protocols()
    svc.ensure_cooperation_protocols()
    db.session.commit()
    rows = db.session.execute(sa.select(CooperationProtocol).order_by(CooperationProtocol.sort)).scalars().all()
    assert [r.code for r in rows] == [d["code"] for d in data]
    cystite = db.session.get(CooperationProtocol, "PC_CYSTITE")
    assert (cystite.sex, cystite.age_min, cystite.age_max) == ("F", 16, 65)
    assert cystite.delegating == ["medecin_generaliste"] and "pharmacien" in cystite.delegated
    varicelle = db.session.get(CooperationProtocol, "PC_VARICELLE")
    assert (varicelle.age_min, varicelle.age_min_unit, varicelle.age_max, varicelle.age_max_unit) == (
        12, "months", 12, "years")
    assert db.session.get(CooperationProtocol, "PC_CHEVILLE").delegated == ["masseur_kinesitherapeute"]


@pytest.mark.parametrize("born, sex, ok", [
    (date(2009, 6, 15), "F", True),    # 16th birthday on the act date: inside (inclusive)
    (date(2009, 6, 16), "F", False),   # 15 years and 364 days
    (date(1959, 6, 16), "F", True),    # 65 years and 364 days
    (date(1959, 6, 15), "F", False),   # 66th birthday
    (date(1990, 1, 1), "M", False),    # women only
    (date(1990, 1, 1), "I", False),
])
def test_scope_cystite(f, setup, born, sex, ok):
    coop = db.session.get(CooperationProtocol, "PC_CYSTITE")
    patient = f.patient(setup.team, setup.users["admin"], birth_date=born, sex=sex)
    error = svc.scope_error(coop, patient, date(2025, 6, 15))
    assert (error is None) == ok, error


@pytest.mark.parametrize("born, ok", [
    (date(2024, 6, 15), True),    # exactly 12 months
    (date(2024, 6, 16), False),   # 11 months
    (date(2012, 6, 16), True),    # 12 years and 364 days
    (date(2012, 6, 15), False),   # 13th birthday
    (date(2025, 7, 1), False),    # not born yet
])
def test_scope_varicelle_months(f, setup, born, ok):
    coop = db.session.get(CooperationProtocol, "PC_VARICELLE")
    patient = f.patient(setup.team, setup.users["admin"], birth_date=born, sex="M", birth_name="PETIT")
    assert (svc.scope_error(coop, patient, date(2025, 6, 15)) is None) == ok


def test_scope_message_is_clear_french(client, f, setup):
    adoption = adopt_cystite(setup)
    man = f.patient(setup.team, setup.users["admin"], birth_name="DUPONT", first_names="Paul", sex="M",
                    birth_date=date(1980, 1, 1))
    f.login(client, setup.users["member"])
    url = f"/protocoles/{setup.team.id}/inclusions/nouvelle"
    resp = f.post_form(client, url, {"target": f"a:{adoption.id}", "patient_id": str(man.id),
                                     "included_on": "2025-06-15", "criteria": "brûlures"})
    assert resp.status_code == 400
    assert "hors du champ du protocole : il ne concerne que les femmes" in resp.get_data(as_text=True)
    assert count(Inclusion) == 0
    # Age checked at the act date: included at 65, the act on her 66th birthday is refused.
    woman = f.patient(setup.team, setup.users["admin"], birth_name="MARTIN", first_names="Jeanne", sex="F",
                      birth_date=date(1959, 6, 15))
    resp = f.post_form(client, url, {"target": f"a:{adoption.id}", "patient_id": str(woman.id),
                                     "included_on": "2025-06-14"})
    assert resp.status_code == 302
    inc = db.session.execute(sa.select(Inclusion)).scalar_one()
    inc_url = f"/protocoles/{setup.team.id}/inclusions/{inc.id}"
    resp = f.post_form(client, f"{inc_url}/actes", {"performed_on": "2025-06-15",
                                                    "professional_id": str(setup.users["member"].id),
                                                    "outcome": "pris_en_charge"}, form_url=inc_url)
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert "âgé de 66 ans le 15/06/2025" in page and "de 16 ans à 65 ans" in page
    assert count(ProtocolAct) == 0
    resp = f.post_form(client, f"{inc_url}/actes", {"performed_on": "2025-06-14",
                                                    "professional_id": str(setup.users["member"].id),
                                                    "outcome": "pris_en_charge"}, form_url=inc_url)
    assert resp.status_code == 302 and count(ProtocolAct) == 1


def test_adoption_participants_checked(client, f, setup):
    u = setup.users
    f.login(client, u["coordinator"])
    url = f"/protocoles/{setup.team.id}/cooperation/adopter/PC_CYSTITE"
    # physio is not an allowed delegated profession for cystite: not even offered
    resp = f.post_form(client, url, {"adopted_on": "2025-01-01", "delegating": [str(u["admin"].id)],
                                     "delegated": [str(u["physio"].id)]})
    assert resp.status_code == 400
    resp = f.post_form(client, url, {"adopted_on": "2025-01-01", "delegating": [str(u["admin"].id)]})
    assert resp.status_code == 400 and "au moins un professionnel délégué" in resp.get_data(as_text=True)
    resp = f.post_form(client, url, {"adopted_on": "2025-01-01", "ars_declared_on": "2024-12-01",
                                     "delegating": [str(u["admin"].id)], "delegated": [str(u["member"].id)]})
    assert resp.status_code == 400 and "ne peut pas précéder" in resp.get_data(as_text=True)
    assert count(Adoption) == 0
    # service-level check: a nurse cannot be named delegating physician
    with pytest.raises(svc.ProtocolError):
        svc.adopt(setup.team, "PC_CYSTITE", adopted_on=date(2025, 1, 1), ars_declared_on=None,
                  delegating_ids=[u["coordinator"].id], delegated_ids=[u["member"].id], actor=u["admin"])
    db.session.rollback()
    resp = f.post_form(client, url, {"adopted_on": "2025-01-01", "ars_declared_on": "2025-01-15",
                                     "delegating": [str(u["admin"].id)], "delegated": [str(u["member"].id)]})
    assert resp.status_code == 302
    adoption = db.session.execute(sa.select(Adoption)).scalar_one()
    assert adoption.user_ids("delegating") == [u["admin"].id] and adoption.user_ids("delegated") == [u["member"].id]
    assert client.get(url).status_code == 200
    resp = f.post_form(client, url, {"adopted_on": "2025-01-01", "delegating": [str(u["admin"].id)],
                                     "delegated": [str(u["member"].id)]})
    assert resp.status_code == 400 and "déjà adopté" in resp.get_data(as_text=True)


def test_training_attestation_required_before_acts(client, f, setup):
    u = setup.users
    adoption = adopt_cystite(setup, trained_on=None)
    patient = f.patient(setup.team, u["admin"], birth_date=date(1990, 5, 5), sex="F")
    inc = svc.include_patient(setup.team, patient, adoption=adoption, included_on=date(2025, 3, 1), criteria=None,
                              actor=u["member"])
    db.session.commit()
    f.login(client, u["admin"])
    inc_url = f"/protocoles/{setup.team.id}/inclusions/{inc.id}"
    act = {"performed_on": "2025-03-01", "professional_id": str(u["member"].id), "outcome": "pris_en_charge",
           "comment": "ok"}
    resp = f.post_form(client, f"{inc_url}/actes", act, form_url=inc_url)
    assert resp.status_code == 400 and "aucune attestation de formation" in resp.get_data(as_text=True)
    # an attestation dated after the act does not count
    ad_url = f"/protocoles/{setup.team.id}/cooperation/{adoption.id}"
    resp = f.post_form(client, f"{ad_url}/attestations", {"user_id": str(u["member"].id), "trained_on": "2025-04-01",
                                                          "organisation": "URPS", "hours": "10"}, form_url=ad_url)
    assert resp.status_code == 302
    resp = f.post_form(client, f"{inc_url}/actes", act, form_url=inc_url)
    assert resp.status_code == 400
    assert count(ProtocolAct) == 0
    # attestations are only for delegated professionals; hours must be positive
    resp = f.post_form(client, f"{ad_url}/attestations", {"user_id": str(u["physio"].id), "trained_on": "2025-01-01",
                                                          "organisation": "URPS", "hours": "10"}, form_url=ad_url)
    assert resp.status_code == 400
    resp = f.post_form(client, f"{ad_url}/attestations", {"user_id": str(u["member"].id), "trained_on": "2025-01-01",
                                                          "organisation": "URPS", "hours": "0"}, form_url=ad_url)
    assert resp.status_code == 400
    resp = f.post_form(client, f"{ad_url}/attestations", {"user_id": str(u["member"].id), "trained_on": "2025-01-01",
                                                          "organisation": "URPS", "hours": "10,5"},
                       form_url=ad_url)
    assert resp.status_code in (302, 400)
    if resp.status_code == 400:
        resp = f.post_form(client, f"{ad_url}/attestations", {"user_id": str(u["member"].id),
                                                              "trained_on": "2025-01-01", "organisation": "URPS",
                                                              "hours": "10.5"}, form_url=ad_url)
        assert resp.status_code == 302
    resp = f.post_form(client, f"{inc_url}/actes", act, form_url=inc_url)
    assert resp.status_code == 302 and count(ProtocolAct) == 1
    # a team member who is not a named delegate cannot act under the protocol
    act["professional_id"] = str(u["physio"].id)
    assert f.post_form(client, f"{inc_url}/actes", act, form_url=inc_url).status_code == 400
    assert count(ProtocolAct) == 1


def test_kine_protocol_requires_training_hours(f, setup):
    u = setup.users
    adoption = svc.adopt(setup.team, "PC_CHEVILLE", adopted_on=date(2025, 1, 1), ars_declared_on=None,
                         delegating_ids=[u["admin"].id], delegated_ids=[u["physio"].id], actor=u["admin"])
    with pytest.raises(svc.ProtocolError):
        svc.add_attestation(adoption, user_id=u["physio"].id, trained_on=date(2025, 1, 2), organisation="IFMK",
                            hours=6, actor=u["admin"])
    svc.add_attestation(adoption, user_id=u["physio"].id, trained_on=date(2025, 1, 2), organisation="IFMK",
                        hours=10, actor=u["admin"])
    db.session.commit()
    assert adoption.attestation_for(u["physio"].id, date(2025, 1, 2)) is not None


def test_acts_record_proto_meo_once_when_funded(f, setup, monkeypatch):
    u = setup.users
    calls = []

    def funded(team, action_type, on):
        calls.append((team.id, action_type, on))
        return on < date(2025, 3, 4)

    # the funding feature's grid decides; here a stub grid funds PROTO_MEO until 3 March 2025
    monkeypatch.setattr(funding_services, "is_action_funded", funded)
    adoption = adopt_cystite(setup)
    patient = f.patient(setup.team, u["admin"], birth_date=date(1990, 5, 5), sex="F")
    inc = svc.include_patient(setup.team, patient, adoption=adoption, included_on=date(2025, 3, 1), criteria="x",
                              actor=u["member"])
    act = svc.record_act(setup.team, inc, patient, performed_on=date(2025, 3, 2), professional_id=u["member"].id,
                         outcome="pris_en_charge", comment=None, actor=u["member"])
    db.session.commit()
    entries = db.session.execute(sa.select(LedgerEntry).where(LedgerEntry.action_type == "PROTO_MEO")).scalars().all()
    assert [(e.user_id, e.source_type, e.source_id, e.patient_count) for e in entries] == [
        (u["member"].id, "protocol_act", act.id, 1)]
    svc._ledger(setup.team, u["member"].id, "PROTO_MEO", date(2025, 3, 2), source_type="protocol_act",
                source_id=act.id, actor=None, patient_count=1)
    db.session.commit()
    assert db.session.execute(sa.select(sa.func.count()).select_from(LedgerEntry).where(
        LedgerEntry.action_type == "PROTO_MEO")).scalar() == 1

    # The funding grid says no: the act is recorded, the ledger entry is not.
    svc.record_act(setup.team, inc, patient, performed_on=date(2025, 3, 5), professional_id=u["member"].id,
                   outcome="orientation_medecin", comment=None, actor=u["member"])
    db.session.commit()
    assert calls == [(setup.team.id, "PROTO_MEO", date(2025, 3, 2)), (setup.team.id, "PROTO_MEO", date(2025, 3, 5))]
    assert count(ProtocolAct) == 2
    assert db.session.execute(sa.select(sa.func.count()).select_from(LedgerEntry).where(
        LedgerEntry.action_type == "PROTO_MEO")).scalar() == 1


def test_team_protocol_acts_and_end(client, f, setup):
    from tests.protocols.conftest import make_protocol

    u = setup.users
    protocol = make_protocol(setup, validate=True)
    patient = f.patient(setup.team, u["admin"], birth_date=date(1944, 2, 9), sex="M")
    f.login(client, u["coordinator"])
    url = f"/protocoles/{setup.team.id}/inclusions/nouvelle"
    resp = f.post_form(client, url, {"target": f"p:{protocol.id}", "patient_id": str(patient.id),
                                     "included_on": "2025-04-01", "criteria": "Fluindione depuis 2019"})
    assert resp.status_code == 302
    # twice in the same protocol is refused
    resp = f.post_form(client, url, {"target": f"p:{protocol.id}", "patient_id": str(patient.id),
                                     "included_on": "2025-04-02"})
    assert resp.status_code == 400 and "déjà inclus" in resp.get_data(as_text=True)
    inc = db.session.execute(sa.select(Inclusion)).scalar_one()
    inc_url = f"/protocoles/{setup.team.id}/inclusions/{inc.id}"
    resp = f.post_form(client, f"{inc_url}/actes", {"performed_on": "2025-04-03", "professional_id": str(
        u["physio"].id), "outcome": "orientation_medecin", "comment": "INR 4,2"}, form_url=inc_url)
    assert resp.status_code == 302
    resp = f.post_form(client, f"{inc_url}/actes", {"performed_on": "2025-03-01", "professional_id": str(
        u["physio"].id), "outcome": "pris_en_charge"}, form_url=inc_url)
    assert resp.status_code == 400 and "ne peut pas précéder l&#39;inclusion" in resp.get_data(as_text=True)
    resp = f.post_form(client, f"{inc_url}/fin", {"ended_on": "2025-04-02"}, form_url=inc_url)
    assert resp.status_code == 400  # acts after this end date
    resp = f.post_form(client, f"{inc_url}/fin", {"ended_on": "2025-05-01", "reason": "Relais clinique AVK"},
                       form_url=inc_url)
    assert resp.status_code == 302
    page = client.get(inc_url).get_data(as_text=True)
    assert "Relais clinique AVK" in page and "INR 4,2" in page and "Orientation vers le médecin" in page
    resp = f.post_form(client, f"{inc_url}/actes", {"performed_on": "2025-05-02", "professional_id": str(
        u["physio"].id), "outcome": "pris_en_charge"}, form_url=f"/protocoles/{setup.team.id}/")
    assert resp.status_code == 400 and count(ProtocolAct) == 1


def test_draft_protocol_refuses_inclusions(f, setup):
    from tests.protocols.conftest import make_protocol

    protocol = make_protocol(setup)
    patient = f.patient(setup.team, setup.users["admin"])
    with pytest.raises(svc.ProtocolError):
        svc.include_patient(setup.team, patient, protocol=protocol, included_on=date(2025, 1, 1), criteria=None,
                            actor=setup.users["admin"])
