"""Patient data in protocols: encryption, audit, opposition, timeline and export hooks, demo."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from esp_coord.core import signals
from esp_coord.core.audit import AuditEvent
from esp_coord.core.extensions import db
from esp_coord.protocols import services as svc
from esp_coord.protocols.models import Inclusion, ProtocolAct
from tests.protocols.conftest import adopt_cystite


def include(f, setup):
    u = setup.users
    adoption = adopt_cystite(setup)
    patient = f.patient(setup.team, u["admin"], birth_name="SECRETNOM", birth_date=date(1990, 5, 5), sex="F")
    inc = svc.include_patient(setup.team, patient, adoption=adoption, included_on=date(2025, 3, 1),
                              criteria="Brûlures mictionnelles depuis 24 h", actor=u["member"])
    svc.record_act(setup.team, inc, patient, performed_on=date(2025, 3, 1), professional_id=u["member"].id,
                   outcome="orientation_medecin", comment="Fièvre : adressée au médecin", actor=u["member"])
    db.session.commit()
    return patient, inc


def test_patient_text_encrypted(f, setup):
    patient, inc = include(f, setup)
    raw = db.session.execute(sa.select(Inclusion.criteria_enc)).scalar_one()
    assert "Brûlures".encode() not in raw and b"mictionnelles" not in raw
    raw = db.session.execute(sa.select(ProtocolAct.comment_enc)).scalar_one()
    assert "Fièvre".encode() not in raw


def test_inclusion_page_audited_and_opposition(client, f, setup):
    from esp_coord.core.time import utc_now

    patient, inc = include(f, setup)
    url = f"/protocoles/{setup.team.id}/inclusions/{inc.id}"
    f.login(client, setup.users["admin"])
    page = client.get(url).get_data(as_text=True)
    assert "Brûlures mictionnelles depuis 24 h" in page and "Fièvre : adressée au médecin" in page
    assert "SECRETNOM" in page and "SECRETNOM" not in page.split("<title>")[1].split("</title>")[0]
    events = db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "protocol.inclusion.read")).scalars()
    assert [(e.patient_id, e.actor_id) for e in events] == [(patient.id, setup.users["admin"].id)]
    patient.opposed_at = utc_now()
    db.session.commit()
    page = client.get(url).get_data(as_text=True)
    assert "Brûlures mictionnelles" not in page and "s&#39;est opposé" in page
    # the author still sees their own text
    f.login(client, setup.users["member"])
    assert "Brûlures mictionnelles" in client.get(url).get_data(as_text=True)


def test_other_team_cannot_see_inclusion(client, f, setup):
    patient, inc = include(f, setup)
    f.login(client, setup.users["outsider"])
    assert client.get(f"/protocoles/{setup.team.id}/inclusions/{inc.id}").status_code == 404
    assert client.get(f"/protocoles/{setup.other.id}/inclusions/{inc.id}").status_code == 404
    assert client.get(f"/protocoles/{setup.team.id}/patients/{patient.id}").status_code == 404


def test_timeline_and_export_hooks(app, f, setup):
    patient, inc = include(f, setup)
    with app.test_request_context():
        items = [i for i in signals.collect(signals.patient_timeline, patient, viewer=setup.users["admin"])
            if i.kind == "protocol"]
        assert len(items) == 2 and all("Cystite" in i.title and str(inc.id) in i.url for i in items)
        assert "Inclus dans le protocole" in items[0].title
        sections = [s for s in signals.collect(signals.patient_export, patient) if s.get("key") == "protocols"]
    assert len(sections) == 1
    entry = sections[0]["items"][0]
    assert entry["criteres"] == "Brûlures mictionnelles depuis 24 h"
    assert entry["actes"][0]["resultat"] == "Orientation vers le médecin"
    assert entry["actes"][0]["commentaire"] == "Fièvre : adressée au médecin"


def test_patient_page(client, f, setup):
    patient, inc = include(f, setup)
    f.login(client, setup.users["coordinator"])
    page = client.get(f"/protocoles/{setup.team.id}/patients/{patient.id}").get_data(as_text=True)
    assert "Cystite" in page
    form = client.get(f"/protocoles/{setup.team.id}/inclusions/nouvelle?patient={patient.id}").get_data(as_text=True)
    assert "SECRETNOM" in form


def test_demo_seed(app, f):
    import random

    from esp_coord.demo import DemoContext
    from esp_coord.demo import protocols as demo
    from esp_coord.protocols.models import Adoption, Protocol

    team = f.team("ESP CLAP du Val de Sèvre")
    users = {k: f.user(p) for k, p in [("gp", "medecin_generaliste"), ("nurse", "infirmier"),
                                       ("pharmacist", "pharmacien")]}
    for key, user in users.items():
        f.member(team, user, "admin" if key == "gp" else "member")
    young = f.patient(team, users["gp"], birth_name="ROBIN", first_names="Inès", birth_date=date(1997, 4, 17))
    from esp_coord.core.time import today_paris

    ctx = DemoContext(seed=1, scale="team", echo=lambda *a: None, today=today_paris(), rng=random.Random(1),
                      users=users, teams={"clap": team}, data={"patients": {"young_woman": young}})
    demo.seed(ctx)
    db.session.commit()
    avk = db.session.execute(sa.select(Protocol)).scalar_one()
    assert avk.title == "Suivi des patients sous AVK" and avk.status == "validated"
    assert {r.profession_code for r in avk.roles} == {"medecin_generaliste", "infirmier", "pharmacien"}
    adoption = db.session.execute(sa.select(Adoption)).scalar_one()
    assert adoption.cooperation_code == "PC_CYSTITE" and adoption.attestation_for(users["pharmacist"].id)
    row = {r.code: r for r in svc.indicators(team, today_paris().year)}["PC_CYSTITE"]
    assert row.acts == 3 and row.referred == 1 and row.acts_by_profession == {"pharmacien": 3}


def test_timeline_lists_acts_and_dashboard_panel(app, f, setup):
    from esp_coord.protocols.models import Protocol

    patient, inc = include(f, setup)
    with app.test_request_context():
        titles = [i.title for i in signals.collect(signals.patient_timeline, patient, viewer=setup.users["admin"])
                  if i.kind == "protocol"]
    assert any("Orientation vers le médecin" in t for t in titles)
    # the nurse is a named delegate without attestation; a protocol is due for review
    from tests.protocols.conftest import make_protocol

    make_protocol(setup, validate=True)
    p = db.session.execute(sa.select(Protocol)).scalar_one()
    from esp_coord.core.time import today_paris

    p.next_review_on = today_paris()
    db.session.commit()
    with app.test_request_context():
        panels = svc.dashboard_panels(setup.users["coordinator"])
        assert len(panels) == 1
        labels = [label for label, _url, _detail in panels[0]["items"]]
        assert labels == ["Suivi des patients sous AVK", "Cystite"]
        assert svc.dashboard_panels(setup.users["outsider"]) == []
