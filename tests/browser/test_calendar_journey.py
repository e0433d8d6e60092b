"""Journey 4 — calendar subscription: a member copies their feed link from /agenda/, the feed answers, then the
link is revoked and regenerated and the old link answers 404."""

from __future__ import annotations

import urllib.error
import urllib.request

from .conftest import check_page, login, tab_through

MEMBER = "julien.petit@demo.esp-coord.fr"


def fetch(url: str) -> tuple[int, str, str]:
    assert url.startswith("http://127.0.0.1:"), url  # never leaves the machine
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - local test server
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode("utf-8")
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), ""


def test_member_subscribes_revokes_and_regenerates_feed(live_server, context_factory):
    live = live_server
    ctx = context_factory()
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    page = ctx.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    login(page, live, MEMBER)

    page.get_by_role("navigation", name="Navigation principale").get_by_role("link", name="Agendas").click()
    assert page.url == f"{live.url}/agenda/"
    check_page(page, "agenda")

    # Keyboard only: Tab to the first "Créer un lien" (all my meetings), Enter.
    user_feed = page.locator("section.feed").first
    assert "Pas encore de lien" in user_feed.inner_text()
    page.goto(page.url)  # fresh focus start
    for _sel in tab_through(page, ['form[action="/agenda/jeton"] button[type=submit]']):
        page.keyboard.press("Enter")
    page.wait_for_load_state()
    link_box = page.get_by_label("Lien à copier (https)")
    first_link = link_box.input_value()
    assert first_link.startswith(f"{live.url}/agenda/u/") and first_link.endswith(".ics")
    # Copy with the keyboard: the link field, then the "Copier" button.
    for sel in tab_through(page, ["#url-user", 'button[data-copy="url-user"]'], max_first=80):
        if sel.startswith("button"):
            page.keyboard.press("Enter")
    page.get_by_role("button", name="Copié").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == first_link
    check_page(page, "agenda-new-link")

    status, ctype, body = fetch(copied)
    assert status == 200 and ctype.startswith("text/calendar"), (status, ctype)
    assert body.startswith("BEGIN:VCALENDAR") and "END:VCALENDAR" in body

    # Revoke (confirmation dialog accepted): the link stops working.
    page.goto(f"{live.url}/agenda/")
    user_feed = page.locator("section.feed").first
    user_feed.get_by_role("button", name="Révoquer").click()
    page.wait_for_load_state()
    assert "Lien révoqué" in page.locator(".flashes").inner_text()
    assert fetch(first_link)[0] == 404

    # Regenerate: a new link works, the old one still answers 404.
    page.locator("section.feed").first.get_by_role("button", name="Créer un lien").click()
    second_link = page.get_by_label("Lien à copier (https)").input_value()
    assert second_link != first_link
    assert fetch(second_link)[0] == 200
    assert fetch(first_link)[0] == 404

    # Regenerating again replaces the active link too.
    page.goto(f"{live.url}/agenda/")
    page.locator("section.feed").first.get_by_role("button", name="Régénérer le lien").click()
    third_link = page.get_by_label("Lien à copier (https)").input_value()
    assert fetch(third_link)[0] == 200
    assert fetch(second_link)[0] == 404

