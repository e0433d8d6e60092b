"""Calendar feeds: settings page (/agenda/) and the secret-token .ics endpoints."""

from __future__ import annotations

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from esp_coord.calendar_feeds import bp
from esp_coord.core.extensions import db, limiter
from esp_coord.core.security import feed_token_view, team_access
from esp_coord.meetings.forms import EmptyForm

from . import services as svc


def _feed_limit() -> str:
    return current_app.config.get("RATELIMIT_FEED", "60 per minute")


def _urls(token: str, team_id=None) -> dict:
    base = current_app.config.get("BASE_URL", "").rstrip("/")
    path = url_for("calendar_feeds.team_feed" if team_id else "calendar_feeds.user_feed", token=token)
    https = base + path
    webcal = "webcal://" + https.split("://", 1)[1]
    return {"https": https, "webcal": webcal}


def _memberships():
    from esp_coord.teams.models import Membership

    return [m for m in db.session.query(Membership).filter(Membership.user_id == current_user.id,
                                                           Membership.ended_on.is_(None)).all()]


def _render(new_urls=None, new_for=None):
    teams = [(m.team, svc.active_token(current_user, m.team_id)) for m in _memberships()]
    return render_template("calendar_feeds/settings.html", user_token=svc.active_token(current_user),
                           teams=teams, new_urls=new_urls, new_for=new_for, form=EmptyForm())


@bp.route("/")
def settings():
    return _render()


@bp.route("/jeton", methods=["POST"])
@bp.route("/equipes/<team_id>/jeton", methods=["POST"])
def regenerate(team_id=None):
    team = None
    if team_id is not None:
        team, _m = team_access(team_id, "member")
    if not EmptyForm().validate_on_submit():
        abort(400)
    token = svc.regenerate(current_user, team.id if team else None)
    db.session.commit()
    flash(_("New link created. Copy it now: it will not be shown again. The previous link no longer works."),
          "success")
    return _render(new_urls=_urls(token, team.id if team else None), new_for=team.id if team else "user")


@bp.route("/jeton/revoquer", methods=["POST"])
@bp.route("/equipes/<team_id>/jeton/revoquer", methods=["POST"])
def revoke(team_id=None):
    team = None
    if team_id is not None:
        team, _m = team_access(team_id, "member")
    if not EmptyForm().validate_on_submit():
        abort(400)
    svc.revoke(current_user, team.id if team else None)
    db.session.commit()
    flash(_("Link revoked: calendars using it will stop updating."), "success")
    return redirect(url_for("calendar_feeds.settings"))


def _serve(token: str, team_feed: bool):
    row = svc.resolve(token)
    if row is None or (row.team_id is not None) != team_feed:
        abort(404)
    body, etag, last_modified = svc.feed_for(row)
    resp = Response(body, mimetype="text/calendar")
    resp.headers["Content-Type"] = "text/calendar; charset=utf-8"
    resp.set_etag(etag)
    resp.last_modified = last_modified
    resp.headers["Cache-Control"] = "private, max-age=900"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp.make_conditional(request)


@bp.route("/u/<token>.ics")
@feed_token_view
@limiter.limit(_feed_limit)
def user_feed(token):
    return _serve(token, team_feed=False)


@bp.route("/e/<token>.ics")
@feed_token_view
@limiter.limit(_feed_limit)
def team_feed(token):
    return _serve(token, team_feed=True)
