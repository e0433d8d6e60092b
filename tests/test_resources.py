"""esp_coord.resources: the checkout's folders in development; a missing default config stops start-up."""

from __future__ import annotations

import pytest

from esp_coord import resources, settings
from esp_coord.resources import ConfigurationError


def test_checkout_resources():
    assert not resources.installed()
    for name in resources.RESOURCES:
        assert resources.resource_path(name) == resources.CHECKOUT / name
    assert (resources.resource_path("config") / "default.py").is_file()
    assert resources.default_instance_path() == resources.CHECKOUT / "instance"
    with pytest.raises(ValueError):
        resources.resource_path("secrets")


def test_missing_resource_folder_is_a_configuration_error(tmp_path, monkeypatch):
    monkeypatch.setattr(resources, "CHECKOUT", tmp_path)
    with pytest.raises(ConfigurationError, match="templates"):
        resources.resource_path("templates")


def test_missing_default_config_is_a_configuration_error(tmp_path, monkeypatch):
    (tmp_path / "testing.py").write_text("SQLITE_BUSY_TIMEOUT_MS = 1\n", encoding="utf-8")
    monkeypatch.setattr(settings, "resource_path", lambda name: tmp_path)
    with pytest.raises(ConfigurationError, match="default.py"):
        settings.load_settings("testing")


def test_environment_file_is_optional(tmp_path, monkeypatch):
    (tmp_path / "default.py").write_text("SQLITE_BUSY_TIMEOUT_MS = 7\n", encoding="utf-8")
    monkeypatch.setattr(settings, "resource_path", lambda name: tmp_path)
    assert settings.load_settings("testing")["SQLITE_BUSY_TIMEOUT_MS"] == 7
