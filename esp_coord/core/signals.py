"""Every extension point between features, declared in one place (blinker, as Indico's core/signals).

A feature that *offers* an extension point sends one of these signals; features that *contribute*
connect receivers in their `receivers.py`, whose `connect()` the app factory calls from the explicit
feature registry (`esp_coord/features.py`) — never as a side effect of importing views. Where a
feature really depends on another one, it imports it directly instead (allowed only downwards in the
layer contract, see docs/DEVELOPING.md).

Required signals (`REQUIRED_PER_SENDER`, `REQUIRED_ONE`) are checked by `check_required()` at start-up:
a missing provider stops the app, so a renamed model or a forgotten receiver fails a test instead of
silently degrading a funding claim.

Receivers take the sender as first positional argument and keyword arguments as documented; `collect()`
flattens their answers (a receiver may return None, one item or a list).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from blinker import NamedSignal, Namespace

_signals = Namespace()

patient_timeline: NamedSignal = _signals.signal("patient-timeline", doc="""
Items of a patient's timeline. Sender: the Patient; kwargs: ``viewer`` (the User looking).
Return a list of `esp_coord.core.timeline.TimelineItem` (French titles, in-app URLs only).""")

patient_export: NamedSignal = _signals.signal("patient-export", doc="""
Sections of the patient-rights export. Sender: the Patient. Return one dict section
``{"key": str, "title": str (French), ...data}`` or None when the feature has nothing for this patient.""")

dashboard_panels: NamedSignal = _signals.signal("dashboard-panels", doc="""
Panels of the personal home page. Sender: the User. Return a list of dicts
``{"title": str, "items": [(label, url, detail), ...], "empty": str | None, "more_url": str | None}``.""")

reference_data: NamedSignal = _signals.signal("reference-data", doc="""
Idempotent upsert of a feature's reference rows (catalogues shipped with the app). Sender: None.
Called by `esp-coord reference load`, the demo and the tests; receivers flush, never commit.""")

annual_report_figures: NamedSignal = _signals.signal("annual-report-figures", doc="""
Aggregate figures (counts only, never identities) for the annual activity report. Sender: the Team;
kwargs: ``year`` (int). Return a dict whose keys are among `esp_coord.reports.services.EXTRA_KEYS`.""")

funding_evidence: NamedSignal = _signals.signal("funding-evidence", doc="""
Evidence of ledger sources for funding claims. Sender: an `esp_coord.activity.sources.SourceType`
(receivers connect with ``sender=`` their own source types); kwargs: ``ids`` (set of source UUIDs).
Return ``{source_id: esp_coord.activity.sources.Evidence}`` in a constant number of queries. Every
source type but MANUAL must have exactly one receiver (checked at start-up).""")

action_funded: NamedSignal = _signals.signal("action-funded", doc="""
Does the tariff grid pay this action for this team on this date? Sender: the Team; kwargs:
``action_type`` (code), ``on`` (date). Return bool. Exactly one receiver (the funding feature); use
`ask_one()`, which fails when nobody answers — an action is never "funded" by default.""")

team_calendar_changed: NamedSignal = _signals.signal("team-calendar-changed", doc="""
Something shown in a team's calendar feeds changed (meeting created, moved, cancelled…). Sender: the
team id (UUID). No return value; the calendar feeds feature bumps the team's feed version.""")

# signal -> senders that must each have a receiver (filled by features' declarations of their enums)
REQUIRED_ONE: tuple[NamedSignal, ...] = (action_funded, team_calendar_changed)


class MissingProvider(RuntimeError):
    """A required extension point has no receiver: a feature is not connected (start-up error)."""


def collect(signal: NamedSignal, sender: Any, **kwargs: Any) -> list[Any]:
    """Answers of every receiver, flattened: None is dropped, a list is extended, anything else appended."""
    out: list[Any] = []
    for _receiver, result in signal.send(sender, **kwargs):
        if result is None:
            continue
        if isinstance(result, list):
            out.extend(result)
        else:
            out.append(result)
    return out


def ask_one(signal: NamedSignal, sender: Any, **kwargs: Any) -> Any:
    """The answer of the single receiver for ``sender``; MissingProvider when there is none or several."""
    answers = signal.send(sender, **kwargs)
    if len(answers) != 1:
        raise MissingProvider(f"signal {signal.name!r}: {len(answers)} receivers for {sender!r}, expected one")
    return answers[0][1]


def check_required(per_sender: dict[NamedSignal, Iterable[Any]]) -> None:
    """Start-up check: each signal of REQUIRED_ONE has one receiver, and each (signal, sender) given has one."""
    for signal in REQUIRED_ONE:
        if len(list(signal.receivers)) != 1:
            raise MissingProvider(f"signal {signal.name!r} needs exactly one receiver, has {len(signal.receivers)}")
    for signal, senders in per_sender.items():
        for sender in senders:
            count = sum(1 for _ in signal.receivers_for(sender))
            if count != 1:
                raise MissingProvider(f"signal {signal.name!r} needs one receiver for {sender!r}, has {count}")
