"""ONE table of expected access per endpoint (and method), plus the demo world and URL resolver shared by the
authorization matrix, the form fuzzer and the header tests.

Access levels (who may use the route; everyone else is refused):
  public                 anyone, logged in or not (login pages, invitation, health, static)
  token                  anyone holding the secret URL token (calendar feeds)
  any                    any logged-in user, association viewer included (own account, own lists)
  professional           any logged-in user except the association viewer (403 for it)
  self                   any logged-in user, on an object resolved to one of their own (sessions, documents)
  member                 a member of the team (another team's member and the association viewer: 404)
  member_or_association  team members and the regional association viewer (aggregates, `team_read_access`)
  coordinator / admin    that role or higher in the team (lower roles: 403; non-members: 404)
  association            the regional association viewer (or platform admin) only (others: 403)
  platform_admin         platform administrators only (others: 403; nobody in the matrix is one)

`patient_data=True` marks routes exposing patient-level data: the association viewer must never get a 2xx.
`deny` is the status for a logged-in user below the level (403 unless the feature hides existence: 404).
`roles` overrides the expectation of single roles ("allow" / a status code) with the reason in `why`.
A route (endpoint, method) missing from RULES fails the matrix with its name: add it here on purpose.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa

ROLES = ("anonymous", "other_team", "member", "coordinator", "admin", "association")
# demo users playing each role on the "clap" team
ROLE_USERS = {"other_team": "speech", "member": "pharmacist", "coordinator": "nurse", "admin": "gp",
              "association": "association"}
LEVELS = {"public", "token", "any", "professional", "self", "member", "member_or_association", "coordinator",
          "admin", "association", "platform_admin"}


@dataclass(frozen=True)
class Rule:
    access: str
    patient_data: bool = False
    deny: int = 403
    roles: dict = field(default_factory=dict)
    why: str = ""


def R(access, patient_data=False, deny=403, roles=None, why=""):  # noqa: N802 - table constructor
    assert access in LEVELS, access
    return Rule(access, patient_data, deny, dict(roles or {}), why)


P = dict(patient_data=True)
OWNER_404 = "object-level check: only its owner/organiser/presenter may act, others get a 404"

RULES: dict[str, Rule] = {
    # --- core / auth
    "static": R("public"),
    "dashboard.health": R("public"),
    "dashboard.index": R("any"),
    "auth.login": R("public"),
    "auth.totp": R("public"),
    "auth.enrol_totp": R("public"),
    "auth.accept_invitation": R("public", roles={r: 403 for r in ("other_team", "member", "coordinator", "admin",
                                                                    "association")},
                                why="an invitation is accepted while logged out; a logged-in user gets 403"),
    "auth.logout": R("any"),
    "auth.account": R("any"),
    "auth.change_password": R("any"),
    "auth.reauth": R("any"),
    "auth.recovery_codes": R("any"),
    "auth.end_other_session": R("self"),
    "auth.end_other_sessions": R("any"),
    "auth.invitations": R("coordinator"),
    "auth.revoke_invitation": R("coordinator"),
    "auth.outbox": R("any", why="development/testing outbox only (404 when MAIL_BACKEND != outbox, 403 in "
                                "production unless platform admin)"),
    "auth.outbox_message": R("any", why="as auth.outbox"),
    # --- teams
    "teams.index": R("any"),
    "teams.new": R("professional"),
    "teams.show": R("member_or_association"),
    "teams.edit": R("admin"),
    "teams.site_new": R("admin"),
    "teams.site_edit": R("admin"),
    "teams.site_delete": R("admin"),
    "teams.member_role": R("admin"),
    "teams.member_flags": R("admin"),
    "teams.member_end": R("admin"),
    "teams.my_profile": R("any"),
    "teams.profile": R("any", roles={"other_team": 404}, why="a professional's profile is visible to people "
                                                            "sharing a team with them and to the association"),
    "teams.professions": R("platform_admin"),
    "teams.profession_edit": R("platform_admin"),
    # --- activity ledger
    "activity.mine": R("any"),
    "activity.new": R("any"),
    "activity.team": R("coordinator"),
    "activity.export": R("coordinator"),
    "activity.set_status": R("coordinator"),
    "activity.bulk": R("coordinator"),
    "activity.delete": R("member"),
    # --- tasks
    "tasks.mine": R("any"),
    "tasks.team": R("coordinator", **P),
    "tasks.new": R("member", **P),
    "tasks.set_status": R("member", **P),
    # --- patients
    "patients.index": R("any", **P, roles={"association": "allow"},
                        why="lists the user's own teams; the association viewer has none (empty page)"),
    "patients.team_index": R("member", **P),
    "patients.create": R("member", **P),
    "patients.show": R("member", **P),
    "patients.edit": R("member", **P),
    "patients.note_new": R("member", **P),
    "patients.note_edit": R("member", **P, roles={"member": 403, "admin": 403},
                            why="only the note's author (the coordinator in the demo) edits it; others get 403"),
    "patients.note_history": R("member", **P),
    "patients.note_delete": R("member", **P),
    "patients.information": R("member", **P),
    "patients.consent_new": R("member", **P),
    "patients.consent_withdraw": R("member", **P),
    "patients.consent_attachment": R("member", **P),
    "patients.opposition": R("member", **P),
    "patients.access_history": R("coordinator", **P),
    "patients.export": R("coordinator", **P),
    "patients.erase": R("coordinator", **P),
    # --- meetings (RCP)
    "meetings.index": R("any", **P, roles={"association": "allow"}, why="own teams only; empty for association"),
    "meetings.new_meeting": R("coordinator"),
    "meetings.new_poll": R("coordinator"),
    "meetings.detail": R("member", **P),
    "meetings.edit": R("coordinator"),
    "meetings.cancel": R("coordinator"),
    "meetings.ics": R("member"),
    "meetings.answer": R("member"),
    "meetings.rsvp": R("member"),
    "meetings.close": R("coordinator"),
    "meetings.remind": R("coordinator"),
    "meetings.add_case": R("member", **P),
    "meetings.remove_case": R("coordinator", **P),
    "meetings.check_in": R("member"),
    "meetings.mark_present": R("coordinator"),
    "meetings.attendance_pdf": R("member"),
    "meetings.minutes": R("member", **P),
    "meetings.minutes_general": R("coordinator", **P),
    "meetings.minutes_case": R("coordinator", **P),
    "meetings.minutes_task": R("coordinator", **P),
    "meetings.validate": R("coordinator", **P),
    "meetings.minutes_pdf": R("member", **P),
    # --- calendar feeds
    "calendar_feeds.settings": R("any"),
    "calendar_feeds.regenerate": R("member"),
    "calendar_feeds.regenerate /agenda/jeton": R("any"),
    "calendar_feeds.revoke": R("member"),
    "calendar_feeds.revoke /agenda/jeton/revoquer": R("any"),
    "calendar_feeds.user_feed": R("token"),
    "calendar_feeds.team_feed": R("token"),
    # --- care plans (PPS)
    "care_plans.index": R("any", **P, roles={"association": "allow"}, why="own teams only; empty for association"),
    "care_plans.dashboard": R("member", **P),
    "care_plans.for_patient": R("member", **P),
    "care_plans.show": R("member", **P),
    "care_plans.edit": R("member", **P),
    "care_plans.problem": R("member", **P),
    "care_plans.problem_op": R("member", **P),
    "care_plans.objective": R("member", **P),
    "care_plans.objective_delete": R("member", **P),
    "care_plans.action": R("member", **P),
    "care_plans.action_delete": R("member", **P),
    "care_plans.consent": R("member", **P),
    "care_plans.validate": R("member", **P),
    "care_plans.review_start": R("member", **P),
    "care_plans.review": R("member", **P),
    "care_plans.close": R("member", **P),
    "care_plans.version": R("member", **P),
    "care_plans.compare": R("member", **P),
    "care_plans.pdf": R("member", **P),
    # --- protocols
    "protocols.index": R("any"),
    "protocols.team_library": R("member"),
    "protocols.create": R("member"),
    "protocols.edit": R("member"),
    "protocols.show": R("member"),
    "protocols.validate": R("coordinator"),
    "protocols.start_new_version": R("coordinator"),
    "protocols.archive": R("coordinator"),
    "protocols.version": R("member"),
    "protocols.sheet": R("member"),
    "protocols.upload_document": R("member"),
    "protocols.document": R("member"),
    "protocols.delete_document": R("member"),
    "protocols.add_meeting": R("member"),
    "protocols.adopt": R("coordinator"),
    "protocols.edit_adoption": R("coordinator"),
    "protocols.adoption": R("member"),
    "protocols.add_attestation": R("coordinator"),
    "protocols.include": R("member", **P),
    "protocols.inclusion": R("member", **P),
    "protocols.add_act": R("member", **P),
    "protocols.end": R("member", **P),
    "protocols.patient_inclusions": R("member", **P),
    "protocols.indicators": R("member_or_association"),
    "protocols.indicators_csv": R("member_or_association"),
    # --- funding
    "funding.index": R("any"),
    "funding.team": R("member_or_association"),
    "funding.envelope": R("association", roles={"other_team": 404}, why="team_read_access: non-members 404"),
    "funding.grid": R("any"),
    "funding.grid POST": R("association"),
    "funding.grid_create": R("association"),
    "funding.claim_new": R("coordinator"),
    "funding.claim": R("member_or_association"),
    "funding.claim_submit": R("coordinator"),
    "funding.claim_delete": R("coordinator"),
    "funding.claim_pdf": R("member_or_association"),
    "funding.claim_csv": R("member_or_association"),
    "funding.claim_pay": R("association", roles={"other_team": 404},
                           why="payments/rejections: members 403, non-members 404 (funding._decider)"),
    "funding.claim_reject": R("association", roles={"other_team": 404}, why="as funding.claim_pay"),
    "funding.statement": R("any"),
    "funding.statement_pdf": R("any"),
    "funding.projet": R("member_or_association"),
    "funding.projet_edit": R("coordinator"),
    "funding.projet_pdf": R("member_or_association"),
    "funding.steps": R("member_or_association"),
    "funding.steps POST": R("coordinator", roles={"association": 403},
                            why="the association reads the team's steps (so 403, not 404) but cannot change them"),
    "funding.region": R("association"),
    "funding.region_csv": R("association"),
    "funding.region_export": R("association"),
    # --- reports
    "reports.index": R("any"),
    "reports.annual": R("member_or_association"),
    "reports.annual_pdf": R("member_or_association"),
    "reports.document": R("self"),
    "reports.document_status": R("self"),
    "reports.document_download": R("self"),
    "reports.team_latest": R("member_or_association"),
}


# after these a logged-in client may legitimately be sent to /connexion (no pending login, logged out)
LOGIN_REDIRECT_OK = {"auth.login", "auth.totp", "auth.enrol_totp", "auth.logout"}
# these end or replace sessions: the matrix runs them on a throw-away session
SESSION_CHANGING = {"auth.logout", "auth.end_other_sessions", "auth.end_other_session", "auth.change_password",
                    "auth.login", "auth.totp", "auth.enrol_totp", "auth.accept_invitation", "auth.reauth"}
# state changes that would remove the objects other routes need: run after every other route
RUN_LAST = ("meetings.cancel", "meetings.close", "meetings.validate", "care_plans.close", "protocols.archive",
            "patients.opposition",
            "patients.erase", "funding.claim_delete", "teams.member_end")


def rule_for(endpoint: str, method: str, path: str) -> Rule | None:
    for key in (f"{endpoint} {path}", f"{endpoint} {method}", endpoint):
        if key in RULES:
            return RULES[key]
    return None


def expectation(rule: Rule, role: str) -> str | int:
    """'allow', 'login' (anonymous → /connexion) or the refusal status."""
    if role in rule.roles:
        return rule.roles[role]
    a = rule.access
    if a in ("public", "token"):
        return "allow"
    if role == "anonymous":
        return "login"
    if a in ("any", "self"):
        return "allow"
    if a == "professional":
        return 403 if role == "association" else "allow"
    if a == "platform_admin":
        return rule.deny
    if a == "association":
        return "allow" if role == "association" else rule.deny
    if a == "member_or_association":
        return 404 if role == "other_team" else "allow"
    # team roles
    if role in ("other_team", "association"):
        return 404
    rank = {"member": 1, "coordinator": 2, "admin": 3}
    return "allow" if rank[role] >= rank[a] else rule.deny


# ----------------------------------------------------------------------------------------------------------------
# The demo world: its own app and database (not the per-test cleaned `app` fixture), built once per module.

ENGINE = os.environ.get("ESP_TEST_ENGINE", "sqlite")


def _test_secrets() -> dict:
    keys = json.dumps({"current": "w1", "keys": {"w1": base64.b64encode(secrets.token_bytes(32)).decode()}})
    return {"SECRET_KEY": secrets.token_urlsafe(48), "INDEX_KEY": secrets.token_urlsafe(48), "MASTER_KEYS": keys}


def url_map_app():
    """An app only used to read the URL map at collection time."""
    from esp_coord import create_app
    from esp_coord.core import jobs

    saved = jobs._app
    try:
        return create_app("testing", {**_test_secrets(), "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    finally:
        jobs._app = saved


def route_cases(app):
    """[(endpoint, method, rule)] for every route of the URL map, HEAD/OPTIONS excepted."""
    out = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint, r.rule)):
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, rule))
    return out


class World:
    """The demo data of `esp_coord.demo` (team "clap", team "coteaux", association viewer) plus a few objects
    the demo does not create (invitation, feed tokens, generated documents, protocol document, sessions)."""

    def __init__(self, database_url: str):
        from esp_coord import create_app
        from esp_coord.core import jobs

        saved = jobs._app
        self.app = create_app("testing", {**_test_secrets(), "SQLALCHEMY_DATABASE_URI": database_url,
                                          "MAIL_BACKEND": "outbox"})
        self._saved_jobs_app = saved
        import esp_coord.models  # noqa: F401
        from esp_coord import demo
        from esp_coord.core.extensions import db

        with self.app.app_context():
            db.create_all()
            ctx = demo.run(scale="team", seed=1, echo=lambda *a, **k: None)
            self.users = {k: u.id for k, u in ctx.users.items()}
            self.teams = {k: t.id for k, t in ctx.teams.items()}
            self._extras(ctx)
            db.session.commit()
        self.team_id = self.teams["clap"]

    def close(self):
        from esp_coord.core import jobs
        from esp_coord.core.extensions import db

        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()
        jobs._app = self._saved_jobs_app

    def _extras(self, ctx):
        from esp_coord.auth.models import AuthSession
        from esp_coord.auth.services import create_invitation
        from esp_coord.calendar_feeds import services as feeds
        from esp_coord.core.extensions import db
        from esp_coord.core.keys import token_hash
        from esp_coord.core.time import utc_now
        from esp_coord.protocols.models import Protocol, ProtocolDocument
        from esp_coord.reports.models import GeneratedDocument

        clap = ctx.teams["clap"]
        inv = create_invitation(clap, "invitee@example.org", "member", "Ines", "Invitee", "infirmier",
                                actor=ctx.users["gp"])
        db.session.commit()
        self.invitation_token = inv.plain_token
        self.feed_tokens = {"user": feeds.regenerate(ctx.users["gp"]),
                            "team": feeds.regenerate(ctx.users["gp"], clap.id)}
        now = utc_now()
        self.own_sessions, self.own_docs = {}, {}
        for key, user in ctx.users.items():
            # a second session of each user (for "end one of my other sessions") and a finished document
            s = AuthSession(user_id=user.id, token_hash=token_hash(secrets.token_urlsafe(32)), created_at=now,
                            last_seen_at=now, expires_at=now + self.app.config["SESSION_ABSOLUTE_LIFETIME"],
                            mfa_done=True)
            d = GeneratedDocument(kind="annual_report", owner_id=user.id, team_id=clap.id, status="done",
                                  filename="rapport.pdf", mimetype="application/pdf", data=b"%PDF-1.4\n%%EOF\n",
                                  size=15, finished_at=now)
            db.session.add_all([s, d])
            db.session.flush()
            self.own_sessions[key], self.own_docs[key] = s.id, d.id
        from esp_coord.patients.models import Patient
        from esp_coord.patients.services import record_consent

        patient = db.session.execute(sa.select(Patient).where(Patient.team_id == clap.id, Patient.erased_at.is_(None))
                                     .order_by(Patient.created_at, Patient.id)).scalars().first()
        record_consent(patient, scope="pps", given_on=today(), detail="Formulaire signé", actor=ctx.users["gp"],
                       attachment=b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
        protocol = db.session.execute(sa.select(Protocol).where(Protocol.team_id == clap.id)).scalars().first()
        if protocol is not None:
            db.session.add(ProtocolDocument(protocol_id=protocol.id, title="Annexe", filename="annexe.pdf",
                                            size=15, content=b"%PDF-1.4\n%%EOF\n", uploaded_by_id=ctx.users["gp"].id))
        db.session.flush()

    # -- sessions -------------------------------------------------------------------------------------------
    def login(self, client, role: str):
        """Open a real server-side session for the demo user playing `role` (as tests/factories.py login)."""
        from esp_coord.auth.models import AuthSession
        from esp_coord.core.extensions import db
        from esp_coord.core.keys import token_hash
        from esp_coord.core.time import utc_now

        if role == "anonymous":
            return client
        uid = self.users[ROLE_USERS[role]]
        token = secrets.token_urlsafe(32)
        with self.app.app_context():
            now = utc_now()
            db.session.add(AuthSession(user_id=uid, token_hash=token_hash(token), created_at=now, last_seen_at=now,
                                       expires_at=now + self.app.config["SESSION_ABSOLUTE_LIFETIME"], mfa_done=True))
            db.session.commit()
        with client.session_transaction() as sess:
            sess["sid"] = token
            sess["_user_id"] = str(uid)
            sess["_fresh"] = True
        return client

    def client(self, role: str):
        return self.login(self.app.test_client(), role)

    # -- writes detector ------------------------------------------------------------------------------------
    IGNORED_TABLES = {"audit_event", "audit_head", "auth_session"}

    def snapshot(self) -> dict:
        """Row count and latest updated_at of every table (audit and session tables excepted)."""
        from esp_coord.core.extensions import db

        with self.app.app_context():
            cols = []
            for t in db.metadata.sorted_tables:
                if t.name in self.IGNORED_TABLES:
                    continue
                cols.append(sa.select(sa.func.count()).select_from(t).scalar_subquery().label(f"n_{t.name}"))
                if "updated_at" in t.c:
                    cols.append(sa.select(sa.func.max(t.c.updated_at)).scalar_subquery().label(f"u_{t.name}"))
            row = db.session.execute(sa.select(*cols)).mappings().one()
            db.session.rollback()
            return {k: str(v) for k, v in row.items()}

    # -- URL resolution -------------------------------------------------------------------------------------
    def url_values(self, rule, role: str) -> dict:
        from esp_coord.core.extensions import db

        with self.app.app_context():
            values = resolve(self, rule, role)
            db.session.rollback()
            return values


def diff(before: dict, after: dict) -> list[str]:
    return sorted(k for k in before if before[k] != after.get(k))


# ----------------------------------------------------------------------------------------------------------------
# URL argument resolver: explicit table argument name → (model, {column: already resolved argument}).
# Arguments are resolved in URL order with backtracking, so nested ids are consistent (problem of that plan…).

def _models():
    from esp_coord.activity.models import LedgerEntry
    from esp_coord.auth.models import Invitation, OutboxMessage
    from esp_coord.care_plans.models import (
        CarePlan,
        CarePlanAction,
        CarePlanObjective,
        CarePlanProblem,
        CarePlanReview,
        CarePlanVersion,
    )
    from esp_coord.funding.models import Claim
    from esp_coord.meetings.models import Meeting, MeetingCase
    from esp_coord.patients.models import Patient, PatientConsent, PatientNote
    from esp_coord.protocols.models import Adoption, Inclusion, Protocol, ProtocolDocument, ProtocolVersion
    from esp_coord.tasks.models import Task
    from esp_coord.teams.models import TeamSite

    return {
        "patient_id": (Patient, {"team_id": "team_id"}, {"erased_at": None}),
        "note_id": (PatientNote, {"patient_id": "patient_id"}, {}),
        "consent_id": (PatientConsent, {"patient_id": "patient_id"}, {}),
        "meeting_id": (Meeting, {"team_id": "team_id"}, {}),
        "case_id": (MeetingCase, {"meeting_id": "meeting_id"}, {}),
        "plan_id": (CarePlan, {"team_id": "team_id"}, {}),
        "problem_id": (CarePlanProblem, {"plan_id": "plan_id"}, {}),
        "objective_id": (CarePlanObjective, {"problem_id": "problem_id", "plan_id": "plan_id"}, {}),
        "action_id": (CarePlanAction, {"objective_id": "objective_id", "plan_id": "plan_id"}, {}),
        "review_id": (CarePlanReview, {"plan_id": "plan_id"}, {}),
        "protocol_id": (Protocol, {"team_id": "team_id"}, {}),
        "document_id": (ProtocolDocument, {"protocol_id": "protocol_id"}, {}),
        "adoption_id": (Adoption, {"team_id": "team_id"}, {}),
        "inclusion_id": (Inclusion, {"team_id": "team_id"}, {}),
        "claim_id": (Claim, {"team_id": "team_id"}, {}),
        "entry_id": (LedgerEntry, {"team_id": "team_id"}, {}),
        "task_id": (Task, {"team_id": "team_id"}, {}),
        "site_id": (TeamSite, {"team_id": "team_id"}, {}),
        "invitation_id": (Invitation, {"team_id": "team_id"}, {}),
        "message_id": (OutboxMessage, {}, {}),
        "_plan_version": (CarePlanVersion, {"plan_id": "plan_id"}, {}),
        "_protocol_version": (ProtocolVersion, {"protocol_id": "protocol_id"}, {}),
    }


# endpoint-specific arguments (the same name means different things in different features)
SPECIAL = {
    ("care_plans.version", "number"): ("_plan_version", "number"),
    ("protocols.version", "number"): ("_protocol_version", "number"),
}


def _candidates(world, rule, name, values, role):
    """Possible values for argument `name` given the already chosen `values` (first = preferred)."""
    from esp_coord.core.extensions import db

    models = _models()
    endpoint = rule.endpoint
    if name == "team_id":
        return [world.team_id]
    if (endpoint, name) in SPECIAL:
        key, column = SPECIAL[(endpoint, name)]
        model, parents, _f = models[key]
        stmt = sa.select(getattr(model, column))
        for col, arg in parents.items():
            stmt = stmt.where(getattr(model, col) == uuid.UUID(str(values[arg])))
        return [v for v in db.session.execute(stmt).scalars()]
    if name == "membership_id":
        from esp_coord.teams.models import Membership

        # the dietitian's membership: never one of the role players (ending it would change the matrix)
        return [db.session.execute(sa.select(Membership.id).where(
            Membership.team_id == world.team_id,
            Membership.user_id == world.users["dietitian"])).scalar_one()]
    if name == "user_id":
        return [world.users["physio"]]
    if name == "session_id":
        return [world.own_sessions[ROLE_USERS.get(role, "gp")]]
    if name == "doc_id":
        return [world.own_docs[ROLE_USERS.get(role, "gp")]]
    if name == "token":
        if endpoint == "calendar_feeds.user_feed":
            return [world.feed_tokens["user"]]
        if endpoint == "calendar_feeds.team_feed":
            return [world.feed_tokens["team"]]
        if endpoint == "auth.accept_invitation":
            return [world.invitation_token]
    if name == "code":
        if endpoint == "protocols.adopt":
            from esp_coord.protocols.models import CooperationProtocol

            return list(db.session.execute(sa.select(CooperationProtocol.code).order_by(
                CooperationProtocol.code)).scalars())
        if endpoint == "teams.profession_edit":
            return ["infirmier"]
    if name == "fmt":
        return ["pdf", "json"]
    if name == "filename":
        return ["css/app.css"]
    if name == "year":
        from esp_coord.core.time import today_paris

        return [today_paris().year]
    if name == "version":
        from esp_coord.funding.models import ProjetSante

        return list(db.session.execute(sa.select(ProjetSante.version).where(
            ProjetSante.team_id == world.team_id)).scalars())
    converter = rule._converters.get(name)  # noqa: SLF001 - URL map introspection
    if converter is not None and type(converter).__name__ == "AnyConverter":
        return sorted(converter.items)
    if name in models:
        model, parents, filters = models[name]
        stmt = sa.select(model.id)
        for col, arg in parents.items():
            if arg not in values:
                continue  # this URL does not carry that parent
            stmt = stmt.where(getattr(model, col) == uuid.UUID(str(values[arg])))
        for col, val in filters.items():
            stmt = stmt.where(getattr(model, col).is_(None) if val is None else getattr(model, col) == val)
        order = [model.created_at] if hasattr(model, "created_at") else []
        if name == "consent_id":  # prefer the consent with a scanned form (the demo has none; _extras adds one)
            order = [model.attachment_enc.is_(None), *order]
        return list(db.session.execute(stmt.order_by(*order, model.id)).scalars())
    # fallback: a mapped class whose table name or class name matches the argument
    from esp_coord.core.db import Base

    stem = name[:-3] if name.endswith("_id") else name
    for mapper in Base.registry.mappers:
        cls = mapper.class_
        if stem in (mapper.local_table.name, cls.__name__.lower()):
            stmt = sa.select(cls.id)
            if "team_id" in mapper.local_table.c:
                stmt = stmt.where(cls.team_id == world.team_id)
            return list(db.session.execute(stmt).scalars())
    raise LookupError(f"URL argument <{name}> of {endpoint} ({rule.rule}) is unknown to the resolver: extend "
                      f"_models()/SPECIAL/_candidates in tests/security/authz_rules.py")


def resolve(world, rule, role: str = "admin") -> dict:
    names = [n for is_dyn, n in rule._trace if is_dyn and n in rule.arguments]  # noqa: SLF001
    values: dict = {}

    def walk(i):
        if i == len(names):
            return True
        for cand in _candidates(world, rule, names[i], values, role)[:6]:
            values[names[i]] = cand
            if walk(i + 1):
                return True
        values.pop(names[i], None)
        return False

    if not walk(0):
        raise LookupError(f"no demo row for {rule.endpoint} {rule.rule} (arguments {names}): extend the demo "
                          f"world in tests/security/authz_rules.py (World._extras)")
    for k, v in (rule.defaults or {}).items():
        values.setdefault(k, v)
    return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in values.items()}


def build_url(world, rule, role: str = "admin") -> str:
    values = world.url_values(rule, role)
    built = rule.build(values, append_unknown=False)
    assert built, (rule.endpoint, rule.rule, values)
    return built[1]


def today() -> date:
    from esp_coord.core.time import today_paris

    return today_paris()
