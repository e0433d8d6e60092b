"""Deny-by-default access, team access decisions, security headers, request ids."""

from __future__ import annotations

import functools
import secrets
import uuid
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import abort, current_app, g, redirect, request, url_for
from flask_login import current_user

from esp_coord.core.db import parse_uuid

PUBLIC_ATTR = "_esp_public"
FEED_TOKEN_ATTR = "_esp_feed_token"  # noqa: S105 - attribute name, not a secret


def public(view):
    """Mark a view as reachable without login (login pages, invitations, health check)."""
    setattr(view, PUBLIC_ATTR, True)
    return view


def feed_token_view(view):
    """Mark a view authenticated by a secret URL token instead of the session (calendar feeds)."""
    setattr(view, PUBLIC_ATTR, True)
    setattr(view, FEED_TOKEN_ATTR, True)
    return view


def is_public_endpoint(endpoint: str | None) -> bool:
    if endpoint is None or endpoint == "static":
        return True
    view = current_app.view_functions.get(endpoint)
    return bool(view and getattr(view, PUBLIC_ATTR, False))


def assign_request_id() -> None:
    g.request_id = request.headers.get("X-Request-Id", "")[:64] if current_app.config.get(
        "TRUST_REQUEST_ID") else ""
    g.request_id = g.request_id or secrets.token_hex(8)


def enforce_login():
    """before_request: every endpoint needs a logged-in (password + TOTP) user unless marked public."""
    if is_public_endpoint(request.endpoint):
        return None
    if current_user.is_authenticated:
        return None
    if request.method == "GET":
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return redirect(url_for("auth.login"))


def safe_next(target: str | None) -> str | None:
    """Only same-site relative paths are accepted as 'next' targets."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def membership_for(team_id, user=None):
    from esp_coord.core.extensions import db
    from esp_coord.teams.models import Membership

    user = user or current_user
    if not getattr(user, "is_authenticated", False):
        return None
    team_uuid = parse_uuid(team_id)
    if team_uuid is None:
        return None
    return db.session.execute(
        sa.select(Membership).where(
            Membership.team_id == team_uuid, Membership.user_id == user.id, Membership.ended_on.is_(None)
        )
    ).scalar_one_or_none()


def team_access(team_id, minimum_role: str = "member"):
    """The one helper every team-scoped view uses.

    Returns (team, membership). Not a member (or unknown / malformed id) -> 404, so the existence of
    another team's resources is not revealed; member with an insufficient role -> 403.
    """
    membership = membership_for(team_id)
    if membership is None:
        abort(404)
    if not membership.has_role(minimum_role):
        abort(403)
    g.team = membership.team
    g.membership = membership
    return membership.team, membership


def team_read_access(team_id):
    """Team-level aggregates (no patient data): members, or the regional association viewer."""
    from esp_coord.core.extensions import db
    from esp_coord.teams.models import Team

    membership = membership_for(team_id)
    if membership is not None:
        g.team = membership.team
        return membership.team, membership
    if getattr(current_user, "is_association", False):
        team = db.session.get(Team, parse_uuid(team_id)) if parse_uuid(team_id) else None
        if team is not None:
            return team, None
    abort(404)


def require_global_role(*roles: str):
    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if getattr(current_user, "global_role", None) not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def load_in_team(model, object_id, team_id):
    """Load a team-scoped object by id; another team's object (or a bad id) answers 404."""
    from esp_coord.core.extensions import db

    oid = parse_uuid(object_id)
    obj = db.session.get(model, oid) if oid else None
    if obj is None or obj.team_id != parse_uuid(team_id):
        abort(404)
    return obj


def set_security_headers(response):
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    )
    response.headers.setdefault("Content-Security-Policy", csp)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if current_app.config.get("HSTS"):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if request.endpoint and not is_public_endpoint(request.endpoint) or request.endpoint in (
            "auth.login", "auth.totp"):
        response.headers.setdefault("Cache-Control", "no-store")
    if getattr(g, "request_id", None):
        response.headers.setdefault("X-Request-Id", g.request_id)
    return response


def new_uuid() -> uuid.UUID:
    return uuid.uuid4()
