"""Forms of the protocols feature (CSRF via Flask-WTF; English msgids translated to French)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    DateField,
    DecimalField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

DATE_MESSAGE = _l("Enter a valid date (dd/mm/yyyy).")
REQUIRED = _l("This field is required.")
OUTCOME_LABELS = {
    "pris_en_charge": _l("Managed under the protocol"),
    "orientation_medecin": _l("Referred to the physician"),
    "refus_patient": _l("Patient refused"),
}
STATUS_LABELS = {"draft": _l("Draft"), "validated": _l("Validated"), "archived": _l("Archived")}


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class EmptyForm(FlaskForm):
    """CSRF only (state-changing buttons)."""


class ProtocolForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(REQUIRED), Length(max=200)])
    theme = StringField(_l("Theme"), validators=[Optional(), Length(max=200)])
    problem = TextAreaField(_l("Problem addressed"), validators=[Optional(), Length(max=5000)])
    population = TextAreaField(_l("Target population"), validators=[Optional(), Length(max=5000)])
    inclusion_criteria = TextAreaField(_l("Inclusion criteria"), validators=[Optional(), Length(max=5000)])
    exclusion_criteria = TextAreaField(_l("Exclusion criteria"), validators=[Optional(), Length(max=5000)])
    critical_points = TextAreaField(_l("Critical points"), validators=[Optional(), Length(max=5000)])
    steps = TextAreaField(_l("Steps (one per line, in order)"), validators=[Optional(), Length(max=20000)])
    authors = MultiCheckboxField(_l("Writing group"), choices=[])
    next_review_on = DateField(_l("Next review date"), validators=[Optional()])


def protocol_form(professions: list[tuple[str, str]], **kwargs) -> ProtocolForm:
    """ProtocolForm with one "role of <profession>" text area per profession given (code, label)."""

    class _Form(ProtocolForm):
        pass

    for code, label in professions:
        setattr(_Form, f"role_{code}", TextAreaField(label, validators=[Optional(), Length(max=5000)]))
    form = _Form(**kwargs)
    form.role_fields = [form[f"role_{code}"] for code, _label in professions]
    form.role_codes = [code for code, _label in professions]
    return form


class ValidateForm(FlaskForm):
    validated_on = DateField(_l("Validation date"), validators=[DataRequired(DATE_MESSAGE)])
    next_review_on = DateField(_l("Next review date"), validators=[Optional()])


class DocumentForm(FlaskForm):
    title = StringField(_l("Document title"), validators=[Optional(), Length(max=200)])
    file = FileField(_l("PDF file"))


class MeetingForm(FlaskForm):
    held_on = DateField(_l("Date"), validators=[DataRequired(DATE_MESSAGE)])
    duration_minutes = IntegerField(_l("Duration (minutes)"), validators=[
        InputRequired(_l("Enter a duration in minutes.")),
        NumberRange(min=1, max=600, message=_l("The duration must be between 1 and 600 minutes."))])
    attendees = MultiCheckboxField(_l("Attendees (writing group)"), choices=[])
    notes = TextAreaField(_l("Notes (no patient data)"), validators=[Optional(), Length(max=5000)])


class AdoptionForm(FlaskForm):
    adopted_on = DateField(_l("Adoption date"), validators=[DataRequired(DATE_MESSAGE)])
    ars_declared_on = DateField(_l("Date of declaration to the ARS"), validators=[Optional()])
    delegating = MultiCheckboxField(_l("Delegating physicians"), choices=[])
    delegated = MultiCheckboxField(_l("Delegated professionals"), choices=[])


class AttestationForm(FlaskForm):
    user_id = SelectField(_l("Delegated professional"), choices=[])
    trained_on = DateField(_l("Training date"), validators=[DataRequired(DATE_MESSAGE)])
    organisation = StringField(_l("Training organisation"), validators=[DataRequired(REQUIRED), Length(max=200)])
    hours = DecimalField(_l("Hours of training"), places=1, validators=[
        InputRequired(_l("Enter a number of hours.")),
        NumberRange(min=0.5, max=1000, message=_l("The number of training hours must be positive."))])


class InclusionForm(FlaskForm):
    target = SelectField(_l("Protocol"), choices=[])
    patient_id = SelectField(_l("Patient"), choices=[])
    included_on = DateField(_l("Inclusion date"), validators=[DataRequired(DATE_MESSAGE)])
    criteria = TextAreaField(_l("Criteria met"), validators=[Optional(), Length(max=5000)])


class ActForm(FlaskForm):
    performed_on = DateField(_l("Date of the act"), validators=[DataRequired(DATE_MESSAGE)])
    professional_id = SelectField(_l("Professional"), choices=[])
    outcome = SelectField(_l("Outcome"), choices=[SelectChoice(k, v) for k, v in OUTCOME_LABELS.items()])
    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=5000)])


class EndForm(FlaskForm):
    ended_on = DateField(_l("End date"), validators=[DataRequired(DATE_MESSAGE)])
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=2000)])
