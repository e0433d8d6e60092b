"""Regional demo dataset: `esp-coord demo --scale region --seed N` (benchmarks, query-count tests).

Full size: 200 teams, 3 000 professionals (about one in ten in two teams), 50 000 patients, 10 000 meetings
with attendance, cases and minutes, 8 000 PPS with problems/objectives/actions and reviews, 300 protocols,
200 000 ledger entries, and two years of funding claims (a submitted claim for the previous year, a draft
for the current one). `factor` (0 < f <= 1, e.g. 0.01) scales every count down for tests and quick
benchmarks: `esp-coord demo --scale region --factor 0.01 --seed 1` (or ESP_COORD_DEMO_FACTOR).

Deterministic: every id comes from a `random.Random(seed)` UUID generator, every date and timestamp is
relative to the fixed REFERENCE_DATE (not today). Same seed and factor → same rows (ciphertexts differ
because AES-GCM nonces are random, the plaintexts are identical).

Bulk path: rows are built with the services' own helpers (`patients.crypto_service.create_patient_key` /
`encrypt_text`, `patients.services.name_tokens` / `birth_date_token` / `birth_year_token`,
`auth.totp.set_secret`, `funding.services.create_claim` / `submit_claim`) and inserted with executemany in
batches, so the rows are those the services write — except the per-row audit events, which are replaced by
one `demo.region` audit event (the audit chain of 300 000 creations would only slow generation down).
"""

from __future__ import annotations

import contextlib
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime

import click
import sqlalchemy as sa

from esp_coord.extensions import db

REFERENCE_DATE = date(2026, 11, 2)  # "today" of the dataset (a Monday)
REFERENCE_NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
FULL = {"teams": 200, "users": 3000, "patients": 50000, "meetings": 10000, "plans": 8000, "protocols": 300,
        "ledger": 200000}
BATCH = 2000
PASSWORD = "demo-esp-coord-2026"  # noqa: S105 - published demo password, refused in production  # nosec B105
ASSOCIATION_EMAIL = "association@region.demo.esp-coord.fr"

FIRST = ["Marie", "Jean", "Pierre", "Anne", "Louise", "Paul", "Jeanne", "Michel", "Catherine", "Alain", "Sylvie",
         "Bernard", "Nathalie", "Yves", "Monique", "Gérard", "Hélène", "Joseph", "Françoise", "René", "Odile", "Loïc",
         "Gwenaëlle", "Maël", "Soizic", "Yann", "Rozenn", "Erwan", "Lénaïg", "Ronan"]
LAST = ["Guillou", "Le Gall", "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois",
        "Moreau", "Laurent", "Simon", "Michel", "Lefebvre", "Leroy", "Roux", "David", "Bertrand", "Morel",
        "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau", "Vincent", "Muller",
        "Le Goff", "Tanguy", "Hervé", "Jégou", "Le Roux", "Cadiou", "Pichon", "Menard", "Barbier", "Perrin", "Brun"]
COMMUNES = ["Clisson", "Vallet", "Ancenis", "Châteaubriant", "Blain", "Savenay", "Machecoul", "Pornic", "Guérande",
            "Cholet", "Saumur", "Segré", "Baugé", "Doué", "Laval", "Mayenne", "Château-Gontier", "Sablé", "La Flèche",
            "Mamers", "Fontenay-le-Comte", "Luçon", "Challans", "Montaigu", "Les Herbiers", "Pouzauges"]
PROFESSIONS = ["medecin_generaliste", "medecin_generaliste", "infirmier", "infirmier", "infirmier", "pharmacien",
               "masseur_kinesitherapeute", "dieteticien", "orthophoniste", "sage_femme", "pedicure_podologue"]
PROTOCOL_TITLES = ["Suivi du patient sous AVK", "Prévention des chutes", "Insuffisance cardiaque : surveillance",
                   "Plaies chroniques", "Sortie d'hospitalisation", "Diabète de type 2 : pied",
                   "Dénutrition de la personne âgée", "Vaccination antigrippale", "Cystite simple",
                   "BPCO : exacerbations"]


@dataclass
class Summary:
    seed: int
    factor: float
    counts: dict = field(default_factory=dict)
    seconds: float = 0.0
    team_ids: list = field(default_factory=list)
    association_id: uuid.UUID | None = None

    def line(self) -> str:
        parts = ", ".join(f"{k} {v:,}".replace(",", "\u202f") for k, v in self.counts.items())
        return f"région (graine {self.seed}, facteur {self.factor:g}) : {parts} — {self.seconds:.0f} s"


def scaled(factor: float) -> dict:
    out = {k: max(1, round(v * factor)) for k, v in FULL.items()}
    out["teams"] = max(2, out["teams"])
    out["users"] = max(out["users"], 4 * out["teams"])
    return out


class Ids:
    """Seeded UUID4 generator (same seed → same ids)."""

    def __init__(self, seed: int):
        self.rng = random.Random(f"esp-coord-region-ids:{seed}")  # reproducible demo ids  # nosec B311

    def __call__(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)


def _insert(model, rows: list[dict]) -> None:
    for i in range(0, len(rows), BATCH):
        db.session.execute(sa.insert(model), rows[i:i + BATCH])


def _at(day: date, hour: int = 12, minute: int = 30) -> datetime:
    return datetime.combine(day, dtime(hour, minute), tzinfo=UTC)


def run(seed: int = 1, echo=print, factor: float | None = None, progress: bool = True) -> Summary:
    """Generate the regional dataset in the current (empty or demo-free) database and commit."""
    import esp_coord.models  # noqa: F401
    from esp_coord.activity.models import LedgerEntry
    from esp_coord.auth.models import User
    from esp_coord.auth.passwords import hash_password
    from esp_coord.auth.totp import set_secret
    from esp_coord.care_plans.models import (
        CarePlan,
        CarePlanAction,
        CarePlanObjective,
        CarePlanParticipant,
        CarePlanProblem,
        CarePlanReview,
        CarePlanReviewParticipant,
    )
    from esp_coord.core import audit
    from esp_coord.demo import demo_totp_secret
    from esp_coord.funding import services as funding
    from esp_coord.funding.models import DEFAULT_ENVELOPE, Envelope
    from esp_coord.meetings.models import Meeting, MeetingCase, MeetingInvitee
    from esp_coord.patients.crypto_service import create_patient_key, forget_cached_keys
    from esp_coord.patients.models import Patient
    from esp_coord.patients.services import birth_date_token, birth_year_token, name_tokens
    from esp_coord.protocols.models import Protocol, ProtocolAuthor, ProtocolRole
    from esp_coord.reference import ensure_all_reference_data
    from esp_coord.tasks.models import Task
    from esp_coord.teams.models import Membership, Team, TeamSite

    if factor is None:
        factor = float(os.environ.get("ESP_COORD_DEMO_FACTOR") or 1.0)
    if not 0 < factor <= 1:
        raise ValueError("factor must be in (0, 1]")
    n = scaled(factor)
    started = time.perf_counter()
    ids = Ids(seed)
    rng = random.Random(f"esp-coord-region-data:{seed}")  # reproducible demo data  # nosec B311
    stamp = {"created_at": REFERENCE_NOW, "updated_at": REFERENCE_NOW}
    ensure_all_reference_data()
    db.session.commit()
    summary = Summary(seed=seed, factor=factor)
    steps = ["users", "teams", "patients", "meetings", "plans", "protocols", "tasks", "ledger", "claims"]
    bar_ctx = click.progressbar(length=len(steps) * 10, label="Jeu de données régional",
                                file=None if progress else open(os.devnull, "w"))  # noqa: SIM115
    with bar_ctx as bar:
        # ---- professionals (one argon2 hash for all), one association account
        pw = hash_password(PASSWORD)
        users = []
        for i in range(n["users"]):
            first, last = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
            u = User(id=ids(), email=f"pro{i:05d}@region.demo.esp-coord.fr", first_name=first, last_name=last,
                     profession_code=PROFESSIONS[i % len(PROFESSIONS)], rpps=f"{10000000000 + i:011d}",
                     practice_addresses=f"{1 + i % 40} rue de la Santé, {COMMUNES[i % len(COMMUNES)]}",
                     password_hash=pw, totp_enabled_at=REFERENCE_NOW, active=True, failed_logins=0, **stamp)
            set_secret(u, demo_totp_secret(u.email))
            users.append(u)
        assoc = User(id=ids(), email=ASSOCIATION_EMAIL, first_name="Nathalie", last_name="Garnier",
                     global_role="association", password_hash=pw, totp_enabled_at=REFERENCE_NOW, active=True,
                     failed_logins=0, **stamp)
        set_secret(assoc, demo_totp_secret(assoc.email))
        _insert(User, [_row(u) for u in users + [assoc]])
        summary.association_id = assoc.id
        bar.update(10)

        # ---- teams, sites, memberships (15 per team, ~10 % of professionals in a second team)
        teams, members = [], {}
        for t in range(n["teams"]):
            commune = COMMUNES[t % len(COMMUNES)]
            assoc_form = t % 2 == 0
            teams.append({"id": ids(), "name": f"ESP {'CLAP ' if assoc_form else ''}de {commune} n° {t + 1}",
                          "kind": "esp_clap" if assoc_form else "esp",
                          "legal_form": "association_1901" if assoc_form else "none",
                          "communes": f"{commune}\n{COMMUNES[(t + 1) % len(COMMUNES)]}",
                          "formed_on": REFERENCE_DATE - timedelta(days=900 + t),
                          "ars_recognised_on": REFERENCE_DATE - timedelta(days=800) if assoc_form else None,
                          "convention_signed_on": REFERENCE_DATE - timedelta(days=760) if assoc_form else None,
                          **stamp})
        _insert(Team, teams)
        _insert(TeamSite, [{"id": ids(), "team_id": t["id"], "label": f"Maison de santé de {t['name'][4:]}",
                            "address": f"1 place de la Mairie, {t['communes'].split(chr(10))[0]}"} for t in teams])
        memberships = []
        for i, u in enumerate(users):
            home = i % n["teams"]
            team_list = [home]
            if i % 10 == 3 and n["teams"] > 1:
                team_list.append((home + 1 + i // n["teams"]) % n["teams"])
            for pos, ti in enumerate(team_list):
                if ti in members and u.id in members[ti]:
                    continue
                members.setdefault(ti, [])
                rank = len(members[ti])
                role = "admin" if rank == 0 else "coordinator" if rank == 1 else "member"
                members[ti].append(u.id)
                memberships.append({"id": ids(), "team_id": teams[ti]["id"], "user_id": u.id, "role": role,
                                    "started_on": teams[ti]["formed_on"], "liberal": True,
                                    "first_recourse": pos == 0, **stamp})
        _insert(Membership, memberships)
        summary.team_ids = [t["id"] for t in teams]
        bar.update(10)

        # ---- patients: identity encrypted with each patient's data key, blind-index tokens, followers
        patients_by_team: dict[int, list[uuid.UUID]] = {}
        p_rows, k_rows, tok_rows, fol_rows, note_rows = [], [], [], [], []
        for p in range(n["patients"]):
            ti = p % n["teams"]
            team_id = teams[ti]["id"]
            pid = ids()
            patients_by_team.setdefault(ti, []).append(pid)
            key = create_patient_key(pid)  # the service's key row, inserted in bulk below
            db.session.expunge(key)
            key.id = ids()
            k_rows.append({c: getattr(key, c) for c in ("id", "patient_id", "version", "master_key_id",
                                                         "wrapped_dek")} | {"created_at": REFERENCE_NOW})
            birth = date(1930, 1, 1) + timedelta(days=rng.randrange(33000))
            ident = {"birth_name": LAST[rng.randrange(len(LAST))], "usage_name": None,
                     "first_names": FIRST[rng.randrange(len(FIRST))], "birth_date": birth.isoformat(),
                     "sex": "F" if p % 2 else "M", "ins": None,
                     "commune": COMMUNES[rng.randrange(len(COMMUNES))], "gp_free_text": None}
            row = {"id": pid, "team_id": team_id, "created_by_id": members[ti][0], "gp_member_id": members[ti][0],
                   "last_activity_at": REFERENCE_NOW - timedelta(days=p % 400),
                   "birth_date_index": birth_date_token(team_id, birth),
                   "birth_year_index": birth_year_token(team_id, birth.year), **stamp}
            for name, value in ident.items():
                row[f"{name}_enc"] = encrypt_text(pid, "patient", name, pid, value)
            p_rows.append(row)
            for token in sorted(name_tokens(team_id, ident["birth_name"], ident["usage_name"], ident["first_names"])):
                tok_rows.append({"id": ids(), "patient_id": pid, "team_id": team_id, "token": token})
            for uid in dict.fromkeys(members[ti][1 + p % 3: 3 + p % 3]):
                fol_rows.append({"patient_id": pid, "user_id": uid})
            if (p // n["teams"]) % 5 == 0:  # a note on one patient in five, in every team
                nid = ids()
                note_rows.append({"id": nid, "patient_id": pid, "team_id": team_id, "author_id": members[ti][0],
                                  "category": "clinical", "version": 1,
                                  "created_at": REFERENCE_NOW - timedelta(days=p % 300),
                                  "body_enc": encrypt_text(pid, "patient_note", "body", nid,
                                                           "Passage à domicile, tension 13/8, pas de chute.")})
            if len(p_rows) >= BATCH:
                _flush_patients(Patient, p_rows, k_rows, tok_rows, fol_rows, note_rows)
        _flush_patients(Patient, p_rows, k_rows, tok_rows, fol_rows, note_rows)
        bar.update(10)

        # ---- meetings over two years: invitees (attendance), cases (encrypted), minutes; RCP ledger entries
        ledger: list[dict] = []
        m_rows, inv_rows, case_rows = [], [], []
        per_team = max(1, n["meetings"] // n["teams"])
        for mi in range(n["meetings"]):
            ti = mi % n["teams"]
            team_id = teams[ti]["id"]
            k = mi // n["teams"]
            day = REFERENCE_DATE - timedelta(days=730) + timedelta(days=(k * 760) // per_team)
            past = day < REFERENCE_DATE
            kind = ("rcp_sans", "rcp_avec", "rcp_sans", "team")[k % 4]
            mid = ids()
            starts = _at(day, 11 + k % 6)
            m_rows.append({"id": mid, "team_id": team_id, "kind": kind, "status": "scheduled", "starts_at": starts,
                           "ends_at": starts + timedelta(minutes=90), "place_kind": "practice",
                           "place": f"Maison de santé, {teams[ti]['communes'].split(chr(10))[0]}",
                           "organiser_id": members[ti][1 % len(members[ti])],
                           "uid": f"rcp-{mid}@esp-coord", "sequence": 0, "feed_changed_at": REFERENCE_NOW,
                           "minutes_general": "Point sur l'organisation des visites partagées." if past else None,
                           "minutes_version": 1,
                           "minutes_validated_at": starts + timedelta(days=2) if past else None,
                           "minutes_validated_by_id": members[ti][1 % len(members[ti])] if past else None, **stamp})
            team_members = members[ti]
            attendees = [team_members[(k + j) % len(team_members)] for j in range(min(6, len(team_members)))]
            attendees = list(dict.fromkeys(attendees))
            for j, uid in enumerate(attendees):
                present = past and j != 5
                inv_rows.append({"id": ids(), "meeting_id": mid, "user_id": uid,
                                 "response": "accepted" if j != 5 else "declined",
                                 "present": present, "checked_in_at": starts if present else None,
                                 "check_in_method": "coordinator" if present else None,
                                 "created_at": REFERENCE_NOW + timedelta(microseconds=j), "updated_at": REFERENCE_NOW})
            cases = 0
            if kind.startswith("rcp"):
                pool = patients_by_team.get(ti, [])
                for c in range(min(3, len(pool))):
                    pid = pool[(k * 3 + c) % len(pool)]
                    cid = ids()
                    cases += 1
                    case_rows.append({
                        "id": cid, "meeting_id": mid, "team_id": team_id, "patient_id": pid,
                        "presenter_id": attendees[c % len(attendees)], "created_by_id": attendees[0], "position": c,
                        "question_enc": encrypt_text(pid, "meeting_case", "question", cid,
                                                     "Adapter le plan de soins après la chute ?"),
                        "summary_enc": encrypt_text(pid, "meeting_case", "summary", cid,
                                                    "Chute à domicile, pas de fracture.") if past else None,
                        "decision_enc": encrypt_text(pid, "meeting_case", "decision", cid,
                                                     "Kiné à domicile, revoir les traitements.") if past else None,
                        **stamp})
                if past:
                    for uid in attendees[:5]:
                        ledger.append(_entry(ids(), team_id, uid, "RCP_SANS" if kind == "rcp_sans" else "RCP_AVEC",
                                             day, None, cases, "meeting", mid))
            if len(m_rows) >= BATCH:
                _flush(Meeting, m_rows, MeetingInvitee, inv_rows, MeetingCase, case_rows)
        _flush(Meeting, m_rows, MeetingInvitee, inv_rows, MeetingCase, case_rows)
        bar.update(10)

        # ---- PPS: one open plan per patient; problems, objectives, actions, reviews (all encrypted)
        plan_rows, part_rows, prob_rows, obj_rows, act_rows, rev_rows, revp_rows = [], [], [], [], [], [], []
        plan_counter: dict[int, int] = {}
        for pi in range(n["plans"]):
            ti = pi % n["teams"]
            pool = patients_by_team.get(ti, [])
            number = plan_counter.get(ti, 0)
            if number >= len(pool):
                continue
            plan_counter[ti] = number + 1
            team_id, pid, plan_id = teams[ti]["id"], pool[number], ids()
            team_members = members[ti]
            coord = team_members[number % len(team_members)]
            opened = REFERENCE_DATE - timedelta(days=30 + (pi * 7) % 700)
            plan_rows.append({"id": plan_id, "team_id": team_id, "patient_id": pid, "number": number + 1,
                              "status": "active", "coordinator_id": coord, "opened_on": opened,
                              "trigger_enc": encrypt_text(pid, "care_plan", "trigger", plan_id,
                                                          "Retour d'hospitalisation, polymédication."),
                              "expectations_enc": encrypt_text(pid, "care_plan", "expectations", plan_id,
                                                               "Rester à domicile."),
                              "next_review_on": opened + timedelta(days=180), "current_version": 1,
                              "validated_at": _at(opened), "consent_on": opened, "consent_method": "oral",
                              "consent_scope": "care_and_help", "consent_recorded_by_id": coord,
                              "created_by_id": coord, **stamp})
            parts = list(dict.fromkeys([coord, team_members[(number + 1) % len(team_members)]]))
            part_rows += [{"plan_id": plan_id, "user_id": u} for u in parts]
            for r in range(2):
                prob_id, obj_id, act_id = ids(), ids(), ids()
                prob_rows.append({"id": prob_id, "plan_id": plan_id, "rank": r + 1,
                                  "category": ("health", "autonomy")[r], "patient_priority": r == 0,
                                  "uncertain": False, **stamp,
                                  "label_enc": encrypt_text(pid, "care_plan_problem", "label", prob_id,
                                                            ("Risque de chute", "Isolement")[r])})
                obj_rows.append({"id": obj_id, "problem_id": prob_id, "plan_id": plan_id, "position": 1, **stamp,
                                 "text_enc": encrypt_text(pid, "care_plan_objective", "text", obj_id,
                                                          "Aucune chute dans les 6 mois"),
                                 "criterion_enc": encrypt_text(pid, "care_plan_objective", "criterion", obj_id,
                                                               "Nombre de chutes")})
                act_rows.append({"id": act_id, "objective_id": obj_id, "plan_id": plan_id, "position": 1,
                                 "owner_kind": "member", "owner_user_id": parts[-1], "volet": "care",
                                 "due_on": opened + timedelta(days=60), **stamp,
                                 "what_enc": encrypt_text(pid, "care_plan_action", "what", act_id,
                                                          "Séances de kinésithérapie"),
                                 "when_enc": encrypt_text(pid, "care_plan_action", "when", act_id,
                                                          "2 fois par semaine")})
            for u in parts:
                ledger.append(_entry(ids(), team_id, u, "PPS_INIT", opened, None, 1, "pps", plan_id))
            if pi % 2 == 0:
                rid = ids()
                review_on = opened + timedelta(days=20)
                rev_rows.append({"id": rid, "plan_id": plan_id, "status": "validated", "review_on": review_on,
                                 "version_number": 2, "validated_at": _at(review_on), "created_by_id": coord,
                                 "outcome_enc": encrypt_text(pid, "care_plan_review", "outcome", rid,
                                                             "Objectifs en bonne voie."), **stamp})
                revp_rows += [{"review_id": rid, "user_id": u} for u in parts]
                for u in parts:
                    ledger.append(_entry(ids(), team_id, u, "PPS_REVUE", review_on, None, 1, "pps_review", rid))
            if len(plan_rows) >= BATCH:
                _flush(CarePlan, plan_rows, CarePlanParticipant, part_rows, CarePlanProblem, prob_rows,
                       CarePlanObjective, obj_rows, CarePlanAction, act_rows, CarePlanReview, rev_rows,
                       CarePlanReviewParticipant, revp_rows)
        _flush(CarePlan, plan_rows, CarePlanParticipant, part_rows, CarePlanProblem, prob_rows, CarePlanObjective,
               obj_rows, CarePlanAction, act_rows, CarePlanReview, rev_rows, CarePlanReviewParticipant, revp_rows)
        bar.update(10)

        # ---- protocols (validated, with roles and authors)
        pr_rows, role_rows, auth_rows = [], [], []
        for q in range(n["protocols"]):
            ti = q % n["teams"]
            prid = ids()
            validated = REFERENCE_DATE - timedelta(days=100 + q % 500)
            pr_rows.append({"id": prid, "team_id": teams[ti]["id"], "title": PROTOCOL_TITLES[q % len(PROTOCOL_TITLES)],
                            "theme": "Parcours", "problem": "Coordination insuffisante entre professionnels.",
                            "population": "Patients adultes de la patientèle de l'équipe.",
                            "steps_json": '["Repérage", "Évaluation", "Suivi partagé"]', "status": "validated",
                            "version": 1, "validated_on": validated, "next_review_on": validated + timedelta(days=730),
                            "created_by_id": members[ti][0], **stamp})
            for s, prof in enumerate(("medecin_generaliste", "infirmier", "pharmacien")):
                role_rows.append({"id": ids(), "protocol_id": prid, "profession_code": prof, "sort": s,
                                  "description": "Rôle décrit dans le protocole."})
            for u in members[ti][:2]:
                auth_rows.append({"protocol_id": prid, "user_id": u})
                ledger.append(_entry(ids(), teams[ti]["id"], u, "PROTO_REDAC", validated, 120, 0, "protocol_writing",
                                     prid))
        _flush(Protocol, pr_rows, ProtocolRole, role_rows, ProtocolAuthor, auth_rows)
        bar.update(10)

        # ---- tasks: five per professional ("mes tâches"), one in two about a patient (encrypted detail)
        task_rows = []
        for i, u in enumerate(users):
            ti = i % n["teams"]
            pool = patients_by_team.get(ti, [])
            for j in range(5):
                tid = ids()
                pid = pool[(i + j) % len(pool)] if pool and j % 2 == 0 else None
                task_rows.append({"id": tid, "team_id": teams[ti]["id"], "owner_id": u.id, "patient_id": pid,
                                  "title": "Suite de la RCP" if pid else "Préparer la réunion d'équipe",
                                  "detail_enc": encrypt_text(pid, "task", "detail", tid, "Appeler l'infirmière.")
                                  if pid else None, "detail_plain": None if pid else "Ordre du jour à envoyer.",
                                  "due_on": REFERENCE_DATE + timedelta(days=j * 7 - 7),
                                  "status": ("open", "open", "in_progress", "done", "open")[j],
                                  "created_by_id": u.id, **stamp})
        _insert(Task, task_rows)
        bar.update(10)

        # ---- fill the ledger to its target with hand-logged coordination work (no source object)
        manual_types = ["COORD_AUTRE", "PROJET_SANTE", "PROTO_MEO"]
        i = 0
        while len(ledger) < n["ledger"]:
            ti = i % n["teams"]
            uid = members[ti][(i // n["teams"]) % len(members[ti])]
            kind = manual_types[i % 3]
            if i % 7 == 0 and teams[ti]["legal_form"] == "association_1901":
                kind = "PREV_ETP"
            ledger.append(_entry(ids(), teams[ti]["id"], uid, kind, REFERENCE_DATE - timedelta(days=1 + i % 729),
                                 60, 4 if kind == "PREV_ETP" else 0, None, None, label="Réunion de coordination"))
            i += 1
        ledger = ledger[: max(n["ledger"], 1)]
        for j, row in enumerate(ledger):
            row["status"] = "to_validate" if j % 10 == 0 else "validated"
            if row["status"] == "validated":
                row["validated_at"] = REFERENCE_NOW
        _insert(LedgerEntry, ledger)
        bar.update(10)

        # ---- funding: envelopes and two years of claims (previous year submitted, current year draft)
        year = REFERENCE_DATE.year
        for y in (year - 1, year):
            funding.ensure_example_grid(y)
        _insert(Envelope, [{"id": ids(), "team_id": t["id"], "year": y, "amount": DEFAULT_ENVELOPE, **stamp}
                           for t in teams for y in (year - 1, year)])
        db.session.flush()
        team_objs = {t.id: t for t in db.session.execute(sa.select(Team)).scalars()}
        with _seeded_uuid4(ids):  # the services' uuid4() ids (claims, audit rows) come from the seed too
            claims = _claims(funding, teams, members, team_objs, year)
        forget_cached_keys()
        audit.record("demo.region", details={"seed": seed, "factor": factor})
        db.session.commit()
        bar.update(10)

    summary.counts = {"teams": len(teams), "professionals": len(users), "memberships": len(memberships),
                      "patients": n["patients"], "meetings": n["meetings"], "pps": sum(plan_counter.values()),
                      "protocols": n["protocols"], "tasks": len(task_rows), "ledger": len(ledger), "claims": claims}
    summary.seconds = time.perf_counter() - started
    echo(summary.line())
    echo(f"Compte association : {ASSOCIATION_EMAIL}, professionnels pro00000…@region.demo.esp-coord.fr, "
         f"mot de passe {PASSWORD} (TOTP : esp-coord demo-totp n'accepte que les comptes de la démo d'équipe).")
    return summary


@contextlib.contextmanager
def _seeded_uuid4(ids):
    """The services' uuid4() ids and utc_now() timestamps (claims, snapshots) come from the seed/reference date."""
    from esp_coord.funding import services as funding

    original, original_now = uuid.uuid4, funding.utc_now
    uuid.uuid4 = ids
    funding.utc_now = lambda: REFERENCE_NOW
    try:
        yield
    finally:
        uuid.uuid4, funding.utc_now = original, original_now


def _claims(funding, teams, members, team_objs, year) -> int:
    """Two yearly claims per team through the funding services: previous year submitted, current year draft."""
    from esp_coord.auth.models import User

    count = 0
    for ti, t in enumerate(teams):
        admin = db.session.get(User, members[ti][0])
        for y in (year - 1, year):
            claim = funding.create_claim(team_objs[t["id"]], "year", date(y, 1, 1), date(y, 12, 31), actor=admin)
            claim.created_at = claim.updated_at = REFERENCE_NOW
            count += 1
            if y < year:
                try:
                    funding.submit_claim(claim, actor=admin)
                    claim.updated_at = REFERENCE_NOW
                except funding.FundingError:
                    pass
        if ti % 20 == 19:
            db.session.flush()
    return count


def encrypt_text(patient_id, table: str, column: str, row_id, text: str | None) -> bytes | None:
    """`crypto_service.encrypt_text` for a key created in this run (version 1, still in the request cache;
    the service's version lookup would query the key row, which the bulk path has not inserted yet)."""
    from esp_coord.core import crypto
    from esp_coord.patients.crypto_service import _aead

    if text is None:
        return None
    version, aead = _aead(patient_id, 1)
    return crypto.encrypt(aead, version, text.encode("utf-8"), crypto.aad_for(table, column, row_id, patient_id))


def _entry(eid, team_id, user_id, kind, day, minutes, patients, source_type, source_id, label=None) -> dict:
    return {"id": eid, "team_id": team_id, "user_id": user_id, "action_type": kind, "performed_on": day,
            "duration_minutes": minutes, "patient_count": patients, "source_type": source_type,
            "source_id": source_id, "label": label, "status": "validated", "created_by_id": user_id,
            "validated_by_id": None, "validated_at": None, "created_at": REFERENCE_NOW, "updated_at": REFERENCE_NOW}


def _row(obj) -> dict:
    return {c.key: getattr(obj, c.key) for c in sa.inspect(type(obj)).mapper.column_attrs
            if getattr(obj, c.key) is not None or c.key in ("id",)}


def _flush_patients(Patient, p_rows, k_rows, tok_rows, fol_rows, note_rows) -> None:  # noqa: N803
    from esp_coord.patients.models import PatientFollower, PatientKey, PatientNameIndex, PatientNote

    _flush(Patient, p_rows, PatientKey, k_rows, PatientNameIndex, tok_rows, PatientFollower, fol_rows,
           PatientNote, note_rows)


def _flush(*pairs) -> None:
    """Insert (model, rows) pairs in order, then empty each list."""
    for model, rows in zip(pairs[::2], pairs[1::2], strict=True):
        if rows:
            _insert(model, rows)
            rows.clear()


def main(argv=None) -> None:  # pragma: no cover - convenience entry point
    @click.command()
    @click.option("--seed", type=int, default=1)
    @click.option("--factor", type=float, default=1.0)
    def cli(seed: int, factor: float) -> None:
        from esp_coord import create_app

        app = create_app()
        with app.app_context():
            run(seed=seed, factor=factor, echo=click.echo)

    cli(argv)


if __name__ == "__main__":  # pragma: no cover
    main()
