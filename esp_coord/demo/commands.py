"""`esp-coord demo [--scale team|region] [--seed N] [--if-empty] [--factor F]` and `esp-coord demo-totp EMAIL`."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


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


@click.command("demo-totp")
@with_appcontext
@click.argument("email")
def demo_totp_command(email: str) -> None:
    """Print the current TOTP code of a demo account (development only)."""
    import pyotp

    from esp_coord.demo import DEMO_USERS, demo_totp_secret

    if email not in {u[3] for u in DEMO_USERS}:
        raise click.ClickException("Compte de démonstration inconnu.")
    click.echo(pyotp.TOTP(demo_totp_secret(email)).now())
