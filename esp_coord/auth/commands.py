"""`esp-coord users …`: platform administrators and account deactivation."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.group("users")
def users_group() -> None:
    """Comptes utilisateurs."""


@users_group.command("create-admin")
@click.option("--email", prompt="E-mail", help="Adresse e-mail de l'administrateur.")
@click.option("--first-name", prompt="Prénom", default="Admin", show_default=True)
@click.option("--last-name", prompt="Nom", default="Plateforme", show_default=True)
@with_appcontext
def create_admin(email: str, first_name: str, last_name: str) -> None:
    """Create a platform administrator and print the single-use link to set the password and TOTP."""
    from email_validator import EmailNotValidError, validate_email

    from esp_coord.auth import services
    from esp_coord.core.extensions import db

    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise click.ClickException(f"Adresse e-mail invalide / invalid e-mail: {exc}") from None
    user, token = services.create_platform_admin(email, first_name, last_name)
    db.session.commit()
    if token is None:
        click.echo(f"{user.email} est désormais administrateur de la plateforme (compte déjà actif).")
        return
    click.echo(f"Administrateur de la plateforme créé : {user.email}")
    click.echo("Lien à usage unique pour choisir le mot de passe et activer la double authentification :")
    click.echo(f"    {services.invitation_url(token)}")


@users_group.command("disable")
@click.argument("email")
@with_appcontext
def disable(email: str) -> None:
    """Disable an account: no more logins, every open session ends now."""
    from esp_coord.auth import services
    from esp_coord.core.extensions import db

    user = services.user_by_email(email)
    if user is None:
        raise click.ClickException("Compte inconnu / unknown account.")
    ended = services.disable_user(user)
    db.session.commit()
    click.echo(f"Compte désactivé : {user.email} ({ended} session(s) fermée(s)).")
