"""Meeting writes: scheduling, polls, invitations (iMIP), agenda, attendance, minutes, ledger, reminders.

Every write is audited here; views commit once. Errors are MeetingError with a French message and the
name of the form field concerned; they are raised before anything is added to the session.
"""

from __future__ import annotations

import logging
import smtplib
import uuid
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import render_template
from flask_babel import gettext as _

from esp_coord.core import audit, signals
from esp_coord.core.extensions import db
from esp_coord.core.mail import send_email
from esp_coord.core.time import format_datetime, to_paris, today_paris, utc_now

from .ics import cases_label, invitation_bytes, location_for, meeting_url
from .models import (
    ANSWERS,
    KINDS,
    LEDGER_TYPES,
    PLACE_KINDS,
    Meeting,
    MeetingCase,
    MeetingInvitee,
    MeetingReminder,
    MinutesRevision,
    PollAnswer,
    PollSlot,
)

log = logging.getLogger("esp_coord.meetings")
CHECK_IN_MARGIN = timedelta(minutes=30)


class MeetingError(ValueError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


def kind_labels() -> dict[str, str]:
    return {"rcp_sans": _("Case review (RCP without the patient)"),
            "rcp_avec": _("RCP with the patient (including a joint home visit)"),
            "team": _("Team meeting (health project, organisation)"),
            "training": _("Training")}


def place_labels() -> dict[str, str]:
    return {"practice": _("Practice"), "home": _("Patient's home"), "visio": _("Video call")}


def kind_label(kind: str) -> str:
    return kind_labels().get(kind, kind)


# ---------------------------------------------------------------- helpers
def active_member_ids(team_id) -> set[uuid.UUID]:
    from esp_coord.teams.models import Membership

    return set(db.session.execute(
        sa.select(Membership.user_id).where(Membership.team_id == team_id, Membership.ended_on.is_(None))
    ).scalars().all())


def team_members(team_id):
    from esp_coord.auth.models import User
    from esp_coord.teams.models import Membership

    return db.session.execute(
        sa.select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.team_id == team_id, Membership.ended_on.is_(None), User.active.is_(True))
        .order_by(User.last_name, User.first_name)
    ).scalars().all()


def case_count(meeting: Meeting) -> int:
    return len({c.patient_id for c in meeting.cases})


def invitee_for(meeting: Meeting, user_id) -> MeetingInvitee | None:
    return next((i for i in meeting.invitees if i.user_id == user_id), None)


def _touch(meeting: Meeting) -> None:
    """A change visible in calendars: new SEQUENCE, new DTSTAMP/LAST-MODIFIED, feed caches invalidated."""
    now = utc_now()
    if meeting.feed_changed_at is not None:
        meeting.sequence = (meeting.sequence or 0) + 1
    meeting.feed_changed_at = now if meeting.feed_changed_at is None else max(now, meeting.feed_changed_at)
    signals.team_calendar_changed.send(meeting.team_id)


def _check_invitees(team_id, invitee_ids) -> list[uuid.UUID]:
    members = active_member_ids(team_id)
    ids = []
    for raw in invitee_ids or []:
        try:
            uid = raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
        except ValueError:
            uid = None
        if uid is None or uid not in members:
            raise MeetingError(_("Unknown member: choose the invitees among the members of the team."), "invitees")
        if uid not in ids:
            ids.append(uid)
    if not ids:
        raise MeetingError(_("Invite at least one member."), "invitees")
    return ids


def _check_place(place_kind, place, visio_url):
    if place_kind not in PLACE_KINDS:
        raise MeetingError(_("Choose a place."), "place_kind")
    place = (place or "").strip() or None
    visio_url = (visio_url or "").strip() or None
    if place_kind == "visio":
        if not visio_url or not visio_url.startswith("https://") or len(visio_url) > 500 or " " in visio_url:
            raise MeetingError(_("Give the video link (an address starting with https://)."), "visio_url")
    if place and len(place) > 300:
        raise MeetingError(_("The place is too long (300 characters at most)."), "place")
    if place_kind == "practice" and not place:
        raise MeetingError(_("Give the address of the practice."), "place")
    return place, visio_url if place_kind == "visio" else None


def check_slot(starts_at: datetime | None, ends_at: datetime | None, field: str = "starts_at", *,
               allow_past: bool = False):
    if starts_at is None or ends_at is None:
        raise MeetingError(_("Give a date, a start time and an end time."), field)
    if ends_at <= starts_at:
        raise MeetingError(_("The end must be after the start."), field)
    if ends_at - starts_at > timedelta(hours=12):
        raise MeetingError(_("A meeting lasts 12 hours at most."), field)
    if not allow_past and starts_at < utc_now():
        raise MeetingError(_("This date is in the past."), field)


# ---------------------------------------------------------------- create / poll
def create_meeting(team, *, kind, place_kind, place=None, visio_url=None, invitee_ids=(), actor,
                   starts_at=None, ends_at=None, slots=None) -> Meeting:
    """Schedule a meeting (starts_at/ends_at) or open a date poll (slots = [(start, end), ...])."""
    if kind not in KINDS:
        raise MeetingError(_("Choose the kind of meeting."), "kind")
    place, visio_url = _check_place(place_kind, place, visio_url)
    if slots is not None:
        if not slots:
            raise MeetingError(_("Propose at least one slot."), "slots")
        seen = set()
        for start, end in slots:
            check_slot(start, end, "slots")
            if (start, end) in seen:
                raise MeetingError(_("The same slot is proposed twice."), "slots")
            seen.add((start, end))
    else:
        check_slot(starts_at, ends_at)
    ids = _check_invitees(team.id, list(invitee_ids) + ([actor.id] if actor.id in active_member_ids(team.id)
                                                         else []))
    meeting = Meeting(id=uuid.uuid4(), team_id=team.id, kind=kind, place_kind=place_kind, place=place,
                      visio_url=visio_url, organiser_id=actor.id, status="poll" if slots is not None else "scheduled",
                      starts_at=starts_at if slots is None else None, ends_at=ends_at if slots is None else None,
                      sequence=0, feed_changed_at=utc_now())
    meeting.uid = f"rcp-{meeting.id}@esp-coord"
    meeting.team = team
    db.session.add(meeting)
    for uid in ids:
        meeting.invitees.append(MeetingInvitee(id=uuid.uuid4(), user_id=uid,
                                               response="accepted" if uid == actor.id else "needs_action"))
    for start, end in sorted(slots or []):
        meeting.slots.append(PollSlot(id=uuid.uuid4(), starts_at=start, ends_at=end))
    db.session.flush()
    signals.team_calendar_changed.send(team.id)
    audit.record("meeting.create", actor=actor, team_id=team.id, object_type="meeting", object_id=meeting.id,
                 details={"kind": kind, "poll": slots is not None, "invitees": len(ids)})
    if slots is None:
        send_invitations(meeting, "REQUEST")
    return meeting


def answer_poll(meeting: Meeting, user, answers: dict, comments: dict | None = None) -> None:
    """answers: {slot_id: "yes"|"maybe"|"no"}; raises on a duplicate, unknown slot or value."""
    if meeting.status != "poll":
        raise MeetingError(_("This poll is closed."))
    if invitee_for(meeting, user.id) is None:
        raise MeetingError(_("You are not invited to this meeting."))
    slots = {str(s.id): s for s in meeting.slots}
    comments = comments or {}
    for slot_id, value in answers.items():
        if isinstance(value, (list, tuple)):
            if len(value) != 1:
                raise MeetingError(_("Only one answer per slot."), "answers")
            value = value[0]
        if slot_id not in slots:
            raise MeetingError(_("Unknown slot."), "answers")
        if value not in ANSWERS:
            raise MeetingError(_("Answer yes, if need be or no."), "answers")
        answers[slot_id] = value
    if set(answers) != set(slots):
        raise MeetingError(_("Answer for every slot."), "answers")
    for slot_id, value in answers.items():
        comment = (comments.get(slot_id) or "").strip()[:300] or None
        slot = slots[slot_id]
        existing = next((a for a in slot.answers if a.user_id == user.id), None)
        if existing is None:
            slot.answers.append(PollAnswer(id=uuid.uuid4(), user_id=user.id, answer=value, comment=comment))
        else:
            existing.answer, existing.comment = value, comment
    db.session.flush()
    audit.record("meeting.poll.answer", actor=user, team_id=meeting.team_id, object_type="meeting",
                 object_id=meeting.id)


def poll_results(meeting: Meeting):
    """[(slot, {yes, maybe, no}, score, is_best)] — best = highest yes*2 + maybe."""
    rows = []
    for slot in meeting.slots:
        counts = {a: 0 for a in ANSWERS}
        for ans in slot.answers:
            counts[ans.answer] += 1
        rows.append([slot, counts, counts["yes"] * 2 + counts["maybe"], False])
    best = max((r[2] for r in rows), default=0)
    for r in rows:
        r[3] = best > 0 and r[2] == best
    return [tuple(r) for r in rows]


def non_responders(meeting: Meeting) -> list[MeetingInvitee]:
    answered = {a.user_id for s in meeting.slots for a in s.answers}
    return [i for i in meeting.invitees if i.user_id not in answered and i.user_id != meeting.organiser_id]


def close_poll(meeting: Meeting, slot_id, *, actor) -> Meeting:
    if meeting.status != "poll":
        raise MeetingError(_("This poll is already closed."))
    slot = next((s for s in meeting.slots if str(s.id) == str(slot_id)), None)
    if slot is None:
        raise MeetingError(_("Choose one of the proposed slots."), "slot_id")
    check_slot(slot.starts_at, slot.ends_at, "slot_id")
    meeting.starts_at, meeting.ends_at = slot.starts_at, slot.ends_at
    meeting.status = "scheduled"
    meeting.poll_closed_at = utc_now()
    meeting.sequence = 0
    meeting.feed_changed_at = utc_now()
    signals.team_calendar_changed.send(meeting.team_id)
    audit.record("meeting.poll.close", actor=actor, team_id=meeting.team_id, object_type="meeting",
                 object_id=meeting.id)
    send_invitations(meeting, "REQUEST")
    return meeting


def remind_poll(meeting: Meeting, *, actor) -> int:
    if meeting.status != "poll":
        raise MeetingError(_("This poll is closed."))
    targets = non_responders(meeting)
    for inv in targets:
        ctx = _mail_context(meeting, inv.user)
        _send(inv.user.email, _("Reminder: date poll – %(what)s", what=ctx["what"]),
              render_template("meetings/emails/poll_reminder_text.html", **ctx),
              render_template("meetings/emails/poll_reminder.html", **ctx))
    meeting.poll_reminded_at = utc_now()
    audit.record("meeting.poll.remind", actor=actor, team_id=meeting.team_id, object_type="meeting",
                 object_id=meeting.id, details={"count": len(targets)})
    return len(targets)


# ---------------------------------------------------------------- changes
def update_meeting(meeting: Meeting, *, actor, starts_at=None, ends_at=None, place_kind, place=None,
                   visio_url=None, invitee_ids=()) -> bool:
    """Change time, place or invitees; invitees get an update (same UID, higher SEQUENCE)."""
    if meeting.status != "scheduled":
        raise MeetingError(_("Only a scheduled meeting can be changed."))
    place, visio_url = _check_place(place_kind, place, visio_url)
    check_slot(starts_at, ends_at)
    ids = _check_invitees(meeting.team_id, invitee_ids)
    changed = (starts_at, ends_at, place_kind, place, visio_url) != (
        meeting.starts_at, meeting.ends_at, meeting.place_kind, meeting.place, meeting.visio_url)
    current = {i.user_id: i for i in meeting.invitees}
    removed = [i for uid, i in current.items() if uid not in ids]
    added = [uid for uid in ids if uid not in current]
    if not changed and not removed and not added:
        return False
    meeting.starts_at, meeting.ends_at = starts_at, ends_at
    meeting.place_kind, meeting.place, meeting.visio_url = place_kind, place, visio_url
    _touch(meeting)
    removed_users = [i.user for i in removed]
    for inv in removed:
        meeting.invitees.remove(inv)
    for uid in added:
        meeting.invitees.append(MeetingInvitee(id=uuid.uuid4(), user_id=uid))
    db.session.flush()
    if changed:
        for inv in meeting.invitees:
            if inv.response == "accepted" and inv.user_id != actor.id:
                inv.response = "needs_action"
    audit.record("meeting.update", actor=actor, team_id=meeting.team_id, object_type="meeting",
                 object_id=meeting.id, details={"time_or_place": changed, "added": len(added),
                                                "removed": len(removed)})
    db.session.flush()
    if changed:
        send_invitations(meeting, "REQUEST", update=True)
    else:
        send_invitations(meeting, "REQUEST", users=[i.user for i in meeting.invitees if i.user_id in added])
    if removed_users:
        send_invitations(meeting, "CANCEL", users=removed_users)
    return True


def cancel_meeting(meeting: Meeting, *, actor) -> None:
    if meeting.status == "cancelled":
        raise MeetingError(_("This meeting is already cancelled."))
    was_poll = meeting.status == "poll"
    meeting.status = "cancelled"
    meeting.cancelled_at = utc_now()
    _touch(meeting)
    audit.record("meeting.cancel", actor=actor, team_id=meeting.team_id, object_type="meeting",
                 object_id=meeting.id)
    if not was_poll:
        send_invitations(meeting, "CANCEL")


def respond(meeting: Meeting, user, response: str) -> None:
    if response not in ("accepted", "declined"):
        raise MeetingError(_("Answer accept or decline."))
    if meeting.status != "scheduled":
        raise MeetingError(_("This meeting is not scheduled."))
    inv = invitee_for(meeting, user.id)
    if inv is None:
        raise MeetingError(_("You are not invited to this meeting."))
    inv.response = response
    inv.responded_at = utc_now()
    audit.record("meeting.respond", actor=user, team_id=meeting.team_id, object_type="meeting",
                 object_id=meeting.id, details={"response": response})


# ---------------------------------------------------------------- e-mail (iMIP)
def _mail_context(meeting: Meeting, user) -> dict:
    what = f"{kind_label(meeting.kind)} – {meeting.team.name}"
    return {"meeting": meeting, "user": user, "what": what, "when": format_datetime(meeting.starts_at)
            if meeting.starts_at else None, "where": location_for(meeting), "url": meeting_url(meeting),
            "cases": cases_label(case_count(meeting)) if meeting.is_rcp else None}


def _send(to, subject, text, html=None, **kwargs) -> bool:
    try:
        send_email(to, subject, text, html, **kwargs)
        return True
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("meeting mail not sent: %s", type(exc).__name__)
        return False


def send_invitations(meeting: Meeting, method: str = "REQUEST", *, users=None, update: bool = False) -> int:
    """One e-mail per invitee: French text + HTML + the calendar (METHOD:REQUEST or CANCEL)."""
    if meeting.starts_at is None:
        return 0
    calendar = invitation_bytes(meeting, case_count(meeting), method)
    recipients = users if users is not None else [i.user for i in meeting.invitees]
    sent = 0
    for user in recipients:
        ctx = _mail_context(meeting, user)
        ctx.update(method=method, update=update)
        if method == "CANCEL":
            subject = _("Cancelled: %(what)s, %(when)s", what=ctx["what"], when=ctx["when"])
        elif update:
            subject = _("Updated: %(what)s, %(when)s", what=ctx["what"], when=ctx["when"])
        else:
            subject = _("Invitation: %(what)s, %(when)s", what=ctx["what"], when=ctx["when"])
        sent += _send(user.email, subject, render_template("meetings/emails/invitation_text.html", **ctx),
                      render_template("meetings/emails/invitation.html", **ctx), calendar=calendar,
                      calendar_method=method)
    return sent


# ---------------------------------------------------------------- agenda
def add_case(meeting: Meeting, *, patient, question: str, presenter_id, actor) -> MeetingCase:
    from esp_coord.patients.crypto_service import encrypt_text

    if meeting.status == "cancelled":
        raise MeetingError(_("This meeting is cancelled."))
    if patient is None or patient.team_id != meeting.team_id or patient.erased_at is not None:
        raise MeetingError(_("Unknown patient: choose a patient of the team's registry."), "patient_id")
    question = (question or "").strip()
    if not question:
        raise MeetingError(_("Write the question asked."), "question")
    if len(question) > 4000:
        raise MeetingError(_("The question is too long (4000 characters at most)."), "question")
    try:
        pid = uuid.UUID(str(presenter_id))
    except ValueError:
        pid = None
    if pid is None or pid not in active_member_ids(meeting.team_id):
        raise MeetingError(_("Unknown member: choose the presenter among the members of the team."), "presenter_id")
    case = MeetingCase(id=uuid.uuid4(), meeting_id=meeting.id, team_id=meeting.team_id, patient_id=patient.id,
                       presenter_id=pid, created_by_id=actor.id,
                       position=max((c.position for c in meeting.cases), default=0) + 1)
    case.question_enc = encrypt_text(patient.id, "meeting_case", "question", case.id, question)
    meeting.cases.append(case)
    _touch(meeting)
    db.session.flush()
    audit.record("meeting.case.add", actor=actor, team_id=meeting.team_id, patient_id=patient.id,
                 object_type="meeting_case", object_id=case.id)
    return case


def remove_case(meeting: Meeting, case: MeetingCase, *, actor) -> None:
    if meeting.minutes_validated_at is not None:
        raise MeetingError(_("The minutes are validated: the agenda can no longer change."))
    meeting.cases.remove(case)
    _touch(meeting)
    audit.record("meeting.case.remove", actor=actor, team_id=meeting.team_id, patient_id=case.patient_id,
                 object_type="meeting_case", object_id=case.id)


def case_text(case: MeetingCase, column: str) -> str | None:
    from esp_coord.patients.crypto_service import read_text

    return read_text(case.patient_id, "meeting_case", column, case.id, getattr(case, f"{column}_enc"),
                     team_id=case.team_id)


# ---------------------------------------------------------------- attendance
def check_in(meeting: Meeting, user, now: datetime | None = None) -> MeetingInvitee:
    now = now or utc_now()
    if meeting.status != "scheduled":
        raise MeetingError(_("This meeting is not scheduled."))
    inv = invitee_for(meeting, user.id)
    if inv is None:
        raise MeetingError(_("You are not invited to this meeting."))
    if not (meeting.starts_at - CHECK_IN_MARGIN <= now <= meeting.ends_at + CHECK_IN_MARGIN):
        raise MeetingError(_("Presence can be confirmed only during the meeting (from 30 minutes before to "
                             "30 minutes after)."))
    if not inv.present:
        inv.present, inv.checked_in_at, inv.check_in_method = True, now, "self"
        audit.record("meeting.attendance.self", actor=user, team_id=meeting.team_id, object_type="meeting",
                     object_id=meeting.id, details={"at": now.isoformat()})
    return inv


def mark_present(meeting: Meeting, user_id, *, reason: str, actor) -> MeetingInvitee:
    if meeting.status != "scheduled":
        raise MeetingError(_("This meeting is not scheduled."))
    inv = invitee_for(meeting, user_id)
    if inv is None:
        raise MeetingError(_("Unknown member: choose the invitees among the members of the team."), "user_id")
    reason = (reason or "").strip()
    if not reason:
        raise MeetingError(_("Give the reason (for instance: signed the paper sheet)."), "reason")
    if meeting.starts_at > utc_now() + CHECK_IN_MARGIN:
        raise MeetingError(_("The meeting has not started yet."))
    now = utc_now()
    inv.present, inv.checked_in_at, inv.check_in_method = True, now, "coordinator"
    inv.marked_by_id, inv.mark_reason = actor.id, reason[:300]
    audit.record("meeting.attendance.mark", actor=actor, team_id=meeting.team_id, object_type="meeting",
                 object_id=meeting.id, details={"user": str(inv.user_id)})
    return inv


# ---------------------------------------------------------------- minutes
def _check_minutes_open(meeting: Meeting) -> None:
    if meeting.status != "scheduled" or meeting.starts_at is None:
        raise MeetingError(_("Minutes are written for a scheduled meeting."))


def _new_version(meeting: Meeting, actor, **content) -> None:
    """After validation, every edit keeps the replaced content and increments the minutes version."""
    if meeting.minutes_validated_at is None:
        return
    db.session.add(MinutesRevision(id=uuid.uuid4(), meeting_id=meeting.id, version=meeting.minutes_version,
                                   edited_by_id=actor.id, created_at=utc_now(), **content))
    meeting.minutes_version += 1
    audit.record("meeting.minutes.revise", actor=actor, team_id=meeting.team_id, object_type="meeting",
                 object_id=meeting.id, patient_id=content.get("patient_id"),
                 details={"version": meeting.minutes_version})


def save_general_minutes(meeting: Meeting, text: str, *, actor) -> bool:
    _check_minutes_open(meeting)
    text = (text or "").strip() or None
    if text and len(text) > 20000:
        raise MeetingError(_("The text is too long."), "general")
    if text == meeting.minutes_general:
        return False
    _new_version(meeting, actor, general_text=meeting.minutes_general)
    meeting.minutes_general = text
    audit.record("meeting.minutes.general", actor=actor, team_id=meeting.team_id, object_type="meeting",
                 object_id=meeting.id)
    return True


def save_case_minutes(meeting: Meeting, case: MeetingCase, *, summary: str, decision: str, actor) -> bool:
    from esp_coord.patients.crypto_service import encrypt_text

    _check_minutes_open(meeting)
    summary = (summary or "").strip() or None
    decision = (decision or "").strip() or None
    for value, field in ((summary, "summary"), (decision, "decision")):
        if value and len(value) > 20000:
            raise MeetingError(_("The text is too long."), field)
    if summary == case_text(case, "summary") and decision == case_text(case, "decision"):
        return False
    _new_version(meeting, actor, case_id=case.id, patient_id=case.patient_id, summary_enc=case.summary_enc,
                 decision_enc=case.decision_enc)
    case.summary_enc = encrypt_text(case.patient_id, "meeting_case", "summary", case.id, summary)
    case.decision_enc = encrypt_text(case.patient_id, "meeting_case", "decision", case.id, decision)
    audit.record("meeting.minutes.case", actor=actor, team_id=meeting.team_id, patient_id=case.patient_id,
                 object_type="meeting_case", object_id=case.id)
    return True


def add_case_task(meeting: Meeting, case: MeetingCase, *, owner_id, due_on: date | None, detail: str, actor):
    from esp_coord.tasks.services import create_task

    _check_minutes_open(meeting)
    try:
        oid = uuid.UUID(str(owner_id))
    except ValueError:
        oid = None
    if oid is None or oid not in active_member_ids(meeting.team_id):
        raise MeetingError(_("Unknown member: choose who does it among the members of the team."), "owner_id")
    detail = (detail or "").strip()
    if not detail:
        raise MeetingError(_("Describe the task."), "detail")
    title = _("Follow-up of the meeting of %(date)s", date=to_paris(meeting.starts_at).strftime("%d/%m/%Y"))
    return create_task(team_id=meeting.team_id, owner_id=oid, title=title, detail=detail[:4000],
                       patient_id=case.patient_id, due_on=due_on, source_type="meeting_case", source_id=case.id,
                       actor=actor)


def case_tasks(meeting: Meeting) -> dict:
    from esp_coord.tasks.models import Task

    ids = [c.id for c in meeting.cases]
    if not ids:
        return {}
    out: dict = {}
    for task in db.session.execute(sa.select(Task).where(Task.source_type == "meeting_case",
                                                         Task.source_id.in_(ids)).order_by(Task.created_at)
                                   ).scalars():
        out.setdefault(task.source_id, []).append(task)
    return out


def validate_minutes(meeting: Meeting, *, actor) -> int:
    """Validate (again); each present professional gets one ledger entry, never two. Returns entries created."""
    from esp_coord.activity.services import record_action

    _check_minutes_open(meeting)
    if meeting.starts_at > utc_now():
        raise MeetingError(_("The minutes can be validated once the meeting has started."))
    meeting.minutes_validated_at = utc_now()
    meeting.minutes_validated_by_id = actor.id
    audit.record("meeting.minutes.validate", actor=actor, team_id=meeting.team_id, object_type="meeting",
                 object_id=meeting.id, details={"version": meeting.minutes_version})
    created = 0
    action_type = LEDGER_TYPES.get(meeting.kind)
    if action_type is None:
        return 0
    performed_on = to_paris(meeting.starts_at).date()
    for inv in meeting.invitees:
        if not inv.present or not inv.user.profession_code:
            continue
        _entry, new = record_action(team=meeting.team, user_id=inv.user_id, action_type=action_type,
                                    performed_on=performed_on, duration_minutes=meeting.duration_minutes,
                                    patient_count=case_count(meeting), source_type="meeting", source_id=meeting.id,
                                    label=f"{kind_label(meeting.kind)} – {performed_on.strftime('%d/%m/%Y')}",
                                    actor=actor)
        created += int(new)
    return created


# ---------------------------------------------------------------- queries
PAST_WINDOW = 50


def meetings_for_user(user, *, team_ids=None, past_limit: int = PAST_WINDOW):
    """Open polls and meetings not yet over (all), plus the `past_limit` most recent past ones.
    The window keeps the meetings page constant-time for a team with years of history."""
    from esp_coord.teams.models import Membership

    if team_ids is None:
        team_ids = db.session.execute(sa.select(Membership.team_id).where(
            Membership.user_id == user.id, Membership.ended_on.is_(None))).scalars().all()
    if not team_ids:
        return []
    now = utc_now()
    current = sa.or_(Meeting.status == "poll", Meeting.ends_at.is_(None), Meeting.ends_at >= now)
    recent = db.session.execute(
        sa.select(Meeting).where(Meeting.team_id.in_(team_ids), current)
        .order_by(Meeting.starts_at.is_(None).desc(), Meeting.starts_at.desc())
    ).scalars().all()
    past = db.session.execute(
        sa.select(Meeting).where(Meeting.team_id.in_(team_ids), sa.not_(current))
        .order_by(Meeting.starts_at.desc()).limit(past_limit)
    ).scalars().all()
    return list(recent) + list(past)


# ---------------------------------------------------------------- reminders (CLI)
def send_reminders(now: datetime | None = None, horizon: timedelta = timedelta(hours=48)) -> dict:
    """E-mail due/overdue tasks and upcoming meetings; running it twice sends nothing twice."""
    from esp_coord.auth.models import User
    from esp_coord.tasks.models import Task

    now = now or utc_now()
    today = to_paris(now).date() if now else today_paris()
    per_user: dict = {}
    tasks = db.session.execute(
        sa.select(Task).where(Task.status.in_(("open", "in_progress")), Task.owner_id.is_not(None),
                              Task.due_on.is_not(None), Task.due_on <= today + timedelta(days=1),
                              sa.or_(Task.reminded_on.is_(None), Task.reminded_on <= today - timedelta(days=7)))
        .order_by(Task.due_on)
    ).scalars().all()
    for task in tasks:
        per_user.setdefault(task.owner_id, {"tasks": [], "meetings": []})["tasks"].append(task)
    meetings = db.session.execute(
        sa.select(Meeting).where(Meeting.status == "scheduled", Meeting.starts_at > now,
                                 Meeting.starts_at <= now + horizon)
    ).scalars().all()
    sent_keys = set(db.session.execute(sa.select(MeetingReminder.meeting_id, MeetingReminder.user_id,
                                                 MeetingReminder.starts_at)).all())
    reminders = []
    for meeting in meetings:
        for inv in meeting.invitees:
            if inv.response == "declined" or (meeting.id, inv.user_id, meeting.starts_at) in sent_keys:
                continue
            per_user.setdefault(inv.user_id, {"tasks": [], "meetings": []})["meetings"].append(meeting)
            reminders.append((meeting, inv.user_id))
    users = {u.id: u for u in db.session.execute(sa.select(User).where(User.id.in_(list(per_user)))).scalars()} \
        if per_user else {}
    mails = 0
    for user_id, items in per_user.items():
        user = users.get(user_id)
        if user is None or not user.active:
            continue
        ctx = {"user": user, "tasks": items["tasks"], "today": today,
               "meetings": [_mail_context(m, user) for m in items["meetings"]]}
        ok = _send(user.email, _("esp_coord: your reminders"), render_template("meetings/emails/reminders_text.html",
                                                                              **ctx))
        if not ok:
            continue
        mails += 1
        for task in items["tasks"]:
            task.reminded_on = today
        for meeting in items["meetings"]:
            db.session.add(MeetingReminder(id=uuid.uuid4(), meeting_id=meeting.id, user_id=user_id,
                                           starts_at=meeting.starts_at, sent_at=now))
    audit.record("reminders.send", details={"mails": mails, "tasks": len(tasks), "meetings": len(reminders)})
    return {"mails": mails, "tasks": len(tasks), "meetings": len(reminders)}
