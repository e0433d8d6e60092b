"""Logging with a request id on every line; never log patient data (ids only)."""

from __future__ import annotations

import logging
import sys

from flask import Flask, g, has_request_context


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = getattr(g, "request_id", "-") if has_request_context() else "-"
        return True


def configure(app: Flask) -> None:
    root = logging.getLogger("esp_coord")
    root.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    if not any(getattr(h, "_esp_coord", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler._esp_coord = True  # type: ignore[attr-defined]
        handler.addFilter(RequestIdFilter())
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
        root.addHandler(handler)
    root.propagate = True
