"""Append-only, hash-chained audit trail.

Each row stores sha256(previous_hash + canonical JSON of its own content). A single-row head table
is updated first in every writing transaction, which serialises chain appends on SQLite and
PostgreSQL alike. `esp-coord audit verify` walks the chain and names the first altered/removed row.
Never put patient data in clear in an audit row: ids only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from flask import g, has_request_context, request
from sqlalchemy.orm import Mapped, mapped_column

from esp_coord.core.db import Base, UTCDateTime
from esp_coord.core.time import utc_now

log = logging.getLogger("esp_coord.audit")
GENESIS = "0" * 64


class AuditAction(StrEnum):
    """Base of every audit action: each feature declares its own subclass with a French label per member.

        class PatientAudit(AuditAction):
            VIEW = "patient.view", _l("Patient page viewed")

    The value (``<feature>.<verb>``) is what the audit row stores; `registry()` gathers every member of every
    subclass (the audit viewers show `label_of(row.action)`), and a test checks values are unique.
    """

    label: Any

    def __new__(cls, value: str, label: Any = None) -> AuditAction:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label if label is not None else value
        return member


def registry() -> dict[str, AuditAction]:
    """Every declared audit action by stored value (features are imported by the app factory)."""
    out: dict[str, AuditAction] = {}
    pending = list(AuditAction.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        for member in cls:
            out[member.value] = member
    return out


def label_of(action: str) -> str:
    """French label of a stored action; an action no longer declared reads "Action archivée", never a code."""
    member = registry().get(action)
    return str(member.label) if member is not None else "Action archivée"


class AuditEvent(Base):
    __tablename__ = "audit_event"

    seq: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                                     autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid(), index=True)
    team_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid(), index=True)
    patient_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid(), index=True)
    action: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    object_type: Mapped[str | None] = mapped_column(sa.String(64))
    object_id: Mapped[str | None] = mapped_column(sa.String(64))
    outcome: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="success")
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    details: Mapped[str | None] = mapped_column(sa.Text)
    prev_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)

    def canonical(self) -> str:
        return json.dumps(
            {
                "seq": self.seq,
                "at": self.occurred_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "actor": str(self.actor_id) if self.actor_id else None,
                "team": str(self.team_id) if self.team_id else None,
                "patient": str(self.patient_id) if self.patient_id else None,
                "action": self.action,
                "otype": self.object_type,
                "oid": self.object_id,
                "outcome": self.outcome,
                "ip": self.ip,
                "rid": self.request_id,
                "details": self.details,
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    def compute_hash(self) -> str:
        return hashlib.sha256((self.prev_hash + self.canonical()).encode()).hexdigest()


class AuditHead(Base):
    """One row: the last sequence number and hash (plus the anchor left by retention purges)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False)
    last_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    anchor_seq: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False,
                                            default=0)
    anchor_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False, default=GENESIS)


def _session():
    from esp_coord.core.extensions import db

    return db.session


def record(
    action: AuditAction | str,  # str only until every feature declares its enum (issue 14)
    *,
    actor=None,
    actor_id: uuid.UUID | None = None,
    team_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    object_type: str | None = None,
    object_id=None,
    outcome: str = "success",
    details: dict | None = None,
) -> AuditEvent:
    """Append one audit row in the current transaction (the caller commits)."""
    session = _session()
    if actor is not None:
        actor_id = actor.id
    elif actor_id is None and has_request_context():
        from flask_login import current_user

        if getattr(current_user, "is_authenticated", False):
            actor_id = current_user.id
    updated = session.execute(
        sa.update(AuditHead).where(AuditHead.id == 1).values(last_seq=AuditHead.last_seq + 1)
    ).rowcount
    if not updated:
        session.add(AuditHead(id=1, last_seq=1, last_hash=GENESIS, anchor_seq=0, anchor_hash=GENESIS))
        session.flush()
    head = session.execute(sa.select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    session.refresh(head)
    event = AuditEvent(
        seq=head.last_seq,
        occurred_at=utc_now(),
        actor_id=actor_id,
        team_id=team_id,
        patient_id=patient_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id) if object_id is not None else None,
        outcome=outcome,
        ip=request.remote_addr if has_request_context() else None,
        request_id=getattr(g, "request_id", None) if has_request_context() else None,
        details=json.dumps(details, sort_keys=True, ensure_ascii=False) if details else None,
        prev_hash=head.last_hash,
    )
    event.hash = event.compute_hash()
    head.last_hash = event.hash
    session.add(event)
    session.flush()
    log.info("audit %s %s %s/%s %s", action, outcome, object_type or "-", event.object_id or "-", event.seq)
    return event


def record_many(action: str, items: list[dict], *, actor=None) -> list[AuditEvent]:
    """Append several rows of one action in one chain step (list pages reading many patients):
    the head is locked and moved once, the rows are inserted together — constant statements per page.
    Each item: team_id, patient_id, object_type, object_id, optional outcome/details."""
    if not items:
        return []
    session = _session()
    actor_id = actor.id if actor is not None else None
    if actor_id is None and has_request_context():
        from flask_login import current_user

        if getattr(current_user, "is_authenticated", False):
            actor_id = current_user.id
    n = len(items)
    updated = session.execute(
        sa.update(AuditHead).where(AuditHead.id == 1).values(last_seq=AuditHead.last_seq + n)
    ).rowcount
    if not updated:
        session.add(AuditHead(id=1, last_seq=n, last_hash=GENESIS, anchor_seq=0, anchor_hash=GENESIS))
        session.flush()
    head = session.execute(sa.select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    session.refresh(head)
    seq = head.last_seq - n + 1
    prev = head.last_hash
    now = utc_now()
    ip = request.remote_addr if has_request_context() else None
    rid = getattr(g, "request_id", None) if has_request_context() else None
    events = []
    for offset, item in enumerate(items):
        details = item.get("details")
        event = AuditEvent(
            seq=seq + offset, occurred_at=now, actor_id=actor_id, team_id=item.get("team_id"),
            patient_id=item.get("patient_id"), action=action, object_type=item.get("object_type"),
            object_id=str(item["object_id"]) if item.get("object_id") is not None else None,
            outcome=item.get("outcome", "success"), ip=ip, request_id=rid,
            details=json.dumps(details, sort_keys=True, ensure_ascii=False) if details else None, prev_hash=prev,
        )
        event.hash = event.compute_hash()
        prev = event.hash
        events.append(event)
    head.last_hash = prev
    session.add_all(events)
    session.flush()
    log.info("audit %s x%d", action, n)
    return events


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None


def verify_chain(batch: int = 5000) -> VerifyResult:
    session = _session()
    head = session.get(AuditHead, 1)
    if head is None:
        return VerifyResult(True, 0)
    expected_prev = head.anchor_hash
    expected_seq = head.anchor_seq + 1
    checked = 0
    last = head.anchor_seq
    while True:
        rows = session.execute(
            sa.select(AuditEvent).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch)
        ).scalars().all()
        if not rows:
            break
        for row in rows:
            if row.seq != expected_seq:
                return VerifyResult(False, checked, expected_seq, f"ligne {expected_seq} supprimée / row removed")
            if row.prev_hash != expected_prev:
                return VerifyResult(False, checked, row.seq, "chaînage rompu / chain link broken")
            if row.compute_hash() != row.hash:
                return VerifyResult(False, checked, row.seq, "contenu modifié / content altered")
            expected_prev = row.hash
            expected_seq += 1
            checked += 1
            last = row.seq
        session.expunge_all()
    if last != head.last_seq:
        return VerifyResult(False, checked, last + 1, f"lignes {last + 1}–{head.last_seq} supprimées / rows removed")
    if expected_prev != head.last_hash:
        return VerifyResult(False, checked, last, "tête de chaîne incohérente / head mismatch")
    return VerifyResult(True, checked)


@dataclass
class PurgeResult:
    purged: int
    anchor_seq: int
    anchor_hash: str


def purge_before(cutoff: datetime) -> PurgeResult:
    """Retention purge: delete the oldest rows written before `cutoff`, keeping the chain verifiable.

    Only a prefix of the chain is removed (rows up to the first one written at/after `cutoff`); the
    hash of the last removed row becomes the new anchor in AuditHead, so `verify_chain()` still starts
    from a known hash. Refuses to purge a chain that does not verify (it would erase the evidence).
    The caller commits. Needs DELETE on audit_event (run it with the maintenance role).
    """
    if cutoff.tzinfo is None:
        raise ValueError("cutoff must be timezone-aware (UTC)")
    session = _session()
    result = verify_chain()
    if not result.ok:
        raise RuntimeError(f"chaîne d'audit invalide (ligne {result.first_bad_seq} : {result.reason}) : purge refusée")
    # Lock the head row first, as record() does: appends wait until the purge commits.
    session.execute(sa.update(AuditHead).where(AuditHead.id == 1).values(anchor_seq=AuditHead.anchor_seq))
    head = session.execute(sa.select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
    if head is None:
        return PurgeResult(0, 0, GENESIS)
    session.refresh(head)
    first_kept = session.execute(
        sa.select(sa.func.min(AuditEvent.seq)).where(AuditEvent.seq > head.anchor_seq, AuditEvent.occurred_at >= cutoff)
    ).scalar_one()
    last_purged = (first_kept - 1) if first_kept is not None else head.last_seq
    if last_purged <= head.anchor_seq:
        return PurgeResult(0, head.anchor_seq, head.anchor_hash)
    new_anchor = session.execute(sa.select(AuditEvent.hash).where(AuditEvent.seq == last_purged)).scalar_one()
    purged = session.execute(
        sa.delete(AuditEvent).where(AuditEvent.seq > head.anchor_seq, AuditEvent.seq <= last_purged)
    ).rowcount
    head.anchor_seq, head.anchor_hash = last_purged, new_anchor
    session.flush()
    log.info("audit purge: %s rows, new anchor %s", purged, last_purged)
    return PurgeResult(purged, last_purged, new_anchor)
