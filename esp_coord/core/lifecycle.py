"""One request lifecycle for every write: run the service call, commit once, flash, redirect.

    return perform(
        lambda: svc.add_note(patient, form.body.data, author=current_user),
        success=_("Note saved."),
        target=lambda note: url_for("patients.show", team_id=team.id, patient_id=patient.id),
        form=form,                      # a refusal goes under form[exc.field] or form.form_errors
    ) or render_template("patients/note_form.html", form=form), 400

Rules (docs/DEVELOPING.md, "Request lifecycle"):
- services write, audit and `flush()`; they never `commit()`; views never `commit()` nor `audit.record()`;
- a `DomainError` rolls the whole request back (nothing written), then the refusal is shown: with
  ``on_error`` its response is returned; with ``form`` the message is attached to the form and ``None`` is
  returned so the view renders the form again with what was typed (status 400); otherwise the message is
  flashed and the user is redirected to ``error_target`` (or ``target``) with 303;
- ``success`` and ``target`` may be callables taking the service call's result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import flash, redirect
from flask.typing import ResponseReturnValue

from esp_coord.core.domain import DomainError
from esp_coord.core.extensions import db

T = TypeVar("T")
Message = str | Callable[[Any], str] | None
Target = str | Callable[[Any], str]


def _value(spec: Any, result: Any) -> Any:
    return spec(result) if callable(spec) else spec


def attach_error(form: Any, exc: DomainError) -> None:
    """Put a refusal on the form: under its field when the form has it, else with the form-level errors."""
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None and hasattr(field, "errors"):
        errors = field.errors if isinstance(field.errors, list) else list(field.errors)
        errors.append(exc.message)
        field.errors = errors
    else:
        form.form_errors.append(exc.message)


def perform(
    action: Callable[[], T],
    *,
    success: Message,
    target: Target,
    form: Any = None,
    on_error: Callable[[DomainError], ResponseReturnValue] | None = None,
    error_target: Target | None = None,
) -> ResponseReturnValue | None:
    """Run ``action`` as the request's one transaction; see the module docstring."""
    try:
        result = action()
        db.session.flush()
    except DomainError as exc:
        db.session.rollback()
        if on_error is not None:
            return on_error(exc)
        if form is not None:
            attach_error(form, exc)
            return None
        flash(exc.message, "error")
        return redirect(_value(error_target if error_target is not None else target, None), 303)
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    message = _value(success, result)
    if message:
        flash(message, "success")
    return redirect(_value(target, result))
