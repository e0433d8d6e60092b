"""One clock (UTC) and French display in Europe/Paris."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")

DAYS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]
MONTHS = [
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
]


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_paris(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(PARIS)


def paris_to_utc(local: datetime) -> datetime:
    """Interpret a naive wall-clock datetime typed by a user as Europe/Paris time."""
    if local.tzinfo is None:
        local = local.replace(tzinfo=PARIS)
    return local.astimezone(UTC)


def format_date(value: date | datetime | None, with_weekday: bool = True) -> str:
    """'mardi 24 novembre 2026'"""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_paris(value).date()
    day = "1er" if value.day == 1 else str(value.day)
    text = f"{day} {MONTHS[value.month - 1]} {value.year}"
    return f"{DAYS[value.weekday()]} {text}" if with_weekday else text


def format_time(value: datetime) -> str:
    """'12 h 30'"""
    local = to_paris(value)
    return f"{local.hour}\u00a0h\u00a0{local.minute:02d}"  # non-breaking: never wrap "12 h 30"


def format_datetime(value: datetime | None, with_weekday: bool = True) -> str:
    """'mardi 24 novembre 2026, 12 h 30' (Europe/Paris)"""
    if value is None:
        return ""
    return f"{format_date(value, with_weekday)}, {format_time(value)}"


def format_short_date(value: date | datetime | None) -> str:
    """'24/11/2026'"""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_paris(value).date()
    return value.strftime("%d/%m/%Y")


def today_paris() -> date:
    return to_paris(utc_now()).date()


def format_number(value, decimals: int = 2) -> str:
    """French number format: '1 234,50'."""
    if value is None:
        return ""
    text = f"{float(value):,.{decimals}f}"
    return text.replace(",", "\u202f").replace(".", ",")


def format_money(value) -> str:
    return f"{format_number(value, 2)}\u00a0€"
