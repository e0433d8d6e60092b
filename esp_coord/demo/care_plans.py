"""Demo PPS: an elderly patient with falls and polypharmacy (validated, reviewed, consent given) and a
diabetic patient with a foot wound (validated, consent still to record). Uses the patients feature's
demo patients (ctx.data["patients"]["falls"/"diabetic"]) and creates them when absent."""

from __future__ import annotations

from datetime import date, timedelta

from esp_coord.care_plans import services as svc


def _patient(ctx, key, team, actor, **identity):
    patient = (ctx.data.get("patients") or {}).get(key)
    if patient is not None:
        return patient
    from esp_coord.patients.services import PatientData, create_patient

    patient = create_patient(team, PatientData(**identity), actor=actor)
    ctx.data.setdefault("patients", {})[key] = patient
    return patient


def _problem(plan, actor, category, label, objectives, priority=False):
    """objectives: [(text, criterion, [ActionData...])]"""
    problem = svc.save_problem(plan, category=category, label=label, patient_priority=priority, actor=actor)
    for text, criterion, actions in objectives:
        objective = svc.save_objective(plan, problem, text=text, criterion=criterion, actor=actor)
        for data in actions:
            svc.save_action(plan, objective, data, actor=actor)
    return problem


def seed(ctx) -> None:
    team = ctx.teams.get("clap")
    if team is None:
        return
    u = ctx.users
    gp, nurse, pharmacist, physio, dietitian = u["gp"], u["nurse"], u["pharmacist"], u["physio"], u["dietitian"]
    today = ctx.today
    A = svc.ActionData  # noqa: N806

    # 1. Elderly patient: falls and polypharmacy
    falls = _patient(ctx, "falls", team, gp, birth_name="Guillou", first_names="Marguerite",
                     birth_date=date(1938, 5, 2), sex="F", commune="Clisson", gp_member_id=gp.id)
    plan = svc.create_plan(team, falls, svc.HeaderData(
        coordinator_id=gp.id, participant_ids=[nurse.id, pharmacist.id, physio.id],
        outside_participants="Sa fille (Nantes, passe le dimanche)\nAssistante sociale du CLIC du Vignoble",
        opened_on=today - timedelta(days=170),
        trigger="Chute dans la salle de bains avec 2 h au sol ; 11 médicaments par jour dont zopiclone et tramadol.",
        expectations="Rester vivre chez elle. Pouvoir retourner seule au marché de Clisson le vendredi.",
        internal_notes="Téléalarme refusée pour l'instant : en reparler avec sa fille. Vit seule depuis le décès "
                       "de son mari.",
    ), actor=gp)
    _problem(plan, gp, "autonomy", "Chutes répétées à domicile, peur de tomber", [
        ("Marcher seule jusqu'au marché (400 m) avec une canne",
         "Nombre de chutes par trimestre ; test de Tinetti",
         [A(what="Rééducation de l'équilibre et de la marche", owner_kind="member", owner_user_id=physio.id,
            when="2 séances par semaine pendant 3 mois", due_on=today + timedelta(days=90)),
          A(what="Visite du domicile : tapis, éclairage nocturne, barres d'appui", owner_kind="profession",
            owner_profession_code="ergotherapeute", when="Dans le mois", volet="help")]),
        ("Pouvoir donner l'alerte en cas de chute", "Téléalarme installée et testée",
         [A(what="Reparler de la téléalarme ; dossier APA", owner_kind="outside",
            owner_outside="Assistante sociale du CLIC", when="Ce trimestre", volet="help")]),
    ], priority=True)
    _problem(plan, gp, "health", "Polymédication (11 lignes), dont zopiclone et tramadol", [
        ("Réduire le nombre de médicaments sans perte de confort", "Nombre de lignes ; sommeil ressenti",
         [A(what="Bilan partagé de médication", owner_kind="member", owner_user_id=pharmacist.id,
            when="Avant la prochaine consultation", due_on=today + timedelta(days=30)),
          A(what="Arrêt progressif de la zopiclone", owner_kind="member", owner_user_id=gp.id,
            when="Sur 8 semaines"),
          A(what="Pilulier hebdomadaire préparé et vérifié", owner_kind="member", owner_user_id=nurse.id,
            when="Chaque lundi")]),
    ])
    _problem(plan, gp, "social", "Isolement : vit seule, sa fille habite à Nantes", [
        ("Rompre l'isolement en semaine", "Une sortie ou une visite par jour en semaine",
         [A(what="Orientation vers l'accueil de jour et le portage de repas", owner_kind="outside",
            owner_outside="CLIC du Vignoble", when="Dans les 2 mois", volet="help")]),
    ])
    if svc.record_consent_on(plan) is None:
        svc.record_consent(plan, on=today - timedelta(days=165), method="written", scope="care_and_help", actor=gp)
    svc.validate_plan(plan, actor=gp)
    review = svc.start_review(plan, actor=nurse)
    objective = plan.problems[0].objectives[0]
    svc.save_objective(plan, plan.problems[0], text="Marcher seule jusqu'au marché (400 m) avec une canne",
                       criterion="Nombre de chutes par trimestre ; test de Tinetti",
                       result="Une seule chute sans gravité en 3 mois ; Tinetti passé de 17 à 22.",
                       objective=objective, actor=nurse)
    svc.update_review(plan, review, svc.ReviewData(
        review_on=today, participant_ids=[gp.id, nurse.id, physio.id],
        outside_participants="Sa fille", changes="Zopiclone arrêtée ; téléalarme finalement acceptée et installée.",
        outcome="Objectifs en bonne voie : plan poursuivi, kinésithérapie espacée à une séance par semaine.",
        next_review_on=today + timedelta(days=20)), actor=nurse)
    svc.validate_review(plan, review, actor=nurse)
    ctx.data.setdefault("care_plans", {})["falls"] = plan

    # 2. Diabetic patient with a foot wound
    diabetic = _patient(ctx, "diabetic", team, gp, birth_name="Le Bris", first_names="Joseph",
                        birth_date=date(1951, 11, 23), sex="M", commune="Gétigné", gp_member_id=gp.id)
    plan2 = svc.create_plan(team, diabetic, svc.HeaderData(
        coordinator_id=gp.id, participant_ids=[nurse.id, dietitian.id],
        outside_participants="Son épouse\nPodologue de Clisson (hors équipe)\nCentre de la plaie, CHU de Nantes",
        opened_on=today - timedelta(days=25),
        trigger="Mal perforant plantaire de l'avant-pied droit (1,5 cm) ; HbA1c 8,9 % ; sensibilité abolie aux "
                "deux pieds.",
        expectations="Continuer à s'occuper de sa vigne et de son jardin ; éviter l'amputation dont son père a "
                     "souffert.",
        internal_notes="Consommation de cidre à aborder (2 L par semaine). Avis au centre de la plaie si pas "
                       "d'amélioration à 4 semaines.",
    ), actor=gp)
    _problem(plan2, gp, "health", "Plaie du pied diabétique (mal perforant plantaire)", [
        ("Cicatrisation complète de la plaie", "Surface de la plaie mesurée chaque semaine",
         [A(what="Pansements et mesure de la plaie", owner_kind="member", owner_user_id=nurse.id,
            when="Tous les 2 jours", due_on=today + timedelta(days=14)),
          A(what="Décharge de l'avant-pied (chaussure adaptée)", owner_kind="outside",
            owner_outside="Podologue de Clisson", when="Cette semaine")]),
    ], priority=True)
    _problem(plan2, gp, "health", "Diabète de type 2 déséquilibré", [
        ("HbA1c sous 7,5 % dans 6 mois", "HbA1c trimestrielle",
         [A(what="Ajustement du traitement et suivi de l'HbA1c", owner_kind="member", owner_user_id=gp.id,
            when="Tous les 3 mois"),
          A(what="Consultations diététiques : grignotage du soir", owner_kind="member",
            owner_user_id=dietitian.id, when="3 consultations")]),
    ])
    _problem(plan2, gp, "environment", "Marche pieds nus à la maison, chaussures usées au jardin", [
        ("Protéger ses pieds au quotidien", "Chaussures adaptées portées ; pieds examinés chaque soir",
         [A(what="Éducation podologique du patient et de son épouse", owner_kind="profession",
            owner_profession_code="pedicure_podologue", when="Lors de la prochaine séance"),
          A(what="Dossier de prise en charge de chaussures thérapeutiques", owner_kind="outside",
            owner_outside="Podologue de Clisson", when="Dans le mois", volet="help")]),
    ])
    svc.validate_plan(plan2, actor=gp)
    ctx.data.setdefault("care_plans", {})["diabetic"] = plan2
