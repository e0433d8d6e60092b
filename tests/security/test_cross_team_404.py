"""Generated from app.url_map: every route with <team_id> (all features, present and future) answers 404
to a logged-in member of ANOTHER team, for every method (POST included, with a valid CSRF token)."""

from __future__ import annotations

import uuid

import pytest
from werkzeug.routing import IntegerConverter

SKIP_METHODS = {"HEAD", "OPTIONS"}


def _team_rules(app):
    return sorted((r for r in app.url_map.iter_rules() if "team_id" in r.arguments),
                  key=lambda r: (r.rule, r.endpoint))


def _values(rule, team_id):
    values = {}
    for name in rule.arguments:
        if name == "team_id":
            values[name] = str(team_id)
            continue
        converter = rule._converters.get(name)  # noqa: SLF001 - introspection of the URL map
        kind = type(converter).__name__ if converter is not None else ""
        if isinstance(converter, IntegerConverter):
            values[name] = 1
        elif kind == "FloatConverter":
            values[name] = 1.0
        elif kind == "AnyConverter":
            values[name] = sorted(converter.items)[0] if hasattr(converter, "items") else "x"
        else:
            values[name] = str(uuid.uuid4())
    return values


def test_url_map_has_team_routes(app):
    assert _team_rules(app), "no team-scoped route found"


def test_other_team_member_gets_404_everywhere(app, client, f):
    team, _other, users = f.team_with_roles()
    f.login(client, users["outsider"])
    token = f.csrf(client, "/equipes/nouvelle")
    failures = []
    checked = 0
    with app.test_request_context():
        from flask import url_for

        urls = []
        for rule in _team_rules(app):
            url = url_for(rule.endpoint, **_values(rule, team.id))
            for method in sorted((rule.methods or set()) - SKIP_METHODS):
                urls.append((rule.endpoint, method, url))
    for endpoint, method, url in urls:
        kwargs = {}
        if method != "GET":
            kwargs = {"data": {"csrf_token": token}, "headers": {"X-CSRFToken": token}}
        resp = client.open(url, method=method, **kwargs)
        checked += 1
        if resp.status_code != 404:
            failures.append(f"{method} {url} ({endpoint}) -> {resp.status_code}")
    assert checked
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("path", ["/equipes/{team}", "/actions/equipe/{team}", "/taches/equipe/{team}"])
def test_own_member_is_not_refused(app, client, f, path):
    team, _other, users = f.team_with_roles()
    f.login(client, users["admin"])
    assert client.get(path.format(team=team.id)).status_code == 200
