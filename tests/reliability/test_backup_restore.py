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

from esp_coord.ops.backup import RestoreReport, check_restored_data
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

            from esp_coord.core.extensions import db

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


def test_backup_taken_while_a_writer_runs_is_consistent(request, tmp_path, engine):
    """Online backup under load: the restored copy has a whole, verifiable audit chain (no torn transaction)."""
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import TEST_SECRETS
    from tests.reliability.test_crash_audit import WRITER

    url = new_database_url(request, tmp_path, engine, "source")
    src = isolated_app(url)
    with context(src):
        created = populate(src)
    dispose(src)
    ready = tmp_path / "ready"
    env = {**os.environ, "ESP_CRASH_CONFIG": json.dumps({**TEST_SECRETS, "SQLALCHEMY_DATABASE_URI": url})}
    child = subprocess.Popen([sys.executable, "-c", WRITER, "7", str(ready)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline
            time.sleep(0.02)
        archive = tmp_path / "en-charge.tar.gz"
        result = src.test_cli_runner().invoke(args=["backup", str(archive)])
        assert result.exit_code == 0, result.output
        assert child.poll() is None  # the writer was still writing during the backup
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stderr.close()
    dispose(src)
    dst = isolated_app(new_database_url(request, tmp_path, engine, "cible"), create_schema=False)
    result = dst.test_cli_runner().invoke(args=["restore", str(archive)])
    assert result.exit_code == 0, result.output
    with context(dst):
        import sqlalchemy as sa

        from esp_coord.core.audit import AuditEvent, AuditHead, verify_chain
        from esp_coord.core.extensions import db

        check = verify_chain()
        assert check.ok, check
        head = db.session.get(AuditHead, 1)
        assert check.checked == head.last_seq
        assert db.session.execute(sa.select(sa.func.count()).select_from(AuditEvent)
                                  .where(AuditEvent.action == "crash.test")).scalar_one() >= 25
        assert "UNREADABLE" not in decrypted_snapshot().values()
        assert sum(1 for k in decrypted_snapshot() if k[0] == "task") == created["tasks"]
    dispose(dst)
