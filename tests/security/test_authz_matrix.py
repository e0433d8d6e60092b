"""Authorization matrix generated from app.url_map: every route (endpoint × method) × six roles, on the real demo
world (`esp_coord.demo`, team "clap"), URL arguments resolved to real rows of that team.

Expected outcomes come from ONE table, tests/security/authz_rules.py. Checks:
- anonymous → redirect to /connexion on every non-public route;
- another team's member → 404 on team-scoped routes (no existence oracle);
- a role below the route's level → 403 (or the declared status);
- an allowed role → never 401/403/404, never 5xx;
- the association viewer never gets a 2xx on a route flagged `patient_data`, and no demo patient name appears
  in any page it receives;
- POST routes get an empty form with a valid CSRF token; a refused POST writes nothing (row counts and latest
  `updated_at` of every table compared before/after, audit and session tables excepted);
- a route without a rule fails with its name.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest

from tests.conftest import csrf_from
from tests.security.authz_rules import (
    LOGIN_REDIRECT_OK,
    ROLES,
    RUN_LAST,
    SESSION_CHANGING,
    World,
    expectation,
    route_cases,
    rule_for,
    url_map_app,
)

_MAP_APP = url_map_app()
_ROUTES = route_cases(_MAP_APP)
# refused roles first, the most powerful last: an allowed POST runs after every refused attempt on that route
_ROLE_ORDER = ("anonymous", "other_team", "association", "member", "coordinator", "admin")
assert set(_ROLE_ORDER) == set(ROLES)


def _case_id(endpoint, method, rule, role, dup):
    return f"{endpoint}[{method}{' ' + rule.rule if dup else ''}]-{role}"


def _cases():
    seen = {}
    for endpoint, method, rule in _ROUTES:
        seen[(endpoint, method)] = seen.get((endpoint, method), 0) + 1
    gets = [c for c in _ROUTES if c[1] == "GET"]
    writes = [c for c in _ROUTES if c[1] != "GET" and c[0] not in RUN_LAST]
    writes += sorted((c for c in _ROUTES if c[1] != "GET" and c[0] in RUN_LAST), key=lambda c: RUN_LAST.index(c[0]))
    out = []
    for endpoint, method, rule in gets + writes:
        for role in _ROLE_ORDER:
            dup = seen[(endpoint, method)] > 1
            out.append(pytest.param(endpoint, method, rule, role, id=_case_id(endpoint, method, rule, role, dup)))
    return out


CASES = _cases()


@pytest.fixture(scope="module")
def world(request, tmp_path_factory):
    if os.environ.get("ESP_TEST_ENGINE", "sqlite") == "postgres":
        url = request.getfixturevalue("pg_cluster").new_database()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('authz') / 'world.db'}"
    w = World(url)
    with w.app.app_context():
        import sqlalchemy as sa

        from esp_coord.core.extensions import db
        from esp_coord.patients.access import identity
        from esp_coord.patients.models import Patient

        names = set()
        for p in db.session.execute(sa.select(Patient)).scalars():
            ident = identity(p)
            names.add(getattr(ident, "birth_name", None))
        w.patient_names = {n for n in names if n and len(n) >= 4}
        db.session.rollback()
    from esp_coord.core.extensions import limiter

    limiter.reset()
    yield w
    w.close()


def test_every_route_has_a_rule():
    missing = sorted({f"{e} {m} {r.rule}" for e, m, r in _ROUTES if rule_for(e, m, r.rule) is None})
    assert not missing, ("routes without an access rule — declare them in tests/security/authz_rules.py RULES:\n"
                         + "\n".join(missing))


def test_matrix_covers_every_route_and_role():
    assert len(CASES) == len(_ROUTES) * len(ROLES)
    assert len(_ROUTES) > 150


def _csrf(client, role):
    page = client.get("/connexion" if role == "anonymous" else "/compte")
    return csrf_from(page.get_data(as_text=True))


_CLIENTS: dict = {}


def _client(world, role, fresh=False):
    """A logged-in client and a CSRF token of its session, reused across cases (fresh for session changers)."""
    key = (id(world), role)
    if fresh:
        _CLIENTS.pop(key, None)  # ending "other sessions" also ends the cached one
        client = world.client(role)
        return client, _csrf(client, role)
    if key not in _CLIENTS:
        client = world.client(role)
        _CLIENTS[key] = (client, _csrf(client, role))
    return _CLIENTS[key]


@pytest.mark.parametrize(("endpoint", "method", "rule", "role"), CASES)
def test_authz(world, endpoint, method, rule, role):
    from esp_coord.core.extensions import limiter

    access = rule_for(endpoint, method, rule.rule)
    if access is None:
        pytest.fail(f"no access rule for {endpoint} {method} {rule.rule}: add it to tests/security/authz_rules.py")
    expected = expectation(access, role)
    url = _build(world, rule, role)
    client, token = _client(world, role, fresh=endpoint in SESSION_CHANGING)
    kwargs = {}
    if method != "GET":
        kwargs = {"data": {"csrf_token": token}, "headers": {"X-CSRFToken": token}}
    refused = expected != "allow"
    before = world.snapshot() if refused and method != "GET" else None
    limiter.reset()
    resp = client.open(url, method=method, **kwargs)
    status = resp.status_code
    where = f"{method} {url} as {role} (rule {access.access!r})"
    assert status < 500, f"{where} -> {status}"
    if expected == "login":
        assert status == 302 and urlsplit(resp.headers.get("Location", "")).path == "/connexion", \
            f"{where}: anonymous must be sent to /connexion, got {status} {resp.headers.get('Location')}"
    elif expected == "allow":
        assert status not in (401, 403, 404), f"{where}: allowed role refused with {status}"
        if status in (301, 302, 303, 307, 308) and role != "anonymous" and endpoint not in LOGIN_REDIRECT_OK:
            assert urlsplit(resp.headers.get("Location", "")).path != "/connexion", f"{where}: session lost"
        if role == "association" and 200 <= status < 300:
            assert not access.patient_data or access.roles.get("association") == "allow", \
                f"{where}: the association viewer reached a patient-data route ({status})"
            body = resp.get_data(as_text=True) if resp.mimetype.startswith(("text/", "application/json")) else ""
            leaked = [n for n in world.patient_names if n in body]
            assert not leaked, f"{where}: patient names in the association viewer's page"
    else:
        assert status == expected, f"{where}: expected {expected}, got {status}"
    if before is not None:
        changed = _diff(before, world.snapshot())
        assert not changed, f"{where}: refused ({status}) but wrote to {changed}"


def _build(world, rule, role):
    from tests.security.authz_rules import build_url

    try:
        return build_url(world, rule, role)
    except LookupError as exc:
        pytest.fail(str(exc))


def _diff(before, after):
    from tests.security.authz_rules import diff

    return diff(before, after)
