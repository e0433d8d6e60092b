"""Forms of the funding feature (French messages through the catalog)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, DecimalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from esp_coord.funding.models import CAP_SCOPES, CLAP_STEPS, PERIOD_KINDS, PROJET_FIELDS, UNITS


class FrenchDecimalField(DecimalField):
    """Accepts "1 234,50" as well as "1234.50"."""

    def process_formdata(self, valuelist):
        if valuelist:
            valuelist = [v.replace("\u202f", "").replace("\u00a0", "").replace(" ", "").replace(",", ".")
                         for v in valuelist]
        super().process_formdata(valuelist)


def _choices(labels: dict) -> list[SelectChoice]:
    return [SelectChoice(k, v) for k, v in labels.items()]


class EnvelopeForm(FlaskForm):
    amount = FrenchDecimalField(_l("Envelope for the year (€)"), places=2,
                          validators=[InputRequired(_l("Enter an amount.")),
                                      NumberRange(min=0, max=10_000_000, message=_l("Enter a positive amount."))])


class ClaimForm(FlaskForm):
    period_kind = SelectField(_l("Period"), choices=_choices(PERIOD_KINDS), default="year")
    year = IntegerField(_l("Year"), validators=[InputRequired(_l("Enter a year.")),
                                                NumberRange(min=2015, max=2100, message=_l("Enter a valid year."))])
    start = DateField(_l("Start (custom period)"), validators=[Optional()])
    end = DateField(_l("End (custom period)"), validators=[Optional()])


class PaidForm(FlaskForm):
    paid_on = DateField(_l("Payment date"), validators=[InputRequired(_l("Enter the payment date."))])


class RejectForm(FlaskForm):
    reason = TextAreaField(_l("Reason of the rejection"), validators=[
        DataRequired(_l("Give the reason of the rejection.")), Length(max=2000)])


class NewGridForm(FlaskForm):
    year = IntegerField(_l("Year"), validators=[InputRequired(_l("Enter a year.")),
                                                NumberRange(min=2015, max=2100, message=_l("Enter a valid year."))])


def grid_form_class(codes: list[str]):
    """One row of fields per action type: unit, amount (empty = not funded), cap, cap scope."""

    class GridForm(FlaskForm):
        note = TextAreaField(_l("Note shown with the grid"), validators=[Optional(), Length(max=2000)])
        team_admins_may_edit = BooleanField(_l("Team administrators may edit this grid"))

    for code in codes:
        setattr(GridForm, f"unit_{code}", SelectField(_l("Unit"), choices=_choices(UNITS)))
        setattr(GridForm, f"amount_{code}", FrenchDecimalField(_l("Amount (€)"), places=2, validators=[
            Optional(), NumberRange(min=0, max=100_000, message=_l("Enter a positive amount."))]))
        setattr(GridForm, f"cap_{code}", FrenchDecimalField(_l("Cap (units)"), places=2, validators=[
            Optional(), NumberRange(min=0, max=100_000, message=_l("Enter a positive number."))]))
        setattr(GridForm, f"scope_{code}", SelectField(_l("Cap counted"), choices=_choices(CAP_SCOPES)))
    return GridForm


def projet_form_class():
    class ProjetForm(FlaskForm):
        signed_on = DateField(_l("Signed by all members on"), validators=[Optional()])
        sent_to_ars_on = DateField(_l("Sent to the ARS on"), validators=[Optional()])

    for key, label, kind in PROJET_FIELDS:
        if kind == "int":
            field = IntegerField(label, validators=[Optional(), NumberRange(min=0, max=1_000_000,
                                                                            message=_l("Enter a positive number."))])
        elif kind == "bool":
            field = BooleanField(label)
        else:
            field = TextAreaField(label, validators=[Optional(), Length(max=20000)])
        setattr(ProjetForm, key, field)
    return ProjetForm


def steps_form_class():
    class StepsForm(FlaskForm):
        pass

    for code, label in CLAP_STEPS:
        setattr(StepsForm, f"date_{code}", DateField(label, validators=[Optional()]))
        setattr(StepsForm, f"note_{code}", StringField(_l("Note"), validators=[Optional(), Length(max=300)]))
    return StepsForm
