"""Default "annual_report_figures" provider: figures only other features' tables know (counts, no identities).

Imports the meetings, care_plans and protocols models lazily; any missing model or column leaves the figure
"non disponible". A few aggregate queries per year, whatever the data size.
"""

from __future__ import annotations

import importlib
import logging
from datetime import UTC, date, datetime

import sqlalchemy as sa

from esp_coord.core.extensions import db
from esp_coord.core.time import today_paris

log = logging.getLogger(__name__)


def _models(module: str, *names: str):
    try:
        mod = importlib.import_module(module)
        return tuple(getattr(mod, n) for n in names)
    except (ImportError, AttributeError):
        return None


def _safe(fn):
    try:
        with db.session.begin_nested():
            return fn()
    except Exception:  # noqa: BLE001 - another feature's schema in flux: the figure is just unavailable
        log.exception("annual report figure failed")
        return None


def provider(team, year: int) -> dict:
    start, end = date(year, 1, 1), date(year, 12, 31)
    t0 = datetime(year, 1, 1, tzinfo=UTC)
    t1 = datetime(year + 1, 1, 1, tzinfo=UTC)
    out: dict = {}
    meetings = _models("esp_coord.meetings.models", "Meeting", "MeetingInvitee", "MeetingCase")
    plans = _models("esp_coord.care_plans.models", "CarePlan")
    protocols = _models("esp_coord.protocols.models", "Inclusion", "ProtocolAct")
    patients: set = set()
    found_any = False
    if meetings:
        meeting, invitee, case = meetings
        held = sa.and_(meeting.team_id == team.id, meeting.starts_at >= t0, meeting.starts_at < t1,
                       meeting.kind.in_(("rcp_sans", "rcp_avec")), meeting.cancelled_at.is_(None))

        def attendance():
            total, present = db.session.execute(
                sa.select(sa.func.count(), sa.func.sum(sa.case((invitee.present.is_(True), 1), else_=0)))
                .join(meeting, meeting.id == invitee.meeting_id).where(held)).one()
            return round(100 * (present or 0) / total) if total else None

        rate = _safe(attendance)
        if rate is not None:
            out["attendance_rate"] = rate
        ids = _safe(lambda: set(db.session.execute(sa.select(case.patient_id).distinct()
                                                   .join(meeting, meeting.id == case.meeting_id).where(held))
                                .scalars()))
        if ids is not None:
            patients |= ids
            found_any = True
    if plans:
        (plan,) = plans
        ids = _safe(lambda: set(db.session.execute(sa.select(plan.patient_id).distinct().where(
            plan.team_id == team.id, plan.opened_on <= end,
            sa.or_(plan.opened_on >= start, plan.status != "closed"))).scalars()))
        if ids is not None:
            patients |= ids
            found_any = True
        if year == today_paris().year:
            overdue = _safe(lambda: db.session.execute(sa.select(sa.func.count()).where(
                plan.team_id == team.id, plan.status == "active", plan.next_review_on < today_paris())).scalar())
            if overdue is not None:
                out["pps_overdue"] = overdue
    if protocols:
        inclusion, act = protocols
        n = _safe(lambda: db.session.execute(sa.select(sa.func.count()).where(
            inclusion.team_id == team.id, inclusion.included_on >= start, inclusion.included_on <= end)).scalar())
        if n is not None:
            out["protocol_inclusions"] = n
        ids = _safe(lambda: set(db.session.execute(sa.select(act.patient_id).distinct().where(
            act.team_id == team.id, act.performed_on >= start, act.performed_on <= end)).scalars()))
        if ids is not None:
            patients |= ids
            found_any = True
    if found_any:
        out["distinct_patients"] = len(patients)
    return out
