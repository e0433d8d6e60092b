"""PPS forms: one small form per item so the nested plan works on a phone without JavaScript."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, RadioField, SelectField, SelectMultipleField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from .models import CATEGORIES, CONSENT_METHODS, CONSENT_SCOPES
from .services import CATEGORY_LABELS, CONSENT_METHOD_LABELS, CONSENT_SCOPE_LABELS, VOLET_LABELS

LONG = 20000


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def member_choices(members):
    return [SelectChoice(str(u.id), f"{u.full_name} ({u.profession_label})") for u in members]


class PlanForm(FlaskForm):
    coordinator_id = SelectField(_l("Coordinating professional"), validators=[InputRequired()])
    participant_ids = MultiCheckboxField(_l("Participating team members"), validate_choice=True)
    outside_participants = TextAreaField(_l("Outside participants (carer, social worker, hospital contact…)"),
                                         validators=[Optional(), Length(max=LONG)])
    opened_on = DateField(_l("Date opened"), validators=[Optional()])
    trigger = TextAreaField(_l("What triggered the plan"), validators=[Optional(), Length(max=LONG)])
    expectations = TextAreaField(_l("Patient's expectations and priorities"),
                                 validators=[Optional(), Length(max=LONG)])
    internal_notes = TextAreaField(_l("Internal notes (team only, not on the patient copy)"),
                                   validators=[Optional(), Length(max=LONG)])
    next_review_on = DateField(_l("Next review"), validators=[Optional()])
    source_meeting_case_id = HiddenField()

    def set_members(self, members):
        self.coordinator_id.choices = [SelectChoice("", "—")] + member_choices(members)
        self.participant_ids.choices = member_choices(members)


class ProblemForm(FlaskForm):
    category = SelectField(_l("Category"), choices=[SelectChoice(c, CATEGORY_LABELS[c]) for c in CATEGORIES],
                           validators=[InputRequired()])
    label = TextAreaField(_l("Problem"), validators=[DataRequired(_l("Describe the problem.")),
                                                     Length(max=LONG)])
    patient_priority = BooleanField(_l("This is the patient's own priority (becomes problem n°1)"))
    uncertain = BooleanField(_l("Uncertain (to be confirmed)"))


class ObjectiveForm(FlaskForm):
    text = TextAreaField(_l("Objective agreed with the patient"),
                         validators=[DataRequired(_l("Describe the objective agreed with the patient.")),
                                     Length(max=LONG)])
    criterion = TextAreaField(_l("Evaluation criteria"), validators=[Optional(), Length(max=LONG)])
    result = TextAreaField(_l("Result at the last review"), validators=[Optional(), Length(max=LONG)])


class ActionForm(FlaskForm):
    what = TextAreaField(_l("Action"), validators=[DataRequired(_l("Describe the action.")), Length(max=LONG)])
    owner_kind = RadioField(_l("Who does it"), choices=[SelectChoice("member", _l("A team member")),
                                                        SelectChoice("profession", _l("A profession")),
                                                        SelectChoice("outside", _l("An outside helper"))],
                            validators=[Optional()], validate_choice=False)
    owner_user_id = SelectField(_l("Team member"), validate_choice=False)
    owner_profession_code = SelectField(_l("Profession"), validate_choice=False)
    owner_outside = TextAreaField(_l("Outside helper (name or role)"), validators=[Optional(), Length(max=2000)])
    when = TextAreaField(_l("When or how often"), validators=[Optional(), Length(max=2000)])
    due_on = DateField(_l("Due date (for the task)"), validators=[Optional()])
    volet = RadioField(_l("Belongs to"), choices=[SelectChoice(k, v) for k, v in VOLET_LABELS.items()], default="care",
                       validators=[InputRequired()])

    def set_choices(self, members, professions):
        self.owner_user_id.choices = [SelectChoice("", "—")] + member_choices(members)
        self.owner_profession_code.choices = [SelectChoice("", "—")] + [
            SelectChoice(p.code, p.label) for p in professions]


class ConsentForm(FlaskForm):
    consent_on = DateField(_l("Date of consent"), validators=[InputRequired(_l("Give the date of the patient's "
                                                                               "consent."))])
    method = RadioField(_l("How the patient consented"), choices=[SelectChoice(m, CONSENT_METHOD_LABELS[m])
                                                                 for m in CONSENT_METHODS],
                        validators=[InputRequired(_l("Say how the patient consented."))])
    scope = RadioField(_l("Consent covers"), choices=[SelectChoice(s, CONSENT_SCOPE_LABELS[s]) for s in CONSENT_SCOPES],
                       default="care_and_help", validators=[InputRequired()])


class ValidateForm(FlaskForm):
    next_review_on = DateField(_l("Next review"), validators=[Optional()])


class ReviewForm(FlaskForm):
    review_on = DateField(_l("Date of the review"), validators=[InputRequired(_l("Give the date of the review."))])
    participant_ids = MultiCheckboxField(_l("Participating team members"), validate_choice=True)
    outside_participants = TextAreaField(_l("Outside participants"), validators=[Optional(), Length(max=LONG)])
    changes = TextAreaField(_l("What changed since the last version"), validators=[Optional(), Length(max=LONG)])
    outcome = TextAreaField(_l("Outcome of the review"), validators=[Optional(), Length(max=LONG)])
    next_review_on = DateField(_l("Next review"), validators=[Optional()])

    def set_members(self, members):
        self.participant_ids.choices = member_choices(members)


class CloseForm(FlaskForm):
    reason = TextAreaField(_l("Reason for closing"),
                           validators=[DataRequired(_l("Give the reason for closing the care plan.")),
                                       Length(max=LONG)])


class EmptyForm(FlaskForm):
    pass
