"""`esp-coord send-reminders`: due/overdue tasks and upcoming meetings by e-mail (idempotent)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.command("send-reminders")
@click.option("--hours", default=48, show_default=True, help="Rappeler les réunions des prochaines heures.")
@with_appcontext
def send_reminders_command(hours: int) -> None:
    """Envoie les rappels (tâches échues, réunions à venir). Peut être relancé sans doublon."""
    from datetime import timedelta

    from esp_coord.core.extensions import db
    from esp_coord.meetings.services import send_reminders

    result = send_reminders(horizon=timedelta(hours=hours))
    db.session.commit()
    click.echo(f"{result['mails']} e-mail(s) envoyé(s) : {result['tasks']} tâche(s), "
               f"{result['meetings']} rappel(s) de réunion.")
