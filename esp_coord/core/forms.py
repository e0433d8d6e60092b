"""Forms shared by every feature (input hygiene for all fields lives in `esp_coord.core.hygiene`)."""

from __future__ import annotations

from flask_wtf import FlaskForm


class EmptyForm(FlaskForm):
    """A form with only the CSRF token: every POST button without fields (delete, validate, close…)."""
