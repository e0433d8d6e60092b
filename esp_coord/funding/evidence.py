"""Resolve ledger sources (meeting, PPS, protocol work) into evidence, without knowing other features' models.

Other features may register `hooks.register("funding_evidence", provider)` with
`provider(source_type, ids) -> dict[uuid, dict] | None` where each dict may hold: label, date, url,
minutes_validated (bool), present_user_ids (set of user ids). Otherwise their models are looked up lazily
(one query per source type, never per entry); when a model is absent the evidence is "pièce : <type>".
Labels never contain patient data: PPS are named by a short reference only.
"""

from __future__ import annotations

import importlib
import logging
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import gettext as _

from esp_coord.core import signals
from esp_coord.core.extensions import db
from esp_coord.core.time import to_paris

log = logging.getLogger(__name__)

SOURCES = {
    # source_type: (module, candidate class names)
    "meeting": ("esp_coord.meetings.models", ("Meeting", "Rcp", "RCP")),
    "pps": ("esp_coord.care_plans.models", ("CarePlan", "Pps", "PPS")),
    "pps_review": ("esp_coord.care_plans.models", ("CarePlanReview", "PpsReview", "Review", "CarePlan")),
    "protocol_writing": ("esp_coord.protocols.models", ("ProtocolMeeting", "Protocol")),
    "protocol_validation": ("esp_coord.protocols.models", ("ProtocolVersion", "Protocol")),
    "protocol_act": ("esp_coord.protocols.models", ("ProtocolAct", "Act", "ProtocolInclusion", "Inclusion")),
}
DATE_ATTRS = ("starts_at", "start_at", "scheduled_at", "held_on", "date", "performed_on", "reviewed_on",
              "validated_on", "opened_on", "validated_at", "created_at")


def type_label(source_type: str) -> str:
    return {
        "meeting": _("Meeting"), "pps": _("Care plan (PPS)"), "pps_review": _("Care plan review"),
        "protocol_writing": _("Protocol writing"), "protocol_validation": _("Protocol validation"),
        "protocol_act": _("Act under a protocol"),
    }.get(source_type, source_type)


def _model(source_type: str):
    module_name, names = SOURCES.get(source_type, (None, ()))
    if not module_name:
        return None
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    for name in names:
        cls = getattr(module, name, None)
        if cls is not None and hasattr(cls, "__table__") and "id" in cls.__table__.c:
            return cls
    return None


def _date_of(obj) -> date | None:
    for attr in DATE_ATTRS:
        value = getattr(obj, attr, None)
        if isinstance(value, datetime):
            return to_paris(value).date()
        if isinstance(value, date):
            return value
    return None


def _minutes_validated(obj) -> bool | None:
    for attr in ("minutes_validated_at", "minutes_locked_at", "report_validated_at"):
        if hasattr(obj, attr):
            return getattr(obj, attr) is not None
    for attr in ("minutes_validated", "report_validated"):
        if hasattr(obj, attr):
            return bool(getattr(obj, attr))
    for attr in ("minutes_status", "status"):
        value = getattr(obj, attr, None)
        if isinstance(value, str):
            if value in ("validated", "minutes_validated", "closed", "locked", "done"):
                return True
            if attr == "minutes_status":
                return False
    return None


def _attendance(ids) -> dict | None:
    """meeting id -> set of present user ids, from any mapped class with meeting_id and user_id."""
    try:
        module = importlib.import_module("esp_coord.meetings.models")
    except ImportError:
        return None
    for name in ("MeetingInvitee", "Attendance", "MeetingAttendance", "Attendee", "MeetingAttendee",
                 "MeetingParticipant",
                 "Participant"):
        cls = getattr(module, name, None)
        if cls is None or not hasattr(cls, "__table__"):
            continue
        cols = cls.__table__.c
        if "meeting_id" not in cols or "user_id" not in cols:
            continue
        presence = next((c for c in ("present", "attended", "is_present", "attendance", "status") if c in cols),
                        None)
        query = sa.select(cols.meeting_id, cols.user_id, *([cols[presence]] if presence else [])).where(
            cols.meeting_id.in_(list(ids)))
        out: dict = {i: set() for i in ids}
        for row in db.session.execute(query):
            ok = True
            if presence:
                value = row[2]
                ok = value in ("present", "attended", "late", "remote") if isinstance(value, str) else bool(value)
            if ok and row[1] is not None:
                out.setdefault(row[0], set()).add(row[1])
        return out
    return None


def resolve(pairs) -> dict:
    """{(source_type, source_id): evidence dict} for a set of (source_type, source_id) pairs."""
    by_type: dict[str, set] = {}
    for source_type, source_id in pairs:
        if source_type and source_id:
            by_type.setdefault(source_type, set()).add(source_id)
    out: dict = {}
    for source_type, ids in by_type.items():
        found: dict = {}
        for _receiver, result in signals.funding_evidence.send(source_type, ids=ids):
            if result:
                found.update(result)
        missing = ids - set(found)
        if missing:
            found.update(_introspect(source_type, missing))
        for source_id in ids:
            info = dict(found.get(source_id) or {})
            info.setdefault("label", _("document: %(type)s", type=source_type))
            info.setdefault("kind", type_label(source_type))
            out[(source_type, source_id)] = info
    return out


def _protocol_titles(ids: set) -> dict:
    """protocol id -> title, in one query (protocol titles are team documents, never patient data)."""
    if not ids:
        return {}
    try:
        module = importlib.import_module("esp_coord.protocols.models")
        cls = module.Protocol
        return dict(db.session.execute(sa.select(cls.id, cls.title).where(cls.id.in_(list(ids)))).all())
    except (ImportError, AttributeError):
        return {}


def _introspect(source_type: str, ids: set) -> dict:
    cls = _model(source_type)
    if cls is None:
        return {}
    try:
        with db.session.begin_nested():
            objs = db.session.execute(sa.select(cls).where(cls.id.in_(list(ids)))).scalars().all()
    except Exception:  # noqa: BLE001 - schema of another feature in flux: degrade, never 500
        log.exception("evidence lookup failed for %s", source_type)
        return {}
    out = {}
    attendance = _attendance({o.id for o in objs}) if source_type == "meeting" and objs else None
    titles = _protocol_titles({getattr(o, "protocol_id", None) for o in objs} - {None}) \
        if source_type.startswith("protocol") else {}
    for obj in objs:
        when = _date_of(obj)
        ref = str(obj.id)[:8]
        if source_type == "meeting":
            kind = str(getattr(obj, "kind_label", None) or getattr(obj, "kind", None) or "RCP")
            kind = kind.replace("_", " ").upper()
            label = _("Meeting %(kind)s of %(date)s (ref. %(ref)s)", kind=kind,
                      date=when.strftime("%d/%m/%Y") if when else "?", ref=ref)
            info = {"label": label, "date": when, "minutes_validated": _minutes_validated(obj)}
            if attendance is not None:
                info["present_user_ids"] = attendance.get(obj.id, set())
        elif source_type.startswith("protocol"):
            title = getattr(obj, "title", None) or titles.get(getattr(obj, "protocol_id", None))
            if source_type == "protocol_act":
                label = _("Act under a protocol (ref. %(ref)s)", ref=ref)
            else:
                label = _("Protocol “%(title)s”", title=title) if title else _("Protocol (ref. %(ref)s)", ref=ref)
            info = {"label": label, "date": when}
        else:  # PPS: never a title (it may name the patient)
            label = (_("Care plan review (ref. %(ref)s)", ref=ref) if source_type == "pps_review"
                     else _("Care plan (PPS) ref. %(ref)s", ref=ref))
            info = {"label": label, "date": when}
        out[obj.id] = info
    return out
