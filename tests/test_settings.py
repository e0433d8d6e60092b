"""Configuration safety: production refuses to start with missing, short or example secrets;
development generates its secrets into the instance folder."""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat

import pytest

from esp_coord import create_app
from esp_coord.resources import ConfigurationError
from esp_coord.settings import load_settings

SECRET_NAMES = ("SECRET_KEY", "MASTER_KEYS", "INDEX_KEY")


def _keyring(raw: bytes | None = None) -> str:
    raw = raw if raw is not None else secrets.token_bytes(32)
    return json.dumps({"current": "p1", "keys": {"p1": base64.b64encode(raw).decode()}})


def good_secrets() -> dict:
    return {"SECRET_KEY": secrets.token_urlsafe(48), "INDEX_KEY": secrets.token_urlsafe(48),
            "MASTER_KEYS": _keyring()}


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in SECRET_NAMES:
        monkeypatch.delenv(f"ESP_COORD_{name}", raising=False)
        monkeypatch.delenv(f"ESP_COORD_{name}_FILE", raising=False)
    monkeypatch.delenv("ESP_COORD_ENV", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'prod.db'}")
    return monkeypatch


@pytest.fixture
def restore_job_app():
    """create_app() binds the job runner to the newest app: give it back to the test app afterwards."""
    from esp_coord.core import jobs

    saved = jobs._app
    yield
    jobs._app = saved


def _refused(overrides: dict | None = None) -> str:
    with pytest.raises(ConfigurationError) as info:
        create_app("production", overrides or {})
    message = str(info.value)
    assert "\n" not in message and len(message) < 200
    return message


def test_production_refuses_a_missing_secret_key(clean_env):
    settings = good_secrets()
    del settings["SECRET_KEY"]
    message = _refused(settings)
    assert "ESP_COORD_SECRET_KEY" in message and "manquant" in message and "missing" in message


@pytest.mark.parametrize("value, words", [
    ("too-short-secret", "trop court"),
    ("change-me-please-change-me-please", "exemple"),
    ("example-secret-key-do-not-use-in-production", "exemple"),
    ("a" * 64, "exemple"),
])
def test_production_refuses_a_weak_secret_key_from_the_environment(clean_env, value, words):
    clean_env.setenv("ESP_COORD_SECRET_KEY", value)
    settings = good_secrets()
    del settings["SECRET_KEY"]
    message = _refused(settings)
    assert "ESP_COORD_SECRET_KEY" in message and words in message


def test_production_refuses_missing_master_keys(clean_env):
    settings = good_secrets()
    del settings["MASTER_KEYS"]
    assert "ESP_COORD_MASTER_KEYS" in _refused(settings)


@pytest.mark.parametrize("raw", [
    _keyring(secrets.token_bytes(16)),
    _keyring(bytes(32)),
    "not json",
    json.dumps({"current": "p1", "keys": {"p1": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}}),
    json.dumps({"current": "p2", "keys": {"p1": base64.b64encode(secrets.token_bytes(32)).decode()}}),
], ids=["16-byte-key", "zero-key", "not-json", "example-value", "current-key-missing"])
def test_production_refuses_bad_master_keys(clean_env, raw):
    clean_env.setenv("ESP_COORD_MASTER_KEYS", raw)
    settings = good_secrets()
    del settings["MASTER_KEYS"]
    assert "ESP_COORD_MASTER_KEYS" in _refused(settings)


def test_production_refuses_missing_short_or_reused_index_key(clean_env):
    settings = good_secrets()
    del settings["INDEX_KEY"]
    assert "ESP_COORD_INDEX_KEY" in _refused(settings)
    assert "ESP_COORD_INDEX_KEY" in _refused({**settings, "INDEX_KEY": "short"})
    assert "ESP_COORD_INDEX_KEY" in _refused({**settings, "INDEX_KEY": settings["SECRET_KEY"]})


def test_production_reads_secrets_from_files(clean_env, tmp_path, restore_job_app):
    values = good_secrets()
    for name, value in values.items():
        path = tmp_path / name.lower()
        path.write_text(value + "\n", encoding="utf-8")
        clean_env.setenv(f"ESP_COORD_{name}_FILE", str(path))
    app = create_app("production")
    assert app.config["SECRET_KEY"] == values["SECRET_KEY"]
    assert app.config["SESSION_COOKIE_SECURE"] is True and app.config["HSTS"] is True
    clean_env.setenv("ESP_COORD_SECRET_KEY_FILE", str(tmp_path / "missing"))
    assert "ESP_COORD_SECRET_KEY_FILE" in _refused()


def test_production_starts_with_proper_secrets(clean_env, restore_job_app):
    app = create_app("production", good_secrets())
    assert app.config["ENV"] == "production"
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True and app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_unknown_environment_is_refused(clean_env):
    with pytest.raises(ConfigurationError) as info:
        create_app("staging", good_secrets())
    assert "ESP_COORD_ENV" in str(info.value)


def test_development_generates_secrets_in_the_instance_folder(clean_env, tmp_path):
    instance = tmp_path / "instance"
    first = load_settings("development", {}, instance_path=instance)
    for name in ("secret_key", "master_keys.json", "index_key"):
        path = instance / name
        assert path.exists()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(first["SECRET_KEY"]) >= 32 and first["SECRET_KEY"] != first["INDEX_KEY"]
    assert len(first["MASTER_KEYS"]["keys"][first["MASTER_KEYS"]["current"]]) == 32
    second = load_settings("development", {}, instance_path=instance)
    assert second["SECRET_KEY"] == first["SECRET_KEY"] and second["INDEX_KEY"] == first["INDEX_KEY"]
    assert second["MASTER_KEYS"]["keys"] == first["MASTER_KEYS"]["keys"]
    assert first["SESSION_COOKIE_SECURE"] is False and first["HSTS"] is False


def test_production_never_generates_secrets(clean_env, tmp_path):
    instance = tmp_path / "instance"
    with pytest.raises(ConfigurationError):
        load_settings("production", {}, instance_path=instance)
    assert not (instance / "secret_key").exists()
