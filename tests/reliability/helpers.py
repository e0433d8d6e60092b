"""Shared helpers for reliability tests: isolated apps on their own database (SQLite file or PostgreSQL)."""

from __future__ import annotations

import contextlib
import uuid

import pytest
import sqlalchemy as sa

ENGINES = ["sqlite", "postgres"]


def new_database_url(request, tmp_path, engine: str, name: str) -> str:
    if engine == "sqlite":
        return f"sqlite:///{tmp_path / (name + '.db')}"
    cluster = request.getfixturevalue("pg_cluster")
    return cluster.new_database(f"{name}_{uuid.uuid4().hex[:8]}")


def isolated_app(url: str, *, create_schema: bool = True, **overrides):
    from esp_coord.core.extensions import db
    from tests.conftest import make_app

    app = make_app(url, **overrides)
    import esp_coord.models  # noqa: F401

    if create_schema:
        with app.app_context():
            db.create_all()
            from esp_coord.reference import ensure_all_reference_data

            ensure_all_reference_data()
            db.session.commit()
    return app


@contextlib.contextmanager
def context(app):
    from esp_coord.core.extensions import db

    with app.app_context():
        try:
            yield
        finally:
            db.session.rollback()
            db.session.remove()


def dispose(app) -> None:
    from esp_coord.core.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def encrypted_columns():
    """(table, column) for every `*_enc` column of a table that can name its patient."""
    from esp_coord.core.extensions import db

    out = []
    for table in db.metadata.sorted_tables:
        if "patient_id" not in table.c and table.name != "patient":
            continue
        for column in table.c:
            if column.name.endswith("_enc") and isinstance(column.type, sa.LargeBinary):
                out.append((table, column))
    return out


def decrypted_snapshot() -> dict:
    """{(table, column, row id): plaintext or 'UNREADABLE'} for every encrypted value in the database."""
    from esp_coord.core.extensions import db
    from esp_coord.patients.crypto_service import UnreadableData, decrypt_text

    snapshot = {}
    for table, column in encrypted_columns():
        pid_col = table.c.id if table.name == "patient" else table.c.patient_id
        rows = db.session.execute(sa.select(table.c.id, pid_col.label("pid"), column)
                                  .where(column.is_not(None))).all()
        for row_id, pid, blob in rows:
            try:
                value = decrypt_text(pid, table.name, column.name[:-4], row_id, blob)
            except UnreadableData:
                value = "UNREADABLE"
            snapshot[(table.name, column.name, str(row_id))] = value
    return snapshot


def table_dump() -> dict:
    """Every row of every table (ordered by primary key) — a byte-for-byte comparison of contents."""
    from esp_coord.core.extensions import db

    out = {}
    for table in db.metadata.sorted_tables:
        order = list(table.primary_key.columns) or list(table.c)
        rows = db.session.execute(sa.select(table).order_by(*order)).all()
        out[table.name] = [tuple(r) for r in rows]
    return out


def skip_if_no_pg(engine: str):
    from tests.pg import pg_available

    if engine == "postgres" and not pg_available():
        pytest.skip("PostgreSQL absent")


PATIENTS = [
    dict(birth_name="DURAND", first_names="Marie Élodie", sex="F", usage_name="LEFÈVRE", ins="2 48 03 44 109 001 23",
         commune="Clisson", gp_free_text="Dr Ménard (hors équipe)"),
    dict(birth_name="N'GUYEN-Ōtsuka", first_names="Zoë", sex="F"),
    dict(birth_name="MARTIN", first_names="Jean-Noël", sex="M", commune="Gétigné"),
    dict(birth_name="O'BRIEN", first_names="Seán 🩺", sex="I"),
    dict(birth_name="ÇELIK", first_names="Ayşe", sex="F", usage_name="BERNARD"),
]


def populate(app) -> dict:
    """Team, patients (real service), encrypted task details and notes when the notes service exists."""
    from datetime import date

    from esp_coord.core.extensions import db
    from esp_coord.tasks.services import create_task
    from tests.factories import Factories

    f = Factories(app)
    team = f.team("Équipe sauvegarde")
    admin = f.user("medecin_generaliste")
    f.member(team, admin, "admin")
    created = {"patients": 0, "tasks": 0, "notes": 0}
    patients = []
    for i, data in enumerate(PATIENTS):
        patient = f.patient(team, admin, birth_date=date(1940 + i, 1 + i, 10 + i), **data)
        patients.append(patient)
        created["patients"] += 1
        create_task(team_id=team.id, owner_id=admin.id, title="Rappeler", patient_id=patient.id, actor=admin,
                    detail=f"Vérifier l'INR ({i}) — « allergie pénicilline » ✓")
        created["tasks"] += 1
    db.session.commit()
    try:
        from esp_coord.patients import services as patient_services

        add_note, edit_note = patient_services.add_note, patient_services.edit_note
        category = next(iter(patient_services.NOTE_CATEGORIES))
    except (ImportError, AttributeError, StopIteration):
        add_note = None
    if add_note is not None:
        for i, patient in enumerate(patients):
            note = add_note(patient, category=category, body=f"Note n°{i} : douleur thoracique, ECG à J+2 — é è ü",
                            actor=admin)
            created["notes"] += 1
            if i % 2 == 0:
                edit_note(note, category=category, body=f"Note n°{i} corrigée : ECG normal", actor=admin)
        db.session.commit()
    return created
