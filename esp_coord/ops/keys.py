"""Encryption keys: `esp-coord keys generate`, `esp-coord keys rotate [--batch-size N]`, `esp-coord keys status`.

`generate` needs no configuration (it prints the secrets a production configuration needs);
`rotate` and `status` work on the patient data keys of the configured database.
"""

from __future__ import annotations

import sys
import time

import click
from flask.cli import with_appcontext


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


@keys_group.command("rotate")
@click.option("--batch-size", default=200, show_default=True, help="Data keys re-wrapped per transaction.")
@click.option("--pause", default=0.0, hidden=True, help="Seconds to wait between batches (tests).")
@with_appcontext
def keys_rotate(batch_size: int, pause: float) -> None:
    """Re-wrap every patient data key under the current master key (resumable, idempotent).

    Put the new master key in ESP_COORD_MASTER_KEYS, mark it current, keep the old one until this
    command reports 0 pending, then remove the old key (after the backup retention window)."""
    from esp_coord.core import audit
    from esp_coord.core.extensions import db
    from esp_coord.patients.crypto_service import key_status, rewrap_batch

    status = key_status()
    click.echo(f"Clé maîtresse courante : {status['current']} — {status['pending']} clé(s) patient à re-chiffrer "
               f"sur {status['total']}.", err=False)
    total = 0
    batch_no = 0
    while True:
        try:
            done = rewrap_batch(batch_size)
        except Exception as exc:  # noqa: BLE001 - report and stop; rerunning resumes
            db.session.rollback()
            click.echo(f"ÉCHEC : {type(exc).__name__} — une clé maîtresse ancienne manque-t-elle ? "
                       "Relancez après correction.", err=True)
            sys.exit(1)
        if not done:
            break
        db.session.commit()
        total += done
        batch_no += 1
        click.echo(f"lot {batch_no} : {done} clé(s) re-chiffrée(s) (total {total})")
        sys.stdout.flush()
        if pause:
            time.sleep(pause)
    audit.record("keys.rotate", object_type="master_key", object_id=status["current"], details={"rewrapped": total})
    db.session.commit()
    after = key_status()
    click.echo(f"Terminé : {total} clé(s) re-chiffrée(s) ; {after['pending']} restante(s). "
               "Les anciennes clés maîtresses ne sont plus nécessaires pour lire les données."
               if after["pending"] == 0 else f"Interrompu : {after['pending']} restante(s).")


@keys_group.command("status")
@with_appcontext
def keys_status() -> None:
    """Master keys configured, data keys per master key, rotation progress."""
    from esp_coord.patients.crypto_service import key_status

    status = key_status()
    click.echo(f"Clé maîtresse courante : {status['current']}")
    click.echo(f"Clés maîtresses configurées : {', '.join(status['configured'])}")
    click.echo(f"Clés de données patient : {status['total']}")
    for key_id, count in sorted(status["counts"].items()):
        mark = " (courante)" if key_id == status["current"] else ""
        missing = "" if key_id in status["configured"] else " — ABSENTE DU TROUSSEAU"
        click.echo(f"  {key_id}{mark} : {count}{missing}")
    if status["pending"]:
        done = status["total"] - status["pending"]
        click.echo(f"Rotation en cours : {done}/{status['total']} ({status['pending']} restante(s)) — "
                   "lancez `esp-coord keys rotate`.")
    else:
        unused = [k for k in status["configured"] if k != status["current"] and k not in status["counts"]]
        click.echo("Aucune rotation en attente." + (f" Clé(s) plus utilisée(s) : {', '.join(unused)}." if unused
                                                    else ""))
