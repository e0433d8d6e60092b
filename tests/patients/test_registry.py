from datetime import date

import sqlalchemy as sa

from esp_coord.core.audit import AuditEvent
from esp_coord.core.extensions import db
from esp_coord.patients.access import identity
from esp_coord.patients.models import Patient
from esp_coord.patients.services import ins_is_valid, search_patients

VALID_INS = "255081416802538"  # INSEE example NIR: key 97 - (2550814168025 mod 97) = 38


def test_ins_key_check():
    assert ins_is_valid(VALID_INS)
    assert not ins_is_valid("255081416802539")  # wrong key
    assert not ins_is_valid("25508141680253")  # 14 characters
    assert ins_is_valid("255082A16802" + "5" + f"{97 - int('2550819168025') % 97:02d}")  # Corsica 2A -> 19
    assert not ins_is_valid("955081416802538")  # sex digit


def test_create_patient_through_form(app, client, f):
    team, _other, users = f.team_with_roles()
    f.login(client, users["member"])
    url = f"/patients/{team.id}/nouveau"
    resp = f.post_form(client, url, {
        "birth_name": "Lefèvre", "usage_name": "", "first_names": "Jeanne Marie", "birth_date": "1950-02-03",
        "sex": "F", "ins": "2 55 08 14 168 025 38", "commune": "Clisson", "gp_member_id": str(users["admin"].id),
        "gp_free_text": "", "follower_ids": [str(users["member"].id), str(users["coordinator"].id)],
    })
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    patient = db.session.execute(sa.select(Patient).where(Patient.team_id == team.id)).scalar_one()
    ident = identity(patient)
    assert ident.ins == VALID_INS and ident.commune == "Clisson" and ident.birth_date == date(1950, 2, 3)
    assert patient.gp_member_id == users["admin"].id
    assert {fl.user_id for fl in patient.followers} == {users["member"].id, users["coordinator"].id}
    page = client.get(resp.headers["Location"])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "LEFÈVRE Jeanne Marie" in html
    title = html.split("<title>")[1].split("</title>")[0]
    assert "LEF" not in title.upper() and "Jeanne" not in title


def test_invalid_patient_form_rerenders_400(app, client, f):
    team, _other, users = f.team_with_roles()
    f.login(client, users["member"])
    resp = f.post_form(client, f"/patients/{team.id}/nouveau", {
        "birth_name": "Petit", "first_names": "Paul", "birth_date": "1950-02-03", "sex": "M",
        "ins": "255081416802539", "gp_member_id": ""})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "clé valide" in html and 'value="Petit"' in html
    assert db.session.execute(sa.select(sa.func.count()).select_from(Patient)).scalar() == 0


def test_search_by_prefix_accent_and_birth_date(app, client, f):
    team, other, users = f.team_with_roles()
    a = f.patient(team, users["admin"], birth_name="Lefèvre", first_names="Élodie", birth_date=date(1980, 1, 2))
    b = f.patient(team, users["admin"], birth_name="Lebrun", first_names="Paul", birth_date=date(1980, 1, 2))
    f.patient(other, users["outsider"], birth_name="Lefèvre", first_names="Élodie", birth_date=date(1980, 1, 2))
    assert [p.id for p in search_patients(team, "lefe")] == [a.id]
    assert [p.id for p in search_patients(team, "ELODIE lefevre")] == [a.id]
    assert {p.id for p in search_patients(team, "le")} == {a.id, b.id}
    assert {p.id for p in search_patients(team, None, date(1980, 1, 2))} == {a.id, b.id}
    assert search_patients(team, "dupont") == []
    f.login(client, users["member"])
    html = f.post_form(client, f"/patients/{team.id}/", {"q": "léf", "dob": "1980-01-02"}).get_data(as_text=True)
    assert "LEFÈVRE Élodie" in html and "LEBRUN" not in html
    assert db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "patient.search")).scalars().first()


def test_index_picker_and_redirect(app, client, f):
    team, other, users = f.team_with_roles()
    f.login(client, users["member"])
    resp = client.get("/patients/")
    assert resp.status_code == 302 and str(team.id) in resp.headers["Location"]
    f.member(other, users["member"], "member")
    resp = client.get("/patients/")
    assert resp.status_code == 200 and other.name in resp.get_data(as_text=True)


def test_edit_identity_updates_index(app, client, f):
    team, _other, users = f.team_with_roles()
    p = f.patient(team, users["admin"], birth_name="Durand", first_names="Marie")
    f.login(client, users["member"])
    url = f"/patients/{team.id}/{p.id}/modifier"
    resp = f.post_form(client, url, {"birth_name": "Durand", "usage_name": "Moreau", "first_names": "Marie",
                                     "birth_date": "1948-03-14", "sex": "F", "gp_member_id": "",
                                     "gp_free_text": "Dr Hamon"})
    assert resp.status_code == 302
    assert [x.id for x in search_patients(team, "more")] == [p.id]
    assert identity(db.session.get(Patient, p.id)).gp_free_text == "Dr Hamon"
