"""Views of the patients feature: registry, patient page and timeline, notes, information/consent/
opposition, access history, patient-rights export, erasure. Thin: writes and audit live in services."""

from __future__ import annotations

import json

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from esp_coord.core import audit, signals
from esp_coord.core.db import parse_uuid
from esp_coord.core.extensions import db
from esp_coord.core.pdf import pdf_response, render_pdf
from esp_coord.core.time import utc_now
from esp_coord.core.timeline import TimelineItem
from esp_coord.patients import bp, services
from esp_coord.patients.access import OPPOSITION_NOTICE, content_visible, identity, load_patient
from esp_coord.patients.crypto_service import UNREADABLE, UnreadableData
from esp_coord.patients.forms import (
    CATEGORY_LABELS,
    METHOD_LABELS,
    SCOPE_LABELS,
    ConfirmForm,
    ConsentForm,
    DateOnlyForm,
    InformationForm,
    NoteForm,
    PatientForm,
    SearchForm,
)
from esp_coord.patients.models import PatientConsent, PatientNote
from esp_coord.patients.services import PatientData, PatientError

# The benchmark swaps this for a plaintext lookup to measure the cost of decryption alone.
NOTE_READER = services.note_text


def _members(team):
    return sorted((m.user for m in team.memberships), key=lambda u: (u.last_name, u.first_name))


def _render_form(template: str, status: int = 200, **ctx):
    return render_template(template, **ctx), status


def _show_url(team, patient, anchor: str = "") -> str:
    return url_for("patients.show", team_id=team.id, patient_id=patient.id) + anchor


def _saved(message: str, target: str):
    """Commit the request's writes, confirm them and go to ``target``."""
    db.session.commit()
    flash(message, "success")
    return redirect(target)


def _of_patient(model, patient, raw_id):
    """A note or consent of this patient by its id in the URL; anything else is a 404."""
    row_id = parse_uuid(raw_id)
    row = db.session.get(model, row_id) if row_id else None
    if row is None or row.patient_id != patient.id:
        abort(404)
    return row


def _ctx(team, membership, patient):
    return {"team": team, "membership": membership, "patient": patient, "ident": identity(patient),
            "opposition_notice": OPPOSITION_NOTICE, "category_labels": CATEGORY_LABELS,
            "method_labels": METHOD_LABELS, "scope_labels": SCOPE_LABELS}


# --------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------

@bp.get("/")
def index():
    teams = sorted((m.team for m in current_user.memberships if m.ended_on is None), key=lambda t: t.name)
    if len(teams) == 1:
        return redirect(url_for("patients.team_index", team_id=teams[0].id))
    return render_template("patients/index.html", teams=teams, form=SearchForm())


@bp.route("/<team_id>/", methods=["GET", "POST"])
def team_index(team_id):
    team, membership = _team(team_id)
    form = SearchForm()
    searched = request.method == "POST" and bool(request.form.get("q") or request.form.get("dob"))
    patients = []
    if request.method == "GET" or form.validate_on_submit():
        patients = services.search_patients(team, form.q.data if searched else None,
                                            form.dob.data if searched else None)
    elif request.method == "POST":
        html = render_template("patients/team_index.html", team=team, membership=membership, form=form, rows=[],
                               searched=True)
        return html, 400
    audit.record("patient.search" if searched else "patient.list", team_id=team.id, object_type="team",
                 object_id=team.id, details={"results": len(patients)})
    rows = [(p, identity(p)) for p in patients]
    html = render_template("patients/team_index.html", team=team, membership=membership, form=form, rows=rows,
                           searched=searched)
    db.session.commit()
    return html


def _team(team_id):
    from esp_coord.core.security import team_access

    return team_access(team_id, "member")


def _fill_patient_choices(form: PatientForm, team):
    members = _members(team)
    form.gp_member_id.choices = [SelectChoice("", _("— none / outside the team —"))] + [
        SelectChoice(str(u.id), f"{u.full_name} ({u.profession_label})") for u in members]
    form.follower_ids.choices = [SelectChoice(str(u.id), f"{u.full_name} ({u.profession_label})") for u in members]


def _patient_data(form: PatientForm) -> PatientData:
    return PatientData(
        birth_name=form.birth_name.data, usage_name=form.usage_name.data, first_names=form.first_names.data,
        birth_date=form.birth_date.data, sex=form.sex.data, ins=services.normalise_ins(form.ins.data),
        commune=form.commune.data, gp_member_id=parse_uuid(form.gp_member_id.data) if form.gp_member_id.data
        else None, gp_free_text=form.gp_free_text.data,
        follower_ids=tuple(parse_uuid(v) for v in form.follower_ids.data or []),
    )


@bp.route("/<team_id>/nouveau", methods=["GET", "POST"])
def create(team_id):
    team, membership = _team(team_id)
    form = PatientForm()
    _fill_patient_choices(form, team)
    if request.method == "GET":
        form.follower_ids.data = [str(current_user.id)]
    if form.validate_on_submit():
        patient = services.create_patient(team, _patient_data(form), actor=current_user)
        return _saved(_("Patient record created."), _show_url(team, patient))
    status = 400 if request.method == "POST" else 200
    return _render_form("patients/patient_form.html", status, team=team, form=form, patient=None)


@bp.route("/<team_id>/<patient_id>/modifier", methods=["GET", "POST"])
def edit(team_id, patient_id):
    team, membership, patient = load_patient(team_id, patient_id)
    ident = identity(patient)
    form = PatientForm()
    _fill_patient_choices(form, team)
    if request.method == "GET":
        form.birth_name.data, form.usage_name.data = ident.birth_name, ident.usage_name
        form.first_names.data, form.birth_date.data, form.sex.data = ident.first_names, ident.birth_date, ident.sex
        form.ins.data, form.commune.data, form.gp_free_text.data = ident.ins, ident.commune, ident.gp_free_text
        form.gp_member_id.data = str(patient.gp_member_id) if patient.gp_member_id else ""
        form.follower_ids.data = [str(f.user_id) for f in patient.followers]
        audit.record("patient.read", team_id=team.id, patient_id=patient.id, object_type="patient",
                     object_id=patient.id, details={"view": "edit_form"})
        db.session.commit()
    elif form.validate_on_submit():
        services.update_patient(patient, _patient_data(form), actor=current_user)
        return _saved(_("Patient record updated."), _show_url(team, patient))
    status = 400 if request.method == "POST" else 200
    return _render_form("patients/patient_form.html", status, team=team, form=form, patient=patient,
                        opposition_notice=OPPOSITION_NOTICE)


# --------------------------------------------------------------------------------------------------
# Patient page and timeline
# --------------------------------------------------------------------------------------------------

def build_timeline(patient, viewer, reader=None) -> tuple[list[TimelineItem], list]:
    """Timeline items (newest first) and the ids of the notes whose content is shown."""
    reader = reader or NOTE_READER
    items: list[TimelineItem] = []
    shown = []
    notes = services.notes_of(patient)
    corrected = {n.corrects_id: n for n in notes if n.corrects_id}
    for note in notes:
        visible = content_visible(patient, note.author_id, viewer)
        text = reader(note) if visible else None
        if visible:
            shown.append(str(note.id))
        author = note.author.full_name if note.author else _("former member")
        items.append(TimelineItem(
            at=note.created_at, kind="note",
            title=_("%(category)s — note by %(author)s", category=CATEGORY_LABELS.get(note.category, note.category),
                    author=author),
            detail=text,
            extra={"note": note, "visible": visible, "unreadable": text == UNREADABLE,
                   "own": note.author_id == viewer.id, "can_delete": services.can_delete_note(note, viewer),
                   "corrected_by": corrected.get(note.id)},
        ))
    for info in services.informations_of(patient):
        by = info.informed_by.full_name if info.informed_by else _("former member")
        items.append(TimelineItem(
            at=_at(info.informed_on, info.recorded_at), kind="information",
            title=_("Patient informed of data sharing by %(who)s", who=by),
            detail=str(METHOD_LABELS.get(info.method, info.method))))
    for consent in services.consents_of(patient):
        items.append(TimelineItem(at=_at(consent.given_on, consent.recorded_at), kind="consent",
                                  title=_("Consent recorded: %(scope)s", scope=SCOPE_LABELS.get(consent.scope))))
        if consent.withdrawn_on:
            items.append(TimelineItem(at=_at(consent.withdrawn_on, consent.recorded_at), kind="consent",
                                      title=_("Consent withdrawn: %(scope)s", scope=SCOPE_LABELS.get(consent.scope))))
    for opp in services.oppositions_of(patient):
        items.append(TimelineItem(at=_at(opp.expressed_on, opp.recorded_at), kind="opposition",
                                  title=_("The patient objected to sharing within the team")))
        if opp.lifted_on:
            items.append(TimelineItem(at=_at(opp.lifted_on, opp.recorded_at), kind="opposition",
                                      title=_("Objection to sharing lifted")))
    for item in signals.collect(signals.patient_timeline, patient, viewer=viewer):
        if isinstance(item, TimelineItem):
            items.append(item)
    items.sort(key=lambda i: i.at, reverse=True)
    return items, shown


def _at(day, fallback):
    """A date recorded by the user, placed in the timeline at noon UTC (fallback: time recorded)."""
    from datetime import UTC, datetime

    if day is None:
        return fallback
    return datetime(day.year, day.month, day.day, 12, 0, tzinfo=UTC)


@bp.get("/<team_id>/<patient_id>")
def show(team_id, patient_id):
    team, membership, patient = load_patient(team_id, patient_id)
    items, shown = build_timeline(patient, current_user)
    # One audit row per page view, listing the ids of the notes whose content was shown (ids only).
    audit.record("patient.view", team_id=team.id, patient_id=patient.id, object_type="patient",
                 object_id=patient.id, details={"notes_shown": shown} if shown else None)
    consents = services.consents_of(patient)
    infos = services.informations_of(patient)
    # Render before the commit: committing expires every loaded row, and the template would then
    # reload each note one by one.
    html = render_template("patients/show.html", **_ctx(team, membership, patient), timeline=items,
                           consents=consents, informations=infos)
    db.session.commit()
    return html


# --------------------------------------------------------------------------------------------------
# Notes
# --------------------------------------------------------------------------------------------------

def _note(patient, note_id) -> PatientNote:
    return _of_patient(PatientNote, patient, note_id)


@bp.route("/<team_id>/<patient_id>/notes/nouvelle", methods=["GET", "POST"])
def note_new(team_id, patient_id):
    team, membership, patient = load_patient(team_id, patient_id)
    form = NoteForm()
    corrects = None
    if request.values.get("corrige"):
        corrects = _note(patient, request.values.get("corrige"))
        if not content_visible(patient, corrects.author_id, current_user):
            abort(404)
    if form.validate_on_submit():
        try:
            services.add_note(patient, category=form.category.data, body=form.body.data, actor=current_user,
                              corrects=corrects)
        except PatientError as exc:
            form.body.errors = [str(exc)]
        else:
            return _saved(_("Note saved."), _show_url(team, patient, "#chronologie"))
    status = 400 if request.method == "POST" else 200
    return _render_form("patients/note_form.html", status, **_ctx(team, membership, patient), form=form, note=None,
                        corrects=corrects)


@bp.route("/<team_id>/<patient_id>/notes/<note_id>/modifier", methods=["GET", "POST"])
def note_edit(team_id, patient_id, note_id):
    team, membership, patient = load_patient(team_id, patient_id)
    note = _note(patient, note_id)
    if note.author_id != current_user.id:
        abort(404 if not content_visible(patient, note.author_id, current_user) else 403)
    form = NoteForm()
    if request.method == "GET":
        form.category.data = note.category
        form.body.data = services.note_text(note)
        audit.record("note.read", team_id=team.id, patient_id=patient.id, object_type="patient_note",
                     object_id=note.id, details={"view": "edit_form"})
        db.session.commit()
    elif form.validate_on_submit():
        try:
            services.edit_note(note, category=form.category.data, body=form.body.data, actor=current_user)
        except (PatientError, UnreadableData) as exc:
            form.body.errors = [str(exc) if isinstance(exc, PatientError) else UNREADABLE]
        else:
            return _saved(_("Note updated; the earlier version is kept."), _show_url(team, patient, "#chronologie"))
    status = 400 if request.method == "POST" else 200
    return _render_form("patients/note_form.html", status, **_ctx(team, membership, patient), form=form, note=note,
                        corrects=None)


@bp.get("/<team_id>/<patient_id>/notes/<note_id>/versions")
def note_history(team_id, patient_id, note_id):
    team, membership, patient = load_patient(team_id, patient_id)
    note = _note(patient, note_id)
    visible = content_visible(patient, note.author_id, current_user)
    versions = []
    text = None
    if visible:
        text = services.note_text(note)
        versions = [(v, services.version_text(v)) for v in services.note_versions(note)]
    audit.record("note.read", team_id=team.id, patient_id=patient.id, object_type="patient_note", object_id=note.id,
                 outcome="success" if visible else "denied", details={"view": "history"})
    html = render_template("patients/note_history.html", **_ctx(team, membership, patient), note=note,
                           visible=visible, text=text, versions=versions)
    db.session.commit()
    return html


@bp.post("/<team_id>/<patient_id>/notes/<note_id>/supprimer")
def note_delete(team_id, patient_id, note_id):
    team, membership, patient = load_patient(team_id, patient_id)
    note = _note(patient, note_id)
    try:
        services.delete_note(note, actor=current_user)
    except PatientError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(_show_url(team, patient, "#chronologie"))
    return _saved(_("Note deleted."), _show_url(team, patient, "#chronologie"))


# --------------------------------------------------------------------------------------------------
# Information, consent, opposition
# --------------------------------------------------------------------------------------------------

@bp.route("/<team_id>/<patient_id>/information", methods=["GET", "POST"])
def information(team_id, patient_id):
    team, membership, patient = load_patient(team_id, patient_id)
    form = InformationForm()
    form.informed_by_id.choices = [SelectChoice(str(u.id), f"{u.full_name} ({u.profession_label})")
                                   for u in _members(team)]
    if request.method == "GET":
        form.informed_by_id.data = str(current_user.id)
    if form.validate_on_submit():
        services.record_information(patient, informed_on=form.informed_on.data,
                                    informed_by_id=parse_uuid(form.informed_by_id.data), method=form.method.data,
                                    comment=form.comment.data, actor=current_user)
        return _saved(_("Information of the patient recorded."), _show_url(team, patient))
    status = 400 if request.method == "POST" else 200
    return _render_form("patients/information_form.html", status, **_ctx(team, membership, patient), form=form)


@bp.route("/<team_id>/<patient_id>/consentements/nouveau", methods=["GET", "POST"])
def consent_new(team_id, patient_id):
    team, membership, patient = load_patient(team_id, patient_id)
    form = ConsentForm()
    if form.validate_on_submit():
        upload = form.attachment.data
        data = None
        if upload is not None and getattr(upload, "filename", ""):
            data = upload.read()  # bounded by MAX_CONTENT_LENGTH (413 above it)
        try:
            services.record_consent(patient, scope=form.scope.data, given_on=form.given_on.data,
                                    detail=form.detail.data, actor=current_user, attachment=data or None)
        except PatientError as exc:
            db.session.rollback()
            form.attachment.errors = [str(exc)]
        else:
            return _saved(_("Consent recorded."), _show_url(team, patient, "#consentements"))
    status = 400 if request.method == "POST" else 200
    return _render_form("patients/consent_form.html", status, **_ctx(team, membership, patient), form=form)


def _consent(patient, consent_id) -> PatientConsent:
    return _of_patient(PatientConsent, patient, consent_id)


@bp.route("/<team_id>/<patient_id>/consentements/<consent_id>/retrait", methods=["GET", "POST"])
def consent_withdraw(team_id, patient_id, consent_id):
    team, membership, patient = load_patient(team_id, patient_id)
    consent = _consent(patient, consent_id)
    form = DateOnlyForm()
    if form.validate_on_submit():
        try:
            services.withdraw_consent(consent, patient, withdrawn_on=form.on.data, actor=current_user)
        except PatientError as exc:
            form.on.errors = [str(exc)]
        else:
            return _saved(_("Withdrawal of consent recorded."), _show_url(team, patient, "#consentements"))
    status = 400 if request.method == "POST" else 200
    return _render_form("patients/date_form.html", status, **_ctx(team, membership, patient), form=form,
                        heading=_("Withdrawal of a consent"), submit=_("Record the withdrawal"),
                        intro=_("Consent: %(scope)s, given on %(date)s.", scope=SCOPE_LABELS.get(consent.scope),
                                date=consent.given_on.strftime("%d/%m/%Y")))


@bp.get("/<team_id>/<patient_id>/consentements/<consent_id>/formulaire")
def consent_attachment(team_id, patient_id, consent_id):
    team, membership, patient = load_patient(team_id, patient_id)
    consent = _consent(patient, consent_id)
    if consent.attachment_enc is None:
        abort(404)
    try:
        data, mime = services.consent_attachment(consent, actor=current_user)
    except UnreadableData:
        db.session.rollback()
        audit.record("crypto.unreadable", team_id=team.id, patient_id=patient.id, object_type="patient_consent",
                     object_id=consent.id, outcome="failure", details={"column": "attachment"})
        db.session.commit()
        flash(_("The signed form cannot be read (donnée illisible). The incident has been recorded."), "error")
        return redirect(_show_url(team, patient, "#consentements"))
    db.session.commit()
    resp = Response(data, mimetype=mime)
    ext = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}[mime]
    resp.headers["Content-Disposition"] = f'attachment; filename="consentement-{consent.given_on.isoformat()}.{ext}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.route("/<team_id>/<patient_id>/opposition", methods=["GET", "POST"])
def opposition(team_id, patient_id):
    team, membership, patient = load_patient(team_id, patient_id)
    form = DateOnlyForm()
    lifting = patient.opposed_at is not None
    if form.validate_on_submit():
        try:
            if lifting:
                services.lift_opposition(patient, lifted_on=form.on.data, actor=current_user)
            else:
                services.record_opposition(patient, expressed_on=form.on.data, actor=current_user)
        except PatientError as exc:
            form.on.errors = [str(exc)]
        else:
            return _saved(_("Objection lifted.") if lifting else _("Objection to sharing recorded."),
                          _show_url(team, patient))
    status = 400 if request.method == "POST" else 200
    if lifting:
        heading, submit = _("Lift the objection to sharing"), _("Record that the objection is lifted")
        intro = _("The patient agrees again that the team shares their information. Notes written during the "
                  "objection become visible to the team.")
    else:
        heading, submit = _("Objection to sharing"), _("Record the objection")
        intro = _("From now on, notes about this patient will be visible only to their author (and in the "
                  "patient-rights export). Every page will say why content is hidden.")
    return _render_form("patients/date_form.html", status, **_ctx(team, membership, patient), form=form,
                        heading=heading, submit=submit, intro=intro)


# --------------------------------------------------------------------------------------------------
# Access history, export, erasure (coordinators)
# --------------------------------------------------------------------------------------------------

@bp.get("/<team_id>/<patient_id>/acces")
def access_history(team_id, patient_id):
    team, membership, patient = load_patient(team_id, patient_id, "coordinator")
    audit.record("patient.access_history", team_id=team.id, patient_id=patient.id, object_type="patient",
                 object_id=patient.id)
    rows = services.access_history(patient)
    html = render_template("patients/access.html", **_ctx(team, membership, patient), rows=rows,
                           action_labels=action_labels())
    db.session.commit()
    return html


def action_labels() -> dict:
    return {
        "patient.create": _("Record created"), "patient.update": _("Identity changed"),
        "patient.view": _("Patient page viewed"), "patient.read": _("Identity read (edit form)"),
        "patient.access_history": _("Access history viewed"), "patient.export": _("Patient file exported"),
        "patient.information": _("Information recorded"), "patient.opposition": _("Objection recorded"),
        "patient.opposition_lifted": _("Objection lifted"), "patient.erase": _("Record erased"),
        "note.create": _("Note written"), "note.correct": _("Correction note written"),
        "note.update": _("Note edited"), "note.delete": _("Note deleted"), "note.read": _("Note read"),
        "consent.create": _("Consent recorded"), "consent.withdraw": _("Consent withdrawn"),
        "consent.attachment_download": _("Signed form downloaded"),
        "crypto.unreadable": _("Unreadable data detected"),
    }


@bp.get("/<team_id>/<patient_id>/export.<fmt>")
def export(team_id, patient_id, fmt):
    if fmt not in ("pdf", "json"):
        abort(404)
    team, membership, patient = load_patient(team_id, patient_id, "coordinator")
    audit.record("patient.export", team_id=team.id, patient_id=patient.id, object_type="patient",
                 object_id=patient.id, details={"format": fmt})
    data = services.export_data(patient, actor=current_user)
    db.session.commit()
    stamp = utc_now().strftime("%Y%m%d")
    name = f"dossier-patient-{str(patient.id)[:8]}-{stamp}"
    if fmt == "json":
        resp = Response(json.dumps(data, ensure_ascii=False, indent=2), mimetype="application/json")
        resp.headers["Content-Disposition"] = f'attachment; filename="{name}.json"'
        resp.headers["Cache-Control"] = "no-store"
        return resp
    sections = [(s.get("title") if isinstance(s, dict) else None, s,
                 any(v for k, v in s.items() if k not in ("title", "key")) if isinstance(s, dict) else bool(s))
                for s in data["sections"]]
    pdf = render_pdf("patients/pdf/export.html", data=data, team=team, category_labels=CATEGORY_LABELS,
                     method_labels=METHOD_LABELS, scope_labels=SCOPE_LABELS, action_labels=action_labels(),
                     opposition_notice=OPPOSITION_NOTICE, sections=sections, fmt_dt=_fmt_dt, fmt_d=_fmt_d,
                     sex_labels={"F": _("female"), "M": _("male"), "I": _("undetermined sex")})
    return pdf_response(pdf, f"{name}.pdf")


def _fmt_dt(value: str | None) -> str:
    from datetime import datetime

    from esp_coord.core.time import format_datetime

    return format_datetime(datetime.fromisoformat(value), with_weekday=False) if value else "—"


def _fmt_d(value: str | None) -> str:
    from datetime import date

    from esp_coord.core.time import format_date

    return format_date(date.fromisoformat(value[:10]), with_weekday=False) if value else "—"


@bp.route("/<team_id>/<patient_id>/effacer", methods=["GET", "POST"])
def erase(team_id, patient_id):
    team, membership, patient = load_patient(team_id, patient_id, "coordinator")
    form = ConfirmForm()
    if form.validate_on_submit():
        services.erase_patient(patient, actor=current_user)
        db.session.commit()
        flash(_("The patient record has been erased: its data key is destroyed."), "success")
        return redirect(url_for("patients.team_index", team_id=team.id))
    status = 400 if request.method == "POST" else 200
    return _render_form("patients/erase.html", status, **_ctx(team, membership, patient), form=form)
