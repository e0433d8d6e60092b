"""Jinja filters and globals: French dates, money, navigation helpers."""

from __future__ import annotations

from flask import Flask, url_for
from werkzeug.routing import BuildError

from esp_coord.core import time as t


def nav_url(endpoint: str, **values) -> str | None:
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


def configure(app: Flask) -> None:
    app.jinja_env.filters["datetime_fr"] = t.format_datetime
    app.jinja_env.filters["date_fr"] = t.format_date
    app.jinja_env.filters["date_short"] = t.format_short_date
    app.jinja_env.filters["time_fr"] = t.format_time
    app.jinja_env.filters["money"] = t.format_money
    app.jinja_env.filters["number_fr"] = t.format_number
    app.jinja_env.globals["nav_url"] = nav_url
    app.jinja_env.globals["today_paris"] = t.today_paris
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
