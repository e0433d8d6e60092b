"""`esp-coord backup` / `esp-coord restore` round trip on SQLite and PostgreSQL.

Every encrypted value (patient identity, task details, notes and note versions when present) is
decrypted before the backup and after the restore into a fresh database, and compared; every table's
rows are compared too. The restore refuses a non-empty target without --force and a wrong keyring.
"""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from esp_coord.backup import RestoreReport, check_restored_data
from tests.conftest import TEST_MASTER_KEYS
from tests.reliability.helpers import (
    ENGINES,
    context,
    decrypted_snapshot,
    dispose,
    isolated_app,
    new_database_url,
    populate,
    table_dump,
)


@pytest.fixture(params=ENGINES)
def engine(request):
    return request.param


def _backup(app, tmp_path):
    archive, keyfile = tmp_path / "sauvegarde.tar.gz", tmp_path / "coffre" / "keyring.json"
    keyfile.parent.mkdir()
    result = app.test_cli_runner().invoke(args=["backup", str(archive), "--keys-out", str(keyfile)])
    assert result.exit_code == 0, result.output
    return archive, keyfile, result.output


def test_round_trip_compares_every_decrypted_value(request, tmp_path, engine):
    src = isolated_app(new_database_url(request, tmp_path, engine, "source"))
    with context(src):
        created = populate(src)
        expected = decrypted_snapshot()
        expected_rows = table_dump()
        from esp_coord.core.audit import verify_chain

        assert verify_chain().ok
    archive, keyfile, output = _backup(src, tmp_path)
    dispose(src)
    assert "aucune clé maîtresse" in output
    assert stat.S_IMODE(os.stat(archive).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(keyfile).st_mode) == 0o600
    written = json.loads(keyfile.read_text())
    configured = json.loads(TEST_MASTER_KEYS)
    assert written["current"] == configured["current"] and written["keys"] == configured["keys"]

    # what we compare is really there: identities (8 fields, some empty), task details, notes (+ versions)
    values = [v for v in expected.values()]
    assert "UNREADABLE" not in values
    assert sum(1 for k in expected if k[0] == "task") == created["tasks"]
    assert sum(1 for k in expected if k[0] == "patient" and k[1] == "birth_name_enc") == created["patients"]
    if created["notes"]:
        assert sum(1 for k in expected if k[0] == "patient_note") == created["notes"]
        assert any(k[0] == "patient_note_version" for k in expected)
    assert "Zoë" in values and "Seán 🩺" in values

    dst = isolated_app(new_database_url(request, tmp_path, engine, "cible"), create_schema=False)
    result = dst.test_cli_runner().invoke(args=["restore", str(archive)])
    assert result.exit_code == 0, result.output
    assert f"Patients : {created['patients']} ({created['patients']} identités déchiffrées, 0 illisibles" \
        in result.output
    assert "OK : toutes les identités" in result.output
    with context(dst):
        assert decrypted_snapshot() == expected
        assert table_dump() == expected_rows
        from esp_coord.core.audit import verify_chain

        assert verify_chain().ok

    # the target now holds data: refused without --force, accepted with it
    again = dst.test_cli_runner().invoke(args=["restore", str(archive)])
    assert again.exit_code != 0 and "--force" in again.output
    forced = dst.test_cli_runner().invoke(args=["restore", "--force", str(archive)])
    assert forced.exit_code == 0, forced.output
    with context(dst):
        assert decrypted_snapshot() == expected
    dispose(dst)


def test_wrong_keyring_is_refused_before_touching_the_target(request, tmp_path, engine):
    src = isolated_app(new_database_url(request, tmp_path, engine, "source"))
    with context(src):
        populate(src)
    archive, _keyfile, _ = _backup(src, tmp_path)
    dispose(src)
    other_key = base64.b64encode(os.urandom(32)).decode()
    for keyring, word in (({"current": "t1", "keys": {"t1": other_key}}, "différente"),
                          ({"current": "k9", "keys": {"k9": other_key}}, "absente")):
        dst = isolated_app(new_database_url(request, tmp_path, engine, "cible"), create_schema=False,
                           MASTER_KEYS=json.dumps(keyring))
        result = dst.test_cli_runner().invoke(args=["restore", str(archive)])
        assert result.exit_code != 0
        assert "ne correspond pas à la sauvegarde" in result.output and word in result.output
        with context(dst):
            import sqlalchemy as sa

            from esp_coord.extensions import db

            assert sa.inspect(db.engine).get_table_names() == []  # nothing restored
        dispose(dst)


def test_post_restore_check_reports_undecryptable_identities(request, tmp_path, engine):
    src = isolated_app(new_database_url(request, tmp_path, engine, "source"))
    with context(src):
        created = populate(src)
        report = check_restored_data(RestoreReport(engine=engine, manifest={}))
        assert report.ok and report.readable == created["patients"]
        # same key id, other bytes: as if the operator configured the wrong keyring
        src.config["MASTER_KEYS"] = {"current": "t1", "keys": {"t1": os.urandom(32)}, "raw_values": set()}
        src.extensions.pop("esp_coord_keks", None)
        from flask import g

        g.pop("esp_dek_cache", None)
        report = check_restored_data(RestoreReport(engine=engine, manifest={}))
        assert not report.ok
        assert report.unreadable == created["patients"] and report.readable == 0
        assert report.data_keys_unreadable == report.data_keys == created["patients"]
    dispose(src)
