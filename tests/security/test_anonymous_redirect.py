"""Deny by default, generated from the URL map: every non-public route (every method) sends an anonymous
visitor to the login page. The public endpoints are listed here explicitly; a new public route must be
added on purpose."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import pytest
from werkzeug.routing import AnyConverter, IntegerConverter, PathConverter

from esp_coord.core.security import FEED_TOKEN_ATTR, PUBLIC_ATTR
from tests.conftest import csrf_from

PUBLIC_ENDPOINTS = {
    "static",
    "dashboard.health",
    "auth.login",
    "auth.totp",
    "auth.enrol_totp",
    "auth.accept_invitation",
}
FEED_TOKEN_ENDPOINTS = {"calendar_feeds.user_feed", "calendar_feeds.team_feed"}
SKIPPED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture(autouse=True)
def _fresh_rate_limits(app):
    from esp_coord.core.extensions import limiter

    limiter.reset()
    yield
    limiter.reset()


def _placeholder(converter):
    if isinstance(converter, IntegerConverter):
        return 1
    if isinstance(converter, AnyConverter):
        return sorted(converter.items)[0]
    if isinstance(converter, PathConverter):
        return "x/y"
    return str(uuid.uuid4())


def _url(app, rule) -> str:
    values = {name: _placeholder(conv) for name, conv in rule._converters.items()}
    values.update({k: v for k, v in (rule.defaults or {}).items() if k not in values})
    adapter = app.url_map.bind("localhost")
    return adapter.build(rule.endpoint, values, force_external=False)


def _is_public(app, endpoint) -> bool:
    return endpoint == "static" or bool(getattr(app.view_functions[endpoint], PUBLIC_ATTR, False))


def test_public_endpoints_are_exactly_the_listed_ones(app):
    public = {rule.endpoint for rule in app.url_map.iter_rules() if _is_public(app, rule.endpoint)}
    unexpected = public - PUBLIC_ENDPOINTS - FEED_TOKEN_ENDPOINTS
    assert not unexpected, f"routes reachable without login that are not listed: {sorted(unexpected)}"
    for endpoint in FEED_TOKEN_ENDPOINTS & public:
        assert getattr(app.view_functions[endpoint], FEED_TOKEN_ATTR, False), endpoint


def test_every_private_route_redirects_anonymous_users_to_login(app):
    client = app.test_client()
    token = csrf_from(client.get("/connexion").get_data(as_text=True))
    checked, failures = 0, []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if _is_public(app, rule.endpoint):
            continue
        url = _url(app, rule)
        for method in sorted(rule.methods - SKIPPED_METHODS):
            kwargs = {}
            if method not in ("GET", "HEAD"):
                kwargs = {"data": {"csrf_token": token}, "headers": {"X-CSRFToken": token}}
            resp = client.open(url, method=method, **kwargs)
            checked += 1
            location = resp.headers.get("Location", "")
            if resp.status_code != 302 or urlsplit(location).path != "/connexion":
                failures.append(f"{method} {url} ({rule.endpoint}) -> {resp.status_code} {location}")
    assert checked > 20
    assert not failures, "\n".join(failures)


def test_next_parameter_keeps_the_requested_page(app):
    client = app.test_client()
    resp = client.get("/compte?onglet=sessions")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/connexion?next=")
    assert resp.headers["Location"] == "/connexion?next=/compte?onglet%3Dsessions"


def test_public_pages_answer_without_login(app):
    client = app.test_client()
    assert client.get("/connexion").status_code == 200
    # pending-state pages send back to the login page, an unknown invitation is a 404 page
    assert client.get("/connexion/totp").status_code == 302
    assert client.get("/connexion/activation-totp").status_code == 302
    assert client.get("/invitation/unknown-token").status_code == 404
