"""Views of the dashboard feature."""

from esp_coord.dashboard import bp  # noqa: F401
