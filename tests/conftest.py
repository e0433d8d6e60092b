"""Test fixtures: the app on SQLite (default) or on a real PostgreSQL started here.

ESP_TEST_ENGINE=postgres runs the suite on a PostgreSQL cluster created with initdb in a temp dir
(skipped with a visible reason when the server binaries are absent, a failure under CI=true).
Any test can also ask for `pg_url` to use PostgreSQL explicitly.
"""

from __future__ import annotations

import os
import tempfile

_TMP = tempfile.mkdtemp(prefix="esp-coord-tests-")
os.environ.setdefault("ESP_COORD_HUEY_FILENAME", os.path.join(_TMP, "huey.db"))

import base64  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402

import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from tests import factories  # noqa: E402
from tests.pg import pg_available, pg_reason, start_cluster, stop_cluster  # noqa: E402

ENGINE = os.environ.get("ESP_TEST_ENGINE", "sqlite")
TEST_MASTER_KEYS = json.dumps({"current": "t1", "keys": {"t1": base64.b64encode(secrets.token_bytes(32)).decode()}})
TEST_SECRETS = {
    "SECRET_KEY": secrets.token_urlsafe(48),
    "INDEX_KEY": secrets.token_urlsafe(48),
    "MASTER_KEYS": TEST_MASTER_KEYS,
}


def pytest_report_header(config):
    return f"esp_coord database engine: {ENGINE}" + ("" if ENGINE != "postgres" or pg_available() else
                                                      f" (unavailable: {pg_reason()})")


@pytest.fixture(scope="session")
def pg_cluster():
    if not pg_available():
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL required under CI=true: {pg_reason()}")
        pytest.skip(f"PostgreSQL server binaries absent: {pg_reason()}")
    cluster = start_cluster()
    yield cluster
    stop_cluster(cluster)


@pytest.fixture(scope="session")
def pg_url(pg_cluster):
    """URL of a fresh, empty database on the session's PostgreSQL cluster."""
    return pg_cluster.new_database()


@pytest.fixture(scope="session")
def database_url(request, tmp_path_factory):
    if ENGINE == "postgres":
        cluster = request.getfixturevalue("pg_cluster")
        return cluster.new_database("esp_tests")
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


def make_app(database_url: str, **overrides):
    from esp_coord import create_app

    config = {**TEST_SECRETS, "SQLALCHEMY_DATABASE_URI": database_url, **overrides}
    return create_app("testing", config)


@pytest.fixture(scope="session")
def app(database_url):
    application = make_app(database_url)
    import esp_coord.models  # noqa: F401
    from esp_coord.core.extensions import db

    with application.app_context():
        db.create_all()  # tests only; the schema of real databases comes from migrations

    def _fresh_g():
        # Requests reuse the fixture's long-lived app context: give each request an empty `g`, as in production.
        from flask import g

        g.__dict__.clear()

    application.before_request_funcs.setdefault(None, []).insert(0, _fresh_g)
    return application


def _clean(db):
    from esp_coord.reference import ensure_all_reference_data

    db.session.rollback()
    tables = [t for t in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(sa.text(f"TRUNCATE {names} CASCADE"))
    else:
        for table in tables:
            db.session.execute(table.delete())
    db.session.commit()
    ensure_all_reference_data()
    db.session.commit()


@pytest.fixture(autouse=True)
def _app_context(request):
    if "app" not in request.fixturenames:
        yield
        return
    application = request.getfixturevalue("app")
    from esp_coord.core.extensions import db

    with application.app_context():
        _clean(db)
        application.config.update(MAIL_BACKEND="outbox")
        yield
        db.session.rollback()
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_client(app):
    return app.test_client


@pytest.fixture
def f(app):
    """Factories bound to the app (users, teams, memberships, logins)."""
    return factories.Factories(app)


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no csrf_token in page"
    return match.group(1)


@pytest.fixture
def smtp_server(app):
    """A real local SMTP server (aiosmtpd); the app sends through it during the test."""
    from tests.smtp import SmtpServer

    server = SmtpServer()
    server.start()
    old = {k: app.config.get(k) for k in ("MAIL_BACKEND", "MAIL_SERVER", "MAIL_PORT", "MAIL_USE_TLS")}
    app.config.update(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port, MAIL_USE_TLS=False)
    yield server
    app.config.update(old)
    server.stop()
