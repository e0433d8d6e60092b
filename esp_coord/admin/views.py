"""Views of the admin feature."""

from esp_coord.admin import bp  # noqa: F401
