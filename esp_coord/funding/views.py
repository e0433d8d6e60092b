"""Views of the funding feature: home, team funding, grid, claims, payment statement, projet, steps, region."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from esp_coord.activity.models import ActionType
from esp_coord.core.extensions import db
from esp_coord.core.pdf import csv_response, csv_text, pdf_response, render_pdf
from esp_coord.core.security import load_in_team, require_global_role, team_access, team_read_access
from esp_coord.core.time import format_number, today_paris, utc_now
from esp_coord.funding import bp
from esp_coord.funding import services as svc
from esp_coord.funding.forms import (
    ClaimForm,
    EnvelopeForm,
    NewGridForm,
    PaidForm,
    RejectForm,
    grid_form_class,
    projet_form_class,
    steps_form_class,
)
from esp_coord.funding.models import CLAP_STEPS, PROJET_FIELDS, Claim, ProjetSante


def _year() -> int:
    try:
        year = int(request.args.get("annee", ""))
    except ValueError:
        return today_paris().year
    return year if 2015 <= year <= 2100 else today_paris().year


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text)[:60]


def _can_manage(membership) -> bool:
    return membership is not None and membership.has_role("coordinator")


def _can_edit_envelope(membership) -> bool:
    return current_user.is_association or current_user.is_platform_admin or (
        membership is not None and membership.has_role("admin") and svc.grid_for_year(today_paris().year) is not None
        and svc.grid_for_year(today_paris().year).team_admins_may_edit)


# ---------------------------------------------------------------- home and team

@bp.get("/")
def index():
    year = _year()
    teams = [m.team for m in current_user.memberships]
    statuses = svc.envelope_statuses([t.id for t in teams], year) if teams else {}
    claims = {}
    if teams:
        for c in db.session.execute(sa.select(Claim).where(Claim.team_id.in_([t.id for t in teams]))
                                    .order_by(Claim.period_start.desc())).scalars():
            claims.setdefault(c.team_id, []).append(c)
    grid = svc.grid_for_year(year)
    return render_template("funding/index.html", year=year, teams=teams, statuses=statuses, claims=claims,
                           grid=grid, memberships={m.team_id: m for m in current_user.memberships})


@bp.get("/equipe/<team_id>")
def team(team_id):
    team, membership = team_read_access(team_id)
    year = _year()
    status = svc.envelope_status(team, year)
    valid, validity = svc.composition_validity(team)
    return render_template("funding/team.html", team=team, membership=membership, year=year, status=status,
                           claims=svc.team_claims(team.id), can_manage=_can_manage(membership),
                           can_edit_envelope=_can_edit_envelope(membership),
                           envelope_form=EnvelopeForm(amount=status["envelope"]), valid=valid, validity=validity,
                           steps=svc.clap_steps(team), projets=svc.projet_versions(team.id),
                           grid=svc.grid_for_year(year))


@bp.post("/equipe/<team_id>/enveloppe/<int:year>")
def envelope(team_id, year):
    team, membership = team_read_access(team_id)
    if not _can_edit_envelope(membership):
        abort(403)
    form = EnvelopeForm()
    if not form.validate_on_submit():
        flash(_("The envelope was not changed: enter a positive amount."), "error")
        return redirect(url_for("funding.team", team_id=team.id, annee=year)), 303
    svc.set_envelope(team, year, form.amount.data, actor=current_user)
    db.session.commit()
    flash(_("Envelope saved."), "success")
    return redirect(url_for("funding.team", team_id=team.id, annee=year))


# ---------------------------------------------------------------- grid

@bp.route("/grille/<int:year>", methods=["GET", "POST"])
def grid(year):
    grid = svc.get_grid(year)
    types = db.session.execute(sa.select(ActionType).order_by(ActionType.sort)).scalars().all()
    editable = grid is not None and svc.can_edit_grid(current_user, grid)
    if grid is None:
        if not svc.can_edit_grid(current_user):
            abort(404)
        return render_template("funding/grid_new.html", year=year, form=NewGridForm(year=year))
    form_class = grid_form_class([t.code for t in types])
    rates = {r.action_type: r for r in grid.rates}
    if request.method == "GET":
        data = {"note": grid.note, "team_admins_may_edit": grid.team_admins_may_edit}
        for t in types:
            r = rates.get(t.code)
            data.update({f"unit_{t.code}": r.unit if r else "per_participant",
                         f"amount_{t.code}": r.amount if r else None, f"cap_{t.code}": r.cap_units if r else None,
                         f"scope_{t.code}": r.cap_scope if r else "year"})
        form = form_class(data=data)
    else:
        if not editable:
            abort(403)
        form = form_class()
        if form.validate_on_submit():
            rows = {t.code: {"unit": form[f"unit_{t.code}"].data, "amount": form[f"amount_{t.code}"].data,
                             "cap_units": form[f"cap_{t.code}"].data, "cap_scope": form[f"scope_{t.code}"].data}
                    for t in types}
            try:
                svc.update_grid(grid, rows, actor=current_user, note=form.note.data,
                                team_admins_may_edit=form.team_admins_may_edit.data)
            except svc.FundingError as exc:
                form.note.errors = [*form.note.errors, str(exc)]
            else:
                db.session.commit()
                flash(_("Grid saved."), "success")
                return redirect(url_for("funding.grid", year=year))
    status = 400 if form.errors else 200
    years = db.session.execute(sa.select(svc.TariffGrid.year).order_by(svc.TariffGrid.year)).scalars().all()
    return render_template("funding/grid.html", grid=grid, types=types, form=form, editable=editable, years=years,
                           year=year, can_create=svc.can_edit_grid(current_user), example_label=svc.EXAMPLE_LABEL,
                           new_form=NewGridForm(year=max(years) + 1 if years else year)), status


@bp.post("/grille")
def grid_create():
    if not svc.can_edit_grid(current_user):
        abort(403)
    form = NewGridForm()
    if not form.validate_on_submit():
        return render_template("funding/grid_new.html", year=today_paris().year, form=form), 400
    try:
        svc.create_grid(form.year.data, current_user)
    except svc.FundingError as exc:
        flash(str(exc), "error")
        return redirect(url_for("funding.grid", year=form.year.data))
    db.session.commit()
    flash(_("Grid created from the previous one: check every amount."), "success")
    return redirect(url_for("funding.grid", year=form.year.data))


# ---------------------------------------------------------------- claims

@bp.route("/equipe/<team_id>/demandes/nouvelle", methods=["GET", "POST"])
def claim_new(team_id):
    team, membership = team_access(team_id, "coordinator")
    corrects = None
    if request.values.get("corrige"):
        corrects = load_in_team(Claim, request.values["corrige"], team.id)
    form = ClaimForm()
    if request.method == "GET":
        form.year.data = corrects.period_start.year if corrects else today_paris().year
        if corrects:
            form.period_kind.data = corrects.period_kind
            form.start.data, form.end.data = corrects.period_start, corrects.period_end
        return render_template("funding/claim_new.html", team=team, form=form, corrects=corrects)
    if form.validate_on_submit():
        try:
            start, end = svc.period_bounds(form.period_kind.data, form.year.data, form.start.data, form.end.data)
            claim = svc.create_claim(team, form.period_kind.data, start, end, actor=current_user, corrects=corrects)
        except svc.FundingError as exc:
            form.end.errors = [*form.end.errors, str(exc)]
        else:
            db.session.commit()
            flash(_("Draft claim created: check the anomalies before submitting."), "success")
            return redirect(url_for("funding.claim", team_id=team.id, claim_id=claim.id))
    return render_template("funding/claim_new.html", team=team, form=form, corrects=corrects), 400


def _claim(team_id, claim_id, minimum=None):
    if minimum:
        team, membership = team_access(team_id, minimum)
    else:
        team, membership = team_read_access(team_id)
    return team, membership, load_in_team(Claim, claim_id, team.id)


@bp.get("/equipe/<team_id>/demandes/<claim_id>")
def claim(team_id, claim_id):
    team, membership, claim = _claim(team_id, claim_id)
    data = svc.claim_data(claim)
    corrections = db.session.execute(sa.select(Claim).where(Claim.corrects_id == claim.id)).scalars().all()
    return render_template("funding/claim.html", team=team, claim=claim, data=data, can_manage=_can_manage(membership),
                           is_association=current_user.is_association or current_user.is_platform_admin,
                           corrections=corrections, intact=svc.verify_claim(claim) if claim.snapshot else None,
                           evidence_labels={e["key"]: e["label"] for e in data["evidence"]},
                           users={p["user"]: p["name"] for p in data["professionals"]},
                           anomaly_labels=svc.anomaly_labels(),
                           type_labels={t["code"]: t["label"] for t in data["types"]})


def _claim_action(team, claim, action, message: str, target: str):
    """Run a coordinator's action on a claim: commit, confirm and go to ``target``; a refusal is flashed and the
    claim shown again (303)."""
    try:
        action(claim, actor=current_user)
    except svc.FundingError as exc:
        flash(str(exc), "error")
        return redirect(url_for("funding.claim", team_id=team.id, claim_id=claim.id)), 303
    db.session.commit()
    flash(message, "success")
    return redirect(target)


@bp.post("/equipe/<team_id>/demandes/<claim_id>/soumettre")
def claim_submit(team_id, claim_id):
    team, _m, claim = _claim(team_id, claim_id, "coordinator")
    return _claim_action(team, claim, svc.submit_claim,
                         _("Claim submitted and frozen. Its SHA-256 fingerprint is printed on every page of the PDF."),
                         url_for("funding.claim", team_id=team.id, claim_id=claim.id))


@bp.post("/equipe/<team_id>/demandes/<claim_id>/supprimer")
def claim_delete(team_id, claim_id):
    team, _m, claim = _claim(team_id, claim_id, "coordinator")
    return _claim_action(team, claim, svc.delete_draft, _("Draft deleted."), url_for("funding.team", team_id=team.id))


@bp.get("/equipe/<team_id>/demandes/<claim_id>/demande.pdf")
def claim_pdf(team_id, claim_id):
    team, _m, claim = _claim(team_id, claim_id)
    data = svc.claim_data(claim)
    pdf = render_pdf("funding/pdf/claim.html", claim=claim, data=data, generated_at=utc_now(),
                     users={p["user"]: p["name"] for p in data["professionals"]})
    return pdf_response(pdf, f"demande-{_slug(team.name)}-{data['period']['start']}.pdf")


@bp.get("/equipe/<team_id>/demandes/<claim_id>/demande.csv")
def claim_csv(team_id, claim_id):
    team, _m, claim = _claim(team_id, claim_id)
    return csv_response(svc.claim_csv(svc.claim_data(claim), claim.sha256),
                        f"demande-{_slug(team.name)}-{claim.period_start.isoformat()}.csv")


def _decider(team_id):
    """Payments and rejections are the regional association's (or a platform admin's) decision.
    Team members get 403; anyone else 404, so another team's claims are not revealed."""
    if not (current_user.is_association or current_user.is_platform_admin):
        from esp_coord.core.security import membership_for

        abort(403 if membership_for(team_id) is not None else 404)


def _submitted_claim(team_id, claim_id):
    """A submitted claim, for the association's decision (payment or rejection); other statuses are 404."""
    _decider(team_id)
    team, _m, claim = _claim(team_id, claim_id)
    if claim.status != "submitted":
        abort(404)
    return team, claim


@bp.route("/equipe/<team_id>/demandes/<claim_id>/paiement", methods=["GET", "POST"])
def claim_pay(team_id, claim_id):
    team, claim = _submitted_claim(team_id, claim_id)
    data = svc.claim_data(claim)
    form = PaidForm()
    errors = {}
    amounts = {}
    if request.method == "POST":
        for p in data["professionals"]:
            raw = (request.form.get(f"amount_{p['user']}") or "").replace("\u202f", "").replace(" ", "").replace(
                ",", ".")
            try:
                amounts[p["user"]] = Decimal(raw)
                if amounts[p["user"]] < 0:
                    raise InvalidOperation
            except InvalidOperation:
                errors[p["user"]] = _("Enter a positive amount.")
        if form.validate_on_submit() and not errors:
            svc.mark_paid(claim, form.paid_on.data, amounts, actor=current_user)
            db.session.commit()
            flash(_("Payment recorded."), "success")
            return redirect(url_for("funding.claim", team_id=team.id, claim_id=claim.id))
    elif not form.paid_on.data:
        form.paid_on.data = today_paris()
    status = 400 if request.method == "POST" else 200
    return render_template("funding/claim_pay.html", team=team, claim=claim, data=data, form=form, errors=errors,
                           typed={k: request.form.get(f"amount_{k}") for k in
                                  (p["user"] for p in data["professionals"])} if request.method == "POST" else {}
                           ), status


@bp.route("/equipe/<team_id>/demandes/<claim_id>/rejet", methods=["GET", "POST"])
def claim_reject(team_id, claim_id):
    team, claim = _submitted_claim(team_id, claim_id)
    form = RejectForm()
    if form.validate_on_submit():
        svc.reject_claim(claim, form.reason.data, actor=current_user)
        db.session.commit()
        flash(_("Claim rejected."), "success")
        return redirect(url_for("funding.claim", team_id=team.id, claim_id=claim.id))
    return render_template("funding/claim_reject.html", team=team, claim=claim, form=form), (
        400 if request.method == "POST" else 200)


# ---------------------------------------------------------------- payment statement

@bp.get("/releve")
def statement():
    return render_template("funding/statement.html", st=svc.payment_statement(current_user))


@bp.get("/releve.pdf")
def statement_pdf():
    pdf = render_pdf("funding/pdf/statement.html", st=svc.payment_statement(current_user), generated_at=utc_now())
    return pdf_response(pdf, f"releve-paiements-{_slug(current_user.last_name)}.pdf")


# ---------------------------------------------------------------- projet de santé and steps

@bp.get("/equipe/<team_id>/projet")
def projet(team_id):
    team, membership = team_read_access(team_id)
    versions = svc.projet_versions(team.id)
    shown = versions[0] if versions else None
    if request.args.get("version"):
        shown = next((v for v in versions if str(v.version) == request.args["version"]), None)
        if shown is None:
            abort(404)
    return render_template("funding/projet.html", team=team, versions=versions, shown=shown, fields=PROJET_FIELDS,
                           can_manage=_can_manage(membership))


@bp.route("/equipe/<team_id>/projet/modifier", methods=["GET", "POST"])
def projet_edit(team_id):
    team, _m = team_access(team_id, "coordinator")
    versions = svc.projet_versions(team.id)
    form_class = projet_form_class()
    if request.method == "GET":
        data = dict(versions[0].data) if versions else {"communes": "\n".join(team.commune_list)}
        if versions:
            data.update(signed_on=versions[0].signed_on, sent_to_ars_on=versions[0].sent_to_ars_on)
        form = form_class(data=data)
    else:
        form = form_class()
        if form.validate_on_submit():
            content = {key: form[key].data for key, _label, _kind in PROJET_FIELDS}
            p = svc.save_projet(team, content, actor=current_user, signed_on=form.signed_on.data,
                                sent_to_ars_on=form.sent_to_ars_on.data)
            db.session.commit()
            flash(_("Version %(v)s of the projet de santé saved.", v=p.version), "success")
            return redirect(url_for("funding.projet", team_id=team.id))
    return render_template("funding/projet_edit.html", team=team, form=form, fields=PROJET_FIELDS,
                           next_version=(versions[0].version + 1) if versions else 1), (
        400 if request.method == "POST" else 200)


@bp.get("/equipe/<team_id>/projet/v<int:version>.pdf")
def projet_pdf(team_id, version):
    team, _m = team_read_access(team_id)
    p = db.session.execute(sa.select(ProjetSante).where(ProjetSante.team_id == team.id,
                                                        ProjetSante.version == version)).scalar_one_or_none()
    if p is None:
        abort(404)
    pdf = render_pdf("funding/pdf/projet.html", team=team, projet=p, fields=PROJET_FIELDS, generated_at=utc_now())
    return pdf_response(pdf, f"projet-de-sante-{_slug(team.name)}-v{version}.pdf")


@bp.route("/equipe/<team_id>/etapes", methods=["GET", "POST"])
def steps(team_id):
    team, membership = team_read_access(team_id)
    form_class = steps_form_class()
    current = svc.clap_steps(team)
    if request.method == "POST":
        if not _can_manage(membership):
            abort(403)
        form = form_class()
        if form.validate_on_submit():
            svc.set_clap_steps(team, {code: (form[f"date_{code}"].data, form[f"note_{code}"].data)
                                      for code, _label in CLAP_STEPS}, actor=current_user)
            db.session.commit()
            flash(_("Steps saved."), "success")
            return redirect(url_for("funding.steps", team_id=team.id))
    else:
        form = form_class(data={**{f"date_{s['code']}": s["done_on"] for s in current},
                                **{f"note_{s['code']}": s["note"] for s in current}})
    return render_template("funding/steps.html", team=team, form=form, steps=current,
                           can_manage=_can_manage(membership)), (400 if request.method == "POST" else 200)


# ---------------------------------------------------------------- region (association)

def region_rows(year: int) -> list[dict]:
    teams = svc.all_teams()
    statuses = svc.envelope_statuses([t.id for t in teams], year)
    claims: dict = {}
    for c in db.session.execute(sa.select(Claim).where(Claim.period_start >= date(year, 1, 1),
                                                       Claim.period_start <= date(year, 12, 31))
                                .order_by(Claim.period_start)).scalars():
        claims.setdefault(c.team_id, []).append(c)
    rows = []
    for t in teams:
        valid, validity = svc.composition_validity(t)
        rows.append({"team": t, "valid": valid, "validity": validity, "members": len(t.memberships),
                     "status": statuses[t.id], "claims": claims.get(t.id, [])})
    return rows


@bp.get("/region")
@require_global_role("association", "platform_admin")
def region():
    from esp_coord.reports.models import GeneratedDocument

    year = _year()
    rows = region_rows(year)
    totals = {k: sum((r["status"][k] for r in rows), Decimal(0)) for k in ("envelope", "logged", "claimed", "paid")}
    exports = db.session.execute(sa.select(GeneratedDocument).where(
        GeneratedDocument.owner_id == current_user.id, GeneratedDocument.kind == "region_export")
        .order_by(GeneratedDocument.created_at.desc()).limit(5)).scalars().all()
    return render_template("funding/region.html", rows=rows, year=year, totals=totals, exports=exports)


@bp.get("/region.csv")
@require_global_role("association", "platform_admin")
def region_csv():
    year = _year()
    head = [_("Team"), _("Kind"), _("Legal form"), _("Members"), _("Composition"), _("Envelope (€)"),
            _("Logged (€)"), _("Claimed (€)"), _("Paid (€)"), _("Remaining (€)"), _("Claims")]
    lines = [head]
    for r in region_rows(year):
        s = r["status"]
        claims = ", ".join(f"{c.period_label} {c.status_label}" for c in r["claims"])
        cells = [r["team"].name, r["team"].kind_label, r["team"].legal_form_label, str(r["members"]),
                 _("valid") if r["valid"] else _("to check"), format_number(s["envelope"]), format_number(s["logged"]),
                 format_number(s["claimed"]), format_number(s["paid"]), format_number(s["remaining"]), claims]
        lines.append(cells)
    return csv_response(csv_text(lines), f"region-{year}.csv")


@bp.post("/region/export")
@require_global_role("association", "platform_admin")
def region_export():
    from esp_coord.funding.jobs import build_region_export
    from esp_coord.reports.services import new_document

    year = _year()
    doc = new_document("region_export", current_user, params={"year": year})
    db.session.commit()
    result = build_region_export(str(doc.id))
    doc.task_id = getattr(result, "id", None) or doc.task_id
    db.session.commit()
    return redirect(url_for("reports.document", doc_id=doc.id))

