"""Forms of the auth feature (Flask-WTF: CSRF on every form)."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, ValidationError

from esp_coord.auth.passwords import MAX_LENGTH

RPPS_RE = re.compile(r"^\d{11}$")
ROLE_LABELS = {"member": _l("Member"), "coordinator": _l("Coordinator"), "admin": _l("Team administrator")}


def role_choices(max_rank: int = 3) -> list[SelectChoice]:
    from esp_coord.teams.models import ROLE_RANK

    return [SelectChoice(k, v) for k, v in ROLE_LABELS.items() if ROLE_RANK[k] <= max_rank]


def profession_choices(blank: bool = True) -> list[SelectChoice]:
    from esp_coord.core.extensions import db
    from esp_coord.teams.models import Profession

    rows = db.session.execute(sa.select(Profession).order_by(Profession.sort, Profession.label)).scalars()
    choices = [SelectChoice(p.code, p.label) for p in rows]
    return ([SelectChoice("", _l("— Not specified —"))] if blank else []) + choices


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail address"), validators=[DataRequired(_l("Enter your e-mail address.")),
                                                         Length(max=254)],
                       render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"})
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password.")),
                                                        Length(max=MAX_LENGTH)],
                             render_kw={"autocomplete": "current-password"})


class TotpForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(_l("Enter the code.")), Length(max=20)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "autocapitalize": "none",
                                  "spellcheck": "false", "autofocus": True})


class EnrolForm(FlaskForm):
    code = StringField(_l("Six-digit code shown by the app"),
                       validators=[DataRequired(_l("Enter the code.")), Length(max=10)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "autocapitalize": "none",
                                  "spellcheck": "false"})


class ReauthForm(FlaskForm):
    password = PasswordField(_l("Current password"), validators=[DataRequired(_l("Enter your password.")),
                                                                Length(max=MAX_LENGTH)],
                             render_kw={"autocomplete": "current-password", "autofocus": True})


class NewPasswordMixin:
    password_context: dict = {}

    def validate_new_password(self, field):
        from esp_coord.auth.passwords import password_problems

        problems = password_problems(field.data or "", **self.password_context)
        if problems:
            raise ValidationError(" ".join(problems))


class SetPasswordForm(NewPasswordMixin, FlaskForm):
    first_name = StringField(_l("First name"), validators=[DataRequired(_l("Enter your first name.")),
                                                           Length(max=100)], render_kw={"autocomplete": "given-name"})
    last_name = StringField(_l("Last name"), validators=[DataRequired(_l("Enter your last name.")),
                                                         Length(max=100)], render_kw={"autocomplete": "family-name"})
    profession = SelectField(_l("Profession"), choices=[], validate_choice=True)
    new_password = PasswordField(_l("Choose a password"), validators=[DataRequired(_l("Choose a password."))],
                                 render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("Confirm the password"),
                            validators=[DataRequired(_l("Type the password again.")),
                                        EqualTo("new_password", _l("The two passwords differ."))],
                            render_kw={"autocomplete": "new-password"})


class ChangePasswordForm(NewPasswordMixin, FlaskForm):
    current_password = PasswordField(_l("Current password"),
                                     validators=[DataRequired(_l("Enter your current password."))],
                                     render_kw={"autocomplete": "current-password"})
    new_password = PasswordField(_l("New password"), validators=[DataRequired(_l("Choose a password."))],
                                 render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("Confirm the new password"),
                            validators=[DataRequired(_l("Type the password again.")),
                                        EqualTo("new_password", _l("The two passwords differ."))],
                            render_kw={"autocomplete": "new-password"})


class ProfileForm(FlaskForm):
    first_name = StringField(_l("First name"), validators=[DataRequired(_l("Enter your first name.")),
                                                           Length(max=100)], render_kw={"autocomplete": "given-name"})
    last_name = StringField(_l("Last name"), validators=[DataRequired(_l("Enter your last name.")),
                                                         Length(max=100)], render_kw={"autocomplete": "family-name"})
    profession = SelectField(_l("Profession"), choices=[], validate_choice=True)
    rpps = StringField(_l("RPPS number"), validators=[Optional(), Length(max=20)],
                       render_kw={"inputmode": "numeric", "autocomplete": "off"})
    phone = StringField(_l("Professional phone"), validators=[Optional(), Length(max=30)],
                        render_kw={"autocomplete": "tel", "type": "tel"})
    practice_addresses = TextAreaField(_l("Practice addresses"), validators=[Optional(), Length(max=2000)])

    def validate_rpps(self, field):
        value = (field.data or "").replace(" ", "")
        if value and not RPPS_RE.match(value):
            raise ValidationError(_l("The RPPS number has exactly 11 digits."))
        field.data = value or None


class InvitationForm(FlaskForm):
    email = EmailField(_l("E-mail address"),
                       validators=[DataRequired(_l("Enter an e-mail address.")),
                                   Email(_l("Enter a valid e-mail address."), check_deliverability=False),
                                   Length(max=254)],
                       render_kw={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"})
    first_name = StringField(_l("First name"), validators=[Optional(), Length(max=100)])
    last_name = StringField(_l("Last name"), validators=[Optional(), Length(max=100)])
    profession = SelectField(_l("Profession"), choices=[], validate_choice=True)
    role = SelectField(_l("Role in the team"), choices=[], default="member")
