"""Action types shipped with esp_coord (domain.md §2.4). Amounts are NOT here: see funding."""

ACTION_TYPES = [
    # code, label, requires_association, manual_allowed, sort
    ("RCP_SANS", "RCP sans patient", False, True, 10),
    ("RCP_AVEC", "RCP avec patient / visite conjointe", False, True, 20),
    ("PPS_INIT", "PPS — élaboration", False, True, 30),
    ("PPS_REVUE", "PPS — révision", False, True, 40),
    ("PROTO_REDAC", "Protocole pluriprofessionnel — élaboration", False, True, 50),
    ("PROTO_MEO", "Protocole — mise en œuvre", False, True, 60),
    ("PREV_ETP", "Prévention / ETP (association loi 1901)", True, True, 70),
    ("PROJET_SANTE", "Rédaction du projet de santé", False, True, 80),
    ("COORD_AUTRE", "Coordination / autre", False, True, 90),
]

PROFESSIONS = [
    # code, label, csp_group, eligible, is_gp, is_physician, sort
    ("medecin_generaliste", "Médecin généraliste", "Professions médicales", True, True, True, 10),
    ("chirurgien_dentiste", "Chirurgien-dentiste", "Professions médicales", True, False, False, 20),
    ("sage_femme", "Sage-femme", "Professions médicales", True, False, False, 30),
    ("pharmacien", "Pharmacien", "Pharmacie / biologie", True, False, False, 40),
    ("biologiste", "Biologiste", "Pharmacie / biologie", True, False, False, 50),
    ("infirmier", "Infirmier·ère", "Auxiliaires médicaux", True, False, False, 60),
    ("masseur_kinesitherapeute", "Masseur-kinésithérapeute", "Auxiliaires médicaux", True, False, False, 70),
    ("pedicure_podologue", "Pédicure-podologue", "Auxiliaires médicaux", True, False, False, 80),
    ("ergotherapeute", "Ergothérapeute", "Auxiliaires médicaux", True, False, False, 90),
    ("psychomotricien", "Psychomotricien·ne", "Auxiliaires médicaux", True, False, False, 100),
    ("orthophoniste", "Orthophoniste", "Auxiliaires médicaux", True, False, False, 110),
    ("orthoptiste", "Orthoptiste", "Auxiliaires médicaux", True, False, False, 120),
    ("dieteticien", "Diététicien·ne", "Auxiliaires médicaux", True, False, False, 130),
    ("coordinateur", "Coordinateur·rice (non soignant)", "Autres", False, False, False, 200),
]
