"""Views of the auth feature."""

from esp_coord.auth import bp  # noqa: F401
