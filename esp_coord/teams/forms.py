"""Forms of the teams feature."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from esp_coord.core.time import today_paris
from esp_coord.teams.models import LEGAL_FORMS, ROLES, TEAM_KINDS


def _not_future(_form, field):
    if field.data and field.data > today_paris():
        raise ValidationError(_l("The date cannot be in the future."))


class TeamForm(FlaskForm):
    name = StringField(_l("Team name"), validators=[DataRequired(message=_l("The team name is required.")),
                                                    Length(max=200)])
    kind = SelectField(_l("Kind of team"), choices=[SelectChoice(k, v) for k, v in TEAM_KINDS.items()],
                       default="esp_clap")
    legal_form = SelectField(_l("Legal form"), choices=[SelectChoice(k, v) for k, v in LEGAL_FORMS.items()],
                             default="none")
    communes = TextAreaField(_l("Communes of the territory"), validators=[Optional(), Length(max=5000)],
                             description=_l("One commune per line."))
    formed_on = DateField(_l("Team formed on"), validators=[Optional(), _not_future])
    ars_recognised_on = DateField(_l("Recognised by the ARS on"), validators=[Optional()])
    convention_signed_on = DateField(_l("Convention with the regional association signed on"),
                                     validators=[Optional()])

    def data_dict(self) -> dict:
        communes = "\n".join(c.strip() for c in (self.communes.data or "").splitlines() if c.strip()) or None
        return {"name": self.name.data.strip(), "kind": self.kind.data, "legal_form": self.legal_form.data,
                "communes": communes, "formed_on": self.formed_on.data,
                "ars_recognised_on": self.ars_recognised_on.data,
                "convention_signed_on": self.convention_signed_on.data}


class SiteForm(FlaskForm):
    label = StringField(_l("Site name"), validators=[DataRequired(message=_l("The site name is required.")),
                                                     Length(max=200)])
    address = TextAreaField(_l("Address"), validators=[DataRequired(message=_l("The address is required.")),
                                                       Length(max=1000)])


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=[SelectChoice(k, v) for k, v in ROLES.items()])


class FlagsForm(FlaskForm):
    liberal = BooleanField(_l("Libéral practice"))
    first_recourse = BooleanField(_l("First-recourse care (premier recours)"))


class ProfessionForm(FlaskForm):
    label = StringField(_l("Label"), validators=[DataRequired(message=_l("The label is required.")),
                                                 Length(max=100)])
    eligible = BooleanField(_l("Eligible for team membership"))
