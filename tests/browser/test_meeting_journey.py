"""Journey 1 — the coordinator organises a meeting: TOTP login, date poll, two members answer, the poll is closed,
the meeting is scheduled, attendance is taken, minutes with a decision and a task are validated."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from .conftest import DEMO_PASSWORD, check_page, demo_totp, flash, focused, kb_date, kb_time, login, tab_through

COORDINATOR = "sophie.bernard@demo.esp-coord.fr"
GP = "claire.martin@demo.esp-coord.fr"
PHARMACIST = "julien.petit@demo.esp-coord.fr"
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def meeting_clock(monkeypatch):
    """Moves the meetings feature's clock forward (the server runs in this process): "the meeting has started"
    without waiting for it. Only esp_coord.meetings reads the shifted time."""
    from esp_coord.core import time as core_time
    from esp_coord.meetings import services, views

    def advance(delta: timedelta):
        def shifted():
            return core_time.utc_now() + delta

        monkeypatch.setattr(services, "utc_now", shifted)
        monkeypatch.setattr(views, "utc_now", shifted)

    return advance


def keyboard_login(page, live, email):
    """Login with the keyboard only: Tab to each field, type, Enter submits."""
    page.goto(f"{live.url}/connexion")
    for sel in tab_through(page, ["#email", "#password"]):
        page.keyboard.type(email if sel == "#email" else DEMO_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/connexion/totp$"))
    # The code field has autofocus: type, Enter.
    info = focused(page)
    assert info["id"] == "code" and (info["outline"] or info["shadow"]), info
    page.keyboard.type(demo_totp(email, live))
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live.url}/")


def answer_poll(context_factory, live, email, meeting_url, answers):
    page = context_factory().new_page()
    login(page, live, email)
    page.goto(meeting_url)
    slots = page.locator("fieldset.poll-slot")
    assert slots.count() == len(answers)
    for index, answer in enumerate(answers):
        slots.nth(index).get_by_label(answer, exact=True).check()
    page.get_by_role("button", name="Enregistrer mes réponses").click()
    assert "vos réponses sont enregistrées" in flash(page)
    return page


def test_coordinator_runs_a_meeting_from_poll_to_validated_minutes(live_server, context_factory, meeting_clock,
                                                                   widget_formats):
    live = live_server
    page = context_factory().new_page()
    page.on("dialog", lambda dialog: dialog.accept())

    # Login pages (keyboard only), checked before anyone is logged in.
    page.goto(f"{live.url}/connexion")
    check_page(page, "login")
    page.get_by_label("Adresse e-mail").fill(COORDINATOR)
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Continuer").click()
    check_page(page, "totp")
    keyboard_login(page, live, COORDINATOR)
    check_page(page, "dashboard")

    # Meetings list → new date poll.
    page.get_by_role("navigation", name="Navigation principale").get_by_role("link", name="Réunions").click()
    check_page(page, "meetings")
    page.get_by_role("link", name="Nouveau sondage de dates").click()
    check_page(page, "poll-new")

    # Keyboard only: kind, two slots, place, two invitees, submit with Enter.
    soon = (datetime.now(PARIS) + timedelta(minutes=20)).replace(second=0, microsecond=0)
    tomorrow = (soon + timedelta(days=1)).replace(hour=12, minute=30)
    gp_box = page.get_by_label("Claire Martin (Médecin généraliste)").get_attribute("id")
    ph_box = page.get_by_label("Julien Petit (Pharmacien)").get_attribute("id")
    end = min(soon + timedelta(hours=1), soon.replace(hour=23, minute=59))  # same day: one date per slot
    typed = {
        "[name=slot-0-day]": lambda: kb_date(page, soon.date(), widget_formats),
        "[name=slot-0-start]": lambda: kb_time(page, soon.time(), widget_formats),
        "[name=slot-0-end]": lambda: kb_time(page, end.time(), widget_formats),
        "[name=slot-1-day]": lambda: kb_date(page, tomorrow.date(), widget_formats),
        "[name=slot-1-start]": lambda: kb_time(page, time(12, 30), widget_formats),
        "[name=slot-1-end]": lambda: kb_time(page, time(13, 30), widget_formats),
        "#place": lambda: page.keyboard.type("Cabinet médical de Clisson"),
    }
    order = ["#kind", *typed, f"#{gp_box}", f"#{ph_box}", "form.meeting-form button[type=submit]"]
    for sel in tab_through(page, order, max_between=120):  # date and time inputs: one Tab per segment
        if sel == "#kind":
            page.keyboard.type("RCP sans")
        elif sel in typed:
            typed[sel]()
        elif sel.startswith("#invitees"):
            page.keyboard.press("Space")
        else:
            assert page.locator("[name=slot-0-day]").input_value() == soon.date().isoformat()
            assert page.locator("[name=slot-1-end]").input_value() == "13:30"
            page.keyboard.press("Enter")
    page.wait_for_load_state()
    message = flash(page)
    assert "Sondage ouvert" in message, message
    meeting_url = page.url
    assert re.search(r"/reunions/[0-9a-f-]{36}/[0-9a-f-]{36}$", meeting_url), meeting_url
    check_page(page, "meeting-poll")

    # Two members answer in their own browsers.
    julien = answer_poll(context_factory, live, PHARMACIST, meeting_url, ["Oui", "Non"])
    claire = answer_poll(context_factory, live, GP, meeting_url, ["Oui", "Si besoin"])

    # The coordinator closes the poll on the first slot: the meeting is scheduled.
    page.reload()
    first_row = page.locator("table.poll-results tbody tr").first
    assert first_row.locator("td").first.inner_text() == "2"  # the two members said yes
    first_row.get_by_role("button", name="Retenir ce créneau").click()
    page.wait_for_load_state()
    assert "Sondage clos" in flash(page)
    assert page.locator("section.poll").count() == 0

    # A case on the agenda (needed for a decision and a follow-up task).
    page.get_by_role("link", name="Ajouter un dossier").click()
    patient = page.get_by_label("Patient")
    patient.select_option(label=patient.locator("option", has_text="GAUTIER Monique").first.inner_text())
    page.get_by_label("Question posée").fill("Adapter le suivi après la chute du mois dernier ?")
    page.get_by_label("Présenté par").select_option(label="Sophie Bernard")
    page.get_by_role("button", name="Ajouter à l'ordre du jour").click()
    assert "Dossier ajouté" in flash(page)
    check_page(page, "meeting-detail")

    # Attendance: the pharmacist checks in himself (allowed from 30 minutes before the start)…
    julien.goto(meeting_url)
    julien.get_by_role("button", name="Je suis présent·e").click()
    assert "Votre présence est enregistrée" in flash(julien)
    # … then the meeting starts and the coordinator marks the GP present (paper sheet).
    meeting_clock(timedelta(minutes=25))
    page.goto(meeting_url)
    page.get_by_label("Membre").select_option(label="Claire Martin")
    page.get_by_label("Motif").fill("A signé la feuille papier")
    page.get_by_role("button", name="Marquer présent").click()
    assert "Présence enregistrée" in flash(page)
    attendance = page.locator("table").last.inner_text()
    assert attendance.count("Présent") >= 2

    # Minutes: summary + decision, a follow-up task, general minutes, validation.
    page.get_by_role("link", name="Compte rendu", exact=True).click()
    case = page.locator("section.case").first
    case.get_by_label("Synthèse des échanges").fill("Chute sans gravité ; revoir l'aménagement du domicile.")
    case.get_by_label("Décision").fill("Visite à domicile de l'infirmière et bilan de kinésithérapie.")
    case.get_by_role("button", name="Enregistrer").click()
    assert "Compte rendu enregistré" in flash(page)
    case = page.locator("section.case").first
    case.get_by_label("À faire").fill("Organiser le bilan de kinésithérapie")
    case.get_by_label("Qui").select_option(label="Julien Petit")
    case.get_by_label("Échéance").fill((soon + timedelta(days=7)).strftime("%Y-%m-%d"))
    case.get_by_role("button", name="Ajouter la tâche").click()
    assert "Tâche de suivi créée" in flash(page)
    assert "Organiser le bilan de kinésithérapie" in page.locator("section.case").first.inner_text()
    check_page(page, "meeting-minutes")
    page.get_by_role("button", name="Valider le compte rendu").click()
    flashes = flash(page)
    assert "Compte rendu validé" in flashes, flashes
    assert "Validé le" in page.locator("p.status").inner_text()

    # The task reached the pharmacist's list; the validated minutes show the decision.
    julien.goto(f"{live.url}/taches/")
    assert "Organiser le bilan de kinésithérapie" in julien.locator("main").inner_text()
    claire.goto(page.url)
    assert "Validé le" in claire.locator("p.status").inner_text()
    decision = claire.locator("section.case").first.get_by_label("Décision").input_value()
    assert decision == "Visite à domicile de l'infirmière et bilan de kinésithérapie."
