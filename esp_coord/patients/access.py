"""Who may see a patient, and the decrypted identity for display (inside the app only).

Every feature that shows patient data loads the patient through `load_patient()` (team check,
erased records hidden) and respects `content_visible()` for the opposition rule (L1110-4 CSP).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from flask import abort, g

from esp_coord.core.db import parse_uuid
from esp_coord.core.extensions import db
from esp_coord.core.security import team_access
from esp_coord.patients.crypto_service import UNREADABLE, UnreadableData, decrypt_text
from esp_coord.patients.models import Patient

OPPOSITION_NOTICE = (
    "Le patient s'est opposé au partage de ses informations au sein de l'équipe : "
    "seuls les auteurs voient leurs propres contenus."
)


@dataclass(frozen=True)
class Identity:
    birth_name: str
    usage_name: str | None
    first_names: str
    birth_date: date | None
    sex: str | None  # "F", "M", "I" (indéterminé)
    ins: str | None
    commune: str | None
    gp_free_text: str | None
    readable: bool = True

    @property
    def display_name(self) -> str:
        name = (self.usage_name or self.birth_name).upper()
        if self.usage_name and self.usage_name.upper() != self.birth_name.upper():
            born = "née" if self.sex == "F" else "né"
            name = f"{self.usage_name.upper()} ({born} {self.birth_name.upper()})"
        return f"{name} {self.first_names}"

    def age_on(self, on: date) -> int | None:
        if self.birth_date is None:
            return None
        b = self.birth_date
        return on.year - b.year - ((on.month, on.day) < (b.month, b.day))


FIELDS = ("birth_name", "usage_name", "first_names", "birth_date", "sex", "ins", "commune", "gp_free_text")


def identity(patient: Patient) -> Identity:
    """Decrypt a patient's identity (cached per request). Unreadable data gives a clear marker."""
    cache = g.setdefault("esp_identity_cache", {}) if _has_g() else {}
    if patient.id in cache:
        return cache[patient.id]
    values = {}
    unreadable = []
    for name in FIELDS:
        try:
            values[name] = decrypt_text(patient.id, "patient", name, patient.id, getattr(patient, f"{name}_enc"))
        except UnreadableData:
            values[name] = None
            unreadable.append(name)
    readable = not unreadable
    if unreadable and patient.erased_at is None:
        from esp_coord.core import audit

        audit.record("crypto.unreadable", team_id=patient.team_id, patient_id=patient.id, object_type="patient",
                     object_id=patient.id, outcome="failure", details={"columns": unreadable})
    bd = values["birth_date"]
    ident = Identity(
        birth_name=values["birth_name"] or UNREADABLE, usage_name=values["usage_name"],
        first_names=values["first_names"] or "", birth_date=date.fromisoformat(bd) if bd else None,
        sex=values["sex"], ins=values["ins"], commune=values["commune"], gp_free_text=values["gp_free_text"],
        readable=readable,
    )
    cache[patient.id] = ident
    return ident


def _has_g() -> bool:
    from flask import has_app_context

    return has_app_context()


def load_patient(team_id, patient_id, minimum_role: str = "member"):
    """(team, membership, patient) for a team-scoped patient URL; 404 for another team or erased record."""
    team, membership = team_access(team_id, minimum_role)
    pid = parse_uuid(patient_id)
    patient = db.session.get(Patient, pid) if pid else None
    if patient is None or patient.team_id != team.id or patient.erased_at is not None:
        abort(404)
    return team, membership, patient


def content_visible(patient: Patient, author_id: uuid.UUID | None, viewer) -> bool:
    """Opposition rule: once the patient opposed sharing, content is visible only to its author."""
    if patient.opposed_at is None:
        return True
    return author_id is not None and viewer is not None and author_id == viewer.id
