"""Input hygiene in one place (esp_coord/core/hygiene.py): NUL and control characters, single-line fields,
bounded dates and numbers, bounded URL integers, RFC 6266 download names. Each case is refused with a
French message and a 4xx, and nothing is written."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import DateField, DecimalField, FloatField, IntegerField, StringField, TextAreaField

from esp_coord.core.extensions import db
from esp_coord.core.hygiene import content_disposition, has_forbidden_characters
from esp_coord.teams.models import Team


class _Probe(FlaskForm):
    class Meta:
        csrf = False

    name = StringField()
    notes = TextAreaField()
    when = DateField()
    amount = DecimalField(places=2)
    hours = FloatField()
    count = IntegerField()


def _probe(app, **data):
    with app.test_request_context(method="POST", data=data):
        form = _Probe(formdata=MultiDict(data))
        form.validate()
        return form


def test_login_with_nul_is_a_french_400_before_authentication(app, client, f):
    _team, _other, users = f.team_with_roles()
    user = users["member"]
    page = client.get("/connexion")
    from tests.conftest import csrf_from

    resp = client.post("/connexion", data={"email": f"x\x00{user.email}", "password": "x",
                                           "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "caractères de contrôle invisibles" in html


def test_nul_in_query_and_path_is_refused(app, client, f):
    _team, _other, users = f.team_with_roles()
    f.login(client, users["member"])
    assert client.get("/taches/?q=a%00b").status_code == 400
    assert client.get("/equipes/abc%00def").status_code == 400


def test_team_name_with_line_break_shows_the_form_again_and_stores_nothing(app, client, f):
    team, _other, users = f.team_with_roles()
    f.login(client, users["admin"])
    before = team.name
    resp = f.post_form(client, f"/equipes/{team.id}/modifier",
                       {"name": "ESP\r\nBcc: x@example.org", "kind": "esp_clap", "legal_form": "none"})
    assert resp.status_code in (200, 400)
    html = resp.get_data(as_text=True)
    assert "une seule ligne" in html
    assert "Bcc: x@example.org" in html  # what was typed is shown again
    db.session.expire_all()
    assert db.session.execute(sa.select(Team.name).where(Team.id == team.id)).scalar_one() == before


def test_single_line_and_multi_line_fields(app):
    form = _probe(app, name="a\nb", notes="ligne 1\r\nligne 2")
    assert form.name.errors and not form.notes.errors
    assert form.notes.data == "ligne 1\r\nligne 2"


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31", "1899-12-31", "2101-01-01"])
def test_dates_out_of_bounds_are_refused(app, value):
    form = _probe(app, when=value)
    assert any("1900" in str(e) for e in form.when.errors)


def test_dates_in_bounds_are_kept(app):
    assert _probe(app, when="2026-12-04").when.errors == []


@pytest.mark.parametrize("value", ["sNaN", "NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_refused(app, value):
    form = _probe(app, amount=value, hours=value)
    assert form.amount.errors and form.amount.data is None
    assert form.hours.errors and form.hours.data is None


def test_ordinary_numbers_are_kept(app):
    form = _probe(app, amount="1234.50", hours="3.5", count="12")
    assert form.amount.data == Decimal("1234.50") and form.hours.data == 3.5 and form.count.data == 12
    assert _probe(app, count=str(10**30)).count.errors


def test_huge_integers_in_url_paths_are_404_not_500(app, client, f):
    _team, _other, users = f.team_with_roles()
    f.login(client, users["admin"])
    assert client.get("/financement/grille/9223372036854775808").status_code == 404
    assert client.get("/financement/grille/99999999999999999999999999").status_code == 404


@pytest.mark.parametrize(("name", "ascii_part"), [
    ("œuvre.pdf", 'filename="uvre.pdf"'),
    ("ESP du Cœur de Vallet - demande 2026.pdf", 'filename="ESP du Cur de Vallet - demande 2026.pdf"'),
    ("relevé Wałęsa.csv", 'filename="releve Waesa.csv"'),
])
def test_content_disposition_is_ascii_with_utf8_name(name, ascii_part):
    header = content_disposition(name)
    header.encode("latin-1")  # what gunicorn requires of a header value
    assert header.isascii() and ascii_part in header and "filename*=UTF-8''" in header
    from urllib.parse import unquote

    assert unquote(header.split("filename*=UTF-8''", 1)[1]) == name


def test_content_disposition_plain_ascii_and_hostile_names():
    assert content_disposition("demande.pdf") == 'attachment; filename="demande.pdf"'
    header = content_disposition('a"\r\nSet-Cookie: x.pdf')
    assert "\r" not in header and "\n" not in header and '"a_' in header


def test_forbidden_characters():
    assert has_forbidden_characters("a\x00b") and has_forbidden_characters("\x1b[31m")
    assert not has_forbidden_characters("ligne\r\n\tsuite — é ü")
