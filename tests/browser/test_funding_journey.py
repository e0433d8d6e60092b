"""Journey 3 — traceability export: a coordinator builds and submits a claim, downloads its PDF and CSV; a member
downloads their payment statement. The files are read back (pypdf, csv)."""

from __future__ import annotations

import csv
import io
import re

from pypdf import PdfReader

from .conftest import check_page, flash, login, tab_through

COORDINATOR = "sophie.bernard@demo.esp-coord.fr"
MEMBER = "julien.petit@demo.esp-coord.fr"


def download(page, link_name) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.get_by_role("link", name=link_name).click()
    dl = info.value
    with open(dl.path(), "rb") as fh:
        return dl.suggested_filename, fh.read()


def pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-"), data[:20]
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return re.sub(r"\s+", " ", text.replace("\u202f", " ").replace("\xa0", " "))


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u202f", " ").replace("\xa0", " ")).strip()


def test_claim_submitted_exported_and_member_statement(live_server, context_factory):
    live = live_server
    page = context_factory().new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    login(page, live, COORDINATOR)

    page.get_by_role("navigation", name="Navigation principale").get_by_role("link", name="Financement").click()
    check_page(page, "funding")
    page.get_by_role("link", name="ESP CLAP du Val de Sèvre").click()
    check_page(page, "funding-team")
    page.get_by_role("link", name="Nouvelle demande").click()
    check_page(page, "claim-new")

    # Keyboard only: period "Premier semestre", the current year (pre-filled), submit with Enter.
    for sel in tab_through(page, ["#period_kind", "#year"], max_between=3):
        if sel == "#period_kind":
            page.keyboard.type("Premier")
    assert page.locator("#period_kind").input_value() == "s1"
    year = page.locator("#year").input_value()
    period = f"01/01/{year} – 30/06/{year}"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/demandes/[0-9a-f-]{36}$"))
    assert "Brouillon de demande créé" in flash(page)
    assert f"Demande {period}" in page.locator("h1").inner_text()
    check_page(page, "claim-draft")

    page.get_by_role("button", name="Soumettre la demande").click()
    message = flash(page)
    assert "soumise" in message.lower(), message
    total_title = norm(page.locator("#total-title").inner_text())  # "Total : 1 234,50 € pour 12 actions"
    match = re.search(r"Total : ([\d ]+,\d\d) € pour (\d+) actions", total_title)
    assert match, total_title
    total, count = match.group(1), match.group(2)
    check_page(page, "claim")

    name, data = download(page, "Télécharger le CSV")
    assert name.endswith(".csv")
    assert data.startswith(b"\xef\xbb\xbf"), "CSV without UTF-8 BOM (Excel would garble accents)"
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["Équipe", "ESP CLAP du Val de Sèvre"]
    sha_row = next(r for r in rows if r and r[0] == "SHA-256")
    sha = sha_row[1]
    assert re.fullmatch(r"[0-9a-f]{64}", sha), sha_row
    total_row = next(r for r in rows if r and r[0] == "Total")
    assert norm(total_row[-1]) == total and total_row[2] == count, total_row
    assert all(";" not in cell for r in rows for cell in r)

    name, data = download(page, "Télécharger le PDF")
    assert name.endswith(".pdf")
    text = pdf_text(data)
    assert f"{total} €" in text, text[:2000]
    assert sha in text.replace(" ", ""), "claim fingerprint missing from the PDF"
    assert "Sophie Bernard" in text and "Julien Petit" in text

    # The member downloads his payment statement: the submitted claim is there with its fingerprint.
    member = context_factory().new_page()
    login(member, live, MEMBER)
    member.get_by_role("navigation", name="Navigation principale").get_by_role("link", name="Financement").click()
    member.get_by_role("link", name="Mon relevé de paiements").click()
    check_page(member, "statement")
    assert period in member.locator("main").inner_text()
    name, data = download(member, "Télécharger le PDF")
    text = pdf_text(data)
    assert "Julien Petit" in text and f"01/01/{year}" in text, text[:2000]
    assert sha in text.replace(" ", ""), "statement does not cite the claim fingerprint"
    assert "Total" in text
