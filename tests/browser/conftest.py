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

pytestmark = pytest.mark.browser


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


@pytest.fixture
def live_server(tmp_path):
    """A fresh app with the demo data, on its own SQLite file, served by werkzeug in a thread."""
    from werkzeug.serving import make_server

    from tests.conftest import make_app

    app = make_app(f"sqlite:///{tmp_path / 'live.db'}", MAIL_BACKEND="outbox", RATELIMIT_ENABLED=False,
                   BASE_URL="http://127.0.0.1")
    import esp_coord.models  # noqa: F401
    from esp_coord import demo
    from esp_coord.extensions import db

    with app.app_context():
        db.create_all()
        demo.run(scale="team", seed=1, echo=lambda *a, **k: None)
        db.session.remove()
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


def demo_totp(email: str) -> str:
    from esp_coord.demo import demo_totp_secret

    return pyotp.TOTP(demo_totp_secret(email)).now()


def login(page, live, email: str, password: str = "demo-esp-coord-2026"):  # noqa: S107 - demo password
    """The real login journey: e-mail + password, then TOTP."""
    page.goto(f"{live.url}/connexion")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_label("Code").fill(demo_totp(email))
    page.get_by_role("button", name="Valider").click()
    page.wait_for_load_state()


def axe_check(page, name: str) -> list:
    """Run axe-core (bundled, offline) and fail on serious/critical violations."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    assert not bad, f"{name}: " + "; ".join(f"{v['impact']} {v['id']}: {v['help']} ({len(v['nodes'])})"
                                             for v in bad)
    return results.response["violations"]


def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


