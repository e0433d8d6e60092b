"""Forms of the activity feature."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from esp_coord.core.time import today_paris


class ManualActionForm(FlaskForm):
    team_id = SelectField(_l("Team"), validate_choice=False, validators=[DataRequired(message=_l("Choose a team."))])
    action_type = SelectField(_l("Type of action"), validate_choice=False,
                              validators=[DataRequired(message=_l("Choose a type of action."))])
    performed_on = DateField(_l("Date of the action"),
                             validators=[InputRequired(message=_l("Enter a valid date."))])
    duration_minutes = IntegerField(_l("Duration (minutes)"), validators=[
        Optional(), NumberRange(min=1, max=24 * 60, message=_l("Enter a duration between 1 and 1440 minutes."))])
    patient_count = IntegerField(_l("Number of patients"), default=0, validators=[
        InputRequired(message=_l("Enter a number (0 when no patient is concerned).")),
        NumberRange(min=0, max=1000, message=_l("Enter a number between 0 and 1000."))])
    label = StringField(_l("Short description"), validators=[Optional(), Length(max=300)],
                        description=_l("For example: diabetes protocol meeting. Never a patient's name or any "
                                       "patient detail."))

    def __init__(self, *args, teams=(), types=(), **kwargs):
        super().__init__(*args, **kwargs)
        self._teams = {str(t.id): t for t in teams}
        self._types = {t.code: t for t in types}
        self.team_id.choices = [SelectChoice("", _l("— choose —"))] + [
            SelectChoice(str(t.id), t.name) for t in teams]
        self.action_type.choices = [SelectChoice("", _l("— choose —"))] + [
            SelectChoice(t.code, t.label) for t in types]

    @property
    def team(self):
        return self._teams.get(self.team_id.data or "")

    def validate_team_id(self, field):
        if field.data not in self._teams:
            raise ValidationError(_l("Choose one of your teams."))

    def validate_action_type(self, field):
        kind = self._types.get(field.data)
        if kind is None:
            raise ValidationError(_l("Choose a type of action from the list."))
        team = self.team
        if kind.requires_association and team is not None and not team.is_association:
            raise ValidationError(_l("Prevention / patient education actions can only be funded for a team "
                                     "constituted as an association loi 1901."))

    def validate_performed_on(self, field):
        if field.data and field.data > today_paris():
            raise ValidationError(_l("The date cannot be in the future."))
        if field.data and field.data.year < 2000:
            raise ValidationError(_l("Enter a valid date."))
