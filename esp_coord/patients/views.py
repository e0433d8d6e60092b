"""Views of the patients feature."""

from esp_coord.patients import bp  # noqa: F401
