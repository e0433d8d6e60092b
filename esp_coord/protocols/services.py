"""Protocol writes (with audit), scope checks, indicators and the reference catalogue loader.

Every function raises ProtocolError with a French message (gettext) when the input is refused; it
then writes nothing. Views commit once.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from esp_coord.activity.services import LedgerError, record_action
from esp_coord.core import audit, signals
from esp_coord.core.extensions import db
from esp_coord.core.time import today_paris
from esp_coord.patients.access import identity
from esp_coord.patients.crypto_service import encrypt_text, read_text
from esp_coord.protocols.models import (
    OUTCOME_LABELS,
    OUTCOMES,
    REFERRAL_OUTCOME,
    Adoption,
    AdoptionParticipant,
    CooperationProtocol,
    Inclusion,
    Protocol,
    ProtocolAct,
    ProtocolAuthor,
    ProtocolDocument,
    ProtocolMeeting,
    ProtocolMeetingAttendee,
    ProtocolRole,
    ProtocolVersion,
    TrainingAttestation,
)

DATA_FILE = Path(__file__).resolve().parent / "data" / "cooperation_protocols.json"
PDF_MAGIC = b"%PDF-"


class ProtocolError(ValueError):
    """A French message explaining why the input is refused."""


# --------------------------------------------------------------------------- reference data


def load_catalogue() -> list[dict]:
    return json.loads(DATA_FILE.read_text(encoding="utf-8"))["protocols"]


def ensure_cooperation_protocols() -> None:
    """Idempotent upsert of the national cooperation protocols from the JSON data file."""
    for item in load_catalogue():
        row = db.session.get(CooperationProtocol, item["code"])
        if row is None:
            row = CooperationProtocol(code=item["code"])
            db.session.add(row)
        row.title = item["title"]
        row.short_title = item["short_title"]
        row.population = item["population"]
        row.sex = item.get("sex")
        row.age_min = item.get("age_min")
        row.age_min_unit = item.get("age_min_unit", "years")
        row.age_max = item.get("age_max")
        row.age_max_unit = item.get("age_max_unit", "years")
        row.delegating_json = json.dumps(item["delegating"])
        row.delegated_json = json.dumps(item["delegated"])
        row.training_hours = item.get("training_hours")
        row.sources_json = json.dumps(item.get("sources", []), ensure_ascii=False)
        row.notes = item.get("notes")
        row.sort = item.get("sort", 0)
    db.session.flush()


# --------------------------------------------------------------------------- helpers


def team_members(team) -> list:
    """Active members' users, sorted by name."""
    users = [m.user for m in team.memberships if m.ended_on is None]
    return sorted(users, key=lambda u: (u.last_name.lower(), u.first_name.lower()))


def _member_map(team) -> dict:
    return {u.id: u for u in team_members(team)}


def _clean(text: str | None) -> str | None:
    text = (text or "").strip()
    return text or None


def age_in(unit: str, birth: date, on: date) -> int:
    months = (on.year - birth.year) * 12 + on.month - birth.month - (1 if on.day < birth.day else 0)
    return months if unit == "months" else months // 12


def _bound_label(value: int, unit: str) -> str:
    if unit == "months":
        return _("%(n)s months", n=value)
    return _("%(n)s years", n=value)


def age_range_label(coop: CooperationProtocol) -> str:
    if coop.age_min is not None and coop.age_max is not None:
        return _("from %(min)s to %(max)s", min=_bound_label(coop.age_min, coop.age_min_unit),
                 max=_bound_label(coop.age_max, coop.age_max_unit))
    if coop.age_min is not None:
        return _("from %(min)s", min=_bound_label(coop.age_min, coop.age_min_unit))
    if coop.age_max is not None:
        return _("up to %(max)s", max=_bound_label(coop.age_max, coop.age_max_unit))
    return _("all ages")


def scope_error(coop: CooperationProtocol, patient, on: date) -> str | None:
    """None when the patient is within the protocol's scope on `on` (bounds inclusive), else a message."""
    ident = identity(patient)
    if coop.sex and ident.sex != coop.sex:
        if coop.sex == "F":
            return _("Patient outside the scope of the protocol: it only concerns women.")
        return _("Patient outside the scope of the protocol: it only concerns men.")
    if coop.age_min is None and coop.age_max is None:
        return None
    if ident.birth_date is None:
        return _("Unknown birth date: the patient's age cannot be checked against the protocol.")
    if on < ident.birth_date:
        return _("The date is before the patient's birth date.")
    too_young = coop.age_min is not None and age_in(coop.age_min_unit, ident.birth_date, on) < coop.age_min
    too_old = coop.age_max is not None and age_in(coop.age_max_unit, ident.birth_date, on) > coop.age_max
    if too_young or too_old:
        years = age_in("years", ident.birth_date, on)
        age = (_("%(n)s months", n=age_in("months", ident.birth_date, on)) if years < 2
               else _("%(n)s years", n=years))
        return _("Patient outside the scope of the protocol: aged %(age)s on %(date)s, the protocol concerns "
                 "patients %(range)s.", age=age, date=on.strftime("%d/%m/%Y"), range=age_range_label(coop))
    return None


# --------------------------------------------------------------------------- team protocols


@dataclass
class ProtocolData:
    title: str
    theme: str | None = None
    problem: str | None = None
    population: str | None = None
    inclusion_criteria: str | None = None
    exclusion_criteria: str | None = None
    critical_points: str | None = None
    steps: list[str] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)  # profession code -> role
    author_ids: list[uuid.UUID] = field(default_factory=list)
    next_review_on: date | None = None


def _apply(protocol: Protocol, team, data: ProtocolData) -> None:
    from esp_coord.teams.models import Profession

    title = (data.title or "").strip()
    if not title:
        raise ProtocolError(_("The title is required."))
    members = _member_map(team)
    for uid in data.author_ids:
        if uid not in members:
            raise ProtocolError(_("The writing group must be made of members of the team."))
    codes = {code for code, text in data.roles.items() if _clean(text)}
    known = set(db.session.execute(sa.select(Profession.code)).scalars())
    if codes - known:
        raise ProtocolError(_("Unknown profession."))
    protocol.title = title
    protocol.theme = _clean(data.theme)
    protocol.problem = _clean(data.problem)
    protocol.population = _clean(data.population)
    protocol.inclusion_criteria = _clean(data.inclusion_criteria)
    protocol.exclusion_criteria = _clean(data.exclusion_criteria)
    protocol.critical_points = _clean(data.critical_points)
    protocol.steps = [s.strip() for s in data.steps if s and s.strip()]
    protocol.next_review_on = data.next_review_on
    existing = {r.profession_code: r for r in protocol.roles}
    sorts = {code: sort for code, _l, _g, _e, _gp, _ph, sort in _professions()}
    for code, role in list(existing.items()):
        if code not in codes:
            protocol.roles.remove(role)
    for code in sorted(codes, key=lambda c: (sorts.get(c, 999), c)):
        text = data.roles[code].strip()
        if code in existing:
            existing[code].description = text
        else:
            protocol.roles.append(ProtocolRole(profession_code=code, description=text, sort=sorts.get(code, 999)))
    wanted = list(dict.fromkeys(data.author_ids))
    for author in list(protocol.authors):
        if author.user_id not in wanted:
            protocol.authors.remove(author)
    have = {a.user_id for a in protocol.authors}
    for uid in wanted:
        if uid not in have:
            protocol.authors.append(ProtocolAuthor(user_id=uid))


def _professions():
    from esp_coord.activity.data import PROFESSIONS

    return PROFESSIONS


def create_protocol(team, data: ProtocolData, *, actor) -> Protocol:
    protocol = Protocol(id=uuid.uuid4(), team_id=team.id, status="draft", version=1,
                        created_by_id=actor.id if actor else None)
    _apply(protocol, team, data)
    db.session.add(protocol)
    db.session.flush()
    audit.record("protocol.create", actor=actor, team_id=team.id, object_type="protocol", object_id=protocol.id)
    return protocol


def update_protocol(protocol: Protocol, team, data: ProtocolData, *, actor) -> Protocol:
    if protocol.status != "draft":
        raise ProtocolError(_("A validated or archived version is frozen: start a new version to edit it."))
    _apply(protocol, team, data)
    db.session.flush()
    audit.record("protocol.update", actor=actor, team_id=team.id, object_type="protocol", object_id=protocol.id)
    return protocol


def snapshot(protocol: Protocol) -> dict:
    return {
        "title": protocol.title, "theme": protocol.theme, "problem": protocol.problem,
        "population": protocol.population, "inclusion_criteria": protocol.inclusion_criteria,
        "exclusion_criteria": protocol.exclusion_criteria, "critical_points": protocol.critical_points,
        "steps": protocol.steps,
        "roles": [{"profession_code": r.profession_code, "profession": r.profession.label if r.profession else
                   r.profession_code, "description": r.description}
                  for r in sorted(protocol.roles, key=lambda r: (r.sort, r.profession_code))],
        "authors": [{"id": str(a.user_id), "name": a.user.full_name,
                     "profession": a.user.profession.label if a.user.profession else ""} for a in protocol.authors],
        "documents": [{"id": str(d.id), "title": d.title, "filename": d.filename}
                      for d in protocol.current_documents],
        "version": protocol.version,
    }


def validate_protocol(protocol: Protocol, team, *, validated_on: date, next_review_on: date | None,
                      actor) -> ProtocolVersion:
    if protocol.status != "draft":
        raise ProtocolError(_("Only a draft can be validated."))
    if not protocol.steps:
        raise ProtocolError(_("Write at least one step before validating the protocol."))
    if not protocol.authors:
        raise ProtocolError(_("Name the writing group before validating the protocol."))
    if next_review_on is not None and next_review_on <= validated_on:
        raise ProtocolError(_("The next review date must be after the validation date."))
    if validated_on > today_paris():
        raise ProtocolError(_("The validation date cannot be in the future."))
    protocol.validated_on = validated_on
    protocol.next_review_on = next_review_on
    version = ProtocolVersion(id=uuid.uuid4(), protocol_id=protocol.id, number=protocol.version,
                              snapshot_json=json.dumps(snapshot(protocol), ensure_ascii=False),
                              validated_on=validated_on, next_review_on=next_review_on,
                              validated_by_id=actor.id if actor else None)
    db.session.add(version)
    protocol.status = "validated"
    db.session.flush()
    for uid in protocol.author_ids:
        _ledger(team, uid, "PROTO_REDAC", validated_on, source_type="protocol_validation", source_id=version.id,
                actor=actor)
    audit.record("protocol.validate", actor=actor, team_id=team.id, object_type="protocol", object_id=protocol.id,
                 details={"version": version.number})
    return version


def new_version(protocol: Protocol, *, actor) -> Protocol:
    if protocol.status == "draft":
        raise ProtocolError(_("This protocol is already a draft."))
    protocol.status = "draft"
    protocol.version = max([v.number for v in protocol.versions] + [protocol.version]) + 1
    protocol.validated_on = None
    db.session.flush()
    audit.record("protocol.new_version", actor=actor, team_id=protocol.team_id, object_type="protocol",
                 object_id=protocol.id, details={"version": protocol.version})
    return protocol


def archive_protocol(protocol: Protocol, *, actor) -> Protocol:
    if protocol.status == "archived":
        raise ProtocolError(_("This protocol is already archived."))
    protocol.status = "archived"
    db.session.flush()
    audit.record("protocol.archive", actor=actor, team_id=protocol.team_id, object_type="protocol",
                 object_id=protocol.id)
    return protocol


def add_document(protocol: Protocol, *, title: str, filename: str, content: bytes, actor) -> ProtocolDocument:
    if protocol.status != "draft":
        raise ProtocolError(_("A validated or archived version is frozen: start a new version to edit it."))
    limit = current_app.config.get("UPLOAD_MAX_BYTES", 5 * 1024 * 1024)
    if not content:
        raise ProtocolError(_("The file is empty."))
    if len(content) > limit:
        raise ProtocolError(_("The file is too large (at most %(n)s MB).", n=limit // (1024 * 1024)))
    if not content.startswith(PDF_MAGIC):
        raise ProtocolError(_("Only PDF files are accepted."))
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in (filename or "document.pdf"))[-150:]
    if not safe.lower().endswith(".pdf"):
        safe += ".pdf"
    doc = ProtocolDocument(id=uuid.uuid4(), protocol_id=protocol.id,
                           title=(title or "").strip()[:200] or safe, filename=safe, size=len(content),
                           content=content, uploaded_by_id=actor.id if actor else None)
    db.session.add(doc)
    db.session.flush()
    db.session.refresh(protocol, ["documents"])
    audit.record("protocol.document.add", actor=actor, team_id=protocol.team_id, object_type="protocol_document",
                 object_id=doc.id)
    return doc


def remove_document(protocol: Protocol, doc: ProtocolDocument, *, actor) -> None:
    if protocol.status != "draft":
        raise ProtocolError(_("A validated or archived version is frozen: start a new version to edit it."))
    cited = any(d["id"] == str(doc.id) for v in protocol.versions for d in v.snapshot.get("documents", []))
    if cited:
        doc.withdrawn = True  # a frozen version still cites it: keep it readable there
    else:
        db.session.delete(doc)
    db.session.flush()
    db.session.refresh(protocol, ["documents"])
    audit.record("protocol.document.remove", actor=actor, team_id=protocol.team_id,
                 object_type="protocol_document", object_id=doc.id)


def record_meeting(protocol: Protocol, team, *, held_on: date, duration_minutes: int,
                   attendee_ids: list[uuid.UUID], notes: str | None, actor) -> ProtocolMeeting:
    if held_on > today_paris():
        raise ProtocolError(_("A writing meeting is recorded once it has taken place."))
    if not duration_minutes or duration_minutes < 1 or duration_minutes > 600:
        raise ProtocolError(_("The duration must be between 1 and 600 minutes."))
    attendee_ids = list(dict.fromkeys(attendee_ids))
    if not attendee_ids:
        raise ProtocolError(_("Select at least one attendee."))
    group = set(protocol.author_ids)
    if any(uid not in group for uid in attendee_ids):
        raise ProtocolError(_("Attendees must belong to the writing group."))
    meeting = ProtocolMeeting(id=uuid.uuid4(), protocol_id=protocol.id, team_id=team.id, held_on=held_on,
                              duration_minutes=duration_minutes, notes=_clean(notes),
                              created_by_id=actor.id if actor else None)
    meeting.attendees = [ProtocolMeetingAttendee(user_id=uid) for uid in attendee_ids]
    db.session.add(meeting)
    db.session.flush()
    for uid in attendee_ids:
        _ledger(team, uid, "PROTO_REDAC", held_on, duration_minutes=duration_minutes,
                source_type="protocol_writing", source_id=meeting.id, actor=actor)
    audit.record("protocol.meeting.create", actor=actor, team_id=team.id, object_type="protocol_meeting",
                 object_id=meeting.id)
    return meeting


def _ledger(team, user_id, action_type, performed_on, *, source_type, source_id, actor, duration_minutes=None,
            patient_count=0):
    try:
        return record_action(team=team, user_id=user_id, action_type=action_type, performed_on=performed_on,
                             duration_minutes=duration_minutes, patient_count=patient_count,
                             source_type=source_type, source_id=source_id, actor=actor)
    except LedgerError as exc:
        raise ProtocolError(str(exc)) from exc


# --------------------------------------------------------------------------- cooperation protocols


def _check_participants(coop: CooperationProtocol, team, delegating_ids, delegated_ids):
    members = _member_map(team)
    if not delegating_ids:
        raise ProtocolError(_("Name at least one delegating physician."))
    if not delegated_ids:
        raise ProtocolError(_("Name at least one delegated professional."))
    for uid in delegating_ids:
        user = members.get(uid)
        if user is None or user.profession_code not in coop.delegating:
            raise ProtocolError(_("Delegating physicians must be general practitioners of the team."))
    for uid in delegated_ids:
        user = members.get(uid)
        if user is None or user.profession_code not in coop.delegated:
            raise ProtocolError(_("A delegated professional must be a member of the team whose profession "
                                  "this protocol allows."))


def _set_participants(adoption: Adoption, delegating_ids, delegated_ids) -> None:
    wanted = {(uid, "delegating") for uid in delegating_ids} | {(uid, "delegated") for uid in delegated_ids}
    for p in list(adoption.participants):
        if (p.user_id, p.role) not in wanted:
            adoption.participants.remove(p)
    have = {(p.user_id, p.role) for p in adoption.participants}
    for uid, role in sorted(wanted - have, key=lambda x: (x[1], str(x[0]))):
        adoption.participants.append(AdoptionParticipant(user_id=uid, role=role))


def adopt(team, code: str, *, adopted_on: date, ars_declared_on: date | None, delegating_ids, delegated_ids,
          actor) -> Adoption:
    coop = db.session.get(CooperationProtocol, code)
    if coop is None:
        raise ProtocolError(_("Unknown cooperation protocol."))
    exists = db.session.execute(sa.select(Adoption.id).where(Adoption.team_id == team.id,
                                                             Adoption.cooperation_code == code)).first()
    if exists:
        raise ProtocolError(_("The team has already adopted this protocol."))
    if ars_declared_on is not None and ars_declared_on < adopted_on:
        raise ProtocolError(_("The declaration to the ARS cannot precede the adoption."))
    _check_participants(coop, team, delegating_ids, delegated_ids)
    adoption = Adoption(id=uuid.uuid4(), team_id=team.id, cooperation_code=code, adopted_on=adopted_on,
                        ars_declared_on=ars_declared_on, created_by_id=actor.id if actor else None)
    adoption.cooperation = coop
    db.session.add(adoption)
    _set_participants(adoption, delegating_ids, delegated_ids)
    db.session.flush()
    audit.record("protocol.adoption.create", actor=actor, team_id=team.id, object_type="protocol_adoption",
                 object_id=adoption.id, details={"code": code})
    return adoption


def update_adoption(adoption: Adoption, team, *, adopted_on: date, ars_declared_on: date | None, delegating_ids,
                    delegated_ids, actor) -> Adoption:
    if ars_declared_on is not None and ars_declared_on < adopted_on:
        raise ProtocolError(_("The declaration to the ARS cannot precede the adoption."))
    _check_participants(adoption.cooperation, team, delegating_ids, delegated_ids)
    adoption.adopted_on = adopted_on
    adoption.ars_declared_on = ars_declared_on
    _set_participants(adoption, delegating_ids, delegated_ids)
    db.session.flush()
    audit.record("protocol.adoption.update", actor=actor, team_id=team.id, object_type="protocol_adoption",
                 object_id=adoption.id)
    return adoption


def add_attestation(adoption: Adoption, *, user_id, trained_on: date, organisation: str, hours, actor
                    ) -> TrainingAttestation:
    if user_id not in adoption.user_ids("delegated"):
        raise ProtocolError(_("Training attestations are recorded for the delegated professionals of the "
                              "protocol."))
    if trained_on > today_paris():
        raise ProtocolError(_("The training date cannot be in the future."))
    organisation = (organisation or "").strip()
    if not organisation:
        raise ProtocolError(_("The training organisation is required."))
    if hours is None or hours <= 0 or hours > 1000:
        raise ProtocolError(_("The number of training hours must be positive."))
    required = adoption.cooperation.training_hours
    if required and hours < required:
        raise ProtocolError(_("This protocol requires at least %(n)s hours of training.", n=required))
    att = TrainingAttestation(id=uuid.uuid4(), adoption_id=adoption.id, user_id=user_id, trained_on=trained_on,
                              organisation=organisation[:200], hours=hours,
                              recorded_by_id=actor.id if actor else None)
    adoption.attestations.append(att)
    db.session.flush()
    audit.record("protocol.attestation.create", actor=actor, team_id=adoption.team_id,
                 object_type="protocol_training_attestation", object_id=att.id)
    return att


# --------------------------------------------------------------------------- patients


def include_patient(team, patient, *, protocol: Protocol | None = None, adoption: Adoption | None = None,
                    included_on: date, criteria: str | None, actor) -> Inclusion:
    if (protocol is None) == (adoption is None):
        raise ProtocolError(_("Choose a protocol."))
    if patient.team_id != team.id or patient.erased_at is not None:
        raise ProtocolError(_("Unknown patient."))
    if included_on > today_paris():
        raise ProtocolError(_("The inclusion date cannot be in the future."))
    if protocol is not None:
        if protocol.team_id != team.id:
            raise ProtocolError(_("Choose a protocol."))
        if protocol.status != "validated":
            raise ProtocolError(_("Patients can only be included in a validated protocol."))
    else:
        if adoption.team_id != team.id:
            raise ProtocolError(_("Choose a protocol."))
        error = scope_error(adoption.cooperation, patient, included_on)
        if error:
            raise ProtocolError(error)
    target = Inclusion.protocol_id == protocol.id if protocol else Inclusion.adoption_id == adoption.id
    active = db.session.execute(sa.select(Inclusion.id).where(
        Inclusion.patient_id == patient.id, Inclusion.ended_on.is_(None), target)).first()
    if active:
        raise ProtocolError(_("This patient is already included in this protocol."))
    inc = Inclusion(id=uuid.uuid4(), team_id=team.id, patient_id=patient.id,
                    protocol_id=protocol.id if protocol else None, adoption_id=adoption.id if adoption else None,
                    included_on=included_on, included_by_id=actor.id if actor else None)
    inc.criteria_enc = encrypt_text(patient.id, "protocol_inclusion", "criteria", inc.id, _clean(criteria))
    db.session.add(inc)
    db.session.flush()
    audit.record("protocol.inclusion.create", actor=actor, team_id=team.id, patient_id=patient.id,
                 object_type="protocol_inclusion", object_id=inc.id)
    return inc


def record_act(team, inclusion: Inclusion, patient, *, performed_on: date, professional_id, outcome: str,
               comment: str | None, actor) -> ProtocolAct:
    if inclusion.ended_on is not None:
        raise ProtocolError(_("The inclusion has ended: no more acts can be recorded."))
    if outcome not in OUTCOMES:
        raise ProtocolError(_("Unknown outcome."))
    if performed_on > today_paris():
        raise ProtocolError(_("The date of the act cannot be in the future."))
    if performed_on < inclusion.included_on:
        raise ProtocolError(_("The act cannot precede the inclusion."))
    professional = _member_map(team).get(professional_id)
    if professional is None:
        raise ProtocolError(_("The professional must be a member of the team."))
    if inclusion.adoption is not None:
        adoption = inclusion.adoption
        if professional.id not in adoption.user_ids("delegated"):
            raise ProtocolError(_("Only the delegated professionals named for this protocol can record acts "
                                  "under it."))
        if adoption.attestation_for(professional.id, performed_on) is None:
            raise ProtocolError(_("%(name)s has no training attestation recorded for this protocol (dated on or "
                                  "before the act): record it before any act.", name=professional.full_name))
        error = scope_error(adoption.cooperation, patient, performed_on)
        if error:
            raise ProtocolError(error)
    elif inclusion.protocol is not None and inclusion.protocol.status == "archived":
        raise ProtocolError(_("This protocol is archived."))
    act = ProtocolAct(id=uuid.uuid4(), team_id=team.id, inclusion_id=inclusion.id, patient_id=patient.id,
                      performed_on=performed_on, professional_id=professional.id,
                      profession_code=professional.profession_code, outcome=outcome,
                      recorded_by_id=actor.id if actor else None)
    act.comment_enc = encrypt_text(patient.id, "protocol_act", "comment", act.id, _clean(comment))
    db.session.add(act)
    db.session.flush()
    db.session.refresh(inclusion, ["acts"])
    if signals.ask_one(signals.action_funded, team, action_type="PROTO_MEO", on=performed_on):
        _ledger(team, professional.id, "PROTO_MEO", performed_on, patient_count=1, source_type="protocol_act",
                source_id=act.id, actor=actor)
    audit.record("protocol.act.create", actor=actor, team_id=team.id, patient_id=patient.id,
                 object_type="protocol_act", object_id=act.id, details={"outcome": outcome})
    return act


def end_inclusion(inclusion: Inclusion, patient, *, ended_on: date, reason: str | None, actor) -> Inclusion:
    if inclusion.ended_on is not None:
        raise ProtocolError(_("The inclusion has already ended."))
    if ended_on < inclusion.included_on:
        raise ProtocolError(_("The end date cannot precede the inclusion."))
    if ended_on > today_paris():
        raise ProtocolError(_("The end date cannot be in the future."))
    if any(a.performed_on > ended_on for a in inclusion.acts):
        raise ProtocolError(_("Acts were recorded after this end date."))
    inclusion.ended_on = ended_on
    inclusion.ended_by_id = actor.id if actor else None
    inclusion.end_reason_enc = encrypt_text(patient.id, "protocol_inclusion", "end_reason", inclusion.id,
                                            _clean(reason))
    db.session.flush()
    audit.record("protocol.inclusion.end", actor=actor, team_id=inclusion.team_id, patient_id=patient.id,
                 object_type="protocol_inclusion", object_id=inclusion.id)
    return inclusion


def inclusion_texts(inclusion: Inclusion, patient, viewer) -> dict:
    """Decrypted texts of an inclusion and its acts for display, respecting the opposition rule (audited)."""
    from esp_coord.patients.access import OPPOSITION_NOTICE, content_visible

    def show(author_id, table, column, row_id, blob):
        if blob is None:
            return None
        if not content_visible(patient, author_id, viewer):
            return OPPOSITION_NOTICE
        return read_text(patient.id, table, column, row_id, blob, team_id=inclusion.team_id)

    out = {
        "criteria": show(inclusion.included_by_id, "protocol_inclusion", "criteria", inclusion.id,
                         inclusion.criteria_enc),
        "end_reason": show(inclusion.ended_by_id, "protocol_inclusion", "end_reason", inclusion.id,
                           inclusion.end_reason_enc),
        "acts": {a.id: show(a.recorded_by_id, "protocol_act", "comment", a.id, a.comment_enc)
                 for a in inclusion.acts},
    }
    audit.record("protocol.inclusion.read", actor=viewer, team_id=inclusion.team_id, patient_id=patient.id,
                 object_type="protocol_inclusion", object_id=inclusion.id)
    return out


# --------------------------------------------------------------------------- indicators


@dataclass
class IndicatorRow:
    kind: str  # "team" | "cooperation"
    code: str
    title: str
    inclusions: int = 0
    active_inclusions: int = 0
    acts: int = 0
    referred: int = 0
    acts_by_profession: dict[str, int] = field(default_factory=dict)
    referred_by_profession: dict[str, int] = field(default_factory=dict)

    @property
    def referred_share(self) -> float | None:
        return self.referred / self.acts * 100 if self.acts else None


def indicators(team, year: int) -> list[IndicatorRow]:
    """Per protocol (team protocols and adopted cooperation protocols), for a calendar year."""
    start, end = date(year, 1, 1), date(year, 12, 31)
    protocols = db.session.execute(sa.select(Protocol).where(Protocol.team_id == team.id).order_by(
        Protocol.title)).scalars().all()
    adoptions = db.session.execute(sa.select(Adoption).where(Adoption.team_id == team.id)).scalars().all()
    adoptions.sort(key=lambda a: a.cooperation.sort)
    rows: dict[tuple, IndicatorRow] = {}
    for a in adoptions:
        rows[("a", a.id)] = IndicatorRow("cooperation", a.cooperation_code, a.cooperation.title)
    for p in protocols:
        rows[("p", p.id)] = IndicatorRow("team", f"V{p.version}", p.title)
    inc_rows = db.session.execute(
        sa.select(Inclusion.protocol_id, Inclusion.adoption_id, Inclusion.included_on, Inclusion.ended_on).where(
            Inclusion.team_id == team.id, Inclusion.included_on <= end)).all()
    for pid, aid, inc_on, ended_on in inc_rows:
        row = rows.get(("p", pid) if pid else ("a", aid))
        if row is None:
            continue
        if inc_on >= start:
            row.inclusions += 1
        if ended_on is None or ended_on >= start:
            row.active_inclusions += 1
    act_rows = db.session.execute(
        sa.select(Inclusion.protocol_id, Inclusion.adoption_id, ProtocolAct.profession_code, ProtocolAct.outcome,
                  sa.func.count()).join(Inclusion, Inclusion.id == ProtocolAct.inclusion_id).where(
            ProtocolAct.team_id == team.id, ProtocolAct.performed_on >= start, ProtocolAct.performed_on <= end,
        ).group_by(Inclusion.protocol_id, Inclusion.adoption_id, ProtocolAct.profession_code,
                   ProtocolAct.outcome)).all()
    for pid, aid, prof, outcome, n in act_rows:
        row = rows.get(("p", pid) if pid else ("a", aid))
        if row is None:
            continue
        prof = prof or "-"
        row.acts += n
        row.acts_by_profession[prof] = row.acts_by_profession.get(prof, 0) + n
        if outcome == REFERRAL_OUTCOME:
            row.referred += n
            row.referred_by_profession[prof] = row.referred_by_profession.get(prof, 0) + n
    return list(rows.values())


def profession_labels() -> dict[str, str]:
    from esp_coord.teams.models import Profession

    return {p.code: p.label for p in db.session.execute(sa.select(Profession)).scalars()}


def indicators_csv(team, year: int) -> str:
    """Yearly ARS export: one line per protocol and profession, plus a total line. No patient data."""
    from esp_coord.core.pdf import csv_text
    from esp_coord.core.time import format_number

    labels = profession_labels()
    header = ["Année", "Type", "Code", "Protocole", "Profession", "Inclusions", "Patients suivis", "Actes",
              "Orientations vers le médecin", "Part orientée vers le médecin (%)"]
    lines = [header]

    def share(referred, acts):
        return format_number(referred / acts * 100, 1) if acts else ""

    for row in indicators(team, year):
        kind = "Protocole de coopération" if row.kind == "cooperation" else "Protocole pluriprofessionnel"
        for prof, n in sorted(row.acts_by_profession.items(), key=lambda x: labels.get(x[0], x[0])):
            ref = row.referred_by_profession.get(prof, 0)
            lines.append([str(year), kind, row.code, row.title, labels.get(prof, prof), "", "", str(n), str(ref),
                          share(ref, n)])
        lines.append([str(year), kind, row.code, row.title, "Total", str(row.inclusions),
                      str(row.active_inclusions), str(row.acts), str(row.referred), share(row.referred, row.acts)])

    return csv_text(lines)


# --------------------------------------------------------------------------- signal receivers (see receivers.py)


def patient_inclusions(patient) -> list[Inclusion]:
    return db.session.execute(sa.select(Inclusion).where(Inclusion.patient_id == patient.id).order_by(
        Inclusion.included_on.desc())).scalars().all()


def timeline_items(patient, viewer) -> list:
    from datetime import datetime, time

    from flask import url_for

    from esp_coord.core.time import PARIS
    from esp_coord.core.timeline import TimelineItem

    items = []
    for inc in patient_inclusions(patient):
        at = datetime.combine(inc.included_on, time(12, 0), tzinfo=PARIS)
        url = url_for("protocols.inclusion", team_id=inc.team_id, inclusion_id=inc.id)
        detail = _("%(n)s act(s)", n=len(inc.acts))
        if inc.ended_on:
            detail += " · " + _("ended on %(date)s", date=inc.ended_on.strftime("%d/%m/%Y"))
        items.append(TimelineItem(at=at, kind="protocol", url=url, detail=detail,
                                  title=_("Included in the protocol “%(title)s”", title=inc.target_title)))
        for act in inc.acts:
            items.append(TimelineItem(
                at=datetime.combine(act.performed_on, time(12, 0), tzinfo=PARIS), kind="protocol", url=url,
                title=_("Act under the protocol “%(title)s”: %(outcome)s", title=inc.target_title,
                        outcome=OUTCOME_LABELS.get(act.outcome, act.outcome)),
                detail=act.professional.full_name if act.professional else None))
    return items


def dashboard_panels(user) -> list[dict]:
    """Protocols to review within 30 days and delegated professionals still waiting for their attestation."""
    from datetime import timedelta

    from flask import url_for

    team_ids = [m.team_id for m in user.memberships]
    if not team_ids:
        return []
    soon = today_paris() + timedelta(days=30)
    items = []
    due = db.session.execute(sa.select(Protocol).where(
        Protocol.team_id.in_(team_ids), Protocol.status == "validated", Protocol.next_review_on.is_not(None),
        Protocol.next_review_on <= soon).order_by(Protocol.next_review_on)).scalars().all()
    for p in due:
        items.append((p.title, url_for("protocols.show", team_id=p.team_id, protocol_id=p.id),
                      _("review due on %(date)s", date=p.next_review_on.strftime("%d/%m/%Y"))))
    adoptions = db.session.execute(sa.select(Adoption).join(AdoptionParticipant).where(
        Adoption.team_id.in_(team_ids), AdoptionParticipant.user_id == user.id,
        AdoptionParticipant.role == "delegated")).scalars().unique().all()
    for a in adoptions:
        if a.attestation_for(user.id) is None:
            items.append((a.cooperation.short_title,
                          url_for("protocols.adoption", team_id=a.team_id, adoption_id=a.id),
                          _("your training attestation is missing")))
    return [{"title": _("Protocols"), "items": items}] if items else []


def export_section(patient) -> dict:
    """Section of the patient-rights export (decrypted texts; the export itself is audited by patients)."""
    labels = profession_labels()
    entries = []
    for inc in patient_inclusions(patient):
        entries.append({
            "protocole": inc.target_title,
            "date_inclusion": inc.included_on.isoformat(),
            "inclus_par": inc.included_by.full_name if inc.included_by else None,
            "criteres": read_text(patient.id, "protocol_inclusion", "criteria", inc.id, inc.criteria_enc,
                                  team_id=inc.team_id),
            "date_fin": inc.ended_on.isoformat() if inc.ended_on else None,
            "motif_fin": read_text(patient.id, "protocol_inclusion", "end_reason", inc.id, inc.end_reason_enc,
                                   team_id=inc.team_id),
            "actes": [{
                "date": a.performed_on.isoformat(),
                "professionnel": a.professional.full_name if a.professional else None,
                "profession": labels.get(a.profession_code or "", a.profession_code),
                "resultat": OUTCOME_LABELS.get(a.outcome, a.outcome),
                "commentaire": read_text(patient.id, "protocol_act", "comment", a.id, a.comment_enc,
                                         team_id=inc.team_id),
            } for a in inc.acts],
        })
    audit.record("protocol.export", team_id=patient.team_id, patient_id=patient.id, object_type="patient",
                 object_id=patient.id, details={"inclusions": len(entries)})
    return {"key": "protocols", "title": "Protocoles", "items": entries}

