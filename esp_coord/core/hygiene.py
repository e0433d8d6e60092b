"""Input hygiene in one place: every request, every form field, every URL integer, every download name.

`configure(app)` (called by the app factory) installs all of it; no feature repeats these checks.

- Requests: a NUL byte or another control character (other than tab, CR and LF) anywhere in a query
  parameter, a form value, a form field name or a URL path segment is refused with a French 400 page
  before any view, authentication or database code runs — PostgreSQL would raise on NUL (a 500 that logs
  the SQL parameters), SQLite would store it.
- Single-line text fields (every WTForms ``StringField`` but ``TextAreaField``: names, e-mails, URLs,
  passwords…) refuse CR/LF — they end up in e-mail subjects, headers and ICS lines.
- Dates and date-times: years limited to `MIN_YEAR`–`MAX_YEAR`; a form field may set a tighter range
  with its own validators (birth dates, meeting dates) — the bound here only stops absurd values.
- Numbers: integers beyond `INT_LIMIT`, non-finite decimals/floats (NaN, sNaN, Infinity) and decimals
  beyond `DECIMAL_LIMIT` are ordinary validation errors, never an OverflowError/InvalidOperation.
- URL paths: ``<int:…>`` accepts 1 to 9 digits, so an absurd id is a 404, not an overflow.
- Downloads: `content_disposition(filename)` writes RFC 6266 ``filename*=UTF-8''…`` with an ASCII fallback
  (a non-ASCII header value makes gunicorn itself answer 500).
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from flask import Flask, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter
from wtforms import fields

MIN_YEAR = 1900
MAX_YEAR = 2100
INT_LIMIT = 10**12
DECIMAL_LIMIT = Decimal(10**12)

# C0 controls and DEL, except TAB, LF, CR (multi-line text); NUL first of all
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAK = re.compile(r"[\r\n\u2028\u2029\x85]")


class BadInput(BadRequest):
    """A request refused by input hygiene; `french` is shown on the 400 page."""

    def __init__(self, french: str) -> None:
        super().__init__(description=french)
        self.french = french


def has_forbidden_characters(value: str) -> bool:
    return bool(_FORBIDDEN.search(value))


def _check_request() -> None:
    values: list[str] = []
    for multi in (request.args, request.form):
        for key, items in multi.lists():
            values.append(key)
            values.extend(items)
    if request.view_args:
        values.extend(v for v in request.view_args.values() if isinstance(v, str))
    values.append(request.path)
    for file in request.files.values():
        if file.filename:
            values.append(file.filename)
    if any(_FORBIDDEN.search(v) for v in values):
        raise BadInput(str(_l("The request contains invisible control characters (such as a NUL byte). "
                              "Retype the text without copying it from another application.")))


# ------------------------------------------------------------------ form fields


def _patch(field_class: type, check: Any) -> None:
    """Wrap ``field_class.process_formdata`` so ``check(field)`` runs on the parsed value.

    A check raises ValueError: WTForms keeps it in ``process_errors``, so the form is invalid whatever the
    validators say, and the page shows the message next to what was typed. Text and dates keep their value
    (later validators such as DataRequired must not replace the message by "required"); numbers are set to
    None because validators cannot compare a signalling NaN."""
    if field_class.__dict__.get("_esp_hygiene"):
        return
    original = field_class.process_formdata

    def process_formdata(self: Any, valuelist: list[Any]) -> None:
        original(self, valuelist)
        check(self, valuelist)

    field_class.process_formdata = process_formdata  # type: ignore[method-assign]
    field_class._esp_hygiene = True  # type: ignore[attr-defined]


def _check_integer(field: Any, _valuelist: list[Any]) -> None:
    if isinstance(field.data, int) and abs(field.data) > INT_LIMIT:
        field.data = None
        raise ValueError(_l("This number is too large."))


def _check_decimal(field: Any, _valuelist: list[Any]) -> None:
    value = field.data
    if isinstance(value, Decimal) and (not value.is_finite() or abs(value) > DECIMAL_LIMIT):
        field.data = None
        raise ValueError(_l("Enter an ordinary number (digits, with a comma for decimals)."))
    if isinstance(value, float) and (not math.isfinite(value) or abs(value) > float(DECIMAL_LIMIT)):
        field.data = None
        raise ValueError(_l("Enter an ordinary number (digits, with a comma for decimals)."))


def _check_date(field: Any, _valuelist: list[Any]) -> None:
    value = field.data
    if isinstance(value, date | datetime) and not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(_l("Enter a date between %(start)s and %(end)s.", start=MIN_YEAR, end=MAX_YEAR))


def _check_single_line(field: Any, valuelist: list[Any]) -> None:
    if isinstance(field, fields.TextAreaField):
        return
    if any(isinstance(v, str) and _LINE_BREAK.search(v) for v in valuelist):
        raise ValueError(_l("This field must hold a single line (no line break)."))


def install_field_checks() -> None:
    _patch(fields.IntegerField, _check_integer)
    _patch(fields.DecimalField, _check_decimal)
    _patch(fields.FloatField, _check_decimal)
    for cls in (fields.DateTimeField, fields.DateField, fields.DateTimeLocalField):
        _patch(cls, _check_date)
    _patch(fields.StringField, _check_single_line)


# ------------------------------------------------------------------ URLs and downloads


class BoundedIntegerConverter(IntegerConverter):
    """``<int:…>`` with at most 9 digits: an id or a version number, never an overflow."""

    regex = r"\d{1,9}"


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """RFC 6266 header value: an ASCII fallback ``filename="…"`` plus ``filename*=UTF-8''…`` for the real name."""
    name = _LINE_BREAK.sub(" ", _FORBIDDEN.sub("", filename)).strip() or "document"
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    ascii_name = "".join(c if c.isalnum() or c in "-_. " else "_" for c in ascii_name).strip() or "document"
    header = f'{disposition}; filename="{ascii_name}"'
    if ascii_name != name:
        header += f"; filename*=UTF-8''{quote(name, safe='')}"
    return header


def configure(app: Flask) -> None:
    install_field_checks()
    app.url_map.converters["int"] = BoundedIntegerConverter
    app.before_request(_check_request)
