"""PPS writes and reads. Free text is encrypted here; every write is audited; the view commits once.

Life of a plan:
  draft (editable) --validate--> active, version 1 frozen (read-only)
  active --start review--> editable again --validate review--> version n+1 frozen, read-only
  draft/active --close (reason)--> closed (read-only)
The partial unique index `uq_care_plan_open_patient` guarantees one open plan per patient and team.
"""

from __future__ import annotations

import calendar
import json
import uuid
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from esp_coord.auth.models import User
from esp_coord.core import audit
from esp_coord.core.extensions import db
from esp_coord.core.time import today_paris, utc_now
from esp_coord.patients.crypto_service import decrypt_text, encrypt_text, read_text
from esp_coord.teams.models import Membership

from .models import (
    CONSENT_METHODS,
    CONSENT_SCOPES,
    OWNER_KINDS,
    VOLETS,
    CarePlan,
    CarePlanAction,
    CarePlanObjective,
    CarePlanParticipant,
    CarePlanProblem,
    CarePlanReview,
    CarePlanReviewParticipant,
    CarePlanVersion,
)

TASK_TITLE = "Action du PPS"  # stored task title: neutral, never patient data
MAX_REVIEW_MONTHS = 12
DEFAULT_REVIEW_MONTHS = 6

STATUS_LABELS = {"draft": _l("Draft"), "active": _l("Active"), "closed": _l("Closed")}
CATEGORY_LABELS = {
    "health": _l("Health"), "autonomy": _l("Autonomy"), "psychological": _l("Psychological"),
    "social": _l("Social"), "environment": _l("Environment"), "other": _l("Other"),
}
VOLET_LABELS = {"care": _l("Health care plan"), "help": _l("Social / help plan")}
CONSENT_METHOD_LABELS = {"oral": _l("Oral, noted in the record"), "written": _l("Signed form"),
                         "electronic": _l("Electronic")}
CONSENT_SCOPE_LABELS = {"care_and_help": _l("Care plan and social/help plan"),
                        "care_only": _l("Care plan only (health details withheld from social actors)")}


class CarePlanError(ValueError):
    """A French message explaining why the change is refused (nothing is written)."""


# ---------------------------------------------------------------- dates


def add_months(d: date, months: int) -> date:
    m = d.month - 1 + months
    y, m = d.year + m // 12, m % 12 + 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def default_review_date(base: date | None = None) -> date:
    return add_months(base or today_paris(), DEFAULT_REVIEW_MONTHS)


def check_review_date(value: date | None, base: date) -> date:
    """Next review: after `base`, at most 12 months later (HAS: review at least yearly)."""
    if value is None:
        return default_review_date(base)
    if value < base:
        raise CarePlanError(_("The next review date cannot be before %(d)s.", d=base.strftime("%d/%m/%Y")))
    limit = add_months(base, MAX_REVIEW_MONTHS)
    if value > limit:
        raise CarePlanError(_("The next review must take place within 12 months, by %(d)s at the latest.",
                              d=limit.strftime("%d/%m/%Y")))
    return value


# ---------------------------------------------------------------- encryption helpers


def _clean(text: str | None) -> str | None:
    text = (text or "").replace("\r\n", "\n").strip()
    return text or None


def enc(plan_patient_id, table: str, column: str, row_id, text: str | None) -> bytes | None:
    return encrypt_text(plan_patient_id, table, column, row_id, _clean(text))


def txt(plan: CarePlan, table: str, column: str, row_id, blob: bytes | None) -> str | None:
    return read_text(plan.patient_id, table, column, row_id, blob, team_id=plan.team_id)


# ---------------------------------------------------------------- queries


def team_members(team_id) -> list[User]:
    return list(db.session.execute(
        sa.select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.team_id == team_id, Membership.ended_on.is_(None))
        .order_by(User.last_name, User.first_name)
    ).unique().scalars())


def open_plan_for(team_id, patient_id) -> CarePlan | None:
    return db.session.execute(sa.select(CarePlan).where(
        CarePlan.team_id == team_id, CarePlan.patient_id == patient_id, CarePlan.status != "closed")
    ).unique().scalar_one_or_none()


def open_review(plan: CarePlan) -> CarePlanReview | None:
    return next((r for r in plan.reviews if r.status == "draft"), None)


def is_editable(plan: CarePlan) -> bool:
    return plan.status == "draft" or (plan.status == "active" and open_review(plan) is not None)


def ensure_editable(plan: CarePlan) -> None:
    if plan.status == "closed":
        raise CarePlanError(_("This care plan is closed: it can no longer be changed."))
    if not is_editable(plan):
        raise CarePlanError(_("Version %(n)s of this care plan is validated and frozen. Start a review to change "
                              "the plan.", n=plan.current_version))


def _member_ids(team_id) -> set[uuid.UUID]:
    return set(db.session.execute(sa.select(Membership.user_id).where(
        Membership.team_id == team_id, Membership.ended_on.is_(None))).scalars())


def _check_members(team_id, ids) -> list[uuid.UUID]:
    ids = list(dict.fromkeys(i for i in ids if i))
    if not set(ids) <= _member_ids(team_id):
        raise CarePlanError(_("Participants must be members of the team."))
    return ids


def _audit(action: str, plan: CarePlan, actor, *, object_type="care_plan", object_id=None, **details):
    audit.record(action, actor=actor, team_id=plan.team_id, patient_id=plan.patient_id, object_type=object_type,
                 object_id=object_id or plan.id, details=details or None)


def _sync_participants(participants: list, wanted, make) -> None:
    """Make a participants list hold exactly the users in ``wanted``: keep their rows, drop the others, add
    ``make(user_id)`` for the new ones."""
    current = {p.user_id: p for p in participants}
    for uid in list(current):
        if uid not in wanted:
            participants.remove(current[uid])
    for uid in wanted:
        if uid not in current:
            participants.append(make(uid))


def _item_changed(plan: CarePlan, actor, item, verb: str) -> None:
    """Flush a change to a problem, objective or action of the plan and audit it as care_plan.<kind>.<verb>."""
    db.session.flush()
    table = item.__tablename__
    _audit(f"care_plan.{table.removeprefix('care_plan_')}.{verb}", plan, actor, object_type=table,
           object_id=item.id)


def _saved(created: bool) -> str:
    return "create" if created else "update"


def _delete_item(plan: CarePlan, item, containers, actor) -> None:
    """Delete an objective or an action: take it out of whichever list holds it, then flush and audit."""
    for items in containers:
        if item in items:
            items.remove(item)
    db.session.delete(item)
    _item_changed(plan, actor, item, "delete")


# ---------------------------------------------------------------- header


@dataclass
class HeaderData:
    coordinator_id: uuid.UUID | None
    participant_ids: list = field(default_factory=list)
    outside_participants: str | None = None
    opened_on: date | None = None
    trigger: str | None = None
    expectations: str | None = None
    internal_notes: str | None = None
    next_review_on: date | None = None
    source_meeting_case_id: uuid.UUID | None = None


def _apply_header(plan: CarePlan, data: HeaderData) -> None:
    members = _member_ids(plan.team_id)
    if data.coordinator_id is None or data.coordinator_id not in members:
        raise CarePlanError(_("Choose the coordinating professional among the team's members."))
    participant_ids = _check_members(plan.team_id, [data.coordinator_id, *data.participant_ids])
    opened_on = data.opened_on or plan.opened_on or today_paris()
    if opened_on > today_paris():
        raise CarePlanError(_("The opening date cannot be in the future."))
    next_review = None
    if data.next_review_on is not None:
        next_review = check_review_date(data.next_review_on, max(opened_on, today_paris()) if plan.status == "draft"
                                        else today_paris())
    plan.coordinator_id = data.coordinator_id
    plan.opened_on = opened_on
    plan.next_review_on = next_review or plan.next_review_on
    if data.source_meeting_case_id is not None:
        plan.source_meeting_case_id = data.source_meeting_case_id
    pid = plan.patient_id
    plan.trigger_enc = enc(pid, "care_plan", "trigger", plan.id, data.trigger)
    plan.expectations_enc = enc(pid, "care_plan", "expectations", plan.id, data.expectations)
    plan.outside_participants_enc = enc(pid, "care_plan", "outside_participants", plan.id, data.outside_participants)
    plan.internal_notes_enc = enc(pid, "care_plan", "internal_notes", plan.id, data.internal_notes)
    _sync_participants(plan.participants, participant_ids,
                       lambda uid: CarePlanParticipant(plan_id=plan.id, user_id=uid))


def create_plan(team, patient, data: HeaderData, *, actor) -> CarePlan:
    if open_plan_for(team.id, patient.id) is not None:
        raise CarePlanError(_("This patient already has a care plan in progress in this team: review or close it "
                              "before opening another one."))
    number = (db.session.execute(sa.select(sa.func.max(CarePlan.number)).where(CarePlan.team_id == team.id))
              .scalar() or 0) + 1
    plan = CarePlan(id=uuid.uuid4(), team_id=team.id, patient_id=patient.id, number=number, status="draft",
                    opened_on=data.opened_on or today_paris(), created_by_id=actor.id if actor else None)
    _apply_header(plan, data)
    if plan.next_review_on is None:
        plan.next_review_on = default_review_date(max(plan.opened_on, today_paris()))
    try:
        with db.session.begin_nested():
            db.session.add(plan)
            db.session.flush()
    except IntegrityError:
        raise CarePlanError(_("This patient already has a care plan in progress in this team: review or close it "
                              "before opening another one.")) from None
    _audit("care_plan.create", plan, actor)
    return plan


def update_header(plan: CarePlan, data: HeaderData, *, actor) -> None:
    ensure_editable(plan)
    _apply_header(plan, data)
    db.session.flush()
    _audit("care_plan.update", plan, actor)


# ---------------------------------------------------------------- problems / objectives / actions


def _renumber(plan: CarePlan) -> None:
    """The patient's own priority is always problem n°1; the others keep their order."""
    problems = sorted(plan.problems, key=lambda p: (not p.patient_priority, p.rank))
    for i, p in enumerate(problems, start=1):
        p.rank = i
    plan.problems.sort(key=lambda p: p.rank)


def save_problem(plan: CarePlan, *, category: str, label: str, patient_priority: bool, uncertain: bool = False,
                 problem: CarePlanProblem | None = None, actor) -> CarePlanProblem:
    ensure_editable(plan)
    if category not in CATEGORY_LABELS:
        raise CarePlanError(_("Unknown problem category."))
    if not _clean(label):
        raise CarePlanError(_("Describe the problem."))
    created = problem is None
    if created:
        problem = CarePlanProblem(id=uuid.uuid4(), plan_id=plan.id, rank=len(plan.problems) + 1)
        plan.problems.append(problem)
    problem.category = category
    problem.uncertain = bool(uncertain)
    problem.label_enc = enc(plan.patient_id, "care_plan_problem", "label", problem.id, label)
    if patient_priority:
        for other in plan.problems:
            other.patient_priority = other is problem
        problem.rank = 0
    else:
        problem.patient_priority = False
    _renumber(plan)
    _item_changed(plan, actor, problem, _saved(created))
    return problem


def move_problem(plan: CarePlan, problem: CarePlanProblem, direction: int, *, actor) -> None:
    ensure_editable(plan)
    problems = list(plan.problems)
    i = problems.index(problem)
    j = i + direction
    if 0 <= j < len(problems) and not problems[j].patient_priority and not problem.patient_priority:
        problems[i].rank, problems[j].rank = problems[j].rank, problems[i].rank
    _renumber(plan)
    _item_changed(plan, actor, problem, "move")


def delete_problem(plan: CarePlan, problem: CarePlanProblem, *, actor) -> None:
    ensure_editable(plan)
    plan.problems.remove(problem)
    db.session.delete(problem)
    _renumber(plan)
    _item_changed(plan, actor, problem, "delete")


def save_objective(plan: CarePlan, problem: CarePlanProblem, *, text: str, criterion: str | None = None,
                   result: str | None = None, objective: CarePlanObjective | None = None,
                   actor) -> CarePlanObjective:
    ensure_editable(plan)
    if not _clean(text):
        raise CarePlanError(_("Describe the objective agreed with the patient."))
    created = objective is None
    if created:
        objective = CarePlanObjective(id=uuid.uuid4(), plan_id=plan.id, problem_id=problem.id,
                                      position=len(problem.objectives) + 1)
        problem.objectives.append(objective)
    pid = plan.patient_id
    objective.text_enc = enc(pid, "care_plan_objective", "text", objective.id, text)
    objective.criterion_enc = enc(pid, "care_plan_objective", "criterion", objective.id, criterion)
    objective.result_enc = enc(pid, "care_plan_objective", "result", objective.id, result)
    _item_changed(plan, actor, objective, _saved(created))
    return objective


def delete_objective(plan: CarePlan, objective: CarePlanObjective, *, actor) -> None:
    ensure_editable(plan)
    _delete_item(plan, objective, [problem.objectives for problem in plan.problems], actor)


@dataclass
class ActionData:
    what: str | None
    owner_kind: str | None
    owner_user_id: uuid.UUID | None = None
    owner_profession_code: str | None = None
    owner_outside: str | None = None
    when: str | None = None
    due_on: date | None = None
    volet: str = "care"


def _check_owner(plan: CarePlan, data: ActionData) -> None:
    from esp_coord.teams.models import Profession

    message = _("Every action needs someone responsible: a team member, a profession or an outside helper.")
    kind = data.owner_kind
    if kind not in OWNER_KINDS:
        raise CarePlanError(message)
    if kind == "member":
        if data.owner_user_id is None:
            raise CarePlanError(message)
        if data.owner_user_id not in _member_ids(plan.team_id):
            raise CarePlanError(_("The person responsible must be a member of the team."))
    elif kind == "profession":
        if not data.owner_profession_code or db.session.get(Profession, data.owner_profession_code) is None:
            raise CarePlanError(message)
    elif not _clean(data.owner_outside):
        raise CarePlanError(message)


def save_action(plan: CarePlan, objective: CarePlanObjective, data: ActionData, *,
                action: CarePlanAction | None = None, actor) -> CarePlanAction:
    ensure_editable(plan)
    if not _clean(data.what):
        raise CarePlanError(_("Describe the action."))
    _check_owner(plan, data)
    if data.volet not in VOLETS:
        raise CarePlanError(_("Choose the care plan or the social/help plan."))
    created = action is None
    if created:
        action = CarePlanAction(id=uuid.uuid4(), plan_id=plan.id, objective_id=objective.id,
                                position=len(objective.actions) + 1)
        objective.actions.append(action)
    pid = plan.patient_id
    if action.owner_user_id != (data.owner_user_id if data.owner_kind == "member" else None):
        action.task_id = None  # a new owner gets a new task at the next validation
    action.owner_kind = data.owner_kind
    action.owner_user_id = data.owner_user_id if data.owner_kind == "member" else None
    action.owner_profession_code = data.owner_profession_code if data.owner_kind == "profession" else None
    action.owner_outside_enc = enc(pid, "care_plan_action", "owner_outside", action.id,
                                   data.owner_outside if data.owner_kind == "outside" else None)
    action.what_enc = enc(pid, "care_plan_action", "what", action.id, data.what)
    action.when_enc = enc(pid, "care_plan_action", "when", action.id, data.when)
    action.due_on = data.due_on
    action.volet = data.volet
    _item_changed(plan, actor, action, _saved(created))
    return action


def delete_action(plan: CarePlan, action: CarePlanAction, *, actor) -> None:
    ensure_editable(plan)
    _delete_item(plan, action, [objective.actions for problem in plan.problems for objective in problem.objectives],
                 actor)


# ---------------------------------------------------------------- consent


def record_consent(plan: CarePlan, *, on: date | None, method: str | None, scope: str | None, actor) -> None:
    if plan.status == "closed":
        raise CarePlanError(_("This care plan is closed: it can no longer be changed."))
    if on is None:
        raise CarePlanError(_("Give the date of the patient's consent."))
    if on > today_paris():
        raise CarePlanError(_("The consent date cannot be in the future."))
    if method not in CONSENT_METHODS or scope not in CONSENT_SCOPES:
        raise CarePlanError(_("Say how the patient consented and to what."))
    plan.consent_on, plan.consent_method, plan.consent_scope = on, method, scope
    plan.consent_recorded_by_id = actor.id if actor else None
    plan.consent_record_id = _patient_consent_record(plan, on, method, scope, actor)
    db.session.flush()
    _audit("care_plan.consent", plan, actor, method=method, scope=scope)


def _patient_consent_record(plan: CarePlan, on: date, method: str, scope: str, actor):
    """Mirror the consent in the patients feature's consent records (scope "pps") when they exist."""
    try:
        from esp_coord.patients.services import record_consent as record_patient_consent
    except ImportError:
        return None
    detail = f"PPS n°{plan.number} — {CONSENT_METHOD_LABELS[method]} — {CONSENT_SCOPE_LABELS[scope]}"
    return record_patient_consent(plan.patient, scope="pps", given_on=on, detail=detail, actor=actor).id


def patients_with_record_consent(patient_ids) -> set:
    """Patients having an active "pps" consent in the patients feature's records (empty if absent)."""
    try:
        from esp_coord.patients.models import PatientConsent
    except ImportError:
        return set()
    ids = list(patient_ids)
    if not ids:
        return set()
    return set(db.session.execute(sa.select(PatientConsent.patient_id).where(
        PatientConsent.patient_id.in_(ids), PatientConsent.scope == "pps",
        PatientConsent.withdrawn_on.is_(None))).scalars())


def record_consent_on(plan: CarePlan):
    """Date of the latest active "pps" consent from the patient's record, if any."""
    try:
        from esp_coord.patients.models import PatientConsent
    except ImportError:
        return None
    return db.session.execute(sa.select(sa.func.max(PatientConsent.given_on)).where(
        PatientConsent.patient_id == plan.patient_id, PatientConsent.scope == "pps",
        PatientConsent.withdrawn_on.is_(None))).scalar()


# ---------------------------------------------------------------- validation, reviews, versions


def owner_label(action: CarePlanAction, plan: CarePlan) -> str:
    if action.owner_kind == "member" and action.owner_user is not None:
        return f"{action.owner_user.full_name} ({action.owner_user.profession_label})"
    if action.owner_kind == "profession":
        from esp_coord.teams.models import Profession

        prof = db.session.get(Profession, action.owner_profession_code) if action.owner_profession_code else None
        return prof.label if prof else (action.owner_profession_code or "")
    return txt(plan, "care_plan_action", "owner_outside", action.id, action.owner_outside_enc) or ""


def _user_name(user) -> str | None:
    return f"{user.full_name} ({user.profession_label})" if user is not None else None


def snapshot(plan: CarePlan, review: CarePlanReview | None = None) -> dict:
    """The plan as a plain dict (decrypted): pages, PDFs, versions and the export all render this."""
    consent = None
    if plan.consent_on:
        consent = {"on": plan.consent_on.isoformat(), "method": plan.consent_method, "scope": plan.consent_scope,
                   "recorded_by": _user_name(plan.consent_recorded_by)}
    problems = []
    for p in plan.problems:
        objectives = []
        for o in p.objectives:
            actions = [{
                "id": str(a.id), "what": txt(plan, "care_plan_action", "what", a.id, a.what_enc),
                "owner_kind": a.owner_kind, "owner_user_id": str(a.owner_user_id) if a.owner_user_id else None,
                "who": owner_label(a, plan), "when": txt(plan, "care_plan_action", "when", a.id, a.when_enc),
                "due_on": a.due_on.isoformat() if a.due_on else None, "volet": a.volet,
            } for a in o.actions]
            objectives.append({
                "id": str(o.id), "text": txt(plan, "care_plan_objective", "text", o.id, o.text_enc),
                "criterion": txt(plan, "care_plan_objective", "criterion", o.id, o.criterion_enc),
                "result": txt(plan, "care_plan_objective", "result", o.id, o.result_enc), "actions": actions,
            })
        problems.append({
            "id": str(p.id), "rank": p.rank, "category": p.category, "patient_priority": p.patient_priority,
            "uncertain": p.uncertain, "label": txt(plan, "care_plan_problem", "label", p.id, p.label_enc),
            "objectives": objectives,
        })
    data = {
        "plan_id": str(plan.id), "number": plan.number, "status": plan.status,
        "coordinator": _user_name(plan.coordinator),
        "participants": sorted(_user_name(p.user) for p in plan.participants if p.user is not None),
        "outside_participants": txt(plan, "care_plan", "outside_participants", plan.id,
                                    plan.outside_participants_enc),
        "opened_on": plan.opened_on.isoformat(),
        "trigger": txt(plan, "care_plan", "trigger", plan.id, plan.trigger_enc),
        "source_meeting_case_id": str(plan.source_meeting_case_id) if plan.source_meeting_case_id else None,
        "expectations": txt(plan, "care_plan", "expectations", plan.id, plan.expectations_enc),
        "internal_notes": txt(plan, "care_plan", "internal_notes", plan.id, plan.internal_notes_enc),
        "next_review_on": plan.next_review_on.isoformat() if plan.next_review_on else None,
        "consent": consent, "problems": problems, "review": None,
    }
    if review is not None:
        data["review"] = review_dict(plan, review)
    return data


def review_dict(plan: CarePlan, review: CarePlanReview) -> dict:
    return {
        "id": str(review.id), "review_on": review.review_on.isoformat(), "status": review.status,
        "participants": sorted(_user_name(p.user) for p in review.participants if p.user is not None),
        "outside_participants": txt(plan, "care_plan_review", "outside_participants", review.id,
                                    review.outside_participants_enc),
        "changes": txt(plan, "care_plan_review", "changes", review.id, review.changes_enc),
        "outcome": txt(plan, "care_plan_review", "outcome", review.id, review.outcome_enc),
        "version_number": review.version_number,
    }


def _freeze(plan: CarePlan, kind: str, review: CarePlanReview | None, actor) -> CarePlanVersion:
    plan.current_version += 1
    version = CarePlanVersion(id=uuid.uuid4(), plan_id=plan.id, number=plan.current_version, kind=kind,
                              review_id=review.id if review else None, created_at=utc_now(),
                              created_by_id=actor.id if actor else None)
    snap = snapshot(plan, review)
    snap["version"] = version.number
    snap["frozen_at"] = version.created_at.isoformat()
    version.snapshot_enc = encrypt_text(plan.patient_id, "care_plan_version", "snapshot", version.id,
                                        json.dumps(snap, ensure_ascii=False, sort_keys=True))
    db.session.add(version)
    db.session.flush()
    _audit("care_plan.version.freeze", plan, actor, object_type="care_plan_version", object_id=version.id,
           number=version.number)
    return version


def _create_tasks(plan: CarePlan, actor) -> int:
    from esp_coord.tasks.services import create_task

    count = 0
    for problem in plan.problems:
        for objective in problem.objectives:
            for action in objective.actions:
                if action.owner_kind != "member" or action.owner_user_id is None or action.task_id is not None:
                    continue
                what = txt(plan, "care_plan_action", "what", action.id, action.what_enc) or ""
                when = txt(plan, "care_plan_action", "when", action.id, action.when_enc)
                detail = what + (f"\n({when})" if when else "")
                task = create_task(team_id=plan.team_id, owner_id=action.owner_user_id, title=TASK_TITLE,
                                   detail=detail, patient_id=plan.patient_id, due_on=action.due_on,
                                   source_type="pps_action", source_id=action.id, actor=actor)
                action.task_id = task.id
                count += 1
    return count


def _ledger(plan: CarePlan, user_ids, action_type: str, source_type: str, source_id, on: date, actor) -> int:
    from esp_coord.activity.services import record_action

    created = 0
    for uid in dict.fromkeys(user_ids):
        _entry, new = record_action(team=plan.patient.team, user_id=uid, action_type=action_type, performed_on=on,
                                    patient_count=1, source_type=source_type, source_id=source_id, actor=actor)
        created += int(new)
    return created


def validate_plan(plan: CarePlan, *, next_review_on: date | None = None, actor) -> CarePlanVersion:
    if plan.status != "draft":
        raise CarePlanError(_("Only a draft care plan can be validated; validate the review instead."))
    if not plan.problems:
        raise CarePlanError(_("Add at least one problem before validating the care plan."))
    today = today_paris()
    wanted = next_review_on or plan.next_review_on
    if wanted is not None and wanted < today:
        wanted = None
    plan.next_review_on = check_review_date(wanted, today)
    plan.status = "active"
    plan.validated_at = utc_now()
    version = _freeze(plan, "initial", None, actor)
    _create_tasks(plan, actor)
    members = _member_ids(plan.team_id)
    ids = [plan.coordinator_id] + [p.user_id for p in plan.participants]
    _ledger(plan, [u for u in ids if u in members], "PPS_INIT", "pps", plan.id, today, actor)
    _audit("care_plan.validate", plan, actor, version=version.number)
    return version


def start_review(plan: CarePlan, *, actor) -> CarePlanReview:
    if plan.status != "active":
        raise CarePlanError(_("Only a validated care plan can be reviewed."))
    existing = open_review(plan)
    if existing is not None:
        return existing
    review = CarePlanReview(id=uuid.uuid4(), plan_id=plan.id, status="draft", review_on=today_paris(),
                            created_by_id=actor.id if actor else None)
    for p in plan.participants:
        review.participants.append(CarePlanReviewParticipant(review_id=review.id, user_id=p.user_id))
    plan.reviews.append(review)
    db.session.flush()
    _audit("care_plan.review.start", plan, actor, object_type="care_plan_review", object_id=review.id)
    return review


@dataclass
class ReviewData:
    review_on: date | None
    participant_ids: list = field(default_factory=list)
    outside_participants: str | None = None
    changes: str | None = None
    outcome: str | None = None
    next_review_on: date | None = None


def update_review(plan: CarePlan, review: CarePlanReview, data: ReviewData, *, actor) -> None:
    if review.status != "draft" or plan.status != "active":
        raise CarePlanError(_("This review is validated and frozen: it can no longer be changed."))
    if data.review_on is None:
        raise CarePlanError(_("Give the date of the review."))
    if data.review_on > today_paris() or data.review_on < plan.opened_on:
        raise CarePlanError(_("The review date must be between the opening of the plan and today."))
    if data.next_review_on is not None:
        plan.next_review_on = check_review_date(data.next_review_on, data.review_on)
    ids = _check_members(plan.team_id, data.participant_ids)
    if not ids:
        raise CarePlanError(_("Tick at least one participating member."))
    review.review_on = data.review_on
    _sync_participants(review.participants, ids,
                       lambda uid: CarePlanReviewParticipant(review_id=review.id, user_id=uid))
    pid = plan.patient_id
    review.outside_participants_enc = enc(pid, "care_plan_review", "outside_participants", review.id,
                                          data.outside_participants)
    review.changes_enc = enc(pid, "care_plan_review", "changes", review.id, data.changes)
    review.outcome_enc = enc(pid, "care_plan_review", "outcome", review.id, data.outcome)
    db.session.flush()
    _audit("care_plan.review.update", plan, actor, object_type="care_plan_review", object_id=review.id)


def validate_review(plan: CarePlan, review: CarePlanReview, *, actor) -> CarePlanVersion:
    if review.status != "draft" or plan.status != "active":
        raise CarePlanError(_("This review is validated and frozen: it can no longer be changed."))
    if not review.participants:
        raise CarePlanError(_("Tick at least one participating member."))
    if review.outcome_enc is None:
        raise CarePlanError(_("Record the outcome of the review before validating it."))
    if plan.next_review_on is None or plan.next_review_on <= review.review_on:
        plan.next_review_on = default_review_date(review.review_on)
    check_review_date(plan.next_review_on, review.review_on)
    review.status = "validated"
    review.validated_at = utc_now()
    version = _freeze(plan, "review", review, actor)
    review.version_number = version.number
    _create_tasks(plan, actor)
    members = _member_ids(plan.team_id)
    _ledger(plan, [p.user_id for p in review.participants if p.user_id in members], "PPS_REVUE", "pps_review",
            review.id, review.review_on, actor)
    _audit("care_plan.review.validate", plan, actor, object_type="care_plan_review", object_id=review.id,
           version=version.number)
    return version


def close_plan(plan: CarePlan, *, reason: str | None, actor) -> None:
    if plan.status == "closed":
        raise CarePlanError(_("This care plan is closed: it can no longer be changed."))
    if not _clean(reason):
        raise CarePlanError(_("Give the reason for closing the care plan."))
    review = open_review(plan)
    if review is not None:
        plan.reviews.remove(review)
        db.session.delete(review)
    plan.status = "closed"
    plan.closed_on = today_paris()
    plan.closed_by_id = actor.id if actor else None
    plan.close_reason_enc = enc(plan.patient_id, "care_plan", "close_reason", plan.id, reason)
    db.session.flush()
    _audit("care_plan.close", plan, actor)


def close_reason(plan: CarePlan) -> str | None:
    return txt(plan, "care_plan", "close_reason", plan.id, plan.close_reason_enc)


def versions(plan: CarePlan) -> list[CarePlanVersion]:
    return list(db.session.execute(sa.select(CarePlanVersion).where(CarePlanVersion.plan_id == plan.id)
                                   .order_by(CarePlanVersion.number)).scalars())


def load_version(plan: CarePlan, number: int) -> dict | None:
    version = db.session.execute(sa.select(CarePlanVersion).where(
        CarePlanVersion.plan_id == plan.id, CarePlanVersion.number == number)).scalar_one_or_none()
    if version is None:
        return None
    try:
        raw = decrypt_text(plan.patient_id, "care_plan_version", "snapshot", version.id, version.snapshot_enc)
    except Exception:  # damaged blob or key: audited, shown as unreadable
        audit.record("crypto.unreadable", team_id=plan.team_id, patient_id=plan.patient_id,
                     object_type="care_plan_version", object_id=version.id, outcome="failure")
        return {"unreadable": True, "version": number, "problems": []}
    return json.loads(raw)


# ---------------------------------------------------------------- diff


def _flatten(snap: dict) -> dict[str, tuple[str, str]]:
    """Stable key (by ids) -> (French label, value as text)."""
    out: dict[str, tuple[str, str]] = {}

    def put(key, label, value):
        if isinstance(value, bool):
            value = _("yes") if value else _("no")
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        out[key] = (str(label), "" if value is None else str(value))

    put("coordinator", _("Coordinating professional"), snap.get("coordinator"))
    put("participants", _("Participating members"), snap.get("participants"))
    put("outside", _("Outside participants"), snap.get("outside_participants"))
    put("opened_on", _("Date opened"), _date_text(snap.get("opened_on")))
    put("trigger", _("What triggered the plan"), snap.get("trigger"))
    put("expectations", _("Patient's expectations and priorities"), snap.get("expectations"))
    put("notes", _("Internal notes"), snap.get("internal_notes"))
    put("next_review", _("Next review"), _date_text(snap.get("next_review_on")))
    consent = snap.get("consent") or {}
    put("consent", _("Consent"), _date_text(consent.get("on")) if consent else "")
    t = {"label": _("label"), "rank": _("rank"), "category": _("category"), "prio": _("patient priority"),
         "objective": _("objective"), "criteria": _("evaluation criteria"), "result": _("result"),
         "what": _("what"), "who": _("who"), "when": _("when"), "plan": _("plan")}
    for p in snap.get("problems", []):
        base = _("Problem %(n)s", n=p["rank"])
        k = "p:" + p["id"]
        put(k + ":label", f"{base} — {t['label']}", p.get("label"))
        put(k + ":rank", f"{base} — {t['rank']}", p.get("rank"))
        put(k + ":cat", f"{base} — {t['category']}", CATEGORY_LABELS.get(p.get("category"), p.get("category")))
        put(k + ":prio", f"{base} — {t['prio']}", bool(p.get("patient_priority")))
        for i, o in enumerate(p.get("objectives", []), start=1):
            ob = _("%(problem)s, objective %(n)s", problem=base, n=i)
            ko = "o:" + o["id"]
            put(ko + ":text", f"{ob} — {t['objective']}", o.get("text"))
            put(ko + ":crit", f"{ob} — {t['criteria']}", o.get("criterion"))
            put(ko + ":res", f"{ob} — {t['result']}", o.get("result"))
            for j, a in enumerate(o.get("actions", []), start=1):
                ab = _("%(objective)s, action %(n)s", objective=ob, n=j)
                ka = "a:" + a["id"]
                put(ka + ":what", f"{ab} — {t['what']}", a.get("what"))
                put(ka + ":who", f"{ab} — {t['who']}", a.get("who"))
                put(ka + ":when", f"{ab} — {t['when']}", a.get("when"))
                put(ka + ":volet", f"{ab} — {t['plan']}", VOLET_LABELS.get(a.get("volet"), a.get("volet")))
    return out


def _date_text(iso: str | None) -> str:
    return date.fromisoformat(iso).strftime("%d/%m/%Y") if iso else ""


def diff(old: dict, new: dict) -> list[dict]:
    """Field-level differences between two snapshots: [{label, before, after, kind}]."""
    a, b = _flatten(old), _flatten(new)
    rows = []
    for key in list(b) + [k for k in a if k not in b]:
        before = a.get(key, ("", ""))[1]
        after = b.get(key, ("", ""))[1]
        if before == after:
            continue
        label = (b.get(key) or a.get(key))[0]
        kind = "added" if key not in a else "removed" if key not in b else "changed"
        rows.append({"label": label, "before": before, "after": after, "kind": kind})
    return rows


def iso_fr(iso: str | None, with_weekday: bool = False) -> str:
    """'24 novembre 2026' from an ISO date kept in a snapshot."""
    from esp_coord.core.time import format_date

    return format_date(date.fromisoformat(iso[:10]), with_weekday) if iso else ""
