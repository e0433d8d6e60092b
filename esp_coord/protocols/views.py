"""Views of the protocols feature: team library, cooperation protocols, patients, indicators."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from esp_coord.core import audit
from esp_coord.core.db import parse_uuid
from esp_coord.core.extensions import db
from esp_coord.core.pdf import csv_response, pdf_response, render_pdf
from esp_coord.core.security import load_in_team, team_access, team_read_access
from esp_coord.core.time import today_paris
from esp_coord.patients.access import identity, load_patient
from esp_coord.patients.models import Patient
from esp_coord.protocols import bp
from esp_coord.protocols import services as svc
from esp_coord.protocols.forms import (
    OUTCOME_LABELS,
    STATUS_LABELS,
    ActForm,
    AdoptionForm,
    AttestationForm,
    DocumentForm,
    EmptyForm,
    EndForm,
    InclusionForm,
    MeetingForm,
    ValidateForm,
    protocol_form,
)
from esp_coord.protocols.models import (
    Adoption,
    CooperationProtocol,
    Inclusion,
    Protocol,
    ProtocolDocument,
    ProtocolMeeting,
)
from esp_coord.protocols.services import ProtocolError


@bp.app_context_processor
def _labels():
    return {"protocol_status_labels": STATUS_LABELS, "protocol_outcome_labels": OUTCOME_LABELS}


def _user_label(user) -> str:
    prof = user.profession.label if user.profession else _("no profession")
    return f"{user.full_name} ({prof})"


def _member_choices(team, predicate=None):
    return [(str(u.id), _user_label(u)) for u in svc.team_members(team) if predicate is None or predicate(u)]


def _uuids(values) -> list:
    return [u for u in (parse_uuid(v) for v in values or []) if u is not None]


def _bad(template: str, **context):
    return render_template(template, **context), 400


def _attempt(action, message, target, on_error):
    """Run a service call and commit, flash ``message`` and redirect to ``target``.

    ``message`` and ``target`` may be callables taking the action's result. On ``ProtocolError`` the session is
    rolled back and ``on_error(exc)`` is returned.
    """
    try:
        result = action()
    except ProtocolError as exc:
        db.session.rollback()
        return on_error(exc)
    db.session.commit()
    flash(message(result) if callable(message) else message, "success")
    return redirect(target(result) if callable(target) else target)


def _form_error(form, rerender):
    """Error handler for ``_attempt``: the service's message goes on the form, which is shown again."""
    def on_error(exc):
        form.form_errors.append(str(exc))
        return rerender()
    return on_error


def _flash_error(target):
    def on_error(exc):
        flash(str(exc), "error")
        return redirect(target)
    return on_error


def _show_url(team, protocol):
    return url_for("protocols.show", team_id=team.id, protocol_id=protocol.id)


def _adoption_url(team, adoption):
    return url_for("protocols.adoption", team_id=team.id, adoption_id=adoption.id)


def _inclusion_url(team, inclusion):
    return url_for("protocols.inclusion", team_id=team.id, inclusion_id=inclusion.id)


# --------------------------------------------------------------------------- index and team library


@bp.get("/")
def index():
    team_ids = [m.team_id for m in current_user.memberships]
    teams = sorted([m.team for m in current_user.memberships], key=lambda t: t.name)
    protocols = db.session.execute(sa.select(Protocol).where(Protocol.team_id.in_(team_ids)).order_by(
        Protocol.title)).scalars().all() if team_ids else []
    adoptions = db.session.execute(sa.select(Adoption).where(Adoption.team_id.in_(team_ids))).scalars().all() \
        if team_ids else []
    by_team = {t.id: {"protocols": [], "adoptions": []} for t in teams}
    for p in protocols:
        by_team[p.team_id]["protocols"].append(p)
    for a in sorted(adoptions, key=lambda a: a.cooperation.sort):
        by_team[a.team_id]["adoptions"].append(a)
    return render_template("protocols/index.html", teams=teams, by_team=by_team)


@bp.get("/<team_id>/")
def team_library(team_id):
    team, membership = team_access(team_id)
    protocols = db.session.execute(sa.select(Protocol).where(Protocol.team_id == team.id).order_by(
        Protocol.status, Protocol.title)).scalars().all()
    adoptions = db.session.execute(sa.select(Adoption).where(Adoption.team_id == team.id)).scalars().all()
    adopted = {a.cooperation_code for a in adoptions}
    catalogue = db.session.execute(sa.select(CooperationProtocol).order_by(CooperationProtocol.sort)).scalars().all()
    return render_template("protocols/team.html", team=team, membership=membership, protocols=protocols,
                           adoptions=sorted(adoptions, key=lambda a: a.cooperation.sort), adopted=adopted,
                           catalogue=catalogue, age_range=svc.age_range_label,
                           professions=svc.profession_labels())


# --------------------------------------------------------------------------- team protocols


def _role_professions(team, protocol=None) -> list[tuple[str, str]]:
    labels = svc.profession_labels()
    codes = {u.profession_code for u in svc.team_members(team) if u.profession_code}
    codes.discard("coordinateur")
    if protocol is not None:
        codes |= {r.profession_code for r in protocol.roles}
    from esp_coord.activity.data import PROFESSIONS

    order = {code: sort for code, _l, _g, _e, _gp, _ph, sort in PROFESSIONS}
    return [(c, _("Role of: %(profession)s", profession=labels.get(c, c)))
            for c in sorted(codes, key=lambda c: order.get(c, 999))]


def _form_data(form) -> svc.ProtocolData:
    return svc.ProtocolData(
        title=form.title.data or "", theme=form.theme.data, problem=form.problem.data,
        population=form.population.data, inclusion_criteria=form.inclusion_criteria.data,
        exclusion_criteria=form.exclusion_criteria.data, critical_points=form.critical_points.data,
        steps=(form.steps.data or "").splitlines(),
        roles={code: form[f"role_{code}"].data or "" for code in form.role_codes},
        author_ids=_uuids(form.authors.data), next_review_on=form.next_review_on.data,
    )


def _edit(team, protocol=None):
    form = protocol_form(_role_professions(team, protocol))
    form.authors.choices = _member_choices(team)
    if request.method == "GET":
        if protocol is not None:
            for name in ("title", "theme", "problem", "population", "inclusion_criteria", "exclusion_criteria",
                         "critical_points", "next_review_on"):
                form[name].data = getattr(protocol, name)
            form.steps.data = "\n".join(protocol.steps)
            form.authors.data = [str(uid) for uid in protocol.author_ids]
            for role in protocol.roles:
                form[f"role_{role.profession_code}"].data = role.description
        else:
            form.authors.data = [str(current_user.id)]
        return render_template("protocols/edit.html", team=team, protocol=protocol, form=form)
    if not form.validate_on_submit():
        return _bad("protocols/edit.html", team=team, protocol=protocol, form=form)
    def save():
        if protocol is None:
            return svc.create_protocol(team, _form_data(form), actor=current_user)
        svc.update_protocol(protocol, team, _form_data(form), actor=current_user)
        return protocol

    return _attempt(save, _("Protocol saved."), lambda saved: _show_url(team, saved),
                    _form_error(form, lambda: _bad("protocols/edit.html", team=team, form=form,
                                                   protocol=protocol if protocol and protocol.id else None)))


@bp.route("/<team_id>/nouveau", methods=["GET", "POST"])
def create(team_id):
    team, _m = team_access(team_id)
    return _edit(team)


@bp.route("/<team_id>/<protocol_id>/modifier", methods=["GET", "POST"])
def edit(team_id, protocol_id):
    team, _m = team_access(team_id)
    protocol = load_in_team(Protocol, protocol_id, team.id)
    if protocol.status != "draft":
        flash(_("A validated or archived version is frozen: start a new version to edit it."), "warning")
        return redirect(_show_url(team, protocol))
    return _edit(team, protocol)


def _show(team, membership, protocol, status=200, **forms):
    meetings = db.session.execute(sa.select(ProtocolMeeting).where(
        ProtocolMeeting.protocol_id == protocol.id).order_by(ProtocolMeeting.held_on.desc())).scalars().all()
    validate_form = forms.get("validate_form") or ValidateForm(formdata=None, validated_on=today_paris(),
                                                               next_review_on=protocol.next_review_on)
    meeting_form = forms.get("meeting_form") or MeetingForm(formdata=None, held_on=today_paris())
    meeting_form.attendees.choices = [(str(a.user_id), _user_label(a.user)) for a in protocol.authors]
    document_form = forms.get("document_form") or DocumentForm(formdata=None)
    inclusions = db.session.execute(sa.select(sa.func.count()).select_from(Inclusion).where(
        Inclusion.protocol_id == protocol.id, Inclusion.ended_on.is_(None))).scalar()
    return render_template("protocols/show.html", team=team, membership=membership, protocol=protocol,
                           data=svc.snapshot(protocol),
                           meetings=meetings, validate_form=validate_form, meeting_form=meeting_form,
                           document_form=document_form, empty_form=EmptyForm(), active_inclusions=inclusions,
                           can_coordinate=membership.has_role("coordinator")), status


@bp.get("/<team_id>/<protocol_id>")
def show(team_id, protocol_id):
    team, membership = team_access(team_id)
    protocol = load_in_team(Protocol, protocol_id, team.id)
    return _show(team, membership, protocol)


@bp.post("/<team_id>/<protocol_id>/valider")
def validate(team_id, protocol_id):
    team, membership = team_access(team_id, "coordinator")
    protocol = load_in_team(Protocol, protocol_id, team.id)
    form = ValidateForm()
    if not form.validate_on_submit():
        return _show(team, membership, protocol, 400, validate_form=form)
    return _attempt(lambda: svc.validate_protocol(protocol, team, validated_on=form.validated_on.data,
                                                  next_review_on=form.next_review_on.data, actor=current_user),
                    lambda version: _("Version %(n)s validated and frozen.", n=version.number),
                    _show_url(team, protocol),
                    _form_error(form, lambda: _show(team, membership, protocol, 400, validate_form=form)))


def _simple_action(team_id, protocol_id, action, message):
    team, _m = team_access(team_id, "coordinator")
    protocol = load_in_team(Protocol, protocol_id, team.id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    target = _show_url(team, protocol)
    return _attempt(lambda: action(protocol, actor=current_user), message, target, _flash_error(target))


@bp.post("/<team_id>/<protocol_id>/nouvelle-version")
def start_new_version(team_id, protocol_id):
    return _simple_action(team_id, protocol_id, svc.new_version,
                          _("New draft version started; the validated versions stay readable."))


@bp.post("/<team_id>/<protocol_id>/archiver")
def archive(team_id, protocol_id):
    return _simple_action(team_id, protocol_id, svc.archive_protocol, _("Protocol archived."))


@bp.get("/<team_id>/<protocol_id>/versions/<int:number>")
def version(team_id, protocol_id, number):
    team, _m = team_access(team_id)
    protocol = load_in_team(Protocol, protocol_id, team.id)
    found = next((v for v in protocol.versions if v.number == number), None)
    if found is None:
        abort(404)
    return render_template("protocols/version.html", team=team, protocol=protocol, version=found,
                           data=found.snapshot)


@bp.get("/<team_id>/<protocol_id>/fiche.pdf")
def sheet(team_id, protocol_id):
    team, _m = team_access(team_id)
    protocol = load_in_team(Protocol, protocol_id, team.id)
    number = request.args.get("version", type=int)
    if number is not None:
        found = next((v for v in protocol.versions if v.number == number), None)
        if found is None:
            abort(404)
        data, meta = found.snapshot, {"version": found.number, "validated_on": found.validated_on,
                                      "next_review_on": found.next_review_on, "status": "validated"}
    else:
        data = svc.snapshot(protocol)
        meta = {"version": protocol.version, "validated_on": protocol.validated_on,
                "next_review_on": protocol.next_review_on, "status": protocol.status}
    pdf = render_pdf("protocols/pdf/sheet.html", team=team, data=data, meta=meta, printed_on=today_paris())
    audit.record("protocol.sheet.pdf", team_id=team.id, object_type="protocol", object_id=protocol.id)
    db.session.commit()
    return pdf_response(pdf, f"protocole-v{meta['version']}.pdf")


@bp.post("/<team_id>/<protocol_id>/documents")
def upload_document(team_id, protocol_id):
    team, membership = team_access(team_id)
    protocol = load_in_team(Protocol, protocol_id, team.id)
    form = DocumentForm()
    if not form.validate_on_submit():
        return _show(team, membership, protocol, 400, document_form=form)
    upload = form.file.data
    if upload is None or not getattr(upload, "filename", ""):
        form.file.errors = [_("Choose a PDF file.")]
        return _show(team, membership, protocol, 400, document_form=form)
    limit = int(current_app.config.get("UPLOAD_MAX_BYTES", 5 * 1024 * 1024))
    content = upload.read(limit + 1)
    def on_error(exc):
        form.file.errors = [str(exc)]
        return _show(team, membership, protocol, 400, document_form=form)

    return _attempt(lambda: svc.add_document(protocol, title=form.title.data or "", filename=upload.filename,
                                             content=content, actor=current_user),
                    _("Document attached."), _show_url(team, protocol), on_error)


@bp.get("/<team_id>/<protocol_id>/documents/<document_id>")
def document(team_id, protocol_id, document_id):
    team, _m = team_access(team_id)
    protocol = load_in_team(Protocol, protocol_id, team.id)
    doc_id = parse_uuid(document_id)
    doc = db.session.get(ProtocolDocument, doc_id) if doc_id else None
    if doc is None or doc.protocol_id != protocol.id:
        abort(404)
    resp = Response(doc.content, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = f'attachment; filename="{doc.filename}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/<team_id>/<protocol_id>/documents/<document_id>/supprimer")
def delete_document(team_id, protocol_id, document_id):
    team, _m = team_access(team_id)
    protocol = load_in_team(Protocol, protocol_id, team.id)
    doc_id = parse_uuid(document_id)
    doc = db.session.get(ProtocolDocument, doc_id) if doc_id else None
    if doc is None or doc.protocol_id != protocol.id:
        abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    target = _show_url(team, protocol)
    return _attempt(lambda: svc.remove_document(protocol, doc, actor=current_user), _("Document removed."), target,
                    _flash_error(target))


@bp.post("/<team_id>/<protocol_id>/reunions")
def add_meeting(team_id, protocol_id):
    team, membership = team_access(team_id)
    protocol = load_in_team(Protocol, protocol_id, team.id)
    form = MeetingForm()
    form.attendees.choices = [(str(a.user_id), _user_label(a.user)) for a in protocol.authors]
    if not form.validate_on_submit():
        return _show(team, membership, protocol, 400, meeting_form=form)
    return _attempt(lambda: svc.record_meeting(protocol, team, held_on=form.held_on.data,
                                               duration_minutes=form.duration_minutes.data,
                                               attendee_ids=_uuids(form.attendees.data), notes=form.notes.data,
                                               actor=current_user),
                    _("Writing meeting recorded."), _show_url(team, protocol),
                    _form_error(form, lambda: _show(team, membership, protocol, 400, meeting_form=form)))


# --------------------------------------------------------------------------- cooperation protocols


def _adoption_form(team, coop, form=None, adoption=None):
    form = form or AdoptionForm(formdata=None, adopted_on=adoption.adopted_on if adoption else today_paris(),
                                ars_declared_on=adoption.ars_declared_on if adoption else None)
    form.delegating.choices = _member_choices(team, lambda u: u.profession_code in coop.delegating)
    form.delegated.choices = _member_choices(team, lambda u: u.profession_code in coop.delegated)
    if adoption is not None and not form.is_submitted():
        form.delegating.data = [str(u) for u in adoption.user_ids("delegating")]
        form.delegated.data = [str(u) for u in adoption.user_ids("delegated")]
    return form


@bp.route("/<team_id>/cooperation/adopter/<code>", methods=["GET", "POST"])
def adopt(team_id, code):
    team, _m = team_access(team_id, "coordinator")
    coop = db.session.get(CooperationProtocol, code)
    if coop is None:
        abort(404)
    ctx = {"team": team, "coop": coop, "adoption": None, "age_range": svc.age_range_label,
           "professions": svc.profession_labels()}
    if request.method == "GET":
        return render_template("protocols/adopt.html", form=_adoption_form(team, coop), **ctx)
    form = _adoption_form(team, coop, AdoptionForm())
    if not form.validate_on_submit():
        return _bad("protocols/adopt.html", form=form, **ctx)
    return _attempt(lambda: svc.adopt(team, code, adopted_on=form.adopted_on.data,
                                      ars_declared_on=form.ars_declared_on.data,
                                      delegating_ids=_uuids(form.delegating.data),
                                      delegated_ids=_uuids(form.delegated.data), actor=current_user),
                    _("Cooperation protocol adopted."), lambda adoption: _adoption_url(team, adoption),
                    _form_error(form, lambda: _bad("protocols/adopt.html", form=form, **ctx)))


@bp.route("/<team_id>/cooperation/<adoption_id>/modifier", methods=["GET", "POST"])
def edit_adoption(team_id, adoption_id):
    team, _m = team_access(team_id, "coordinator")
    adoption = load_in_team(Adoption, adoption_id, team.id)
    coop = adoption.cooperation
    ctx = {"team": team, "coop": coop, "adoption": adoption, "age_range": svc.age_range_label,
           "professions": svc.profession_labels()}
    if request.method == "GET":
        return render_template("protocols/adopt.html", form=_adoption_form(team, coop, adoption=adoption), **ctx)
    form = _adoption_form(team, coop, AdoptionForm(), adoption=adoption)
    if not form.validate_on_submit():
        return _bad("protocols/adopt.html", form=form, **ctx)
    return _attempt(lambda: svc.update_adoption(adoption, team, adopted_on=form.adopted_on.data,
                                                ars_declared_on=form.ars_declared_on.data,
                                                delegating_ids=_uuids(form.delegating.data),
                                                delegated_ids=_uuids(form.delegated.data), actor=current_user),
                    _("Adoption updated."), _adoption_url(team, adoption),
                    _form_error(form, lambda: _bad("protocols/adopt.html", form=form, **ctx)))


def _show_adoption(team, membership, adoption, status=200, attestation_form=None):
    form = attestation_form or AttestationForm(formdata=None)
    members = {u.id: u for u in svc.team_members(team)}
    form.user_id.choices = [(str(uid), _user_label(members[uid])) for uid in adoption.user_ids("delegated")
                            if uid in members]
    inclusions = db.session.execute(sa.select(Inclusion).where(Inclusion.adoption_id == adoption.id).order_by(
        Inclusion.included_on.desc())).scalars().all()
    return render_template("protocols/adoption.html", team=team, membership=membership, adoption=adoption,
                           coop=adoption.cooperation, attestation_form=form, inclusions=inclusions,
                           age_range=svc.age_range_label, professions=svc.profession_labels(),
                           can_coordinate=membership.has_role("coordinator")), status


@bp.get("/<team_id>/cooperation/<adoption_id>")
def adoption(team_id, adoption_id):
    team, membership = team_access(team_id)
    adoption = load_in_team(Adoption, adoption_id, team.id)
    return _show_adoption(team, membership, adoption)


@bp.post("/<team_id>/cooperation/<adoption_id>/attestations")
def add_attestation(team_id, adoption_id):
    team, membership = team_access(team_id, "coordinator")
    adoption = load_in_team(Adoption, adoption_id, team.id)
    form = AttestationForm()
    form.user_id.choices = [(str(uid), "") for uid in adoption.user_ids("delegated")]
    if not form.validate_on_submit():
        return _show_adoption(team, membership, adoption, 400, form)
    return _attempt(lambda: svc.add_attestation(adoption, user_id=parse_uuid(form.user_id.data),
                                                trained_on=form.trained_on.data, organisation=form.organisation.data,
                                                hours=form.hours.data, actor=current_user),
                    _("Training attestation recorded."), _adoption_url(team, adoption),
                    _form_error(form, lambda: _show_adoption(team, membership, adoption, 400, form)))


# --------------------------------------------------------------------------- patients


def _targets(team) -> list[tuple[str, str]]:
    protocols = db.session.execute(sa.select(Protocol).where(Protocol.team_id == team.id,
                                                             Protocol.status == "validated").order_by(
        Protocol.title)).scalars().all()
    adoptions = db.session.execute(sa.select(Adoption).where(Adoption.team_id == team.id)).scalars().all()
    out = [(f"p:{p.id}", p.title) for p in protocols]
    out += [(f"a:{a.id}", _("Cooperation protocol: %(title)s", title=a.cooperation.short_title))
            for a in sorted(adoptions, key=lambda a: a.cooperation.sort)]
    return out


def _patient_choices(team) -> list[tuple[str, str]]:
    patients = db.session.execute(sa.select(Patient).where(Patient.team_id == team.id,
                                                           Patient.erased_at.is_(None))).scalars().all()
    audit.record("protocol.patient_picker", team_id=team.id, object_type="patient",
                 details={"count": len(patients)})
    choices = []
    for p in patients:
        ident = identity(p)
        born = ident.birth_date.strftime("%d/%m/%Y") if ident.birth_date else "?"
        choices.append((str(p.id), f"{ident.display_name} — {born}"))
    return sorted(choices, key=lambda c: c[1])


def _resolve_target(team, value):
    kind, _sep, raw = (value or "").partition(":")
    oid = parse_uuid(raw)
    if oid is None:
        return None, None
    if kind == "p":
        obj = db.session.get(Protocol, oid)
        return (obj, None) if obj is not None and obj.team_id == team.id else (None, None)
    if kind == "a":
        obj = db.session.get(Adoption, oid)
        return (None, obj) if obj is not None and obj.team_id == team.id else (None, None)
    return None, None


@bp.route("/<team_id>/inclusions/nouvelle", methods=["GET", "POST"])
def include(team_id):
    team, _m = team_access(team_id)
    form = InclusionForm(formdata=None, included_on=today_paris()) if request.method == "GET" else InclusionForm()
    form.target.choices = _targets(team)
    form.patient_id.choices = _patient_choices(team)
    if request.method == "GET":
        form.target.data = request.args.get("protocole") or form.target.data
        form.patient_id.data = request.args.get("patient") or form.patient_id.data
        db.session.commit()
        return render_template("protocols/include.html", team=team, form=form)
    if not form.validate_on_submit():
        db.session.commit()
        return _bad("protocols/include.html", team=team, form=form)
    protocol, adoption = _resolve_target(team, form.target.data)
    patient_id = parse_uuid(form.patient_id.data)
    patient = db.session.get(Patient, patient_id) if patient_id else None
    def include_it():
        if patient is None or patient.team_id != team.id:
            raise ProtocolError(_("Unknown patient."))
        return svc.include_patient(team, patient, protocol=protocol, adoption=adoption,
                                   included_on=form.included_on.data, criteria=form.criteria.data,
                                   actor=current_user)

    return _attempt(include_it, _("Patient included."), lambda inclusion: _inclusion_url(team, inclusion),
                    _form_error(form, lambda: _bad("protocols/include.html", team=team, form=form)))


def _load_inclusion(team_id, inclusion_id):
    team, membership = team_access(team_id)
    inclusion = load_in_team(Inclusion, inclusion_id, team.id)
    _t, _mm, patient = load_patient(team.id, inclusion.patient_id)
    return team, membership, inclusion, patient


def _act_professionals(team, inclusion):
    if inclusion.adoption is not None:
        members = {u.id: u for u in svc.team_members(team)}
        return [(str(uid), _user_label(members[uid])) for uid in inclusion.adoption.user_ids("delegated")
                if uid in members]
    return _member_choices(team)


def _show_inclusion(team, inclusion, patient, status=200, act_form=None, end_form=None):
    act_form = act_form or ActForm(formdata=None, performed_on=today_paris(), professional_id=str(current_user.id))
    act_form.professional_id.choices = _act_professionals(team, inclusion)
    end_form = end_form or EndForm(formdata=None, ended_on=today_paris())
    texts = svc.inclusion_texts(inclusion, patient, current_user)
    db.session.commit()
    return render_template("protocols/inclusion.html", team=team, inclusion=inclusion, patient=patient,
                           ident=identity(patient), texts=texts, act_form=act_form, end_form=end_form,
                           professions=svc.profession_labels()), status


@bp.get("/<team_id>/inclusions/<inclusion_id>")
def inclusion(team_id, inclusion_id):
    team, _m, inc, patient = _load_inclusion(team_id, inclusion_id)
    return _show_inclusion(team, inc, patient)


@bp.post("/<team_id>/inclusions/<inclusion_id>/actes")
def add_act(team_id, inclusion_id):
    team, _m, inc, patient = _load_inclusion(team_id, inclusion_id)
    form = ActForm()
    form.professional_id.choices = _act_professionals(team, inc)
    if not form.validate_on_submit():
        return _show_inclusion(team, inc, patient, 400, act_form=form)
    return _attempt(lambda: svc.record_act(team, inc, patient, performed_on=form.performed_on.data,
                                           professional_id=parse_uuid(form.professional_id.data),
                                           outcome=form.outcome.data, comment=form.comment.data,
                                           actor=current_user),
                    _("Act recorded."), _inclusion_url(team, inc),
                    _form_error(form, lambda: _show_inclusion(team, inc, patient, 400, act_form=form)))


@bp.post("/<team_id>/inclusions/<inclusion_id>/fin")
def end(team_id, inclusion_id):
    team, _m, inc, patient = _load_inclusion(team_id, inclusion_id)
    form = EndForm()
    if not form.validate_on_submit():
        return _show_inclusion(team, inc, patient, 400, end_form=form)
    return _attempt(lambda: svc.end_inclusion(inc, patient, ended_on=form.ended_on.data, reason=form.reason.data,
                                              actor=current_user),
                    _("Inclusion ended."), _inclusion_url(team, inc),
                    _form_error(form, lambda: _show_inclusion(team, inc, patient, 400, end_form=form)))


@bp.get("/<team_id>/patients/<patient_id>")
def patient_inclusions(team_id, patient_id):
    team, _m, patient = load_patient(team_id, patient_id)
    inclusions = svc.patient_inclusions(patient)
    audit.record("protocol.patient_inclusions.read", team_id=team.id, patient_id=patient.id,
                 object_type="patient", object_id=patient.id)
    db.session.commit()
    return render_template("protocols/patient.html", team=team, patient=patient, ident=identity(patient),
                           inclusions=inclusions)


# --------------------------------------------------------------------------- indicators


def _year():
    year = request.args.get("annee", type=int) or today_paris().year
    if year < 2000 or year > 2100:
        abort(400)
    return year


@bp.get("/<team_id>/indicateurs")
def indicators(team_id):
    team, membership = team_read_access(team_id)
    year = _year()
    return render_template("protocols/indicators.html", team=team, year=year, rows=svc.indicators(team, year),
                           professions=svc.profession_labels(), is_member=membership is not None)


@bp.get("/<team_id>/indicateurs.csv")
def indicators_csv(team_id):
    team, _m = team_read_access(team_id)
    year = _year()
    audit.record("protocol.indicators.csv", team_id=team.id, object_type="team", object_id=team.id,
                 details={"year": year})
    db.session.commit()
    return csv_response(svc.indicators_csv(team, year), f"protocoles-indicateurs-{year}.csv")
