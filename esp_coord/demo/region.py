"""Regional demo dataset: `esp-coord demo --scale region --seed N` (benchmarks, query-count tests).

Full size: 200 teams, 3 000 professionals (about one in ten in two teams), 50 000 patients, 10 000 meetings
with attendance, cases and minutes, 8 000 PPS with problems/objectives/actions and reviews, 300 protocols,
200 000 ledger entries, and two years of funding claims (a submitted claim for the previous year, a draft
for the current one). `factor` (0 < f <= 1, e.g. 0.01) scales every count down for tests and quick
benchmarks: `esp-coord demo --scale region --factor 0.01 --seed 1` (or ESP_COORD_DEMO_FACTOR).

Deterministic: every id comes from a `random.Random(seed)` UUID generator, every date and timestamp is
relative to the fixed REFERENCE_DATE (not today). Same seed and factor → same rows (ciphertexts differ
because AES-GCM nonces are random, the plaintexts are identical).

Generation runs in named steps (STEPS: professionals, teams, patients, meetings, care_plans, protocols, tasks,
ledger, claims) sharing one `World`. Bulk path: rows are built with the features' public functions
(`patients.crypto_service.create_patient_key` / `data_key`, `patients.services.name_tokens` /
`birth_date_token` / `birth_year_token`, `auth.totp.set_secret`, `funding.services.create_claim` /
`submit_claim`) and inserted with executemany in
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
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

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
from esp_coord.core import audit, crypto
from esp_coord.core.extensions import db
from esp_coord.demo import demo_totp_secret
from esp_coord.funding import services as funding
from esp_coord.funding.models import DEFAULT_ENVELOPE, Envelope
from esp_coord.meetings.models import Meeting, MeetingCase, MeetingInvitee
from esp_coord.patients.crypto_service import create_patient_key, data_key, forget_cached_keys
from esp_coord.patients.key_store import PatientKey
from esp_coord.patients.models import Patient, PatientFollower, PatientNameIndex, PatientNote
from esp_coord.patients.services import birth_date_token, birth_year_token, name_tokens
from esp_coord.protocols.models import Protocol, ProtocolAuthor, ProtocolRole
from esp_coord.reference import ensure_all_reference_data
from esp_coord.tasks.models import Task
from esp_coord.teams.models import Membership, Team, TeamSite

REFERENCE_DATE = date(2026, 11, 2)  # "today" of the dataset (a Monday)
REFERENCE_NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
FULL = {"teams": 200, "users": 3000, "patients": 50000, "meetings": 10000, "plans": 8000, "protocols": 300,
        "ledger": 200000}
BATCH = 2000
COUNTS = ("teams", "professionals", "memberships", "patients", "meetings", "pps", "protocols", "tasks", "ledger",
          "claims")
_AEADS: dict = {}  # patient id -> (data key, AESGCM) during a run, see encrypt_text
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


@dataclass
class World:
    """What the generation steps share: sizes, seeded generators, and the rows the later steps refer to."""

    seed: int
    factor: float
    n: dict
    ids: Ids
    rng: random.Random
    stamp: dict = field(default_factory=lambda: {"created_at": REFERENCE_NOW, "updated_at": REFERENCE_NOW})
    users: list = field(default_factory=list)  # auth.models.User objects (professionals), inserted in bulk
    association: object = None
    teams: list[dict] = field(default_factory=list)
    members: dict[int, list[uuid.UUID]] = field(default_factory=dict)  # team index -> user ids, admin first
    memberships: list[dict] = field(default_factory=list)
    patients_by_team: dict[int, list[uuid.UUID]] = field(default_factory=dict)
    ledger: list[dict] = field(default_factory=list)  # grows through meetings, plans, protocols; inserted last
    counts: dict = field(default_factory=dict)


def run(seed: int = 1, echo=print, factor: float | None = None, progress: bool = True) -> Summary:
    """Generate the regional dataset in the current (empty or demo-free) database and commit."""
    if factor is None:
        factor = float(os.environ.get("ESP_COORD_DEMO_FACTOR") or 1.0)
    if not 0 < factor <= 1:
        raise ValueError("factor must be in (0, 1]")
    started = time.perf_counter()
    world = World(seed=seed, factor=factor, n=scaled(factor), ids=Ids(seed),
                  rng=random.Random(f"esp-coord-region-data:{seed}"))  # reproducible demo data  # nosec B311
    ensure_all_reference_data()
    db.session.commit()
    bar_ctx = click.progressbar(length=len(STEPS) * 10, label="Jeu de données régional",
                                file=None if progress else open(os.devnull, "w"))  # noqa: SIM115
    try:
        with bar_ctx as bar:
            for step in STEPS:  # in this order: each step's ids come from the same seeded generator
                step(world)
                bar.update(10)
    finally:
        _AEADS.clear()
    summary = Summary(seed=seed, factor=factor, counts={k: world.counts[k] for k in COUNTS},
                      team_ids=[t["id"] for t in world.teams], association_id=world.association.id,
                      seconds=time.perf_counter() - started)
    echo(summary.line())
    echo(f"Compte association : {ASSOCIATION_EMAIL}, professionnels pro00000…@region.demo.esp-coord.fr, "
         f"mot de passe {PASSWORD} (TOTP : esp-coord demo-totp n'accepte que les comptes de la démo d'équipe).")
    return summary


def professionals(w: World) -> None:
    """Professionals (one argon2 hash for all) and the regional association's account."""
    pw = hash_password(PASSWORD)
    for i in range(w.n["users"]):
        first, last = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
        u = User(id=w.ids(), email=f"pro{i:05d}@region.demo.esp-coord.fr", first_name=first, last_name=last,
                 profession_code=PROFESSIONS[i % len(PROFESSIONS)], rpps=f"{10000000000 + i:011d}",
                 practice_addresses=f"{1 + i % 40} rue de la Santé, {COMMUNES[i % len(COMMUNES)]}",
                 password_hash=pw, totp_enabled_at=REFERENCE_NOW, active=True, failed_logins=0, **w.stamp)
        set_secret(u, demo_totp_secret(u.email))
        w.users.append(u)
    w.association = User(id=w.ids(), email=ASSOCIATION_EMAIL, first_name="Nathalie", last_name="Garnier",
                         global_role="association", password_hash=pw, totp_enabled_at=REFERENCE_NOW, active=True,
                         failed_logins=0, **w.stamp)
    set_secret(w.association, demo_totp_secret(w.association.email))
    _insert(User, [_row(u) for u in w.users + [w.association]])
    w.counts["professionals"] = len(w.users)


def teams(w: World) -> None:
    """Teams, sites, memberships (15 per team, ~10 % of professionals in a second team)."""
    n, ids = w.n, w.ids
    for t in range(n["teams"]):
        commune = COMMUNES[t % len(COMMUNES)]
        assoc_form = t % 2 == 0
        w.teams.append({"id": ids(), "name": f"ESP {'CLAP ' if assoc_form else ''}de {commune} n° {t + 1}",
                        "kind": "esp_clap" if assoc_form else "esp",
                        "legal_form": "association_1901" if assoc_form else "none",
                        "communes": f"{commune}\n{COMMUNES[(t + 1) % len(COMMUNES)]}",
                        "formed_on": REFERENCE_DATE - timedelta(days=900 + t),
                        "ars_recognised_on": REFERENCE_DATE - timedelta(days=800) if assoc_form else None,
                        "convention_signed_on": REFERENCE_DATE - timedelta(days=760) if assoc_form else None,
                        **w.stamp})
    _insert(Team, w.teams)
    _insert(TeamSite, [{"id": ids(), "team_id": t["id"], "label": f"Maison de santé de {t['name'][4:]}",
                        "address": f"1 place de la Mairie, {t['communes'].split(chr(10))[0]}"} for t in w.teams])
    members = w.members
    for i, u in enumerate(w.users):
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
            w.memberships.append({"id": ids(), "team_id": w.teams[ti]["id"], "user_id": u.id, "role": role,
                                  "started_on": w.teams[ti]["formed_on"], "liberal": True,
                                  "first_recourse": pos == 0, **w.stamp})
    _insert(Membership, w.memberships)
    w.counts["teams"] = len(w.teams)
    w.counts["memberships"] = len(w.memberships)


def patients(w: World) -> None:
    """Patients: identity encrypted with each patient's data key, blind-index tokens, followers, notes."""
    n, ids, rng, teams_ = w.n, w.ids, w.rng, w.teams
    p_rows, k_rows, tok_rows, fol_rows, note_rows = [], [], [], [], []
    for p in range(n["patients"]):
        ti = p % n["teams"]
        team_id = teams_[ti]["id"]
        pid = ids()
        w.patients_by_team.setdefault(ti, []).append(pid)
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
        admin = w.members[ti][0]
        row = {"id": pid, "team_id": team_id, "created_by_id": admin, "gp_member_id": admin,
               "last_activity_at": REFERENCE_NOW - timedelta(days=p % 400),
               "birth_date_index": birth_date_token(team_id, birth),
               "birth_year_index": birth_year_token(team_id, birth.year), **w.stamp}
        for name, value in ident.items():
            row[f"{name}_enc"] = encrypt_text(pid, "patient", name, pid, value)
        p_rows.append(row)
        for token in sorted(name_tokens(team_id, ident["birth_name"], ident["usage_name"], ident["first_names"])):
            tok_rows.append({"id": ids(), "patient_id": pid, "team_id": team_id, "token": token})
        for uid in dict.fromkeys(w.members[ti][1 + p % 3: 3 + p % 3]):
            fol_rows.append({"patient_id": pid, "user_id": uid})
        if (p // n["teams"]) % 5 == 0:  # a note on one patient in five, in every team
            nid = ids()
            note_rows.append({"id": nid, "patient_id": pid, "team_id": team_id, "author_id": admin,
                              "category": "clinical", "version": 1,
                              "created_at": REFERENCE_NOW - timedelta(days=p % 300),
                              "body_enc": encrypt_text(pid, "patient_note", "body", nid,
                                                       "Passage à domicile, tension 13/8, pas de chute.")})
        if len(p_rows) >= BATCH or p == n["patients"] - 1:
            _flush(Patient, p_rows, PatientKey, k_rows, PatientNameIndex, tok_rows, PatientFollower, fol_rows,
                   PatientNote, note_rows)
    w.counts["patients"] = n["patients"]


def meetings(w: World) -> None:
    """Meetings over two years: invitees (attendance), cases (encrypted), minutes; RCP ledger entries."""
    n, ids = w.n, w.ids
    m_rows, inv_rows, case_rows = [], [], []
    per_team = max(1, n["meetings"] // n["teams"])
    for mi in range(n["meetings"]):
        ti = mi % n["teams"]
        team = w.teams[ti]
        team_id = team["id"]
        team_members = w.members[ti]
        k = mi // n["teams"]
        day = REFERENCE_DATE - timedelta(days=730) + timedelta(days=(k * 760) // per_team)
        past = day < REFERENCE_DATE
        kind = ("rcp_sans", "rcp_avec", "rcp_sans", "team")[k % 4]
        mid = ids()
        starts = _at(day, 11 + k % 6)
        m_rows.append({"id": mid, "team_id": team_id, "kind": kind, "status": "scheduled", "starts_at": starts,
                       "ends_at": starts + timedelta(minutes=90), "place_kind": "practice",
                       "place": f"Maison de santé, {team['communes'].split(chr(10))[0]}",
                       "organiser_id": team_members[1 % len(team_members)],
                       "uid": f"rcp-{mid}@esp-coord", "sequence": 0, "feed_changed_at": REFERENCE_NOW,
                       "minutes_general": "Point sur l'organisation des visites partagées." if past else None,
                       "minutes_version": 1,
                       "minutes_validated_at": starts + timedelta(days=2) if past else None,
                       "minutes_validated_by_id": team_members[1 % len(team_members)] if past else None,
                       **w.stamp})
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
            pool = w.patients_by_team.get(ti, [])
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
                    **w.stamp})
            if past:
                for uid in attendees[:5]:
                    w.ledger.append(ledger_row(ids(), team_id, uid, "RCP_SANS" if kind == "rcp_sans" else "RCP_AVEC",
                                               day, None, cases, "meeting", mid))
        if len(m_rows) >= BATCH or mi == n["meetings"] - 1:
            _flush(Meeting, m_rows, MeetingInvitee, inv_rows, MeetingCase, case_rows)
    w.counts["meetings"] = n["meetings"]


def care_plans(w: World) -> None:
    """PPS: one open plan per patient; problems, objectives, actions, reviews (all encrypted)."""
    n = w.n
    plan_rows, part_rows, prob_rows, obj_rows, act_rows, rev_rows, revp_rows = [], [], [], [], [], [], []
    plan_counter: dict[int, int] = {}
    for pi in range(n["plans"]):
        ti = pi % n["teams"]
        pool = w.patients_by_team.get(ti, [])
        number = plan_counter.get(ti, 0)
        if number < len(pool):
            plan_counter[ti] = number + 1
            _care_plan(w, ti, pi, number, pool[number], plan_rows, part_rows, prob_rows, obj_rows, act_rows,
                       rev_rows, revp_rows)
        if len(plan_rows) >= BATCH or pi == n["plans"] - 1:
            _flush(CarePlan, plan_rows, CarePlanParticipant, part_rows, CarePlanProblem, prob_rows,
                   CarePlanObjective, obj_rows, CarePlanAction, act_rows, CarePlanReview, rev_rows,
                   CarePlanReviewParticipant, revp_rows)
    w.counts["pps"] = sum(plan_counter.values())


def _care_plan(w: World, ti: int, pi: int, number: int, pid, plan_rows, part_rows, prob_rows, obj_rows, act_rows,
               rev_rows, revp_rows) -> None:
    ids = w.ids
    team_id, plan_id = w.teams[ti]["id"], ids()
    team_members = w.members[ti]
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
                      "created_by_id": coord, **w.stamp})
    parts = list(dict.fromkeys([coord, team_members[(number + 1) % len(team_members)]]))
    part_rows += [{"plan_id": plan_id, "user_id": u} for u in parts]
    for r in range(2):
        prob_id, obj_id, act_id = ids(), ids(), ids()
        prob_rows.append({"id": prob_id, "plan_id": plan_id, "rank": r + 1,
                          "category": ("health", "autonomy")[r], "patient_priority": r == 0,
                          "uncertain": False, **w.stamp,
                          "label_enc": encrypt_text(pid, "care_plan_problem", "label", prob_id,
                                                    ("Risque de chute", "Isolement")[r])})
        obj_rows.append({"id": obj_id, "problem_id": prob_id, "plan_id": plan_id, "position": 1, **w.stamp,
                         "text_enc": encrypt_text(pid, "care_plan_objective", "text", obj_id,
                                                  "Aucune chute dans les 6 mois"),
                         "criterion_enc": encrypt_text(pid, "care_plan_objective", "criterion", obj_id,
                                                       "Nombre de chutes")})
        act_rows.append({"id": act_id, "objective_id": obj_id, "plan_id": plan_id, "position": 1,
                         "owner_kind": "member", "owner_user_id": parts[-1], "volet": "care",
                         "due_on": opened + timedelta(days=60), **w.stamp,
                         "what_enc": encrypt_text(pid, "care_plan_action", "what", act_id,
                                                  "Séances de kinésithérapie"),
                         "when_enc": encrypt_text(pid, "care_plan_action", "when", act_id,
                                                  "2 fois par semaine")})
    for u in parts:
        w.ledger.append(ledger_row(ids(), team_id, u, "PPS_INIT", opened, None, 1, "pps", plan_id))
    if pi % 2 == 0:
        rid = ids()
        review_on = opened + timedelta(days=20)
        rev_rows.append({"id": rid, "plan_id": plan_id, "status": "validated", "review_on": review_on,
                         "version_number": 2, "validated_at": _at(review_on), "created_by_id": coord,
                         "outcome_enc": encrypt_text(pid, "care_plan_review", "outcome", rid,
                                                     "Objectifs en bonne voie."), **w.stamp})
        revp_rows += [{"review_id": rid, "user_id": u} for u in parts]
        for u in parts:
            w.ledger.append(ledger_row(ids(), team_id, u, "PPS_REVUE", review_on, None, 1, "pps_review", rid))


def protocols(w: World) -> None:
    """Protocols (validated, with roles and authors) and their writing time in the ledger."""
    n, ids = w.n, w.ids
    pr_rows, role_rows, auth_rows = [], [], []
    for q in range(n["protocols"]):
        ti = q % n["teams"]
        team_id = w.teams[ti]["id"]
        prid = ids()
        validated = REFERENCE_DATE - timedelta(days=100 + q % 500)
        pr_rows.append({"id": prid, "team_id": team_id, "title": PROTOCOL_TITLES[q % len(PROTOCOL_TITLES)],
                        "theme": "Parcours", "problem": "Coordination insuffisante entre professionnels.",
                        "population": "Patients adultes de la patientèle de l'équipe.",
                        "steps_json": '["Repérage", "Évaluation", "Suivi partagé"]', "status": "validated",
                        "version": 1, "validated_on": validated, "next_review_on": validated + timedelta(days=730),
                        "created_by_id": w.members[ti][0], **w.stamp})
        for s, prof in enumerate(("medecin_generaliste", "infirmier", "pharmacien")):
            role_rows.append({"id": ids(), "protocol_id": prid, "profession_code": prof, "sort": s,
                              "description": "Rôle décrit dans le protocole."})
        for u in w.members[ti][:2]:
            auth_rows.append({"protocol_id": prid, "user_id": u})
            w.ledger.append(ledger_row(ids(), team_id, u, "PROTO_REDAC", validated, 120, 0, "protocol_writing", prid))
    _flush(Protocol, pr_rows, ProtocolRole, role_rows, ProtocolAuthor, auth_rows)
    w.counts["protocols"] = n["protocols"]


def tasks(w: World) -> None:
    """Five tasks per professional ("mes tâches"), one in two about a patient (encrypted detail)."""
    task_rows = []
    for i, u in enumerate(w.users):
        ti = i % w.n["teams"]
        pool = w.patients_by_team.get(ti, [])
        for j in range(5):
            tid = w.ids()
            pid = pool[(i + j) % len(pool)] if pool and j % 2 == 0 else None
            task_rows.append({"id": tid, "team_id": w.teams[ti]["id"], "owner_id": u.id, "patient_id": pid,
                              "title": "Suite de la RCP" if pid else "Préparer la réunion d'équipe",
                              "detail_enc": encrypt_text(pid, "task", "detail", tid, "Appeler l'infirmière.")
                              if pid else None, "detail_plain": None if pid else "Ordre du jour à envoyer.",
                              "due_on": REFERENCE_DATE + timedelta(days=j * 7 - 7),
                              "status": ("open", "open", "in_progress", "done", "open")[j],
                              "created_by_id": u.id, **w.stamp})
    _insert(Task, task_rows)
    w.counts["tasks"] = len(task_rows)


def ledger(w: World) -> None:
    """Fill the ledger to its target with hand-logged coordination work (no source object), then insert it."""
    n = w.n
    manual_types = ["COORD_AUTRE", "PROJET_SANTE", "PROTO_MEO"]
    i = 0
    while len(w.ledger) < n["ledger"]:
        ti = i % n["teams"]
        uid = w.members[ti][(i // n["teams"]) % len(w.members[ti])]
        kind = manual_types[i % 3]
        if i % 7 == 0 and w.teams[ti]["legal_form"] == "association_1901":
            kind = "PREV_ETP"
        w.ledger.append(ledger_row(w.ids(), w.teams[ti]["id"], uid, kind, REFERENCE_DATE - timedelta(days=1 + i % 729),
                                   60, 4 if kind == "PREV_ETP" else 0, None, None, label="Réunion de coordination"))
        i += 1
    rows = w.ledger[: max(n["ledger"], 1)]
    for j, row in enumerate(rows):
        row["status"] = "to_validate" if j % 10 == 0 else "validated"
        if row["status"] == "validated":
            row["validated_at"] = REFERENCE_NOW
    _insert(LedgerEntry, rows)
    w.counts["ledger"] = len(rows)


def claims(w: World) -> None:
    """Funding: envelopes and two years of claims per team through the funding services (previous year
    submitted, current year draft), then one `demo.region` audit event, and commit."""
    year = REFERENCE_DATE.year
    for y in (year - 1, year):
        funding.ensure_example_grid(y)
    _insert(Envelope, [{"id": w.ids(), "team_id": t["id"], "year": y, "amount": DEFAULT_ENVELOPE, **w.stamp}
                       for t in w.teams for y in (year - 1, year)])
    db.session.flush()
    team_objs = {t.id: t for t in db.session.execute(sa.select(Team)).scalars()}
    count = 0
    with _seeded_uuid4(w.ids):  # the services' uuid4() ids (claims, audit rows) come from the seed too
        for ti, t in enumerate(w.teams):
            admin = db.session.get(User, w.members[ti][0])
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
    forget_cached_keys()
    audit.record("demo.region", details={"seed": w.seed, "factor": w.factor})
    db.session.commit()
    w.counts["claims"] = count


STEPS = (professionals, teams, patients, meetings, care_plans, protocols, tasks, ledger, claims)


@contextlib.contextmanager
def _seeded_uuid4(ids):
    """The services' uuid4() ids and utc_now() timestamps (claims, snapshots) come from the seed/reference date."""
    original, original_now = uuid.uuid4, funding.utc_now
    uuid.uuid4 = ids
    funding.utc_now = lambda: REFERENCE_NOW
    try:
        yield
    finally:
        uuid.uuid4, funding.utc_now = original, original_now


def encrypt_text(patient_id, table: str, column: str, row_id, text: str | None) -> bytes | None:
    """`crypto_service.encrypt_text` for a data key created in this run: version 1, taken from the request cache
    through the public `data_key` (the service's own version lookup would query the key row, which the bulk
    path has not inserted yet). The AES-GCM key schedule is built once per patient."""
    if text is None:
        return None
    version, dek = data_key(patient_id, 1)
    cached = _AEADS.get(patient_id)
    if cached is None or cached[0] is not dek:
        cached = _AEADS[patient_id] = (dek, AESGCM(dek))
    return crypto.encrypt(cached[1], version, text.encode("utf-8"),
                          crypto.aad_for(table, column, row_id, patient_id))


def ledger_row(eid, team_id, user_id, kind, day, minutes, patients, source_type, source_id, label=None) -> dict:
    return {"id": eid, "team_id": team_id, "user_id": user_id, "action_type": kind, "performed_on": day,
            "duration_minutes": minutes, "patient_count": patients, "source_type": source_type,
            "source_id": source_id, "label": label, "status": "validated", "created_by_id": user_id,
            "validated_by_id": None, "validated_at": None, "created_at": REFERENCE_NOW, "updated_at": REFERENCE_NOW}


def _row(obj) -> dict:
    return {c.key: getattr(obj, c.key) for c in sa.inspect(type(obj)).mapper.column_attrs
            if getattr(obj, c.key) is not None or c.key in ("id",)}


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
