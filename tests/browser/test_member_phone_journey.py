"""Journey 2 — a member on a phone-sized screen (390×844): "Mes tâches", completes a task, writes a note on a
patient, declares an action done outside the app (keyboard only)."""

from __future__ import annotations

from datetime import date

from .conftest import PHONE, check_page, flash, kb_date, login, tab_through

MEMBER = "julien.petit@demo.esp-coord.fr"
TASK = "Mettre à jour la liste des interactions AVK"


def open_nav(page, name):
    page.get_by_role("navigation", name="Navigation principale").get_by_role("link", name=name, exact=True).click()
    page.wait_for_load_state()


def test_member_on_phone_tasks_note_and_action(live_server, context_factory, widget_formats):
    live = live_server
    page = context_factory(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    login(page, live, MEMBER)
    # No horizontal scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    check_page(page, "dashboard-member")

    # Mes tâches → complete a task.
    open_nav(page, "Mes tâches")
    assert page.locator("h1").inner_text() == "Mes tâches"
    check_page(page, "tasks")
    card = page.locator("ul.task-list > li").filter(has=page.get_by_role("heading", name=TASK))
    card.get_by_role("button", name="Marquer comme terminée").click()
    message = flash(page)
    assert "terminée" in message.lower(), message
    open_tasks = page.locator("ul.task-list").inner_text() if page.locator("ul.task-list").count() else ""
    assert TASK not in open_tasks
    page.get_by_role("link", name="Afficher aussi les tâches terminées et annulées").click()
    done = page.locator("ul.task-list > li").filter(has=page.get_by_role("heading", name=TASK))
    assert "Terminée" in done.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # A note on a patient of the team.
    open_nav(page, "Patients")
    check_page(page, "patients")
    page.get_by_role("link", name="GAUTIER Monique").click()
    check_page(page, "patient")
    page.get_by_role("link", name="Rédiger une note").click()
    check_page(page, "patient-note")
    page.get_by_label("Clinique").check()
    page.get_by_label("Texte de la note").fill("Pilulier revu avec la patiente ; pas d'oubli cette semaine.")
    page.get_by_role("button", name="Enregistrer").click()
    message = flash(page)
    assert "note" in message.lower(), message
    assert "Pilulier revu avec la patiente" in page.locator("main").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # An action done outside the app, keyboard only: Tab from the top of the page, type, Enter.
    page.goto(f"{live.url}/actions/nouvelle")
    check_page(page, "action-new")
    day = date.today().replace(day=1)
    order = ["#team_id", "#action_type", "#performed_on", "#duration_minutes", "#patient_count", "#label"]
    for sel in tab_through(page, order, max_between=6):
        if sel == "#action_type":
            page.keyboard.type("Coordination")
        elif sel == "#performed_on":
            kb_date(page, day, widget_formats)
        elif sel == "#duration_minutes":
            page.keyboard.type("45")
        elif sel == "#patient_count":
            page.keyboard.press("Control+a")
            page.keyboard.type("0")
        elif sel == "#label":
            page.keyboard.type("Réunion avec le CCAS sur le portage de repas")
    assert page.locator("#action_type").input_value() == "COORD_AUTRE"
    assert page.locator("#performed_on").input_value() == day.isoformat()
    page.keyboard.press("Enter")  # implicit submission from the last text field
    message = flash(page)
    assert "action" in message.lower(), message
    open_nav(page, "Mes actions")
    assert "Réunion avec le CCAS sur le portage de repas" in page.locator("main").inner_text()
    check_page(page, "actions")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
