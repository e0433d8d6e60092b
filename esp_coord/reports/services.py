"""Annual activity report (figures from the ledger, plus what other features contribute) and SVG charts.

Other features may add figures through `signals.annual_report_figures`,
`provider(team, year) -> dict` with any of: distinct_patients, attendance_rate (0–100), pps_overdue,
protocol_inclusions. Missing figures are shown as "non disponible".
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal
from xml.sax.saxutils import escape

import sqlalchemy as sa
from flask_babel import gettext as _

from esp_coord.activity.models import ActionType, LedgerEntry
from esp_coord.auth.models import User
from esp_coord.core import signals
from esp_coord.core.extensions import db
from esp_coord.core.jobs import get_progress
from esp_coord.core.time import MONTHS, format_number, utc_now
from esp_coord.funding.services import aggregate_ledger, year_expr
from esp_coord.reports.models import GeneratedDocument
from esp_coord.teams.models import Profession

log = logging.getLogger(__name__)
EXTRA_KEYS = ("distinct_patients", "attendance_rate", "pps_overdue", "protocol_inclusions")
PALETTE = ["#0b5394", "#1d6b35", "#8a4b00", "#6a1b9a", "#a1161d", "#00695c", "#4a5563", "#ad1457"]


RCP = ("RCP_SANS", "RCP_AVEC")


def _empty_year() -> dict:
    return {"rcp_sans": 0, "rcp_avec": 0, "patients_discussed": 0, "professions": [], "professions_count": 0,
            "professionals_count": 0, "pps_opened": 0, "pps_reviewed": 0, "protocols_written": 0,
            "protocols_validated": 0, "protocol_acts": 0, "types": [], "months": [0] * 12, "actions": 0,
            "amount": Decimal(0)}


def annual_report(team, year: int) -> dict:
    """Figures of `year` and `year - 1`, aggregated in SQL: a fixed number of queries, result size independent
    of the number of ledger entries."""
    le = LedgerEntry
    yr = year_expr(le.performed_on, year - 1, year)
    where = (le.team_id == team.id, le.performed_on >= date(year - 1, 1, 1), le.performed_on <= date(year, 12, 31),
             le.status.in_(("validated", "to_validate")))
    key = sa.func.coalesce(le.source_id, le.id)
    figures = {year: _empty_year(), year - 1: _empty_year()}
    types = {t.code: t for t in db.session.execute(sa.select(ActionType)).scalars()}
    professions = dict(db.session.execute(sa.select(Profession.code, Profession.label)).all())
    other = _("Other")
    # 1. per month, type, source kind and professional, with the amounts of the grid (caps included)
    amount_groups, rows = aggregate_ledger([team.id], year - 1, year, ("validated", "to_validate"), detail=True)
    user_ids = {r[4] for r in rows}
    prof_of = dict(db.session.execute(sa.select(User.id, User.profession_code).where(
        User.id.in_(list(user_ids)))).all()) if user_ids else {}
    per_prof: dict = {year: Counter(), year - 1: Counter()}
    users_of: dict = {year: set(), year - 1: set()}
    counts: dict = {year: Counter(), year - 1: Counter()}
    for y, m, code, source_type, uid, n in rows:
        f = figures[int(y)]
        f["months"][int(m) - 1] += n
        f["actions"] += n
        counts[int(y)][code] += n
        code_p = prof_of.get(uid)
        per_prof[int(y)][professions.get(code_p, other) if code_p else other] += n
        users_of[int(y)].add(uid)
        if source_type == "protocol_act" or code == "PROTO_MEO":
            f["protocol_acts"] += n
    # 2. distinct objects (meetings, PPS, protocols)
    for y, code, source_type, n in db.session.execute(
            sa.select(yr, le.action_type, le.source_type, sa.func.count(sa.distinct(key))).where(*where)
            .group_by(yr, le.action_type, le.source_type)).all():
        f = figures[int(y)]
        if code == "RCP_SANS":
            f["rcp_sans"] += n
        elif code == "RCP_AVEC":
            f["rcp_avec"] += n
        elif code == "PPS_INIT":
            f["pps_opened"] += n
        elif code == "PPS_REVUE":
            f["pps_reviewed"] += n
        if code == "PROTO_REDAC" and source_type != "protocol_validation" or source_type == "protocol_writing":
            f["protocols_written"] += n
        if source_type == "protocol_validation":
            f["protocols_validated"] += n
    # 3. patients discussed: per meeting, the largest count recorded, summed
    per_meeting = (sa.select(yr.label("y"), sa.func.max(le.patient_count).label("mp"))
                   .where(*where, le.action_type.in_(RCP)).group_by(yr, le.action_type, key).subquery())
    for y, total in db.session.execute(sa.select(per_meeting.c.y, sa.func.sum(per_meeting.c.mp))
                                       .group_by(per_meeting.c.y)).all():
        figures[int(y)]["patients_discussed"] = int(total or 0)
    # 4. amounts per type
    amounts: dict = {year: defaultdict(Decimal), year - 1: defaultdict(Decimal)}
    for (_tid, y, code, _uid), (_n, amount) in amount_groups.items():
        amounts[y][code] += amount
    for y, f in figures.items():
        f["professions"] = sorted(per_prof[y].items(), key=lambda kv: (-kv[1], kv[0]))
        f["professions_count"] = len(per_prof[y])
        f["professionals_count"] = len(users_of[y])
        f["types"] = sorted(({"code": c, "label": types[c].label if c in types else c, "count": n,
                              "amount": amounts[y][c]} for c, n in counts[y].items()),
                            key=lambda t: types[t["code"]].sort if t["code"] in types else 999)
        f["amount"] = sum((t["amount"] for t in f["types"]), Decimal(0))
    current, previous = figures[year], figures[year - 1]
    for y, target in ((year, current), (year - 1, previous)):
        for result in signals.collect(signals.annual_report_figures, team, year=y):
            for k in EXTRA_KEYS:
                if k in result:
                    target[k] = result[k]
    for target in (current, previous):
        for k in EXTRA_KEYS:
            target.setdefault(k, None)
    return {"team": team, "year": year, "current": current, "previous": previous,
            "month_chart": month_chart(current["months"], previous["months"], year),
            "profession_chart": profession_chart(current["professions"])}


def _t(value) -> str:
    return escape(str(value), {'"': "&quot;"})


def month_chart(current: list[int], previous: list[int], year: int) -> str:
    """Grouped bars per month (year vs previous year) as inline SVG; presentation attributes only (strict CSP)."""
    width, height, left, bottom, top = 640, 240, 40, 40, 24
    plot_h = height - bottom - top
    peak = max(current + previous + [1])
    step = (width - left - 10) / 12
    bar = step * 0.36
    title = _("Actions per month, %(year)s and %(prev)s", year=year, prev=year - 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-labelledby="chart-month-title" class="chart">',
             f'<title id="chart-month-title">{_t(title)}</title>']
    for i in range(5):
        v = round(peak * i / 4)
        y = top + plot_h - plot_h * (v / peak)
        parts.append(f'<line x1="{left}" x2="{width - 5}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d6de" '
                     'stroke-width="1"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end" '
                     f'fill="#333">{v}</text>')
    for m in range(12):
        x0 = left + m * step + step * 0.12
        for j, (values, color) in enumerate(((previous, "#9fb7cf"), (current, "#0b5394"))):
            h = plot_h * values[m] / peak
            parts.append(f'<rect x="{x0 + j * bar:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}" fill="{color}"><title>{_t(MONTHS[m])} '
                         f'{year - 1 + j} : {values[m]}</title></rect>')
        parts.append(f'<text x="{x0 + bar:.1f}" y="{height - bottom + 14}" font-size="10" text-anchor="middle" '
                     f'fill="#333">{_t(MONTHS[m][:4])}</text>')
    parts.append(f'<rect x="{left}" y="4" width="10" height="10" fill="#0b5394"/>'
                 f'<text x="{left + 14}" y="13" font-size="10" fill="#333">{year}</text>'
                 f'<rect x="{left + 60}" y="4" width="10" height="10" fill="#9fb7cf"/>'
                 f'<text x="{left + 74}" y="13" font-size="10" fill="#333">{year - 1}</text>')
    parts.append("</svg>")
    return "".join(parts)


def profession_chart(professions: list[tuple[str, int]]) -> str:
    """Horizontal bars: share of actions per profession (%)."""
    total = sum(n for _p, n in professions) or 1
    row_h, width, label_w = 24, 640, 230
    height = max(1, len(professions)) * row_h + 10
    title, empty = _("Share of actions per profession"), _("No action this year.")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-labelledby="chart-prof-title" class="chart">',
             f'<title id="chart-prof-title">{_t(title)}</title>']
    if not professions:
        parts.append(f'<text x="0" y="16" font-size="11" fill="#333">{_t(empty)}</text>')
    for i, (label, n) in enumerate(professions):
        share = n / total
        y = 5 + i * row_h
        w = (width - label_w - 70) * share
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" font-size="11" text-anchor="end" '
                     f'fill="#222">{_t(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row_h - 8}" '
                     f'fill="{PALETTE[i % len(PALETTE)]}"/>')
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 15}" font-size="11" '
                     f'fill="#222">{format_number(share * 100, 1)} % ({n})</text>')
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------- generated documents (background jobs)

def new_document(kind: str, owner, *, team_id=None, params: dict | None = None) -> GeneratedDocument:
    doc = GeneratedDocument(id=uuid.uuid4(), kind=kind, owner_id=owner.id, team_id=team_id,
                            params=json.dumps(params or {}, sort_keys=True), status="pending")
    db.session.add(doc)
    db.session.flush()
    return doc


def document_progress(doc: GeneratedDocument) -> dict:
    if doc.status in ("done", "failed"):
        return {"done": True, "progress": doc.status}
    info = get_progress(doc.task_id) if doc.task_id else None
    if info:
        return {"done": False, "progress": _("Step %(done)s of %(total)s: %(message)s", done=info["done"],
                                              total=info["total"], message=info.get("message") or "…")}
    return {"done": False, "progress": _("Waiting for the background worker…")}


def finish_document(doc: GeneratedDocument, data: bytes, filename: str, mimetype: str = "application/pdf") -> None:
    doc.data, doc.size, doc.filename, doc.mimetype = data, len(data), filename, mimetype
    doc.status = "done"
    doc.finished_at = utc_now()


def run_document(doc_id: str, task_id: str | None, builder) -> None:
    """Body shared by the jobs: load the document, call builder(doc, step), store the file or the failure."""
    from esp_coord.core.jobs import job_app, progress

    app = job_app()
    with app.app_context(), app.test_request_context():
        doc = db.session.get(GeneratedDocument, uuid.UUID(doc_id))
        if doc is None:
            return
        doc.status = "running"
        doc.task_id = task_id or doc.task_id
        db.session.commit()

        def step(done: int, total: int, message: str = "") -> None:
            if task_id:
                progress(task_id, done, total, message)

        try:
            builder(doc, step)
        except Exception:  # noqa: BLE001 - recorded on the document, shown to the user
            log.exception("document job failed")
            db.session.rollback()
            doc = db.session.get(GeneratedDocument, uuid.UUID(doc_id))
            doc.status = "failed"
            doc.error = "generation failed"
            doc.finished_at = utc_now()
        db.session.commit()
        db.session.remove()


def annual_report_html(team, year: int) -> str:
    from flask import render_template

    return render_template("reports/pdf/annual.html", report=annual_report(team, year), generated_at=utc_now())
