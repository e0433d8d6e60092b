"""The chained audit journal, operator side.

    esp-coord audit verify
    esp-coord audit export --after 1200 [--output audit.jsonl] [--state-file /var/lib/esp/audit.seq]
    esp-coord audit purge --before 2025-11-23 [--yes] [--allow-short-retention]
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext


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


# export key -> key of the hashed canonical form (core.audit AuditEvent.canonical), which formats the values
_EXPORT_KEYS = {"seq": "seq", "occurred_at": "at", "actor_id": "actor", "team_id": "team", "patient_id": "patient",
                "action": "action", "object_type": "otype", "object_id": "oid", "outcome": "outcome", "ip": "ip",
                "request_id": "rid", "details": "details"}


def _row_dict(row) -> dict:
    canonical = json.loads(row.canonical())
    return {key: canonical[source] for key, source in _EXPORT_KEYS.items()} | {"prev_hash": row.prev_hash,
                                                                                "hash": row.hash}


@audit_group.command("export")
@click.option("--after", type=click.IntRange(min=0), default=None,
              help="Exporter les lignes de numéro strictement supérieur (défaut : 0 ou la valeur du --state-file).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Fichier JSON Lines à écrire (défaut : sortie standard).")
@click.option("--state-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Fichier mémorisant le dernier numéro exporté (lu puis mis à jour).")
@with_appcontext
def audit_export(after: int | None, output: Path | None, state_file: Path | None) -> None:
    """Exporter les lignes d'audit (JSON Lines, avec leurs empreintes) pour les expédier hors de l'hôte."""
    from esp_coord.core.audit import AuditEvent, record
    from esp_coord.core.extensions import db

    if after is None:
        after = 0
        if state_file is not None and state_file.exists():
            try:
                after = int(state_file.read_text(encoding="utf-8").strip() or 0)
            except ValueError:
                raise click.ClickException(f"Fichier d'état illisible : {state_file}") from None
    out = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
    count, last = 0, after
    try:
        while True:
            rows = db.session.execute(sa.select(AuditEvent).where(AuditEvent.seq > last)
                                      .order_by(AuditEvent.seq).limit(2000)).scalars().all()
            if not rows:
                break
            for row in rows:
                out.write(json.dumps(_row_dict(row), ensure_ascii=False, sort_keys=True) + "\n")
                count += 1
                last = row.seq
            db.session.expunge_all()
        out.flush()
        if output:
            os.fsync(out.fileno())
    finally:
        if output:
            out.close()
    if state_file is not None:
        tmp = state_file.with_name(state_file.name + ".tmp")
        tmp.write_text(f"{last}\n", encoding="utf-8")
        os.replace(tmp, state_file)
    record("audit.export", details={"after": after, "last": last, "rows": count})
    db.session.commit()
    click.echo(f"{count} lignes exportées (numéros {after + 1 if count else '—'} à {last if count else '—'}).",
               err=True)


@audit_group.command("purge")
@click.option("--before", "before", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Supprimer les lignes écrites avant cette date (AAAA-MM-JJ, minuit UTC).")
@click.option("--yes", is_flag=True, help="Ne pas demander de confirmation.")
@click.option("--allow-short-retention", is_flag=True,
              help="Autoriser une date plus récente que la durée AUDIT_RETENTION_DAYS configurée.")
@with_appcontext
def audit_purge(before: datetime, yes: bool, allow_short_retention: bool) -> None:
    """Purge de rétention : supprime les plus anciennes lignes et déplace l'ancre de la chaîne."""
    from esp_coord.core.audit import purge_before, record, verify_chain
    from esp_coord.core.extensions import db
    from esp_coord.core.time import utc_now

    cutoff = datetime.combine(before.date(), datetime.min.time(), tzinfo=UTC)
    retention_days = int(current_app.config.get("AUDIT_RETENTION_DAYS") or 365)
    age = (utc_now().date() - cutoff.date()).days
    if age < retention_days and not allow_short_retention:
        raise click.ClickException(f"Date trop récente : la durée de conservation configurée est de "
                                   f"{retention_days} jours (AUDIT_RETENTION_DAYS). Ajoutez "
                                   "--allow-short-retention si c'est voulu.")
    if cutoff.date() > utc_now().date():
        raise click.ClickException("Date dans le futur : refusée.")
    if not yes:
        click.confirm(f"Supprimer définitivement les lignes d'audit antérieures au {cutoff.date().isoformat()} "
                      "(les avez-vous exportées hors de l'hôte ?)", abort=True)
    try:
        result = purge_before(cutoff)
    except RuntimeError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    record("audit.purge", details={"before": cutoff.date().isoformat(), "rows": result.purged,
                                   "anchor_seq": result.anchor_seq})
    db.session.commit()
    check = verify_chain()
    click.echo(f"{result.purged} lignes supprimées ; nouvelle ancre : ligne {result.anchor_seq}. "
               f"Vérification : {'chaîne intacte' if check.ok else 'ÉCHEC'} ({check.checked} lignes).")
    if not check.ok:
        sys.exit(1)
