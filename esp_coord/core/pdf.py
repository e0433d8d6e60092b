"""PDF rendering with WeasyPrint behind a locked URL fetcher (only our static files)."""

from __future__ import annotations

import mimetypes

from flask import render_template

from esp_coord.core.hygiene import content_disposition
from esp_coord.resources import resource_path

BASE_URL = "http://esp-coord.invalid/"
STATIC_DIR = resource_path("static")


def _fetcher():
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class StaticOnlyFetcher(URLFetcher):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.static_dir = STATIC_DIR.resolve()
            self.prefix = BASE_URL + "static/"

        def fetch(self, url, headers=None):
            if url.startswith(self.prefix):
                path = (self.static_dir / url[len(self.prefix):].split("?")[0]).resolve()
                if path.is_relative_to(self.static_dir) and path.is_file():
                    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                    return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": ctype})
            raise ValueError("blocked by StaticOnlyFetcher")

    return StaticOnlyFetcher()


def html_to_pdf(html: str) -> bytes:
    from weasyprint import HTML

    return HTML(string=html, base_url=BASE_URL, url_fetcher=_fetcher()).write_pdf()


def render_pdf(template: str, **context) -> bytes:
    """Render templates/<feature>/pdf/<name>.html (extending pdf/base.html) to PDF bytes."""
    return html_to_pdf(render_template(template, **context))


def pdf_response(data: bytes, filename: str):
    from flask import Response

    resp = Response(data, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = content_disposition(filename)
    resp.headers["Cache-Control"] = "no-store"
    return resp


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """One CSV cell; text that a spreadsheet would run as a formula is neutralised with a leading quote."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text.replace("\u202f", "").replace("\u00a0", "").replace(" ", "").replace(",", "."))
    except ValueError:
        return False
    return True


def csv_text(rows) -> str:
    """Semicolon-separated CSV (French Excel / LibreOffice) with formula neutralisation."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return out.getvalue()


def csv_response(text: str, filename: str):
    """CSV for French Excel/LibreOffice: UTF-8 with BOM, ';' separated (caller formats numbers)."""
    from flask import Response

    resp = Response(("\ufeff" + text).encode("utf-8"), mimetype="text/csv")
    resp.headers["Content-Type"] = "text/csv; charset=utf-8"
    resp.headers["Content-Disposition"] = content_disposition(filename)
    resp.headers["Cache-Control"] = "no-store"
    return resp


