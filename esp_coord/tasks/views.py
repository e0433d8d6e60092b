"""Views of the tasks feature: "my tasks" across teams, the team's open tasks, tasks created by hand."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from esp_coord.core.db import parse_uuid
from esp_coord.core.extensions import db
from esp_coord.core.security import load_in_team, team_access
from esp_coord.core.time import today_paris
from esp_coord.tasks import bp
from esp_coord.tasks import services as svc
from esp_coord.tasks.forms import TaskForm
from esp_coord.tasks.models import TASK_STATUSES, Task


def _context(tasks):
    return {
        "today": today_paris(),
        "details": svc.displayed_details(tasks, current_user),
        "patients": svc.visible_patients(tasks),
        "statuses": TASK_STATUSES,
        "is_overdue": svc.is_overdue,
    }


@bp.get("/")
def mine():
    include_closed = request.args.get("toutes") == "1"
    tasks = svc.tasks_for_user(current_user, include_closed=include_closed)
    context = _context(tasks)
    coordinator_teams = [m.team for m in current_user.memberships if m.has_role("coordinator")]
    teams = sorted((m.team for m in current_user.memberships), key=lambda t: t.name)
    html = render_template("tasks/mine.html", tasks=tasks, include_closed=include_closed, teams=teams,
                           coordinator_teams=coordinator_teams, **context)
    db.session.commit()  # audit rows of patient task reads (after rendering: no reload of expired rows)
    return html


@bp.get("/equipe/<team_id>")
def team(team_id):
    team, membership = team_access(team_id, "coordinator")
    owner = parse_uuid(request.args.get("membre", "")) if request.args.get("membre") else None
    tasks = svc.tasks_for_team(team.id, owner_id=owner)
    context = _context(tasks)
    html = render_template("tasks/team.html", team=team, membership=membership, tasks=tasks,
                           members=team.memberships, owner=owner, **context)
    db.session.commit()  # audit rows of patient task reads
    return html


@bp.route("/equipe/<team_id>/nouvelle", methods=["GET", "POST"])
def new(team_id):
    team, membership = team_access(team_id, "member")
    members = sorted(team.memberships, key=lambda m: (m.user.last_name, m.user.first_name))
    form = TaskForm(members=members)
    if request.method == "GET":
        form.owner_id.data = str(current_user.id)
    if form.validate_on_submit():
        svc.create_task(team_id=team.id, owner_id=parse_uuid(form.owner_id.data), title=form.title.data,
                        due_on=form.due_on.data, detail=(form.detail.data or "").strip() or None,
                        source_type="manual", actor=current_user)
        db.session.commit()
        flash(_("Task created."), "success")
        if membership.has_role("coordinator"):
            return redirect(url_for("tasks.team", team_id=team.id))
        return redirect(url_for("tasks.mine"))
    return render_template("tasks/new.html", form=form, team=team), 400 if request.method == "POST" else 200


@bp.post("/equipe/<team_id>/<task_id>/statut")
def set_status(team_id, task_id):
    team, membership = team_access(team_id, "member")
    task = load_in_team(Task, task_id, team.id)
    status = request.form.get("statut", "")
    if status not in TASK_STATUSES:
        abort(400)
    if not svc.can_change(task, current_user, membership):
        abort(403)
    svc.set_task_status(task, status, actor=current_user)
    db.session.commit()
    flash(_("Task \u201c%(title)s\u201d: %(status)s.", title=task.title, status=task.status_label), "success")
    back = request.form.get("retour")
    if back == "equipe" and membership.has_role("coordinator"):
        return redirect(url_for("tasks.team", team_id=team.id), code=303)
    if back == "tableau":
        return redirect(url_for("dashboard.index"), code=303)
    return redirect(url_for("tasks.mine"), code=303)

