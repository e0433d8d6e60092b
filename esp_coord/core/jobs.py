"""Background jobs with huey (SQLite storage by default: no extra server).

Tasks are declared with `@huey.task(context=True)` in a feature's tasks.py and run by
`esp-coord worker`. In tests HUEY_IMMEDIATE=True runs them inline. Each job runs inside an app
context created by `job_app()`.
"""

from __future__ import annotations

import os
from pathlib import Path

from huey import SqliteHuey

from esp_coord.resources import default_instance_path

_default = os.environ.get("ESP_COORD_HUEY_FILENAME") or str(default_instance_path() / "huey.db")
Path(_default).parent.mkdir(parents=True, exist_ok=True)
huey = SqliteHuey("esp_coord", filename=_default)
_app = None


def init_app(app) -> None:
    global _app
    if _app is None:
        _app = app
    if app.config.get("HUEY_IMMEDIATE"):
        huey.immediate = True
    app.extensions["huey"] = huey


def job_app():
    """The Flask app for job bodies: the current one (immediate mode, inside a request), else the
    consumer's app built once from the environment."""
    from flask import current_app, has_app_context

    if has_app_context():
        return current_app._get_current_object()
    global _app
    if _app is None:
        from esp_coord import create_app

        _app = create_app()
    return _app


def progress(task_id: str, done: int, total: int, message: str = "") -> None:
    huey.put(f"progress:{task_id}", {"done": done, "total": total, "message": message})


def get_progress(task_id: str) -> dict | None:
    return huey.get(f"progress:{task_id}", peek=True)
