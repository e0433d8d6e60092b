"""Demo ledger entries logged by hand, and a few tasks, for the ESP CLAP demo team."""

from __future__ import annotations

from datetime import timedelta

from esp_coord.activity.services import record_manual, set_status
from esp_coord.core.extensions import db
from esp_coord.tasks.services import create_task, set_task_status


def seed(ctx) -> None:
    clap, coteaux = ctx.teams["clap"], ctx.teams["coteaux"]
    users = ctx.users
    today = ctx.today
    manual = [
        # team, user, type, days ago, minutes, patients, label, validated
        (clap, "gp", "PROJET_SANTE", 160, 180, 0, "Rédaction du projet de santé — axe diabète", True),
        (clap, "nurse", "PROJET_SANTE", 160, 180, 0, "Rédaction du projet de santé — axe diabète", True),
        (clap, "pharmacist", "PROTO_REDAC", 75, 90, 0, "Protocole AVK : relecture pharmacie", True),
        (clap, "physio", "PREV_ETP", 30, 120, 8, "Atelier prévention des chutes (salle municipale)", False),
        (clap, "dietitian", "PREV_ETP", 12, 90, 6, "Atelier alimentation et diabète", False),
        (clap, "nurse", "COORD_AUTRE", 5, 45, 0, "Préparation de la réunion avec l'association", False),
        (coteaux, "gp2", "PROJET_SANTE", 40, 120, 0, "Premier jet du projet de santé", False),
    ]
    for team, key, kind, days, minutes, patients, label, validated in manual:
        entry = record_manual(team=team, user=users[key], action_type=kind,
                              performed_on=today - timedelta(days=days), duration_minutes=minutes,
                              patient_count=patients, label=label)
        if validated:
            set_status(entry, "validated", actor=users["nurse"])
    tasks = [
        (clap, "gp", "Relire le protocole de suivi des plaies chroniques", -3, None),
        (clap, "gp", "Préparer l'ordre du jour de la prochaine RCP", 4, None),
        (clap, "nurse", "Envoyer la feuille d'émargement à l'association", 2, None),
        (clap, "pharmacist", "Mettre à jour la liste des interactions AVK", 10, None),
        (clap, "physio", "Réserver la salle pour l'atelier chutes", -1, "done"),
        (coteaux, "nurse", "Contacter l'URPS pour la réunion de lancement", 7, None),
    ]
    for team, key, title, days, status in tasks:
        task = create_task(team_id=team.id, owner_id=users[key].id, title=title, due_on=today + timedelta(days=days),
                           source_type="manual", actor=users["nurse"])
        if status:
            set_task_status(task, status, actor=users[key])
    db.session.flush()
