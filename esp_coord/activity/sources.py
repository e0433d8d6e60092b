"""What a ledger entry can come from, and the evidence a funder sees for it.

`SourceType` is the closed list of ledger sources (stored in `ledger_entry.source_type`). The clinical
features that create entries answer `core.signals.funding_evidence` for their own source types with
`Evidence` built from their real models; the funding feature reads evidence only through that signal.
Evidence never carries patient data (a PPS is named by a short reference, never by its title).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class SourceType(StrEnum):
    MANUAL = "manual"  # declared by hand: no evidence provider
    MEETING = "meeting"  # meetings: RCP attendance
    PPS = "pps"  # care_plans: plan written (PPS_INIT)
    PPS_REVIEW = "pps_review"  # care_plans: plan reviewed (PPS_REVUE)
    PPS_ACTION = "pps_action"  # care_plans: action of a plan done by its owner
    PROTOCOL_WRITING = "protocol_writing"  # protocols: writing meeting
    PROTOCOL_VALIDATION = "protocol_validation"  # protocols: version validated
    PROTOCOL_ACT = "protocol_act"  # protocols: act under an adopted protocol


EVIDENCED_SOURCES: frozenset[SourceType] = frozenset(s for s in SourceType if s is not SourceType.MANUAL)


@dataclass(frozen=True)
class Evidence:
    """What backs one ledger source in a claim (French labels; no patient data)."""

    kind: str  # French label of the source kind, e.g. "Réunion de concertation"
    label: str  # French one-line description, e.g. "RCP du 20/11/2026 (réf. 1a2b3c4d)"
    on: date | None = None  # date of the event that justifies the action
    url: str | None = None  # in-app page of the source, when the reader may open it
    minutes_validated: bool | None = None  # meetings: minutes validated
    present_user_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)  # meetings: who attended
    reference: str | None = None  # short reference / version shown to the funder
