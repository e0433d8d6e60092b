"""French error pages that leak nothing (no trace, no ids, no patient data)."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger("esp_coord.errors")

PAGES = {400, 403, 404, 405, 413, 429, 500}


def _render(code: int, csrf: bool = False, message: str | None = None):
    from esp_coord.core.extensions import db

    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - best effort, the page must render
        log.warning("rollback failed while rendering an error page")
    template = f"errors/{code}.html" if code in PAGES else "errors/generic.html"
    return render_template(template, code=code, csrf=csrf, message=message), code


def configure(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(_exc):
        log.info("csrf failure on %s", request.endpoint)
        return _render(400, csrf=True)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code is None or exc.code < 400:
            return exc
        if exc.code == 429:
            from esp_coord.core import audit
            from esp_coord.core.extensions import db

            audit.record("security.rate_limited", object_type="endpoint", object_id=request.endpoint,
                         outcome="failure")
            db.session.commit()
        return _render(exc.code, message=getattr(exc, "french", None))

    @app.errorhandler(Exception)
    def unhandled(exc: Exception):
        if isinstance(exc, HTTPException):
            return http_error(exc)
        log.exception("unhandled error on %s", request.endpoint)
        return _render(InternalServerError.code)
