"""Production never accepts demo data, and demo second factors cannot be derived from public information."""

from __future__ import annotations

import base64
import hashlib

import pytest

from esp_coord import demo


@pytest.mark.parametrize("scale", ["team", "region"])
def test_demo_refused_in_production_at_every_scale(app, monkeypatch, scale):
    monkeypatch.setitem(app.config, "ENV", "production")
    with pytest.raises(SystemExit, match="refusées en production"):
        demo.run(scale=scale, echo=lambda *a, **k: None)


def test_demo_totp_secret_is_keyed_by_the_installation(app, monkeypatch):
    email = "claire.martin@demo.esp-coord.fr"
    public = base64.b32encode(hashlib.sha256(f"esp-coord-demo:{email}".encode()).digest()[:20]).decode()
    first = demo.demo_totp_secret(email)
    assert first != public and first == demo.demo_totp_secret(email)
    monkeypatch.setitem(app.config, "SECRET_KEY", "another-installation-secret-key-0123456789")
    assert demo.demo_totp_secret(email) != first
