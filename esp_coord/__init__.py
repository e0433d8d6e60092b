"""esp_coord: coordination of French primary-care teams (ESP / ESP CLAP)."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask

from esp_coord.resources import resource_path
from esp_coord.settings import load_settings


def create_app(env: str | None = None, overrides: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(resource_path("templates")),
        static_folder=str(resource_path("static")),
    )
    settings = load_settings(env, overrides, instance_path=Path(app.instance_path))
    app.config.update(settings)
    configure_database(app)
    configure_logging(app)
    configure_extensions(app)
    configure_blueprints(app)
    configure_request_hooks(app)
    configure_templates(app)
    configure_errors(app)
    configure_cli(app)
    configure_jobs(app)
    configure_proxy(app)
    return app


def configure_proxy(app: Flask) -> None:
    """Trust X-Forwarded-For/Proto only from the configured number of reverse proxies (0 = none)."""
    hops = int(app.config.get("PROXY_FIX_HOPS") or 0)
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0)


def configure_database(app: Flask) -> None:
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(app.instance_path) / 'esp_coord.db'}"
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if uri.startswith("sqlite"):
        options.setdefault("connect_args", {}).setdefault("timeout", app.config["SQLITE_BUSY_TIMEOUT_MS"] / 1000)
    else:
        options.setdefault("pool_pre_ping", True)
    # production logs never carry SQL parameters (e-mails, names): errors show the statement only
    options.setdefault("hide_parameters", app.config.get("ENV") == "production")
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def configure_logging(app: Flask) -> None:
    from esp_coord.core.logging import configure

    configure(app)


def configure_extensions(app: Flask) -> None:
    from esp_coord.core import hygiene

    hygiene.configure(app)  # before blueprints: the <int:> converter and the first before_request
    from esp_coord.core.dbevents import install_sqlite_pragmas
    from esp_coord.core.extensions import babel, csrf, db, limiter, login_manager, migrate
    from esp_coord.core.i18n import translation_directories

    db.init_app(app)
    with app.app_context():
        install_sqlite_pragmas(db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])
    migrate.init_app(app, db, directory=str(resource_path("migrations")), render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(translation_directories())
    babel.init_app(app, locale_selector=lambda: "fr", timezone_selector=lambda: "Europe/Paris")
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    limiter.init_app(app)

    from esp_coord.auth.sessions import load_user_from_session

    login_manager.init_app(app)
    login_manager.user_loader(load_user_from_session)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = None  # server-side sessions do this job


def configure_blueprints(app: Flask) -> None:
    """Blueprints and signal receivers from the explicit registry; a missing required provider stops start-up."""
    from esp_coord.core import signals
    from esp_coord.features import FEATURES

    for feature in FEATURES:
        app.register_blueprint(feature.blueprint, url_prefix=feature.url_prefix)
        if feature.connect is not None:
            feature.connect()
    signals.check_required({})


def configure_request_hooks(app: Flask) -> None:
    from esp_coord.core import security

    app.before_request(security.assign_request_id)
    app.before_request(security.enforce_login)
    app.after_request(security.set_security_headers)


def configure_templates(app: Flask) -> None:
    from esp_coord.core import templating

    templating.configure(app)


def configure_errors(app: Flask) -> None:
    from esp_coord.core import errors

    errors.configure(app)


def configure_cli(app: Flask) -> None:
    from esp_coord import cli

    cli.register(app)


def configure_jobs(app: Flask) -> None:
    from esp_coord.core import jobs

    jobs.init_app(app)


logging.getLogger("fontTools").setLevel(logging.WARNING)
