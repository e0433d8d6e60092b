"""Annual activity report (figures from the ledger, plus what other features contribute) and SVG charts.

Other features may add figures with `hooks.register("annual_report_figures", provider)`,
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

from esp_coord.activity.models import ActionType
from esp_coord.auth.models import User
from esp_coord.core import hooks
from esp_coord.core.jobs import get_progress
from esp_coord.core.time import MONTHS, format_number, utc_now
from esp_coord.extensions import db
from esp_coord.funding.services import ledger_rows, price_rows
from esp_coord.reports.models import GeneratedDocument
from esp_coord.teams.models import Profession

log = logging.getLogger(__name__)
EXTRA_KEYS = ("distinct_patients", "attendance_rate", "pps_overdue", "protocol_inclusions")
PALETTE = ["#0b5394", "#1d6b35", "#8a4b00", "#6a1b9a", "#a1161d", "#00695c", "#4a5563", "#ad1457"]


def _year_figures(rows, priced, users, professions, types) -> dict:
    meetings: dict = {}
    by_type: dict = defaultdict(lambda: {"count": 0, "amount": Decimal(0)})
    months = [0] * 12
    prof_counter: Counter = Counter()
    pps_opened, pps_reviewed, protos_written, protos_validated = set(), set(), set(), set()
    acts = 0
    for r in rows:
        by_type[r.action_type]["count"] += 1
        by_type[r.action_type]["amount"] += priced[r.id].amount
        months[r.performed_on.month - 1] += 1
        user = users.get(r.user_id)
        prof_counter[professions.get(user.profession_code, _("Other")) if user and user.profession_code
                     else _("Other")] += 1
        key = r.source_id or (r.performed_on, r.user_id, r.id)
        if r.action_type in ("RCP_SANS", "RCP_AVEC"):
            m = meetings.setdefault((r.action_type, key if r.source_id else (r.performed_on, r.id)), 0)
            meetings[(r.action_type, key if r.source_id else (r.performed_on, r.id))] = max(m, r.patient_count or 0)
        elif r.action_type == "PPS_INIT":
            pps_opened.add(key)
        elif r.action_type == "PPS_REVUE":
            pps_reviewed.add(key)
        if r.action_type == "PROTO_REDAC" or r.source_type == "protocol_writing":
            protos_written.add(key)
        if r.source_type == "protocol_validation":
            protos_validated.add(key)
        if r.source_type == "protocol_act" or r.action_type == "PROTO_MEO":
            acts += 1
    rcp = Counter(kind for kind, _k in meetings)
    type_rows = [{"code": c, "label": types[c].label if c in types else c, "count": v["count"],
                  "amount": v["amount"]} for c, v in by_type.items()]
    type_rows.sort(key=lambda t: types[t["code"]].sort if t["code"] in types else 999)
    return {
        "rcp_sans": rcp.get("RCP_SANS", 0), "rcp_avec": rcp.get("RCP_AVEC", 0),
        "patients_discussed": sum(meetings.values()),
        "professions": sorted(prof_counter.items(), key=lambda kv: (-kv[1], kv[0])),
        "professions_count": len(prof_counter),
        "professionals_count": len({r.user_id for r in rows}),
        "pps_opened": len(pps_opened), "pps_reviewed": len(pps_reviewed),
        "protocols_written": len(protos_written), "protocols_validated": len(protos_validated),
        "protocol_acts": acts, "types": type_rows, "months": months, "actions": len(rows),
        "amount": sum((t["amount"] for t in type_rows), Decimal(0)),
    }


def annual_report(team, year: int) -> dict:
    """Figures of `year` and `year - 1` for the team: a fixed number of queries whatever the ledger size."""
    rows = ledger_rows([team.id], date(year - 1, 1, 1), date(year, 12, 31), ("validated", "to_validate"))
    priced = price_rows(rows)
    user_ids = {r.user_id for r in rows}
    users = {u.id: u for u in db.session.execute(
        sa.select(User).where(User.id.in_(list(user_ids)))).unique().scalars()} if user_ids else {}
    professions = dict(db.session.execute(sa.select(Profession.code, Profession.label)).all())
    types = {t.code: t for t in db.session.execute(sa.select(ActionType)).scalars()}
    current = _year_figures([r for r in rows if r.performed_on.year == year], priced, users, professions, types)
    previous = _year_figures([r for r in rows if r.performed_on.year == year - 1], priced, users, professions, types)
    extra: dict = {}
    for provider in hooks.providers("annual_report_figures"):
        for y, target in ((year, current), (year - 1, previous)):
            try:
                result = provider(team, y) or {}
            except Exception:  # noqa: BLE001 - another feature's figures must not break the report
                log.exception("annual_report_figures provider failed")
                result = {}
            for k in EXTRA_KEYS:
                if k in result:
                    target[k] = result[k]
    for target in (current, previous):
        for k in EXTRA_KEYS:
            target.setdefault(k, None)
    extra["month_chart"] = month_chart(current["months"], previous["months"], year)
    extra["profession_chart"] = profession_chart(current["professions"])
    return {"team": team, "year": year, "current": current, "previous": previous, **extra}


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
