"""Demo meetings of the ESP CLAP team: a closed poll that became a validated RCP (minutes, attendance, tasks),
one open date poll and one upcoming meeting. Uses the patients demo (ctx.data["patients"]) when present."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from esp_coord.core.extensions import db
from esp_coord.core.time import paris_to_utc
from esp_coord.meetings import services as svc

PLACE = "Cabinet médical de Clisson, 12 rue du Docteur Guilbaud"


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return paris_to_utc(datetime.combine(day, time(hour, minute)))


def _demo_patients(ctx, team, actor):
    patients = ctx.data.get("patients") or {}
    chosen = [p for key, p in patients.items() if key in ("falls", "diabetic")] or list(patients.values())[:2]
    if chosen:
        return chosen
    from esp_coord.patients.services import PatientData, create_patient

    return [create_patient(team, PatientData(birth_name="Rousseau", first_names="Yvette",
                                             birth_date=date(1939, 5, 2), sex="F"), actor=actor),
            create_patient(team, PatientData(birth_name="Blanchard", first_names="Marcel",
                                             birth_date=date(1951, 9, 17), sex="M"), actor=actor)]


def seed(ctx) -> None:
    team, users = ctx.teams["clap"], ctx.users
    coord = users["nurse"]
    members = [users[k] for k in ("gp", "pharmacist", "physio", "dietitian")]
    soon = ctx.today + timedelta(days=7)

    # 1. a date poll, answered then closed, that became an RCP two weeks ago with validated minutes
    rcp = svc.create_meeting(team, kind="rcp_sans", place_kind="practice", place=PLACE,
                             invitee_ids=[u.id for u in members], actor=coord,
                             slots=[(_at(soon, 12, 30), _at(soon, 14)), (_at(soon + timedelta(days=1), 18),
                                                                         _at(soon + timedelta(days=1), 19, 30))])
    db.session.flush()
    slot = rcp.slots[0]
    for i, user in enumerate(members):
        svc.answer_poll(rcp, user, {str(s.id): ("yes" if s is slot or i % 2 else "no") for s in rcp.slots},
                        {str(slot.id): "Possible après 12 h 15" if i == 0 else ""})
    svc.close_poll(rcp, slot.id, actor=coord)
    past = ctx.today - timedelta(days=14)
    rcp.starts_at, rcp.ends_at = _at(past, 12, 30), _at(past, 14)
    patients = _demo_patients(ctx, team, coord)
    questions = ["Chutes répétées à domicile : quelles adaptations et quel suivi ?",
                 "Équilibre glycémique difficile : coordonner l'éducation et le suivi infirmier."]
    cases = [svc.add_case(rcp, patient=p, question=q, presenter_id=(coord if i == 0 else users["gp"]).id,
                          actor=coord) for i, (p, q) in enumerate(zip(patients, questions, strict=False))]
    for user in [coord, users["gp"], users["pharmacist"], users["physio"]]:
        svc.check_in(rcp, user, now=rcp.starts_at + timedelta(minutes=5)) if svc.invitee_for(rcp, user.id) else None
    svc.mark_present(rcp, users["dietitian"].id, reason="A signé la feuille papier (arrivée en retard)",
                     actor=coord)
    decisions = [("Trois chutes en deux mois, vit seule. Kiné et IDE constatent une perte d'équilibre.",
                  "Bilan de kinésithérapie, visite d'évaluation du domicile, revoir les psychotropes."),
                 ("HbA1c à 8,9 %. Difficultés avec l'adaptation des doses.",
                  "Séances d'éducation avec la diététicienne, suivi infirmier hebdomadaire pendant 2 mois.")]
    for case, (summary, decision) in zip(cases, decisions, strict=False):
        svc.save_case_minutes(rcp, case, summary=summary, decision=decision, actor=coord)
    if cases:
        svc.add_case_task(rcp, cases[0], owner_id=users["physio"].id, due_on=ctx.today + timedelta(days=3),
                          detail="Bilan de l'équilibre et proposition de rééducation", actor=coord)
        svc.add_case_task(rcp, cases[0], owner_id=users["pharmacist"].id, due_on=ctx.today - timedelta(days=2),
                          detail="Revue des traitements (psychotropes)", actor=coord)
    if len(cases) > 1:
        svc.add_case_task(rcp, cases[1], owner_id=users["dietitian"].id, due_on=ctx.today + timedelta(days=10),
                          detail="Première séance d'éducation diététique", actor=coord)
    svc.save_general_minutes(rcp, "Prochaine RCP dans un mois. Penser à inscrire les dossiers à l'avance.",
                             actor=coord)
    svc.validate_minutes(rcp, actor=users["nurse"])

    # 2. an open date poll
    later = ctx.today + timedelta(days=20)
    svc.create_meeting(team, kind="team", place_kind="visio", visio_url="https://visio.example.org/esp-clap",
                       invitee_ids=[u.id for u in members], actor=coord,
                       slots=[(_at(later, 20), _at(later, 21, 30)), (_at(later + timedelta(days=2), 13),
                                                                     _at(later + timedelta(days=2), 14))])
    # 3. an upcoming meeting
    nxt = ctx.today + timedelta(days=5)
    svc.create_meeting(team, kind="rcp_avec", place_kind="home", invitee_ids=[users["gp"].id, users["physio"].id],
                       actor=coord, starts_at=_at(nxt, 17), ends_at=_at(nxt, 18))
    db.session.flush()
    ctx.data["meetings"] = {"rcp": rcp}
    ctx.echo("Réunions : une RCP validée (sondage clos, émargement, compte rendu, tâches), un sondage ouvert, "
             "une réunion à venir.")
