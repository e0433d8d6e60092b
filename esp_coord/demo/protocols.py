"""Demo: a validated AVK protocol and the adopted national "cystite" protocol with a trained pharmacist."""

from __future__ import annotations

from datetime import date, timedelta

from esp_coord.core.extensions import db
from esp_coord.patients.services import PatientData, create_patient
from esp_coord.protocols import services as svc

AVK_STEPS = [
    "Repérage : tout patient sous AVK (warfarine, fluindione, acénocoumarol) est signalé dans le dossier partagé "
    "par le médecin traitant ou le pharmacien lors de la délivrance.",
    "Consultation d'initiation ou de réévaluation (médecin) : indication, INR cible, durée prévue, interactions ; "
    "remise du carnet de suivi AVK.",
    "Entretien pharmaceutique AVK (pharmacien) : observance, automédication (AINS, aspirine), alimentation, "
    "signes de saignement ; deux entretiens la première année.",
    "Surveillance de l'INR (infirmier·ère) : prélèvement au domicile si besoin, report du résultat dans le carnet "
    "et transmission au médecin le jour même.",
    "INR hors cible : l'infirmier·ère ou le pharmacien prévient le médecin le jour même ; INR > 5 ou saignement : "
    "appel immédiat du médecin (ou du 15).",
    "Adaptation de dose par le médecin, tracée dans le dossier et le carnet ; contrôle INR à 48-72 h.",
    "Revue annuelle en réunion d'équipe des patients sous AVK (événements hémorragiques, INR dans la cible).",
]

AVK_ROLES = {
    "medecin_generaliste": "Pose l'indication, fixe l'INR cible et adapte les doses ; réévalue le traitement une "
                           "fois par an ; reçoit les alertes INR hors cible.",
    "infirmier": "Réalise les INR, tient le carnet à jour, repère les signes de saignement et alerte le médecin ; "
                 "renforce l'éducation au domicile.",
    "pharmacien": "Repère les patients sous AVK, conduit les entretiens pharmaceutiques, vérifie les interactions "
                  "à chaque délivrance et signale les anomalies au médecin.",
}

CYSTITE_PATIENTS = [
    # key, birth name, first names, birth date
    ("cystite_1", "LEGRAND", "Chloé", date(1985, 2, 11)),
    ("cystite_2", "MARCHAND", "Pauline", date(1972, 10, 3)),
]


def _in_year(ctx, days: int) -> date:
    """`days` ago, but not before 1 January of the current year (indicators are per year)."""
    return max(ctx.today - timedelta(days=days), date(ctx.today.year, 1, 1))


def seed(ctx) -> None:
    team = ctx.teams["clap"]
    users = ctx.users
    gp, nurse, pharmacist = users["gp"], users["nurse"], users["pharmacist"]

    # Pluriprofessional protocol: suivi des patients sous AVK (validated, version 1).
    avk = svc.create_protocol(team, svc.ProtocolData(
        title="Suivi des patients sous AVK",
        theme="Sécurité médicamenteuse",
        problem="Deux hospitalisations pour hémorragie sous AVK dans l'équipe en 2025 ; INR transmis tardivement "
                "au médecin et carnets de suivi rarement à jour.",
        population="Patients de la patientèle de l'équipe traités au long cours par antivitamine K.",
        inclusion_criteria="Traitement par AVK prévu pour plus de 3 mois.\nPatient ou aidant d'accord pour le "
                           "suivi partagé.",
        exclusion_criteria="Patients suivis par une clinique des anticoagulants.\nRelais héparine en cours.",
        critical_points="Transmission de l'INR au médecin le jour même.\nInteractions médicamenteuses et "
                        "automédication.\nConduite à tenir en cas d'INR hors cible ou de saignement.",
        steps=AVK_STEPS, roles=AVK_ROLES, author_ids=[gp.id, nurse.id, pharmacist.id],
    ), actor=nurse)
    meeting_day = ctx.today - timedelta(days=75)
    svc.record_meeting(avk, team, held_on=meeting_day, duration_minutes=90,
                       attendee_ids=[gp.id, nurse.id, pharmacist.id],
                       notes="Analyse des pratiques et rédaction des étapes.", actor=nurse)
    svc.record_meeting(avk, team, held_on=ctx.today - timedelta(days=50), duration_minutes=60,
                       attendee_ids=[gp.id, pharmacist.id], notes="Relecture, rôle du pharmacien.", actor=nurse)
    svc.validate_protocol(avk, team, validated_on=ctx.today - timedelta(days=40),
                          next_review_on=ctx.today - timedelta(days=40) + timedelta(days=365), actor=gp)

    patients = dict(ctx.data.get("patients") or {})
    if "avk" in patients:
        inc = svc.include_patient(team, patients["avk"], protocol=avk, included_on=_in_year(ctx, 30),
                                  criteria="Fluindione pour FA depuis 2019 ; accord pour le suivi partagé.",
                                  actor=gp)
        svc.record_act(team, inc, patients["avk"], performed_on=_in_year(ctx, 15), professional_id=pharmacist.id,
                       outcome="orientation_medecin", comment="INR 4,2 : médecin prévenu le jour même.",
                       actor=pharmacist)
        svc.record_act(team, inc, patients["avk"], performed_on=_in_year(ctx, 13), professional_id=nurse.id,
                       outcome="pris_en_charge", comment="INR de contrôle 2,7, carnet mis à jour.", actor=nurse)

    # National cooperation protocol: cystite, delegated to the pharmacist (trained).
    adoption = svc.adopt(team, "PC_CYSTITE", adopted_on=ctx.today - timedelta(days=120),
                         ars_declared_on=ctx.today - timedelta(days=110), delegating_ids=[gp.id],
                         delegated_ids=[pharmacist.id], actor=gp)
    svc.add_attestation(adoption, user_id=pharmacist.id, trained_on=ctx.today - timedelta(days=100),
                        organisation="URPS Pharmaciens Pays de la Loire", hours=10, actor=nurse)
    for key, birth, first, born in CYSTITE_PATIENTS:
        if key not in patients:
            patients[key] = create_patient(team, PatientData(birth_name=birth, first_names=first, birth_date=born,
                                                             sex="F", commune="Clisson"), actor=pharmacist)
    acts = [
        ("young_woman", 45, "pris_en_charge", "Bandelette positive, traitement délivré selon le protocole."),
        ("cystite_1", 25, "orientation_medecin", "Fièvre à 38,5 °C : orientée vers la Dre Martin le jour même."),
        ("cystite_2", 8, "pris_en_charge", "Pas de signe de gravité ; traitement délivré."),
    ]
    for key, days, outcome, comment in acts:
        patient = patients.get(key)
        if patient is None:
            continue
        on = _in_year(ctx, days)
        inc = svc.include_patient(team, patient, adoption=adoption, included_on=on,
                                  criteria="Brûlures mictionnelles et pollakiurie depuis 24 h, sans fièvre ni "
                                           "douleur lombaire." if outcome == "pris_en_charge" else
                                  "Brûlures mictionnelles depuis 48 h.", actor=pharmacist)
        svc.record_act(team, inc, patient, performed_on=on, professional_id=pharmacist.id, outcome=outcome,
                       comment=comment, actor=pharmacist)
        if outcome == "orientation_medecin":
            svc.end_inclusion(inc, patient, ended_on=on, reason="Orientée vers le médecin.", actor=pharmacist)
    ctx.data["protocols"] = {"avk": avk, "cystite": adoption}
    db.session.flush()
    ctx.echo("Protocoles : « Suivi des patients sous AVK » validé ; protocole de coopération « cystite » adopté.")
