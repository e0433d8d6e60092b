"""Retention: `esp-coord patients retention` lists the patient records past RETENTION_YEARS (ids only)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.group("patients")
def patients_group() -> None:
    """Dossiers patients."""


@patients_group.command("retention")
@with_appcontext
def patients_retention() -> None:
    """List patient records past the retention period (RETENTION_YEARS after the last activity)."""
    from flask import current_app

    from esp_coord.core import audit
    from esp_coord.core.extensions import db
    from esp_coord.patients.services import past_retention

    years = current_app.config.get("RETENTION_YEARS", 20)
    rows = past_retention()
    click.echo(f"Durée de conservation : {years} ans après la dernière activité.")
    if not rows:
        click.echo("Aucun dossier au-delà de la durée de conservation.")
    for patient in rows:
        last = patient.last_activity_at or patient.created_at
        # ids only, never identity: this output may end up in logs
        click.echo(f"{patient.id}\téquipe {patient.team_id}\tdernière activité {last.date().isoformat()}")
    click.echo(f"{len(rows)} dossier(s) à effacer (page « Effacer le dossier » ou procédure d'archivage).")
    audit.record("patient.retention_report", object_type="patient", details={"count": len(rows)})
    db.session.commit()
