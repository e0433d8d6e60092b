"""Security headers on pages and error pages; HSTS and Secure cookies only outside development."""

from __future__ import annotations

import base64
import json
import secrets

import pytest

from tests.auth.helpers import password_step


def _prod_like(env: str, tmp_path):
    from esp_coord import create_app
    from esp_coord.core import jobs

    saved = jobs._app
    try:
        return create_app(env, {
            "SECRET_KEY": secrets.token_urlsafe(48), "INDEX_KEY": secrets.token_urlsafe(48),
            "MASTER_KEYS": json.dumps({"current": "h",
                                       "keys": {"h": base64.b64encode(secrets.token_bytes(32)).decode()}}),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / (env + '.db')}",
        })
    finally:
        jobs._app = saved


def assert_strict_headers(resp):
    csp = resp.headers["Content-Security-Policy"]
    directives = {d.strip().split()[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert directives["frame-ancestors"] == "frame-ancestors 'none'"
    assert directives["default-src"] == "default-src 'self'"
    assert directives["script-src"] == "script-src 'self'"
    assert directives["object-src"] == "object-src 'none'"
    assert "base-uri" in directives and "form-action" in directives
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] in ("no-referrer", "same-origin")
    assert resp.headers["X-Frame-Options"] == "DENY"


@pytest.fixture(autouse=True)
def _fresh_rate_limits(app):
    from esp_coord.core.extensions import limiter

    limiter.reset()
    yield
    limiter.reset()


def test_headers_on_public_private_and_error_pages(app, client, f):
    responses = {
        "login": client.get("/connexion"),
        "404": client.get("/cette-page-n-existe-pas"),
        "csrf 400": client.post("/connexion", data={"email": "a@b.fr", "password": "x"}),
        "static": client.get("/static/css/app.css"),
    }
    user = f.user()
    f.login(client, user)
    responses["account"] = client.get("/compte")
    responses["403 / 404 team"] = client.get("/equipes/00000000-0000-0000-0000-000000000000/invitations")
    for name, resp in responses.items():
        assert_strict_headers(resp)
        assert "Strict-Transport-Security" not in resp.headers, name
    assert responses["404"].status_code == 404 and responses["csrf 400"].status_code == 400
    assert responses["account"].headers["Cache-Control"] == "no-store"
    assert responses["login"].headers["Cache-Control"] == "no-store"


def test_rate_limited_page_has_the_headers(app, client, f):
    old = app.config["RATELIMIT_LOGIN"]
    app.config["RATELIMIT_LOGIN"] = "1 per minute"
    try:
        password_step(client, "x@example.org", "wrong password")
        resp = password_step(client, "x@example.org", "wrong password")
        assert resp.status_code == 429
        assert_strict_headers(resp)
    finally:
        app.config["RATELIMIT_LOGIN"] = old


def test_no_inline_script_or_style_in_auth_pages(app, client, f):
    pages = [client.get("/connexion").get_data(as_text=True)]
    f.login(client, f.user())
    pages.append(client.get("/compte").get_data(as_text=True))
    for html in pages:
        assert "<script>" not in html and "<script " not in html.replace('<script src=', '')
        assert " style=" not in html and "<style" not in html
        assert "onclick=" not in html


def test_hsts_and_secure_cookie_in_production(tmp_path):
    app = _prod_like("production", tmp_path)
    client = app.test_client()
    login = client.get("/connexion", base_url="https://localhost")
    for resp in (login, client.get("/nulle-part", base_url="https://localhost")):
        assert_strict_headers(resp)
        assert resp.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    cookie = login.headers.get("Set-Cookie", "")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_no_hsts_in_development(tmp_path):
    app = _prod_like("development", tmp_path)
    resp = app.test_client().get("/connexion")
    assert_strict_headers(resp)
    assert "Strict-Transport-Security" not in resp.headers
