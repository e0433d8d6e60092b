from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from esp_coord.activity.models import LedgerEntry
from esp_coord.care_plans import services as svc
from esp_coord.care_plans.models import CarePlan, CarePlanVersion
from esp_coord.core.extensions import db
from esp_coord.core.time import today_paris
from esp_coord.tasks.models import Task
from esp_coord.tasks.services import task_detail
from tests.care_plans.conftest import build_plan


def test_free_text_is_encrypted(ctx):
    plan = build_plan(ctx)
    assert b"domicile" not in plan.expectations_enc
    assert svc.snapshot(plan)["expectations"] == "Rester à domicile en sécurité"


def test_add_months_and_review_limits(ctx):
    assert svc.add_months(today_paris().replace(month=1, day=31), 1).day in (28, 29)
    base = today_paris()
    assert svc.check_review_date(None, base) == svc.add_months(base, 6)
    assert svc.check_review_date(svc.add_months(base, 12), base) == svc.add_months(base, 12)
    with pytest.raises(svc.CarePlanError, match="12 mois"):
        svc.check_review_date(svc.add_months(base, 12) + timedelta(days=1), base)
    with pytest.raises(svc.CarePlanError):
        svc.check_review_date(base - timedelta(days=1), base)


def test_second_open_plan_refused_by_service_and_database(ctx):
    build_plan(ctx)
    with pytest.raises(svc.CarePlanError, match="déjà un PPS"):
        svc.create_plan(ctx.team, ctx.patient, svc.HeaderData(coordinator_id=ctx.users["admin"].id),
                        actor=ctx.users["admin"])
    db.session.rollback()
    # the partial unique index refuses it even when the service check is bypassed
    db.session.add(CarePlan(team_id=ctx.team.id, patient_id=ctx.patient.id, number=9, status="draft",
                            opened_on=today_paris()))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_closed_plan_allows_a_new_one(ctx):
    plan = build_plan(ctx, validate=True)
    svc.close_plan(plan, reason="Objectifs atteints", actor=ctx.users["admin"])
    db.session.commit()
    assert svc.close_reason(plan) == "Objectifs atteints"
    plan2 = svc.create_plan(ctx.team, ctx.patient, svc.HeaderData(coordinator_id=ctx.users["admin"].id),
                            actor=ctx.users["admin"])
    db.session.commit()
    assert plan2.number == 2


def test_patient_priority_is_problem_one(ctx):
    plan = build_plan(ctx, problems=3)
    third = plan.problems[2]
    svc.save_problem(plan, category="social", label="Isolement", patient_priority=True, problem=third,
                     actor=ctx.users["admin"])
    assert plan.problems[0] is third and third.rank == 1
    assert [p.patient_priority for p in plan.problems] == [True, False, False]


def test_action_without_owner_refused(ctx):
    plan = build_plan(ctx)
    obj = plan.problems[0].objectives[0]
    for data in (svc.ActionData(what="x", owner_kind=None),
                 svc.ActionData(what="x", owner_kind="member"),
                 svc.ActionData(what="x", owner_kind="outside", owner_outside="  "),
                 svc.ActionData(what="x", owner_kind="profession", owner_profession_code="nope")):
        with pytest.raises(svc.CarePlanError, match="responsable"):
            svc.save_action(plan, obj, data, actor=ctx.users["admin"])
    outsider = ctx.users["outsider"]
    with pytest.raises(svc.CarePlanError):
        svc.save_action(plan, obj, svc.ActionData(what="x", owner_kind="member", owner_user_id=outsider.id),
                        actor=ctx.users["admin"])


def test_validation_freezes_version_tasks_and_ledger_once(ctx):
    plan = build_plan(ctx, problems=2, validate=True)
    assert plan.status == "active" and plan.current_version == 1
    assert plan.next_review_on == svc.add_months(today_paris(), 6)
    snap = svc.load_version(plan, 1)
    assert snap["version"] == 1 and snap["problems"][0]["label"] == "Chutes 1"
    version = db.session.execute(sa.select(CarePlanVersion)).scalar_one()
    assert b"Chutes" not in version.snapshot_enc
    tasks = list(db.session.execute(sa.select(Task).where(Task.source_type == "pps_action")).scalars())
    assert len(tasks) == 2
    assert all(t.title == "Action du PPS" and t.owner_id == ctx.users["coordinator"].id for t in tasks)
    assert "Kinésithérapie" in task_detail(tasks[0]) and tasks[0].detail_enc is not None
    entries = list(db.session.execute(sa.select(LedgerEntry).where(LedgerEntry.action_type == "PPS_INIT")).scalars())
    assert {e.user_id for e in entries} == {ctx.users["admin"].id, ctx.users["coordinator"].id}
    assert all(e.source_type == "pps" and e.source_id == plan.id for e in entries)
    # frozen: editing refused, validating again refused
    with pytest.raises(svc.CarePlanError, match="figée"):
        svc.save_problem(plan, category="health", label="x", patient_priority=False, actor=ctx.users["admin"])
    with pytest.raises(svc.CarePlanError):
        svc.validate_plan(plan, actor=ctx.users["admin"])


def test_review_versions_diff_and_ledger_once(ctx):
    plan = build_plan(ctx, validate=True)
    actor = ctx.users["admin"]
    review = svc.start_review(plan, actor=actor)
    assert svc.start_review(plan, actor=actor) is review
    obj = plan.problems[0].objectives[0]
    svc.save_objective(plan, plan.problems[0], text="Marcher avec une canne", criterion="Nombre de chutes",
                       result="Une seule chute en 6 mois", objective=obj, actor=actor)
    svc.save_problem(plan, category="social", label="Isolement social", patient_priority=False, actor=actor)
    db.session.commit()
    with pytest.raises(svc.CarePlanError, match="12 mois"):
        svc.update_review(plan, review, svc.ReviewData(
            review_on=today_paris(), participant_ids=[ctx.users["member"].id], outcome="ok",
            next_review_on=svc.add_months(today_paris(), 13)), actor=actor)
    db.session.rollback()
    review = svc.open_review(plan)
    svc.update_review(plan, review, svc.ReviewData(
        review_on=today_paris(), participant_ids=[ctx.users["member"].id, ctx.users["admin"].id],
        changes="Moins de chutes", outcome="Plan poursuivi", next_review_on=svc.add_months(today_paris(), 3)),
        actor=actor)
    version = svc.validate_review(plan, review, actor=actor)
    db.session.commit()
    assert version.number == 2 and plan.current_version == 2 and review.version_number == 2
    assert plan.next_review_on == svc.add_months(today_paris(), 3)
    v1, v2 = svc.load_version(plan, 1), svc.load_version(plan, 2)
    assert v1["problems"][0]["objectives"][0]["text"] == "Marcher sans chute 1"  # earlier version unchanged
    rows = svc.diff(v1, v2)
    labels = {r["label"]: r for r in rows}
    assert labels["Problème 1, objectif 1 — objectif"]["before"] == "Marcher sans chute 1"
    assert labels["Problème 1, objectif 1 — objectif"]["after"] == "Marcher avec une canne"
    assert any(r["kind"] == "added" and r["after"] == "Isolement social" for r in rows)
    entries = list(db.session.execute(sa.select(LedgerEntry).where(LedgerEntry.action_type == "PPS_REVUE")).scalars())
    assert {e.user_id for e in entries} == {ctx.users["member"].id, ctx.users["admin"].id}
    # validating again is refused and records nothing more
    with pytest.raises(svc.CarePlanError):
        svc.validate_review(plan, review, actor=actor)
    db.session.rollback()
    # ledger once-only even if the service is called twice for the same source
    svc._ledger(plan, [ctx.users["member"].id], "PPS_REVUE", "pps_review", review.id, today_paris(), actor)
    assert db.session.execute(sa.select(sa.func.count()).select_from(LedgerEntry)
                              .where(LedgerEntry.action_type == "PPS_REVUE")).scalar() == 2
    assert db.session.execute(sa.select(sa.func.count()).select_from(LedgerEntry)
                              .where(LedgerEntry.action_type == "PPS_INIT")).scalar() == 2
    # a second review creates tasks only for new member actions
    assert db.session.execute(sa.select(sa.func.count()).select_from(Task)).scalar() == 1


def test_consent(ctx):
    plan = build_plan(ctx)
    with pytest.raises(svc.CarePlanError):
        svc.record_consent(plan, on=today_paris() + timedelta(days=2), method="oral", scope="care_only",
                           actor=ctx.users["admin"])
    with pytest.raises(svc.CarePlanError):
        svc.record_consent(plan, on=today_paris(), method="telepathy", scope="care_only", actor=ctx.users["admin"])
    svc.record_consent(plan, on=today_paris(), method="written", scope="care_only", actor=ctx.users["coordinator"])
    db.session.commit()
    assert plan.consent_recorded_by_id == ctx.users["coordinator"].id
    assert svc.snapshot(plan)["consent"]["method"] == "written"


def test_hooks_timeline_and_export(ctx):
    from esp_coord.core import signals

    plan = build_plan(ctx, validate=True)
    items = [i for i in signals.collect(signals.patient_timeline, ctx.patient, viewer=ctx.users["admin"])
        if i.kind == "pps"]
    titles = [i.title for i in items]
    assert any("ouvert" in t for t in titles) and any("version 1" in t for t in titles)
    assert all("Chutes" not in t for t in titles)
    sections = [s for s in signals.collect(signals.patient_export, ctx.patient) if s.get("key") == "care_plans"]
    assert sections[0]["plans"][0]["problems"][0]["label"] == "Chutes 1"
    assert sections[0]["plans"][0]["plan_id"] == str(plan.id)
