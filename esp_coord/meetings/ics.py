"""iCalendar output for meetings: feed events (PUBLISH) and e-mail invitations (REQUEST / CANCEL).

Never any patient data: events carry the meeting kind, time, place or video link, the number of cases
("3 dossiers") and a link back to the app. Bytes are deterministic for the same data (no "now",
no random UID, stable ordering, a hand-written VTIMEZONE).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import current_app
from icalendar import Calendar, Event, Timezone, vCalAddress, vDuration

from esp_coord.core.time import to_paris

PRODID = "-//esp_coord//Reunions//FR"

VTIMEZONE_PARIS = (
    "BEGIN:VTIMEZONE\r\n"
    "TZID:Europe/Paris\r\n"
    "BEGIN:DAYLIGHT\r\n"
    "TZNAME:CEST\r\n"
    "TZOFFSETFROM:+0100\r\n"
    "TZOFFSETTO:+0200\r\n"
    "DTSTART:19700329T020000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
    "END:DAYLIGHT\r\n"
    "BEGIN:STANDARD\r\n"
    "TZNAME:CET\r\n"
    "TZOFFSETFROM:+0200\r\n"
    "TZOFFSETTO:+0100\r\n"
    "DTSTART:19701025T030000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"
    "END:STANDARD\r\n"
    "END:VTIMEZONE\r\n"
)

KIND_SUMMARY = {
    "rcp_sans": "RCP",
    "rcp_avec": "RCP avec patient",
    "team": "Réunion d'équipe",
    "training": "Formation",
}


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(microsecond=0)


def _paris(value: datetime) -> datetime:
    return to_paris(value).replace(microsecond=0)


def cases_label(n: int) -> str:
    return "1 dossier" if n == 1 else f"{n} dossiers"


def summary_for(meeting, case_count: int) -> str:
    text = f"{KIND_SUMMARY.get(meeting.kind, 'Réunion')} – {meeting.team.name}"
    if meeting.is_rcp:
        text += f" – {cases_label(case_count)}"
    if meeting.status == "cancelled":
        text = "ANNULÉ – " + text
    return text


def location_for(meeting) -> str | None:
    if meeting.place_kind == "visio":
        return meeting.visio_url or "Visioconférence"
    if meeting.place_kind == "home":
        return "Domicile du patient (adresse dans l'application)"
    return meeting.place or None


def meeting_url(meeting) -> str:
    base = current_app.config.get("BASE_URL", "").rstrip("/")
    return f"{base}/reunions/{meeting.team_id}/{meeting.id}"


def description_for(meeting, case_count: int) -> str:
    lines = []
    if meeting.is_rcp:
        lines.append(cases_label(case_count))
    if meeting.place_kind == "visio" and meeting.visio_url:
        lines.append(f"Visioconférence : {meeting.visio_url}")
    lines.append(f"Détails dans esp_coord : {meeting_url(meeting)}")
    return "\n".join(lines)


def build_event(meeting, case_count: int, *, organiser=True, attendees=None) -> Event:
    stamp = _utc(meeting.feed_changed_at)
    event = Event.new(
        uid=meeting.uid,
        stamp=stamp,
        sequence=meeting.sequence,
        start=_paris(meeting.starts_at),
        end=_paris(meeting.ends_at),
        summary=summary_for(meeting, case_count),
        description=description_for(meeting, case_count),
        last_modified=stamp,
        url=meeting_url(meeting),
        status="CANCELLED" if meeting.status == "cancelled" else "CONFIRMED",
    )
    event.add("created", _utc(meeting.created_at))
    location = location_for(meeting)
    if location:
        event.add("location", location)
    if organiser and meeting.organiser is not None:
        org = vCalAddress(f"mailto:{meeting.organiser.email}")
        org.params["CN"] = meeting.organiser.full_name
        event.add("organizer", org)
    for invitee in attendees or []:
        att = vCalAddress(f"mailto:{invitee.user.email}")
        att.params["CN"] = invitee.user.full_name
        att.params["ROLE"] = "REQ-PARTICIPANT"
        att.params["PARTSTAT"] = {"accepted": "ACCEPTED", "declined": "DECLINED"}.get(invitee.response,
                                                                                      "NEEDS-ACTION")
        att.params["RSVP"] = "TRUE"
        event.add("attendee", att)
    return event


def _calendar(method: str, name: str | None = None) -> Calendar:
    kwargs = {"method": method, "prodid": PRODID}
    if name:
        kwargs.update(name=name, refresh_interval=timedelta(hours=1))
    cal = Calendar.new(**kwargs)
    if "UID" in cal:
        del cal["UID"]  # a VCALENDAR UID breaks vdirsyncer's http storage (pimutils/vdirsyncer#1222)
    if name:
        cal["REFRESH-INTERVAL"].params["VALUE"] = "DURATION"
        cal.add("X-PUBLISHED-TTL", vDuration(timedelta(hours=1)))
    cal.add_component(Timezone.from_ical(VTIMEZONE_PARIS))
    return cal


def feed_bytes(name: str, meetings_with_counts) -> bytes:
    """METHOD:PUBLISH feed: no ORGANIZER/ATTENDEE, no patient data."""
    cal = _calendar("PUBLISH", name)
    for meeting, count in meetings_with_counts:
        cal.add_component(build_event(meeting, count, organiser=False))
    return cal.to_ical()


def invitation_bytes(meeting, case_count: int, method: str = "REQUEST") -> bytes:
    """iMIP: REQUEST (invitation or update, same UID, higher SEQUENCE) or CANCEL."""
    cal = _calendar(method)
    cal.add_component(build_event(meeting, case_count, attendees=list(meeting.invitees)))
    return cal.to_ical()
