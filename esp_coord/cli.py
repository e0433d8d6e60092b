"""The `esp-coord` command: the Flask CLI group plus every admin task.

Features add their commands in esp_coord/<feature>/commands.py with `def register(app)`.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext


def _create_app():
    from esp_coord import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True, add_version_option=False)
def main() -> None:
    """esp_coord — administration (ESP_COORD_ENV choisit la configuration)."""


def register(app: Flask) -> None:
    app.cli.add_command(audit_group)
    app.cli.add_command(keys_group)
    app.cli.add_command(demo_command)
    app.cli.add_command(worker_command)
    app.cli.add_command(demo_totp_command)
    app.cli.add_command(reference_group)
    from esp_coord.features import FEATURES

    for _feature in FEATURES:
        name = _feature.name
        module_name = f"esp_coord.{name}.commands"
        if importlib.util.find_spec(module_name) is not None:
            importlib.import_module(module_name).register(app)


@click.group("audit")
def audit_group() -> None:
    """Journal d'audit chaîné."""


@audit_group.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Walk the hash chain and name the first altered or removed row."""
    from esp_coord.core.audit import verify_chain

    result = verify_chain()
    if result.ok:
        click.echo(f"OK : {result.checked} lignes vérifiées, chaîne intacte.")
        return
    click.echo(f"ALTÉRATION : ligne {result.first_bad_seq} — {result.reason} ({result.checked} lignes saines avant).")
    sys.exit(1)


@click.group("keys")
def keys_group() -> None:
    """Clés de chiffrement."""


@keys_group.command("generate")
def keys_generate() -> None:
    """Print fresh secrets for a production configuration (never commit them)."""
    import secrets

    from esp_coord.settings import new_keyring_json

    click.echo(f"ESP_COORD_SECRET_KEY={secrets.token_urlsafe(48)}")
    click.echo(f"ESP_COORD_INDEX_KEY={secrets.token_urlsafe(48)}")
    click.echo(f"ESP_COORD_MASTER_KEYS='{new_keyring_json('k1')}'")


@click.command("demo")
@click.option("--scale", type=click.Choice(["team", "region"]), default="team", show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--if-empty", is_flag=True, help="Ne rien faire si des équipes existent déjà.")
@click.option("--factor", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Région : réduit tous les volumes (ex. 0.01) pour les tests et les mesures rapides.")
@with_appcontext
def demo_command(scale: str, seed: int, if_empty: bool, factor: float | None) -> None:
    """Load demo data (one ESP CLAP team in Pays de la Loire and a second team sharing a member),
    or with --scale region the deterministic regional dataset."""
    import logging

    from esp_coord import demo

    logging.getLogger("esp_coord.audit").setLevel(logging.WARNING)  # keep the terminal readable
    demo.run(scale=scale, seed=seed, if_empty=if_empty, echo=click.echo, factor=factor)


@click.command("worker")
@click.option("--workers", "-w", default=1, show_default=True)
def worker_command(workers: int) -> None:
    """Run the background job consumer (huey)."""
    from huey.consumer import Consumer

    from esp_coord.core import jobs

    os.environ.setdefault("ESP_COORD_ENV", "production")
    jobs.job_app()
    importlib.import_module("esp_coord.tasks_registry")
    Consumer(jobs.huey, workers=int(workers), periodic=True).run()


@click.command("demo-totp")
@click.argument("email")
def demo_totp_command(email: str) -> None:
    """Print the current TOTP code of a demo account (development only)."""
    import pyotp

    from esp_coord.demo import DEMO_USERS, demo_totp_secret

    if email not in {u[3] for u in DEMO_USERS}:
        raise click.ClickException("Compte de démonstration inconnu.")
    click.echo(pyotp.TOTP(demo_totp_secret(email)).now())


@click.group("reference")
def reference_group() -> None:
    """Données de référence (professions, types d'action, catalogues)."""


@reference_group.command("load")
@with_appcontext
def reference_load() -> None:
    """Insert the shipped reference data that is missing (idempotent; run after `db upgrade`)."""
    from esp_coord.extensions import db
    from esp_coord.reference import ensure_all_reference_data

    ensure_all_reference_data()
    db.session.commit()
    click.echo("Données de référence à jour.")
