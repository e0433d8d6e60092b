"""Views of the care_plans feature (PPS): thin — services write and audit, views commit once."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from esp_coord.care_plans import bp
from esp_coord.core import audit
from esp_coord.core.db import parse_uuid
from esp_coord.core.extensions import db
from esp_coord.core.pdf import pdf_response, render_pdf
from esp_coord.core.security import load_in_team, team_access
from esp_coord.core.templating import nav_url
from esp_coord.core.time import format_datetime, today_paris, utc_now
from esp_coord.patients.access import OPPOSITION_NOTICE, content_visible, identity, load_patient
from esp_coord.teams.models import Membership, Profession

from . import services as svc
from .forms import (
    ActionForm,
    CloseForm,
    ConsentForm,
    EmptyForm,
    ObjectiveForm,
    PlanForm,
    ProblemForm,
    ReviewForm,
    ValidateForm,
)
from .models import CarePlan, CarePlanAction, CarePlanObjective, CarePlanProblem, CarePlanReview

MEETING_CASE_ENDPOINTS = ("meetings.case", "meetings.show_case", "meetings.case_detail")


# ---------------------------------------------------------------- helpers


def _plan(team_id, plan_id, minimum_role="member"):
    team, membership = team_access(team_id, minimum_role)
    plan = load_in_team(CarePlan, plan_id, team.id)
    if plan.patient is None or plan.patient.erased_at is not None:
        abort(404)
    return team, membership, plan


def _visible(plan) -> bool:
    return content_visible(plan.patient, plan.created_by_id, current_user)


def _require_visible(plan, action="care_plan.denied"):
    """Opposition rule: only the plan's author may read or change its content."""
    if not _visible(plan):
        audit.record(action, team_id=plan.team_id, patient_id=plan.patient_id, object_type="care_plan",
                     object_id=plan.id, outcome="denied", details={"reason": "opposition"})
        db.session.commit()
        abort(403)


def _child(model, child_id, plan):
    oid = parse_uuid(child_id)
    obj = db.session.get(model, oid) if oid else None
    if obj is None or obj.plan_id != plan.id:
        abort(404)
    return obj


def _item_of(model, item_id, plan, parent_key: str, parent):
    """The item being edited (None when adding one); it must hang under ``parent``, otherwise 404."""
    item = _child(model, item_id, plan) if item_id else None
    if item is not None and getattr(item, parent_key) != parent.id:
        abort(404)
    return item


def meeting_case_url(team_id, case_id):
    """Link to the RCP decision the plan came from, when the meetings feature can resolve it (no coupling)."""
    if not case_id:
        return None
    for endpoint in MEETING_CASE_ENDPOINTS:
        url = nav_url(endpoint, team_id=team_id, case_id=case_id)
        if url:
            return url
    try:
        from esp_coord.meetings.models import MeetingCase
    except ImportError:
        return None
    case = db.session.get(MeetingCase, case_id)
    meeting_id = getattr(case, "meeting_id", None)
    if meeting_id is None or getattr(case, "team_id", None) != team_id:
        return None
    url = nav_url("meetings.detail", team_id=team_id, meeting_id=meeting_id)
    return f"{url}#case-{case_id}" if url else None


def _professions():
    return list(db.session.execute(sa.select(Profession).order_by(Profession.sort)).scalars())


def _refused(message, plan=None, *, team_id=None, patient_id=None):
    """Nothing half-saved: roll back, trace the refusal, answer 400 with the French message."""
    db.session.rollback()
    audit.record("care_plan.refused", team_id=plan.team_id if plan else team_id,
                 patient_id=plan.patient_id if plan else patient_id, object_type="care_plan",
                 object_id=plan.id if plan else None, outcome="failure", details={"endpoint": request.endpoint})
    db.session.commit()
    return message


def _show_context(team, membership, plan):
    visible = _visible(plan)
    ctx = dict(team=team, membership=membership, plan=plan, visible=visible, notice=OPPOSITION_NOTICE,
               patient_name=identity(plan.patient).display_name, review=svc.open_review(plan),
               editable=svc.is_editable(plan), versions=svc.versions(plan), svc=svc, empty=EmptyForm(),
               meeting_url=meeting_case_url(team.id, plan.source_meeting_case_id))
    if visible:
        ctx["snap"] = svc.snapshot(plan)
        ctx["past_reviews"] = [svc.review_dict(plan, r) for r in plan.reviews if r.status == "validated"]
        ctx["close_reason"] = svc.close_reason(plan) if plan.status == "closed" else None
        ctx["record_consent_on"] = svc.record_consent_on(plan) if plan.consent_on is None else None
        vf = ValidateForm()
        if not vf.is_submitted():
            vf.next_review_on.data = plan.next_review_on or svc.default_review_date()
        ctx["validate_form"] = vf
    return ctx


def _render_show(team, membership, plan, error=None, status=200):
    ctx = _show_context(team, membership, plan)
    return render_template("care_plans/show.html", error=error, **ctx), status


def _show_url(team, plan, anchor=""):
    return url_for("care_plans.show", team_id=team.id, plan_id=plan.id) + anchor


def _save(action, message, target, plan=None, **where):
    """Run a form's service call: commit, flash ``message`` and redirect to ``target`` → (response, None).

    ``message`` and ``target`` may be callables taking the action's result. On ``CarePlanError`` nothing is
    kept and the refusal is traced (see ``_refused``) → (None, French message), for the form to be shown again.
    """
    try:
        result = action()
        db.session.commit()
    except svc.CarePlanError as exc:
        return None, _refused(str(exc), plan, **where)
    flash(message(result) if callable(message) else message, "success")
    return redirect(target(result) if callable(target) else target), None


def _plan_op(team, membership, plan, action, target):
    """Run a state change posted from the plan page: commit and redirect to ``target`` (may be a callable of the
    action's result), or show the plan again with the refusal (400)."""
    try:
        result = action()
        db.session.commit()
    except svc.CarePlanError as exc:
        return _render_show(team, membership, plan, error=_refused(str(exc), plan), status=400)
    return redirect(target(result) if callable(target) else target)


# ---------------------------------------------------------------- lists


@bp.get("/")
def index():
    memberships = [m for m in current_user.memberships if m.ended_on is None]
    team_ids = [m.team_id for m in memberships]
    plans = []
    if team_ids:
        plans = list(db.session.execute(
            sa.select(CarePlan).where(CarePlan.team_id.in_(team_ids))
            .order_by(CarePlan.status, CarePlan.next_review_on, CarePlan.number)).unique().scalars())
    rows = [(p, identity(p.patient).display_name) for p in plans if p.patient.erased_at is None]
    audit.record("care_plan.list", object_type="care_plan", details={"count": len(rows)})
    db.session.commit()
    return render_template("care_plans/index.html", memberships=memberships, rows=rows, svc=svc,
                           today=today_paris())


@bp.get("/equipe/<team_id>")
def dashboard(team_id):
    team, membership = team_access(team_id)
    today = today_paris()
    plans = [p for p in db.session.execute(sa.select(CarePlan).where(CarePlan.team_id == team.id)
                                           .order_by(CarePlan.next_review_on)).unique().scalars()
             if p.patient.erased_at is None]
    counts = {s: 0 for s in svc.STATUS_LABELS}
    for p in plans:
        counts[p.status] = counts.get(p.status, 0) + 1
    active = [p for p in plans if p.status == "active"]
    due_soon = [p for p in active if p.next_review_on and today <= p.next_review_on <= today + timedelta(days=30)]
    overdue = [p for p in active if p.next_review_on and p.next_review_on < today]
    with_record = svc.patients_with_record_consent(p.patient_id for p in plans if p.consent_on is None)
    no_consent = [p for p in plans if p.status != "closed" and p.consent_on is None
                  and p.patient_id not in with_record]
    from esp_coord.patients.crypto_service import prefetch_keys

    prefetch_keys(p.patient_id for p in plans if p.status != "closed")  # one query, not one per plan
    names = {p.id: identity(p.patient).display_name for p in plans if p.status != "closed"}
    audit.record("care_plan.dashboard", team_id=team.id, object_type="team", object_id=team.id)
    html = render_template("care_plans/dashboard.html", team=team, membership=membership, counts=counts,
                           due_soon=due_soon, overdue=overdue, no_consent=no_consent, names=names, svc=svc,
                           today=today, open_plans=[p for p in plans if p.status != "closed"])
    db.session.commit()  # after rendering: committing first expired every plan and reloaded them one by one
    return html


# ---------------------------------------------------------------- open / header


def _header_data(form: PlanForm) -> svc.HeaderData:
    return svc.HeaderData(
        coordinator_id=parse_uuid(form.coordinator_id.data),
        participant_ids=[parse_uuid(x) for x in form.participant_ids.data or []],
        outside_participants=form.outside_participants.data, opened_on=form.opened_on.data,
        trigger=form.trigger.data, expectations=form.expectations.data, internal_notes=form.internal_notes.data,
        next_review_on=form.next_review_on.data,
        source_meeting_case_id=parse_uuid(form.source_meeting_case_id.data) if form.source_meeting_case_id.data
        else None,
    )


@bp.route("/equipe/<team_id>/patient/<patient_id>", methods=["GET", "POST"])
def for_patient(team_id, patient_id):
    team, membership, patient = load_patient(team_id, patient_id)
    existing = svc.open_plan_for(team.id, patient.id)
    if existing is not None:
        if request.method == "POST":
            message = _refused(_("This patient already has a care plan in progress in this team: review or close "
                                 "it before opening another one."), existing)
            return _render_show(team, membership, existing, error=message, status=400)
        return redirect(url_for("care_plans.show", team_id=team.id, plan_id=existing.id))
    members = svc.team_members(team.id)
    form = PlanForm()
    form.set_members(members)
    error = None
    if request.method == "GET":
        form.coordinator_id.data = str(patient.gp_member_id or current_user.id)
        form.participant_ids.data = [str(current_user.id)]
        form.opened_on.data = today_paris()
        form.next_review_on.data = svc.default_review_date()
        case_id = parse_uuid(request.args.get("case"))
        form.source_meeting_case_id.data = str(case_id) if case_id else ""
    elif form.validate_on_submit():
        done, error = _save(lambda: svc.create_plan(team, patient, _header_data(form), actor=current_user),
                            _("Care plan opened as a draft. Add the problems, objectives and actions, then validate "
                              "it."), lambda plan: _show_url(team, plan), team_id=team.id, patient_id=patient.id)
        if done is not None:
            return done
    return render_template("care_plans/plan_form.html", form=form, team=team, plan=None, error=error,
                           patient_name=identity(patient).display_name,
                           patient=patient), 400 if request.method == "POST" else 200


@bp.get("/equipe/<team_id>/plan/<plan_id>")
def show(team_id, plan_id):
    team, membership, plan = _plan(team_id, plan_id)
    audit.record("care_plan.read", team_id=team.id, patient_id=plan.patient_id, object_type="care_plan",
                 object_id=plan.id, outcome="success" if _visible(plan) else "denied")
    resp = _render_show(team, membership, plan)
    db.session.commit()
    return resp


@bp.route("/equipe/<team_id>/plan/<plan_id>/modifier", methods=["GET", "POST"])
def edit(team_id, plan_id):
    team, membership, plan = _plan(team_id, plan_id)
    _require_visible(plan)
    form = PlanForm()
    form.set_members(svc.team_members(team.id))
    error = None
    if request.method == "GET":
        snap = svc.snapshot(plan)
        form.coordinator_id.data = str(plan.coordinator_id or "")
        form.participant_ids.data = [str(p.user_id) for p in plan.participants]
        form.opened_on.data = plan.opened_on
        form.next_review_on.data = plan.next_review_on
        for name in ("outside_participants", "trigger", "expectations", "internal_notes"):
            getattr(form, name).data = snap[name]
        form.source_meeting_case_id.data = str(plan.source_meeting_case_id or "")
        audit.record("care_plan.read", team_id=team.id, patient_id=plan.patient_id, object_type="care_plan",
                     object_id=plan.id)
        db.session.commit()
        if not svc.is_editable(plan):
            error = str(svc.CarePlanError(_("Version %(n)s of this care plan is validated and frozen. Start a "
                                            "review to change the plan.", n=plan.current_version)))
    elif form.validate_on_submit():
        done, error = _save(lambda: svc.update_header(plan, _header_data(form), actor=current_user),
                            _("Care plan saved."), _show_url(team, plan), plan)
        if done is not None:
            return done
    return render_template("care_plans/plan_form.html", form=form, team=team, plan=plan, error=error,
                           patient_name=identity(plan.patient).display_name,
                           patient=plan.patient), 400 if request.method == "POST" else 200


# ---------------------------------------------------------------- problems / objectives / actions


def _item_page(template, team, plan, form, status, error=None, **ctx):
    if request.method == "GET":  # the form shows decrypted patient text: audit the read
        audit.record("care_plan.read", team_id=team.id, patient_id=plan.patient_id, object_type="care_plan",
                     object_id=plan.id, details={"endpoint": request.endpoint})
        db.session.commit()
    return render_template(template, team=team, plan=plan, form=form, error=error,
                           editable=svc.is_editable(plan), **ctx), status


@bp.route("/equipe/<team_id>/plan/<plan_id>/probleme/nouveau", methods=["GET", "POST"], defaults={"problem_id": None})
@bp.route("/equipe/<team_id>/plan/<plan_id>/probleme/<problem_id>", methods=["GET", "POST"])
def problem(team_id, plan_id, problem_id):
    team, _m, plan = _plan(team_id, plan_id)
    _require_visible(plan)
    item = _child(CarePlanProblem, problem_id, plan) if problem_id else None
    form = ProblemForm()
    error = None
    if request.method == "GET" and item is not None:
        form.category.data = item.category
        form.label.data = svc.txt(plan, "care_plan_problem", "label", item.id, item.label_enc)
        form.patient_priority.data = item.patient_priority
        form.uncertain.data = item.uncertain
    if request.method == "POST":
        if form.validate_on_submit():
            done, error = _save(lambda: svc.save_problem(plan, category=form.category.data, label=form.label.data,
                                                         patient_priority=form.patient_priority.data,
                                                         uncertain=form.uncertain.data, problem=item,
                                                         actor=current_user),
                                _("Problem saved."), _show_url(team, plan, "#problemes"), plan)
            if done is not None:
                return done
        return _item_page("care_plans/problem_form.html", team, plan, form, 400, error, item=item)
    return _item_page("care_plans/problem_form.html", team, plan, form, 200, item=item)


@bp.post("/equipe/<team_id>/plan/<plan_id>/probleme/<problem_id>/<any(monter,descendre,supprimer):op>")
def problem_op(team_id, plan_id, problem_id, op):
    team, membership, plan = _plan(team_id, plan_id)
    _require_visible(plan)
    item = _child(CarePlanProblem, problem_id, plan)
    if not EmptyForm().validate_on_submit():
        abort(400)
    def change():
        if op == "supprimer":
            svc.delete_problem(plan, item, actor=current_user)
        else:
            svc.move_problem(plan, item, -1 if op == "monter" else 1, actor=current_user)

    return _plan_op(team, membership, plan, change, _show_url(team, plan, "#problemes"))


@bp.route("/equipe/<team_id>/plan/<plan_id>/probleme/<problem_id>/objectif/nouveau", methods=["GET", "POST"],
          defaults={"objective_id": None})
@bp.route("/equipe/<team_id>/plan/<plan_id>/probleme/<problem_id>/objectif/<objective_id>", methods=["GET", "POST"])
def objective(team_id, plan_id, problem_id, objective_id):
    team, _m, plan = _plan(team_id, plan_id)
    _require_visible(plan)
    prob = _child(CarePlanProblem, problem_id, plan)
    item = _item_of(CarePlanObjective, objective_id, plan, "problem_id", prob)
    form = ObjectiveForm()
    error = None
    if request.method == "GET" and item is not None:
        for name in ("text", "criterion", "result"):
            getattr(form, name).data = svc.txt(plan, "care_plan_objective", name, item.id,
                                               getattr(item, f"{name}_enc"))
    if request.method == "POST":
        if form.validate_on_submit():
            done, error = _save(lambda: svc.save_objective(plan, prob, text=form.text.data,
                                                           criterion=form.criterion.data, result=form.result.data,
                                                           objective=item, actor=current_user),
                                _("Objective saved."), _show_url(team, plan, f"#p-{prob.id}"), plan)
            if done is not None:
                return done
        return _item_page("care_plans/objective_form.html", team, plan, form, 400, error, item=item, problem=prob,
                          problem_label=svc.txt(plan, "care_plan_problem", "label", prob.id, prob.label_enc))
    return _item_page("care_plans/objective_form.html", team, plan, form, 200, item=item, problem=prob,
                      problem_label=svc.txt(plan, "care_plan_problem", "label", prob.id, prob.label_enc))


@bp.post("/equipe/<team_id>/plan/<plan_id>/objectif/<objective_id>/supprimer")
def objective_delete(team_id, plan_id, objective_id):
    team, membership, plan = _plan(team_id, plan_id)
    _require_visible(plan)
    item = _child(CarePlanObjective, objective_id, plan)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return _plan_op(team, membership, plan, lambda: svc.delete_objective(plan, item, actor=current_user),
                    _show_url(team, plan, "#problemes"))


def _action_data(form: ActionForm) -> svc.ActionData:
    kind = form.owner_kind.data or None
    if kind is None:  # no radio ticked: infer it when exactly one "who" field is filled
        filled = [k for k, v in (("member", form.owner_user_id.data), ("profession", form.owner_profession_code.data),
                                 ("outside", (form.owner_outside.data or "").strip())) if v]
        kind = filled[0] if len(filled) == 1 else None
    return svc.ActionData(
        what=form.what.data, owner_kind=kind,
        owner_user_id=parse_uuid(form.owner_user_id.data) if form.owner_user_id.data else None,
        owner_profession_code=form.owner_profession_code.data or None, owner_outside=form.owner_outside.data,
        when=form.when.data, due_on=form.due_on.data, volet=form.volet.data or "care",
    )


@bp.route("/equipe/<team_id>/plan/<plan_id>/objectif/<objective_id>/action/nouvelle", methods=["GET", "POST"],
          defaults={"action_id": None})
@bp.route("/equipe/<team_id>/plan/<plan_id>/objectif/<objective_id>/action/<action_id>", methods=["GET", "POST"])
def action(team_id, plan_id, objective_id, action_id):
    team, _m, plan = _plan(team_id, plan_id)
    _require_visible(plan)
    obj = _child(CarePlanObjective, objective_id, plan)
    item = _item_of(CarePlanAction, action_id, plan, "objective_id", obj)
    form = ActionForm()
    form.set_choices(svc.team_members(team.id), _professions())
    error = None
    if request.method == "GET" and item is not None:
        form.what.data = svc.txt(plan, "care_plan_action", "what", item.id, item.what_enc)
        form.when.data = svc.txt(plan, "care_plan_action", "when", item.id, item.when_enc)
        form.owner_kind.data = item.owner_kind
        form.owner_user_id.data = str(item.owner_user_id or "")
        form.owner_profession_code.data = item.owner_profession_code or ""
        form.owner_outside.data = svc.txt(plan, "care_plan_action", "owner_outside", item.id, item.owner_outside_enc)
        form.due_on.data = item.due_on
        form.volet.data = item.volet
    ctx = dict(item=item, objective=obj,
               objective_text=svc.txt(plan, "care_plan_objective", "text", obj.id, obj.text_enc))
    if request.method == "POST":
        if form.validate_on_submit():
            done, error = _save(lambda: svc.save_action(plan, obj, _action_data(form), action=item,
                                                        actor=current_user),
                                _("Action saved."), _show_url(team, plan, f"#o-{obj.id}"), plan)
            if done is not None:
                return done
        return _item_page("care_plans/action_form.html", team, plan, form, 400, error, **ctx)
    return _item_page("care_plans/action_form.html", team, plan, form, 200, **ctx)


@bp.post("/equipe/<team_id>/plan/<plan_id>/action/<action_id>/supprimer")
def action_delete(team_id, plan_id, action_id):
    team, membership, plan = _plan(team_id, plan_id)
    _require_visible(plan)
    item = _child(CarePlanAction, action_id, plan)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return _plan_op(team, membership, plan, lambda: svc.delete_action(plan, item, actor=current_user),
                    _show_url(team, plan, "#problemes"))


# ---------------------------------------------------------------- consent, validation, reviews, closing


@bp.route("/equipe/<team_id>/plan/<plan_id>/consentement", methods=["GET", "POST"])
def consent(team_id, plan_id):
    team, _m, plan = _plan(team_id, plan_id)
    _require_visible(plan)
    form = ConsentForm()
    error = None
    if request.method == "GET":
        form.consent_on.data = plan.consent_on or today_paris()
        form.method.data = plan.consent_method
        form.scope.data = plan.consent_scope or "care_and_help"
    elif form.validate_on_submit():
        done, error = _save(lambda: svc.record_consent(plan, on=form.consent_on.data, method=form.method.data,
                                                       scope=form.scope.data, actor=current_user),
                            _("Consent recorded."), _show_url(team, plan), plan)
        if done is not None:
            return done
    return _item_page("care_plans/consent_form.html", team, plan, form, 400 if request.method == "POST" else 200,
                      error)


@bp.post("/equipe/<team_id>/plan/<plan_id>/valider")
def validate(team_id, plan_id):
    team, membership, plan = _plan(team_id, plan_id)
    _require_visible(plan)
    form = ValidateForm()
    if not form.validate_on_submit():
        return _render_show(team, membership, plan, error=_refused(_("Invalid date."), plan), status=400)
    def validated(version):
        flash(_("Care plan validated: version %(n)s is frozen.", n=version.number), "success")
        return _show_url(team, plan)

    return _plan_op(team, membership, plan,
                    lambda: svc.validate_plan(plan, next_review_on=form.next_review_on.data, actor=current_user),
                    validated)


@bp.post("/equipe/<team_id>/plan/<plan_id>/revision")
def review_start(team_id, plan_id):
    team, membership, plan = _plan(team_id, plan_id)
    _require_visible(plan)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return _plan_op(team, membership, plan, lambda: svc.start_review(plan, actor=current_user),
                    lambda review: url_for("care_plans.review", team_id=team.id, plan_id=plan.id,
                                           review_id=review.id))


def _review_data(form: ReviewForm) -> svc.ReviewData:
    return svc.ReviewData(review_on=form.review_on.data,
                          participant_ids=[parse_uuid(x) for x in form.participant_ids.data or []],
                          outside_participants=form.outside_participants.data, changes=form.changes.data,
                          outcome=form.outcome.data, next_review_on=form.next_review_on.data)


@bp.route("/equipe/<team_id>/plan/<plan_id>/revision/<review_id>", methods=["GET", "POST"])
def review(team_id, plan_id, review_id):
    team, _m, plan = _plan(team_id, plan_id)
    _require_visible(plan)
    item = _child(CarePlanReview, review_id, plan)
    form = ReviewForm()
    form.set_members(svc.team_members(team.id))
    error = None
    if request.method == "GET":
        data = svc.review_dict(plan, item)
        form.review_on.data = item.review_on
        form.participant_ids.data = [str(p.user_id) for p in item.participants]
        form.outside_participants.data = data["outside_participants"]
        form.changes.data = data["changes"]
        form.outcome.data = data["outcome"]
        form.next_review_on.data = plan.next_review_on if plan.next_review_on and \
            plan.next_review_on > item.review_on else svc.default_review_date(item.review_on)
        audit.record("care_plan.review.read", team_id=team.id, patient_id=plan.patient_id,
                     object_type="care_plan_review", object_id=item.id)
        db.session.commit()
    elif form.validate_on_submit():
        validating = request.form.get("then") == "validate"

        def save():
            svc.update_review(plan, item, _review_data(form), actor=current_user)
            return svc.validate_review(plan, item, actor=current_user) if validating else None

        done, error = _save(save, lambda version: _("Review validated: version %(n)s is frozen.", n=version.number)
                            if validating else _("Review saved. Update the plan if needed, then validate the review."),
                            _show_url(team, plan), plan)
        if done is not None:
            return done
    return _item_page("care_plans/review_form.html", team, plan, form, 400 if request.method == "POST" else 200,
                      error, item=item)


@bp.route("/equipe/<team_id>/plan/<plan_id>/cloturer", methods=["GET", "POST"])
def close(team_id, plan_id):
    team, _m, plan = _plan(team_id, plan_id)
    _require_visible(plan)
    form = CloseForm()
    error = None
    if request.method == "POST":
        if form.validate_on_submit():
            done, error = _save(lambda: svc.close_plan(plan, reason=form.reason.data, actor=current_user),
                                _("Care plan closed."), _show_url(team, plan), plan)
            if done is not None:
                return done
        return _item_page("care_plans/close_form.html", team, plan, form, 400, error)
    return _item_page("care_plans/close_form.html", team, plan, form, 200)


# ---------------------------------------------------------------- versions and diff


def _version_or_404(plan, number):
    try:
        n = int(number)
    except (TypeError, ValueError):
        abort(404)
    if not 1 <= n <= 100_000:
        abort(404)
    snap = svc.load_version(plan, n)
    if snap is None:
        abort(404)
    return n, snap


@bp.get("/equipe/<team_id>/plan/<plan_id>/version/<number>")
def version(team_id, plan_id, number):
    team, _m, plan = _plan(team_id, plan_id)
    _require_visible(plan)
    n, snap = _version_or_404(plan, number)
    audit.record("care_plan.version.read", team_id=team.id, patient_id=plan.patient_id, object_type="care_plan",
                 object_id=plan.id, details={"version": n})
    db.session.commit()
    return render_template("care_plans/version.html", team=team, plan=plan, snap=snap, number=n, svc=svc,
                           versions=svc.versions(plan))


@bp.get("/equipe/<team_id>/plan/<plan_id>/comparer")
def compare(team_id, plan_id):
    team, _m, plan = _plan(team_id, plan_id)
    _require_visible(plan)
    numbers = [v.number for v in svc.versions(plan)]
    if len(numbers) < 2:
        return render_template("care_plans/diff.html", team=team, plan=plan, rows=None, a=None, b=None,
                               numbers=numbers)
    a = request.args.get("a", numbers[-2])
    b = request.args.get("b", numbers[-1])
    na, snap_a = _version_or_404(plan, a)
    nb, snap_b = _version_or_404(plan, b)
    rows = svc.diff(snap_a, snap_b)
    audit.record("care_plan.version.diff", team_id=team.id, patient_id=plan.patient_id, object_type="care_plan",
                 object_id=plan.id, details={"a": na, "b": nb})
    db.session.commit()
    return render_template("care_plans/diff.html", team=team, plan=plan, rows=rows, a=na, b=nb, numbers=numbers)


# ---------------------------------------------------------------- PDFs


@bp.get("/equipe/<team_id>/plan/<plan_id>/pdf/<any(equipe,patient):copy>")
def pdf(team_id, plan_id, copy):
    team, _m, plan = _plan(team_id, plan_id)
    _require_visible(plan)
    number = request.args.get("version")
    if number:
        n, snap = _version_or_404(plan, number)
        label = _("Version %(n)s", n=n)
    else:
        snap = svc.snapshot(plan)
        n = plan.current_version
        if plan.status == "draft":
            label = _("Draft, not validated yet")
        elif svc.is_editable(plan):
            label = _("Version %(n)s with changes under review", n=n)
        else:
            label = _("Version %(n)s", n=n)
    ident = identity(plan.patient)
    audit.record("care_plan.print", team_id=team.id, patient_id=plan.patient_id, object_type="care_plan",
                 object_id=plan.id, details={"copy": copy, "version": n})
    db.session.commit()
    template = "care_plans/pdf/team.html" if copy == "equipe" else "care_plans/pdf/patient.html"
    data = render_pdf(template, team=team, plan=plan, snap=snap, version_label=label, ident=ident, svc=svc,
                      printed_at=format_datetime(utc_now()),
                      past_reviews=[svc.review_dict(plan, r) for r in plan.reviews if r.status == "validated"])
    return pdf_response(data, f"pps-{plan.number}-{'equipe' if copy == 'equipe' else 'patient'}.pdf")


# ---------------------------------------------------------------- signal receivers (connected in receivers.py)


def timeline_items(patient, viewer):
    from esp_coord.core.timeline import TimelineItem

    from .models import CarePlanVersion

    plans = list(db.session.execute(sa.select(CarePlan).where(CarePlan.patient_id == patient.id)).unique().scalars())
    items = []
    for plan in plans:
        try:
            url = url_for("care_plans.show", team_id=plan.team_id, plan_id=plan.id)
        except RuntimeError:
            url = None
        items.append(TimelineItem(at=plan.created_at, kind="pps", url=url,
                                  title=_("Care plan n°%(n)s opened", n=plan.number)))
        for v in db.session.execute(sa.select(CarePlanVersion).where(CarePlanVersion.plan_id == plan.id)).scalars():
            title = _("Care plan n°%(n)s validated (version %(v)s)", n=plan.number, v=v.number) if v.kind == \
                "initial" else _("Care plan n°%(n)s reviewed (version %(v)s)", n=plan.number, v=v.number)
            items.append(TimelineItem(at=v.created_at, kind="pps", url=url, title=title))
        if plan.status == "closed":
            items.append(TimelineItem(at=plan.updated_at, kind="pps", url=url,
                                      title=_("Care plan n°%(n)s closed", n=plan.number)))
    return items


def export_section(patient):
    plans = list(db.session.execute(sa.select(CarePlan).where(CarePlan.patient_id == patient.id)
                                    .order_by(CarePlan.number)).unique().scalars())
    out = []
    for plan in plans:
        snap = svc.snapshot(plan)
        snap["reviews"] = [svc.review_dict(plan, r) for r in plan.reviews]
        snap["versions"] = [{"number": v.number, "frozen_at": v.created_at.isoformat()} for v in svc.versions(plan)]
        if plan.status == "closed":
            snap["closed_on"] = plan.closed_on.isoformat() if plan.closed_on else None
            snap["close_reason"] = svc.close_reason(plan)
        out.append(snap)
    return {"key": "care_plans", "title": "Plans personnalisés de santé (PPS)", "plans": out}



def dashboard_panel(user):
    team_ids = [m.team_id for m in db.session.execute(sa.select(Membership).where(
        Membership.user_id == user.id, Membership.ended_on.is_(None))).scalars()]
    if not team_ids:
        return []
    limit = today_paris() + timedelta(days=30)
    # columns only: loading CarePlan entities pulled every plan's selectin tree (problems, objectives, actions,
    # reviews, participants, patient, followers) on each dashboard view — see docs/benchmarks.md
    plans = db.session.execute(sa.select(CarePlan.id, CarePlan.team_id, CarePlan.number, CarePlan.next_review_on)
                               .where(CarePlan.team_id.in_(team_ids), CarePlan.status == "active",
                                      CarePlan.next_review_on <= limit)
                               .order_by(CarePlan.next_review_on)).all()
    if not plans:
        return []
    items = [(_("Care plan n°%(n)s", n=p.number), url_for("care_plans.show", team_id=p.team_id, plan_id=p.id),
              _("review by %(d)s", d=p.next_review_on.strftime("%d/%m/%Y"))) for p in plans]
    return [{"title": _("Care plans to review"), "items": items}]

