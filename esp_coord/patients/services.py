"""Patient registry writes. Identity is encrypted here, in the service layer, before the database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from esp_coord.core import audit, keys
from esp_coord.core.crypto import normalise_name
from esp_coord.core.extensions import db
from esp_coord.core.time import utc_now
from esp_coord.patients.crypto_service import (
    create_patient_key,
    decrypt_bytes,
    decrypt_text,
    destroy_patient_keys,
    encrypt_bytes,
    encrypt_text,
    read_text,
)
from esp_coord.patients.models import (
    CONSENT_SCOPES,
    INFORMATION_METHODS,
    NOTE_CATEGORIES,
    Patient,
    PatientConsent,
    PatientFollower,
    PatientInformation,
    PatientNameIndex,
    PatientNote,
    PatientNoteVersion,
    PatientOpposition,
)

# Search design (kept from the foundation sketch, extended): HMAC-SHA256 blind index keyed with a
# purpose key derived from INDEX_KEY (not the master keys, so key rotation never recomputes it), scoped
# per team (the team id is inside the HMAC input, so tokens of two teams never match), over every
# normalised prefix (2..20 chars, accents and case removed) of each word of the birth name, usage name
# and first names, plus one token for the exact birth date and one for the birth year.
# Why not decrypt-and-filter: it decrypts every identity of the team (2 000+ patients in a large ESP)
# on each keystroke and logs nothing useful; the blind index is an indexed seek. What it leaks: to
# someone holding the database *and* INDEX_KEY, equality of name prefixes / birth dates within one
# team (never the names themselves; without INDEX_KEY the tokens are opaque). Tokens are deleted
# with the identity on erasure. Multi-word queries intersect per-word matches.
MIN_PREFIX = 2
MAX_PREFIX = 20


@dataclass
class PatientData:
    birth_name: str
    first_names: str
    birth_date: date
    sex: str
    usage_name: str | None = None
    ins: str | None = None
    commune: str | None = None
    gp_member_id: uuid.UUID | None = None
    gp_free_text: str | None = None
    follower_ids: tuple[uuid.UUID, ...] = ()


def name_tokens(team_id, *names: str | None) -> set[bytes]:
    tokens = set()
    for name in names:
        for word in normalise_name(name or "").split():
            for n in range(MIN_PREFIX, min(len(word), MAX_PREFIX) + 1):
                tokens.add(keys.blind_index(f"{team_id}:name:{word[:n]}"))
    return tokens


def birth_date_token(team_id, value: date) -> bytes:
    return keys.blind_index(f"{team_id}:dob:{value.isoformat()}")


def birth_year_token(team_id, year: int) -> bytes:
    return keys.blind_index(f"{team_id}:yob:{year:04d}")


def forget_cached_keys_identity(patient_id) -> None:
    from flask import g, has_app_context

    if has_app_context() and "esp_identity_cache" in g:
        g.esp_identity_cache.pop(patient_id, None)


def _set_identity(patient: Patient, data: PatientData) -> None:
    values = {
        "birth_name": data.birth_name.strip(), "usage_name": (data.usage_name or "").strip() or None,
        "first_names": data.first_names.strip(), "birth_date": data.birth_date.isoformat(), "sex": data.sex,
        "ins": (data.ins or "").replace(" ", "") or None, "commune": (data.commune or "").strip() or None,
        "gp_free_text": (data.gp_free_text or "").strip() or None,
    }
    for name, value in values.items():
        setattr(patient, f"{name}_enc", encrypt_text(patient.id, "patient", name, patient.id, value))
    patient.gp_member_id = data.gp_member_id
    patient.birth_date_index = birth_date_token(patient.team_id, data.birth_date)
    patient.birth_year_index = birth_year_token(patient.team_id, data.birth_date.year)
    forget_cached_keys_identity(patient.id)
    db.session.query(PatientNameIndex).filter(PatientNameIndex.patient_id == patient.id).delete()
    for token in name_tokens(patient.team_id, values["birth_name"], values["usage_name"], values["first_names"]):
        db.session.add(PatientNameIndex(patient_id=patient.id, team_id=patient.team_id, token=token))
    db.session.query(PatientFollower).filter(PatientFollower.patient_id == patient.id).delete()
    for uid in dict.fromkeys(data.follower_ids):
        db.session.add(PatientFollower(patient_id=patient.id, user_id=uid))


def create_patient(team, data: PatientData, *, actor) -> Patient:
    patient = Patient(id=uuid.uuid4(), team_id=team.id, created_by_id=actor.id if actor else None,
                      last_activity_at=utc_now())
    db.session.add(patient)
    db.session.flush()
    create_patient_key(patient.id)
    db.session.flush()
    _set_identity(patient, data)
    db.session.flush()
    audit.record("patient.create", actor=actor, team_id=team.id, patient_id=patient.id, object_type="patient",
                 object_id=patient.id)
    return patient


def update_patient(patient: Patient, data: PatientData, *, actor) -> Patient:
    _set_identity(patient, data)
    patient.last_activity_at = utc_now()
    db.session.flush()
    audit.record("patient.update", actor=actor, team_id=patient.team_id, patient_id=patient.id,
                 object_type="patient", object_id=patient.id)
    return patient


# --------------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------------

def normalise_ins(value: str | None) -> str | None:
    text = "".join((value or "").split()).upper()
    return text or None


def ins_is_valid(value: str) -> bool:
    """Matricule INS = NIR (or NIA) of the patient: 13 characters + a 2-digit key (15 in all).

    Structure: sex (1/2, 3/4/7/8 for temporary numbers), year (2 digits), month (01-12, 20-42 or 50-99
    for unknown months), department (2 digits, or 2A/2B for Corsica), commune (3), order (3), key (2).
    The key is 97 - (the 13-digit number mod 97), with 2A -> 19 and 2B -> 18 (INSEE rule), so one
    mistyped digit is always caught: worth checking because an INS typo silently links the wrong person.
    """
    if len(value) != 15 or not value[-2:].isdigit():
        return False
    body = value[:13]
    dept = body[5:7]
    if dept == "2A":
        digits = body[:5] + "19" + body[7:]
    elif dept == "2B":
        digits = body[:5] + "18" + body[7:]
    else:
        digits = body
    if not digits.isdigit() or body[0] not in "123478":
        return False
    month = int(body[3:5])
    if not (1 <= month <= 12 or 20 <= month <= 42 or 50 <= month <= 99):
        return False
    key = 97 - int(digits) % 97
    return key == int(value[-2:])


ATTACHMENT_SIGNATURES = (
    (b"%PDF-", "pdf", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "png", "image/png"),
    (b"\xff\xd8\xff", "jpeg", "image/jpeg"),
)
ATTACHMENT_MIMES = {kind: mime for _sig, kind, mime in ATTACHMENT_SIGNATURES}


def sniff_attachment(data: bytes) -> str | None:
    """The file type from its first bytes (never from its name or the browser's content type)."""
    for signature, kind, _mime in ATTACHMENT_SIGNATURES:
        if data.startswith(signature):
            return kind
    return None


class PatientError(ValueError):
    """A refused patient operation; the message (translated) is safe to show."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# --------------------------------------------------------------------------------------------------
# Search
# --------------------------------------------------------------------------------------------------

def search_patients(team, query: str | None = None, birth_date: date | None = None, limit: int = 100):
    """Patients of `team` whose name words start with every query word (and born on `birth_date`)."""
    stmt = sa.select(Patient).where(Patient.team_id == team.id, Patient.erased_at.is_(None))
    words = normalise_name(query or "").split()
    for word in words:
        if len(word) < MIN_PREFIX:
            continue
        token = keys.blind_index(f"{team.id}:name:{word[:MAX_PREFIX]}")
        stmt = stmt.where(Patient.id.in_(
            sa.select(PatientNameIndex.patient_id).where(PatientNameIndex.team_id == team.id,
                                                         PatientNameIndex.token == token)))
    if birth_date is not None:
        stmt = stmt.where(Patient.birth_date_index == birth_date_token(team.id, birth_date))
    patients = db.session.execute(stmt.order_by(Patient.created_at.desc()).limit(limit)).scalars().all()
    from esp_coord.patients.access import identity
    from esp_coord.patients.crypto_service import prefetch_keys

    prefetch_keys(p.id for p in patients)  # one query for the listed patients' data keys, not one per patient
    return sorted(patients, key=lambda p: normalise_name(identity(p).display_name))


# --------------------------------------------------------------------------------------------------
# Notes
# --------------------------------------------------------------------------------------------------

NOTE_DELETE_WINDOW = timedelta(hours=24)


def touch(patient: Patient) -> None:
    patient.last_activity_at = utc_now()


def add_note(patient: Patient, *, category: str, body: str, actor, corrects: PatientNote | None = None) -> PatientNote:
    if category not in NOTE_CATEGORIES:
        raise PatientError(_l("Unknown note category."))
    if not body or not body.strip():
        raise PatientError(_l("The note is empty."))
    note = PatientNote(id=uuid.uuid4(), patient_id=patient.id, team_id=patient.team_id, author_id=actor.id,
                       category=category, version=1, created_at=utc_now(),
                       corrects_id=corrects.id if corrects is not None else None)
    note.body_enc = encrypt_text(patient.id, "patient_note", "body", note.id, body.strip())
    db.session.add(note)
    touch(patient)
    db.session.flush()
    audit.record("note.correct" if corrects is not None else "note.create", actor=actor, team_id=patient.team_id,
                 patient_id=patient.id, object_type="patient_note", object_id=note.id,
                 details={"category": category, **({"corrects": str(corrects.id)} if corrects is not None else {})})
    return note


def edit_note(note: PatientNote, *, category: str, body: str, actor) -> PatientNote:
    """Only the author edits; the earlier text is kept as an encrypted version bound to its own row."""
    if note.author_id != actor.id:
        raise PatientError(_l("Only the author may edit a note."))
    if category not in NOTE_CATEGORIES:
        raise PatientError(_l("Unknown note category."))
    if not body or not body.strip():
        raise PatientError(_l("The note is empty."))
    old_text = decrypt_text(note.patient_id, "patient_note", "body", note.id, note.body_enc)
    version = PatientNoteVersion(id=uuid.uuid4(), note_id=note.id, patient_id=note.patient_id, version=note.version,
                                 category=note.category, written_at=note.edited_at or note.created_at,
                                 replaced_at=utc_now(), replaced_by_id=actor.id)
    version.body_enc = encrypt_text(note.patient_id, "patient_note_version", "body", version.id, old_text)
    db.session.add(version)
    note.version += 1
    note.category = category
    note.body_enc = encrypt_text(note.patient_id, "patient_note", "body", note.id, body.strip())
    note.edited_at = utc_now()
    db.session.flush()
    audit.record("note.update", actor=actor, team_id=note.team_id, patient_id=note.patient_id,
                 object_type="patient_note", object_id=note.id, details={"version": note.version})
    return note


def can_delete_note(note: PatientNote, user) -> bool:
    return note.author_id == user.id and utc_now() - note.created_at <= NOTE_DELETE_WINDOW


def delete_note(note: PatientNote, *, actor) -> None:
    if not can_delete_note(note, actor):
        raise PatientError(_l("A note can be deleted only by its author within 24 hours: write a correction "
                              "note instead."))
    db.session.execute(sa.update(PatientNote).where(PatientNote.corrects_id == note.id).values(corrects_id=None))
    db.session.execute(sa.delete(PatientNoteVersion).where(PatientNoteVersion.note_id == note.id))
    audit.record("note.delete", actor=actor, team_id=note.team_id, patient_id=note.patient_id,
                 object_type="patient_note", object_id=note.id)
    db.session.delete(note)
    db.session.flush()


def notes_of(patient: Patient) -> list[PatientNote]:
    return list(db.session.execute(
        sa.select(PatientNote).where(PatientNote.patient_id == patient.id)
        .order_by(PatientNote.created_at.desc())).scalars())


def note_versions(note: PatientNote) -> list[PatientNoteVersion]:
    return list(db.session.execute(
        sa.select(PatientNoteVersion).where(PatientNoteVersion.note_id == note.id)
        .order_by(PatientNoteVersion.version.desc())).scalars())


def note_text(note: PatientNote) -> str:
    return read_text(note.patient_id, "patient_note", "body", note.id, note.body_enc, team_id=note.team_id) or ""


def version_text(version: PatientNoteVersion) -> str:
    return read_text(version.patient_id, "patient_note_version", "body", version.id, version.body_enc) or ""


# --------------------------------------------------------------------------------------------------
# Information, consent, opposition
# --------------------------------------------------------------------------------------------------

def record_information(patient: Patient, *, informed_on: date, informed_by_id, method: str, comment: str | None,
                       actor) -> PatientInformation:
    if method not in INFORMATION_METHODS:
        raise PatientError(_l("Unknown way of informing."))
    info = PatientInformation(id=uuid.uuid4(), patient_id=patient.id, informed_on=informed_on,
                              informed_by_id=informed_by_id, method=method, recorded_by_id=actor.id,
                              recorded_at=utc_now())
    info.comment_enc = encrypt_text(patient.id, "patient_information", "comment", info.id,
                                    (comment or "").strip() or None)
    db.session.add(info)
    touch(patient)
    db.session.flush()
    audit.record("patient.information", actor=actor, team_id=patient.team_id, patient_id=patient.id,
                 object_type="patient_information", object_id=info.id, details={"method": method})
    return info


def record_consent(patient: Patient, *, scope: str, given_on: date, detail: str | None, actor,
                   attachment: bytes | None = None) -> PatientConsent:
    if scope not in CONSENT_SCOPES:
        raise PatientError(_l("Unknown consent scope."))
    consent = PatientConsent(id=uuid.uuid4(), patient_id=patient.id, scope=scope, given_on=given_on,
                             recorded_by_id=actor.id, recorded_at=utc_now())
    consent.detail_enc = encrypt_text(patient.id, "patient_consent", "detail", consent.id,
                                      (detail or "").strip() or None)
    if attachment:
        limit = current_app.config.get("UPLOAD_MAX_BYTES", 5 * 1024 * 1024)
        if len(attachment) > limit:
            raise PatientError(_l("The file is too large."))
        kind = sniff_attachment(attachment)
        if kind is None:
            raise PatientError(_l("Refused format: only PDF, JPEG and PNG files are accepted."))
        consent.attachment_type = kind
        consent.attachment_size = len(attachment)
        consent.attachment_enc = encrypt_bytes(patient.id, "patient_consent", "attachment", consent.id, attachment)
    db.session.add(consent)
    touch(patient)
    db.session.flush()
    audit.record("consent.create", actor=actor, team_id=patient.team_id, patient_id=patient.id,
                 object_type="patient_consent", object_id=consent.id,
                 details={"scope": scope, "attachment": consent.attachment_type})
    return consent


def withdraw_consent(consent: PatientConsent, patient: Patient, *, withdrawn_on: date, actor) -> None:
    if consent.withdrawn_on is not None:
        raise PatientError(_l("This consent is already withdrawn."))
    consent.withdrawn_on = withdrawn_on
    consent.withdrawn_by_id = actor.id
    touch(patient)
    db.session.flush()
    audit.record("consent.withdraw", actor=actor, team_id=patient.team_id, patient_id=patient.id,
                 object_type="patient_consent", object_id=consent.id)


def consent_attachment(consent: PatientConsent, *, actor) -> tuple[bytes, str]:
    """Decrypted scanned form (raises UnreadableData); the download is audited by the caller's commit."""
    data = decrypt_bytes(consent.patient_id, "patient_consent", "attachment", consent.id, consent.attachment_enc)
    audit.record("consent.attachment_download", actor=actor, patient_id=consent.patient_id,
                 object_type="patient_consent", object_id=consent.id)
    return data, ATTACHMENT_MIMES[consent.attachment_type]


def record_opposition(patient: Patient, *, expressed_on: date, actor) -> PatientOpposition:
    if patient.opposed_at is not None:
        raise PatientError(_l("An objection is already recorded."))
    opp = PatientOpposition(id=uuid.uuid4(), patient_id=patient.id, expressed_on=expressed_on,
                            recorded_by_id=actor.id, recorded_at=utc_now())
    db.session.add(opp)
    patient.opposed_at = utc_now()
    touch(patient)
    db.session.flush()
    audit.record("patient.opposition", actor=actor, team_id=patient.team_id, patient_id=patient.id,
                 object_type="patient_opposition", object_id=opp.id)
    return opp


def lift_opposition(patient: Patient, *, lifted_on: date, actor) -> None:
    opp = db.session.execute(sa.select(PatientOpposition).where(
        PatientOpposition.patient_id == patient.id, PatientOpposition.lifted_on.is_(None))).scalars().first()
    if opp is None or patient.opposed_at is None:
        raise PatientError(_l("There is no current objection."))
    opp.lifted_on = lifted_on
    opp.lifted_by_id = actor.id
    patient.opposed_at = None
    touch(patient)
    db.session.flush()
    audit.record("patient.opposition_lifted", actor=actor, team_id=patient.team_id, patient_id=patient.id,
                 object_type="patient_opposition", object_id=opp.id)


def informations_of(patient):
    return list(db.session.execute(sa.select(PatientInformation).where(PatientInformation.patient_id == patient.id)
                                   .order_by(PatientInformation.informed_on.desc())).scalars())


def consents_of(patient):
    return list(db.session.execute(sa.select(PatientConsent).where(PatientConsent.patient_id == patient.id)
                                   .order_by(PatientConsent.given_on.desc())).scalars())


def oppositions_of(patient):
    return list(db.session.execute(sa.select(PatientOpposition).where(PatientOpposition.patient_id == patient.id)
                                   .order_by(PatientOpposition.recorded_at.desc())).scalars())


# --------------------------------------------------------------------------------------------------
# Erasure, retention
# --------------------------------------------------------------------------------------------------

def erase_patient(patient: Patient, *, actor) -> None:
    """Crypto-shredding: destroy the data keys, the identity and the search tokens. Rows that only
    count activity (ledger, claims) keep pointing at the patient id and stay valid."""
    destroy_patient_keys(patient.id)
    for name in ("birth_name", "usage_name", "first_names", "birth_date", "sex", "ins", "commune", "gp_free_text"):
        setattr(patient, f"{name}_enc", None)
    patient.birth_date_index = None
    patient.birth_year_index = None
    patient.gp_member_id = None
    db.session.execute(sa.delete(PatientNameIndex).where(PatientNameIndex.patient_id == patient.id))
    db.session.execute(sa.delete(PatientFollower).where(PatientFollower.patient_id == patient.id))
    patient.erased_at = utc_now()
    forget_cached_keys_identity(patient.id)
    db.session.flush()
    audit.record("patient.erase", actor=actor, team_id=patient.team_id, patient_id=patient.id,
                 object_type="patient", object_id=patient.id)


def past_retention(now: datetime | None = None) -> list[Patient]:
    years = int(current_app.config.get("RETENTION_YEARS", 20))
    now = now or utc_now()
    try:
        cutoff = now.replace(year=now.year - years)
    except ValueError:  # 29 February
        cutoff = now.replace(year=now.year - years, day=28)
    last = sa.func.coalesce(Patient.last_activity_at, Patient.created_at)
    return list(db.session.execute(sa.select(Patient).where(Patient.erased_at.is_(None), last < cutoff)
                                   .order_by(last)).scalars())


# --------------------------------------------------------------------------------------------------
# Access history, export
# --------------------------------------------------------------------------------------------------

def access_history(patient: Patient, limit: int | None = 500):
    from esp_coord.auth.models import User
    from esp_coord.core.audit import AuditEvent

    stmt = (sa.select(AuditEvent, User).outerjoin(User, User.id == AuditEvent.actor_id)
            .where(AuditEvent.patient_id == patient.id).order_by(AuditEvent.seq.desc()))
    if limit:
        stmt = stmt.limit(limit)
    return db.session.execute(stmt).all()


def export_data(patient: Patient, *, actor) -> dict:
    """Everything held about one patient (right of access, art. 15 RGPD / L1111-7 CSP), as plain data.
    Notes are included even under opposition: the export is for the patient."""
    from esp_coord.core import signals
    from esp_coord.patients.access import identity

    ident = identity(patient)
    notes = []
    for note in sorted(notes_of(patient), key=lambda n: n.created_at):
        notes.append({
            "id": str(note.id), "category": note.category, "author": note.author.full_name if note.author else None,
            "created_at": note.created_at.isoformat(), "edited_at": note.edited_at.isoformat() if note.edited_at
            else None, "text": note_text(note), "corrects": str(note.corrects_id) if note.corrects_id else None,
            "earlier_versions": [{"version": v.version, "written_at": v.written_at.isoformat(),
                                  "text": version_text(v)} for v in note_versions(note)],
        })
    history = [{"at": ev.occurred_at.isoformat(), "who": user.full_name if user else None, "action": ev.action,
                "outcome": ev.outcome} for ev, user in access_history(patient, limit=None)]
    sections = signals.collect(signals.patient_export, patient)
    data = {
        "generated_at": utc_now().isoformat(),
        "team": patient.team.name,
        "identity": {
            "birth_name": ident.birth_name, "usage_name": ident.usage_name, "first_names": ident.first_names,
            "birth_date": ident.birth_date.isoformat() if ident.birth_date else None, "sex": ident.sex,
            "ins": ident.ins, "commune": ident.commune,
            "gp": patient.gp_member.full_name if patient.gp_member else ident.gp_free_text,
            "followers": [f.user.full_name for f in patient.followers],
        },
        "information": [{"informed_on": i.informed_on.isoformat(), "by": i.informed_by.full_name if i.informed_by
                         else None, "method": i.method,
                         "comment": read_text(patient.id, "patient_information", "comment", i.id, i.comment_enc)}
                        for i in informations_of(patient)],
        "consents": [{"scope": c.scope, "given_on": c.given_on.isoformat(),
                      "detail": read_text(patient.id, "patient_consent", "detail", c.id, c.detail_enc),
                      "recorded_by": c.recorded_by.full_name if c.recorded_by else None,
                      "withdrawn_on": c.withdrawn_on.isoformat() if c.withdrawn_on else None,
                      "scanned_form": c.attachment_type} for c in consents_of(patient)],
        "oppositions": [{"expressed_on": o.expressed_on.isoformat(),
                         "recorded_by": o.recorded_by.full_name if o.recorded_by else None,
                         "lifted_on": o.lifted_on.isoformat() if o.lifted_on else None}
                        for o in oppositions_of(patient)],
        "notes": notes,
        "sections": [s for s in sections if s],
        "access_history": history,
    }
    return data
