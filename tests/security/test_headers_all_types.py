"""Security headers and cookie flags on every response type, on the demo world: HTML page, PDF download, CSV
download, ICS feed (token and session), 404 (anonymous and logged in), 400 CSRF error, 403 — plus the session
cookie flags in the testing app and in a production-config app (Secure)."""

from __future__ import annotations

import base64
import json
import os
import secrets

import pytest

from tests.security.authz_rules import World, build_url


@pytest.fixture(scope="module")
def world(request, tmp_path_factory):
    if os.environ.get("ESP_TEST_ENGINE", "sqlite") == "postgres":
        url = request.getfixturevalue("pg_cluster").new_database()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('headers') / 'world.db'}"
    w = World(url)
    yield w
    w.close()


def _url(world, endpoint, role="admin", **match):
    rules = [r for r in world.app.url_map.iter_rules() if r.endpoint == endpoint]
    rule = next(r for r in rules if all(a in r.arguments for a in match.get("args", ())))
    return build_url(world, rule, role)


def assert_security_headers(resp, what):
    csp = resp.headers.get("Content-Security-Policy", "")
    directives = {d.strip().split()[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert directives.get("frame-ancestors") == "frame-ancestors 'none'", (what, csp)
    assert directives.get("default-src") == "default-src 'self'", (what, csp)
    assert directives.get("object-src") == "object-src 'none'", (what, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, (what, csp)
    assert resp.headers.get("X-Content-Type-Options") == "nosniff", what
    assert resp.headers.get("Referrer-Policy") == "no-referrer", what
    assert resp.headers.get("X-Frame-Options") == "DENY", what


def _responses(world):
    from esp_coord.core.extensions import limiter

    limiter.reset()
    admin = world.client("admin")
    anon = world.app.test_client()
    out = {
        "html page": (admin.get(_url(world, "patients.show")), "text/html", True),
        "pdf download": (admin.get(_url(world, "funding.claim_pdf")), "application/pdf", True),
        "pdf (protocol sheet)": (admin.get(_url(world, "protocols.sheet")), "application/pdf", True),
        "csv download": (admin.get(_url(world, "activity.export")), "text/csv", True),
        "csv (indicators)": (admin.get(_url(world, "protocols.indicators_csv")), "text/csv", True),
        "ics feed (token)": (anon.get(_url(world, "calendar_feeds.user_feed", "anonymous")), "text/calendar", None),
        "ics invitation": (admin.get(_url(world, "meetings.ics")), "text/calendar", True),
        "404 logged in": (admin.get("/cette-page-n-existe-pas"), "text/html", None),
        "404 anonymous": (anon.get("/cette-page-n-existe-pas"), "text/html", None),
        "404 other team object": (world.client("other_team").get(_url(world, "patients.show")), "text/html", None),
        "403 role": (world.client("member").get(_url(world, "teams.edit")), "text/html", None),
        "400 csrf (logged in)": (admin.post("/compte", data={"first_name": "x"}), "text/html", None),
        "400 csrf (anonymous)": (anon.post("/connexion", data={"email": "a@b.fr", "password": "x"}), "text/html",
                                 None),
    }
    return out


EXPECTED_STATUS = {"404 logged in": 404, "404 anonymous": 404, "404 other team object": 404, "403 role": 403,
                   "400 csrf (logged in)": 400, "400 csrf (anonymous)": 400}


def test_security_headers_on_every_response_type(world):
    responses = _responses(world)
    for what, (resp, mimetype, private) in responses.items():
        assert resp.status_code == EXPECTED_STATUS.get(what, 200), (what, resp.status_code)
        if resp.status_code == 200:
            assert resp.mimetype == mimetype, (what, resp.mimetype)
        assert_security_headers(resp, what)
        if private:  # authenticated downloads and pages are never cached
            assert "no-store" in resp.headers.get("Cache-Control", ""), (what, resp.headers.get("Cache-Control"))
        assert "Strict-Transport-Security" not in resp.headers, what  # testing config: no HSTS
    for what in ("pdf download", "csv download"):
        assert "attachment" in responses[what][0].headers.get("Content-Disposition", "") or \
            "inline" in responses[what][0].headers.get("Content-Disposition", ""), what


def _session_cookies(resp):
    return [c for c in resp.headers.getlist("Set-Cookie") if c.split("=", 1)[0] in ("session", "esp_session")
            or "session" in c.split("=", 1)[0].lower()]


def test_session_cookie_flags_in_testing(world):
    client = world.app.test_client()
    resp = client.get("/connexion")
    cookies = _session_cookies(resp)
    assert cookies, resp.headers.getlist("Set-Cookie")
    for cookie in cookies:
        flags = [p.strip().lower() for p in cookie.split(";")]
        assert "httponly" in flags, cookie
        assert "samesite=lax" in flags, cookie


def test_production_app_headers_and_secure_cookie(tmp_path):
    """A production-config app: HSTS on every response, Secure + HttpOnly + SameSite=Lax session cookie."""
    from esp_coord import create_app
    from esp_coord.core import jobs
    from esp_coord.core.extensions import db, limiter

    saved = jobs._app
    try:
        app = create_app("production", {
            "SECRET_KEY": secrets.token_urlsafe(48), "INDEX_KEY": secrets.token_urlsafe(48),
            "MASTER_KEYS": json.dumps({"current": "p",
                                       "keys": {"p": base64.b64encode(secrets.token_bytes(32)).decode()}}),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'prod.db'}",
        })
        import esp_coord.models  # noqa: F401

        with app.app_context():
            db.create_all()
        limiter.reset()
        client = app.test_client()
        page = client.get("/connexion", base_url="https://localhost")
        missing = client.get("/nulle-part", base_url="https://localhost")
        csrf = client.post("/connexion", data={"email": "a@b.fr"}, base_url="https://localhost")
        for what, resp in (("login page", page), ("404", missing), ("400 csrf", csrf)):
            assert_security_headers(resp, what)
            assert resp.headers.get("Strict-Transport-Security", "").startswith("max-age=31536000"), what
        assert missing.status_code == 404 and csrf.status_code == 400
        cookies = _session_cookies(page)
        assert cookies, page.headers.getlist("Set-Cookie")
        for cookie in cookies:
            flags = [p.strip().lower() for p in cookie.split(";")]
            assert "secure" in flags and "httponly" in flags and "samesite=lax" in flags, cookie
        with app.app_context():
            db.engine.dispose()
    finally:
        jobs._app = saved
