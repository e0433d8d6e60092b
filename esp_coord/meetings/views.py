"""Views of the meetings feature: meetings, date polls, agenda, attendance, minutes, PDFs."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from esp_coord.core import audit
from esp_coord.core.extensions import db
from esp_coord.core.pdf import pdf_response, render_pdf
from esp_coord.core.security import load_in_team, membership_for, team_access
from esp_coord.core.templating import nav_url
from esp_coord.core.time import paris_to_utc, to_paris, utc_now
from esp_coord.core.timeline import TimelineItem
from esp_coord.meetings import bp

from . import services as svc
from .forms import (
    CaseForm,
    CaseMinutesForm,
    EmptyForm,
    GeneralMinutesForm,
    MarkPresentForm,
    MeetingForm,
    PollForm,
    TaskForm,
)
from .ics import cases_label, invitation_bytes
from .models import KINDS, Meeting, MeetingCase, MinutesRevision

MAX_SLOTS = 8
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{1,2}:\d{2}$")


# ---------------------------------------------------------------- helpers
def parse_local(day: str | None, hhmm: str | None, field: str) -> datetime | None:
    day, hhmm = (day or "").strip(), (hhmm or "").strip()
    if not day and not hhmm:
        return None
    try:
        if not _DAY.match(day) or not _TIME.match(hhmm):
            raise ValueError
        h, m = (int(x) for x in hhmm.split(":"))
        return paris_to_utc(datetime.combine(date.fromisoformat(day), time(h, m)))
    except ValueError:
        raise svc.MeetingError(_("Invalid date or time (expected a date and a time such as 14:30)."),
                               field) from None


def parse_day(value: str | None, field: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        if not _DAY.match(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise svc.MeetingError(_("Invalid date."), field) from None


def _load(team_id, meeting_id, role="member"):
    team, membership = team_access(team_id, role)
    meeting = load_in_team(Meeting, meeting_id, team_id)
    return team, membership, meeting


def _can_manage(membership, meeting) -> bool:
    return membership.has_role("coordinator") or meeting.organiser_id == current_user.id


def _require_manager(membership, meeting):
    if not _can_manage(membership, meeting):
        abort(403)


def _manager_post(team_id, meeting_id):
    """A manager's button on the meeting page: 404 outside the team, 403 for others, 400 without a valid token."""
    team, membership, meeting = _load(team_id, meeting_id)
    _require_manager(membership, meeting)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return team, membership, meeting


def _field_error(form, err: svc.MeetingError, general: list):
    target = getattr(form, err.field, None) if err.field else None
    if target is not None and hasattr(target, "errors"):
        target.errors = list(target.errors) + [err.message]
    else:
        general.append(err.message)


def _detail_url(team, meeting):
    return url_for("meetings.detail", team_id=team.id, meeting_id=meeting.id)


def _minutes_url(team, meeting, anchor=""):
    return url_for("meetings.minutes", team_id=team.id, meeting_id=meeting.id) + anchor


def _attempt(action, success, target, on_error):
    """Run a service call and commit; flash ``success`` and redirect to ``target``.

    ``success`` and ``target`` may be callables taking the action's result. On ``MeetingError`` the session is
    rolled back and ``on_error(err)`` is returned (``None`` lets a form view fall through to its re-render).
    """
    try:
        result = action()
    except svc.MeetingError as err:
        db.session.rollback()
        return on_error(err)
    db.session.commit()
    flash(success(result) if callable(success) else success, "success")
    return redirect(target(result) if callable(target) else target)


def _require_valid(form):
    if not form.validate_on_submit():
        raise svc.MeetingError(_("The form has expired; please try again."))


def _flash_error(target):
    def on_error(err):
        flash(err.message, "error")
        return redirect(target)
    return on_error


def _detail_error(team, membership, meeting, **kwargs):
    return lambda err: _render_detail(team, membership, meeting, errors=[err.message], status=400, **kwargs)


def _minutes_error(team, membership, meeting, **kwargs):
    return lambda err: _render_minutes(team, membership, meeting, errors=[err.message], status=400, **kwargs)


def _form_choices(form, team):
    form.kind.choices = list(svc.kind_labels().items())
    form.place_kind.choices = list(svc.place_labels().items())
    form.invitees.choices = [(str(u.id), f"{u.full_name} ({u.profession_label})") for u in svc.team_members(team.id)]


def _case_patients(team):
    """Patients of the team's registry for the agenda picker (identity shown inside the app only)."""
    from esp_coord.patients.access import identity
    from esp_coord.patients.models import Patient

    patients = db.session.execute(
        sa.select(Patient).where(Patient.team_id == team.id, Patient.erased_at.is_(None))
        .order_by(Patient.last_activity_at.desc().nulls_last()).limit(500)
    ).scalars().all()
    items = [(str(p.id), identity(p).display_name + (f" – {identity(p).birth_date.strftime('%d/%m/%Y')}"
                                                        if identity(p).birth_date else "")) for p in patients]
    return sorted(items, key=lambda x: x[1])


# ---------------------------------------------------------------- index
@bp.route("/")
def index():
    from esp_coord.teams.models import Membership

    memberships = db.session.execute(sa.select(Membership).where(
        Membership.user_id == current_user.id, Membership.ended_on.is_(None))).scalars().all()
    meetings = svc.meetings_for_user(current_user, team_ids=[m.team_id for m in memberships])
    now = utc_now()
    to_answer, polls, upcoming, past = [], [], [], []
    for m in meetings:
        if m.status == "poll":
            inv = svc.invitee_for(m, current_user.id)
            answered = any(a.user_id == current_user.id for s in m.slots for a in s.answers)
            (to_answer if inv is not None and not answered else polls).append(m)
        elif m.status == "scheduled" and m.ends_at >= now:
            upcoming.append(m)
        else:
            past.append(m)
    upcoming.sort(key=lambda m: m.starts_at)
    managed = [m.team for m in memberships if m.has_role("coordinator")]
    return render_template("meetings/index.html", to_answer=to_answer, polls=polls, upcoming=upcoming,
                           past=past[:50], managed=managed, kind_label=svc.kind_label, cases_label=cases_label,
                           case_count=svc.case_count)


# ---------------------------------------------------------------- create
def _create_page(team_id, form_class, build, message, **page):
    """Page creating a meeting (dated or by date poll): coordinators only, form shown again with 400 on errors."""
    team, _m = team_access(team_id, "coordinator")
    form = form_class()
    _form_choices(form, team)
    if request.method == "GET":
        form.kind.data, form.place_kind.data = "rcp_sans", "practice"
    errors: list[str] = []
    if request.method == "POST":
        if form.validate_on_submit():
            done = _attempt(lambda: build(team, form), message, lambda meeting: _detail_url(team, meeting),
                            lambda err: _field_error(form, err, errors))
            if done is not None:
                return done
        else:
            errors.append(_("The form has expired; please try again."))
    return render_template("meetings/form.html", form=form, team=team, errors=errors, meeting=None,
                           **page), 400 if request.method == "POST" else 200


@bp.route("/<team_id>/nouvelle", methods=["GET", "POST"])
def new_meeting(team_id):
    def create(team, form):
        starts = parse_local(form.day.data, form.start.data, "day")
        ends = parse_local(form.day.data, form.end.data, "end")
        return svc.create_meeting(team, kind=form.kind.data, place_kind=form.place_kind.data,
                                  place=form.place.data, visio_url=form.visio_url.data,
                                  invitee_ids=form.invitees.data, actor=current_user,
                                  starts_at=starts, ends_at=ends)

    return _create_page(team_id, MeetingForm, create, _("Meeting scheduled; the invitations have been sent."),
                        poll=False)


def _slot_rows():
    rows = []
    for i in range(MAX_SLOTS):
        rows.append({"day": request.form.get(f"slot-{i}-day", ""), "start": request.form.get(f"slot-{i}-start", ""),
                     "end": request.form.get(f"slot-{i}-end", "")})
    return rows


@bp.route("/<team_id>/sondage", methods=["GET", "POST"])
def new_poll(team_id):
    rows = _slot_rows()

    def create(team, form):
        slots = []
        for row in rows:
            if not any(v.strip() for v in row.values()):
                continue
            start = parse_local(row["day"], row["start"], "slots")
            end = parse_local(row["day"], row["end"], "slots")
            if start is None or end is None:
                raise svc.MeetingError(_("Give a date, a start time and an end time."), "slots")
            slots.append((start, end))
        return svc.create_meeting(team, kind=form.kind.data, place_kind=form.place_kind.data,
                                  place=form.place.data, visio_url=form.visio_url.data,
                                  invitee_ids=form.invitees.data, actor=current_user, slots=slots)

    return _create_page(team_id, PollForm, create, _("Date poll opened: the invited members can answer in the app."),
                        poll=True, rows=rows)


@bp.route("/<team_id>/<meeting_id>/modifier", methods=["GET", "POST"])
def edit(team_id, meeting_id):
    team, membership, meeting = _load(team_id, meeting_id)
    _require_manager(membership, meeting)
    if meeting.status != "scheduled":
        abort(404)
    form = MeetingForm()
    _form_choices(form, team)
    form.kind.choices = [(meeting.kind, svc.kind_label(meeting.kind))]
    errors: list[str] = []
    if request.method == "GET":
        local_s, local_e = to_paris(meeting.starts_at), to_paris(meeting.ends_at)
        form.kind.data = meeting.kind
        form.day.data, form.start.data, form.end.data = local_s.date().isoformat(), local_s.strftime("%H:%M"), \
            local_e.strftime("%H:%M")
        form.place_kind.data, form.place.data, form.visio_url.data = meeting.place_kind, meeting.place, \
            meeting.visio_url
        form.invitees.data = [str(i.user_id) for i in meeting.invitees]
        return render_template("meetings/form.html", form=form, team=team, errors=errors, poll=False,
                               meeting=meeting)
    if form.validate_on_submit():
        def update():
            starts = parse_local(form.day.data, form.start.data, "day")
            ends = parse_local(form.day.data, form.end.data, "end")
            return svc.update_meeting(meeting, actor=current_user, starts_at=starts, ends_at=ends,
                                      place_kind=form.place_kind.data, place=form.place.data,
                                      visio_url=form.visio_url.data, invitee_ids=form.invitees.data)

        done = _attempt(update, lambda changed: _("Meeting updated; the invitees have been informed.") if changed
                        else _("Nothing changed."), _detail_url(team, meeting),
                        lambda err: _field_error(form, err, errors))
        if done is not None:
            return done
    else:
        errors.append(_("The form has expired; please try again."))
    return render_template("meetings/form.html", form=form, team=team, errors=errors, poll=False,
                           meeting=meeting), 400


@bp.route("/<team_id>/<meeting_id>/annuler", methods=["POST"])
def cancel(team_id, meeting_id):
    team, membership, meeting = _manager_post(team_id, meeting_id)
    target = _detail_url(team, meeting)
    return _attempt(lambda: svc.cancel_meeting(meeting, actor=current_user),
                    _("Meeting cancelled; the invitees have been informed."), target, _flash_error(target))


# ---------------------------------------------------------------- detail
def _render_detail(team, membership, meeting, *, errors=None, mark_form=None, status=200):
    from esp_coord.patients.access import OPPOSITION_NOTICE, content_visible, identity
    from esp_coord.patients.crypto_service import prefetch_keys

    prefetch_keys([case.patient_id for case in meeting.cases])
    cases = []
    for case in meeting.cases:
        visible = content_visible(case.patient, case.created_by_id, current_user)
        cases.append({"case": case, "name": identity(case.patient).display_name,
                      "question": svc.case_text(case, "question") if visible else OPPOSITION_NOTICE})
    audit.record_many("meeting.case.read", [
        {"team_id": team.id, "patient_id": case.patient_id, "object_type": "meeting_case", "object_id": case.id}
        for case in meeting.cases], actor=current_user)
    db.session.commit()
    me = svc.invitee_for(meeting, current_user.id)
    my_answers = {}
    for s in meeting.slots:
        for a in s.answers:
            if a.user_id == current_user.id:
                my_answers[str(s.id)] = a
    if mark_form is None:
        mark_form = MarkPresentForm()
    mark_form.user_id.choices = [(str(i.user_id), i.user.full_name) for i in meeting.invitees if not i.present]
    now = utc_now()
    can_check_in = (meeting.status == "scheduled" and me is not None and not me.present and
                    meeting.starts_at - svc.CHECK_IN_MARGIN <= now <= meeting.ends_at + svc.CHECK_IN_MARGIN)
    return render_template(
        "meetings/detail.html", team=team, meeting=meeting, cases=cases, me=me, my_answers=my_answers,
        manager=_can_manage(membership, meeting), results=svc.poll_results(meeting) if meeting.slots else [],
        non_responders=svc.non_responders(meeting) if meeting.status == "poll" else [],
        kind_label=svc.kind_label(meeting.kind), place_label=svc.place_labels().get(meeting.place_kind),
        cases_label=cases_label(svc.case_count(meeting)), errors=errors or [], mark_form=mark_form,
        can_check_in=can_check_in, form=EmptyForm(), started=meeting.starts_at is not None and
        meeting.starts_at <= now,
    ), status


@bp.route("/<team_id>/<meeting_id>")
def detail(team_id, meeting_id):
    team, membership, meeting = _load(team_id, meeting_id)
    return _render_detail(team, membership, meeting)


@bp.route("/<team_id>/<meeting_id>/invitation.ics")
def ics(team_id, meeting_id):
    _team, _membership, meeting = _load(team_id, meeting_id)
    if meeting.starts_at is None:
        abort(404)
    from flask import Response

    resp = Response(invitation_bytes(meeting, svc.case_count(meeting), "PUBLISH"),
                    mimetype="text/calendar")
    resp.headers["Content-Type"] = "text/calendar; charset=utf-8"
    resp.headers["Content-Disposition"] = 'attachment; filename="reunion.ics"'
    return resp


# ---------------------------------------------------------------- poll
@bp.route("/<team_id>/<meeting_id>/sondage/repondre", methods=["POST"])
def answer(team_id, meeting_id):
    team, membership, meeting = _load(team_id, meeting_id)
    if not EmptyForm().validate_on_submit():
        return _render_detail(team, membership, meeting, errors=[_("The form has expired; please try again.")],
                              status=400)
    answers = {}
    comments = {}
    for s in meeting.slots:
        values = request.form.getlist(f"answer-{s.id}")
        if values:
            answers[str(s.id)] = values
        comments[str(s.id)] = request.form.get(f"comment-{s.id}", "")
    for key in request.form:
        if key.startswith("answer-") and key[7:] not in answers:
            answers[key[7:]] = request.form.getlist(key)
    return _attempt(lambda: svc.answer_poll(meeting, current_user, answers, comments),
                    _("Thank you, your answers are saved."), _detail_url(team, meeting),
                    _detail_error(team, membership, meeting))


@bp.route("/<team_id>/<meeting_id>/sondage/cloturer", methods=["POST"])
def close(team_id, meeting_id):
    team, membership, meeting = _manager_post(team_id, meeting_id)
    return _attempt(lambda: svc.close_poll(meeting, request.form.get("slot_id"), actor=current_user),
                    _("Poll closed: the meeting is scheduled and the invitations have been sent."),
                    _detail_url(team, meeting), _detail_error(team, membership, meeting))


@bp.route("/<team_id>/<meeting_id>/sondage/relancer", methods=["POST"])
def remind(team_id, meeting_id):
    team, membership, meeting = _manager_post(team_id, meeting_id)
    target = _detail_url(team, meeting)
    return _attempt(lambda: svc.remind_poll(meeting, actor=current_user),
                    lambda n: _("%(n)s reminder(s) sent.", n=n), target, _flash_error(target))


@bp.route("/<team_id>/<meeting_id>/reponse", methods=["POST"])
def rsvp(team_id, meeting_id):
    team, membership, meeting = _load(team_id, meeting_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return _attempt(lambda: svc.respond(meeting, current_user, request.form.get("response", "")),
                    _("Your answer is saved."), _detail_url(team, meeting),
                    _detail_error(team, membership, meeting))


# ---------------------------------------------------------------- agenda
@bp.route("/<team_id>/<meeting_id>/dossiers/ajouter", methods=["GET", "POST"])
def add_case(team_id, meeting_id):
    from esp_coord.patients.models import Patient

    team, membership, meeting = _load(team_id, meeting_id)
    if meeting.status == "cancelled":
        abort(404)
    form = CaseForm()
    form.patient_id.choices = [("", _("Choose a patient"))] + _case_patients(team)
    form.presenter_id.choices = [(str(u.id), u.full_name) for u in svc.team_members(team.id)]
    audit.record("meeting.case.picker", actor=current_user, team_id=team.id, object_type="meeting",
                 object_id=meeting.id)
    if request.method == "GET":
        form.presenter_id.data = str(current_user.id)
        db.session.commit()
        return render_template("meetings/case_form.html", form=form, team=team, meeting=meeting, errors=[])
    errors: list[str] = []
    if form.validate_on_submit():
        pid = None
        try:
            pid = uuid.UUID(form.patient_id.data or "")
        except ValueError:
            pass
        patient = db.session.get(Patient, pid) if pid else None
        done = _attempt(lambda: svc.add_case(meeting, patient=patient, question=form.question.data,
                                             presenter_id=form.presenter_id.data, actor=current_user),
                        _("Case added to the agenda."), _detail_url(team, meeting),
                        lambda err: _field_error(form, err, errors))
        if done is not None:
            return done
    else:
        errors.append(_("The form has expired; please try again."))
    return render_template("meetings/case_form.html", form=form, team=team, meeting=meeting, errors=errors), 400


@bp.route("/<team_id>/<meeting_id>/dossiers/<case_id>/retirer", methods=["POST"])
def remove_case(team_id, meeting_id, case_id):
    team, membership, meeting = _load(team_id, meeting_id)
    case = next((c for c in meeting.cases if str(c.id) == case_id), None)
    if case is None:
        abort(404)
    if not (_can_manage(membership, meeting) or case.created_by_id == current_user.id):
        abort(403)
    if not EmptyForm().validate_on_submit():
        abort(400)
    target = _detail_url(team, meeting)
    return _attempt(lambda: svc.remove_case(meeting, case, actor=current_user),
                    _("Case removed from the agenda."), target, _flash_error(target))


# ---------------------------------------------------------------- attendance
@bp.route("/<team_id>/<meeting_id>/presence", methods=["POST"])
def check_in(team_id, meeting_id):
    team, membership, meeting = _load(team_id, meeting_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return _attempt(lambda: svc.check_in(meeting, current_user),
                    _("Your presence is recorded."), _detail_url(team, meeting),
                    _detail_error(team, membership, meeting))


@bp.route("/<team_id>/<meeting_id>/presence/marquer", methods=["POST"])
def mark_present(team_id, meeting_id):
    team, membership, meeting = _load(team_id, meeting_id)
    _require_manager(membership, meeting)
    form = MarkPresentForm()
    form.user_id.choices = [(str(i.user_id), i.user.full_name) for i in meeting.invitees]
    if not form.validate_on_submit():
        return _render_detail(team, membership, meeting, errors=[_("The form has expired; please try again.")],
                              status=400)
    user_id = uuid.UUID(form.user_id.data) if _is_uuid(form.user_id.data) else None
    return _attempt(lambda: svc.mark_present(meeting, user_id, reason=form.reason.data, actor=current_user),
                    _("Presence recorded."), _detail_url(team, meeting),
                    _detail_error(team, membership, meeting, mark_form=form))


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
        return True
    except ValueError:
        return False


@bp.route("/<team_id>/<meeting_id>/emargement.pdf")
def attendance_pdf(team_id, meeting_id):
    team, _membership, meeting = _load(team_id, meeting_id)
    if meeting.starts_at is None:
        abort(404)
    pdf = render_pdf("meetings/pdf/attendance.html", meeting=meeting, team=team,
                     kind_label=svc.kind_label(meeting.kind), place_label=svc.place_labels().get(meeting.place_kind),
                     cases_label=cases_label(svc.case_count(meeting)),
                     invitees=sorted(meeting.invitees, key=lambda i: (i.user.last_name, i.user.first_name)))
    audit.record("meeting.attendance.pdf", actor=current_user, team_id=team.id, object_type="meeting",
                 object_id=meeting.id)
    db.session.commit()
    return pdf_response(pdf, f"emargement-{to_paris(meeting.starts_at).date().isoformat()}.pdf")


# ---------------------------------------------------------------- minutes
def _minutes_context(team, membership, meeting):
    from esp_coord.patients.access import OPPOSITION_NOTICE, content_visible, identity
    from esp_coord.tasks.services import task_detail

    tasks = svc.case_tasks(meeting)
    members = [(str(u.id), u.full_name) for u in svc.team_members(team.id)]
    cases = []
    for case in meeting.cases:
        visible = content_visible(case.patient, case.created_by_id, current_user)
        item = {"case": case, "name": identity(case.patient).display_name, "visible": visible,
                "pps_url": nav_url("care_plans.for_patient", team_id=team.id, patient_id=case.patient_id),
                "tasks": [(t, task_detail(t) if visible else OPPOSITION_NOTICE) for t in tasks.get(case.id, [])]}
        if visible:
            item.update(question=svc.case_text(case, "question"), summary=svc.case_text(case, "summary"),
                        decision=svc.case_text(case, "decision"))
        else:
            item.update(question=OPPOSITION_NOTICE, summary=None, decision=None)
        item["form"] = CaseMinutesForm(prefix=f"c{case.id.hex[:8]}", summary=item["summary"],
                                       decision=item["decision"])
        item["task_form"] = TaskForm(prefix=f"t{case.id.hex[:8]}")
        item["task_form"].owner_id.choices = members
        cases.append(item)
        audit.record("meeting.minutes.read", actor=current_user, team_id=team.id, patient_id=case.patient_id,
                     object_type="meeting_case", object_id=case.id)
    revisions = db.session.execute(sa.select(MinutesRevision).where(MinutesRevision.meeting_id == meeting.id)
                                   .order_by(MinutesRevision.version)).scalars().all()
    return {"team": team, "meeting": meeting, "cases": cases, "manager": _can_manage(membership, meeting),
            "general_form": GeneralMinutesForm(general=meeting.minutes_general), "revisions": revisions,
            "kind_label": svc.kind_label(meeting.kind), "form": EmptyForm(),
            "present": [i for i in meeting.invitees if i.present]}


def _render_minutes(team, membership, meeting, *, errors=None, override=None, status=200):
    ctx = _minutes_context(team, membership, meeting)
    if override:
        for item in ctx["cases"]:
            if item["case"].id == override[0]:
                item[override[1]] = override[2]
        if override[1] == "general_form":
            ctx["general_form"] = override[2]
    db.session.commit()
    return render_template("meetings/minutes.html", errors=errors or [], **ctx), status


@bp.route("/<team_id>/<meeting_id>/compte-rendu")
def minutes(team_id, meeting_id):
    team, membership, meeting = _load(team_id, meeting_id)
    if meeting.status != "scheduled":
        abort(404)
    return _render_minutes(team, membership, meeting)


@bp.route("/<team_id>/<meeting_id>/compte-rendu/general", methods=["POST"])
def minutes_general(team_id, meeting_id):
    team, membership, meeting = _load(team_id, meeting_id)
    _require_manager(membership, meeting)
    form = GeneralMinutesForm()
    def save():
        _require_valid(form)
        svc.save_general_minutes(meeting, form.general.data, actor=current_user)

    return _attempt(save, _("Minutes saved."), _minutes_url(team, meeting),
                    _minutes_error(team, membership, meeting, override=(None, "general_form", form)))


def _case_or_404(meeting, case_id) -> MeetingCase:
    case = next((c for c in meeting.cases if str(c.id) == case_id), None)
    if case is None:
        abort(404)
    return case


@bp.route("/<team_id>/<meeting_id>/compte-rendu/dossiers/<case_id>", methods=["POST"])
def minutes_case(team_id, meeting_id, case_id):
    from esp_coord.patients.access import content_visible

    team, membership, meeting = _load(team_id, meeting_id)
    case = _case_or_404(meeting, case_id)
    if not (_can_manage(membership, meeting) or case.presenter_id == current_user.id):
        abort(403)
    if not content_visible(case.patient, case.created_by_id, current_user):
        abort(403)
    form = CaseMinutesForm(prefix=f"c{case.id.hex[:8]}")
    def save():
        _require_valid(form)
        svc.save_case_minutes(meeting, case, summary=form.summary.data, decision=form.decision.data,
                              actor=current_user)

    return _attempt(save, _("Minutes saved."), _minutes_url(team, meeting, f"#case-{case.id}"),
                    _minutes_error(team, membership, meeting, override=(case.id, "form", form)))


@bp.route("/<team_id>/<meeting_id>/compte-rendu/dossiers/<case_id>/tache", methods=["POST"])
def minutes_task(team_id, meeting_id, case_id):
    team, membership, meeting = _load(team_id, meeting_id)
    case = _case_or_404(meeting, case_id)
    if not (_can_manage(membership, meeting) or case.presenter_id == current_user.id):
        abort(403)
    form = TaskForm(prefix=f"t{case.id.hex[:8]}")
    form.owner_id.choices = [(str(u.id), u.full_name) for u in svc.team_members(team.id)]
    def save():
        _require_valid(form)
        due = parse_day(form.due_on.data, "due_on")
        svc.add_case_task(meeting, case, owner_id=form.owner_id.data, due_on=due, detail=form.detail.data,
                          actor=current_user)

    return _attempt(save, _("Follow-up task created."), _minutes_url(team, meeting, f"#case-{case.id}"),
                    _minutes_error(team, membership, meeting, override=(case.id, "task_form", form)))


@bp.route("/<team_id>/<meeting_id>/compte-rendu/valider", methods=["POST"])
def validate(team_id, meeting_id):
    team, membership, meeting = _load(team_id, meeting_id, "coordinator")
    def save():
        _require_valid(EmptyForm())
        return svc.validate_minutes(meeting, actor=current_user)

    return _attempt(save, lambda n: _("Minutes validated (%(n)s new activity entries).", n=n),
                    _minutes_url(team, meeting), _minutes_error(team, membership, meeting))


@bp.route("/<team_id>/<meeting_id>/compte-rendu.pdf")
def minutes_pdf(team_id, meeting_id):
    team, membership, meeting = _load(team_id, meeting_id)
    if meeting.status != "scheduled":
        abort(404)
    ctx = _minutes_context(team, membership, meeting)
    pdf = render_pdf("meetings/pdf/minutes.html", **ctx)
    audit.record("meeting.minutes.pdf", actor=current_user, team_id=team.id, object_type="meeting",
                 object_id=meeting.id)
    db.session.commit()
    return pdf_response(pdf, f"compte-rendu-{to_paris(meeting.starts_at).date().isoformat()}.pdf")


# ---------------------------------------------------------------- signal receivers (connected in receivers.py)
def timeline_items(patient, viewer):
    if membership_for(patient.team_id, viewer) is None:
        return []
    rows = db.session.execute(
        sa.select(MeetingCase, Meeting).join(Meeting, Meeting.id == MeetingCase.meeting_id)
        .where(MeetingCase.patient_id == patient.id, Meeting.status != "cancelled")
    ).all()
    items = []
    for case, meeting in rows:
        at = meeting.starts_at or case.created_at
        items.append(TimelineItem(
            at=at, kind="meeting",
            title=_("Discussed in a meeting: %(kind)s", kind=svc.kind_label(meeting.kind)),
            url=url_for("meetings.minutes" if meeting.status == "scheduled" else "meetings.detail",
                        team_id=meeting.team_id, meeting_id=meeting.id),
            detail=_("Minutes validated") if meeting.minutes_validated_at else None))
    return items


def export_section(patient):
    rows = db.session.execute(
        sa.select(MeetingCase, Meeting).join(Meeting, Meeting.id == MeetingCase.meeting_id)
        .where(MeetingCase.patient_id == patient.id).order_by(Meeting.starts_at)
    ).all()
    return {"title": "Réunions de concertation (RCP)", "items": [
        {"date": to_paris(m.starts_at).isoformat() if m.starts_at else None, "type": svc.kind_label(m.kind),
         "question": svc.case_text(c, "question"), "synthese": svc.case_text(c, "summary"),
         "decision": svc.case_text(c, "decision")} for c, m in rows]}


def dashboard_panels(user):
    from esp_coord.teams.models import Membership

    team_ids = db.session.execute(sa.select(Membership.team_id).where(
        Membership.user_id == user.id, Membership.ended_on.is_(None))).scalars().all()
    if not team_ids:
        return []
    now = utc_now()
    meetings = db.session.execute(
        sa.select(Meeting).where(Meeting.team_id.in_(team_ids), Meeting.status == "scheduled",
                                 Meeting.ends_at >= now).order_by(Meeting.starts_at).limit(5)
    ).scalars().all()
    polls = db.session.execute(
        sa.select(Meeting).where(Meeting.team_id.in_(team_ids), Meeting.status == "poll").limit(5)
    ).scalars().all()
    from esp_coord.core.time import format_datetime

    items = [(f"{svc.kind_label(m.kind)} – {m.team.name}", url_for("meetings.detail", team_id=m.team_id,
                                                                   meeting_id=m.id), format_datetime(m.starts_at))
             for m in meetings]
    items += [(_("Date poll: %(kind)s", kind=svc.kind_label(m.kind)),
               url_for("meetings.detail", team_id=m.team_id, meeting_id=m.id), m.team.name) for m in polls]
    return [{"title": _("Upcoming meetings"), "items": items}]


__all__ = ["bp", "KINDS"]
