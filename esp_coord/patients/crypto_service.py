"""Field encryption bound to a patient's data key — the API every feature uses for patient text.

    blob = encrypt_text(patient_id, "note", "body", note.id, "texte")
    text = decrypt_text(patient_id, "note", "body", note.id, blob)     # raises UnreadableData
    text = read_text(patient_id, "note", "body", note.id, blob)        # "donnée illisible" + audit

Row ids must exist before encrypting (UUID primary keys are generated client-side: set
`obj.id = uuid.uuid4()` before calling). Data keys are cached per request in flask.g.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, overload

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import g, has_app_context

from esp_coord.core import audit, crypto, keys
from esp_coord.core.crypto import UnreadableData
from esp_coord.core.extensions import db
from esp_coord.core.time import utc_now
from esp_coord.patients.key_store import PatientKey

UNREADABLE = "donnée illisible"

__all__ = ["UNREADABLE", "EncryptedBytes", "EncryptedText", "UnreadableData", "create_patient_key",
           "decrypt_bytes", "decrypt_text",
           "destroy_patient_keys", "encrypt_bytes", "encrypt_text", "forget_cached_keys", "key_status",
           "prefetch_keys", "read_text", "rewrap_batch"]


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


def prefetch_keys(patient_ids) -> None:
    """Unwrap the data keys of many patients with one query per 500 (list pages: patients list, PPS dashboard…),
    filling the per-request cache that `data_key` reads; missing or destroyed keys stay missing (→ "illisible")."""
    cache = _cache()
    if not has_app_context():
        return
    ids = list(dict.fromkeys(pid for pid in patient_ids if pid is not None))
    for i in range(0, len(ids), 500):
        rows = db.session.execute(sa.select(PatientKey).where(PatientKey.patient_id.in_(ids[i:i + 500]))).scalars()
        for row in rows:
            if (row.patient_id, row.version) not in cache:
                cache[(row.patient_id, row.version)] = crypto.unwrap_key(
                    keys.kek(row.master_key_id), row.wrapped_dek, _key_aad(row.patient_id, row.version))


def _aead(patient_id, version: int | None = None):
    """(version, AESGCM) for a patient's data key, built once per request (the key schedule is the
    costly part of an AES-GCM call on short texts; see docs/benchmarks/patients.md)."""
    version, dek = data_key(patient_id, version)
    cache = _cache()
    aead = cache.get(("aead", patient_id, version))
    if aead is None or aead[0] is not dek:
        aead = (dek, AESGCM(dek))
        if has_app_context():
            cache[("aead", patient_id, version)] = aead
    return version, aead[1]


def encrypt_text(patient_id, table: str, column: str, row_id, text: str | None) -> bytes | None:
    if text is None:
        return None
    version, aead = _aead(patient_id)
    return crypto.encrypt(aead, version, text.encode("utf-8"), crypto.aad_for(table, column, row_id, patient_id))


def decrypt_text(patient_id, table: str, column: str, row_id, blob: bytes | None) -> str | None:
    if blob is None:
        return None
    version = crypto.blob_dek_version(blob)
    _, aead = _aead(patient_id, version)
    return crypto.decrypt(aead, blob, crypto.aad_for(table, column, row_id, patient_id)).decode("utf-8")


def read_text(patient_id, table: str, column: str, row_id, blob: bytes | None, *, team_id=None) -> str | None:
    """Decrypt for display: a damaged ciphertext gives UNREADABLE and an audit event, never a 500."""
    try:
        return decrypt_text(patient_id, table, column, row_id, blob)
    except UnreadableData:
        audit.record("crypto.unreadable", team_id=team_id, patient_id=patient_id, object_type=table,
                     object_id=row_id, outcome="failure", details={"column": column})
        return UNREADABLE


def forget_cached_keys(patient_id=None) -> None:
    """Drop cached data keys (all, or one patient's) — after erasure or a keyring change."""
    cache = _cache()
    for key in [k for k in cache if patient_id is None or patient_id in k]:
        cache.pop(key, None)
    if has_app_context() and "esp_identity_cache" in g:
        if patient_id is None:
            g.esp_identity_cache.clear()
        else:
            g.esp_identity_cache.pop(patient_id, None)


def destroy_patient_keys(patient_id) -> int:
    """Crypto-shredding: delete every data key of a patient. Its ciphertexts, wherever they live
    (this database, replicas, ciphertext exports), can no longer be decrypted, master key or not."""
    count = db.session.execute(sa.delete(PatientKey).where(PatientKey.patient_id == patient_id)).rowcount
    forget_cached_keys(patient_id)
    return count


def rewrap_batch(batch_size: int = 200) -> int:
    """Re-wrap up to `batch_size` data keys that are not under the current master key; returns how many.

    Each key is re-wrapped by one UPDATE guarded on its old master key id, so a crash (even kill -9) at
    any point leaves every row either fully old or fully new, and a rerun simply continues: idempotent."""
    current = keys.current_master_id()
    rows = db.session.execute(
        sa.select(PatientKey.id, PatientKey.patient_id, PatientKey.version, PatientKey.master_key_id,
                  PatientKey.wrapped_dek)
        .where(PatientKey.master_key_id != current).order_by(PatientKey.id).limit(batch_size)
    ).all()
    done = 0
    new_kek = keys.kek(current)
    for row in rows:
        aad = _key_aad(row.patient_id, row.version)
        dek = crypto.unwrap_key(keys.kek(row.master_key_id), row.wrapped_dek, aad)
        done += db.session.execute(
            sa.update(PatientKey)
            .where(PatientKey.id == row.id, PatientKey.master_key_id == row.master_key_id)
            .values(master_key_id=current, wrapped_dek=crypto.wrap_key(new_kek, dek, aad), rewrapped_at=utc_now())
        ).rowcount
    return done


def key_status() -> dict:
    """Data keys per master key id, and whether every key is under the current master key."""
    counts = dict(db.session.execute(
        sa.select(PatientKey.master_key_id, sa.func.count()).group_by(PatientKey.master_key_id)).all())
    current = keys.current_master_id()
    total = sum(counts.values())
    return {"current": current, "counts": counts, "total": total, "pending": total - counts.get(current, 0),
            "configured": sorted(keys.keyring()["keys"])}


def encrypt_bytes(patient_id, table: str, column: str, row_id, data: bytes | None) -> bytes | None:
    if data is None:
        return None
    version, aead = _aead(patient_id)
    return crypto.encrypt(aead, version, data, crypto.aad_for(table, column, row_id, patient_id))


def decrypt_bytes(patient_id, table: str, column: str, row_id, blob: bytes | None) -> bytes | None:
    if blob is None:
        return None
    version = crypto.blob_dek_version(blob)
    _, aead = _aead(patient_id, version)
    return crypto.decrypt(aead, blob, crypto.aad_for(table, column, row_id, patient_id))


class EncryptedText:
    """A patient-text attribute declared on a model; the ciphertext lives in ``<name>_enc``.

        class Note(Base):
            __tablename__ = "note"
            body_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
            body = EncryptedText()                      # note.body = "texte"; note.body -> "texte"

    The descriptor knows its context: table = the model's ``__tablename__``, column = the attribute name,
    row = ``obj.id`` (generated on first write when still None), patient = ``patient_of(obj)`` (default
    ``obj.patient_id``), team for the audit of unreadable data = ``team_of(obj)`` (default
    ``obj.team_id`` when the model has it). Reading a damaged ciphertext gives `UNREADABLE` and an audit
    row (`read_text`), never an exception; no call site spells a table or column name.
    """

    def __init__(self, *, patient_of: Callable[[Any], uuid.UUID] | None = None,
                 team_of: Callable[[Any], uuid.UUID | None] | None = None) -> None:
        self._patient_of = patient_of or (lambda obj: obj.patient_id)
        self._team_of = team_of or (lambda obj: getattr(obj, "team_id", None))
        self.name = ""
        self.column = ""
        self.table = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.column = f"{name}_enc"
        self.table = owner.__dict__.get("__tablename__") or getattr(owner, "__tablename__", "")

    def _context(self, obj: Any) -> tuple[uuid.UUID, str, str, Any]:
        return self._patient_of(obj), self.table, self.name, obj.id

    @overload
    def __get__(self, obj: None, owner: type) -> EncryptedText: ...
    @overload
    def __get__(self, obj: object, owner: type) -> str | None: ...

    def __get__(self, obj: object | None, owner: type) -> EncryptedText | str | None:
        if obj is None:
            return self
        blob = getattr(obj, self.column)
        if blob is None:
            return None
        return read_text(*self._context(obj), blob, team_id=self._team_of(obj))

    def __set__(self, obj: Any, value: str | None) -> None:
        if obj.id is None:
            obj.id = uuid.uuid4()
        setattr(obj, self.column, encrypt_text(*self._context(obj), value))

    def strict(self, obj: Any) -> str | None:
        """Decrypt or raise `UnreadableData` (exports and key rotation, where a damaged row must stop the job)."""
        return decrypt_text(*self._context(obj), getattr(obj, self.column))


class EncryptedBytes(EncryptedText):
    """Like `EncryptedText` for binary content (attachments): raises `UnreadableData` when damaged."""

    @overload  # type: ignore[override]
    def __get__(self, obj: None, owner: type) -> EncryptedBytes: ...
    @overload
    def __get__(self, obj: object, owner: type) -> bytes | None: ...

    def __get__(self, obj: object | None, owner: type) -> EncryptedBytes | bytes | None:  # type: ignore[override]
        if obj is None:
            return self
        return decrypt_bytes(*self._context(obj), getattr(obj, self.column))

    def __set__(self, obj: Any, value: bytes | None) -> None:  # type: ignore[override]
        if obj.id is None:
            obj.id = uuid.uuid4()
        setattr(obj, self.column, encrypt_bytes(*self._context(obj), value))
