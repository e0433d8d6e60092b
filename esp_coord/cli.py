"""The `esp-coord` command: the Flask CLI group plus every operator and feature command.

Every command is listed explicitly in COMMANDS (no discovery): they are attached both to the `esp-coord`
group itself, so that `esp-coord --help` and commands that need no configuration (`keys generate`,
`demo-totp`) work even when the configuration is incomplete, and to `app.cli` (`app.test_cli_runner()`).

A command that cannot start (unsafe or incomplete configuration, database not migrated or unreachable)
prints one French line naming the setting and what to do, and exits with status 2 — never a traceback.
"""

from __future__ import annotations

import os
import sys

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import FlaskGroup, ScriptInfo, with_appcontext

from esp_coord.auth.commands import users_group
from esp_coord.demo.commands import demo_command, demo_totp_command
from esp_coord.meetings.commands import send_reminders_command
from esp_coord.ops.audit import audit_group
from esp_coord.ops.backup import backup_command, restore_command
from esp_coord.ops.keys import keys_group
from esp_coord.ops.retention import patients_group
from esp_coord.resources import ConfigurationError

EXIT_CANNOT_START = 2
CONFIG_HELP = "voir config/README.md"


def _create_app():
    from esp_coord import create_app

    return create_app()


class EspCoordGroup(FlaskGroup):
    """FlaskGroup whose command list (`esp-coord --help`) survives an app that cannot start: one French line
    instead of Flask's traceback, and the commands that do not come from the app."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        try:
            ctx.ensure_object(ScriptInfo).load_app()
        except Exception as exc:
            message = cannot_start_message(exc)
            if message is None:
                raise
            click.echo(f"esp-coord : {message} (commandes de l'application, dont `db`, non listées)", err=True)
            self._load_plugin_commands()
            return sorted(click.Group.list_commands(self, ctx))
        return super().list_commands(ctx)


@click.group(cls=EspCoordGroup, create_app=_create_app, add_default_commands=True, add_version_option=False)
def cli() -> None:
    """esp_coord — administration (ESP_COORD_ENV choisit la configuration)."""


@click.command("worker")
@click.option("--workers", "-w", default=1, show_default=True)
def worker_command(workers: int) -> None:
    """Run the background job consumer (huey)."""
    from huey.consumer import Consumer

    from esp_coord.core import jobs

    os.environ.setdefault("ESP_COORD_ENV", "production")
    jobs.job_app()
    # every module declaring huey tasks, so the consumer knows them
    import esp_coord.funding.jobs  # noqa: F401
    import esp_coord.reports.jobs  # noqa: F401

    Consumer(jobs.huey, workers=int(workers), periodic=True).run()


@click.group("reference")
def reference_group() -> None:
    """Données de référence (professions, types d'action, catalogues)."""


@reference_group.command("load")
@with_appcontext
def reference_load() -> None:
    """Insert the shipped reference data that is missing (idempotent; run after `db upgrade`)."""
    from esp_coord.core.extensions import db
    from esp_coord.reference import ensure_all_reference_data

    ensure_all_reference_data()
    db.session.commit()
    click.echo("Données de référence à jour.")


COMMANDS: tuple[click.Command, ...] = (
    # operations (esp_coord/ops)
    backup_command,
    restore_command,
    keys_group,
    audit_group,
    patients_group,
    reference_group,
    worker_command,
    # demo (esp_coord/demo)
    demo_command,
    demo_totp_command,
    # features
    users_group,
    send_reminders_command,
)

for _command in COMMANDS:
    cli.add_command(_command)


def register(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)


def cannot_start_message(exc: BaseException) -> str | None:
    """The one French line for an exception that keeps a command from starting, or None if it is a bug."""
    if isinstance(exc, ConfigurationError):
        message = str(exc)
        if any(name in message for name in ("SECRET_KEY", "MASTER_KEYS", "INDEX_KEY")):
            message += (" — pour un essai local, lancez la commande avec ESP_COORD_ENV=development ; "
                        f"sinon définissez la variable ({CONFIG_HELP})")
        return message
    if isinstance(exc, sa.exc.DBAPIError):
        detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
        lowered = detail.lower()
        if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
            return (f"Base de données non migrée ({detail}) : lancez `esp-coord db upgrade` "
                    "(avec les mêmes ESP_COORD_ENV et DATABASE_URL)")
        if isinstance(exc, sa.exc.OperationalError):
            return (f"Base de données inaccessible ({detail}) : vérifiez DATABASE_URL ({CONFIG_HELP}) "
                    "et que le serveur de base de données fonctionne")
    if isinstance(exc, sa.exc.ArgumentError | sa.exc.NoSuchModuleError):
        return f"DATABASE_URL invalide ({exc}) : attendu sqlite:///chemin ou postgresql+psycopg://… ({CONFIG_HELP})"
    return None


def main(argv: list[str] | None = None) -> None:
    """Entry point of `esp-coord` (pyproject.toml [project.scripts])."""
    try:
        cli.main(args=argv, prog_name="esp-coord")
    except Exception as exc:
        message = cannot_start_message(exc)
        if message is None:
            raise
        click.echo(f"esp-coord : {message}", err=True)
        sys.exit(EXIT_CANNOT_START)
