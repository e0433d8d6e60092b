"""Demo patients of the ESP CLAP team (fictional people), with notes, information and one objection.

Other features' demos find them in ctx.data["patients"][key] (keys below)."""

from __future__ import annotations

from datetime import date, timedelta

from esp_coord.core.extensions import db
from esp_coord.core.time import utc_now
from esp_coord.patients import services
from esp_coord.patients.services import PatientData

# key, birth name, usage name, first names, birth date, sex, commune, gp key, followers, notes
PATIENTS = [
    ("falls", "GUILLOU", "RENAUD", "Marguerite Anne", date(1938, 5, 2), "F", "Clisson", "gp",
     ("gp", "nurse", "pharmacist", "physio"),
     [(40, "nurse", "clinical", "Chute dans la salle de bains samedi soir, relevée par la voisine après 2 h au sol. "
       "Hématome de la hanche gauche, pas de douleur à la mise en charge."),
      (35, "pharmacist", "clinical", "Bilan de médication : 11 lignes dont zopiclone, tramadol et deux "
       "antihypertenseurs. Propose à la Dre Martin d'arrêter la zopiclone progressivement."),
      (20, "physio", "coordination", "Début de la rééducation à la marche (2 séances/semaine). "
       "Test de Tinetti 17/28. Barres d'appui à prévoir."),
      (6, "nurse", "social", "Vit seule depuis le décès de son mari. Fille à Nantes, passe le dimanche. "
       "Demande d'APA à accompagner ; téléalarme refusée pour l'instant.")]),
    ("diabetic", "LE BRIS", None, "Joseph", date(1951, 11, 23), "M", "Gétigné", "gp", ("gp", "nurse", "dietitian"),
     [(28, "nurse", "clinical", "Plaie plantaire de l'avant-pied droit (mal perforant), 1,5 cm, fond fibrineux. "
       "Pansement tous les deux jours, décharge à organiser."),
      (21, "gp", "clinical", "HbA1c 8,9 %. Monofilament : sensibilité abolie aux deux pieds. Adressé au podologue "
       "et demande d'avis au centre de la plaie."),
      (9, "dietitian", "coordination", "Première consultation diététique : grignotage le soir, 2 L de cidre/"
       "semaine. Objectifs fixés avec lui et son épouse.")]),
    ("avk", "MORIN", None, "Bernard", date(1944, 2, 9), "M", "Gorges", "gp", ("gp", "nurse", "pharmacist"),
     [(15, "pharmacist", "clinical", "Sous fluindione depuis 2019 (FA). INR 4,2 ce matin, pas de saignement. "
       "Médecin prévenu, dose du soir suspendue."),
      (13, "nurse", "coordination", "INR de contrôle 2,7. Carnet AVK mis à jour, explications redonnées.")]),
    ("child", "PERRAUD", None, "Lucas", date(2018, 7, 30), "M", "Clisson", "gp", ("gp", "physio"),
     [(10, "gp", "clinical", "Asthme du nourrisson devenu asthme de l'enfant ; 3 exacerbations cet hiver. "
       "Technique d'inhalation à revoir avec la chambre."),
      (4, "physio", "coordination", "Séance d'éducation à l'inhalation avec la maman, bonne technique en fin de "
       "séance.")]),
    ("young_woman", "ROBIN", None, "Inès", date(1997, 4, 17), "F", "Monnières", "gp", ("gp", "pharmacist"),
     [(12, "gp", "clinical", "Consultation pour anxiété post-partum (bébé de 3 mois). Pas d'idées noires. "
       "Orientation vers la psychologue du dispositif Mon soutien psy."),
      (3, "pharmacist", "coordination", "Vient chercher le traitement ; demande des informations sur "
       "l'allaitement et le sertraline, rassurée.")]),
    ("ankle", "TESSIER", None, "Hugo", date(1989, 9, 5), "M", "Clisson", None, ("physio",),
     [(7, "physio", "clinical", "Entorse du ligament latéral externe de la cheville droite (football). "
       "Protocole de rééducation proprioceptive, reprise du sport dans 6 semaines.")]),
    ("copd", "GAUTIER", None, "Monique", date(1949, 12, 1), "F", "Gétigné", "gp", ("gp", "nurse", "physio"),
     [(18, "gp", "clinical", "BPCO stade 3, sortie d'hospitalisation pour exacerbation. Oxygène 2 L/min la nuit."),
      (11, "nurse", "coordination", "Passage à domicile : observance de l'oxygène correcte, tabac arrêté "
       "depuis l'hospitalisation.")]),
    ("opposed", "BESNIER", "CHAUVIN", "Élise", date(1962, 8, 14), "F", "Monnières", "gp", ("gp", "nurse"),
     [(25, "gp", "clinical", "Suivi d'une dépression ; ne souhaite pas que ses informations circulent dans "
       "l'équipe. Opposition enregistrée ce jour."),
      (2, "nurse", "clinical", "Injection mensuelle faite au cabinet.")]),
]


def seed(ctx) -> None:
    team = ctx.teams["clap"]
    users = ctx.users
    now = utc_now()
    patients = {}
    for key, birth, usage, first, born, sex, commune, gp, followers, notes in PATIENTS:
        data = PatientData(birth_name=birth, usage_name=usage, first_names=first, birth_date=born, sex=sex,
                           commune=commune, gp_member_id=users[gp].id if gp else None,
                           gp_free_text=None if gp else "Dr Hamon (Vallet)",
                           follower_ids=tuple(users[k].id for k in followers))
        patient = services.create_patient(team, data, actor=users["nurse"])
        patients[key] = patient
        first_day = max(days for days, *_rest in notes) + 2
        services.record_information(patient, informed_on=ctx.today - timedelta(days=first_day),
                                    informed_by_id=users[gp or "physio"].id, method="oral_leaflet",
                                    comment=None, actor=users["nurse"])
        if key == "opposed":
            gp_note = notes[0]
            note = services.add_note(patient, category=gp_note[2], body=gp_note[3], actor=users[gp_note[1]])
            note.created_at = now - timedelta(days=gp_note[0])
            services.record_opposition(patient, expressed_on=ctx.today - timedelta(days=gp_note[0]),
                                       actor=users["gp"])
            notes = notes[1:]
        for days, author, category, body in notes:
            note = services.add_note(patient, category=category, body=body, actor=users[author])
            note.created_at = now - timedelta(days=days, hours=ctx.rng.randint(0, 8))
        if key in ("falls", "diabetic"):
            services.record_consent(patient, scope="pps", given_on=ctx.today - timedelta(days=first_day - 3),
                                    detail=None, actor=users["nurse"])
    db.session.flush()
    ctx.data["patients"] = patients
    ctx.echo(f"Patients : {len(patients)} dossiers de démonstration (équipe {team.name}).")
