"""`esp-coord keys rotate` killed with SIGKILL mid-way, then rerun: every note readable with the new
master key alone (the old one removed from the keyring)."""

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from esp_coord.core.extensions import db
from esp_coord.patients import services
from esp_coord.patients.access import identity
from esp_coord.patients.crypto_service import forget_cached_keys
from esp_coord.patients.key_store import PatientKey
from esp_coord.patients.models import Patient, PatientNote

CLI = str(Path(sys.executable).with_name("esp-coord"))


def _env(app, ring: dict) -> dict:
    env = dict(os.environ)
    env.update({
        "ESP_COORD_ENV": "testing",
        "ESP_COORD_SECRET_KEY": app.config["SECRET_KEY"],
        "ESP_COORD_INDEX_KEY": app.config["INDEX_KEY"],
        "ESP_COORD_MASTER_KEYS": json.dumps({"current": ring["current"], "keys": {
            k: base64.b64encode(v).decode() for k, v in ring["keys"].items()}}),
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
    })
    return env


def _use_keyring(app, ring):
    app.config["MASTER_KEYS"] = ring
    app.extensions.pop("esp_coord_keks", None)
    forget_cached_keys()


def _counts():
    return dict(db.session.execute(sa.select(PatientKey.master_key_id, sa.func.count())
                                   .group_by(PatientKey.master_key_id)).all())


def test_rotation_killed_then_rerun_needs_only_the_new_key(app, f):
    team, _other, users = f.team_with_roles()
    expected = {}
    for i in range(8):
        p = f.patient(team, users["admin"], birth_name=f"Rotation{i}", first_names="Test")
        note = services.add_note(p, category="clinical", body=f"note secrète {i}", actor=users["member"])
        expected[note.id] = f"note secrète {i}"
    db.session.commit()
    original = app.config["MASTER_KEYS"]
    old_id = original["current"]
    new_key = secrets.token_bytes(32)
    both = {"current": "r2", "keys": {old_id: original["keys"][old_id], "r2": new_key}, "raw_values": set()}
    try:
        proc = subprocess.Popen([CLI, "keys", "rotate", "--batch-size", "1", "--pause", "0.5"],
                                env=_env(app, both), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("lot 2 "):
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, (seen, proc.stderr.read())
        db.session.expire_all()
        partial = _counts()
        assert partial.get("r2", 0) >= 2 and partial.get(old_id, 0) >= 1, partial  # really stopped mid-way

        # the app keeps working mid-rotation (both keys configured)
        _use_keyring(app, both)
        assert all(services.note_text(n) == expected[n.id] for n in db.session.execute(
            sa.select(PatientNote)).scalars())

        rerun = subprocess.run([CLI, "keys", "rotate", "--batch-size", "3"], env=_env(app, both),
                               capture_output=True, text=True, timeout=60)
        assert rerun.returncode == 0, rerun.stderr
        assert "0 restante(s)" in rerun.stdout
        again = subprocess.run([CLI, "keys", "rotate"], env=_env(app, both), capture_output=True, text=True,
                               timeout=60)
        assert again.returncode == 0 and "Terminé : 0 clé(s)" in again.stdout  # idempotent
        db.session.expire_all()
        assert _counts() == {"r2": 8}

        # the old master key is removed from the keyring: everything still decrypts
        _use_keyring(app, {"current": "r2", "keys": {"r2": new_key}, "raw_values": set()})
        db.session.expire_all()
        for note in db.session.execute(sa.select(PatientNote)).scalars():
            assert services.note_text(note) == expected[note.id]
        for patient in db.session.execute(sa.select(Patient)).scalars():
            assert identity(patient).readable and identity(patient).birth_name.startswith("Rotation")
        out = app.test_cli_runner().invoke(args=["keys", "status"]).output
        assert "r2 (courante) : 8" in out and "Aucune rotation en attente" in out
    finally:
        _use_keyring(app, original)
