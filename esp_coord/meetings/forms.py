"""Forms of the meetings feature. Dates and times are plain strings parsed in views (French messages)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.widgets import CheckboxInput, ListWidget


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class MeetingForm(FlaskForm):
    kind = SelectField(_l("Kind of meeting"), validate_choice=False)
    day = StringField(_l("Date"), render_kw={"type": "date"})
    start = StringField(_l("Start time"), render_kw={"type": "time"})
    end = StringField(_l("End time"), render_kw={"type": "time"})
    place_kind = SelectField(_l("Place"), validate_choice=False)
    place = StringField(_l("Address of the practice"))
    visio_url = StringField(_l("Video link"), render_kw={"type": "url", "placeholder": "https://"})
    invitees = MultiCheckboxField(_l("Invited members"), validate_choice=False)


class PollForm(MeetingForm):
    pass


class CaseForm(FlaskForm):
    patient_id = SelectField(_l("Patient"), validate_choice=False)
    question = TextAreaField(_l("Question asked"))
    presenter_id = SelectField(_l("Presented by"), validate_choice=False)


class CaseMinutesForm(FlaskForm):
    summary = TextAreaField(_l("Summary of the discussion"))
    decision = TextAreaField(_l("Decision"))


class GeneralMinutesForm(FlaskForm):
    general = TextAreaField(_l("General minutes"))


class TaskForm(FlaskForm):
    owner_id = SelectField(_l("Who"), validate_choice=False)
    due_on = StringField(_l("Due date"), render_kw={"type": "date"})
    detail = TextAreaField(_l("What to do"))


class MarkPresentForm(FlaskForm):
    user_id = SelectField(_l("Member"), validate_choice=False)
    reason = StringField(_l("Reason"))


class EmptyForm(FlaskForm):
    pass
