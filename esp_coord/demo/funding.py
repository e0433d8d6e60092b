"""Demo funding data: example grids, validated ledger entries, a draft claim with anomalies for the year,
a submitted claim for the previous year's second semester, and version 1 of the projet de santé."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from esp_coord.activity.models import LedgerEntry
from esp_coord.activity.services import record_action, set_status
from esp_coord.core.extensions import db
from esp_coord.funding import services as svc
from esp_coord.funding.models import Claim

PROJET_V1 = {
    "people": "Dr Claire Martin (médecin généraliste, Clisson)\nSophie Bernard (infirmière, coordinatrice)\n"
              "Julien Petit (pharmacien, Gétigné)\nThomas Moreau (masseur-kinésithérapeute)\n"
              "Léa Dubois (diététicienne) — à confirmer",
    "themes": "1. Personnes âgées fragiles à domicile\n2. Diabète de type 2 (prévention et éducation)",
    "health_problem": "Nombreuses hospitalisations évitables de personnes âgées de plus de 75 ans vivant seules ; "
                      "ruptures de parcours à la sortie d'hôpital (traitements non réconciliés, pas de passage "
                      "infirmier dans les 48 h).",
    "baseline_indicators": "Taux de réhospitalisation à 30 jours des 75 ans et plus ; part des patients "
                           "diabétiques avec HbA1c annuelle ; nombre de chutes signalées.",
    "existing_arrangements": "Messagerie sécurisée de santé, téléphone, réunions informelles mensuelles.",
    "planned_means": "RCP mensuelles, PPS pour les situations complexes, protocole pluriprofessionnel "
                     "« sortie d'hospitalisation », séances d'ETP diabète.",
    "objectives_patients": "Réduire les réhospitalisations évitables ; passage infirmier sous 48 h après toute sortie.",
    "objectives_professionals": "Une RCP par mois ; 100 % des PPS révisés dans les délais.",
    "nb_common_patients": 850,
    "whole_patientele": False,
    "nb_patients_concerned": 120,
    "communes": "Clisson\nGétigné\nGorges\nMonnières",
    "calendar": "Construction : janvier–mai 2024 ; dépôt ARS : mai 2024 ; premières actions : septembre 2024.",
    "evaluation": "Bilan annuel présenté à l'association : indicateurs ci-dessus, nombre de RCP, PPS et "
                  "inclusions dans les protocoles.",
}


def _add(team, user, action_type, on, actor, **kw):
    entry, _created = record_action(team=team, user_id=user.id, action_type=action_type, performed_on=on,
                                    status="validated", actor=actor, **kw)
    return entry


def seed(ctx) -> None:
    today = ctx.today
    year = today.year
    for y in (year - 1, year):
        svc.ensure_example_grid(y)
    team = ctx.teams["clap"]
    u = ctx.users
    actor = u["nurse"]

    # validate the entries the other features recorded (keep the most recent few "to validate")
    pending = db.session.execute(sa.select(LedgerEntry).where(
        LedgerEntry.team_id == team.id, LedgerEntry.status == "to_validate", LedgerEntry.performed_on <= today)
        .order_by(LedgerEntry.performed_on)).scalars().all()
    for entry in pending[:-3] if len(pending) > 3 else pending:
        set_status(entry, "validated", actor=actor)

    # realistic hand-entered actions for the previous year's second semester and for this year
    crew = [u["gp"], u["nurse"], u["pharmacist"], u["physio"]]
    for month in (7, 9, 10, 12):
        day = date(year - 1, month, 14)
        for user in crew[:3]:
            _add(team, user, "RCP_SANS", day, actor, patient_count=4, label="RCP mensuelle (saisie manuelle)")
    _add(team, u["dietitian"], "PREV_ETP", date(year - 1, 11, 20), actor, duration_minutes=120,
         label="Atelier ETP diabète")
    last = min(today, date(year, 12, 31))
    for month in (1, 4, 7, 10):
        day = date(year, month, 10)
        if day > last:
            break
        for user in crew[: 3 if month % 2 else 4]:
            _add(team, user, "RCP_SANS", day, actor, patient_count=3 + month % 3,
                 label="RCP mensuelle (saisie manuelle)")
    for user in crew:
        _add(team, user, "PROJET_SANTE", date(year, 1, 20), actor, duration_minutes=180,
             label="Mise à jour du projet de santé")
    _add(team, u["dietitian"], "PREV_ETP", date(year, 3, 18), actor, duration_minutes=120, label="Atelier ETP")
    _add(team, u["dietitian"], "PREV_ETP", date(year, 5, 13), actor, duration_minutes=120, label="Atelier ETP")
    # a duplicate typed twice by mistake, and a joint visit not yet validated: anomalies to see
    dup_day = date(year, 2, 10)
    _add(team, u["physio"], "COORD_AUTRE", dup_day, actor, label="Réunion de coordination")
    _add(team, u["physio"], "COORD_AUTRE", dup_day, actor, label="Réunion de coordination")
    record_action(team=team, user_id=u["gp"].id, action_type="RCP_AVEC",
                  performed_on=max(date(year, 1, 2), today - timedelta(days=3)), patient_count=1,
                  label="Visite conjointe (à valider)", actor=actor)
    db.session.flush()

    # a submitted claim for the previous year's second semester, a draft for this year
    if not db.session.execute(sa.select(Claim.id).where(Claim.team_id == team.id)).first():
        start, end = svc.period_bounds("s2", year - 1)
        previous = svc.create_claim(team, "s2", start, end, actor=actor)
        db.session.flush()
        svc.submit_claim(previous, actor=actor)
        start, end = svc.period_bounds("year", year)
        svc.create_claim(team, "year", start, end, actor=actor)

    if not svc.projet_versions(team.id):
        svc.save_projet(team, PROJET_V1, actor=u["gp"], signed_on=date(2024, 5, 2), sent_to_ars_on=date(2024, 5, 6))
    svc.set_clap_steps(team, {"themes_chosen": (date(2024, 3, 4), "Personnes âgées fragiles ; diabète")},
                       actor=actor)
    db.session.flush()
    ctx.data["funding"] = {"team": team.id}
