"""Background job: the annual activity report PDF (over a second: never rendered inside a request)."""

from __future__ import annotations

import json

from esp_coord.core.jobs import huey


@huey.task(context=True)
def build_annual_report(doc_id: str, task=None):
    from esp_coord.core.extensions import db
    from esp_coord.core.pdf import html_to_pdf
    from esp_coord.reports.services import annual_report_html, finish_document, run_document
    from esp_coord.teams.models import Team

    def builder(doc, step):
        params = json.loads(doc.params or "{}")
        team = db.session.get(Team, doc.team_id)
        year = int(params["year"])
        step(1, 3, "calcul des indicateurs")
        html = annual_report_html(team, year)
        step(2, 3, "mise en page du PDF")
        pdf = html_to_pdf(html)
        step(3, 3, "enregistrement")
        safe = "".join(c if c.isalnum() else "-" for c in team.name)[:60]
        finish_document(doc, pdf, f"rapport-activite-{safe}-{year}.pdf")

    run_document(doc_id, task.id if task else None, builder)
    return doc_id
