"""Views of the reports feature: annual activity report (page + PDF in a background job), generated documents."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from esp_coord.core.db import parse_uuid
from esp_coord.core.extensions import db
from esp_coord.core.security import team_read_access
from esp_coord.core.time import today_paris
from esp_coord.reports import bp
from esp_coord.reports import services as svc
from esp_coord.reports.models import GeneratedDocument


@bp.get("/")
def index():
    year = today_paris().year
    teams = [m.team for m in current_user.memberships]
    if current_user.is_association or current_user.is_platform_admin:
        from esp_coord.funding.services import all_teams

        teams = all_teams()
    docs = db.session.execute(sa.select(GeneratedDocument).where(GeneratedDocument.owner_id == current_user.id)
                              .order_by(GeneratedDocument.created_at.desc()).limit(10)).scalars().all()
    return render_template("reports/index.html", teams=teams, year=year, docs=docs)


def _year_ok(year: int) -> int:
    if not 2015 <= year <= 2100:
        abort(404)
    return year


@bp.get("/equipe/<team_id>/<int:year>")
def annual(team_id, year):
    team, _m = team_read_access(team_id)
    report = svc.annual_report(team, _year_ok(year))
    docs = db.session.execute(sa.select(GeneratedDocument).where(
        GeneratedDocument.owner_id == current_user.id, GeneratedDocument.team_id == team.id,
        GeneratedDocument.kind == "annual_report").order_by(GeneratedDocument.created_at.desc()).limit(5)
    ).scalars().all()
    return render_template("reports/annual.html", report=report, team=team, year=year, docs=docs)


@bp.post("/equipe/<team_id>/<int:year>/pdf")
def annual_pdf(team_id, year):
    from esp_coord.reports.jobs import build_annual_report

    team, _m = team_read_access(team_id)
    doc = svc.new_document("annual_report", current_user, team_id=team.id, params={"year": _year_ok(year)})
    db.session.commit()
    result = build_annual_report(str(doc.id))
    doc.task_id = getattr(result, "id", None) or doc.task_id
    db.session.commit()
    return redirect(url_for("reports.document", doc_id=doc.id))


def _doc(doc_id) -> GeneratedDocument:
    uid = parse_uuid(doc_id)
    doc = db.session.get(GeneratedDocument, uid) if uid else None
    if doc is None or doc.owner_id != current_user.id:
        abort(404)
    db.session.refresh(doc)
    return doc


@bp.get("/documents/<doc_id>")
def document(doc_id):
    doc = _doc(doc_id)
    return render_template("reports/document.html", doc=doc, progress=svc.document_progress(doc))


@bp.get("/documents/<doc_id>/etat")
def document_status(doc_id):
    return jsonify(svc.document_progress(_doc(doc_id)))


@bp.get("/documents/<doc_id>/telecharger")
def document_download(doc_id):
    from esp_coord.core.pdf import pdf_response

    doc = _doc(doc_id)
    if doc.status != "done":
        return redirect(url_for("reports.document", doc_id=doc.id))
    resp = pdf_response(doc.data, doc.filename or "document.pdf")
    if doc.mimetype and doc.mimetype != "application/pdf":
        resp.mimetype = doc.mimetype
    return resp


@bp.get("/equipe/<team_id>")
def team_latest(team_id):
    team, _m = team_read_access(team_id)
    year = request.args.get("annee", type=int) or today_paris().year
    return redirect(url_for("reports.annual", team_id=team.id, year=year))
