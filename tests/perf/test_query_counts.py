"""Query counts of the main pages stay the same when the data grows 100× (no N+1).

Each test builds one unit of the page's kind of data, loads the page twice (the first load warms the
per-process caches: reference data, grids, translations) and counts the SQL statements of the second load
(`before_cursor_execute` on `db.engine`); then adds 99 more units and counts again. The counts must be equal.
On a mismatch the assertion message lists the statements whose number changed — the N+1 to fix.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from esp_coord.core.extensions import db
from esp_coord.demo.region import REFERENCE_NOW, encrypt_text, ledger_row

GROWTH = 100


class QueryCounter:
    def __init__(self):
        self.statements: list[str] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append(" ".join(statement.split()))

    def __enter__(self):
        sa.event.listen(db.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc):
        sa.event.remove(db.engine, "before_cursor_execute", self)


def count(client, url: str) -> list[str]:
    resp = client.get(url)
    assert resp.status_code == 200, (url, resp.status_code)
    with QueryCounter() as qc:
        resp = client.get(url)
    assert resp.status_code == 200, (url, resp.status_code)
    return qc.statements


def explain(small: list[str], big: list[str]) -> str:
    a, b = Counter(small), Counter(big)
    diff = [(b[s] - a[s], s[:300]) for s in set(a) | set(b) if a[s] != b[s]]
    lines = [f"{len(small)} statements with 1 unit, {len(big)} with {GROWTH}:"]
    lines += [f"  {d:+d} × {s}" for d, s in sorted(diff, reverse=True)[:8]]
    return "\n".join(lines)


# ------------------------------------------------------------------ builders (bulk, same rows as esp_coord.demo.region)
def _stamp():
    from esp_coord.core.time import utc_now

    now = utc_now()
    return {"created_at": now, "updated_at": now}


_HASH: list[str] = []


def _user(profession: str):
    """Like f.user() but with one argon2 hash for the whole module (the tests log in through f.login)."""
    from esp_coord.auth.models import User
    from esp_coord.auth.passwords import hash_password
    from esp_coord.auth.totp import new_secret, set_secret
    from esp_coord.core.time import utc_now

    if not _HASH:
        _HASH.append(hash_password("correct horse battery staple 42"))
    user = User(id=uuid.uuid4(), email=f"perf-{uuid.uuid4().hex[:12]}@example.org", first_name="Alex",
                last_name="Testeur", profession_code=profession, password_hash=_HASH[0], totp_enabled_at=utc_now())
    set_secret(user, new_secret())
    db.session.add(user)
    db.session.flush()
    return user


class World:
    def __init__(self, f):
        self.f = f
        self.team = f.team()
        self.users = [_user(p) for p in ("medecin_generaliste", "infirmier", "pharmacien", "masseur_kinesitherapeute")]
        for u, role in zip(self.users, ("admin", "coordinator", "member", "member"), strict=True):
            f.member(self.team, u, role)
        self.me = self.users[0]
        self.n = 0
        db.session.commit()

    def patients(self, k: int) -> list[uuid.UUID]:
        from esp_coord.patients.crypto_service import create_patient_key
        from esp_coord.patients.key_store import PatientKey
        from esp_coord.patients.models import Patient, PatientFollower, PatientNameIndex, PatientNote
        from esp_coord.patients.services import birth_date_token, birth_year_token, name_tokens

        rows, keys, toks, fols, notes, out = [], [], [], [], [], []
        for _ in range(k):
            self.n += 1
            pid, tid = uuid.uuid4(), self.team.id
            key = create_patient_key(pid)
            db.session.expunge(key)
            keys.append({c: getattr(key, c) for c in ("id", "patient_id", "version", "master_key_id", "wrapped_dek",
                                                      "created_at")} | {"id": uuid.uuid4()})
            birth = date(1940, 1, 1) + timedelta(days=self.n)
            ident = {"birth_name": f"Guillou{self.n}", "first_names": "Marguerite", "birth_date": birth.isoformat(),
                     "sex": "F", "commune": "Clisson"}
            row = {"id": pid, "team_id": tid, "created_by_id": self.me.id, "last_activity_at": REFERENCE_NOW,
                   "birth_date_index": birth_date_token(tid, birth), "birth_year_index": birth_year_token(tid, 1940),
                   **_stamp()}
            row |= {f"{c}_enc": encrypt_text(pid, "patient", c, pid, v) for c, v in ident.items()}
            rows.append(row)
            toks += [{"id": uuid.uuid4(), "patient_id": pid, "team_id": tid, "token": t}
                     for t in name_tokens(tid, ident["birth_name"], ident["first_names"])]
            fols.append({"patient_id": pid, "user_id": self.users[1].id})
            nid = uuid.uuid4()
            notes.append({"id": nid, "patient_id": pid, "team_id": tid, "author_id": self.me.id, "category": "clinical",
                          "version": 1, "created_at": REFERENCE_NOW,
                          "body_enc": encrypt_text(pid, "patient_note", "body", nid, "Passage à domicile.")})
            out.append(pid)
        for model, data in ((Patient, rows), (PatientKey, keys), (PatientNameIndex, toks),
                            (PatientFollower, fols), (PatientNote, notes)):
            db.session.execute(sa.insert(model), data)
        return out

    def notes(self, patient_id, k: int):
        from esp_coord.patients.models import PatientNote

        rows = []
        for _ in range(k):
            nid = uuid.uuid4()
            rows.append({"id": nid, "patient_id": patient_id, "team_id": self.team.id, "author_id": self.me.id,
                         "category": "clinical", "version": 1, "created_at": REFERENCE_NOW,
                         "body_enc": encrypt_text(patient_id, "patient_note", "body", nid, "Visite.")})
        db.session.execute(sa.insert(PatientNote), rows)

    def meetings(self, k: int, cases: int = 1) -> list[uuid.UUID]:
        from esp_coord.meetings.models import Meeting, MeetingInvitee

        out, ms, invs = [], [], []
        for _ in range(k):
            self.n += 1
            mid = uuid.uuid4()
            starts = REFERENCE_NOW + timedelta(days=self.n % 300 - 100)
            ms.append({"id": mid, "team_id": self.team.id, "kind": "rcp_sans", "status": "scheduled",
                       "starts_at": starts, "ends_at": starts + timedelta(minutes=90), "place_kind": "practice",
                       "place": "Cabinet", "organiser_id": self.me.id, "uid": f"rcp-{mid}@esp-coord", "sequence": 0,
                       "feed_changed_at": REFERENCE_NOW, "minutes_version": 1, **_stamp()})
            invs += [{"id": uuid.uuid4(), "meeting_id": mid, "user_id": u.id, "response": "accepted",
                      "responded_at": REFERENCE_NOW, "present": j < 3,
                      "checked_in_at": starts if j < 3 else None, "check_in_method": "self" if j < 3 else None,
                      **_stamp()} for j, u in enumerate(self.users)]
            out.append(mid)
        db.session.execute(sa.insert(Meeting), ms)
        db.session.execute(sa.insert(MeetingInvitee), invs)
        for mid in out:
            self.cases(mid, cases)
        return out

    def cases(self, meeting_id, k: int):
        from esp_coord.meetings.models import MeetingCase

        if not k:
            return
        rows = []
        for pid in self.patients(k):
            cid = uuid.uuid4()
            rows.append({"id": cid, "meeting_id": meeting_id, "team_id": self.team.id, "patient_id": pid,
                         "presenter_id": self.me.id, "created_by_id": self.me.id, "position": self.n, **_stamp(),
                         "question_enc": encrypt_text(pid, "meeting_case", "question", cid, "Que faire ?")})
        db.session.execute(sa.insert(MeetingCase), rows)

    def tasks(self, k: int):
        from esp_coord.tasks.models import Task

        rows = []
        for pid in self.patients(k):
            tid = uuid.uuid4()
            rows.append({"id": tid, "team_id": self.team.id, "owner_id": self.me.id, "patient_id": pid,
                         "title": "Suite de la RCP", "status": "open", "created_by_id": self.me.id,
                         "due_on": date.today() + timedelta(days=3), **_stamp(),
                         "detail_enc": encrypt_text(pid, "task", "detail", tid, "Appeler.")})
        db.session.execute(sa.insert(Task), rows)

    def ledger(self, k: int):
        from esp_coord.activity.models import LedgerEntry

        rows = []
        for _ in range(k):
            self.n += 1
            rows.append(ledger_row(uuid.uuid4(), self.team.id, self.users[self.n % 4].id, "COORD_AUTRE",
                               date.today() - timedelta(days=self.n % 300), 60, 0, None, None, label="Coordination"))
        db.session.execute(sa.insert(LedgerEntry), rows)

    def plans(self, k: int):
        from esp_coord.care_plans.models import CarePlan, CarePlanParticipant, CarePlanProblem, CarePlanReview

        plans, parts, probs, revs = [], [], [], []
        for pid in self.patients(k):
            self.n += 1
            plan_id, prob = uuid.uuid4(), uuid.uuid4()
            plans.append({"id": plan_id, "team_id": self.team.id, "patient_id": pid, "number": self.n,
                          "status": "active", "coordinator_id": self.me.id, "opened_on": date.today(),
                          "next_review_on": date.today() + timedelta(days=self.n % 200 - 50),
                          "trigger_enc": encrypt_text(pid, "care_plan", "trigger", plan_id, "Chute"),
                          "current_version": 1, "consent_on": date.today(), "consent_method": "oral",
                          "consent_scope": "care_and_help", "created_by_id": self.me.id, **_stamp()})
            parts.append({"plan_id": plan_id, "user_id": self.users[1].id})
            probs.append({"id": prob, "plan_id": plan_id, "rank": 1, "category": "health", "patient_priority": False,
                          "uncertain": False, **_stamp(),
                          "label_enc": encrypt_text(pid, "care_plan_problem", "label", prob, "Chutes")})
            revs.append({"id": uuid.uuid4(), "plan_id": plan_id, "status": "validated", "review_on": date.today(),
                         "version_number": 2, **_stamp()})
        for model, data in ((CarePlan, plans), (CarePlanParticipant, parts), (CarePlanProblem, probs),
                            (CarePlanReview, revs)):
            db.session.execute(sa.insert(model), data)

    def protocols(self, k: int):
        from esp_coord.protocols.models import Protocol, ProtocolAuthor, ProtocolRole

        prs, roles, authors = [], [], []
        for _ in range(k):
            self.n += 1
            prid = uuid.uuid4()
            prs.append({"id": prid, "team_id": self.team.id, "title": f"Protocole {self.n}", "status": "validated",
                        "version": 1, "validated_on": date.today(), "steps_json": "[]",
                        "next_review_on": date.today() + timedelta(days=700), "created_by_id": self.me.id,
                        **_stamp()})
            roles.append({"id": uuid.uuid4(), "protocol_id": prid, "profession_code": "infirmier",
                          "description": "Suivi", "sort": 0})
            authors.append({"protocol_id": prid, "user_id": self.me.id})
        for model, data in ((Protocol, prs), (ProtocolRole, roles), (ProtocolAuthor, authors)):
            db.session.execute(sa.insert(model), data)

    def claims(self, k: int):
        from esp_coord.funding.models import Claim

        rows = []
        year = date.today().year
        for _ in range(k):
            self.n += 1
            rows.append({"id": uuid.uuid4(), "team_id": self.team.id, "period_kind": "month",
                         "period_start": date(year, 1, 1),
                         "period_end": date(year, 1, 1) + timedelta(days=self.n % 360),
                         "status": "draft", "created_by_id": self.me.id, **_stamp()})
        db.session.execute(sa.insert(Claim), rows)
        self.ledger(k)


def _dashboard(w, k):
    w.meetings(k)
    w.tasks(k)
    w.plans(k)


PAGES = {
    # name: (builder(world, k units), url(world))
    "dashboard": (_dashboard, lambda w: "/"),
    "meetings_index": (lambda w, k: w.meetings(k), lambda w: "/reunions/"),
    "meeting_page": (lambda w, k: w.cases(w.the_meeting, k), lambda w: f"/reunions/{w.team.id}/{w.the_meeting}"),
    "patient_page": (lambda w, k: w.notes(w.the_patient, k), lambda w: f"/patients/{w.team.id}/{w.the_patient}"),
    "patients_list": (lambda w, k: w.patients(k), lambda w: f"/patients/{w.team.id}/"),
    "my_tasks": (lambda w, k: w.tasks(k), lambda w: "/taches/"),
    "team_activity": (lambda w, k: w.ledger(k), lambda w: f"/actions/equipe/{w.team.id}"),
    "pps_dashboard": (lambda w, k: w.plans(k), lambda w: f"/pps/equipe/{w.team.id}"),
    "protocols_index": (lambda w, k: w.protocols(k), lambda w: "/protocoles/"),
    "protocols_team": (lambda w, k: w.protocols(k), lambda w: f"/protocoles/{w.team.id}/"),
    "funding_home": (lambda w, k: w.claims(k), lambda w: "/financement/"),
    "funding_team": (lambda w, k: w.claims(k), lambda w: f"/financement/equipe/{w.team.id}"),
}

# Fixed while measuring: patients list and PPS dashboard (crypto_service.prefetch_keys: one query for the page's
# data keys; PPS dashboard also committed before rendering, which re-loaded every plan one by one).
# N+1 reported to the integrator (issue 10 report, docs/benchmarks.md "Query counts"); strict: the test turns red
# as soon as the page is fixed, so the mark is removed then.
_KEY = "one patient_key SELECT per patient (fix: call crypto_service.prefetch_keys(ids) before decrypting)"
_AUDIT = "one hash-chained audit_event per patient row read (5 statements: 2 SELECT + 2 UPDATE audit_head, 1 INSERT)"
# Then fixed: "mes tâches" and the meeting page (prefetch_keys + audit.record_many: one chain step per page).
XFAIL: dict[str, str] = {}


@pytest.mark.parametrize("page", [pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=XFAIL[p]))
                                  if p in XFAIL else p for p in PAGES])
def test_query_count_constant_when_data_grows(page, app, client, f):
    build, url_of = PAGES[page]
    w = World(f)
    w.the_meeting = w.meetings(1, cases=0)[0]
    w.the_patient = w.patients(1)[0]
    build(w, 1)
    db.session.commit()
    f.login(client, w.me)
    url = url_of(w)
    small = count(client, url)
    build(w, GROWTH - 1)
    db.session.commit()
    big = count(client, url)
    assert len(small) == len(big), f"{page} {url}\n" + explain(small, big)
