"""Background job: the region-wide export (every team's totals, envelopes and claims) as a PDF."""

from __future__ import annotations

import json

from esp_coord.core.jobs import huey


@huey.task(context=True)
def build_region_export(doc_id: str, task=None):
    from flask import render_template

    from esp_coord.core.pdf import html_to_pdf
    from esp_coord.core.time import utc_now
    from esp_coord.funding.views import region_rows
    from esp_coord.reports.services import finish_document, run_document

    def builder(doc, step):
        year = int(json.loads(doc.params or "{}")["year"])
        step(1, 3, "totaux des équipes")
        rows = region_rows(year)
        step(2, 3, "mise en page du PDF")
        html = render_template("funding/pdf/region.html", rows=rows, year=year, generated_at=utc_now())
        pdf = html_to_pdf(html)
        step(3, 3, "enregistrement")
        finish_document(doc, pdf, f"export-regional-{year}.pdf")

    run_document(doc_id, task.id if task else None, builder)
    return doc_id
