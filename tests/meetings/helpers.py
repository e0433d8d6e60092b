"""Shared builders for meetings tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from email import policy  # noqa: F401

from icalendar import Calendar

from esp_coord.core.extensions import db
from esp_coord.core.time import PARIS, utc_now


def at_paris(y, mo, d, h, mi=0):
    return datetime(y, mo, d, h, mi, tzinfo=PARIS)


def future(days=3, hour=12, minutes=90):
    start = (utc_now() + timedelta(days=days)).astimezone(PARIS).replace(hour=hour, minute=30, second=0,
                                                                          microsecond=0)
    return start, start + timedelta(minutes=minutes)


def schedule(team, actor, invitees, *, kind="rcp_sans", start=None, end=None, place_kind="practice",
             place="12 rue du Docteur Guilbaud, Clisson", visio_url=None):
    from esp_coord.meetings.services import create_meeting

    if start is None:
        start, end = future()
    m = create_meeting(team, kind=kind, place_kind=place_kind, place=place, visio_url=visio_url,
                       invitee_ids=[u.id for u in invitees], actor=actor, starts_at=start, ends_at=end)
    db.session.commit()
    return m


def calendars(message):
    """Every text/calendar part of an e-mail, parsed."""
    out = []
    for part in message.walk():
        if part.get_content_type() in ("text/calendar", "application/ics"):
            out.append((part.get_content_type(), part.get_param("method"),
                        Calendar.from_ical(part.get_payload(decode=True))))
    return out


def body_text(message) -> str:
    texts = []
    for part in message.walk():
        if part.get_content_maintype() == "text" or part.get_content_type() == "application/ics":
            payload = part.get_payload(decode=True)
            if payload:
                texts.append(payload.decode("utf-8", "replace"))
    return "\n".join(texts) + str(message["Subject"])
