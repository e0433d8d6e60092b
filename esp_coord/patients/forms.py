"""Forms of the patients feature (CSRF via Flask-WTF; messages in English, translated to French)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateField, RadioField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from esp_coord.core.time import today_paris
from esp_coord.patients.services import ins_is_valid, normalise_ins

SEX_CHOICES = [SelectChoice("F", _l("Female")), SelectChoice("M", _l("Male")), SelectChoice("I", _l("Undetermined"))]
CATEGORY_LABELS = {"clinical": _l("Clinical"), "social": _l("Social"), "coordination": _l("Coordination")}
METHOD_LABELS = {"oral": _l("Orally"), "leaflet": _l("Information leaflet handed over"),
                 "oral_leaflet": _l("Orally and with a leaflet"),
                 "deferred": _l("Informed afterwards (emergency, noted later)")}
SCOPE_LABELS = {"pps": _l("Personalised care plan (PPS)"), "outside_team": _l("Sharing outside the care team"),
                "protocol": _l("Inclusion in a team protocol"), "telehealth": _l("Telehealth / tele-expertise"),
                "other": _l("Other")}


def _choices(labels: dict) -> list[SelectChoice]:
    return [SelectChoice(k, v) for k, v in labels.items()]


DATE_MESSAGE = _l("Enter a valid date (dd/mm/yyyy).")


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def not_in_future(_form, field):
    if field.data and field.data > today_paris():
        raise ValidationError(_l("The date cannot be in the future."))


class PatientForm(FlaskForm):
    birth_name = StringField(_l("Birth name"), validators=[DataRequired(_l("This field is required.")),
                                                           Length(max=100)])
    usage_name = StringField(_l("Usage name"), validators=[Optional(), Length(max=100)])
    first_names = StringField(_l("First names"), validators=[DataRequired(_l("This field is required.")),
                                                             Length(max=150)])
    birth_date = DateField(_l("Date of birth"), validators=[DataRequired(DATE_MESSAGE), not_in_future])
    sex = RadioField(_l("Sex"), choices=SEX_CHOICES, validators=[DataRequired(_l("This field is required."))])
    ins = StringField(_l("INS number (matricule INS)"), validators=[Optional(), Length(max=21)])
    commune = StringField(_l("Municipality of residence"), validators=[Optional(), Length(max=120)])
    gp_member_id = SelectField(_l("General practitioner (team member)"), choices=[], validate_choice=True)
    gp_free_text = StringField(_l("General practitioner (outside the team)"),
                               validators=[Optional(), Length(max=150)])
    follower_ids = MultiCheckboxField(_l("Professionals following the patient"), choices=[])

    def validate_birth_date(self, field):
        if field.data and field.data.year < 1900:
            raise ValidationError(_l("Enter a valid date (dd/mm/yyyy)."))

    def validate_ins(self, field):
        value = normalise_ins(field.data)
        if value and not ins_is_valid(value):
            raise ValidationError(_l("The INS number must have 15 characters and a valid key."))

    def validate_gp_free_text(self, field):
        if field.data and self.gp_member_id.data:
            raise ValidationError(_l("Choose a team member or enter a name, not both."))


class SearchForm(FlaskForm):
    """POSTed (never GET): a typed name must not end up in URLs, browser history or access logs."""

    q = StringField(_l("Name (beginning)"), validators=[Optional(), Length(max=100)])
    dob = DateField(_l("Date of birth"), validators=[Optional()])


class NoteForm(FlaskForm):
    category = RadioField(_l("Category"), choices=_choices(CATEGORY_LABELS),
                          validators=[DataRequired(_l("This field is required."))], default="coordination")
    body = TextAreaField(_l("Text of the note"),
                         validators=[DataRequired(_l("This field is required.")), Length(max=20000)])


class InformationForm(FlaskForm):
    informed_on = DateField(_l("Date of information"), validators=[DataRequired(DATE_MESSAGE), not_in_future],
                            default=today_paris)
    informed_by_id = SelectField(_l("Informed by"), choices=[],
                                 validators=[DataRequired(_l("This field is required."))])
    method = RadioField(_l("How"), choices=_choices(METHOD_LABELS),
                        validators=[DataRequired(_l("This field is required."))])
    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=2000)])


class ConsentForm(FlaskForm):
    scope = SelectField(_l("Scope of the consent"), choices=_choices(SCOPE_LABELS),
                        validators=[DataRequired(_l("This field is required."))])
    detail = TextAreaField(_l("Details of the consent"), validators=[Optional(), Length(max=2000)])
    given_on = DateField(_l("Date of consent"), validators=[DataRequired(DATE_MESSAGE), not_in_future],
                         default=today_paris)
    attachment = FileField(_l("Signed form (optional: PDF, JPEG or PNG, 5 MB at most)"))


class DateOnlyForm(FlaskForm):
    on = DateField(_l("Date"), validators=[DataRequired(DATE_MESSAGE), not_in_future], default=today_paris)


class ConfirmForm(FlaskForm):
    confirm = StringField(_l("Type ERASE to confirm"), validators=[DataRequired(_l("This field is required."))])

    def validate_confirm(self, field):
        if (field.data or "").strip().upper() not in ("EFFACER", "ERASE"):
            raise ValidationError(_l("Type ERASE to confirm."))
