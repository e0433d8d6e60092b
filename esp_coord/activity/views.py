"""Views of the activity ledger: my actions, log an action done outside the app, the team's ledger."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from esp_coord.activity import bp
from esp_coord.activity import services as svc
from esp_coord.activity.forms import ManualActionForm
from esp_coord.activity.models import LEDGER_STATUSES, ActionType, LedgerEntry
from esp_coord.core.db import parse_uuid
from esp_coord.core.extensions import db
from esp_coord.core.pdf import csv_response
from esp_coord.core.security import load_in_team, team_access
from esp_coord.core.time import today_paris


def _filters(*, with_member: bool = False) -> dict:
    """Filters from the query string; bad values are ignored (never a 500)."""
    out: dict = {}
    year = request.args.get("annee", "").strip()
    out["year"] = int(year) if year.isdigit() and 2000 <= int(year) <= 2100 else None
    status = request.args.get("statut", "")
    out["status"] = status if status in LEDGER_STATUSES else None
    kind = request.args.get("type", "")
    out["action_type"] = kind if kind and db.session.get(ActionType, kind) is not None else None
    if with_member:
        out["member_id"] = parse_uuid(request.args.get("membre", "")) if request.args.get("membre") else None
    return out


def _years() -> list[int]:
    this = today_paris().year
    return list(range(this, this - 6, -1))


def _all_types():
    return db.session.query(ActionType).order_by(ActionType.sort).all()


@bp.get("/")
def mine():
    teams = [m.team for m in current_user.memberships]
    filters = _filters()
    team_filter = parse_uuid(request.args.get("equipe", "")) if request.args.get("equipe") else None
    # my own entries, including those of teams I have left (my history)
    team_ids = [team_filter] if team_filter in [t.id for t in teams] else None
    entries = svc.list_entries(team_ids=team_ids, user_id=current_user.id, **filters)
    return render_template(
        "activity/mine.html", entries=entries,
        totals=svc.totals_sql(team_ids=team_ids, user_id=current_user.id, **filters), teams=teams, years=_years(),
        statuses=LEDGER_STATUSES, types=_all_types(), filters=filters,
        team_filter=team_filter if team_filter in [t.id for t in teams] else None,
        source_label=svc.source_label,
    )


@bp.route("/nouvelle", methods=["GET", "POST"])
def new():
    teams = sorted((m.team for m in current_user.memberships), key=lambda t: t.name)
    if not teams:
        flash(_("You must belong to a team to log an action."), "warning")
        return redirect(url_for("activity.mine"))
    form = ManualActionForm(teams=teams, types=svc.manual_types())
    if request.method == "GET":
        form.performed_on.data = today_paris()
        wanted = request.args.get("equipe")
        if wanted in {str(t.id) for t in teams}:
            form.team_id.data = wanted
        elif len(teams) == 1:
            form.team_id.data = str(teams[0].id)
    if form.validate_on_submit():
        try:
            svc.record_manual(team=form.team, user=current_user, action_type=form.action_type.data,
                              performed_on=form.performed_on.data, duration_minutes=form.duration_minutes.data,
                              patient_count=form.patient_count.data or 0, label=form.label.data)
        except svc.LedgerError as exc:
            db.session.rollback()
            form.action_type.errors = [*form.action_type.errors, str(exc)]
        else:
            db.session.commit()
            flash(_("Action recorded. It will be validated by a coordinator."), "success")
            return redirect(url_for("activity.mine"))
    status = 400 if request.method == "POST" else 200
    return render_template("activity/new.html", form=form,
                           association_team_ids=[str(t.id) for t in teams if t.is_association]), status


@bp.get("/equipe/<team_id>")
def team(team_id):
    team, membership = team_access(team_id, "coordinator")
    filters = _filters(with_member=True)
    page = request.args.get("page", 1, type=int) or 1
    entries, pages = svc.list_page(page, team_ids=[team.id], **filters)
    return render_template(
        "activity/team.html", team=team, entries=entries, totals=svc.totals_sql(team_ids=[team.id], **filters),
        page=min(max(1, page), pages), pages=pages, page_url=_page_url, years=_years(),
        statuses=LEDGER_STATUSES, types=_all_types(), filters=filters, members=team.memberships,
        source_label=svc.source_label, query=request.query_string.decode(),
    )


def _page_url(team_id, page: int) -> str:
    args = request.args.to_dict()
    args["page"] = page
    return url_for("activity.team", team_id=team_id, **args)


@bp.get("/equipe/<team_id>/export.csv")
def export(team_id):
    team, _m = team_access(team_id, "coordinator")
    entries = svc.list_entries(team_ids=[team.id], **_filters(with_member=True))
    from esp_coord.core import audit

    audit.record("ledger.export", actor=current_user, team_id=team.id, object_type="team", object_id=team.id,
                 details={"rows": len(entries)})
    db.session.commit()
    return csv_response(svc.ledger_csv(entries), f"actions-{today_paris().isoformat()}.csv")


def _back(team_id):
    target = url_for("activity.team", team_id=team_id)
    query = request.form.get("retour", "")
    if query and "\n" not in query and "\r" not in query:
        target += "?" + query.lstrip("?")
    return redirect(target, code=303)


@bp.post("/equipe/<team_id>/<entry_id>/statut")
def set_status(team_id, entry_id):
    team, _m = team_access(team_id, "coordinator")
    entry = load_in_team(LedgerEntry, entry_id, team.id)
    status = request.form.get("statut", "")
    if status not in ("validated", "rejected", "to_validate"):
        abort(400)
    svc.set_status(entry, status, actor=current_user)
    db.session.commit()
    flash(_("Entry updated: %(status)s.", status=entry.status_label), "success")
    return _back(team.id)


@bp.post("/equipe/<team_id>/lot")
def bulk(team_id):
    team, _m = team_access(team_id, "coordinator")
    status = request.form.get("statut", "")
    if status not in ("validated", "rejected"):
        abort(400)
    ids = [u for u in (parse_uuid(v) for v in request.form.getlist("entree")) if u is not None]
    if not ids:
        flash(_("Select at least one entry."), "warning")
        return _back(team.id)
    count = svc.bulk_set_status(team.id, ids, status, actor=current_user)
    db.session.commit()
    if status == "validated":
        flash(_("%(n)s entries validated.", n=count), "success")
    else:
        flash(_("%(n)s entries rejected.", n=count), "success")
    return _back(team.id)


@bp.post("/equipe/<team_id>/<entry_id>/supprimer")
def delete(team_id, entry_id):
    team, _m = team_access(team_id, "member")
    entry = load_in_team(LedgerEntry, entry_id, team.id)
    try:
        svc.delete_own_entry(entry, actor=current_user)
    except svc.LedgerError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("activity.mine"), code=303)
    db.session.commit()
    flash(_("Entry deleted."), "success")
    return redirect(url_for("activity.mine"), code=303)
