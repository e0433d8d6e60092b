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

from esp_coord.extensions import db
from esp_coord.region_demo import REFERENCE_NOW, _entry, encrypt_text

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


# ------------------------------------------------------------------ builders (same rows as region_demo)
class World:
    def __init__(self, f):
        self.f = f
        self.team = f.team()
        self.users = [f.user(p) for p in ("medecin_generaliste", "infirmier", "pharmacien", "masseur_kinesitherapeute")]
        for u, role in zip(self.users, ("admin", "coordinator", "member", "member"), strict=True):
            f.member(self.team, u, role)
        self.me = self.users[0]
        self.patients = []
        self.first_patient = None
        db.session.commit()

    def patient(self):
        from esp_coord.patients.services import PatientData, add_note, create_patient

        i = len(self.patients)
        p = create_patient(self.team, PatientData(birth_name=f"Guillou{i}", first_names="Marguerite",
                                                  birth_date=date(1940, 1, 1) + timedelta(days=i), sex="F",
                                                  commune="Clisson", follower_ids=(self.users[1].id,)),
                           actor=self.me)
        add_note(p, category="clinical", body="Passage à domicile.", actor=self.me)
        self.patients.append(p)
        self.first_patient = self.first_patient or p
        return p

    def meeting(self, cases: int = 1):
        from esp_coord.meetings.models import Meeting, MeetingCase, MeetingInvitee

        mid = uuid.uuid4()
        starts = REFERENCE_NOW + timedelta(days=len(self.patients) % 20 + 1)
        db.session.add(Meeting(id=mid, team_id=self.team.id, kind="rcp_sans", status="scheduled", starts_at=starts,
                               ends_at=starts + timedelta(minutes=90), place_kind="practice", place="Cabinet",
                               organiser_id=self.me.id, uid=f"rcp-{mid}@esp-coord", sequence=0,
                               feed_changed_at=REFERENCE_NOW))
        db.session.flush()
        for j, u in enumerate(self.users):
            db.session.add(MeetingInvitee(meeting_id=mid, user_id=u.id, response="accepted", present=j < 3))
        for _ in range(cases):
            self.case(mid)
        return mid

    def case(self, meeting_id):
        from esp_coord.meetings.models import MeetingCase

        p = self.patient()
        cid = uuid.uuid4()
        db.session.add(MeetingCase(id=cid, meeting_id=meeting_id, team_id=self.team.id, patient_id=p.id,
                                   presenter_id=self.me.id, created_by_id=self.me.id, position=len(self.patients),
                                   question_enc=encrypt_text(p.id, "meeting_case", "question", cid, "Que faire ?")))

    def task(self):
        from esp_coord.tasks.services import create_task

        p = self.patient()
        create_task(team_id=self.team.id, owner_id=self.me.id, title="Suite de la RCP", detail="Appeler",
                    patient_id=p.id, due_on=date.today() + timedelta(days=3), actor=self.me)

    def ledger(self):
        from esp_coord.activity.models import LedgerEntry

        n = len(self.patients)
        self.patients.append(None)
        db.session.execute(sa.insert(LedgerEntry), [
            _entry(uuid.uuid4(), self.team.id, self.users[n % 4].id, "COORD_AUTRE",
                   date.today() - timedelta(days=n % 300), 60, 0, None, None, label="Coordination")])

    def plan(self):
        from esp_coord.care_plans.models import CarePlan, CarePlanParticipant, CarePlanProblem, CarePlanReview

        p = self.patient()
        pid = uuid.uuid4()
        db.session.add(CarePlan(id=pid, team_id=self.team.id, patient_id=p.id, number=len(self.patients),
                                status="active", coordinator_id=self.me.id, opened_on=date.today(),
                                next_review_on=date.today() + timedelta(days=len(self.patients)),
                                trigger_enc=encrypt_text(p.id, "care_plan", "trigger", pid, "Chute"),
                                current_version=1, consent_on=date.today(), consent_method="oral",
                                consent_scope="care_and_help", created_by_id=self.me.id))
        db.session.flush()
        db.session.add(CarePlanParticipant(plan_id=pid, user_id=self.users[1].id))
        prob = uuid.uuid4()
        db.session.add(CarePlanProblem(id=prob, plan_id=pid, rank=1, category="health",
                                       label_enc=encrypt_text(p.id, "care_plan_problem", "label", prob, "Chutes")))
        rid = uuid.uuid4()
        db.session.add(CarePlanReview(id=rid, plan_id=pid, status="validated", review_on=date.today(),
                                      version_number=2))

    def protocol(self):
        from esp_coord.protocols.models import Protocol, ProtocolAuthor, ProtocolRole

        prid = uuid.uuid4()
        db.session.add(Protocol(id=prid, team_id=self.team.id, title=f"Protocole {len(self.patients)}",
                                status="validated", version=1, validated_on=date.today(),
                                next_review_on=date.today() + timedelta(days=700), created_by_id=self.me.id))
        db.session.flush()
        db.session.add(ProtocolRole(protocol_id=prid, profession_code="infirmier", description="Suivi", sort=0))
        db.session.add(ProtocolAuthor(protocol_id=prid, user_id=self.me.id))
        self.patients.append(None)

    def claim(self):
        from esp_coord.funding.models import Claim

        n = len(self.patients)
        self.patients.append(None)
        db.session.add(Claim(team_id=self.team.id, period_kind="month", period_start=date(date.today().year, 1, 1),
                             period_end=date(date.today().year, 1, 1) + timedelta(days=n), status="draft",
                             created_by_id=self.me.id))
        self.ledger()


PAGES = {
    # name: (builder, url(world))
    "dashboard": (lambda w: (w.meeting(), w.task(), w.plan()), lambda w: "/"),
    "meetings_index": (lambda w: w.meeting(), lambda w: "/reunions/"),
    "meeting_page": (lambda w: w.case(w.the_meeting), lambda w: f"/reunions/{w.team.id}/{w.the_meeting}"),
    "patient_page": (lambda w: w.note(), lambda w: f"/patients/{w.team.id}/{w.first_patient.id}"),
    "patients_list": (lambda w: w.patient(), lambda w: f"/patients/{w.team.id}/"),
    "my_tasks": (lambda w: w.task(), lambda w: "/taches/"),
    "team_activity": (lambda w: w.ledger(), lambda w: f"/actions/equipe/{w.team.id}"),
    "pps_dashboard": (lambda w: w.plan(), lambda w: f"/pps/equipe/{w.team.id}"),
    "protocols_index": (lambda w: w.protocol(), lambda w: "/protocoles/"),
    "protocols_team": (lambda w: w.protocol(), lambda w: f"/protocoles/{w.team.id}/"),
    "funding_home": (lambda w: w.claim(), lambda w: "/financement/"),
    "funding_team": (lambda w: w.claim(), lambda w: f"/financement/equipe/{w.team.id}"),
}

XFAIL: dict[str, str] = {}


@pytest.mark.parametrize("page", list(PAGES))
def test_query_count_constant_when_data_grows(page, app, client, f):
    if page in XFAIL:
        pytest.xfail(XFAIL[page])
    build, url_of = PAGES[page]
    w = World(f)
    if page == "meeting_page":
        w.the_meeting = w.meeting(cases=0)
    if page == "patient_page":
        from esp_coord.patients.services import add_note

        w.patient()
        w.note = lambda: add_note(w.first_patient, category="clinical", body="Visite.", actor=w.me)
    build(w)
    db.session.commit()
    f.login(client, w.me)
    url = url_of(w)
    small = count(client, url)
    for _ in range(GROWTH - 1):
        build(w)
    db.session.commit()
    big = count(client, url)
    assert len(small) == len(big), f"{page} {url}\n" + explain(small, big)
