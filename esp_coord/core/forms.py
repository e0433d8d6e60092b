"""Form hardening shared by every feature.

WTForms' IntegerField accepts arbitrarily large integers, and NumberRange then crashes with
OverflowError (math.isnan on a 400-digit int) — a 500 instead of a French validation message.
`install()` makes IntegerField refuse values beyond what any of our fields (or the databases'
BIGINT) can hold, as an ordinary validation error.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import fields

LIMIT = 10**12


def install() -> None:
    field_class = fields.IntegerField
    if getattr(field_class, "_esp_bounded", False):
        return
    original = field_class.process_formdata

    def process_formdata(self, valuelist):
        original(self, valuelist)
        if isinstance(self.data, int) and abs(self.data) > LIMIT:
            self.data = None
            raise ValueError(_l("This number is too large."))

    field_class.process_formdata = process_formdata
    field_class._esp_bounded = True


class EmptyForm(FlaskForm):
    """A form with only the CSRF token: every POST button without fields (delete, validate, close…)."""
