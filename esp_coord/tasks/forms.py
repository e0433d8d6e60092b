"""Forms of the tasks feature."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from esp_coord.core.time import today_paris


class TaskForm(FlaskForm):
    title = StringField(_l("Task"), validators=[DataRequired(message=_l("The task title is required.")),
                                                Length(max=300)],
                        description=_l("Short and neutral: no patient name (it appears in reminder e-mails)."))
    owner_id = SelectField(_l("Who does it"), validate_choice=False,
                           validators=[DataRequired(message=_l("Choose a member of the team."))])
    due_on = DateField(_l("Due date"), validators=[Optional()])
    detail = TextAreaField(_l("Details"), validators=[Optional(), Length(max=5000)],
                           description=_l("Organisational details only: tasks created here are not linked to a "
                                          "patient."))

    def __init__(self, *args, members=(), **kwargs):
        super().__init__(*args, **kwargs)
        self._members = {str(m.user_id) for m in members}
        self.owner_id.choices = [SelectChoice("", _l("— choose —"))] + [
            SelectChoice(str(m.user_id), f"{m.user.full_name} ({m.user.profession_label})") for m in members]

    def validate_owner_id(self, field):
        if field.data not in self._members:
            raise ValidationError(_l("Choose a member of the team."))

    def validate_due_on(self, field):
        if field.data and field.data < today_paris():
            raise ValidationError(_l("The due date cannot be in the past."))
