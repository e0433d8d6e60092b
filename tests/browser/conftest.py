"""Browser tests: the real app served on a local port with its own database, driven by Debian's chromium
through Playwright (no browser download), with axe-core accessibility checks and screenshots."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pyotp
import pytest

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parent.parent.parent / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    # A module-level `pytestmark` in a conftest applies to nothing: mark every test of this folder here, so that
    # `-m "not browser"` (the PostgreSQL run of `make test`) really leaves them out.
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)


def _chromium_ok() -> str | None:
    if not os.path.exists(CHROMIUM):
        return "chromium absent (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright not installed"
    return None


@pytest.fixture(scope="session")
def browser():
    reason = _chromium_ok()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests required under CI=true: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


class LiveServer:
    def __init__(self, app, url):
        self.app = app
        self.url = url
        self.totp_steps: dict[str, int] = {}


def _live_app(db_file: Path):
    from tests.conftest import make_app

    return make_app(f"sqlite:///{db_file}", MAIL_BACKEND="outbox",
                    BASE_URL="http://127.0.0.1")


@pytest.fixture(scope="session")
def demo_database(tmp_path_factory) -> Path:
    """The demo data seeded once per test process into a SQLite file (seeding takes ~15 s); every journey then
    works on its own copy of it. Same process, so the same test secrets decrypt the copies."""
    import esp_coord.models  # noqa: F401
    from esp_coord import demo
    from esp_coord.core.extensions import db

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    app = _live_app(path)
    with app.app_context():
        db.create_all()
        demo.run(scale="team", seed=1, echo=lambda *a, **k: None)
        db.session.remove()
        db.engine.dispose()
    return path


@pytest.fixture
def live_server(browser, demo_database, tmp_path):
    """A fresh app with the demo data on its own SQLite file (a copy of the seeded one), served by werkzeug in a
    thread of this process. Requests `browser` first so that a missing chromium skips before any seeding."""
    import shutil

    from werkzeug.serving import make_server

    from esp_coord.core.extensions import db

    db_file = tmp_path / "live.db"
    shutil.copyfile(demo_database, db_file)
    app = _live_app(db_file)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    live = LiveServer(app, f"http://127.0.0.1:{server.server_port}")
    app.config["BASE_URL"] = live.url
    yield live
    server.shutdown()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def context_factory(browser):
    contexts = []

    def make(viewport=None, **kw):
        ctx = browser.new_context(viewport=viewport or DESKTOP, locale="fr-FR", timezone_id="Europe/Paris",
                                  accept_downloads=True, **kw)
        ctx.set_default_timeout(15000)
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        ctx.close()


DEMO_PASSWORD = "demo-esp-coord-2026"  # noqa: S105 - public demo password (esp_coord/demo/__init__.py)


def demo_totp(email: str, live) -> str:
    """Current TOTP code of a demo account. The app refuses a time step already used (replay protection), so a
    second login of the same account on the same server takes the next step (accepted: valid window ±1)."""
    import time

    from esp_coord.demo import demo_totp_secret

    with live.app.app_context():  # demo TOTP keys are derived from the installation's SECRET_KEY
        totp = pyotp.TOTP(demo_totp_secret(email))
    step = int(time.time() // totp.interval)
    last = live.totp_steps.get(email)
    if last is not None and step <= last:
        step = last + 1
        while step > int(time.time() // totp.interval) + 1:  # pragma: no cover - 3rd login in 30 s
            time.sleep(0.5)
    live.totp_steps[email] = step
    return totp.generate_otp(step)


def login(page, live, email: str, password: str = DEMO_PASSWORD):
    """The real login journey (templates/auth/login.html then totp.html): e-mail + password, then TOTP."""
    page.goto(f"{live.url}/connexion")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Continuer").click()
    page.get_by_label("Code", exact=True).fill(demo_totp(email, live))
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state()
    assert "/connexion" not in page.url, f"login of {email} failed: still on {page.url}"


# Rules switched off for every page, each with its reason. Keep this empty unless a rule cannot apply.
AXE_DISABLED_RULES: dict[str, str] = {}


def axe_check(page, name: str) -> list:
    """Run axe-core (bundled with axe-playwright-python, offline) and fail on serious/critical violations.

    Set ESP_AXE_REPORT=/path/file.jsonl to append one line per checked page (all impacts), for the closing note."""
    import json

    from axe_playwright_python.sync_playwright import Axe

    options = {"resultTypes": ["violations"],
               "rules": {rule: {"enabled": False} for rule in AXE_DISABLED_RULES}}
    results = Axe().run(page, options=options)
    violations = results.response["violations"]
    report = os.environ.get("ESP_AXE_REPORT")
    if report:
        with open(report, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"page": name, "url": page.url, "violations": [
                {"id": v["id"], "impact": v.get("impact"), "nodes": [n["target"] for n in v["nodes"]]}
                for v in violations]}) + "\n")
    bad = [v for v in violations if v.get("impact") in ("serious", "critical")]
    assert not bad, f"{name} ({page.url}): " + "; ".join(
        f"{v['impact']} {v['id']}: {v['help']} — " + ", ".join(str(n["target"]) for n in v["nodes"][:5])
        for v in bad)
    return violations


def shot(page, name: str) -> Path | None:
    """Full-page screenshot into docs/screenshots/ (ESP_SCREENSHOTS=0 skips writing them)."""
    if os.environ.get("ESP_SCREENSHOTS") == "0":
        return None
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
    return path


def check_page(page, name: str) -> None:
    """The page as it is shown, at desktop then phone size: axe (zero serious/critical violations) and a full-page
    screenshot `docs/screenshots/<name>-desktop.png` / `<name>-phone.png`. The viewport is restored after."""
    current = page.viewport_size
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        axe_check(page, f"{name}-{label}")
        shot(page, f"{name}-{label}")
    page.set_viewport_size(current)


# ---------------------------------------------------------------- keyboard-only helpers
_FOCUS_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const s = getComputedStyle(el);
  return {tag: el.tagName.toLowerCase(), id: el.id, name: el.getAttribute('name'), text: (el.innerText || '').trim(),
          outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0
            ? s.outlineStyle + ' ' + s.outlineWidth : '',
          shadow: s.boxShadow !== 'none' ? s.boxShadow : '', visible: el.matches(':focus-visible')};
}"""


def focused(page) -> dict | None:
    return page.evaluate(_FOCUS_JS)


_WHICH_JS = """sels => {
  const el = document.activeElement;
  if (!el) return -1;
  return sels.findIndex(s => el.matches(s));
}"""


def tab_through(page, selectors: list[str], max_first: int = 60, max_between: int = 8):
    """Generator for keyboard-only form filling: press Tab until each selector in turn has the focus, check the
    order (a later field never gets the focus first) and the visible focus indicator (outline or box-shadow of
    document.activeElement, and :focus-visible), then yield the selector so the caller types with the keyboard."""
    for index, selector in enumerate(selectors):
        limit = max_first if index == 0 else max_between
        for _press in range(limit):
            page.keyboard.press("Tab")
            hit = page.evaluate(_WHICH_JS, selectors[index:])
            if hit == 0:
                break
            assert hit < 0, f"tab order: {selectors[index + hit]} got the focus before {selector}"
        else:
            raise AssertionError(f"{selector} never got the keyboard focus ({limit} × Tab); focus on {focused(page)}")
        info = focused(page)
        assert info["visible"] and (info["outline"] or info["shadow"]), f"no visible focus on {selector}: {info}"
        yield selector


def flash(page) -> str:
    """Text of the flash messages, or of the error summary / main content when there is none (clear failures)."""
    page.wait_for_load_state()
    try:
        page.locator(".flashes, .error-summary").first.wait_for(timeout=5000)
    except Exception:  # noqa: BLE001 - report the page instead
        return "no flash message; page: " + page.locator("main").inner_text()[:1500]
    return page.locator(".flashes, .error-summary").first.inner_text()


@pytest.fixture(scope="session")
def widget_formats(browser) -> dict:
    """How this chromium's date and time widgets take keystrokes. Their segment order follows the browser's UI
    language (the OS locale), not the page's: Debian CI without a French locale shows mm/dd/yyyy and a 12-hour
    clock, a French desktop dd/mm/yyyy and 24 hours. Probed once on a blank page, not on the app."""
    page = browser.new_page()
    try:
        page.set_content('<button>x</button><input type="date" id="d"><input type="time" id="t">')
        page.focus("button")
        page.keyboard.press("Tab")
        page.keyboard.type("02012026")
        page.keyboard.press("Tab")
        while page.evaluate("document.activeElement.id") != "t":
            page.keyboard.press("Tab")
        page.keyboard.type("0100")
        return {"date": "dmy" if page.input_value("#d") == "2026-01-02" else "mdy",
                "twelve_hour": page.input_value("#t") == ""}
    finally:
        page.close()


def kb_date(page, day, formats: dict) -> None:
    """Type a date into the focused <input type=date> with the keyboard (segments auto-advance)."""
    parts = (day.day, day.month) if formats["date"] == "dmy" else (day.month, day.day)
    page.keyboard.type(f"{parts[0]:02d}{parts[1]:02d}{day.year:04d}")


def kb_time(page, moment, formats: dict) -> None:
    """Type a time into the focused <input type=time> with the keyboard."""
    if formats["twelve_hour"]:
        page.keyboard.type(f"{(moment.hour % 12) or 12:02d}{moment.minute:02d}" + ("P" if moment.hour >= 12 else "A"))
    else:
        page.keyboard.type(f"{moment.hour:02d}{moment.minute:02d}")
