"""Field encryption bound to a patient's data key — the API every feature uses for patient text.

    blob = encrypt_text(patient_id, "note", "body", note.id, "texte")
    text = decrypt_text(patient_id, "note", "body", note.id, blob)     # raises UnreadableData
    text = read_text(patient_id, "note", "body", note.id, blob)        # "donnée illisible" + audit

Row ids must exist before encrypting (UUID primary keys are generated client-side: set
`obj.id = uuid.uuid4()` before calling). Data keys are cached per request in flask.g.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask import g, has_app_context

from esp_coord.core import audit, crypto, keys
from esp_coord.core.crypto import UnreadableData
from esp_coord.core.time import utc_now
from esp_coord.extensions import db
from esp_coord.patients.models import PatientKey

UNREADABLE = "donnée illisible"

__all__ = ["UNREADABLE", "UnreadableData", "decrypt_text", "encrypt_text", "read_text", "create_patient_key"]


def _key_aad(patient_id, version: int) -> bytes:
    return f"patient_key:{patient_id}:{version}:v1".encode()


def _cache() -> dict:
    if not has_app_context():
        return {}
    if "esp_dek_cache" not in g:
        g.esp_dek_cache = {}
    return g.esp_dek_cache


def create_patient_key(patient_id: uuid.UUID) -> PatientKey:
    dek = crypto.new_data_key()
    master_id = keys.current_master_id()
    row = PatientKey(
        patient_id=patient_id,
        version=1,
        master_key_id=master_id,
        wrapped_dek=crypto.wrap_key(keys.kek(master_id), dek, _key_aad(patient_id, 1)),
        created_at=utc_now(),
    )
    db.session.add(row)
    _cache()[(patient_id, 1)] = dek
    return row


def data_key(patient_id: uuid.UUID, version: int | None = None) -> tuple[int, bytes]:
    cache = _cache()
    if version is not None and (patient_id, version) in cache:
        return version, cache[(patient_id, version)]
    stmt = sa.select(PatientKey).where(PatientKey.patient_id == patient_id)
    stmt = stmt.where(PatientKey.version == version) if version is not None else stmt.order_by(
        PatientKey.version.desc()).limit(1)
    row = db.session.execute(stmt).scalars().first()
    if row is None:
        raise UnreadableData("data key destroyed or missing")
    dek = crypto.unwrap_key(keys.kek(row.master_key_id), row.wrapped_dek, _key_aad(patient_id, row.version))
    cache[(patient_id, row.version)] = dek
    return row.version, dek


def encrypt_text(patient_id, table: str, column: str, row_id, text: str | None) -> bytes | None:
    if text is None:
        return None
    version, dek = data_key(patient_id)
    return crypto.encrypt(dek, version, text.encode("utf-8"), crypto.aad_for(table, column, row_id, patient_id))


def decrypt_text(patient_id, table: str, column: str, row_id, blob: bytes | None) -> str | None:
    if blob is None:
        return None
    version = crypto.blob_dek_version(blob)
    _, dek = data_key(patient_id, version)
    return crypto.decrypt(dek, blob, crypto.aad_for(table, column, row_id, patient_id)).decode("utf-8")


def read_text(patient_id, table: str, column: str, row_id, blob: bytes | None, *, team_id=None) -> str | None:
    """Decrypt for display: a damaged ciphertext gives UNREADABLE and an audit event, never a 500."""
    try:
        return decrypt_text(patient_id, table, column, row_id, blob)
    except UnreadableData:
        audit.record("crypto.unreadable", team_id=team_id, patient_id=patient_id, object_type=table,
                     object_id=row_id, outcome="failure", details={"column": column})
        return UNREADABLE
