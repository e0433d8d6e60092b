from esp_coord.patients.access import identity


def test_patient_identity_is_encrypted_and_readable(app, f):
    team, _other, users = f.team_with_roles()
    p = f.patient(team, users["coordinator"], birth_name="Lefèvre", first_names="Jeanne")
    assert b"Lef" not in (p.birth_name_enc or b"")
    assert identity(p).display_name == "LEFÈVRE Jeanne"
