"""Funding computations and writes: grid, envelope, claims (frozen snapshot + SHA-256), payments, projet de santé.

Ledger-based computations select plain columns in a fixed number of queries, whatever the data size.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from flask_babel import gettext as _

from esp_coord.activity.models import ActionType, LedgerEntry
from esp_coord.auth.models import User
from esp_coord.core import audit
from esp_coord.core.extensions import db
from esp_coord.core.time import today_paris, utc_now
from esp_coord.funding import evidence
from esp_coord.funding.models import (
    CLAP_STEPS,
    DEFAULT_ENVELOPE,
    PROJET_FIELDS,
    UNITS,
    Claim,
    ClaimPayment,
    ClapStep,
    Envelope,
    ProjetSante,
    TariffGrid,
    TariffRate,
)
from esp_coord.teams.models import Membership, Profession, Team

CENT = Decimal("0.01")
EXAMPLE_LABEL = "exemple — à remplacer par la grille de votre convention"
# code, unit, amount, cap_units, cap_scope — domain.md §3.1 EXAMPLE grid (invented figures, NOT real rates)
EXAMPLE_GRID = [
    ("RCP_SANS", "per_participant", "50", "12", "year"),
    ("RCP_AVEC", "per_participant", "70", None, "year"),
    ("PPS_INIT", "per_participant", "100", None, "year"),
    ("PPS_REVUE", "per_participant", "40", "2", "source"),
    ("PROTO_REDAC", "per_hour", "45", "10", "source"),
    ("PREV_ETP", "per_participant", "60", None, "year"),
    ("PROJET_SANTE", "flat", "150", None, "year"),
]


class FundingError(ValueError):
    """A French message explaining why the operation is refused."""


def money(value) -> Decimal:
    return Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------- grid

def ensure_example_grid(year: int) -> TariffGrid:
    grid = db.session.execute(sa.select(TariffGrid).where(TariffGrid.year == year)).scalar_one_or_none()
    if grid is not None:
        return grid
    grid = TariffGrid(id=uuid.uuid4(), year=year, is_example=True, note=EXAMPLE_LABEL)
    db.session.add(grid)
    known = set(db.session.execute(sa.select(ActionType.code)).scalars())
    for code, unit, amount, cap, scope in EXAMPLE_GRID:
        if code in known:
            grid.rates.append(TariffRate(action_type=code, unit=unit, amount=Decimal(amount),
                                         cap_units=Decimal(cap) if cap else None, cap_scope=scope))
    db.session.flush()
    return grid


def reference_data() -> None:
    """Hook "reference_data": the example grid for the current and the previous year (idempotent)."""
    year = today_paris().year
    for y in (year - 1, year):
        ensure_example_grid(y)


def get_grid(year: int) -> TariffGrid | None:
    return db.session.execute(sa.select(TariffGrid).where(TariffGrid.year == year)).scalar_one_or_none()


def grid_for_year(year: int) -> TariffGrid | None:
    """The grid of `year`, else the latest earlier one, else the earliest later one."""
    grid = db.session.execute(sa.select(TariffGrid).where(TariffGrid.year <= year)
                              .order_by(TariffGrid.year.desc()).limit(1)).scalar_one_or_none()
    if grid is None:
        grid = db.session.execute(sa.select(TariffGrid).order_by(TariffGrid.year).limit(1)).scalar_one_or_none()
    return grid


def rates_by_year(years) -> dict[int, dict[str, TariffRate]]:
    out = {}
    for year in set(years):
        grid = grid_for_year(year)
        out[year] = {r.action_type: r for r in grid.rates} if grid else {}
    return out


def create_grid(year: int, actor) -> TariffGrid:
    if get_grid(year) is not None:
        raise FundingError(_("A grid already exists for this year."))
    source = grid_for_year(year)
    grid = TariffGrid(id=uuid.uuid4(), year=year, is_example=bool(source and source.is_example),
                      note=source.note if source else None,
                      team_admins_may_edit=bool(source and source.team_admins_may_edit), updated_by_id=actor.id)
    db.session.add(grid)
    if source is not None:
        for r in source.rates:
            grid.rates.append(TariffRate(action_type=r.action_type, unit=r.unit, amount=r.amount,
                                         cap_units=r.cap_units, cap_scope=r.cap_scope))
    db.session.flush()
    audit.record("funding.grid.create", actor=actor, object_type="funding_grid", object_id=grid.id,
                 details={"year": year})
    return grid


def can_edit_grid(user, grid: TariffGrid | None = None) -> bool:
    if getattr(user, "is_association", False) or getattr(user, "is_platform_admin", False):
        return True
    if grid is not None and grid.team_admins_may_edit:
        return any(m.role == "admin" for m in user.memberships)
    return False


def update_grid(grid: TariffGrid, rows: dict[str, dict], *, actor, note: str | None = None,
                team_admins_may_edit: bool | None = None) -> None:
    """rows: code -> {unit, amount, cap_units, cap_scope}; amount None removes the rate."""
    existing = {r.action_type: r for r in grid.rates}
    for code, row in rows.items():
        if row.get("unit") not in UNITS:
            raise FundingError(_("Unknown unit."))
        amount = row.get("amount")
        if amount is not None and Decimal(amount) < 0 or (row.get("cap_units") is not None
                                                          and Decimal(row["cap_units"]) < 0):
            raise FundingError(_("Amounts must be positive."))
        rate = existing.get(code)
        if amount is None:
            if rate is not None:
                grid.rates.remove(rate)
            continue
        if rate is None:
            rate = TariffRate(action_type=code)
            grid.rates.append(rate)
        rate.unit = row["unit"]
        rate.amount = money(amount)
        rate.cap_units = Decimal(row["cap_units"]) if row.get("cap_units") is not None else None
        rate.cap_scope = row.get("cap_scope") or "year"
    grid.is_example = False
    grid.note = note
    if team_admins_may_edit is not None and (actor.is_association or actor.is_platform_admin):
        grid.team_admins_may_edit = team_admins_may_edit
    grid.updated_by_id = actor.id
    grid.updated_at = utc_now()
    audit.record("funding.grid.update", actor=actor, object_type="funding_grid", object_id=grid.id,
                 details={"year": grid.year, "types": sorted(rows)})


def is_action_funded(team, action_type_code: str, on_date: date) -> bool:
    """Hook "is_action_funded": does the grid pay this action type for this team on this date?"""
    kind = db.session.get(ActionType, action_type_code)
    if kind is None or (kind.requires_association and not team.is_association):
        return False
    grid = grid_for_year(on_date.year)
    rate = next((r for r in grid.rates if r.action_type == action_type_code), None) if grid else None
    return bool(rate and rate.amount > 0)


# ---------------------------------------------------------------- pricing

@dataclass
class Priced:
    quantity: Decimal
    paid_quantity: Decimal
    amount: Decimal
    capped: bool
    rate_missing: bool


LEDGER_COLUMNS = (LedgerEntry.id, LedgerEntry.team_id, LedgerEntry.user_id, LedgerEntry.action_type,
                  LedgerEntry.performed_on, LedgerEntry.duration_minutes, LedgerEntry.patient_count,
                  LedgerEntry.source_type, LedgerEntry.source_id, LedgerEntry.status)


def ledger_rows(team_ids, start: date, end: date, statuses=("validated",), raw_ids: bool = False):
    """Plain rows of the ledger. raw_ids=True skips UUID conversion of the id columns (driver values, faster:
    aggregates only, never stored)."""
    columns = LEDGER_COLUMNS
    if raw_ids:
        columns = tuple(sa.type_coerce(c, sa.String).label(c.key) if isinstance(c.type, sa.Uuid) else c
                        for c in LEDGER_COLUMNS)
    query = (sa.select(*columns)
             .where(LedgerEntry.team_id.in_(list(team_ids)), LedgerEntry.performed_on >= start,
                    LedgerEntry.performed_on <= end, LedgerEntry.status.in_(list(statuses)))
             .order_by(LedgerEntry.performed_on, LedgerEntry.id))
    return db.session.execute(query).all()


def quantity_of(unit: str, row) -> Decimal:
    if unit == "per_patient":
        return Decimal(max(row.patient_count or 0, 0))
    if unit == "per_hour":
        return (Decimal(row.duration_minutes or 0) / Decimal(60)).quantize(CENT)
    return Decimal(1)


def price_rows(rows, rates: dict[int, dict[str, TariffRate]] | None = None) -> dict:
    """entry id -> Priced. Rows must be in date order; caps run per professional and calendar year."""
    if rates is None:
        rates = rates_by_year({r.performed_on.year for r in rows})
    plan: dict = {}  # (year, code) -> (unit, amount, cap, per_source) or None
    for year, by_code in rates.items():
        for code, rate in by_code.items():
            cap = rate.cap_units
            if rate.unit == "flat":
                cap = Decimal(1) if cap is None else min(cap, Decimal(1))
            plan[(year, code)] = (rate.unit, rate.amount, cap, rate.cap_scope == "source" and rate.unit != "flat")
    zero = Decimal(0)
    one = Decimal(1)
    missing = Priced(zero, zero, zero, False, True)
    used: dict[tuple, Decimal] = defaultdict(Decimal)
    cache: dict = {}
    out = {}
    for row in rows:
        year = row.performed_on.year
        p = plan.get((year, row.action_type))
        if p is None:
            out[row.id] = missing
            continue
        unit, amount, cap, per_source = p
        if unit == "per_participant":
            qty = one
        elif unit == "per_patient":
            qty = Decimal(max(row.patient_count or 0, 0))
        elif unit == "per_hour":
            qty = (Decimal(row.duration_minutes or 0) / 60).quantize(CENT)
        else:
            qty = one
        if cap is None:
            key = (unit, qty, amount)
            priced = cache.get(key)
            if priced is None:
                priced = cache[key] = Priced(qty, qty, money(qty * amount), False, False)
            out[row.id] = priced
            continue
        key = (row.team_id, row.user_id, row.action_type, year)
        if per_source:
            key = key + (row.source_type, row.source_id)
        paid = max(zero, min(qty, cap - used[key]))
        used[key] += qty
        out[row.id] = Priced(qty, paid, money(paid * amount), paid < qty, False)
    return out


def year_expr(column, first_year: int, last_year: int):
    """The calendar year of a date column as a CASE over year boundaries (cheaper than EXTRACT on SQLite).

    Constants are inlined (validated integers) so that the same SQL text appears in SELECT and GROUP BY.
    """
    first_year, last_year = int(first_year), int(last_year)
    whens = [(column >= sa.literal_column(f"'{y:04d}-01-01'"), sa.literal_column(str(y)))
             for y in range(last_year, first_year, -1)]
    if not whens:
        whens = [(column >= sa.literal_column(f"'{first_year:04d}-01-01'"), sa.literal_column(str(first_year)))]
    return sa.case(*whens, else_=sa.literal_column(str(first_year)))


def aggregate_amounts(team_ids, first_year: int, last_year: int, statuses=("validated",)) -> dict:
    """{(team_id, year, action_type, user_id): (count, amount)} over whole calendar years, aggregated in SQL."""
    return aggregate_ledger(team_ids, first_year, last_year, statuses)[0]


def aggregate_ledger(team_ids, first_year: int, last_year: int, statuses=("validated",), detail: bool = False):
    """Amounts per (team, year, action type, professional) over whole calendar years, aggregated in SQL.

    Caps are per professional and year (or per object and year), so over whole years the paid quantity of a
    group is min(total quantity, cap): the result equals the per-entry pricing, in two queries whose size does
    not grow with the ledger (except one row per capped object). With detail=True the groups are also split by
    month and source type and returned (rows: yr, month, action_type, source_type, user_id, n) for reports.
    """
    le = LedgerEntry
    yr = year_expr(le.performed_on, first_year, last_year).label("yr")
    where = (le.team_id.in_(list(team_ids)), le.performed_on >= date(first_year, 1, 1),
             le.performed_on <= date(last_year, 12, 31), le.status.in_(list(statuses)))
    rates = rates_by_year(range(first_year, last_year + 1))
    per_source = {(y, c) for y, by in rates.items() for c, r in by.items()
                  if r.cap_scope == "source" and r.unit != "flat" and r.cap_units is not None}
    source_codes = {c for _y, c in per_source}
    n = sa.func.count().label("n")
    pc = sa.func.coalesce(sa.func.sum(le.patient_count), 0).label("pc")
    dur = sa.func.coalesce(sa.func.sum(le.duration_minutes), 0).label("dur")
    # ids as driver values (no UUID object per row); mapped back once per distinct value below
    raw_team = sa.type_coerce(le.team_id, sa.String).label("team_id")
    raw_user = sa.type_coerce(le.user_id, sa.String).label("user_id")
    groups = [raw_team, yr, le.action_type, raw_user]
    fine = groups + ([sa.extract("month", le.performed_on).label("month"), le.source_type] if detail else [])
    rows = db.session.execute(sa.select(*fine, n, pc, dur).where(*where).group_by(*fine)).all()
    sub_rows = []
    if source_codes:
        # per object: min(quantity, cap), summed per professional in SQL (one row per professional and type)
        sub = (sa.select(*groups, n, pc, dur).where(*where, le.action_type.in_(source_codes))
               .group_by(*groups, le.source_type, le.source_id).subquery())
        quantity = sa.case(*[(sub.c.action_type == code, {"per_patient": sub.c.pc, "per_hour": sub.c.dur / 60.0}
                              .get(rates[y][code].unit, sub.c.n)) for y, code in sorted(per_source)], else_=sub.c.n)
        cap = sa.case(*[(sa.and_(sub.c.yr == sa.literal_column(str(int(y))), sub.c.action_type == code),
                         sa.literal_column(str(float(rates[y][code].cap_units)))) for y, code in sorted(per_source)],
                      else_=None)
        paid_col = sa.func.sum(sa.case((quantity > cap, cap), else_=quantity)).label("paid")
        outer = [sub.c.team_id, sub.c.yr, sub.c.action_type, sub.c.user_id]
        sub_rows = db.session.execute(sa.select(*outer, paid_col).group_by(*outer)).all()
    ids: dict = {}

    def as_uuid(raw):
        value = ids.get(raw)
        if value is None:
            value = ids[raw] = raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
        return value

    def qty(unit, n_, pc_, dur_) -> Decimal:
        if unit == "per_patient":
            return Decimal(int(pc_))
        if unit == "per_hour":
            return (Decimal(int(dur_)) / 60).quantize(CENT)
        return Decimal(int(n_))

    paid_by_source: dict = defaultdict(Decimal)
    for r in sub_rows:
        if (int(r.yr), r.action_type) in per_source:
            paid_by_source[(r.team_id, int(r.yr), r.action_type, r.user_id)] += Decimal(str(r.paid or 0)).quantize(
                CENT)
    sums: dict = {}
    for r in rows:
        raw_key = (r.team_id, int(r.yr), r.action_type, r.user_id)
        acc = sums.get(raw_key)
        sums[raw_key] = (r.n, r.pc, r.dur) if acc is None else (acc[0] + r.n, acc[1] + r.pc, acc[2] + r.dur)
    out: dict = {}
    for raw_key, (n_, pc_, dur_) in sums.items():
        _t, year, code, _u = raw_key
        key = (as_uuid(raw_key[0]), year, code, as_uuid(raw_key[3]))
        rate = rates.get(year, {}).get(code)
        if rate is None:
            out[key] = (int(n_), Decimal("0.00"))
            continue
        if (year, code) in per_source:
            paid = paid_by_source[raw_key]
        else:
            paid = qty(rate.unit, n_, pc_, dur_)
            cap = rate.cap_units
            if rate.unit == "flat":
                cap = Decimal(1) if cap is None else min(cap, Decimal(1))
            if cap is not None:
                paid = min(paid, cap)
        out[key] = (int(n_), money(paid * rate.amount))
    detail_rows = [(int(r.yr), int(r.month), r.action_type, r.source_type, as_uuid(r.user_id), int(r.n))
                   for r in rows] if detail else []
    return out, detail_rows


def priced_total(team_ids, start: date, end: date, statuses=("validated",)) -> dict:
    """team id -> total amount of the entries in [start, end] (caps counted from 1 January)."""
    rows = ledger_rows(team_ids, date(start.year, 1, 1), end, statuses)
    priced = price_rows(rows)
    totals: dict = defaultdict(Decimal)
    for row in rows:
        if row.performed_on >= start:
            totals[row.team_id] += priced[row.id].amount
    return totals


# ---------------------------------------------------------------- envelope

def get_envelope_amount(team_id, year: int) -> Decimal:
    env = db.session.execute(sa.select(Envelope).where(Envelope.team_id == team_id, Envelope.year == year)
                             ).scalar_one_or_none()
    return env.amount if env else DEFAULT_ENVELOPE


def set_envelope(team, year: int, amount, *, actor) -> Envelope:
    amount = money(amount)
    if amount < 0:
        raise FundingError(_("Amounts must be positive."))
    env = db.session.execute(sa.select(Envelope).where(Envelope.team_id == team.id, Envelope.year == year)
                             ).scalar_one_or_none()
    if env is None:
        env = Envelope(team_id=team.id, year=year)
        db.session.add(env)
    env.amount = amount
    db.session.flush()
    audit.record("funding.envelope.set", actor=actor, team_id=team.id, object_type="funding_envelope",
                 object_id=env.id, details={"year": year, "amount": str(amount)})
    return env


def _superseded_ids(claims) -> set:
    return {c.corrects_id for c in claims if c.corrects_id and c.status in ("submitted", "paid")}


def envelope_statuses(team_ids, year: int) -> dict:
    """team id -> dict(envelope, logged, validated, claimed, paid, remaining, over, over_by). Fixed query count."""
    team_ids = list(team_ids)
    start, end = date(year, 1, 1), date(year, 12, 31)
    envs = dict(db.session.execute(sa.select(Envelope.team_id, Envelope.amount)
                                   .where(Envelope.team_id.in_(team_ids), Envelope.year == year)).all())
    logged: dict = defaultdict(Decimal)
    validated_by_team: dict = defaultdict(Decimal)
    for (tid, _y, _code, _uid), (_n, amount) in aggregate_amounts(team_ids, year, year,
                                                                  ("validated", "to_validate")).items():
        logged[tid] += amount
    for (tid, _y, _code, _uid), (_n, amount) in aggregate_amounts(team_ids, year, year).items():
        validated_by_team[tid] += amount
    claims = db.session.execute(sa.select(Claim).where(Claim.team_id.in_(team_ids), Claim.period_start >= start,
                                                       Claim.period_start <= end)).scalars().all()
    superseded = _superseded_ids(claims)
    claimed: dict = defaultdict(Decimal)
    paid: dict = defaultdict(Decimal)
    for c in claims:
        if c.status in ("submitted", "paid") and c.id not in superseded:
            claimed[c.team_id] += c.total_amount or 0
        if c.status == "paid":
            paid[c.team_id] += sum((p.amount for p in c.payments), Decimal(0))
    out = {}
    for tid in team_ids:
        envelope = envs.get(tid, DEFAULT_ENVELOPE)
        over_by = logged[tid] - envelope
        out[tid] = {"envelope": envelope, "logged": logged[tid], "validated": validated_by_team[tid],
                    "claimed": claimed[tid], "paid": paid[tid], "remaining": envelope - claimed[tid],
                    "over": over_by > 0, "over_by": max(over_by, Decimal(0)),
                    "ratio": float(logged[tid] / envelope * 100) if envelope else 0.0}
    return out


def envelope_status(team, year: int) -> dict:
    return envelope_statuses([team.id], year)[team.id]


# ---------------------------------------------------------------- claims

def period_bounds(kind: str, year: int, start: date | None = None, end: date | None = None) -> tuple[date, date]:
    if kind == "s1":
        return date(year, 1, 1), date(year, 6, 30)
    if kind == "s2":
        return date(year, 7, 1), date(year, 12, 31)
    if kind == "year":
        return date(year, 1, 1), date(year, 12, 31)
    if start is None or end is None or end < start:
        raise FundingError(_("The end of the period must follow its start."))
    if (end - start).days > 366:
        raise FundingError(_("A claim covers at most one year."))
    return start, end


def create_claim(team, kind: str, start: date, end: date, *, actor, corrects: Claim | None = None) -> Claim:
    if corrects is not None:
        if corrects.team_id != team.id or corrects.status not in ("submitted", "paid", "rejected"):
            raise FundingError(_("Only a submitted claim can be corrected."))
    claim = Claim(id=uuid.uuid4(), team_id=team.id, period_kind=kind, period_start=start, period_end=end,
                  status="draft", created_by_id=actor.id, corrects_id=corrects.id if corrects else None)
    db.session.add(claim)
    db.session.flush()
    audit.record("funding.claim.create", actor=actor, team_id=team.id, object_type="funding_claim",
                 object_id=claim.id, details={"start": start.isoformat(), "end": end.isoformat(),
                                              "corrects": str(corrects.id) if corrects else None})
    return claim


def _s(value: Decimal) -> str:
    return str(money(value))


def _claimed_elsewhere(claim: Claim) -> set[str]:
    """Entry ids already in another submitted/paid claim of the team (except the one being corrected)."""
    others = db.session.execute(
        sa.select(Claim.id, Claim.snapshot, Claim.corrects_id).where(
            Claim.team_id == claim.team_id, Claim.id != claim.id, Claim.status.in_(("submitted", "paid")),
            Claim.period_start <= claim.period_end, Claim.period_end >= claim.period_start)).all()
    superseded = {o.corrects_id for o in others if o.corrects_id}
    ids: set[str] = set()
    for other in others:
        if other.id == claim.corrects_id or other.id in superseded or not other.snapshot:
            continue
        ids.update(e["id"] for e in json.loads(other.snapshot).get("entries", []))
    return ids


def build_claim_data(claim: Claim) -> dict:
    """Everything the claim says, from the live ledger. Contains no patient data (counts only)."""
    team = claim.team
    start, end = claim.period_start, claim.period_end
    rows_all = ledger_rows([team.id], date(start.year, 1, 1), end)
    priced = price_rows(rows_all)
    rows = [r for r in rows_all if r.performed_on >= start]
    user_ids = {r.user_id for r in rows}
    users = {u.id: u for u in db.session.execute(sa.select(User).where(User.id.in_(list(user_ids)))).scalars()}
    types = {t.code: t for t in db.session.execute(sa.select(ActionType)).scalars()}
    memberships = {m.user_id: m for m in db.session.execute(
        sa.select(Membership).where(Membership.team_id == team.id)).scalars()}
    ev = evidence.resolve({(r.source_type, r.source_id) for r in rows})
    years = sorted({start.year, end.year})
    grids = {y: grid_for_year(y) for y in years}
    rates = {y: {r.action_type: r for r in g.rates} if g else {} for y, g in grids.items()}

    entries, anomalies = [], []
    by_type: dict = {}
    by_user: dict = {}
    evidence_list: dict = {}

    def flag(code, message, entry_id=None):
        anomalies.append({"code": code, "message": message, "entry": str(entry_id) if entry_id else None})

    seen: dict = {}
    already = _claimed_elsewhere(claim)
    today = today_paris()
    for r in rows:
        p = priced[r.id]
        user = users.get(r.user_id)
        name = user.full_name if user else "?"
        kind = types.get(r.action_type)
        info = ev.get((r.source_type, r.source_id)) if r.source_id else None
        key = f"{r.source_type}:{r.source_id}" if r.source_id else None
        if key and key not in evidence_list:
            evidence_list[key] = {"key": key, "type": r.source_type, "kind": str(info.get("kind")),
                                  "label": str(info.get("label")),
                                  "date": info["date"].isoformat() if info.get("date") else None, "entries": 0}
        if key:
            evidence_list[key]["entries"] += 1
        entries.append({"id": str(r.id), "date": r.performed_on.isoformat(), "user": str(r.user_id),
                        "type": r.action_type, "quantity": str(p.quantity), "paid_quantity": str(p.paid_quantity),
                        "amount": _s(p.amount), "evidence": key})
        t = by_type.setdefault(r.action_type, {"code": r.action_type, "label": kind.label if kind else r.action_type,
                                               "unit": rates.get(r.performed_on.year, {}).get(r.action_type).unit
                                               if rates.get(r.performed_on.year, {}).get(r.action_type) else None,
                                               "count": 0, "quantity": Decimal(0), "amount": Decimal(0)})
        t["count"] += 1
        t["quantity"] += p.paid_quantity
        t["amount"] += p.amount
        u = by_user.setdefault(r.user_id, {"user": str(r.user_id), "name": name,
                                           "profession": user.profession_label if user else "—",
                                           "rpps": (user.rpps or "") if user else "", "count": 0,
                                           "amount": Decimal(0)})
        u["count"] += 1
        u["amount"] += p.amount
        # anomalies
        when = r.performed_on.strftime("%d/%m/%Y")
        label = kind.label if kind else r.action_type
        if kind is not None and kind.requires_association and not team.is_association:
            flag("legal_form", _("%(type)s on %(date)s (%(name)s): this action type needs an association loi 1901.",
                                 type=label, date=when, name=name), r.id)
        if r.action_type in ("RCP_SANS", "RCP_AVEC"):
            if not r.source_id:
                flag("rcp_minutes", _("%(type)s on %(date)s (%(name)s): no meeting record, hence no validated "
                                      "minutes.", type=label, date=when, name=name), r.id)
            elif info and info.get("minutes_validated") is False:
                flag("rcp_minutes", _("%(type)s on %(date)s: the minutes of the meeting are not validated.",
                                      type=label, date=when), r.id)
            if info and info.get("present_user_ids") is not None and r.user_id not in info["present_user_ids"]:
                flag("attendance", _("%(type)s on %(date)s: %(name)s is not marked present on the attendance "
                                     "sheet.", type=label, date=when, name=name), r.id)
        source_date = info.get("date") if info else None
        if r.performed_on > today or (source_date and not (start <= source_date <= end)):
            flag("outside_period", _("%(type)s on %(date)s (%(name)s): outside the period of the claim.",
                                     type=label, date=when, name=name), r.id)
        m = memberships.get(r.user_id)
        if m is None or (m.started_on and r.performed_on < m.started_on) or (
                m.ended_on and r.performed_on > m.ended_on):
            flag("outside_period", _("%(type)s on %(date)s: %(name)s was not a member of the team on that date.",
                                     type=label, date=when, name=name), r.id)
        dup_key = (r.user_id, r.action_type, r.performed_on, r.source_type, r.source_id)
        if dup_key in seen or (not r.source_id and (r.user_id, r.action_type, r.performed_on) in seen):
            flag("duplicate", _("%(type)s on %(date)s (%(name)s): possible duplicate entry.",
                                type=label, date=when, name=name), r.id)
        seen[dup_key] = r.id
        if not r.source_id:
            seen[(r.user_id, r.action_type, r.performed_on)] = r.id
        if str(r.id) in already:
            flag("duplicate", _("%(type)s on %(date)s (%(name)s): already included in another submitted claim.",
                                type=label, date=when, name=name), r.id)
        if p.rate_missing:
            flag("no_rate", _("%(type)s on %(date)s: the grid does not fund this action type.", type=label,
                              date=when), r.id)
        elif p.capped:
            flag("cap", _("%(type)s on %(date)s (%(name)s): cap of the grid reached, not paid in full.",
                          type=label, date=when, name=name), r.id)
    total = sum((t["amount"] for t in by_type.values()), Decimal(0))
    ordered_types = sorted(by_type.values(), key=lambda t: (types[t["code"]].sort if t["code"] in types else 999))
    corrects = claim.corrects
    return {
        "format": 1,
        "claim_id": str(claim.id),
        "corrects": {"id": str(corrects.id), "sha256": corrects.sha256, "period": corrects.period_label}
        if corrects else None,
        "team": {"id": str(team.id), "name": team.name, "kind": team.kind_label, "legal_form": team.legal_form_label,
                 "communes": team.commune_list},
        "period": {"kind": claim.period_kind, "start": start.isoformat(), "end": end.isoformat()},
        "grid": {"years": years, "example": any(g.is_example for g in grids.values() if g)},
        "types": [{**t, "quantity": str(t["quantity"]), "amount": _s(t["amount"])} for t in ordered_types],
        "professionals": [{**u, "amount": _s(u["amount"])}
                          for u in sorted(by_user.values(), key=lambda u: u["name"].lower())],
        "evidence": sorted(evidence_list.values(), key=lambda e: (e["date"] or "", e["label"])),
        "entries": entries,
        "anomalies": anomalies,
        "entry_count": len(entries),
        "total": _s(total),
    }


def anomaly_labels() -> dict[str, str]:
    return {"rcp_minutes": _("RCP without validated minutes"), "attendance": _("Attendee without attendance"),
            "legal_form": _("Action type not allowed for the team's legal form"),
            "outside_period": _("Outside the period"), "duplicate": _("Duplicates"),
            "no_rate": _("Not funded by the grid"), "cap": _("Cap reached")}


def canonical(data: dict) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def claim_data(claim: Claim) -> dict:
    """The frozen snapshot of a submitted claim, else the live computation of a draft."""
    if claim.snapshot:
        return json.loads(claim.snapshot)
    return json.loads(canonical(build_claim_data(claim)))


def submit_claim(claim: Claim, *, actor) -> None:
    # Claim the draft atomically first: of two concurrent submissions only one sees rowcount == 1
    # (the UPDATE takes the row lock on PostgreSQL and the write lock on SQLite).
    won = db.session.execute(
        sa.update(Claim).where(Claim.id == claim.id, Claim.status == "draft")
        .values(status="submitting").execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(claim)
    if won != 1:
        raise FundingError(_("This claim is already submitted."))
    data = build_claim_data(claim)
    if not data["entries"]:
        raise FundingError(_("There is no validated action in this period."))
    data["submitted_at"] = utc_now().isoformat()
    text = canonical(data)
    claim.snapshot = text
    claim.sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
    claim.total_amount = Decimal(data["total"])
    claim.status = "submitted"
    claim.submitted_at = utc_now()
    claim.submitted_by_id = actor.id
    audit.record("funding.claim.submit", actor=actor, team_id=claim.team_id, object_type="funding_claim",
                 object_id=claim.id, details={"sha256": claim.sha256, "total": data["total"]})


def verify_claim(claim: Claim) -> bool:
    return bool(claim.snapshot) and hashlib.sha256(claim.snapshot.encode("utf-8")).hexdigest() == claim.sha256


def mark_paid(claim: Claim, paid_on: date, amounts: dict, *, actor) -> None:
    if claim.status != "submitted":
        raise FundingError(_("Only a submitted claim can be marked as paid."))
    professionals = {p["user"] for p in claim_data(claim)["professionals"]}
    for user_id, amount in amounts.items():
        if str(user_id) not in professionals:
            raise FundingError(_("Unknown professional for this claim."))
        if money(amount) < 0:
            raise FundingError(_("Amounts must be positive."))
        claim.payments.append(ClaimPayment(user_id=uuid.UUID(str(user_id)), amount=money(amount), paid_on=paid_on))
    claim.status = "paid"
    claim.paid_on = paid_on
    claim.decided_by_id = actor.id
    audit.record("funding.claim.paid", actor=actor, team_id=claim.team_id, object_type="funding_claim",
                 object_id=claim.id, details={"paid_on": paid_on.isoformat()})


def reject_claim(claim: Claim, reason: str, *, actor) -> None:
    if claim.status != "submitted":
        raise FundingError(_("Only a submitted claim can be rejected."))
    if not reason.strip():
        raise FundingError(_("Give the reason of the rejection."))
    claim.status = "rejected"
    claim.rejection_reason = reason.strip()
    claim.rejected_at = utc_now()
    claim.decided_by_id = actor.id
    audit.record("funding.claim.rejected", actor=actor, team_id=claim.team_id, object_type="funding_claim",
                 object_id=claim.id)


def delete_draft(claim: Claim, *, actor) -> None:
    if claim.status != "draft":
        raise FundingError(_("A submitted claim cannot be deleted."))
    audit.record("funding.claim.delete", actor=actor, team_id=claim.team_id, object_type="funding_claim",
                 object_id=claim.id)
    db.session.delete(claim)


def claim_csv(data: dict, sha256: str | None) -> str:
    """CSV text (';', French numbers). One line per professional and action type, then totals. No patient data."""
    from esp_coord.core.pdf import csv_text
    from esp_coord.core.time import format_number

    lines = [[_("Team"), data["team"]["name"]],
             [_("Period"), data["period"]["start"], data["period"]["end"]],
             [_("SHA-256"), sha256 or _("draft — not submitted")], [],
             [_("Professional"), _("Profession"), _("RPPS"), _("Actions"), _("Amount (€)")]]
    for p in data["professionals"]:
        lines.append([p["name"], p["profession"], p["rpps"], p["count"], format_number(p["amount"])])
    lines.append([])
    lines.append([_("Action type"), _("Code"), _("Actions"), _("Paid units"), _("Amount (€)")])
    for t in data["types"]:
        lines.append([t["label"], t["code"], t["count"], format_number(t["quantity"]), format_number(t["amount"])])
    lines.append([_("Total"), "", data["entry_count"], "", format_number(data["total"])])
    return csv_text(lines)


def team_claims(team_id) -> list[Claim]:
    return db.session.execute(sa.select(Claim).where(Claim.team_id == team_id)
                              .order_by(Claim.period_start.desc(), Claim.created_at.desc())).scalars().all()


# ---------------------------------------------------------------- payment statement

def payment_statement(user) -> dict:
    """Every submitted/paid/rejected claim naming this professional, across all their teams (ended included)."""
    team_ids = set(db.session.execute(sa.select(Membership.team_id).where(Membership.user_id == user.id)).scalars())
    claims = db.session.execute(
        sa.select(Claim).where(Claim.team_id.in_(list(team_ids)), Claim.status.in_(("submitted", "paid",
                                                                                     "rejected")))
        .order_by(Claim.period_start, Claim.submitted_at)).scalars().all() if team_ids else []
    lines, claimed, paid = [], Decimal(0), Decimal(0)
    uid = str(user.id)
    for c in claims:
        data = json.loads(c.snapshot)
        mine = next((p for p in data["professionals"] if p["user"] == uid), None)
        if mine is None:
            continue
        payment = next((p for p in c.payments if p.user_id == user.id), None)
        line = {"team": data["team"]["name"], "period": c.period_label, "status": c.status_label,
                "status_code": c.status, "count": mine["count"], "claimed": Decimal(mine["amount"]),
                "paid": payment.amount if payment else None, "paid_on": payment.paid_on if payment else None,
                "sha256": c.sha256, "reason": c.rejection_reason}
        lines.append(line)
        if c.status != "rejected":
            claimed += line["claimed"]
        paid += line["paid"] or 0
    return {"user": user, "lines": lines, "claimed": claimed, "paid": paid,
            "teams": sorted({ln["team"] for ln in lines})}


# ---------------------------------------------------------------- composition, projet, steps

def composition_validity(team) -> tuple[bool, str]:
    """ESP CLAP rule (domain.md §2.2): ≥ 2 eligible first-recourse professionals incl. ≥ 1 GP. A warning only."""
    members = [m for m in team.memberships if m.user.profession is not None]
    eligible = [m for m in members if m.user.profession.eligible and m.liberal and m.first_recourse]
    gps = [m for m in eligible if m.user.profession.is_gp]
    if len(eligible) >= 2 and gps:
        return True, _("Valid: %(n)s eligible professionals including %(gp)s GP(s).", n=len(eligible), gp=len(gps))
    if not gps:
        return False, _("No general practitioner among the eligible members.")
    return False, _("At least two eligible professionals are needed.")


def projet_versions(team_id) -> list[ProjetSante]:
    return db.session.execute(sa.select(ProjetSante).where(ProjetSante.team_id == team_id)
                              .order_by(ProjetSante.version.desc())).scalars().all()


def save_projet(team, data: dict, *, actor, signed_on=None, sent_to_ars_on=None) -> ProjetSante:
    allowed = {k for k, _label, _kind in PROJET_FIELDS}
    clean = {k: v for k, v in data.items() if k in allowed}
    last = db.session.execute(sa.select(sa.func.max(ProjetSante.version)).where(ProjetSante.team_id == team.id)
                              ).scalar() or 0
    projet = ProjetSante(id=uuid.uuid4(), team_id=team.id, version=last + 1,
                         content=json.dumps(clean, ensure_ascii=False, sort_keys=True), author_id=actor.id,
                         signed_on=signed_on, sent_to_ars_on=sent_to_ars_on)
    db.session.add(projet)
    db.session.flush()
    audit.record("funding.projet.save", actor=actor, team_id=team.id, object_type="funding_projet_sante",
                 object_id=projet.id, details={"version": projet.version})
    return projet


def clap_steps(team) -> list[dict]:
    """The ESP CLAP checklist: stored dates, else dates known elsewhere (team record, projet, ledger)."""
    stored = {s.step: s for s in db.session.execute(sa.select(ClapStep).where(ClapStep.team_id == team.id)).scalars()}
    first_signed, first_projet = db.session.execute(
        sa.select(sa.func.min(ProjetSante.signed_on), sa.func.min(ProjetSante.created_at))
        .where(ProjetSante.team_id == team.id)).one()
    first_action = db.session.execute(sa.select(sa.func.min(LedgerEntry.performed_on)).where(
        LedgerEntry.team_id == team.id, LedgerEntry.status == "validated")).scalar()
    from esp_coord.core.time import to_paris

    derived = {"team_formed": team.formed_on, "ars_recognition": team.ars_recognised_on,
               "convention_signed": team.convention_signed_on,
               "projet_written": first_signed or (to_paris(first_projet).date() if first_projet else None),
               "actions_running": first_action}
    out = []
    for code, label in CLAP_STEPS:
        s = stored.get(code)
        done_on = s.done_on if s and s.done_on else derived.get(code)
        out.append({"code": code, "label": str(label), "done_on": done_on, "note": s.note if s else None,
                    "source": "manual" if s and s.done_on else ("auto" if derived.get(code) else None)})
    return out


def set_clap_steps(team, values: dict, *, actor) -> None:
    stored = {s.step: s for s in db.session.execute(sa.select(ClapStep).where(ClapStep.team_id == team.id)).scalars()}
    for code, _label in CLAP_STEPS:
        if code not in values:
            continue
        done_on, note = values[code]
        s = stored.get(code)
        if s is None:
            s = ClapStep(team_id=team.id, step=code)
            db.session.add(s)
        s.done_on, s.note = done_on, (note or None)
    audit.record("funding.steps.update", actor=actor, team_id=team.id, object_type="team", object_id=team.id)


def professions_map() -> dict[str, str]:
    return dict(db.session.execute(sa.select(Profession.code, Profession.label)).all())


def all_teams() -> list[Team]:
    return db.session.execute(sa.select(Team).order_by(Team.name)).scalars().all()
