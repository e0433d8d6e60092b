"""Views of the dashboard feature: the personal home page and the public health check."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import render_template
from flask_login import current_user

from esp_coord.core import signals
from esp_coord.core.extensions import db
from esp_coord.core.security import public
from esp_coord.core.time import today_paris
from esp_coord.dashboard import bp

log = logging.getLogger("esp_coord.dashboard")


def _panels(user) -> list[dict]:
    """Panels contributed by other features through `signals.dashboard_panels`."""
    panels = []
    for panel in signals.collect(signals.dashboard_panels, user):
        if panel.get("title"):
            items = []
            for item in panel.get("items") or []:
                item = tuple(item) + (None, None)
                items.append({"label": item[0], "url": item[1], "detail": item[2]})
            panels.append({"title": panel["title"], "items": items, "empty": panel.get("empty"),
                           "more_url": panel.get("more_url")})
    return panels


@bp.get("/")
def index():
    from esp_coord.activity.services import list_entries
    from esp_coord.tasks.services import is_overdue, tasks_for_user
    from esp_coord.teams.services import composition

    memberships = sorted(current_user.memberships, key=lambda m: m.team.name)
    teams = [(m, composition(m.team)) for m in memberships]
    tasks = tasks_for_user(current_user, limit=8)
    team_ids = [m.team_id for m in memberships]
    actions = list_entries(team_ids=team_ids, user_id=current_user.id)[:5] if team_ids else []
    return render_template("dashboard/index.html", teams=teams, tasks=tasks, actions=actions,
                           panels=_panels(current_user), today=today_paris(), is_overdue=is_overdue)


@bp.get("/sante")
@public
def health():
    try:
        db.session.execute(sa.text("SELECT 1"))
    except Exception:  # noqa: BLE001 - report, never leak
        log.exception("health check: database unavailable")
        db.session.rollback()
        return "database unavailable", 503, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
