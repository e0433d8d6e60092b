"""Patient registry writes. Identity is encrypted here, in the service layer, before the database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from esp_coord.core import audit, keys
from esp_coord.core.crypto import normalise_name
from esp_coord.core.time import utc_now
from esp_coord.extensions import db
from esp_coord.patients.crypto_service import create_patient_key, encrypt_text
from esp_coord.patients.models import Patient, PatientFollower, PatientNameIndex

# Search design: HMAC blind index (keyed with INDEX_KEY, per team) over every normalised prefix
# (2..20 chars) of each name word, plus one over the birth date. It answers prefix and exact-date
# lookups with an index seek and never stores names in clear; the cost is leaking equality of
# prefixes within a team to someone holding the database *and* the index key — acceptable next to
# decrypt-and-filter, which would decrypt every identity of a 2 000-patient team on each search.
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
